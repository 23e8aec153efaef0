// SPDX-License-Identifier: GPL-2.0

//! The two-owner lifetime of an `rpcrdma_req`, and invariants I1..I7.
//!
//! A req is returned to a pool only after two independent owners have let
//! go of it:
//!
//! - the RPC-layer owner ([`RpcOwner`]), created when slot allocation hands
//!   the req out ([`ReqRef::take`], [`ReqRef::to_backlog`]) and dropped by
//!   `xprt_rdma_free_slot()` or `xprt_rdma_bc_free_rqst()`
//!   ([`ReqRef::put_rpc`]);
//! - a Send owner ([`SendOwner`]) per posted Send, created only after Send
//!   preparation succeeded ([`ReqRef::add_send`]) and dropped when the
//!   sendctx holding it is unmapped on Send completion or by the disconnect
//!   drain ([`ReqRef::put_send`]).
//!
//! Whichever owner lets go last receives a [`Released`] token, which must be
//! routed to exactly one destination: the free pool, a backlog waiter, or
//! the backchannel preallocation list. Routing re-arms the count to one, as
//! `rpcrdma_req_release()` does with `kref_init()`.
//!
//! The tokens are neither `Clone` nor `Copy`, so each owner can let go only
//! once; the count decides which of two concurrent owners is last. The
//! count is generic over [`Counter`] so that loom can check the protocol
//! with its own atomics; [`AtomicU32`] is the implementation the kernel
//! uses. See `Documentation/lifetime.md`.

use core::sync::atomic::{AtomicU32, Ordering};

/// The atomic operations the reference count needs.
pub(crate) trait Counter {
    /// Creates a counter holding `value`.
    fn new(value: u32) -> Self;

    /// Loads the value with acquire ordering.
    fn load_acquire(&self) -> u32;

    /// Atomically replaces the value by `f(value)` unless `f` returns
    /// `None`, with acquire-release ordering on success and acquire ordering
    /// on failure. Returns the previous value, or the current value if `f`
    /// refused it.
    fn update<F: FnMut(u32) -> Option<u32>>(&self, f: F) -> Result<u32, u32>;
}

impl Counter for AtomicU32 {
    fn new(value: u32) -> Self {
        AtomicU32::new(value)
    }

    fn load_acquire(&self) -> u32 {
        self.load(Ordering::Acquire)
    }

    fn update<F: FnMut(u32) -> Option<u32>>(&self, f: F) -> Result<u32, u32> {
        self.fetch_update(Ordering::AcqRel, Ordering::Acquire, f)
    }
}

/// Identifies one req (its index in the transport's req array).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ReqId(pub(crate) u32);

/// Proof that the RPC layer holds the req (one `rl_kref` reference).
#[must_use = "dropping an RpcOwner leaks the req; pass it to ReqRef::put_rpc()"]
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RpcOwner {
    req: ReqId,
}

/// Proof that a posted Send holds the req (one `rl_kref` reference).
#[must_use = "dropping a SendOwner leaks the req; pass it to ReqRef::put_send()"]
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SendOwner {
    req: ReqId,
}

/// Proof that the last owner let go: the req must now be routed.
#[must_use = "a Released req must be routed to exactly one pool or waiter"]
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Released {
    req: ReqId,
}

/// Proof that a req sits, armed, in a pool.
#[must_use = "dropping a Pooled token loses the req"]
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Pooled {
    req: ReqId,
    pool: Pool,
}

/// The pools an idle req can wait in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pool {
    /// `rb_send_bufs`.
    Free,
    /// The backchannel preallocation list (`bc_pa_list`).
    Backchannel,
}

macro_rules! token_req {
    ($($t:ident),*) => {$(
        impl $t {
            /// Returns the req this token is for.
            pub(crate) const fn req(&self) -> ReqId {
                self.req
            }
        }
    )*};
}
token_req!(RpcOwner, SendOwner, Released, Pooled);

impl Pooled {
    /// Returns the pool the req waits in.
    pub(crate) const fn pool(&self) -> Pool {
        self.pool
    }
}

/// A lifetime rule was broken. The kernel WARNs on these; the model fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LifetimeError {
    /// A token was presented to a req it does not belong to.
    WrongReq,
    /// I5: a req left a pool with a count other than one, i.e. with Send
    /// work still outstanding or already owned.
    NotIdle {
        /// The count found.
        count: u32,
    },
    /// A reference was taken on a req whose count is zero (already
    /// released) or saturated.
    BadGet {
        /// The count found.
        count: u32,
    },
    /// An owner let go of a req whose count is already zero.
    Underflow,
    /// A released req was routed while something still counts it.
    NotReleased {
        /// The count found.
        count: u32,
    },
}

/// The reference count of one req (`rl_kref`).
///
/// # Invariants
///
/// Between routing and the next `take`, the count is 1 (armed). While the
/// req is handed out, the count equals the number of live [`RpcOwner`] and
/// [`SendOwner`] tokens for it (I6). It is zero only between the last
/// owner letting go and routing.
pub(crate) struct ReqRef<C: Counter> {
    id: ReqId,
    count: C,
}

impl<C: Counter> ReqRef<C> {
    /// Creates a req that starts armed in `pool`.
    pub(crate) fn new(id: ReqId, pool: Pool) -> (Self, Pooled) {
        // INVARIANT: armed in a pool, count 1.
        (
            ReqRef {
                id,
                count: C::new(1),
            },
            Pooled { req: id, pool },
        )
    }

    /// Returns the req's identity.
    pub(crate) const fn id(&self) -> ReqId {
        self.id
    }

    /// Returns the current count (for assertions and the model).
    pub(crate) fn count(&self) -> u32 {
        self.count.load_acquire()
    }

    fn check(&self, req: ReqId) -> Result<(), LifetimeError> {
        if req == self.id {
            Ok(())
        } else {
            Err(LifetimeError::WrongReq)
        }
    }

    /// Slot allocation takes the req out of its pool
    /// (`xprt_rdma_alloc_slot()`, `rpcrdma_bc_rqst_get()`). Checks I5: the
    /// count is exactly the armed one. On failure the token is returned.
    pub(crate) fn take(&self, pooled: Pooled) -> Result<RpcOwner, (Pooled, LifetimeError)> {
        if let Err(e) = self.check(pooled.req) {
            return Err((pooled, e));
        }
        let count = self.count();
        if !i5_pooled_req_idle(count) {
            return Err((pooled, LifetimeError::NotIdle { count }));
        }
        // INVARIANT: the armed reference now belongs to the new RpcOwner.
        Ok(RpcOwner { req: self.id })
    }

    /// Takes the Send-side reference once Send preparation has succeeded
    /// (`kref_get()` at the end of `rpcrdma_prepare_send_sges()`). Borrowing
    /// the [`RpcOwner`] proves the count is at least one.
    pub(crate) fn add_send(&self, rpc: &RpcOwner) -> Result<SendOwner, LifetimeError> {
        self.check(rpc.req)?;
        self.count
            .update(|c| if c == 0 { None } else { c.checked_add(1) })
            .map_err(|count| LifetimeError::BadGet { count })?;
        // INVARIANT: one more reference, one more token.
        Ok(SendOwner { req: self.id })
    }

    fn put(&self) -> Result<Option<Released>, LifetimeError> {
        let old = self
            .count
            .update(|c| c.checked_sub(1))
            .map_err(|_| LifetimeError::Underflow)?;
        Ok((old == 1).then_some(Released { req: self.id }))
    }

    /// The RPC layer lets go (`xprt_rdma_free_slot()`,
    /// `xprt_rdma_bc_free_rqst()`). Returns [`Released`] if it was last.
    /// On error the token is consumed and the count left alone: the req
    /// leaks rather than being released early.
    pub(crate) fn put_rpc(&self, rpc: RpcOwner) -> Result<Option<Released>, LifetimeError> {
        self.check(rpc.req)?;
        self.put()
    }

    /// A Send owner lets go (`rpcrdma_sendctx_unmap()`). Returns
    /// [`Released`] if it was last. Errors as for [`ReqRef::put_rpc`].
    pub(crate) fn put_send(&self, send: SendOwner) -> Result<Option<Released>, LifetimeError> {
        self.check(send.req)?;
        self.put()
    }

    fn rearm(&self, released: &Released) -> Result<(), LifetimeError> {
        self.check(released.req)?;
        self.count
            .update(|c| (c == 0).then_some(1))
            .map(|_| ())
            .map_err(|count| LifetimeError::NotReleased { count })
    }

    /// Routes a released req back to `pool` and re-arms its count. On
    /// failure the token is returned.
    pub(crate) fn to_pool(
        &self,
        released: Released,
        pool: Pool,
    ) -> Result<Pooled, (Released, LifetimeError)> {
        match self.rearm(&released) {
            Ok(()) => Ok(Pooled { req: self.id, pool }),
            Err(e) => Err((released, e)),
        }
    }

    /// Hands a released req straight to a task waiting on the backlog
    /// (`xprt_wake_up_backlog()`), re-arming its count for the new owner. On
    /// failure the token is returned.
    pub(crate) fn to_backlog(
        &self,
        released: Released,
    ) -> Result<RpcOwner, (Released, LifetimeError)> {
        match self.rearm(&released) {
            // INVARIANT: the re-armed reference belongs to the new owner.
            Ok(()) => Ok(RpcOwner { req: self.id }),
            Err(e) => Err((released, e)),
        }
    }
}

/// I1 (Receive WR ownership): a rep taken off `rb_free_reps` to be posted
/// is attached to no rqst (`rr_rqst == NULL`). Asserted in
/// `rpcrdma_post_recvs()`.
pub(crate) const fn i1_rep_postable(rep_attached: bool) -> bool {
    !rep_attached
}

/// I2 (rep attachment): after `rpcrdma_reply_put()`, the req references no
/// rep (`rl_reply == NULL`), so a rep on the free list is never still
/// reachable from a req.
pub(crate) const fn i2_reply_detached(req_has_reply: bool) -> bool {
    !req_has_reply
}

/// I3 (registered-MR fence): when `rpcrdma_complete_rqst()` runs, every MR
/// of the req has been invalidated and unmapped (`rl_registered` empty).
pub(crate) const fn i3_mrs_fenced(registered_mrs: u32) -> bool {
    registered_mrs == 0
}

/// I4 (Send-buffer release): when the last owner lets go, no sendctx refers
/// to the req (`rl_sendctx == NULL`), i.e. the HCA is done with its send
/// buffer. Asserted where [`Released`] is routed.
pub(crate) const fn i4_send_released(req_in_sendctx: bool) -> bool {
    !req_in_sendctx
}

/// I5 (req lifecycle), RPC side: a req held by an `rpc_rqst` has a count of
/// at least one.
pub(crate) const fn i5_owned_req_counted(count: u32) -> bool {
    count >= 1
}

/// I5 (req lifecycle), pool side: a req leaving a pool holds exactly the
/// armed reference: no Send-side work is outstanding. Checked by
/// [`ReqRef::take`].
pub(crate) const fn i5_pooled_req_idle(count: u32) -> bool {
    count == 1
}

/// I6 (reference accounting): the count equals the number of live owners:
/// one if the RPC layer holds the req or it waits armed in a pool
/// (`rpc_or_armed`), plus one per Send owner for it.
pub(crate) const fn i6_count_matches(count: u32, rpc_or_armed: bool, send_owners: u32) -> bool {
    match send_owners.checked_add(rpc_or_armed as u32) {
        Some(owners) => count == owners,
        None => false,
    }
}

/// I7 (single home): a req is in at most one place at a time: owned by
/// the RPC layer, waiting in the free pool, waiting on the backchannel
/// list, or released and not yet routed. It is in none of them only while
/// Send owners alone still hold it.
pub(crate) fn i7_single_home(
    rpc_owned: bool,
    in_free: bool,
    in_bc: bool,
    released: bool,
    send_owners: u32,
) -> bool {
    let homes = [rpc_owned, in_free, in_bc, released];
    match homes.iter().filter(|home| **home).count() {
        0 => send_owners > 0,
        1 => true,
        _ => false,
    }
}
