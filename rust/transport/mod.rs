// SPDX-License-Identifier: GPL-2.0

#![deny(unsafe_code)]

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
//! - this file: the sizes ([`Config`]), the state under the `shared`
//!   spinlock ([`Shared`]) and [`Transport`] itself, with the accessors of
//!   its endpoint (`xprt_rdma.h`);
//! - `req`: the reqs ([`Req`], [`Phase`]) and the keys by which their
//!   users take turns ([`ReqKey`]);
//! - `ops`: the class's `setup` and the `rpc_xprt_ops` entry points
//!   (`transport.c`): the transport's [`XprtOps`](crate::sunrpc::XprtOps),
//!   whose adapter from sunrpc's pointers to typed views is in `sunrpc`;
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
//! `unsafe` code is denied here and in every child module. The logic
//! files forbid it outright; the few that still hold some (`req` and
//! `rep`, which make keys and back-pointers; `frwr`, for the pages its
//! MRs map, a LOCAL_INV chain's endpoint and two posts) say so with an
//! `allow` at their top.
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
//! - The state of a [`Req`] has one user at a time, who holds its
//!   [`ReqKey`], as its type invariant says.
//! - Completion handlers reach their endpoint through pointers stored in
//!   its completion contexts: every endpoint is drained before it is
//!   freed. They reach the transport through the `Arc` of it each context
//!   holds (the adapter holds the state in an `Arc`).

use crate::bindings;
use crate::proto::chunk::{self, PlanError};
use crate::proto::cm_private::{self, InlineSize, Negotiated};
use crate::proto::credits::Credits;
use crate::proto::header::HDRLEN_MIN;
use crate::proto::lifetime::{Pool, Pooled, ReqId};
use crate::proto::sendctx::{SendCtxRing, SignalPolicy};
use crate::sunrpc::{self, NewXprt, XprtLink, XprtLocked, XprtMutex, XprtMutexGuard};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32};
use kernel::error::Error;
use kernel::prelude::*;
use kernel::c_str;
use kernel::sync::{Arc, SpinLock};
use kernel::new_spinlock;

use self::backchannel::{BC_BUF_SIZE, BC_SLOTS};
use self::endpoint::Endpoint;
use self::frwr::MrLease;
use self::req::{Phase, Req, ReqKey, Reqs};
use self::sendctx::{Held, Slots};
use self::stats::Stats;

mod backchannel;
mod connect;
mod endpoint;
mod frwr;
mod marshal;
mod ops;
mod rep;
mod reply;
mod req;
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
        let params = sunrpc::Params::get();
        let max_requests = params.slot_table_entries.max(1);
        let size = |n| InlineSize::new(n).unwrap_or(cm_private::DEFAULT_INLINE_SIZE);
        Ok(Config {
            page,
            max_requests,
            num_reqs: max_requests
                .saturating_add(crate::proto::sendctx::req_pool_slack(max_requests)),
            inline_recv: size(params.max_inline_read),
            inline_send: size(params.max_inline_write),
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

/// State shared between the send path, completions and slot allocation.
struct Shared {
    /// Idle reqs, indexed by req id.
    free: KVec<Option<Pooled>>,
    /// The ids of the idle forward reqs below `req_limit`, last pooled on
    /// top: each once, and only while its `free` cell holds it (an id
    /// popped with an empty cell is skipped).
    free_ids: FixedStack<u32>,
    ring: SendCtxRing<Slots, Held>,
    policy: SignalPolicy,
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
/// `xprt` is the link to the transport this state was made for, which
/// owns it (its private pointer) and outlives it.
///
/// `ep` is replaced only by holders of both `XPRT_LOCKED` (the connect
/// worker, `close`, `destroy`) and its mutex, `ep_lock`, and read by
/// holders of either (`send_request` holds `XPRT_LOCKED`; `buf_free`,
/// `inject_disconnect` and the MR refresh worker hold `ep_lock`), as
/// [`XprtMutex`] makes sure: through [`Transport::endpoint`], which takes
/// an [`XprtLocked`], and through [`EpGuard`].
#[pin_data]
pub(crate) struct Transport {
    xprt: XprtLink,
    cfg: Config,
    reqs: Reqs,
    #[pin]
    shared: SpinLock<Shared>,
    /// The sendctx ring's count of Send owners per req (the storage of
    /// its `Held`): written by the ring under `shared`, read for I4
    /// without it (`proto::sendctx::owners_in`).
    ring_held: Arc<KVec<AtomicU32>>,
    #[pin]
    ep: XprtMutex<Option<KBox<Endpoint>>>,
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
    /// The server's credit grant in force ([`Credits`], sanitized), which
    /// the reply handler compares with each matched Reply's, and stores
    /// when it changed, and the connect worker resets: a plain load per
    /// Reply, as C reads `rb_credits` without a lock, where it took the
    /// `shared` spinlock.
    credits: AtomicU32,
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

impl Transport {
    fn new(new: &NewXprt<Self>, cfg: Config) -> Result<Arc<Self>> {
        // SAFETY: the link goes in the state made here and in its `Reqs`
        // (a clone), and nowhere else: what else needs the transport (the
        // endpoints' completion contexts, MRs and `EpEvents`) holds the
        // state's `Arc`. So the link and its clones go with the state. The
        // state is published with `new`, or dropped before `setup` frees
        // `new` (`ops.rs`); once published, the adapter's `->destroy` frees
        // the transport only after the state's last `Arc` is dropped.
        #[allow(unsafe_code)]
        let xprt = unsafe { new.link() };
        let (reqs, free) = Reqs::new(&cfg, xprt.clone())?;
        let slots = cfg.ring_slots();
        let mut ring = KVec::with_capacity(slots, GFP_KERNEL)?;
        for _ in 0..slots {
            ring.push(None, GFP_KERNEL)?;
        }
        // A count of Send owners in the ring per req, for I4: the ring
        // writes them under `shared`, `release` reads them without it.
        let mut held = KVec::with_capacity(free.len(), GFP_KERNEL)?;
        for _ in 0..free.len() {
            held.push(AtomicU32::new(0), GFP_KERNEL)?;
        }
        let ring_held = Arc::new(held, GFP_KERNEL)?;
        // Every forward req starts idle, below the limit (all of them);
        // the lowest id on top, as the first pops took it before.
        let mut free_ids = FixedStack::new(cfg.num_reqs as usize)?;
        for id in (0..cfg.num_reqs).rev() {
            if matches!(free.get(id as usize), Some(Some(_))) && free_ids.push(id).is_err() {
                return Err(EINVAL);
            }
        }
        let shared = Shared {
            free,
            free_ids,
            ring: SendCtxRing::new(Slots(ring), Held(ring_held.clone())),
            policy: SignalPolicy::new(cfg.max_requests),
            mr_free: FixedStack::new(0)?,
        };
        let ep = XprtMutex::new(new.xprt(), None);
        let t = Arc::pin_init(
            pin_init!(Self {
                xprt,
                cfg,
                reqs,
                shared <- new_spinlock!(shared, "xprtrdma_rs::shared"),
                ring_held,
                ep <- ep,
                tearing_down: AtomicBool::new(false),
                mr_refresh_wanted: AtomicBool::new(false),
                req_limit: AtomicU32::new(cfg.num_reqs),
                connect_status: AtomicI32::new(0),
                credits: AtomicU32::new(Credits::INITIAL.get()),
                bc_max_payload: AtomicU32::new(Config::bc_max_payload(&cfg.ours())),
                stats: Stats::default(),
                accounting: Accounting::default(),
            }),
            GFP_KERNEL,
        )?;
        Ok(t)
    }

    fn req_of(&self, rqst: *const bindings::rpc_rqst) -> Option<&Req> {
        self.reqs.of(rqst)
    }

    fn req(&self, id: ReqId) -> Option<&Req> {
        self.reqs.get(id)
    }

    /// Returns the current endpoint, for a holder of `XPRT_LOCKED`. None
    /// also when `held` is another transport's (a bug, warned about).
    fn endpoint<'b>(&'b self, held: &'b XprtLocked<'_>) -> Option<&'b Endpoint> {
        let Some(ep) = self.ep.get(held) else {
            sunrpc::warn_once(c_str!("XPRT_LOCKED of another transport"));
            return None;
        };
        ep.as_deref()
    }

    /// Takes `ep_lock`, to read the endpoint or (with `XPRT_LOCKED`)
    /// replace it.
    fn lock_ep(&self) -> EpGuard<'_> {
        EpGuard(self.ep.lock())
    }
}

/// `ep_lock` of a transport, held: the key to its endpoint, as
/// `LockedBy`'s owner is, for a value that two locks guard. It reads the
/// endpoint alone and replaces it with [`XprtLocked`] as well.
struct EpGuard<'a>(XprtMutexGuard<'a, Option<KBox<Endpoint>>>);

impl EpGuard<'_> {
    /// Returns the current endpoint.
    fn endpoint(&self) -> Option<&Endpoint> {
        self.0.get().as_deref()
    }

    /// Installs `new` as the endpoint and returns the one it replaces;
    /// when `held` is another transport's (a bug, warned about), replaces
    /// nothing and returns `new`.
    fn replace(
        &mut self,
        held: &mut XprtLocked<'_>,
        new: Option<KBox<Endpoint>>,
    ) -> Option<KBox<Endpoint>> {
        self.0.replace(held, new).unwrap_or_else(|new| {
            sunrpc::warn_once(c_str!("XPRT_LOCKED of another transport"));
            new
        })
    }
}
