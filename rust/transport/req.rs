// SPDX-License-Identifier: GPL-2.0

#![allow(unsafe_code)]

//! The reqs (`rpcrdma_req`) and whose turn it is to use one: the ownership
//! abstraction under the transport logic. A req's mutable state
//! ([`ReqState`]) sits in a [`KeyCell`]; its user proves its turn with a
//! [`ReqKey`], made only here, at the points where the req changes hands:
//!
//! - sunrpc hands the rqst to an op for the task that owns it: the
//!   adapter's turn ([`OwnerTurn`], [`TransmitTurn`]) is traded for the key
//!   ([`Req::owner_key`], [`Req::transmit_key`]);
//! - a req leaves its pool for a task or a callback ([`Req::take`],
//!   [`Req::to_backlog`]: the RPC owner of `proto::lifetime` is made);
//! - a Reply claims the req it was sent for ([`Req::claim_reply`]);
//! - a LOCAL_INV chain's completion takes over from its poster: the
//!   poster parks its turn in the req's cell once the chain is posted
//!   ([`ReqKey::hand_to_inv`], [`Key::hand_over`]), and the completion
//!   takes it out ([`Req::inv_arrive`], [`KeyCell::arrive`]), which makes
//!   its key: whichever of the two comes second finishes the chain.
//!
//! Keys end where the req leaves the context: the RPC owner lets go
//! ([`ReqKey::put_rpc`]), the rqst goes to a task or the callback service
//! ([`NewReq`]), or the holder returns.

use crate::cell::{Arrival, HandOver, Key, KeyCell, PinnedVec};
use crate::completion::Completion;
use crate::ib::{DmaBuf, SendBuf, SendBufMut, SendChain};
use crate::proto::lifetime::{LifetimeError, Pool, Pooled, ReqId, Released, RpcOwner};
use crate::proto::offered::Offered;
use crate::sunrpc::{IdleRqst, OwnedRqst, OwnerTurn, PinnedRqst, RpcBufs, SlotReturn, Task, TransmitTurn, XprtLink};
use crate::bindings;
use core::sync::atomic::{AtomicU8, Ordering};
use kernel::c_str;
use kernel::error::Error;
use kernel::prelude::*;

use super::backchannel::BC_BUF_SIZE;
use super::endpoint::{Endpoint, EpRes};
use super::frwr::{InvCtx, Registered};
use super::reply::Placement;
use super::{Config, RPC_BUF_SIZE};

/// Where a forward req is in one transmission of its RPC, kept in
/// [`Req::phase`]. Only a req in [`Phase::SENT`] takes a Reply, and the
/// reply handler claims it by moving it to [`Phase::REPLIED`] with one
/// compare-and-swap, so a duplicate or forged Reply for the same XID, one
/// that arrives while the req's LOCAL_INV chain runs, or one for a
/// predictable XID before the Call was marshaled, finds the req in another
/// phase and is dropped (and counted in `bad_reply_count`).
///
/// ```text
///   IDLE --send_request--> MARSHALING --post--> SENT --Reply--> REPLIED
///    ^                        |  (unwind)         |                |
///    +------------------------+-------------------+  complete/unpin+
/// ```
pub(super) struct Phase;

impl Phase {
    /// Given to a task, or its reply handled: no Reply is expected.
    pub(super) const IDLE: u8 = 0;
    /// `send_request` is registering chunks and building the Call.
    pub(super) const MARSHALING: u8 = 1;
    /// The Call is posted (or about to be): a Reply may come.
    pub(super) const SENT: u8 = 2;
    /// A reply handler owns the req until it completes or unpins the rqst.
    pub(super) const REPLIED: u8 = 3;
}

/// A Reply whose req's MRs a LOCAL_INV chain is fencing: its rqst, pinned,
/// and what it puts there once the MRs are unmapped. The reply handler
/// leaves it in the req for the chain's completion.
pub(super) struct PendingReply {
    pub(super) rqst: PinnedRqst,
    pub(super) placement: Result<Placement>,
}

/// The part of a req its current user alone reaches, through a
/// [`ReqKey`].
pub(super) struct ReqState {
    /// The RPC owner, while the RPC layer (a task or the callback service)
    /// holds the req.
    pub(super) rpc: Option<RpcOwner>,
    pub(super) bufs: RpcBufs,
    pub(super) registered: Registered,
    /// The chunks the current Call offered for its Reply.
    pub(super) offered: Offered,
    /// The Reply the req's LOCAL_INV chain finishes, while it runs.
    pub(super) pending: Option<PendingReply>,
}

/// One request slot (`rpcrdma_req`).
///
/// # Invariants
///
/// - `state` has one user at a time, holding a [`ReqKey`]: the RPC layer,
///   for the ops sunrpc calls on the rqst while it holds the req (from
///   slot allocation to `->free_slot`); the reply handler from its claim
///   ([`Phase::SENT`] to [`Phase::REPLIED`]) until it completes or unpins
///   the rqst, which the RPC layer waits for before releasing it (it does
///   not use the state meanwhile: it waits for the Reply, or retransmits,
///   and `send_request` takes the req back by its phase before it uses
///   the state); the completion of a LOCAL_INV chain, from the turn its
///   poster parked in `state` ([`ReqKey::hand_to_inv`]), or the poster
///   itself if the completion came first, until it hands the req back
///   ([`ReqKey::end_reply`], [`ReqKey::wake_unmap_waiter`]); the code
///   that routes the req between owners. `registered` may hold MRs on a
///   Reply's behalf only while the rqst is pinned.
/// - The req's send buffer (`Endpoint::send_bufs`, indexed by its id) is
///   reached only with the req's key ([`Req::new_send_buf`]), by
///   `send_request`, which the RPC layer runs for a rqst it owns under
///   `XPRT_LOCKED`, and written only while no Send of this req is
///   outstanding on the current connection.
/// - `offered` is written by `send_request` while `phase` is
///   [`Phase::MARSHALING`], and read by the reply handler only after its
///   compare-and-swap from [`Phase::SENT`] (Release before, Acquire in the
///   swap) made it the req's user.
/// - `backchannel` is whether the req is one of the backchannel pool's,
///   whose rqst is only ever given to the callback service, never to a
///   task, and so is never on a receive queue.
#[pin_data]
pub(super) struct Req {
    /// The req's rqst and the count of its owners (`rl_slot`, `rl_kref`):
    /// the rqst is handed out and reset only through it.
    pub(super) kref: OwnedRqst,
    state: KeyCell<ReqState>,
    /// A [`Phase`] value.
    pub(super) phase: AtomicU8,
    pub(super) inv: InvCtx,
    /// What `buf_free` waits on for its chain ([`Req::wait_unmap`]),
    /// signaled only by [`ReqKey::wake_unmap_waiter`], which consumes the
    /// completion's key.
    #[pin]
    done: Completion,
    backchannel: bool,
}

impl Req {
    /// Returns the address of the req's rqst.
    pub(super) fn rqst(&self) -> *mut bindings::rpc_rqst {
        self.kref.as_ptr()
    }

    /// Moves the req to phase `to` if its current phase passes `from`;
    /// returns whether it did.
    pub(super) fn set_phase(&self, from: impl Fn(u8) -> bool, to: u8) -> bool {
        self.phase
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| from(p).then_some(to))
            .is_ok()
    }

    /// Makes the key of the current user of the req.
    ///
    /// # Safety
    ///
    /// The caller's context has the req's turn (type invariant) until the
    /// key is dropped, as [`KeyCell::key`] requires.
    unsafe fn key(&self) -> ReqKey<'_> {
        ReqKey {
            req: self,
            // SAFETY: guaranteed by the caller.
            state: unsafe { self.state.key() },
        }
    }

    /// Trades the turn of an op sunrpc calls for the rqst's owner for the
    /// key to the req's state; None when `turn` is at another rqst.
    pub(super) fn owner_key<'a>(&'a self, turn: OwnerTurn<'a>) -> Option<ReqKey<'a>> {
        if !self.kref.is(turn.rqst()) {
            return None;
        }
        // SAFETY: the op runs for the rqst's owner, the RPC layer, whose
        // ops on the rqst come one at a time, and no reply handler has the
        // rqst or can find it (`OwnerTurn` invariant): none holds the key
        // or claims the req, and a LOCAL_INV chain that finishes a Reply
        // gave up its key (`ReqKey::end_reply`) before the unpin, and took
        // the turn out of the cell before; the completion of `buf_free`'s
        // chain gave up its key before it woke the op
        // (`ReqKey::wake_unmap_waiter`): no turn is parked. The turn is
        // consumed here, so this is the op's only key, and it lives no
        // longer than the op.
        Some(unsafe { self.key() })
    }

    /// Trades the turn of `->send_request` for the key to the req's state,
    /// taking the req from the reply path first: a Call's req moves from
    /// any phase but [`Phase::REPLIED`] to [`Phase::MARSHALING`], where no
    /// Reply claims it. None when `turn` is at another rqst, or a reply
    /// handler has the req (a Reply to the previous transmission).
    pub(super) fn transmit_key<'a>(&'a self, turn: TransmitTurn<'a>) -> Option<ReqKey<'a>> {
        if !self.kref.is(turn.rqst()) {
            return None;
        }
        if !self.backchannel && !self.set_phase(|p| p != Phase::REPLIED, Phase::MARSHALING) {
            return None;
        }
        // SAFETY: `->send_request` runs on the rqst owner's behalf, under
        // XPRT_LOCKED, while no other op of the owner runs, and the turn is
        // consumed here (`TransmitTurn` invariant): no op of the RPC layer
        // has another key. A reply handler is the req's user only from its
        // claim (SENT to REPLIED, Acquire) until its key ends in
        // `ReqKey::end_reply`, which consumes it and only then leaves
        // REPLIED (Release), so no use of that key follows (a turn its
        // LOCAL_INV chain parks is parked, and taken out, while the phase
        // is REPLIED, and `buf_free`'s is over before its op returns); the
        // swap above (Acquire) found the req out of REPLIED and moved it
        // where no claim succeeds, so no handler is its user until the
        // Send is posted. A backchannel req's rqst is never on a receive
        // queue (type invariant), so no Reply claims it.
        Some(unsafe { self.key() })
    }

    /// Makes the key for the new RPC owner `rpc`, just made for this req,
    /// with the turn at its idle rqst, by [`OwnedRqst::take`] or
    /// [`OwnedRqst::to_backlog`].
    fn new_owner<'a>(&'a self, rpc: RpcOwner, idle: IdleRqst<'a>) -> NewReq<'a> {
        // SAFETY: `rpc` was just made from a pooled or released req, so no
        // RPC layer and no Send held the req: every key of theirs was
        // consumed by `put_rpc`, or ended with its op, before the count
        // went to 0 (AcqRel, so those uses happen before this one), and
        // the reply path and LOCAL_INV completions give up their keys
        // (`ReqKey::end_reply`, `ReqKey::wake_unmap_waiter`) before the
        // unpin or the wake-up that come before `->free_slot`, so none is
        // parked in the cell. No one else has the req's turn.
        let mut key = unsafe { self.key() };
        key.state.rpc = Some(rpc);
        // A new RPC: no Reply is expected until its Call is sent.
        self.phase.store(Phase::IDLE, Ordering::Release);
        // INVARIANT: the key of a req that just left its pool or owner.
        NewReq { key, idle }
    }

    /// Takes the req out of its pool for a new RPC owner (checking I5).
    pub(super) fn take(&self, pooled: Pooled) -> core::result::Result<NewReq<'_>, (Pooled, LifetimeError)> {
        self.kref.take(pooled).map(|(rpc, idle)| self.new_owner(rpc, idle))
    }

    /// Re-arms a released req for a task waiting on the backlog.
    pub(super) fn to_backlog(&self, released: Released) -> core::result::Result<NewReq<'_>, LifetimeError> {
        match self.kref.to_backlog(released) {
            Ok((rpc, idle)) => Ok(self.new_owner(rpc, idle)),
            Err((_, e)) => Err(e),
        }
    }

    /// Returns a released req to `pool`, its rqst reset to idle
    /// ([`OwnedRqst::to_pool`]).
    pub(super) fn to_pool(&self, released: Released, pool: Pool) -> core::result::Result<Pooled, (Released, LifetimeError)> {
        self.kref.to_pool(released, pool)
    }

    /// Claims the req for the Reply that found `pinned`, by moving its
    /// phase from [`Phase::SENT`] to [`Phase::REPLIED`]. None when
    /// `pinned` is not this req's rqst or the req awaits no Reply.
    pub(super) fn claim_reply(&self, pinned: &PinnedRqst) -> Option<ReqKey<'_>> {
        if !self.kref.is(pinned.as_ptr()) || !self.set_phase(|p| p == Phase::SENT, Phase::REPLIED) {
            return None;
        }
        // SAFETY: the send path stored SENT (Release) after its last use
        // of the state for this transmission, and the swap (Acquire) makes
        // this context the req's user until its key ends in
        // `ReqKey::end_reply`, before the rqst is completed or unpinned
        // (type invariant): the task waits for the Reply, and sunrpc
        // releases the pinned rqst, and with it the req, only after the
        // unpin. A second Reply finds the phase REPLIED and fails. No turn
        // is parked: a Reply's chain parks one only in REPLIED, and
        // `buf_free`'s only for a rqst no Reply can find (`OwnerTurn`).
        Some(unsafe { self.key() })
    }

    /// The last LOCAL_INV of the req's chain completed, with status `ok`:
    /// the key of the turn its poster parked for it
    /// ([`ReqKey::hand_to_inv`]), or what else [`KeyCell::arrive`] found
    /// (the poster goes on, or no chain awaits this completion).
    pub(super) fn inv_arrive(&self, ok: bool) -> InvArrival<'_> {
        match self.state.arrive(ok) {
            Arrival::Turn(state) => InvArrival::Turn(ReqKey { req: self, state }),
            Arrival::Early => InvArrival::Early,
            Arrival::Unarmed => InvArrival::Unarmed,
        }
    }

    /// Wraps `buf` as the req's send buffer on a new connection, which only
    /// the req's key reaches ([`ReqKey::send_parts`]).
    pub(super) fn new_send_buf(&self, buf: DmaBuf) -> ReqSendBuf {
        SendBuf::new(buf, &self.state)
    }

    /// Rearms the completion `buf_free` waits on, before its LOCAL_INV
    /// chain is posted: no chain of this req is in flight, as its poster
    /// alone rearms it.
    pub(super) fn arm_unmap_wait(&self) {
        self.done.reinit();
    }

    /// Waits until the LOCAL_INV chain of `buf_free` has completed: its
    /// last completion signals it, also when it is flushed.
    pub(super) fn wait_unmap(&self) {
        self.done.wait();
    }
}

/// The user's turn at one req: exclusive use of its [`ReqState`].
///
/// # Invariants
///
/// `state` is a key to `req.state`.
pub(super) struct ReqKey<'a> {
    req: &'a Req,
    state: Key<'a, ReqState>,
}

impl<'a> ReqKey<'a> {
    /// Returns the req, for as long as it lives (not only while the key is
    /// borrowed).
    pub(super) fn req(&self) -> &'a Req {
        self.req
    }

    /// Returns the req's state.
    pub(super) fn state(&mut self) -> &mut ReqState {
        &mut self.state
    }

    /// Returns the req's registered MRs.
    pub(super) fn registered(&mut self) -> &mut Registered {
        &mut self.state.registered
    }

    /// Returns the req's send buffer on `ep` (`Endpoint::send_bufs`, by
    /// the req's id).
    pub(super) fn send_buf<'b>(&'b mut self, ep: &'b Endpoint) -> Option<SendBufMut<'b>> {
        self.send_parts(ep).map(|parts| parts.buf)
    }

    /// Returns, borrowed together, what posting the req's Send uses: its
    /// registered MRs, its RPC owner and its send buffer on `ep`, which
    /// this key alone reaches ([`Req::new_send_buf`]).
    pub(super) fn send_parts<'b>(&'b mut self, ep: &'b Endpoint) -> Option<SendParts<'b>> {
        let (buf, state) = ep.send_bufs.get(self.req.kref.id().0 as usize)?.contents(&mut self.state)?;
        Some(SendParts {
            registered: &mut state.registered,
            rpc: state.rpc.as_ref(),
            buf,
        })
    }

    /// Hands the req's turn to the last completion of the LOCAL_INV chain
    /// that `build` makes from the QP's resources (`EpRes`: the MR pool,
    /// the req's `InvCqe`) and the req's registered MRs, posted on `ep`'s
    /// QP (`Qp::post`; `frwr_unmap_async()`, `frwr_unmap_sync()`). The
    /// turn is parked in the req's cell ([`Key::hand_over`]) once the post
    /// returned, when the chain, and its borrow of the leases, are gone;
    /// the completion takes it out ([`Req::inv_arrive`]). On success the
    /// key ends here, unless the completion came first
    /// ([`Unmapping::Completed`]): then the caller finishes the chain.
    ///
    /// When `build` or the post fails, the key is given back with the
    /// error. A chain is posted in order and stops at the first work
    /// request it cannot post, and only the last one is signaled: if the
    /// post failed, that one was not posted and no completion comes.
    /// Should one have come all the same, the chain counts as completed.
    pub(super) fn hand_to_inv<const N: usize>(
        self,
        ep: &Endpoint,
        build: impl for<'r, 'l> FnOnce(&'r EpRes, &'l mut Registered) -> Result<SendChain<'r, 'l, N>>,
    ) -> core::result::Result<Unmapping<'a>, (Self, Error)> {
        let Some(qp) = ep.id.qp() else {
            return Err((self, EIO));
        };
        let ReqKey { req, state } = self;
        match state.hand_over(|state| qp.post(|res| build(res, &mut state.registered))) {
            HandOver::Parked => Ok(Unmapping::Handed),
            HandOver::Completed(state, ok) => Ok(Unmapping::Completed(ReqKey { req, state }, ok)),
            HandOver::Failed(state, e, None) => Err((ReqKey { req, state }, e)),
            HandOver::Failed(state, _, Some(ok)) => {
                crate::sunrpc::warn_once(c_str!("LOCAL_INV completion of a chain not posted"));
                Ok(Unmapping::Completed(ReqKey { req, state }, ok))
            }
        }
    }

    /// Ends the turn of the reply path (a Reply's claim, or the LOCAL_INV
    /// completion that finishes it): the phase goes back to
    /// [`Phase::IDLE`] (Release) after the key's last use of the state,
    /// and the key ends here, before the caller completes or unpins the
    /// rqst. From IDLE a retransmission may take the req
    /// ([`Req::transmit_key`]).
    pub(super) fn end_reply(self) {
        self.req.phase.store(Phase::IDLE, Ordering::Release);
    }

    /// Ends the turn of the completion of `buf_free`'s LOCAL_INV chain: the
    /// key ends, then `buf_free`'s waiter ([`Req::wait_unmap`]) is woken,
    /// and its op has the turn again.
    pub(super) fn wake_unmap_waiter(self) {
        let req = self.req;
        req.done.complete();
    }

    /// The RPC layer lets go of the req as sunrpc gives its rqst `back`
    /// (`->free_slot`, `->bc_free_rqst`). Returns `None` when it held no
    /// RPC owner (a bug), else the outcome of [`OwnedRqst::put_rpc`]. The
    /// turn ends: once the count drops, another context may take the req.
    pub(super) fn put_rpc(mut self, back: SlotReturn<'_>) -> Option<core::result::Result<Option<Released>, LifetimeError>> {
        let rpc = self.state.rpc.take()?;
        Some(self.req.kref.put_rpc(rpc, back))
    }
}

/// What a post of a req's Send uses, borrowed from its [`ReqKey`] at once
/// ([`ReqKey::send_parts`]).
pub(super) struct SendParts<'b> {
    pub(super) registered: &'b mut Registered,
    pub(super) rpc: Option<&'b RpcOwner>,
    pub(super) buf: SendBufMut<'b>,
}

/// What became of a posted LOCAL_INV chain ([`ReqKey::hand_to_inv`]).
pub(super) enum Unmapping<'a> {
    /// The chain's last completion has the req's turn.
    Handed,
    /// The chain completed (successfully when `true`) before the turn
    /// could be handed over: the poster finishes it with this key.
    Completed(ReqKey<'a>, bool),
}

/// What the last completion of a req's LOCAL_INV chain found
/// ([`Req::inv_arrive`]).
pub(super) enum InvArrival<'a> {
    /// The poster handed the turn over: the completion finishes the chain.
    Turn(ReqKey<'a>),
    /// The poster has not handed the turn over yet: it finishes the chain.
    Early,
    /// No chain awaits this completion.
    Unarmed,
}

/// A req's send buffer on one connection, written with the req's key.
pub(super) type ReqSendBuf = SendBuf<ReqState>;

impl core::ops::Deref for ReqKey<'_> {
    type Target = Req;

    fn deref(&self) -> &Req {
        self.req
    }
}

/// The key of a req that just left its pool or its last owner, and the
/// turn at its idle rqst, not given to anyone: it goes to a task, a
/// backlog waiter or the callback service, or its RPC owner lets go.
///
/// # Invariants
///
/// The key is the req's only one, made by `Req::new_owner` with `idle`;
/// the RPC owner made with `idle` is in the key's state.
pub(super) struct NewReq<'a> {
    key: ReqKey<'a>,
    idle: IdleRqst<'a>,
}

impl<'a> NewReq<'a> {
    /// Returns the key.
    pub(super) fn key(&mut self) -> &mut ReqKey<'a> {
        &mut self.key
    }

    /// Gives the rqst to `task`, the end of `->alloc_slot`; gives the req
    /// back when the task is not one of the transport's.
    pub(super) fn give_to(self, task: &Task<'_>) -> core::result::Result<(), Self> {
        let Self { key, idle } = self;
        idle.give_to(task).map_err(|idle| Self { key, idle })
    }

    /// Offers the rqst to the first task on its transport's backlog; gives
    /// the req back when none waits.
    pub(super) fn offer_to_backlog(self) -> core::result::Result<(), Self> {
        let Self { key, idle } = self;
        idle.offer_to_backlog().map_err(|idle| Self { key, idle })
    }

    /// Queues the callback `xid` of `call_len` bytes, already copied into
    /// the req's reply buffer, for the callback service, which owns the
    /// rqst until `->bc_free_rqst`.
    pub(super) fn enqueue_callback(self, xid: u32, call_len: usize) {
        let Self { mut key, idle } = self;
        // SAFETY: `bufs` are the req's own, which live as long as the
        // transport's reqs; they are grown only in `->buf_alloc`
        // (`RpcBufs::grow_*`), which sunrpc never calls for a callback
        // rqst, so they stay in place until `->bc_free_rqst`.
        unsafe { idle.enqueue_callback(xid, &mut key.state.bufs, call_len) };
    }

    /// The RPC owner of a rqst no one took lets go
    /// ([`IdleRqst::put_rpc`]); `None` when the key held none (a bug).
    pub(super) fn put_rpc(self) -> Option<core::result::Result<Option<Released>, LifetimeError>> {
        let Self { mut key, idle } = self;
        let rpc = key.state.rpc.take()?;
        Some(idle.put_rpc(rpc))
    }
}

/// All reqs of a transport: the forward pool's, then the backchannel's,
/// indexed by id. Made once, each in its place ([`PinnedVec`]), where it
/// stays.
///
/// # Invariants
///
/// `xprt` is the transport the reqs were made for (each [`OwnedRqst`]
/// keeps its own link too, and checks it).
pub(super) struct Reqs {
    reqs: PinnedVec<Req>,
    xprt: XprtLink,
}

impl Reqs {
    /// Makes the reqs of `cfg` for `xprt`, each starting in its home pool;
    /// returns them with the pool tokens.
    pub(super) fn new(cfg: &Config, xprt: XprtLink) -> Result<(Self, KVec<Option<Pooled>>)> {
        let n = cfg.all_reqs();
        // Past a few thousand slots the reqs outgrow kmalloc's largest size.
        let mut reqs = PinnedVec::with_capacity(n)?;
        let mut free = KVec::with_capacity(n, GFP_KERNEL)?;
        for i in 0..u32::try_from(n)? {
            let pool = cfg.home(ReqId(i));
            let (kref, pooled) = OwnedRqst::new(ReqId(i), pool, xprt.clone());
            let size = match pool {
                Pool::Free => RPC_BUF_SIZE,
                Pool::Backchannel => BC_BUF_SIZE,
            };
            let state = ReqState {
                rpc: None,
                bufs: RpcBufs::new(size)?,
                registered: Registered::EMPTY,
                offered: Offered::NONE,
                pending: None,
            };
            reqs.push(try_pin_init!(Req {
                kref,
                state: KeyCell::new(state),
                phase: AtomicU8::new(Phase::IDLE),
                inv: InvCtx::new(),
                done <- Completion::new(),
                backchannel: pool == Pool::Backchannel,
            }? Error))?;
            free.push(Some(pooled), GFP_KERNEL)?;
        }
        // INVARIANT: every req was made here, for `xprt`.
        Ok((Self { reqs, xprt }, free))
    }

    /// Returns the req `id`.
    pub(super) fn get(&self, id: ReqId) -> Option<&Req> {
        self.reqs.get(id.0 as usize)
    }

    /// Returns the req whose rqst is `rqst`, if it is one of these.
    pub(super) fn of(&self, rqst: *const bindings::rpc_rqst) -> Option<&Req> {
        let first = self.reqs.as_slice().first()?.rqst() as usize;
        let size = core::mem::size_of::<Req>();
        let off = (rqst as usize).checked_sub(first)?;
        let req = self.reqs.get(off / size)?;
        req.kref.is(rqst).then_some(req)
    }

    pub(super) fn len(&self) -> usize {
        self.reqs.as_slice().len()
    }

    /// Returns the reqs, by id.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Req> {
        self.reqs.as_slice().iter()
    }

    /// Takes every congestion slot back from the rqsts
    /// (`Xprt::forget_congestion`), for a connection that is gone.
    pub(super) fn forget_congestion(&self) {
        self.xprt.forget_congestion(self.iter().map(|req| &req.kref));
    }
}
