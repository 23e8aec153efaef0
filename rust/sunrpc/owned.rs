// SPDX-License-Identifier: GPL-2.0

//! The rqsts a transport allocates itself, one in each of its reqs
//! (`rpcrdma_req::rl_slot`), with the count of the req's owners
//! (`rl_kref`, kept by `proto::lifetime`): [`OwnedRqst`]. The count says
//! when no one holds the req; this type makes that the proof for handing
//! the rqst out and for resetting it:
//!
//! - the RPC owner is made only with an [`IdleRqst`], the turn at a rqst
//!   no task, callback service or handler has ([`OwnedRqst::take`],
//!   [`OwnedRqst::to_backlog`]), which hands the rqst to sunrpc
//!   ([`IdleRqst::give_to`], [`IdleRqst::offer_to_backlog`],
//!   [`IdleRqst::enqueue_callback`]);
//! - it is let go of only when sunrpc gives the rqst back ([`SlotReturn`],
//!   from `->free_slot` or `->bc_free_rqst`) or it was never handed out
//!   ([`IdleRqst::put_rpc`]);
//! - so a [`Released`] req's rqst is used by no one, and
//!   [`OwnedRqst::to_pool`] resets it.
//!
//! The count is reached only through these methods: no `&ReqRef` is
//! handed out, so no RPC owner is made or let go of behind them.

use super::rqst::{RpcBufs, RqstSlot, SlotReturn, Task};
use super::{Xprt, XprtLink};
use crate::bindings;
use crate::proto::lifetime::{LifetimeError, Pool, Pooled, ReqId, ReqRef, Released, RpcOwner, SendOwner};
use core::marker::PhantomData;
use core::sync::atomic::AtomicU32;

/// A rqst of a transport, kept in one of its reqs, and the count of that
/// req's owners (`rl_slot` and `rl_kref`).
///
/// # Invariants
///
/// - `rqst` belongs to the transport of `xprt`: it is handed only to that
///   transport's tasks, backlog and callback service.
/// - Whenever the count lets a [`Released`] or [`Pooled`] token out, the
///   RPC owner made with the last [`IdleRqst`] was let go of with a
///   [`SlotReturn`] of `rqst` or with that [`IdleRqst`]: sunrpc has
///   finished with the rqst (it calls `->free_slot` after `xprt_release()`
///   cleared the task's `tk_rqstp` and waited for the rqst's unpin, and
///   `->bc_free_rqst` when the callback service is done with it), or
///   never had it. `count` is reached only here.
pub(crate) struct OwnedRqst {
    rqst: RqstSlot,
    xprt: XprtLink,
    count: ReqRef<AtomicU32>,
}

impl OwnedRqst {
    /// Makes req `id`'s rqst, idle, for `xprt`, armed in `pool`.
    pub(crate) fn new(id: ReqId, pool: Pool, xprt: XprtLink) -> (Self, Pooled) {
        let (count, pooled) = ReqRef::new(id, pool);
        // INVARIANT: a new rqst of `xprt`; no owner was ever made.
        (
            Self {
                rqst: RqstSlot::new(),
                xprt,
                count,
            },
            pooled,
        )
    }

    /// Returns the req's identity.
    pub(crate) fn id(&self) -> ReqId {
        self.count.id()
    }

    /// Returns the address of the rqst.
    pub(crate) fn as_ptr(&self) -> *mut bindings::rpc_rqst {
        self.rqst.as_ptr()
    }

    /// Returns whether `rqst` is this one.
    pub(crate) fn is(&self, rqst: *const bindings::rpc_rqst) -> bool {
        self.rqst.is(rqst)
    }

    /// Takes the req out of its pool for a new RPC owner, checking I5
    /// ([`ReqRef::take`]); returns the owner and the turn at the idle rqst.
    pub(crate) fn take(&self, pooled: Pooled) -> Result<(RpcOwner, IdleRqst<'_>), (Pooled, LifetimeError)> {
        let rpc = self.count.take(pooled)?;
        // INVARIANT: a pooled req's rqst was reset by `to_pool` (or never
        // used), and only the RPC owner just made hands it out.
        Ok((rpc, IdleRqst {
            home: self,
            _not_send: PhantomData,
        }))
    }

    /// Re-arms a released req for a task waiting on the backlog
    /// ([`ReqRef::to_backlog`]).
    pub(crate) fn to_backlog(&self, released: Released) -> Result<(RpcOwner, IdleRqst<'_>), (Released, LifetimeError)> {
        let rpc = self.count.to_backlog(released)?;
        // INVARIANT: released, so sunrpc has finished with the rqst (type
        // invariant); only the RPC owner just made hands it out.
        Ok((rpc, IdleRqst {
            home: self,
            _not_send: PhantomData,
        }))
    }

    /// Returns a released req to `pool` ([`ReqRef::to_pool`]), its rqst
    /// reset to idle, all zeroes, under the transport lock: teardown's
    /// [`Xprt::forget_congestion`] writes `rq_cong` of every rqst, released
    /// ones included, under it.
    pub(crate) fn to_pool(&self, released: Released, pool: Pool) -> Result<Pooled, (Released, LifetimeError)> {
        let pooled = self.count.to_pool(released, pool)?;
        let x = self.xprt.as_ptr();
        // SAFETY: the transport is live (`XprtLink` invariant) and the
        // rqst is its own (type invariant), so its lock is the one that
        // guards `rq_cong`. The req was released, so sunrpc has finished
        // with the rqst (type invariant), and the `Pooled` token that would
        // hand it out again is still here: no one uses it. All zeroes is
        // an idle `rpc_rqst`.
        unsafe {
            bindings::xprs_transport_lock(x);
            core::ptr::write_bytes(self.rqst.as_ptr(), 0, 1);
            bindings::xprs_transport_unlock(x);
        }
        Ok(pooled)
    }

    /// Takes the Send-side reference ([`ReqRef::add_send`]).
    pub(crate) fn add_send(&self, rpc: &RpcOwner) -> Result<SendOwner, LifetimeError> {
        self.count.add_send(rpc)
    }

    /// A Send owner lets go ([`ReqRef::put_send`]).
    pub(crate) fn put_send(&self, send: SendOwner) -> Result<Option<Released>, LifetimeError> {
        self.count.put_send(send)
    }

    /// The RPC owner lets go as sunrpc gives the rqst back (`back`,
    /// `->free_slot` or `->bc_free_rqst`) ([`ReqRef::put_rpc`]).
    /// [`LifetimeError::WrongReq`] when `back` is at another rqst: the
    /// owner is consumed and the req leaks rather than being released
    /// early.
    pub(crate) fn put_rpc(&self, rpc: RpcOwner, back: SlotReturn<'_>) -> Result<Option<Released>, LifetimeError> {
        if !self.rqst.is(back.rqst()) {
            return Err(LifetimeError::WrongReq);
        }
        // INVARIANT: sunrpc has finished with the rqst (`SlotReturn`).
        self.count.put_rpc(rpc)
    }
}

impl Xprt {
    /// Clears `rq_cong` of each of `rqsts` that is this transport's, under
    /// the transport lock that guards it, so none of them holds a
    /// congestion slot any more; warns about one of another transport.
    pub(crate) fn forget_congestion<'a>(&self, rqsts: impl Iterator<Item = &'a OwnedRqst>) {
        let x = self.as_ptr();
        let mut foreign = false;
        // SAFETY: live (`Xprt` invariant); each rqst is live while its
        // `OwnedRqst` is borrowed, and `rq_cong` of a rqst of this
        // transport (`OwnedRqst` invariant, checked by its link) is
        // protected by this transport's lock.
        unsafe {
            bindings::xprs_transport_lock(x);
            for rqst in rqsts {
                if core::ptr::eq(rqst.xprt.as_ptr(), x) {
                    (*rqst.as_ptr()).rq_cong = 0;
                } else {
                    foreign = true;
                }
            }
            bindings::xprs_transport_unlock(x);
        }
        if foreign {
            super::warn_once(kernel::c_str!("congestion of another transport's rqst"));
        }
    }
}

/// The turn at an idle rqst of an [`OwnedRqst`] whose RPC owner was just
/// made: it hands the rqst to sunrpc, or lets the owner go again.
///
/// # Invariants
///
/// No task, callback service or handler has the rqst, which is idle; this
/// is the only value that hands it out until the RPC owner made with it is
/// let go of. Not `Send`: the turn is the context's that made the owner.
#[must_use = "an idle rqst is handed out, or its RPC owner let go"]
pub(crate) struct IdleRqst<'a> {
    home: &'a OwnedRqst,
    _not_send: PhantomData<*mut ()>,
}

impl<'a> IdleRqst<'a> {
    /// Gives the rqst to `task`, the end of `->alloc_slot`; gives the turn
    /// back, with a warning, when the task is on another transport.
    pub(crate) fn give_to(self, task: &Task<'_>) -> Result<(), Self> {
        if !core::ptr::eq(task.xprt_ptr(), self.home.xprt.as_ptr()) {
            super::warn_once(kernel::c_str!("rqst offered to a task of another transport"));
            return Err(self);
        }
        // SAFETY: the rqst is idle and this turn's (type invariant), and it
        // belongs to the task's transport (checked above); the task owns
        // it from here.
        unsafe { task.assign(&self.home.rqst) };
        Ok(())
    }

    /// Offers the rqst to the first task on its transport's backlog
    /// (`xprt_wake_up_backlog()`); gives the turn back when none waits.
    pub(crate) fn offer_to_backlog(self) -> Result<(), Self> {
        // SAFETY: the transport is live (`XprtLink` invariant), the rqst
        // is its own (`OwnedRqst` invariant), idle and this turn's (type
        // invariant); when a task takes it, the turn ends here.
        let taken = unsafe { bindings::xprt_wake_up_backlog(self.home.xprt.as_ptr(), self.home.rqst.as_ptr()) };
        if taken {
            return Ok(());
        }
        Err(self)
    }

    /// Fills the rqst with a callback that arrived on its transport (`xid`,
    /// its first `call_len` bytes in `bufs`' reply buffer; our reply goes
    /// in its call buffer), and queues it for the callback service
    /// (`rpcrdma_bc_receive_call()`), which owns it until
    /// `->bc_free_rqst`.
    ///
    /// # Safety
    ///
    /// The rqst keeps pointers into `bufs`' two buffers: they must stay
    /// allocated, and must not be grown (reallocated), until
    /// `->bc_free_rqst` returns the rqst.
    pub(crate) unsafe fn enqueue_callback(self, xid: u32, bufs: &mut RpcBufs, call_len: usize) {
        let call_len = call_len.min(bufs.reply.len());
        let rqst = self.home.rqst.as_ptr();
        // SAFETY: the transport is live (`XprtLink` invariant) and the
        // rqst is its own (`OwnedRqst` invariant), idle and this turn's
        // (type invariant), which ends here; `call_len` bytes of the reply
        // buffer hold the callback, and the buffers stay where they are
        // until `->bc_free_rqst` (the caller's guarantee).
        unsafe {
            bindings::xprs_bc_rqst_init(
                rqst,
                self.home.xprt.as_ptr(),
                xid.to_be(),
                bufs.reply.as_mut_ptr().cast(),
                call_len,
                bufs.call.as_mut_ptr().cast(),
                bufs.call.len(),
            );
            bindings::xprs_bc_enqueue(rqst);
        }
    }

    /// Lets go of the RPC owner `rpc` of a rqst no one took
    /// ([`ReqRef::put_rpc`]).
    pub(crate) fn put_rpc(self, rpc: RpcOwner) -> Result<Option<Released>, LifetimeError> {
        // INVARIANT: the rqst was never handed out (type invariant).
        self.home.count.put_rpc(rpc)
    }
}
