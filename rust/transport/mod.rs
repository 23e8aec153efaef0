// SPDX-License-Identifier: GPL-2.0

//! The RPC-over-RDMA transport: setup, connection, slots, marshaling with
//! FRWR-registered chunks, and the send and receive paths.
//!
//! Calls go inline (pulled up into the req's send buffer) when they fit,
//! or with their page data in a read chunk, or whole in a position-zero
//! read chunk. Replies come inline, with their page data in a write chunk,
//! or whole in a reply chunk. The decisions are `proto::chunk::plan`'s;
//! this module carries them out with FRWR memory registration.
//!
//! Its files follow the C client's (`net/sunrpc/xprtrdma`):
//!
//! - this file: the sizes ([`Config`]), the reqs ([`Req`], [`Phase`]),
//!   the state under the `shared` spinlock ([`Shared`]) and [`Transport`]
//!   itself, with the accessors of its endpoint (`xprt_rdma.h`);
//! - `ops`: the class's `setup` and the `rpc_xprt_ops` entry points
//!   (`transport.c`);
//! - `slots`: handing reqs to tasks, the backlog, routing released reqs;
//! - `marshal`: call and reply buffers, `send_request` and marshaling a
//!   Call (`rpc_rdma.c`);
//! - `frwr`: MR registration and invalidation (`frwr_ops.c`);
//! - `sendctx`: posting Sends and the sendctx ring (`verbs.c`);
//! - `reply`: Receives and the reply handler (`rpc_rdma.c`);
//! - `backchannel`: callbacks from the server (`backchannel.c`);
//! - `connect` and `endpoint`: setting a connection up and tearing it
//!   down, and the RDMA-CM events (`verbs.c`);
//! - `stats`: the counters of `xprt: rdma` and the pool accounting.
//!
//! The lock rules all of them rely on:
//!
//! - The `shared` spinlock guards [`Shared`]: the idle reqs, the sendctx
//!   ring, the signaling policy, the credits and the MR free list.
//!   Nothing that routes a req, and so may wake a backlog waiter, runs
//!   under it.
//! - The endpoint (`Transport::ep`) is replaced only by holders of both
//!   `XPRT_LOCKED` and `ep_lock`, and read by holders of either (type
//!   invariant of [`Transport`]); the types say which is held:
//!   [`XprtLocked`] and [`EpGuard`].
//! - The cells of a [`Req`] have one user at a time, as its type
//!   invariant says.
//! - Completion handlers reach their endpoint through pointers stored in
//!   its completion contexts: every endpoint is drained before it is
//!   freed.

use crate::bindings;
use crate::cell::{Foreign, SyncCell};
use crate::ib::Cqe;
use crate::proto::chunk::{self, Piece, PlanError};
use crate::proto::cm_private::{self, InlineSize, Negotiated};
use crate::proto::credits::Credits;
use crate::proto::header::HDRLEN_MIN;
use crate::proto::lifetime::{Pool, Pooled, ReqId, ReqRef, RpcOwner, SendOwner};
use crate::proto::offered::Offered;
use crate::proto::sendctx::{SendCtxRing, SignalPolicy};
use crate::sunrpc::{self, Xprt, XprtLocked};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU8, Ordering};
use kernel::error::Error;
use kernel::prelude::*;
use kernel::c_str;
use kernel::sync::lock::{mutex::MutexBackend, Guard};
use kernel::sync::{Mutex, SpinLock};
use kernel::{new_mutex, new_spinlock};

use self::backchannel::{BC_BUF_SIZE, BC_SLOTS};
use self::endpoint::Endpoint;
use self::frwr::{InvCtx, MrLease, Registered};
use self::sendctx::Slots;
use self::stats::Stats;

mod backchannel;
mod connect;
mod endpoint;
mod frwr;
mod marshal;
mod ops;
mod reply;
mod sendctx;
mod slots;
mod stats;

/// Initial size of each req's call and reply buffers.
const RPC_BUF_SIZE: usize = 2 * 1024;

/// rdma_cm address and route resolution timeout.
const RESOLVE_TIMEOUT_MS: u32 = 5000;

/// Pages of the largest payload (`RPCRDMA_MAX_DATA_SEGS`): 1 MiB.
const MAX_DATA_SEGS: u32 = 256;

/// Most segments in one chunk (`RPCRDMA_MAX_HDR_SEGS`).
const MAX_HDR_SEGS: usize = 16;

/// Most MRs one req can hold: a read chunk and a write or reply chunk.
const MAX_MRS_PER_REQ: usize = 2 * MAX_HDR_SEGS;

/// Per-transport sizes, fixed at setup from the module parameters.
#[derive(Clone, Copy)]
struct Config {
    /// Credits asked for (`re_max_requests`).
    max_requests: u32,
    /// Reqs in the forward pool: the credits plus one signaling batch of
    /// slack. The [`BC_SLOTS`] backchannel reqs come after them.
    num_reqs: u32,
    /// The host's page size, as the planner sees it.
    page: chunk::PageSize,
    /// Inline sizes offered (our receive and send buffers).
    inline_recv: InlineSize,
    inline_send: InlineSize,
}

impl Config {
    fn from_params() -> Result<Self> {
        let page = u32::try_from(kernel::page::PAGE_SHIFT)
            .ok()
            .and_then(chunk::PageSize::from_shift)
            .ok_or(EINVAL)?;
        // SAFETY: the parameter getters have no preconditions.
        let (slots, read, write) = unsafe {
            (
                bindings::xprs_param_slot_table_entries(),
                bindings::xprs_param_max_inline_read(),
                bindings::xprs_param_max_inline_write(),
            )
        };
        let max_requests = slots.max(1);
        let size = |n| InlineSize::new(n).unwrap_or(cm_private::DEFAULT_INLINE_SIZE);
        Ok(Config {
            page,
            max_requests,
            num_reqs: max_requests
                .saturating_add(crate::proto::sendctx::req_pool_slack(max_requests)),
            inline_recv: size(read),
            inline_send: size(write),
        })
    }

    /// Sendctx ring slots: each req has at most one Send outstanding per
    /// connection, so one more slot than reqs never fills.
    fn ring_slots(&self) -> usize {
        self.all_reqs().saturating_add(1)
    }

    /// Forward and backchannel reqs.
    fn all_reqs(&self) -> usize {
        self.num_reqs.saturating_add(BC_SLOTS) as usize
    }

    /// The pool a req comes home to.
    fn home(&self, id: ReqId) -> Pool {
        if id.0 < self.num_reqs {
            Pool::Free
        } else {
            Pool::Backchannel
        }
    }

    /// The req ids of `pool`.
    fn ids(&self, pool: Pool) -> core::ops::Range<usize> {
        match pool {
            Pool::Free => 0..self.num_reqs as usize,
            Pool::Backchannel => self.num_reqs as usize..self.all_reqs(),
        }
    }

    /// The largest callback or callback reply (`xprt_rdma_bc_maxpayload()`).
    fn bc_max_payload(n: &Negotiated) -> u32 {
        let msg = n.inline_send.bytes().min(n.inline_recv.bytes());
        (msg as usize).min(BC_BUF_SIZE).saturating_sub(HDRLEN_MIN) as u32
    }

    fn ours(&self) -> Negotiated {
        Negotiated {
            inline_send: self.inline_send,
            inline_recv: self.inline_recv,
        }
    }
}

/// A stack whose storage is allocated once: pushing never allocates, so
/// it can be used in completion context. Send owners collected under the
/// ring lock wait in one to be released after it (routing a req may wake a
/// backlog waiter, which must not run under the lock); the leases of free
/// MRs live in another.
struct FixedStack<T> {
    items: KVec<Option<T>>,
    len: usize,
}

impl<T> FixedStack<T> {
    fn new(cap: usize) -> Result<Self> {
        let mut items = KVec::with_capacity(cap, GFP_KERNEL)?;
        for _ in 0..cap {
            items.push(None, GFP_KERNEL)?;
        }
        Ok(Self { items, len: 0 })
    }

    /// Pushes `item`, or gives it back when the stack is full.
    fn push(&mut self, item: T) -> core::result::Result<(), T> {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(item);
                self.len = self.len.saturating_add(1);
                Ok(())
            }
            None => Err(item),
        }
    }

    fn pop(&mut self) -> Option<T> {
        let last = self.len.checked_sub(1)?;
        self.len = last;
        self.items.get_mut(last)?.take()
    }

    fn len(&self) -> usize {
        self.len
    }

    fn clear(&mut self) {
        while self.pop().is_some() {}
    }
}

fn errno(e: Error) -> i32 {
    e.to_errno()
}

/// Returns the error for a positive errno constant from the bindings.
fn err(e: u32) -> Error {
    Error::from_errno(-(e as i32))
}

fn plan_err(_: PlanError) -> Error {
    EIO
}

/// The call and reply buffers of one req (`rq_buffer`, `rq_rbuffer`).
struct RpcBufs {
    call: KVec<u8>,
    reply: KVec<u8>,
}

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
struct Phase;

impl Phase {
    /// Given to a task, or its reply handled: no Reply is expected.
    const IDLE: u8 = 0;
    /// `send_request` is registering chunks and building the Call.
    const MARSHALING: u8 = 1;
    /// The Call is posted (or about to be): a Reply may come.
    const SENT: u8 = 2;
    /// A reply handler owns the req until it completes or unpins the rqst.
    const REPLIED: u8 = 3;
}

/// One request slot (`rpcrdma_req`).
///
/// # Invariants
///
/// - `rqst` is handed to the RPC layer only while `rpc` holds the
///   [`RpcOwner`] token; the RPC layer then has exclusive use of `rpc`,
///   `bufs` and `pieces` until `free_slot`.
/// - `registered` is used by `send_request` and `buf_free` (which the RPC
///   layer runs for a rqst it owns), by the completion of the LOCAL_INV
///   chain `buf_free` posted and waits for, and by the reply handler and
///   the LOCAL_INV completion while the rqst is pinned (the RPC layer
///   waits for the reply and cannot release the rqst) and `phase` is
///   [`Phase::REPLIED`], which only one reply handler can set; never by
///   two at once.
/// - The req's send buffer (`Endpoint::send_bufs`, indexed by its id) is
///   written only by `send_request`, which the RPC layer runs for a rqst
///   it owns under `XPRT_LOCKED`, and only while no Send of this req is
///   outstanding on the current connection.
/// - `offered` is written by `send_request` while `phase` is
///   [`Phase::MARSHALING`], and read by the reply handler only after its
///   compare-and-swap from [`Phase::SENT`] (Release before, Acquire in the
///   swap) made it the req's user.
struct Req {
    rqst: Foreign<bindings::rpc_rqst>,
    kref: ReqRef<AtomicU32>,
    rpc: SyncCell<Option<RpcOwner>>,
    bufs: SyncCell<RpcBufs>,
    registered: SyncCell<Registered>,
    pieces: SyncCell<KVec<Piece>>,
    /// The chunks the current Call offered for its Reply.
    offered: SyncCell<Offered>,
    /// A [`Phase`] value.
    phase: AtomicU8,
    inv: InvCtx,
}

/// State shared between the send path, completions and slot allocation.
struct Shared {
    /// Idle reqs, indexed by req id.
    free: KVec<Option<Pooled>>,
    ring: SendCtxRing<Slots>,
    policy: SignalPolicy,
    credits: Credits,
    /// Owners released by a Send completion (taken out while in use).
    batch: Option<FixedStack<SendOwner>>,
    /// Leases of the free MRs of the current endpoint's pool; their MRs
    /// are unmapped.
    mr_free: FixedStack<MrLease>,
}

/// What the last endpoint teardown found (for pool accounting).
#[derive(Default)]
struct Accounting {
    reps_home: AtomicU32,
    reps: AtomicU32,
    mrs_home: AtomicU32,
    mrs: AtomicU32,
}

/// The Rust side of one `rpc_xprt`.
///
/// # Invariants
///
/// - `xprt` is the transport this state was created for and outlives it.
/// - `ep` is replaced only by holders of both `XPRT_LOCKED` (the connect
///   worker, `close`, `destroy`) and `ep_lock`, and read by holders of
///   either (`send_request` holds `XPRT_LOCKED`; `buf_free`,
///   `inject_disconnect` and the MR refresh worker hold `ep_lock`). It is
///   reached only through [`Transport::endpoint`], which takes an
///   [`XprtLocked`], and through [`EpGuard`].
#[pin_data]
pub(crate) struct Transport {
    xprt: Xprt,
    cfg: Config,
    /// Past a few thousand slots the reqs outgrow kmalloc's largest size.
    reqs: KVVec<Req>,
    #[pin]
    shared: SpinLock<Shared>,
    #[pin]
    ep_lock: Mutex<()>,
    ep: SyncCell<Option<KBox<Endpoint>>>,
    /// Set while [`Transport::teardown`] runs (`re_force_disconnect`): the
    /// flushes its drain produces ask for no further close.
    tearing_down: AtomicBool,
    /// Set by a send that found no free MR, taken by the `unwind_send`
    /// that queues the MR refresh worker for it.
    mr_refresh_wanted: AtomicBool,
    /// Forward reqs with an id below this may be handed out: all of them,
    /// unless the current connection's device holds fewer
    /// ([`QueueFit::reqs`](crate::proto::credits::QueueFit::reqs)).
    req_limit: AtomicU32,
    connect_status: AtomicI32,
    /// `bc_maxpayload` of the current (or next) connection; read under RCU
    /// by the RPC layer, so not behind `ep_lock`.
    bc_max_payload: AtomicU32,
    stats: Stats,
    accounting: Accounting,
}

// The RPC layer, completion handlers and the connect worker use one
// transport from any CPU: it must be `Send` and `Sync`, by its fields.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Transport>();
};

impl Req {
    fn rqst(&self) -> *mut bindings::rpc_rqst {
        self.rqst.get()
    }

    /// Moves the req to phase `to` if its current phase passes `from`;
    /// returns whether it did.
    fn set_phase(&self, from: impl Fn(u8) -> bool, to: u8) -> bool {
        self.phase
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| from(p).then_some(to))
            .is_ok()
    }

    /// Returns the req's registered MRs.
    ///
    /// # Safety
    ///
    /// The caller is the one user the type invariant allows right now.
    #[allow(clippy::mut_from_ref)]
    unsafe fn registered(&self) -> &mut Registered {
        // SAFETY: guaranteed by the caller.
        unsafe { &mut *self.registered.get() }
    }
}

impl Transport {
    fn new(xprt: Xprt, cfg: Config) -> Result<Pin<KBox<Self>>> {
        let n = cfg.all_reqs();
        let mut reqs = KVVec::with_capacity(n, GFP_KERNEL)?;
        let mut free = KVec::with_capacity(n, GFP_KERNEL)?;
        let max_pieces = cfg.page.max_segs() as usize;
        for i in 0..u32::try_from(n)? {
            let pool = cfg.home(ReqId(i));
            let (kref, pooled) = ReqRef::new(ReqId(i), pool);
            let size = match pool {
                Pool::Free => RPC_BUF_SIZE,
                Pool::Backchannel => BC_BUF_SIZE,
            };
            let bufs = RpcBufs {
                call: KVec::from_elem(0u8, size, GFP_KERNEL)?,
                reply: KVec::from_elem(0u8, size, GFP_KERNEL)?,
            };
            let empty = Piece {
                source: chunk::Source::Head,
                page_offset: 0,
                len: 0,
            };
            reqs.push(
                Req {
                    // SAFETY: all zeroes is a valid, idle `rpc_rqst`.
                    rqst: Foreign::new(unsafe { core::mem::zeroed() }),
                    kref,
                    rpc: SyncCell::new(None),
                    bufs: SyncCell::new(bufs),
                    registered: SyncCell::new(Registered::EMPTY),
                    pieces: SyncCell::new(KVec::from_elem(empty, max_pieces, GFP_KERNEL)?),
                    offered: SyncCell::new(Offered::NONE),
                    phase: AtomicU8::new(Phase::IDLE),
                    inv: InvCtx {
                        cqe: Cqe::new(),
                        transport: AtomicPtr::new(core::ptr::null_mut()),
                        req: i,
                        ep: AtomicPtr::new(core::ptr::null_mut()),
                        sync: AtomicBool::new(false),
                        done: Foreign::uninit(),
                        rep: AtomicPtr::new(core::ptr::null_mut()),
                        placement: SyncCell::new(Err(EIO)),
                    },
                },
                GFP_KERNEL,
            )?;
            free.push(Some(pooled), GFP_KERNEL)?;
        }
        // The reqs no longer move: their completions can be initialized.
        for req in reqs.iter() {
            // SAFETY: `done` lives in the reqs' final heap buffer.
            unsafe { bindings::xprs_init_completion(req.inv.done.get()) };
        }
        let slots = cfg.ring_slots();
        let mut ring = KVec::with_capacity(slots, GFP_KERNEL)?;
        for _ in 0..slots {
            ring.push(None, GFP_KERNEL)?;
        }
        let shared = Shared {
            free,
            ring: SendCtxRing::new(Slots(ring)),
            policy: SignalPolicy::new(cfg.max_requests),
            credits: Credits::INITIAL,
            batch: Some(FixedStack::new(slots)?),
            mr_free: FixedStack::new(0)?,
        };
        let t = KBox::pin_init(
            pin_init!(Self {
                xprt,
                cfg,
                reqs,
                shared <- new_spinlock!(shared, "xprtrdma_rs::shared"),
                ep_lock <- new_mutex!((), "xprtrdma_rs::ep_lock"),
                ep: SyncCell::new(None),
                tearing_down: AtomicBool::new(false),
                mr_refresh_wanted: AtomicBool::new(false),
                req_limit: AtomicU32::new(cfg.num_reqs),
                connect_status: AtomicI32::new(0),
                bc_max_payload: AtomicU32::new(Config::bc_max_payload(&cfg.ours())),
                stats: Stats::default(),
                accounting: Accounting::default(),
            }),
            GFP_KERNEL,
        )?;
        let me = &*t as *const Self as *mut Self;
        for req in t.reqs.iter() {
            req.inv.transport.store(me, Ordering::Release);
        }
        Ok(t)
    }

    /// Returns the transport state of `xprt`.
    ///
    /// # Safety
    ///
    /// `xprt` must be a transport created by [`xprs_setup`](ops::xprs_setup) and not yet
    /// destroyed.
    unsafe fn of<'a>(xprt: *mut bindings::rpc_xprt) -> &'a Transport {
        // SAFETY: setup stored a leaked `Pin<KBox<Transport>>` as the
        // private pointer; it is freed only by destroy.
        unsafe { &*bindings::xprs_xprt_priv(xprt).cast::<Transport>() }
    }

    fn req_of(&self, rqst: *mut bindings::rpc_rqst) -> Option<&Req> {
        let first = self.reqs.first()?.rqst() as usize;
        let size = core::mem::size_of::<Req>();
        let off = (rqst as usize).checked_sub(first)?;
        let req = self.reqs.get(off / size)?;
        (req.rqst() == rqst).then_some(req)
    }

    fn req(&self, id: ReqId) -> Option<&Req> {
        self.reqs.get(id.0 as usize)
    }

    /// Returns the current endpoint, for a holder of `XPRT_LOCKED`. None
    /// also when `held` is another transport's (a bug, warned about).
    fn endpoint<'b>(&'b self, held: &'b XprtLocked<'_>) -> Option<&'b Endpoint> {
        if !held.is_for(&self.xprt) {
            sunrpc::warn_once(c_str!("XPRT_LOCKED of another transport"));
            return None;
        }
        // SAFETY: `held` proves that this context holds XPRT_LOCKED of this
        // transport, so no other context replaces `ep` (type invariant);
        // this one replaces it only through `&mut XprtLocked`
        // ([`EpGuard::replace`]), which the shared borrow of `held` for
        // `'b` excludes.
        unsafe { (*self.ep.get()).as_deref() }
    }

    /// Takes `ep_lock`, to read the endpoint or (with `XPRT_LOCKED`)
    /// replace it.
    fn lock_ep(&self) -> EpGuard<'_> {
        // INVARIANT: the guard holds this transport's `ep_lock`.
        EpGuard {
            t: self,
            _guard: self.ep_lock.lock(),
        }
    }
}

/// `ep_lock` of a transport, held: the key to its endpoint, as
/// `LockedBy`'s owner is, for a value that two locks guard. It reads the
/// endpoint alone and replaces it with [`XprtLocked`] as well.
///
/// # Invariants
///
/// `_guard` holds `t.ep_lock`.
struct EpGuard<'a> {
    t: &'a Transport,
    _guard: Guard<'a, (), MutexBackend>,
}

impl EpGuard<'_> {
    /// Returns the current endpoint.
    fn endpoint(&self) -> Option<&Endpoint> {
        // SAFETY: this context holds `ep_lock` (type invariant), so no
        // other context replaces `ep` (type invariant of `Transport`); this
        // one replaces it only through `&mut self` ([`EpGuard::replace`]),
        // which the borrow of `self` for the result's lifetime excludes.
        unsafe { (*self.t.ep.get()).as_deref() }
    }

    /// Installs `new` as the endpoint and returns the one it replaces;
    /// when `held` is another transport's (a bug, warned about), replaces
    /// nothing and returns `new`.
    fn replace(
        &mut self,
        held: &mut XprtLocked<'_>,
        new: Option<KBox<Endpoint>>,
    ) -> Option<KBox<Endpoint>> {
        if !held.is_for(&self.t.xprt) {
            sunrpc::warn_once(c_str!("XPRT_LOCKED of another transport"));
            return new;
        }
        // SAFETY: this context holds `ep_lock` (type invariant) and
        // XPRT_LOCKED of this transport (`held`, checked above), which
        // exclude every other context's reader and writer (type invariant
        // of `Transport`). On this one, a reader holds a shared borrow of
        // `self` or of a unique `XprtLocked` of this transport, and both
        // are borrowed mutably here.
        core::mem::replace(unsafe { &mut *self.t.ep.get() }, new)
    }
}
