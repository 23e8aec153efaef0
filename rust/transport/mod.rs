// SPDX-License-Identifier: GPL-2.0

//! The RPC-over-RDMA transport: setup, connection, slots, marshaling with
//! FRWR-registered chunks, and the send and receive paths.
//!
//! Calls go inline (pulled up into the req's send buffer) when they fit,
//! or with their page data in a read chunk, or whole in a position-zero
//! read chunk. Replies come inline, with their page data in a write chunk,
//! or whole in a reply chunk. The decisions are `proto::chunk::plan`'s;
//! this file carries them out with FRWR memory registration.

use crate::bindings;
use crate::cell::{Foreign, SyncCell, Unshared};
use crate::ib::{self, Cq, DmaBuf, Mr, MrSegment, Pd};
use crate::ib_client::{RemovalNotify, RemovalWatch};
use crate::proto::chunk::{
    self, ChunkKind, MrRange, Piece, PlanError, ReplyPlan, SendPlan, Thresholds,
};
use crate::proto::cm_private::{self, ConnectPrivate, InlineSize, Negotiated};
use crate::proto::credits::{Credits, QueueFit};
use crate::proto::header::{
    Body, ChunkLists, Fixed, Header, Limits, ReadSegment, ReplyBody, Segment, HDRLEN_MIN,
};
use crate::proto::lifetime::{
    self, Pool, Pooled, ReqId, ReqRef, Released, RpcOwner, SendOwner,
};
use crate::proto::offered::Offered;
use crate::proto::sendctx::{SendCtxRing, SignalPolicy, Slot};
use crate::proto::xdr;
use crate::rdma_cm::CmId;
use crate::sunrpc::{self, PieceAddr, Xprt, XdrBuf};
use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::sync::atomic::{
    AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
use kernel::error::Error;
use kernel::prelude::*;
use kernel::sync::{Mutex, SpinLock};
use kernel::{c_str, fmt, new_mutex, new_spinlock, str::CString};

/// Initial size of each req's call and reply buffers.
const RPC_BUF_SIZE: usize = 2 * 1024;
/// rdma_cm address and route resolution timeout.
const RESOLVE_TIMEOUT_MS: u32 = 5000;
/// How long the connect worker waits for ESTABLISHED or an error.
const CONNECT_TIMEOUT_SECS: usize = 60;
/// `IB_CM_REJ_STALE_CONN` (`ib_cm_rej_reason`): the peer still holds our
/// previous connection.
const IB_CM_REJ_STALE_CONN: i32 = 10;
/// Pages of the largest payload (`RPCRDMA_MAX_DATA_SEGS`): 1 MiB.
const MAX_DATA_SEGS: u32 = 256;
/// Most segments in one chunk (`RPCRDMA_MAX_HDR_SEGS`).
const MAX_HDR_SEGS: usize = 16;
/// Send SGEs asked for (`RPCRDMA_MAX_SEND_SGES` with 4 KiB pages).
const MAX_SEND_SGES: u32 = 1 + 1 + (65536 >> 12) + 1;
/// Most MRs one req can hold: a read chunk and a write or reply chunk.
const MAX_MRS_PER_REQ: usize = 2 * MAX_HDR_SEGS;
/// MRs created per refill of the MR pool.
const MR_REFILL_BATCH: usize = 32;
/// Backchannel reqs (`RPCRDMA_BACKWARD_WRS >> 1`): how many callbacks the
/// server may have outstanding, which is also the credit grant of our
/// replies to them.
const BC_SLOTS: u32 = 16;
/// Size of a backchannel req's call and reply buffers; callbacks are
/// bounded by `bc_maxpayload`, which is at most this less the header.
const BC_BUF_SIZE: usize = 4096;

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

/// The status the RPC layer sees for a failed connection setup.
///
/// sunrpc's `call_connect_status()` retries a fixed set of statuses and
/// fails the RPC, up to the application, with any other: one -EINVAL from
/// a CM call racing a device removal failed a user's write. So every
/// failure to set up a connection becomes a status it retries, and only
/// a definitive one ends an RPC: a refusal by the peer (retried by hard
/// mounts, ending a mount's soft-connect attempt, as for C) and a device
/// that cannot do FRWR. A failed allocation becomes ENOBUFS (retried
/// after a delay); address and route errors already arrive as EPROTO and
/// ENETUNREACH, as C maps them.
fn connect_status(e: Error) -> i32 {
    let rc = e.to_errno();
    let is = |c: u32| rc == -(c as i32);
    if [
        bindings::ECONNREFUSED,
        bindings::ECONNRESET,
        bindings::ECONNABORTED,
        bindings::ENETDOWN,
        bindings::ENETUNREACH,
        bindings::EHOSTUNREACH,
        bindings::EPIPE,
        bindings::EPROTO,
        bindings::EADDRINUSE,
        bindings::ENOTCONN,
        bindings::EAGAIN,
        bindings::ETIMEDOUT,
        bindings::ENOBUFS,
        bindings::EPROTONOSUPPORT,
    ]
    .into_iter()
    .any(is)
    {
        return rc;
    }
    if is(bindings::ENOMEM) {
        return -(bindings::ENOBUFS as i32);
    }
    -(bindings::ENOTCONN as i32)
}

/// Ring storage: the sendctx ring needs slices of slots.
struct Slots(KVec<Slot>);

impl AsRef<[Slot]> for Slots {
    fn as_ref(&self) -> &[Slot] {
        &self.0
    }
}

impl AsMut<[Slot]> for Slots {
    fn as_mut(&mut self) -> &mut [Slot] {
        &mut self.0
    }
}

/// Transport statistics: the rdma columns of `xprt: rdma`, in the C
/// client's order.
#[derive(Default)]
struct Stats {
    read_chunk_count: AtomicU64,
    write_chunk_count: AtomicU64,
    reply_chunk_count: AtomicU64,
    total_rdma_request: AtomicU64,
    total_rdma_reply: AtomicU64,
    /// Bytes of Call data copied into the send buffer beyond the RPC
    /// header (the head): C sends its head buffer in place and counts the
    /// page list and tail it pulls up behind it.
    pullup_copy_count: AtomicU64,
    /// Bytes of an inline Reply copied into the page list and tail; C
    /// points the head at the receive buffer and counts the rest.
    fixup_copy_count: AtomicU64,
    /// Bytes of call and reply buffers grown past their size
    /// (`rpcrdma_check_regbuf()`).
    hardway_register_count: AtomicU64,
    failed_marshal_count: AtomicU64,
    bad_reply_count: AtomicU64,
    nomsg_call_count: AtomicU64,
    mrs_recycled: AtomicU64,
    mrs_orphaned: AtomicU64,
    mrs_allocated: AtomicU64,
    local_inv_needed: AtomicU64,
    empty_sendctx_q: AtomicU64,
    /// Replies (not in mountstats) dropped because their req was not
    /// waiting for one: duplicates, early or forged ones. Also counted in
    /// `bad_reply_count`.
    replies_dropped: AtomicU64,
    /// Replies whose XID matched no waiting RPC.
    replies_unmatched: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// The call and reply buffers of one req (`rq_buffer`, `rq_rbuffer`).
struct RpcBufs {
    call: KVec<u8>,
    reply: KVec<u8>,
}

/// The MRs a req has registered (`rl_registered`): the leases it holds.
///
/// # Invariants
///
/// `leases[..len]` are all `Some`, `leases[len..]` all `None`.
struct Registered {
    leases: [Option<MrLease>; MAX_MRS_PER_REQ],
    len: usize,
}

impl Registered {
    const EMPTY: Self = Self {
        leases: [const { None }; MAX_MRS_PER_REQ],
        len: 0,
    };

    /// Returns the registrations, first dropping the leases of a pool other
    /// than `pool`: that pool's endpoint was torn down, which fenced and
    /// unmapped its MRs.
    fn of_pool(&mut self, pool: u64) -> &mut Self {
        let mut kept = 0;
        for i in 0..self.len {
            let Some(cell) = self.leases.get_mut(i) else {
                break;
            };
            let lease = cell.take();
            if let Some(lease) = lease.filter(|l| l.pool == pool) {
                if let Some(to) = self.leases.get_mut(kept) {
                    *to = Some(lease);
                    kept += 1;
                }
            }
        }
        // INVARIANT: the kept leases were moved to the front; every slot
        // from `kept` on was emptied above.
        self.len = kept;
        self
    }

    fn len(&self) -> usize {
        self.len
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut MrLease> {
        self.leases.iter_mut().take(self.len).flatten()
    }

    /// Records `lease`, or gives it back when the req holds the most MRs
    /// it can.
    fn push(&mut self, lease: MrLease) -> core::result::Result<&mut MrLease, MrLease> {
        let Some(cell) = self.leases.get_mut(self.len) else {
            return Err(lease);
        };
        // INVARIANT: slot `len` was `None`; it is `Some` and counted now.
        self.len += 1;
        Ok(cell.insert(lease))
    }

    /// Removes and returns the last lease.
    fn pop(&mut self) -> Option<MrLease> {
        let last = self.len.checked_sub(1)?;
        // INVARIANT: the last counted slot is emptied and uncounted.
        self.len = last;
        self.leases.get_mut(last)?.take()
    }

    /// Removes and returns the first lease `pick` chooses; the last lease
    /// takes its place.
    fn take(&mut self, mut pick: impl FnMut(&mut MrLease) -> bool) -> Option<MrLease> {
        let pos = self.iter_mut().position(&mut pick)?;
        let last = self.len.checked_sub(1)?;
        self.leases.swap(pos, last);
        self.pop()
    }
}

/// Exclusive use of one MR of an [`MrPool`]: the pool hands out `&mut Mr`
/// only against a `&mut MrLease` for that MR, so the holder of the lease is
/// the MR's one user. A lease is on the pool's free list (`Shared::mr_free`)
/// or held by one req (`Req::registered`); dropping it takes the MR out of
/// circulation until the pool is dropped with its endpoint (an orphan, or
/// a lease of an endpoint already torn down).
///
/// # Invariants
///
/// A lease is made only by [`MrPool::grow`], once for each slot it fills,
/// and is neither `Clone` nor `Copy`: at most one lease names slot `index`
/// of the pool with id `pool`.
#[must_use]
struct MrLease {
    pool: u64,
    index: u16,
}

/// Ids of MR pools; 0 names no pool.
static MR_POOL_IDS: AtomicU64 = AtomicU64::new(1);

/// The MRs of one connection (`rb_mrs`). A slot is filled once, by
/// [`MrPool::grow`], and then used only by the holder of its [`MrLease`].
///
/// # Invariants
///
/// - `id` is not 0 and no other pool has it: ids are drawn once from
///   [`MR_POOL_IDS`], which would take centuries of connections to wrap.
/// - Slots from `reserved` on are empty and no lease names them. A slot
///   below `reserved` was reserved by exactly one call of
///   [`MrPool::grow`]: that call alone writes it, at most once, before it
///   makes the slot's lease; from then until the pool is dropped the slot
///   is reached only through [`MrPool::get_mut`] with that lease.
struct MrPool {
    id: u64,
    slots: KVec<UnsafeCell<Option<Mr>>>,
    reserved: AtomicUsize,
}

// SAFETY: a shared `&MrPool` reaches an MR only in two ways. `grow` writes
// slots that its own atomic reservation gave to it alone, before any lease
// for them exists. `get_mut` hands out `&mut Mr` only for the slot named by
// a lease of this pool, borrowed mutably for as long as the `&mut Mr`
// lives; as at most one lease names each slot (invariant of `MrLease`), no
// two threads reach the same MR at once. A lease moves between threads
// only under the `Shared` lock (the free list) or in a req's `registered`
// cell, whose users hand it over by the locks and Release/Acquire pairs
// of the `Req` invariants; either orders the slot's write and every
// earlier use of the MR before the next holder's. What crosses threads is
// thus exclusive use of an `Mr`, which is `Send`.
unsafe impl Sync for MrPool {}

impl MrPool {
    /// Makes a pool of `n` empty slots (at most `u16::MAX`).
    fn new(n: usize) -> Result<Self> {
        let n = n.min(usize::from(u16::MAX));
        let mut slots = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            slots.push(UnsafeCell::new(None), GFP_KERNEL)?;
        }
        // INVARIANT: a fresh id, and no slot reserved or leased.
        Ok(Self {
            id: MR_POOL_IDS.fetch_add(1, Ordering::Relaxed),
            slots,
            reserved: AtomicUsize::new(0),
        })
    }

    /// Fills up to `n` more slots with MRs from `make` (given each slot's
    /// index) and passes a lease for each to `leased`; stops at the first
    /// MR `make` fails to give. Returns how many it filled, or `EAGAIN`
    /// when the pool is full.
    fn grow(
        &self,
        n: usize,
        mut make: impl FnMut(u16) -> Result<Mr>,
        mut leased: impl FnMut(MrLease),
    ) -> Result<usize> {
        let len = self.slots.len();
        let first = self
            .reserved
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| {
                (r < len).then(|| r.saturating_add(n).min(len))
            })
            .map_err(|_| EAGAIN)?;
        let last = first.saturating_add(n).min(len);
        let mut filled = first;
        for i in first..last {
            let (Ok(index), Some(slot)) = (u16::try_from(i), self.slots.get(i)) else {
                break;
            };
            let Ok(mr) = make(index) else {
                break;
            };
            // SAFETY: slot `i` is in the range just reserved by this call
            // alone, and no lease for it exists yet (type invariant).
            unsafe { *slot.get() = Some(mr) };
            filled = i.saturating_add(1);
            // INVARIANT: the one lease of slot `i`, made after its write.
            leased(MrLease { pool: self.id, index });
        }
        if filled < last {
            // Give back the slots left empty, unless a later call already
            // reserved past them; they then stay unused.
            let _ = self
                .reserved
                .compare_exchange(last, filled, Ordering::AcqRel, Ordering::Acquire);
        }
        Ok(filled - first)
    }

    /// Returns the MR `lease` names, if it is a lease of this pool.
    fn get_mut<'a>(&'a self, lease: &'a mut MrLease) -> Option<&'a mut Mr> {
        if lease.pool != self.id {
            return None;
        }
        let slot = self.slots.get(usize::from(lease.index))?;
        // The slot was written before the lease was made and is not written
        // again (type invariant).
        // SAFETY: `lease` is this pool's only lease of the slot (`MrLease`
        // invariant), borrowed mutably for `'a`: no other reference to the
        // MR exists while the result lives.
        unsafe { (*slot.get()).as_mut() }
    }

    /// Returns how many slots hold an MR.
    fn filled(&mut self) -> usize {
        self.slots.iter_mut().filter_map(|s| s.get_mut().as_ref()).count()
    }
}

/// Completion context of a req's LOCAL_INV chain: the last LOCAL_INV is
/// signaled on `cqe`.
#[repr(C)]
struct InvCtx {
    cqe: Foreign<bindings::ib_cqe>,
    transport: AtomicPtr<Transport>,
    req: u32,
    /// The endpoint the chain was posted on.
    ep: AtomicPtr<Endpoint>,
    /// True for `frwr_unmap_sync()`: the poster waits on `done`.
    sync: AtomicBool,
    done: Foreign<bindings::completion>,
    /// For the async chain of a Reply: the Receive it came in, held (not
    /// reposted) until the chain is done, and what the Reply puts in the
    /// rqst once the MRs are unmapped. Written by the reply handler
    /// before it posts the chain, read by the chain's completion.
    rep: AtomicPtr<Rep>,
    placement: SyncCell<Result<Placement>>,
}

/// What a checked Reply puts in its rqst's receive buffer. It is placed
/// only once the req's MRs are fenced and DMA-unmapped
/// (`rpcrdma_complete_rqst()` runs after the LOCAL_INV chain): copying
/// into pages still mapped `DMA_FROM_DEVICE` loses the data on swiotlb
/// and non-coherent platforms, where the unmap copies the bounce buffer
/// back over them.
#[derive(Clone, Copy)]
enum Placement {
    /// An inline RPC message at `offset..end` of the Receive buffer,
    /// behind `writelist` bytes the server wrote into the pages.
    Inline { offset: usize, end: usize, writelist: u32 },
    /// The whole Reply came through the reply chunk: `len` bytes.
    Chunk { len: i32 },
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
///   layer runs for a rqst it owns), and by the reply handler and the
///   LOCAL_INV completion while the rqst is pinned (the RPC layer waits
///   for the reply and cannot release the rqst) and `phase` is
///   [`Phase::REPLIED`], which only one reply handler can set; never by
///   two at once.
/// - `send` is written only by `send_request`, which the RPC layer runs
///   for a rqst it owns under `XPRT_LOCKED`, and only while no Send of this
///   req is outstanding on the current connection.
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

/// A Send completion context: one per sendctx ring slot.
#[repr(C)]
struct SendCqe {
    cqe: Foreign<bindings::ib_cqe>,
    slot: usize,
    transport: AtomicPtr<Transport>,
}

/// A Receive buffer and its completion context (`rpcrdma_rep`).
///
/// # Invariants
///
/// `posted` is true from `post` until the Receive's completion: the HCA
/// owns `buf` exactly then.
#[repr(C)]
struct Rep {
    cqe: Foreign<bindings::ib_cqe>,
    buf: DmaBuf,
    transport: AtomicPtr<Transport>,
    ep: AtomicPtr<Endpoint>,
    qp: AtomicPtr<bindings::ib_qp>,
    lkey: u32,
    posted: AtomicBool,
}

/// State the rdma_cm event handler shares with the connect worker.
struct EpEvents {
    xprt: Xprt,
    ours: Negotiated,
    done: Foreign<bindings::completion>,
    /// 0 while connecting, 1 when established, a negative errno on failure.
    status: AtomicI32,
    /// The result of address or route resolution.
    resolve: AtomicI32,
    /// Set once teardown starts: no more close requests.
    closing: AtomicBool,
    inline_send: AtomicU32,
    inline_recv: AtomicU32,
}

/// The registered XDR pad target of write chunks (`re_write_pad_mr`).
struct WritePad {
    /// Its segment in a write chunk.
    seg: Segment,
    /// The MR and the buffer it maps, kept (and never touched) until the
    /// endpoint is dropped, after the drain.
    _mr: Unshared<(Mr, KVec<u8>)>,
}

/// One connection (`rpcrdma_ep`).
///
/// # Invariants
///
/// The fields are declared in the order they must be destroyed, because
/// that is the order Rust drops them in, after [`Endpoint::drop`] has
/// destroyed the QP: the CQs (freeing one waits for its completion work)
/// before the buffers and completion contexts the QP's work requests
/// point to; the MRs before their PD; the removal watch and the CM id
/// before `events`, the id's context, which its event handler uses until
/// `rdma_destroy_id()` returns. [`Transport::teardown`] disconnects and
/// drains first; an endpoint dropped on an early exit of connection
/// setup, before any Receive was posted, is destroyed in the same order.
struct Endpoint {
    send_cq: Option<Cq>,
    recv_cq: Option<Cq>,
    reps: KVec<Rep>,
    send_bufs: KVec<SyncCell<DmaBuf>>,
    send_cqes: KVec<SendCqe>,
    write_pad: Option<WritePad>,
    mrs: MrPool,
    pd: Option<Pd>,
    /// Tells `events` when `dev` is being removed; held until dropped. The
    /// device may go once its last user lets go of it.
    _removal: RemovalWatch,
    id: CmId,
    dev: ib::Device,
    events: KBox<EpEvents>,
    lkey: u32,
    negotiated: Negotiated,
    th: Thresholds,
    /// Credits offered on this connection, fitted to the device.
    max_requests: u32,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        // The QP goes before the CQs it uses; the fields follow in
        // declaration order (type invariant).
        self.id.destroy_qp();
    }
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
///   worker, `close`) and `ep_lock`, or by `destroy` once nothing else
///   runs. It is read by holders of either: `send_request` holds
///   `XPRT_LOCKED`, `buf_free` holds `ep_lock`.
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
    /// Forward reqs with an id below this may be handed out: all of them,
    /// unless the current connection's device holds fewer
    /// ([`QueueFit::reqs`]).
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
                        cqe: Foreign::new(bindings::ib_cqe {
                            done: Some(inv_done),
                        }),
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
    /// `xprt` must be a transport created by [`xprs_setup`] and not yet
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

    /// Gives a pooled req to `task`, or puts the task on the backlog.
    fn give(&self, task: *mut bindings::rpc_task, pooled: Pooled) -> bool {
        let Some(req) = self.req(pooled.req()) else {
            sunrpc::warn_once(c_str!("pooled req out of range"));
            return false;
        };
        match req.kref.take(pooled) {
            Ok(owner) => {
                // A new RPC: no Reply is expected until its Call is sent.
                req.phase.store(Phase::IDLE, Ordering::Release);
                // SAFETY: the req just left the pool: nobody else uses
                // its owner cell (type invariant of `Req`).
                unsafe { *req.rpc.get() = Some(owner) };
                // SAFETY: `task` is the task the RPC layer passed in.
                unsafe {
                    (*task).tk_rqstp = req.rqst();
                    (*task).tk_status = 0;
                }
                true
            }
            Err((pooled, _)) => {
                sunrpc::warn_once(c_str!("I5: req left its pool while busy"));
                self.pool_push(pooled);
                false
            }
        }
    }

    fn pool_pop(&self, pool: Pool) -> Option<Pooled> {
        let mut ids = self.cfg.ids(pool);
        if pool == Pool::Free {
            let limit = self.req_limit.load(Ordering::Relaxed) as usize;
            ids.end = ids.end.min(limit);
        }
        self.shared.lock().free.get_mut(ids)?.iter_mut().find_map(Option::take)
    }

    fn pool_push(&self, pooled: Pooled) {
        let mut shared = self.shared.lock();
        match shared.free.get_mut(pooled.req().0 as usize) {
            Some(cell @ None) => *cell = Some(pooled),
            _ => {
                drop(shared);
                // The token is dropped: the req leaks rather than being
                // handed out twice.
                let _ = pooled;
                sunrpc::warn_once(c_str!("I7: req pooled twice"));
            }
        }
    }

    fn alloc_slot(&self, task: *mut bindings::rpc_task) {
        if let Some(pooled) = self.pool_pop(Pool::Free) {
            if self.give(task, pooled) {
                return;
            }
        }
        // SAFETY: `task` is valid; the RPC layer expects -EAGAIN and the
        // task on the backlog when no slot is free.
        unsafe {
            (*task).tk_status = -(bindings::EAGAIN as i32);
            bindings::xprt_add_backlog_noncongested(self.xprt.as_ptr(), task);
        }
        // A req freed between the pop and joining the backlog would have
        // found no waiter: look again now that the task waits.
        if let Some(pooled) = self.pool_pop(Pool::Free) {
            if let Some(req) = self.req(pooled.req()) {
                match req.kref.take(pooled) {
                    Ok(owner) => self.hand_to_backlog(req, owner),
                    Err((pooled, _)) => self.pool_push(pooled),
                }
            }
        }
    }

    /// Offers an owned req to the first backlog waiter, or returns it to
    /// the pool.
    fn hand_to_backlog(&self, req: &Req, owner: RpcOwner) {
        req.phase.store(Phase::IDLE, Ordering::Release);
        // SAFETY: the caller owns the req; nobody else uses its owner
        // cell until the RPC layer receives the rqst below.
        unsafe { *req.rpc.get() = Some(owner) };
        // SAFETY: the xprt and rqst are valid.
        if unsafe { bindings::xprt_wake_up_backlog(self.xprt.as_ptr(), req.rqst()) } {
            return;
        }
        // SAFETY: no waiter took the rqst: the caller still owns it.
        let Some(owner) = (unsafe { (*req.rpc.get()).take() }) else {
            return;
        };
        match req.kref.put_rpc(owner) {
            Ok(Some(released)) => self.to_pool(req, released, Pool::Free),
            Ok(None) => {}
            Err(_) => sunrpc::warn_once(c_str!("req refcount underflow")),
        }
    }

    fn to_pool(&self, req: &Req, released: Released, pool: Pool) {
        // SAFETY: the req is released: no RPC or handler uses its rqst.
        unsafe { self.xprt.reset_rqst(req.rqst()) };
        match req.kref.to_pool(released, pool) {
            Ok(pooled) => self.pool_push(pooled),
            Err(_) => sunrpc::warn_once(c_str!("released req still counted")),
        }
    }

    /// Routes a req whose last owner let go (`rpcrdma_req_release()`).
    fn release(&self, released: Released) {
        let id = released.req();
        let Some(req) = self.req(id) else {
            sunrpc::warn_once(c_str!("released req out of range"));
            return;
        };
        // I4: both owners are gone, so no sendctx still refers to the req.
        let in_ring = self.shared.lock().ring.count_owners(|o| o.req() == id) != 0;
        if !lifetime::i4_send_released(in_ring) {
            sunrpc::warn_once(c_str!("I4: req released while a sendctx holds it"));
        }
        if self.cfg.home(id) == Pool::Backchannel {
            self.to_pool(req, released, Pool::Backchannel);
            return;
        }
        // A req beyond what this connection's device holds rests.
        if id.0 >= self.req_limit.load(Ordering::Relaxed) {
            self.to_pool(req, released, Pool::Free);
            return;
        }
        match req.kref.to_backlog(released) {
            Ok(owner) => self.hand_to_backlog(req, owner),
            Err(_) => sunrpc::warn_once(c_str!("released req still counted")),
        }
    }

    /// `->free_slot`, and for backchannel rqsts `->bc_free_rqst`: the RPC
    /// layer lets go of the req.
    fn free_slot(&self, rqst: *mut bindings::rpc_rqst) {
        let Some(req) = self.req_of(rqst) else {
            sunrpc::warn_once(c_str!("free_slot of a foreign rqst"));
            return;
        };
        // SAFETY: the RPC layer owns the rqst until this call.
        let Some(owner) = (unsafe { (*req.rpc.get()).take() }) else {
            sunrpc::warn_once(c_str!("free_slot of an unowned rqst"));
            return;
        };
        match req.kref.put_rpc(owner) {
            Ok(Some(released)) => self.release(released),
            Ok(None) => {}
            Err(_) => sunrpc::warn_once(c_str!("req refcount underflow")),
        }
    }

    /// A backchannel call arrived (`rpcrdma_bc_receive_call()`): copy it
    /// into a backchannel req and queue that for the callback service.
    /// The receive buffer is reposted at once; the req holds the call.
    fn bc_receive(&self, xid: u32, call: &[u8]) {
        let Some(pooled) = self.pool_pop(Pool::Backchannel) else {
            pr_warn!("backchannel overflow\n");
            self.xprt.force_disconnect();
            return;
        };
        let Some(req) = self.req(pooled.req()) else {
            sunrpc::warn_once(c_str!("pooled req out of range"));
            return;
        };
        let owner = match req.kref.take(pooled) {
            Ok(owner) => owner,
            Err((pooled, _)) => {
                sunrpc::warn_once(c_str!("I5: req left its pool while busy"));
                self.pool_push(pooled);
                return;
            }
        };
        // SAFETY: the req just left its pool: it is ours until the
        // callback service takes the rqst below.
        let bufs = unsafe {
            *req.rpc.get() = Some(owner);
            &mut *req.bufs.get()
        };
        let Some(dst) = bufs.reply.get_mut(..call.len()) else {
            // Larger than the bc_maxpayload we advertised.
            add(&self.stats.bad_reply_count, 1);
            self.free_slot(req.rqst());
            return;
        };
        dst.copy_from_slice(call);
        // SAFETY: the rqst is idle (zeroed when it was pooled) and ours;
        // both buffers belong to the req and outlive the rqst's use.
        unsafe {
            bindings::xprs_bc_rqst_init(
                req.rqst(),
                self.xprt.as_ptr(),
                xid.to_be(),
                bufs.reply.as_mut_ptr().cast(),
                call.len(),
                bufs.call.as_mut_ptr().cast(),
                bufs.call.len(),
            );
            // The callback service now owns the rqst until bc_free_rqst.
            bindings::xprs_bc_enqueue(req.rqst());
        }
    }

    /// `->bc_free_rqst` (`xprt_rdma_bc_free_rqst()`).
    fn bc_free_rqst(&self, rqst: *mut bindings::rpc_rqst) {
        self.free_slot(rqst);
        // SAFETY: drops the reference `xprs_bc_enqueue` took; nothing of
        // the transport is used after it.
        unsafe { bindings::xprt_put(self.xprt.as_ptr()) };
    }

    /// Builds our reply to a callback in the req's send buffer
    /// (`rpcrdma_bc_marshal_reply()`): an RDMA_MSG header granting
    /// [`BC_SLOTS`] credits, then the reply pulled up behind it. Returns
    /// the Send length.
    fn bc_marshal(&self, ep: &Endpoint, req: &Req, rqst: *mut bindings::rpc_rqst) -> Result<u32> {
        let idx = req.kref.id().0 as usize;
        let cell = ep.send_bufs.get(idx).ok_or(EINVAL)?;
        // SAFETY: as in `marshal`: no Send of this req is outstanding (the
        // callback service sends each reply once), and the caller owns it.
        let sendbuf = unsafe { &mut *cell.get() };
        let limit = (ep.negotiated.inline_send.bytes() as usize).min(sendbuf.len());
        // SAFETY: the rqst is owned by the caller.
        let (xid, len) = unsafe { (u32::from_be((*rqst).rq_xid), (*rqst).rq_snd_buf.len) };
        let hdr = Header {
            xid,
            credits: BC_SLOTS,
            body: Body::Msg(ChunkLists {
                read: &[],
                write: &[],
                reply: None,
            }),
        };
        let buf = sendbuf.as_mut_slice().get_mut(..limit).ok_or(EIO)?;
        let hdrlen = hdr.encode(buf).map_err(|_| EIO)?;
        let total = self.pull_up(rqst, sendbuf, limit, hdrlen, (0, len))?;
        u32::try_from(total).map_err(|_| EIO)
    }

    /// Gives back the MRs a failed send attempt registered. With `wait`
    /// (EAGAIN: out of MRs or of sendctxs) the task then waits for buffer
    /// space; in this order, because the release wakes waiters, which
    /// would cancel a wait set before it.
    fn unwind_send(&self, ep: &Endpoint, req: &Req, wait: bool) {
        self.release_mrs(ep, req);
        if wait {
            // SAFETY: the xprt is valid.
            unsafe { bindings::xprt_wait_for_buffer_space(self.xprt.as_ptr()) };
        }
    }

    fn buf_alloc(&self, task: *mut bindings::rpc_task) -> Result {
        // SAFETY: `task` is valid and owns `tk_rqstp`.
        let rqst = unsafe { (*task).tk_rqstp };
        let req = self.req_of(rqst).ok_or(EINVAL)?;
        // SAFETY: the RPC layer owns the rqst (type invariant of `Req`).
        let (callsize, rcvsize) = unsafe { ((*rqst).rq_callsize, (*rqst).rq_rcvsize) };
        // SAFETY: as above: the buffers belong to the owner.
        let bufs = unsafe { &mut *req.bufs.get() };
        // Regbufs grow on demand and are kept for the req's next RPC.
        if bufs.call.len() < callsize {
            bufs.call = sunrpc::rpc_buf(callsize)?;
            add(&self.stats.hardway_register_count, callsize as u64);
        }
        if bufs.reply.len() < rcvsize {
            bufs.reply = sunrpc::rpc_buf(rcvsize)?;
            add(&self.stats.hardway_register_count, rcvsize as u64);
        }
        // SAFETY: as above.
        unsafe {
            (*rqst).rq_buffer = bufs.call.as_mut_ptr().cast();
            (*rqst).rq_rbuffer = bufs.reply.as_mut_ptr().cast();
        }
        Ok(())
    }

    /// `->buf_free` (`xprt_rdma_free()`): an RPC that exits without its
    /// reply (a signal, a soft timeout) may still have registered MRs;
    /// invalidate them and wait (`frwr_unmap_sync()`) so the server can no
    /// longer reach pages the RPC layer is about to release.
    fn buf_free(&self, task: *mut bindings::rpc_task) {
        // SAFETY: `task` is valid and owns `tk_rqstp`.
        let rqst = unsafe { (*task).tk_rqstp };
        let Some(req) = self.req_of(rqst) else {
            return;
        };
        // SAFETY: the RPC layer owns the rqst and no reply handler runs
        // for it any more (the rqst is unpinned before release).
        let reg = unsafe { req.registered() };
        if reg.len() == 0 {
            return;
        }
        let posted = {
            let _guard = self.ep_lock.lock();
            // SAFETY: `ep_lock` is held (type invariant of `Transport`).
            let ep = unsafe { self.endpoint() };
            // Pool ids start at 1: without an endpoint every lease is stale.
            if reg.of_pool(ep.map_or(0, |ep| ep.mrs.id)).len() == 0 {
                return;
            }
            match ep {
                Some(ep) => self.start_unmap_sync(ep, req),
                None => false,
            }
        };
        // The wait is outside `ep_lock`, so that connect and close do not
        // queue behind one slow LOCAL_INV chain (and a signal or timeout
        // behind them). Teardown drains the QP, which completes the
        // chain, flushed, before it frees the endpoint.
        if posted {
            // SAFETY: `done` is initialized; the chain's last completion
            // signals it, also when it is flushed.
            unsafe { bindings::wait_for_completion(req.inv.done.get()) };
        }
        req.inv.sync.store(false, Ordering::Relaxed);
    }

    /// Posts the LOCAL_INV chain of `frwr_unmap_sync()` for a req's MRs;
    /// returns whether the caller must wait for its last completion.
    fn start_unmap_sync(&self, ep: &Endpoint, req: &Req) -> bool {
        req.inv.sync.store(true, Ordering::Relaxed);
        // SAFETY: `done` was initialized in `new`; no chain is in flight.
        unsafe { bindings::xprs_reinit_completion(req.inv.done.get()) };
        if self.post_local_inv(ep, req).is_ok() {
            return true;
        }
        // As `frwr_unmap_sync()`: a failed post does not mean the QP is
        // dead, so the MRs are not reused; they go when the QP has
        // drained, after the disconnect forced here.
        self.orphan_mrs(req);
        self.xprt.force_disconnect();
        false
    }

    /// Returns the current endpoint, for a reader.
    ///
    /// # Safety
    ///
    /// The caller holds `XPRT_LOCKED` or `ep_lock` (see the type
    /// invariant), so nobody replaces the endpoint meanwhile.
    unsafe fn endpoint(&self) -> Option<&Endpoint> {
        // SAFETY: the caller excludes writers; readers only share.
        unsafe { (*self.ep.get()).as_deref() }
    }

    /// Returns the endpoint's slot, to replace what it holds.
    ///
    /// # Safety
    ///
    /// The caller holds both `XPRT_LOCKED` and `ep_lock`, which excludes
    /// every reader and every other writer (type invariant).
    #[allow(clippy::mut_from_ref)]
    unsafe fn endpoint_slot(&self) -> &mut Option<KBox<Endpoint>> {
        // SAFETY: guaranteed by the caller.
        unsafe { &mut *self.ep.get() }
    }

    /// `->send_request`, for Calls and (`xprt_rdma_bc_send_reply()`) for
    /// our replies to callbacks.
    fn send_request(&self, rqst: *mut bindings::rpc_rqst) -> Result {
        let xprt = self.xprt;
        if !xprt.connected() {
            return Err(err(bindings::ENOTCONN));
        }
        // SAFETY: the xprt and rqst are valid.
        if !unsafe { bindings::xprt_request_get_cong(xprt.as_ptr(), rqst) } {
            return Err(err(bindings::EBADSLT));
        }
        // SAFETY: the rqst is owned by the caller.
        let (backchannel, cookie) = unsafe { ((*rqst).rq_buffer.is_null(), (*rqst).rq_connect_cookie) };
        // A retransmit on the same connection would reuse a send buffer
        // the HCA may still read, and throws off credit accounting: drop
        // the connection instead, before touching the buffer. Callback
        // replies are sent once and never retransmitted (nor does C check
        // them); their cookie is whatever the pooled rqst held.
        if !backchannel && cookie == xprt.connect_cookie() {
            self.close();
            return Err(err(bindings::ENOTCONN));
        }
        let req = self.req_of(rqst).ok_or(EINVAL)?;
        // SAFETY: send_request runs under XPRT_LOCKED.
        let Some(ep) = (unsafe { self.endpoint() }) else {
            return Err(err(bindings::ENOTCONN));
        };
        // SAFETY: the caller owns the rqst; no reply handler runs for it
        // (it is not waiting for a reply on this connection yet).
        if unsafe { req.registered() }.of_pool(ep.mrs.id).len() != 0 {
            sunrpc::warn_once(c_str!("send_request with MRs still registered"));
            self.close();
            return Err(err(bindings::ENOTCONN));
        }
        // From here until the Send is posted no Reply is taken for this
        // req. A reply handler that already claimed it (a Reply to the
        // previous transmission, arrived on this connection) completes or
        // unpins the rqst; this transmission waits for the reconnect.
        if !backchannel && !req.set_phase(|p| p != Phase::REPLIED, Phase::MARSHALING) {
            return Err(err(bindings::ENOTCONN));
        }
        // Only backchannel rqsts come without a call buffer.
        let marshaled = if backchannel {
            self.bc_marshal(ep, req, rqst)
        } else {
            self.marshal(ep, req, rqst)
        };
        let len = match marshaled {
            Ok(len) => len,
            Err(e) => {
                req.set_phase(|p| p == Phase::MARSHALING, Phase::IDLE);
                self.unwind_send(ep, req, e == EAGAIN);
                if e != EAGAIN {
                    add(&self.stats.failed_marshal_count, 1);
                }
                return Err(e);
            }
        };
        // SAFETY: the rqst is owned by the caller.
        unsafe { (*rqst).rq_xtime = bindings::ktime_get() };
        match self.post(ep, req, len) {
            Ok(()) => {}
            Err(e) if e == EAGAIN => {
                req.set_phase(|p| p == Phase::MARSHALING, Phase::IDLE);
                self.unwind_send(ep, req, true);
                return Err(e);
            }
            Err(_) => {
                // Nothing was sent: take back the phase, unless a (forged)
                // Reply already claimed the req; closing drains either way.
                req.set_phase(|p| p != Phase::REPLIED, Phase::IDLE);
                self.close();
                return Err(err(bindings::ENOTCONN));
            }
        }
        if backchannel {
            return Ok(());
        }
        // SAFETY: as above.
        unsafe {
            (*rqst).rq_xmit_bytes_sent = (*rqst)
                .rq_xmit_bytes_sent
                .saturating_add((*rqst).rq_snd_buf.len as usize);
        }
        // An RPC with no reply throws off credit accounting: reset it.
        // SAFETY: the rqst's task is valid while it transmits.
        if !unsafe { bindings::xprs_rpc_reply_expected((*rqst).rq_task) } {
            self.close();
            return Err(err(bindings::ENOTCONN));
        }
        Ok(())
    }

    /// Plans the RPC, registers its chunks, and builds the transport
    /// header plus the inline part of the Call in the req's send buffer
    /// (`rpcrdma_marshal_req()`). Returns the Send length.
    fn marshal(&self, ep: &Endpoint, req: &Req, rqst: *mut bindings::rpc_rqst) -> Result<u32> {
        let idx = req.kref.id().0 as usize;
        let cell = ep.send_bufs.get(idx).ok_or(EINVAL)?;
        // SAFETY: `Req` invariant: no Send of this req is outstanding on
        // this connection (retransmits drop it), and the caller owns it.
        let sendbuf = unsafe { &mut *cell.get() };
        // A sparse receive page array (NFSv3 GETACL) is filled before the
        // reply chunk maps it or an inline reply is copied into it.
        // SAFETY: the rqst and its receive buffer are owned by the caller.
        let rc = unsafe { bindings::xprs_alloc_sparse_pages(&mut (*rqst).rq_rcv_buf) };
        if rc != 0 {
            return Err(Error::from_errno(rc));
        }
        // SAFETY: the rqst is owned by the caller, and so are its buffers.
        let (xid, snd, rcv, ddp_allowed) = unsafe {
            (
                u32::from_be((*rqst).rq_xid),
                XdrBuf::new(&(*rqst).rq_snd_buf),
                XdrBuf::new(&(*rqst).rq_rcv_buf),
                bindings::xprs_rqst_ddp_allowed(rqst),
            )
        };
        let snd_shape = snd.shape();
        let rpc = chunk::Rpc {
            snd: snd_shape,
            rcv: rcv.shape(),
            rcv_buflen: rcv.buflen(),
            // Inline Calls are always pulled up into the send buffer.
            sendbuf_len: u32::MAX,
            ddp_allowed,
            call_write_payload: snd.flags() & bindings::XDRBUF_WRITE != 0,
            reply_read_payload: rcv.flags() & bindings::XDRBUF_READ != 0,
        };
        let plan = chunk::plan(&rpc, &ep.th);
        // SAFETY: `offered` is the marshaling send path's (type invariant
        // of `Req`: the phase is MARSHALING). What a failed marshal leaves
        // in it is never read: the phase goes back to IDLE.
        let offered = unsafe { &mut *req.offered.get() };

        let mut read = [ReadSegment::default(); MAX_HDR_SEGS];
        let mut nread = 0;
        let read_kind = match plan.send {
            SendPlan::ReadChunk => Some(ChunkKind::Read),
            SendPlan::PositionZeroRead => Some(ChunkKind::PositionZeroRead),
            SendPlan::Pullup | SendPlan::Mapped => None,
        };
        if let Some(kind) = read_kind {
            let position = kind.read_position(&snd_shape);
            let mut segs = [Segment::default(); MAX_HDR_SEGS];
            nread = self.register(ep, req, &snd, kind, false, xid, &mut segs)?;
            for (item, &segment) in read.iter_mut().zip(segs.iter()).take(nread) {
                *item = ReadSegment { position, segment };
            }
            add(&self.stats.read_chunk_count, nread as u64);
            if kind == ChunkKind::PositionZeroRead {
                add(&self.stats.nomsg_call_count, 1);
            }
        }

        // One more slot than a chunk's segments: the write-pad segment.
        let mut write = [Segment::default(); MAX_HDR_SEGS + 1];
        let mut nwrite = 0;
        let mut reply = [Segment::default(); MAX_HDR_SEGS];
        let mut nreply = 0;
        match plan.reply {
            ReplyPlan::Inline => {}
            ReplyPlan::WriteChunk { pad } => {
                let chunk = write.first_chunk_mut::<MAX_HDR_SEGS>().ok_or(EIO)?;
                nwrite = self.register(ep, req, &rcv, ChunkKind::Write, true, xid, chunk)?;
                self.count_rdma_request(chunk, nwrite, &self.stats.write_chunk_count);
                if pad {
                    let pad = ep.write_pad.as_ref().ok_or(EIO)?;
                    *write.get_mut(nwrite).ok_or(EIO)? = pad.seg;
                    nwrite = nwrite.saturating_add(1);
                }
            }
            ReplyPlan::ReplyChunk => {
                nreply = self.register(ep, req, &rcv, ChunkKind::Reply, true, xid, &mut reply)?;
                self.count_rdma_request(&reply, nreply, &self.stats.reply_chunk_count);
            }
        }

        let write_chunk = write.get(..nwrite).ok_or(EIO)?;
        offered
            .set(write_chunk, reply.get(..nreply).ok_or(EIO)?)
            .map_err(|_| EIO)?;
        let write_list = [write_chunk];
        let lists = ChunkLists {
            read: read.get(..nread).ok_or(EIO)?,
            write: if nwrite == 0 { &[] } else { &write_list },
            reply: if nreply == 0 {
                None
            } else {
                Some(reply.get(..nreply).ok_or(EIO)?)
            },
        };
        let hdr = Header {
            xid,
            credits: ep.max_requests,
            body: if plan.send == SendPlan::PositionZeroRead {
                Body::NoMsg(lists)
            } else {
                Body::Msg(lists)
            },
        };
        let limit = (ep.negotiated.inline_send.bytes() as usize).min(sendbuf.len());
        let buf = sendbuf.as_mut_slice().get_mut(..limit).ok_or(EIO)?;
        let hdrlen = hdr.encode(buf).map_err(|_| EIO)?;

        // The inline part: (offset in the xdr_buf, length) runs.
        let head = snd_shape.head.len;
        let pages_end = head.checked_add(snd_shape.page_len).ok_or(EIO)?;
        let (first, second) = match plan.send {
            SendPlan::Pullup | SendPlan::Mapped => {
                let all = u32::try_from(snd_shape.len()).map_err(|_| EIO)?;
                ((0, all), None)
            }
            SendPlan::ReadChunk => {
                let tail = chunk::readch_tail(snd_shape.tail).map(|t| {
                    let skipped = snd_shape.tail.len.saturating_sub(t.len);
                    (pages_end.saturating_add(skipped), t.len)
                });
                ((0, head), tail)
            }
            SendPlan::PositionZeroRead => ((0, 0), None),
        };
        let mut total = hdrlen;
        for run in [Some(first), second].into_iter().flatten() {
            total = self.pull_up(rqst, sendbuf, limit, total, run)?;
        }
        u32::try_from(total).map_err(|_| EIO)
    }

    /// Copies `len` bytes at `offset` of the rqst's call into the send
    /// buffer at `at`, within `limit`. Returns the end of the copy.
    fn pull_up(
        &self,
        rqst: *mut bindings::rpc_rqst,
        sendbuf: &mut DmaBuf,
        limit: usize,
        at: usize,
        (offset, len): (u32, u32),
    ) -> Result<usize> {
        if len == 0 {
            return Ok(at);
        }
        let end = at.checked_add(len as usize).ok_or(EIO)?;
        if end > limit.min(sendbuf.len()) {
            return Err(EIO);
        }
        // SAFETY: `at + len` bytes fit in the send buffer (checked above).
        let dst = unsafe { sendbuf.as_mut_ptr().add(at) };
        // SAFETY: the caller owns the rqst, whose call holds `offset + len`
        // bytes (planned from its shape); `dst` has room for `len`.
        let rc = unsafe { bindings::read_bytes_from_xdr_buf(&(*rqst).rq_snd_buf, offset, dst.cast(), len) };
        if rc != 0 {
            return Err(EIO);
        }
        // As C counts it: what lies beyond the head.
        // SAFETY: the caller owns the rqst.
        let head = unsafe { (*rqst).rq_snd_buf.head[0].iov_len };
        let beyond = (offset as usize)
            .saturating_add(len as usize)
            .saturating_sub((offset as usize).max(head));
        add(&self.stats.pullup_copy_count, beyond as u64);
        Ok(end)
    }

    fn count_rdma_request(&self, segs: &[Segment], n: usize, chunks: &AtomicU64) {
        add(chunks, n as u64);
        let bytes = segs.iter().take(n).map(|s| u64::from(s.length)).sum();
        add(&self.stats.total_rdma_request, bytes);
    }

    /// Registers the part of `buf` a chunk of `kind` conveys: cuts it into
    /// pieces, groups them into MRs and maps each (`rpcrdma_mr_prepare()`
    /// and `frwr_map()`). The MRs are recorded in the req as they are
    /// taken, so a failure part way leaves them for `release_mrs`.
    /// Returns the number of segments written to `out`.
    #[allow(clippy::too_many_arguments)]
    fn register(
        &self,
        ep: &Endpoint,
        req: &Req,
        buf: &XdrBuf<'_>,
        kind: ChunkKind,
        writing: bool,
        xid: u32,
        out: &mut [Segment; MAX_HDR_SEGS],
    ) -> Result<usize> {
        // SAFETY: the caller owns the req (type invariant of `Req`).
        let pieces = unsafe { &mut *req.pieces.get() };
        let n = chunk::chunk_segments(&buf.shape(), kind, ep.th.page, pieces.as_mut_slice())
            .map_err(plan_err)?;
        let pieces = pieces.get(..n).ok_or(EIO)?;
        if pieces.is_empty() {
            return Err(EIO);
        }
        let mut ranges = [MrRange::default(); MAX_HDR_SEGS];
        let nranges = chunk::mr_ranges(pieces, &ep.th, &mut ranges).map_err(plan_err)?;
        // SAFETY: the caller owns the req.
        let reg = unsafe { req.registered() };
        for (range, seg) in ranges.iter().take(nranges).zip(out.iter_mut()) {
            let lease = match reg.push(self.mr_get(ep)?) {
                Ok(lease) => lease,
                Err(lease) => {
                    self.mr_put(lease);
                    return Err(EIO);
                }
            };
            let mr = ep.mrs.get_mut(lease).ok_or(EIO)?;
            let end = range.first.checked_add(range.nents).ok_or(EIO)?;
            let run = pieces.get(range.first..end).ok_or(EIO)?;
            for (k, piece) in run.iter().enumerate() {
                let k = u32::try_from(k).map_err(|_| EIO)?;
                if k >= mr.depth() {
                    return Err(EIO);
                }
                // The MR is leased to this req and not mapped (MRs on the
                // free list are unmapped).
                match buf.locate(piece).ok_or(EIO)? {
                    // SAFETY: the MR is ours and unmapped (above); the page
                    // is the rqst's, owned by the caller until MR release.
                    PieceAddr::Page(page, offset) => unsafe {
                        mr.set_page(k, page, offset, piece.len)
                    },
                    // SAFETY: as above, for the rqst's head or tail.
                    PieceAddr::Virt(addr) => unsafe { mr.set_buf(k, addr, piece.len) },
                }
            }
            let nents = u32::try_from(range.nents).map_err(|_| EIO)?;
            *seg = mr.map(&ep.dev, nents, writing, xid)?.to_wire();
        }
        Ok(nranges)
    }

    /// Takes a free MR, refilling the pool when it is empty
    /// (`rpcrdma_mr_get()` and `rpcrdma_mrs_refresh()`). Runs under
    /// `XPRT_LOCKED`.
    fn mr_get(&self, ep: &Endpoint) -> Result<MrLease> {
        if let Some(lease) = self.shared.lock().mr_free.pop() {
            return Ok(lease);
        }
        self.mr_refill(ep)?;
        self.shared.lock().mr_free.pop().ok_or(EAGAIN)
    }

    /// Puts a lease on the free list. The list has room for every MR of
    /// the pool; should it be full, the lease is dropped and its MR stays
    /// out of use until the endpoint goes.
    fn mr_put(&self, lease: MrLease) {
        let _ = self.shared.lock().mr_free.push(lease);
    }

    fn mr_refill(&self, ep: &Endpoint) -> Result {
        let pd = ep.pd.as_ref().ok_or(EIO)?;
        let ctx = self as *const Self as *mut c_void;
        let (sg_gaps, depth) = (ep.th.sg_gaps, ep.th.max_fr_depth);
        let made = ep.mrs.grow(
            MR_REFILL_BATCH,
            |index| Mr::new(pd, sg_gaps, depth, mr_done, ctx, u32::from(index)),
            |lease| self.mr_put(lease),
        )?;
        if made == 0 {
            return Err(ENOMEM);
        }
        add(&self.stats.mrs_allocated, made as u64);
        Ok(())
    }

    /// Unmaps a req's MRs and returns them to the pool (`frwr_mr_put()`).
    /// The caller makes sure neither the HCA nor the peer can use them:
    /// they were never posted, were invalidated, or the QP is dead.
    fn release_mrs(&self, ep: &Endpoint, req: &Req) {
        // SAFETY: the caller is the req's current user (type invariant).
        let reg = unsafe { req.registered() }.of_pool(ep.mrs.id);
        if reg.len() != 0 {
            let mut shared = self.shared.lock();
            while let Some(mut lease) = reg.pop() {
                if let Some(mr) = ep.mrs.get_mut(&mut lease) {
                    mr.unmap();
                }
                let _ = shared.mr_free.push(lease);
            }
        }
        // Wake senders waiting for MRs.
        // SAFETY: the xprt is valid.
        unsafe { bindings::xprt_write_space(self.xprt.as_ptr()) };
    }

    /// Forgets a req's MRs without returning them to the pool: the peer
    /// may still reach them. Teardown, after the drain, unmaps and frees
    /// them with the endpoint's pool and counts them in `mrs_orphaned`.
    fn orphan_mrs(&self, req: &Req) {
        // The leases are dropped: no one can reach their MRs any more.
        // SAFETY: the caller is the req's current user (type invariant).
        *unsafe { req.registered() } = Registered::EMPTY;
    }

    /// Posts LOCAL_INV for every MR of the req, the last one signaled on
    /// the req's `inv` context (`frwr_unmap_async()`/`frwr_unmap_sync()`).
    fn post_local_inv(&self, ep: &Endpoint, req: &Req) -> Result {
        // SAFETY: the caller is the req's current user (type invariant).
        let reg = unsafe { req.registered() };
        let mut wrs = [core::ptr::null_mut(); MAX_MRS_PER_REQ];
        let n = reg.len();
        for (k, (lease, wr)) in reg.iter_mut().zip(wrs.iter_mut()).enumerate() {
            let mr = ep.mrs.get_mut(lease).ok_or(EIO)?;
            let last = k.saturating_add(1) == n;
            *wr = mr.inv_wr(last.then(|| req.inv.cqe.get()), last);
        }
        add(&self.stats.local_inv_needed, n as u64);
        req.inv
            .ep
            .store(ep as *const Endpoint as *mut Endpoint, Ordering::Release);
        let qp = ep.id.qp().ok_or(EIO)?;
        let wrs = wrs.get(..n).ok_or(EIO)?;
        // SAFETY: the work requests belong to the MRs this req leases;
        // they live in the endpoint, which is drained before it is freed.
        let first = unsafe { ib::chain(wrs) }.ok_or(EIO)?;
        // SAFETY: as above; the QP is live while the endpoint exists.
        unsafe { ib::post_chain(qp, first) }
    }

    /// Claims a sendctx, takes the Send owner and posts the REG_MR chain
    /// and the Send.
    fn post(&self, ep: &Endpoint, req: &Req, len: u32) -> Result {
        let idx = req.kref.id().0 as usize;
        // SAFETY: the caller owns the req.
        let reg = unsafe { req.registered() };
        let mut regs = [core::ptr::null_mut(); MAX_MRS_PER_REQ];
        for (lease, wr) in reg.iter_mut().zip(regs.iter_mut()) {
            *wr = ep.mrs.get_mut(lease).ok_or(EIO)?.reg_wr();
        }
        let regs = regs.get(..reg.len()).ok_or(EIO)?;
        let num_wrs = u32::try_from(regs.len()).map_err(|_| EIO)?.saturating_add(1);
        let (slot, signaled) = {
            let mut shared = self.shared.lock();
            let Some(claim) = shared.ring.claim() else {
                drop(shared);
                add(&self.stats.empty_sendctx_q, 1);
                return Err(EAGAIN);
            };
            // SAFETY: the caller owns the req and its owner cell.
            let Some(rpc) = (unsafe { (*req.rpc.get()).as_ref() }) else {
                shared.ring.cancel(claim);
                return Err(EIO);
            };
            let owner = match req.kref.add_send(rpc) {
                Ok(owner) => owner,
                Err(_) => {
                    shared.ring.cancel(claim);
                    return Err(EIO);
                }
            };
            let slot = claim.slot();
            if let Err(owner) = shared.ring.post(claim, owner) {
                drop(shared);
                self.put_send(owner);
                return Err(EIO);
            }
            (slot, shared.policy.signal(false, num_wrs))
        };
        let sendbuf_cell = ep.send_bufs.get(idx).ok_or(EIO)?;
        // SAFETY: read-only use of the mapping's address and length.
        let sendbuf = unsafe { &*sendbuf_cell.get() };
        sendbuf.sync_for_device(len as usize);
        let cqe = ep.send_cqes.get(slot).ok_or(EIO)?;
        let qp = ep.id.qp().ok_or(err(bindings::ENOTCONN))?;
        let (cqe, addr, lkey) = (cqe.cqe.get(), sendbuf.addr(), ep.lkey);
        // The Reply may complete before the post returns. Release: the
        // reply handler sees what marshaling wrote (`offered`, the MRs).
        req.phase.store(Phase::SENT, Ordering::Release);
        // SAFETY: live QP and cqe (in the endpoint); the buffer stays mapped
        // until its Send owner is released; the REG_MRs are this req's.
        unsafe { ib::post_send(qp, cqe, addr, len, lkey, signaled, regs) }
    }

    fn put_send(&self, owner: SendOwner) {
        let Some(req) = self.req(owner.req()) else {
            sunrpc::warn_once(c_str!("Send owner out of range"));
            return;
        };
        match req.kref.put_send(owner) {
            Ok(Some(released)) => self.release(released),
            Ok(None) => {}
            Err(_) => sunrpc::warn_once(c_str!("req refcount underflow")),
        }
    }

    /// Empties the ring up to `slot` (or entirely, for `None`) and releases
    /// the Send owners found, outside the lock.
    fn release_ring(&self, slot: Option<usize>) {
        let mut shared = self.shared.lock();
        let Some(mut batch) = shared.batch.take() else {
            drop(shared);
            sunrpc::warn_once(c_str!("Send owner batch in use twice"));
            return;
        };
        // A ring of N slots holds fewer than N owners, so the batch (sized
        // for the ring) never overflows.
        let mut keep = |o| {
            if batch.push(o).is_err() {
                sunrpc::warn_once(c_str!("Send owner batch overflow: req leaked"));
            }
        };
        let walked = match slot {
            Some(slot) => shared.ring.complete(slot, &mut keep).is_ok(),
            None => {
                shared.ring.drain(&mut keep);
                true
            }
        };
        drop(shared);
        if !walked {
            sunrpc::warn_once(c_str!("Send completion outside the sendctx ring"));
        }
        while let Some(owner) = batch.pop() {
            self.put_send(owner);
        }
        self.shared.lock().batch = Some(batch);
    }

    /// Walks the ring up to `slot` and releases the Send owners found.
    fn send_done(&self, slot: usize) {
        self.release_ring(Some(slot));
        // SAFETY: the xprt is valid.
        unsafe { bindings::xprt_write_space(self.xprt.as_ptr()) };
    }

    /// Handles one received message (`rpcrdma_reply_handler()`): find its
    /// rqst and check the reply, fence the req's MRs, either now or by
    /// LOCAL_INV whose last completion does the rest, then place the
    /// reply and complete the RPC. `inv_rkey` is the rkey the peer
    /// invalidated remotely, if any. Returns true if `rep` is held for
    /// the LOCAL_INV completion, which reposts it.
    fn reply(&self, ep: &Endpoint, rep: &Rep, msg: &[u8], inv_rkey: Option<u32>) -> bool {
        let xprt = self.xprt;
        let Ok(fixed) = Fixed::decode(msg) else {
            add(&self.stats.bad_reply_count, 1);
            return false;
        };
        // A callback carries the server's backchannel credits, not ours.
        // Without a callback service (NFSv3, v4.0) there is none to look for.
        if xprt.bc_serv_ready() {
            if let Some(call) = fixed.backchannel_call(msg) {
                self.bc_receive(fixed.xid, call);
                return false;
            }
        }
        xprt.queue_lock();
        // SAFETY: the xprt is valid and its queue lock is held.
        let rqst = unsafe { bindings::xprt_lookup_rqst(xprt.as_ptr(), fixed.xid.to_be()) };
        if rqst.is_null() {
            xprt.queue_unlock();
            // A late Reply to an RPC that gave up, or an unsolicited one.
            add(&self.stats.replies_unmatched, 1);
            return false;
        }
        // SAFETY: the rqst was found under the queue lock; pinning keeps
        // it from being released while we work without the lock.
        unsafe { bindings::xprt_pin_rqst(rqst) };
        xprt.queue_unlock();
        let Some(req) = self.req_of(rqst) else {
            self.complete_rqst(None, rqst, Err(EIO));
            return false;
        };
        // Only the first Reply to a Call that was sent is taken: not a
        // duplicate, not one while the first one's LOCAL_INV chain runs,
        // not one for a Call still being marshaled.
        if !req.set_phase(|p| p == Phase::SENT, Phase::REPLIED) {
            add(&self.stats.replies_dropped, 1);
            add(&self.stats.bad_reply_count, 1);
            // SAFETY: pinned above.
            unsafe { xprt.unpin_rqst(rqst) };
            return false;
        }
        // Credits come only from a Reply that matched a Call
        // (`rpcrdma_reply_handler()` updates cwnd after the lookup).
        let credits = Credits::sanitize(fixed.credits, ep.max_requests);
        let changed = {
            let mut shared = self.shared.lock();
            let changed = shared.credits != credits;
            shared.credits = credits;
            changed
        };
        if changed {
            xprt.set_cwnd(usize::try_from(credits.cwnd()).unwrap_or(usize::MAX));
        }

        // SAFETY: the phase swap made the reply path the req's user; the
        // Call's `offered` was written before its Release store of SENT.
        let offered = unsafe { &*req.offered.get() };
        let placement = self.check_reply(ep, rqst, offered, &fixed, msg);
        // SAFETY: the rqst is pinned and waits for this reply: the reply
        // path is the req's user now (type invariant of `Req`).
        unsafe { req.registered() }.of_pool(ep.mrs.id);
        if let Some(rkey) = inv_rkey {
            self.remote_invalidated(ep, req, rkey);
        }
        // SAFETY: as above.
        if unsafe { req.registered() }.len() == 0 {
            let result = placement.and_then(|p| self.place(rqst, p, msg));
            self.complete_rqst(Some(req), rqst, result);
            return false;
        }
        // SAFETY: the reply path is the req's user (see above); the
        // chain's completion reads this after the post below.
        unsafe { *req.inv.placement.get() = placement };
        req.inv
            .rep
            .store(rep as *const Rep as *mut Rep, Ordering::Release);
        req.inv.sync.store(false, Ordering::Relaxed);
        if self.post_local_inv(ep, req).is_err() {
            req.inv.rep.store(core::ptr::null_mut(), Ordering::Relaxed);
            // A failed post (ENOMEM, or part of the chain) does not mean
            // the QP is dead: the peer may still reach these MRs. They
            // stay out of circulation until the drain; the reconnect
            // fences everything, and the retransmission handles the RPC.
            self.orphan_mrs(req);
            xprt.force_disconnect();
            req.phase.store(Phase::IDLE, Ordering::Release);
            // SAFETY: pinned above.
            unsafe { xprt.unpin_rqst(rqst) };
            return false;
        }
        // The LOCAL_INV completion places the reply, completes the RPC
        // and reposts the rep.
        true
    }

    /// Checks the reply against the connection's limits and what this RPC
    /// offered, and says where it goes; writes nothing into the rqst.
    fn check_reply(
        &self,
        ep: &Endpoint,
        rqst: *mut bindings::rpc_rqst,
        offered: &Offered,
        fixed: &Fixed,
        msg: &[u8],
    ) -> Result<Placement> {
        // SAFETY: pinned by the caller; the transport owns the receive
        // buffer until the RPC completes.
        let rcv = unsafe { XdrBuf::new(&(*rqst).rq_rcv_buf) };
        let limits = Limits::for_client(ep.th.max_rdma_segs, rcv.buflen());
        match fixed.decode_reply_body(msg, &limits) {
            Ok(ReplyBody::Msg(m)) => {
                // A write list or reply chunk this Call never offered.
                offered.check_msg(&m).map_err(|_| EIO)?;
                let writelist = u32::try_from(m.write_list.total_len()).map_err(|_| EIO)?;
                if writelist > rcv.shape().page_len {
                    return Err(EIO);
                }
                add(&self.stats.total_rdma_reply, u64::from(writelist));
                Ok(Placement::Inline {
                    offset: m.rpc_offset,
                    end: msg.len(),
                    writelist,
                })
            }
            Ok(ReplyBody::NoMsg { reply_chunk }) => {
                offered.check_nomsg(&reply_chunk).map_err(|_| EIO)?;
                let len = u32::try_from(reply_chunk.total_len()).map_err(|_| EIO)?;
                add(&self.stats.total_rdma_reply, u64::from(len));
                Ok(Placement::Chunk {
                    len: i32::try_from(len).map_err(|_| EIO)?,
                })
            }
            Ok(ReplyBody::Error(_)) | Err(_) => Err(EIO),
        }
    }

    /// Places a checked reply (`msg` is the whole received message) in
    /// the rqst's receive buffer, once the MRs are unmapped. Returns the
    /// length the RPC layer sees.
    fn place(&self, rqst: *mut bindings::rpc_rqst, placement: Placement, msg: &[u8]) -> Result<i32> {
        match placement {
            Placement::Inline {
                offset,
                end,
                writelist,
            } => self.inline_fixup(rqst, msg.get(offset..end).ok_or(EIO)?, writelist),
            Placement::Chunk { len } => Ok(len),
        }
    }

    /// Places an inline reply in the rqst's receive buffer
    /// (`rpcrdma_inline_fixup()`): the bytes up to the head's length go to
    /// the head, the rest into the pages and tail, except that with a
    /// write chunk the payload already sits in the pages, so the rest goes
    /// after it, past the XDR pad. An overestimated head is trimmed
    /// instead of moving directly placed data.
    fn inline_fixup(&self, rqst: *mut bindings::rpc_rqst, body: &[u8], writelist: u32) -> Result<i32> {
        let copy_len = u32::try_from(body.len()).map_err(|_| EIO)?;
        // SAFETY: the rqst is pinned by the caller and its receive buffers
        // belong to the transport until it completes.
        let (rcv, private) = unsafe { (&mut (*rqst).rq_rcv_buf, &mut (*rqst).rq_private_buf) };
        let head_len = u32::try_from(rcv.head[0].iov_len).map_err(|_| EIO)?;
        let mut first = head_len;
        if first > copy_len {
            if writelist != 0 {
                let delta = first - copy_len;
                rcv.head[0].iov_len = copy_len as usize;
                private.head[0].iov_len = copy_len as usize;
                rcv.buflen = rcv.buflen.saturating_sub(delta);
                private.buflen = private.buflen.saturating_sub(delta);
            }
            first = copy_len;
        }
        let (head, rest) = body.split_at(first as usize);
        let after = if writelist == 0 {
            first
        } else {
            let aligned = u32::try_from(xdr::align_size(writelist)).map_err(|_| EIO)?;
            first.checked_add(aligned).ok_or(EIO)?
        };
        let room = private.buflen;
        let mut copied = 0u64;
        for (into_pages, offset, bytes) in [(false, 0, head), (true, after, rest)] {
            let len = u32::try_from(bytes.len()).map_err(|_| EIO)?;
            let len = len.min(room.saturating_sub(offset));
            if len == 0 {
                continue;
            }
            // SAFETY: `offset + len` is within the buffer's `buflen`; the
            // kernel copies at most `len` readable bytes of `bytes`.
            let rc = unsafe {
                bindings::write_bytes_to_xdr_buf(private, offset, bytes.as_ptr().cast_mut().cast(), len)
            };
            if rc != 0 {
                return Err(EIO);
            }
            // As C counts it: the bytes that go to the pages and tail.
            if into_pages {
                copied = copied.saturating_add(u64::from(len));
            }
        }
        add(&self.stats.fixup_copy_count, copied);
        let received = u64::from(copy_len).saturating_add(xdr::align_size(writelist));
        i32::try_from(received).map_err(|_| EIO)
    }

    /// The peer invalidated `rkey` with its Send (`frwr_reminv()`): that
    /// MR needs no LOCAL_INV.
    fn remote_invalidated(&self, ep: &Endpoint, req: &Req, rkey: u32) {
        // SAFETY: the caller is the req's current user (type invariant).
        let reg = unsafe { req.registered() };
        let Some(mut lease) =
            reg.take(|lease| ep.mrs.get_mut(lease).is_some_and(|mr| mr.rkey() == rkey))
        else {
            return;
        };
        if let Some(mr) = ep.mrs.get_mut(&mut lease) {
            mr.unmap();
        }
        self.mr_put(lease);
        add(&self.stats.mrs_recycled, 1);
    }

    /// Completes a pinned rqst with `result` and unpins it
    /// (`rpcrdma_complete_rqst()`).
    fn complete_rqst(&self, req: Option<&Req>, rqst: *mut bindings::rpc_rqst, result: Result<i32>) {
        if let Some(req) = req {
            // I3: every MR was invalidated and unmapped before the RPC
            // layer may look at the pages.
            // SAFETY: the caller is the req's current user.
            let n = unsafe { req.registered() }.len();
            if !lifetime::i3_mrs_fenced(u32::try_from(n).unwrap_or(u32::MAX)) {
                sunrpc::warn_once(c_str!("I3: RPC completed with MRs registered"));
            }
        }
        if let Some(req) = req {
            req.phase.store(Phase::IDLE, Ordering::Release);
        }
        let xprt = self.xprt;
        xprt.queue_lock();
        // SAFETY: the rqst is pinned and the queue lock is held.
        unsafe {
            match result {
                Ok(n) => bindings::xprt_complete_rqst((*rqst).rq_task, n),
                Err(e) => {
                    add(&self.stats.bad_reply_count, 1);
                    (*(*rqst).rq_task).tk_status = e.to_errno();
                    bindings::xprt_complete_rqst((*rqst).rq_task, 0);
                }
            }
            bindings::xprt_unpin_rqst(rqst);
        }
        xprt.queue_unlock();
    }

    /// The last LOCAL_INV of a req completed (`frwr_wc_localinv_done()`
    /// and `frwr_wc_localinv_wake()`).
    fn local_inv_done(&self, req: &Req, ok: bool) {
        let ep = req.inv.ep.load(Ordering::Acquire);
        // SAFETY: the chain was posted on this endpoint, which is drained
        // (so this completion has run) before it is freed.
        let Some(ep) = (unsafe { ep.as_ref() }) else {
            sunrpc::warn_once(c_str!("LOCAL_INV completion without an endpoint"));
            return;
        };
        // Send queue ordering: every earlier LOCAL_INV of the chain has
        // completed, so all the MRs are fenced.
        self.release_mrs(ep, req);
        if !ok {
            self.fault();
        }
        if req.inv.sync.load(Ordering::Relaxed) {
            // SAFETY: `done` is initialized; the waiter is in `unmap_sync`.
            unsafe { bindings::complete(req.inv.done.get()) };
            return;
        }
        let rqst = req.rqst();
        let rep = req.inv.rep.swap(core::ptr::null_mut(), Ordering::Acquire);
        // SAFETY: the reply handler held this rep for the chain: the
        // endpoint it belongs to is drained, so this handler has run,
        // before its reps are freed.
        let rep = unsafe { rep.as_ref() };
        if ok {
            // SAFETY: written by the reply handler before it posted the
            // chain; the req is still the reply path's (phase REPLIED).
            let placement = unsafe { *req.inv.placement.get() };
            let result = match rep {
                Some(rep) => {
                    // The rep is held, not posted: the HCA does not write
                    // its buffer, which `recv_done` synced.
                    let buf = &rep.buf;
                    let end = match placement {
                        Ok(Placement::Inline { end, .. }) => end,
                        _ => 0,
                    };
                    placement.and_then(|p| self.place(rqst, p, buf.synced(end)))
                }
                None => Err(EIO),
            };
            self.complete_rqst(Some(req), rqst, result);
        } else {
            // Flushed: the RPC is retransmitted after the reconnect.
            req.phase.store(Phase::IDLE, Ordering::Release);
            // SAFETY: the reply handler pinned it before posting the chain.
            unsafe { self.xprt.unpin_rqst(rqst) };
        }
        // The held Receive goes back to the QP, unless it is being torn
        // down (a flush means it is).
        if let Some(rep) = rep {
            if ok && !ep.events.closing.load(Ordering::Acquire) && rep.post().is_err() {
                self.fault();
            }
        }
    }

    /// `->connect`: schedules the connect worker, with backoff after a
    /// failed attempt.
    fn connect(&self, task: *mut bindings::rpc_task) {
        let xprt = self.xprt;
        let cookie = self as *const Self as *mut c_void;
        // SAFETY: the xprt and task are valid; the cookie identifies us.
        if !unsafe { bindings::xprt_lock_connect(xprt.as_ptr(), task, cookie) } {
            sunrpc::warn_once(c_str!("connect without the transport lock"));
        }
        let mut delay = 0;
        if self.connect_status.load(Ordering::Relaxed) < 0 {
            // SAFETY: the xprt is valid.
            unsafe {
                delay = bindings::xprt_reconnect_delay(xprt.as_ptr());
                bindings::xprt_reconnect_backoff(xprt.as_ptr(), 5 * bindings::xprs_hz());
            }
        }
        // SAFETY: the xprt is valid; its worker was initialized at setup.
        unsafe { bindings::xprs_queue_connect(xprt.as_ptr(), delay) };
    }

    fn connect_worker(&self) {
        let xprt = self.xprt;
        self.drop_endpoint();
        let mut step = "start";
        let mut rc = match self.establish(&mut step) {
            Ok(new) => {
                let _guard = self.ep_lock.lock();
                // SAFETY: the worker holds XPRT_LOCKED (xprt_lock_connect)
                // and `ep_lock`.
                *unsafe { self.endpoint_slot() } = Some(new);
                0
            }
            Err(e) => {
                let rc = connect_status(e);
                pr_info!("connect failed at {}: {} (tasks see {})\n", step, errno(e), rc);
                rc
            }
        };
        self.connect_status.store(rc, Ordering::Relaxed);
        xprt.clear_connecting();
        if rc == 0 {
            xprt.connected_stats();
            xprt.set_connected();
            rc = -(bindings::EAGAIN as i32);
        }
        let cookie = self as *const Self as *mut c_void;
        // SAFETY: the xprt is valid; we own the connect lock.
        unsafe {
            bindings::xprt_unlock_connect(xprt.as_ptr(), cookie);
            bindings::xprt_wake_pending_tasks(xprt.as_ptr(), rc);
        }
    }

    /// Tears the current endpoint down, if any. The caller holds
    /// `XPRT_LOCKED` (or is `destroy`).
    fn drop_endpoint(&self) {
        let _guard = self.ep_lock.lock();
        // SAFETY: the caller holds XPRT_LOCKED and we hold `ep_lock`.
        if let Some(old) = unsafe { self.endpoint_slot() }.take() {
            self.teardown(old);
        }
    }

    /// Creates and connects a new endpoint (`rpcrdma_xprt_connect()`).
    /// `step` names the stage that runs, for the log when one fails.
    fn establish(&self, step: &mut &'static str) -> Result<KBox<Endpoint>> {
        let xprt = self.xprt;
        let ours = self.cfg.ours();
        let events = KBox::new(
            EpEvents {
                xprt,
                ours,
                done: Foreign::uninit(),
                status: AtomicI32::new(0),
                resolve: AtomicI32::new(0),
                closing: AtomicBool::new(false),
                inline_send: AtomicU32::new(0),
                inline_recv: AtomicU32::new(0),
            },
            GFP_KERNEL,
        )?;
        // SAFETY: `done` is embedded in a heap allocation that does not
        // move; it is initialized before the id that signals it exists.
        unsafe { bindings::xprs_init_completion(events.done.get()) };
        let ctx = &*events as *const EpEvents as *mut c_void;
        *step = "create id";
        // SAFETY: `events` outlives the id: the endpoint drops the id
        // before `events` (see `Transport::teardown`), or this function
        // does on error (locals drop in reverse order).
        let mut id = unsafe { CmId::new(xprt.net(), cm_event, ctx)? };

        *step = "resolve address";
        // SAFETY: `addr` is the server's socket address in the xprt.
        unsafe { id.resolve_addr(xprt.addr(), RESOLVE_TIMEOUT_MS)? };
        events.wait_resolved()?;
        // SAFETY: as above.
        unsafe { bindings::xprs_reinit_completion(events.done.get()) };
        *step = "resolve route";
        id.resolve_route(RESOLVE_TIMEOUT_MS)?;
        events.wait_resolved()?;
        // SAFETY: as above.
        unsafe { bindings::xprs_reinit_completion(events.done.get()) };

        *step = "device";
        let dev = id.device().ok_or(ENODEV)?;
        // SAFETY: `events` outlives the watch (dropped first, here on error
        // and in `teardown`), and the id holds the device until then.
        let removal = unsafe { RemovalWatch::new(&dev, &*events)? };
        // As frwr_query_device(); the one failure no retry can fix.
        if !dev.supports_frwr() {
            pr_err!("device does not support FRWR\n");
            return Err(err(bindings::EPROTONOSUPPORT));
        }
        let max_fr_depth = dev.max_fr_depth().clamp(1, MAX_DATA_SEGS);
        let max_rdma_segs = MAX_DATA_SEGS
            .div_ceil(max_fr_depth)
            .saturating_add(2)
            .min(MAX_HDR_SEGS as u32);
        if max_rdma_segs.saturating_mul(max_fr_depth) < MAX_DATA_SEGS {
            return Err(ENOMEM);
        }
        let ring_slots = self.shared.lock().ring.capacity() as u32;
        // Each Send may be preceded by REG_MRs, and each req may have a
        // LOCAL_INV chain outstanding: one of each per MR it can hold.
        let per_req = 1 + 2 * 2 * max_rdma_segs;
        // As frwr_query_device(): a device whose queues cannot hold the
        // credits asked for gets fewer credits on this connection, and
        // fewer reqs in use, instead of a failed mount.
        // The CQs are as deep as the queues, so `max_cqe` bounds them too
        // (rxe: 1M work requests, but 32767 CQEs).
        let fit = QueueFit::fit(self.cfg.max_requests, dev.max_queue(), per_req, BC_SLOTS)
            .ok_or(ENOMEM)?;
        if fit.max_requests != self.cfg.max_requests {
            pr_info!(
                "device queues hold {} work requests: {} credits instead of {}\n",
                dev.max_queue(),
                fit.max_requests,
                self.cfg.max_requests
            );
        }
        let (send_wr, recv_wr) = (fit.send_wr, fit.recv_wr);
        // Reqs beyond the fit stay in the pool while this connection lasts.
        self.req_limit.store(fit.reqs, Ordering::Relaxed);
        *step = "create PD, CQs and QP";
        let pd = Pd::new(&dev)?;
        let send_cq = Cq::new(&dev, send_wr)?;
        let recv_cq = Cq::new(&dev, recv_wr)?;
        id.create_qp(&pd, &send_cq, &recv_cq, send_wr, recv_wr)?;
        *step = "buffers";
        let qp = id.qp().ok_or(err(bindings::ENOTCONN))?;
        let lkey = pd.local_dma_lkey();
        let num_reps = fit.max_requests.saturating_add(2).saturating_add(BC_SLOTS);
        let (send_bufs, send_cqes, reps) = match self.buffers(&dev, qp, lkey, ring_slots, num_reps) {
            Ok(b) => b,
            Err(e) => {
                // The QP must go before the CQs it uses.
                id.destroy_qp();
                return Err(e);
            }
        };
        let num_mrs = (self.cfg.num_reqs as usize).saturating_mul(MAX_MRS_PER_REQ);
        let num_mrs = num_mrs.min(usize::from(u16::MAX));
        let mrs = MrPool::new(num_mrs)?;
        let (max_inline_send, max_inline_recv) =
            chunk::max_inline_sizes(ours.inline_send.bytes(), ours.inline_recv.bytes(), max_rdma_segs);
        let th = Thresholds {
            page: self.cfg.page,
            max_inline_send,
            max_inline_recv,
            max_send_sge: dev.max_send_sge().min(MAX_SEND_SGES),
            max_fr_depth,
            max_rdma_segs,
            sg_gaps: dev.sg_gaps(),
        };
        let mut ep = KBox::new(
            Endpoint {
                events,
                id,
                dev,
                _removal: removal,
                pd: Some(pd),
                send_cq: Some(send_cq),
                recv_cq: Some(recv_cq),
                reps,
                send_bufs,
                send_cqes,
                mrs,
                write_pad: None,
                lkey,
                negotiated: ours,
                th,
                max_requests: fit.max_requests,
            },
            GFP_KERNEL,
        )?;
        // Fresh ring, signaling policy, credits and MR free list for the
        // new connection (the old ring was drained when the old endpoint
        // went away).
        let mr_free = match FixedStack::new(num_mrs) {
            Ok(s) => s,
            Err(e) => {
                self.teardown(ep);
                return Err(e);
            }
        };
        {
            let mut shared = self.shared.lock();
            shared.policy = SignalPolicy::new(fit.max_requests);
            shared.credits = Credits::INITIAL;
            shared.mr_free = mr_free;
        }
        // One credit until the server's first grant, and no congestion
        // slot in use: teardown took back those of the old connection.
        self.xprt
            .reset_cwnd(usize::try_from(Credits::INITIAL.cwnd()).unwrap_or(usize::MAX));
        *step = "connect";
        match self.connect_endpoint(&mut ep) {
            Ok(()) => Ok(ep),
            Err(e) => {
                self.teardown(ep);
                Err(e)
            }
        }
    }

    /// Allocates and maps the per-connection buffers: one send buffer per
    /// req, one completion context per ring slot, and the Receive buffers.
    #[allow(clippy::type_complexity)]
    fn buffers(
        &self,
        dev: &ib::Device,
        qp: *mut bindings::ib_qp,
        lkey: u32,
        ring_slots: u32,
        num_reps: u32,
    ) -> Result<(KVec<SyncCell<DmaBuf>>, KVec<SendCqe>, KVec<Rep>)> {
        let me = (self as *const Self).cast_mut();
        let send_size = self.cfg.inline_send.bytes() as usize;
        let recv_size = self.cfg.inline_recv.bytes() as usize;

        let mut send_bufs = KVec::with_capacity(self.reqs.len(), GFP_KERNEL)?;
        for _ in 0..self.reqs.len() {
            let b = DmaBuf::new(dev, send_size, true)?;
            send_bufs.push(SyncCell::new(b), GFP_KERNEL)?;
        }
        let mut send_cqes = KVec::with_capacity(ring_slots as usize, GFP_KERNEL)?;
        for slot in 0..ring_slots as usize {
            send_cqes.push(
                SendCqe {
                    cqe: Foreign::new(bindings::ib_cqe {
                        done: Some(send_done),
                    }),
                    slot,
                    transport: AtomicPtr::new(me),
                },
                GFP_KERNEL,
            )?;
        }
        let mut reps = KVec::with_capacity(num_reps as usize, GFP_KERNEL)?;
        for _ in 0..num_reps {
            let buf = DmaBuf::new(dev, recv_size, false)?;
            reps.push(
                Rep {
                    cqe: Foreign::new(bindings::ib_cqe {
                        done: Some(recv_done),
                    }),
                    buf,
                    transport: AtomicPtr::new(me),
                    ep: AtomicPtr::new(core::ptr::null_mut()),
                    qp: AtomicPtr::new(qp),
                    lkey,
                    posted: AtomicBool::new(false),
                },
                GFP_KERNEL,
            )?;
        }
        Ok((send_bufs, send_cqes, reps))
    }

    fn connect_endpoint(&self, ep: &mut Endpoint) -> Result {
        let me = ep as *mut Endpoint;
        for rep in ep.reps.iter() {
            rep.ep.store(me, Ordering::Release);
            rep.post()?;
        }
        let ours = self.cfg.ours();
        let private = ConnectPrivate::client(ours.inline_send, ours.inline_recv).encode();
        ep.id.connect(&private)?;
        self.xprt.raise_reestablish_timeout(5 * self.xprt.hz());
        // SAFETY: `done` is initialized and outlives the wait.
        let left = unsafe {
            bindings::wait_for_completion_timeout(
                ep.events.done.get(),
                CONNECT_TIMEOUT_SECS.saturating_mul(self.xprt.hz()),
            )
        };
        let status = ep.events.status.load(Ordering::Acquire);
        if status <= 0 {
            return Err(if left == 0 && status == 0 {
                err(bindings::ETIMEDOUT)
            } else {
                Error::from_errno(if status < 0 { status } else { -(bindings::ENOTCONN as i32) })
            });
        }
        let send = InlineSize::new(ep.events.inline_send.load(Ordering::Acquire));
        let recv = InlineSize::new(ep.events.inline_recv.load(Ordering::Acquire));
        if let (Some(inline_send), Some(inline_recv)) = (send, recv) {
            ep.negotiated = Negotiated {
                inline_send,
                inline_recv,
            };
            let (max_send, max_recv) = chunk::max_inline_sizes(
                inline_send.bytes(),
                inline_recv.bytes(),
                ep.th.max_rdma_segs,
            );
            ep.th.max_inline_send = max_send;
            ep.th.max_inline_recv = max_recv;
        }
        self.bc_max_payload
            .store(Config::bc_max_payload(&ep.negotiated), Ordering::Relaxed);
        self.create_write_pad(ep)?;
        // The first batch of MRs (`rpcrdma_mrs_create()`).
        self.mr_refill(ep)
    }

    /// Registers the XDR pad target of write chunks (`frwr_wp_create()`):
    /// a small buffer the peer may write the pad of an unaligned payload
    /// into. Its REG_MR is posted unsignaled.
    fn create_write_pad(&self, ep: &mut Endpoint) -> Result {
        let pd = ep.pd.as_ref().ok_or(EIO)?;
        let ctx = self as *const Self as *mut c_void;
        let mut mr = Mr::new(pd, false, 1, mr_done, ctx, u32::MAX)?;
        let mut buf = KVec::from_elem(0u8, xdr::XDR_UNIT, GFP_KERNEL)?;
        // SAFETY: the MR is new and unmapped; the buffer lives as long as
        // the MR (both are dropped together at teardown, after the drain).
        unsafe { mr.set_buf(0, buf.as_mut_ptr().cast(), xdr::XDR_UNIT as u32) };
        let seg = mr.map(&ep.dev, 1, true, 0)?;
        let qp = ep.id.qp().ok_or(EIO)?;
        let wr = mr.reg_wr();
        // SAFETY: the request is the MR's own; the MR lives in the
        // endpoint until it is drained.
        unsafe { ib::post_chain(qp, wr)? };
        ep.write_pad = Some(WritePad {
            seg: seg.to_wire(),
            _mr: Unshared::new((mr, buf)),
        });
        Ok(())
    }

    /// Tears an endpoint down (`rpcrdma_xprt_disconnect()`): disconnect,
    /// drain Receives then Sends, release the Send owners left in the
    /// ring, fence the MRs, then free the verbs objects and the id.
    fn teardown(&self, mut ep: KBox<Endpoint>) {
        self.tearing_down.store(true, Ordering::Release);
        ep.events.closing.store(true, Ordering::Release);
        ep.id.disconnect();
        ep.id.drain();
        ep.id.destroy_qp();
        drop(ep.send_cq.take());
        drop(ep.recv_cq.take());
        self.release_ring(None);
        // Credits are valid for one connection only (`rpcrdma_req_reset()`):
        // RPCs sent on this one give up their congestion slots, so their
        // retransmits take new ones under the next connection's grant.
        // Otherwise those slots outlive the `cong = 0` of the next connect
        // and their puts wrap `cong`, stalling every sender in CWND_WAIT.
        // SAFETY: the reqs' rqsts live as long as this transport.
        unsafe { self.xprt.forget_congestion(self.reqs.iter().map(Req::rqst)) };

        // Pool accounting: after the drain every Receive has completed,
        // and every MR not on the free list is held by an RPC that will
        // be retransmitted (its MRs are unmapped as they are freed below).
        let reps_home = ep.reps.iter().filter(|r| !r.posted.load(Ordering::Acquire)).count();
        let allocated = ep.mrs.filled();
        let mrs_home = {
            let mut shared = self.shared.lock();
            let home = shared.mr_free.len();
            shared.mr_free.clear();
            home
        };
        let orphaned = allocated.saturating_sub(mrs_home);
        add(&self.stats.mrs_orphaned, orphaned as u64);
        let a = &self.accounting;
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        a.reps_home.store(n(reps_home), Ordering::Relaxed);
        a.reps.store(n(ep.reps.len()), Ordering::Relaxed);
        a.mrs_home.store(n(mrs_home), Ordering::Relaxed);
        a.mrs.store(n(allocated), Ordering::Relaxed);

        // The rest goes in the order of the type invariant of `Endpoint`.
        drop(ep);
        self.tearing_down.store(false, Ordering::Release);
    }

    /// A completion reported a broken connection: ask sunrpc to close it,
    /// unless teardown is already draining it.
    fn fault(&self) {
        if !self.tearing_down.load(Ordering::Acquire) {
            self.xprt.force_disconnect();
        }
    }

    /// `->close` (`xprt_rdma_close()`).
    fn close(&self) {
        self.drop_endpoint();
        self.xprt.closed();
    }

    /// `->inject_disconnect`: drops the connection as a fault would. The
    /// caller holds `XPRT_LOCKED`.
    fn inject_disconnect(&self) {
        // SAFETY: the caller holds XPRT_LOCKED.
        if let Some(ep) = unsafe { self.endpoint() } {
            ep.id.disconnect();
        }
    }

    fn print_stats(&self, seq: *mut bindings::seq_file) {
        let x = self.xprt;
        let s = &self.stats;
        let st = x.stat();
        let hz = x.hz().max(1);
        let idle = if x.connected() {
            (x.jiffies().wrapping_sub(x.last_used()) as isize) / hz as isize
        } else {
            0
        };
        let v = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let line = CString::try_from_fmt(fmt!(
            "\txprt:\trdma 0 {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} 0\n",
            st.bind_count,
            st.connect_count,
            st.connect_time / hz,
            idle,
            st.sends,
            st.recvs,
            st.bad_xids,
            st.req_u,
            st.bklog_u,
            v(&s.read_chunk_count),
            v(&s.write_chunk_count),
            v(&s.reply_chunk_count),
            v(&s.total_rdma_request),
            v(&s.total_rdma_reply),
            v(&s.pullup_copy_count),
            v(&s.fixup_copy_count),
            v(&s.hardway_register_count),
            v(&s.failed_marshal_count),
            v(&s.bad_reply_count),
            v(&s.nomsg_call_count),
            v(&s.mrs_recycled),
            v(&s.mrs_orphaned),
            v(&s.mrs_allocated),
            v(&s.local_inv_needed),
            v(&s.empty_sendctx_q),
        ));
        if let Ok(line) = line {
            // SAFETY: `seq` is the seq_file the caller is printing to.
            unsafe { bindings::xprs_seq_puts(seq, line.as_char_ptr()) };
        }
    }

    /// Logs the pool accounting at destroy: every req must be home, and
    /// the last teardown must have found every rep and MR home.
    fn account(&self) {
        let reqs_home = self.shared.lock().free.iter().filter(|r| r.is_some()).count();
        let a = &self.accounting;
        let l = |c: &AtomicU32| c.load(Ordering::Relaxed);
        pr_info!(
            "destroy: reqs home {}/{}, reps home {}/{}, mrs home {}/{}\n",
            reqs_home,
            self.reqs.len(),
            l(&a.reps_home),
            l(&a.reps),
            l(&a.mrs_home),
            l(&a.mrs)
        );
        pr_info!(
            "replies: dropped {} (req not awaiting one), unmatched {}\n",
            self.stats.replies_dropped.load(Ordering::Relaxed),
            self.stats.replies_unmatched.load(Ordering::Relaxed)
        );
        if reqs_home != self.reqs.len() {
            sunrpc::warn_once(c_str!("I5: reqs missing from the pool at destroy"));
        }
    }
}

impl MrSegment {
    fn to_wire(self) -> Segment {
        Segment {
            handle: self.handle,
            length: self.length,
            offset: self.offset,
        }
    }
}

impl EpEvents {
    fn wait_resolved(&self) -> Result {
        // SAFETY: `done` is initialized and outlives the wait.
        let left = unsafe {
            bindings::wait_for_completion_timeout(
                self.done.get(),
                (RESOLVE_TIMEOUT_MS / 1000 + 1) as usize * self.xprt.hz(),
            )
        };
        if left == 0 {
            return Err(err(bindings::ETIMEDOUT));
        }
        match self.resolve.load(Ordering::Acquire) {
            0 => Ok(()),
            e => Err(Error::from_errno(e)),
        }
    }

    fn wake(&self) {
        // SAFETY: `done` is initialized before the id exists.
        unsafe { bindings::complete(self.done.get()) };
    }

    /// A connected endpoint lost its connection: ask sunrpc to close it,
    /// unless teardown already runs.
    fn force_disconnect(&self) {
        if !self.closing.load(Ordering::Acquire) {
            self.xprt.force_disconnect();
        }
    }

    fn event(&self, event: &bindings::rdma_cm_event) {
        let neg = |e: u32| -(e as i32);
        match event.event {
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_ADDR_RESOLVED
            | bindings::rdma_cm_event_type_RDMA_CM_EVENT_ROUTE_RESOLVED => {
                self.resolve.store(0, Ordering::Release);
                self.wake();
            }
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_ADDR_ERROR => {
                self.resolve.store(neg(bindings::EPROTO), Ordering::Release);
                self.wake();
            }
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_ROUTE_ERROR => {
                self.resolve.store(neg(bindings::ENETUNREACH), Ordering::Release);
                self.wake();
            }
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_ESTABLISHED => {
                // SAFETY: for ESTABLISHED the `conn` member is the valid one,
                // and its private data holds `private_data_len` bytes.
                let peer = unsafe {
                    let conn = &event.param.conn;
                    if conn.private_data.is_null() {
                        None
                    } else {
                        Some(core::slice::from_raw_parts(
                            conn.private_data.cast::<u8>(),
                            conn.private_data_len as usize,
                        ))
                    }
                };
                let n = cm_private::negotiate(self.ours, peer);
                self.inline_send.store(n.inline_send.bytes(), Ordering::Release);
                self.inline_recv.store(n.inline_recv.bytes(), Ordering::Release);
                // A device removal (or any failure) reported first stands:
                // the connect worker then tears this connection down
                // instead of running on a device being removed.
                let _ = self
                    .status
                    .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire);
                self.wake();
            }
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_CONNECT_ERROR => {
                self.connect_failed(neg(bindings::ENOTCONN));
            }
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_UNREACHABLE => {
                self.connect_failed(neg(bindings::ENETUNREACH));
            }
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_REJECTED => {
                // A stale-connection reject means the peer still had our
                // old connection: simply try again.
                self.connect_failed(if event.status == IB_CM_REJ_STALE_CONN {
                    neg(bindings::ENOTCONN)
                } else {
                    neg(bindings::ECONNREFUSED)
                });
            }
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_ADDR_CHANGE => self.lost(neg(bindings::ENODEV)),
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_DISCONNECTED => {
                self.lost(neg(bindings::ECONNABORTED))
            }
            // DEVICE_REMOVAL is handled by our ib_client, which also waits
            // for the endpoint to release the device.
            _ => {}
        }
    }

    /// The connection, or the attempt to make one, is gone: wake the
    /// connect worker or ask sunrpc to close.
    fn lost(&self, rc: i32) {
        match self.status.swap(rc, Ordering::AcqRel) {
            0 => self.wake(),
            1 => self.force_disconnect(),
            _ => {}
        }
    }

    fn connect_failed(&self, rc: i32) {
        if self
            .status
            .compare_exchange(0, rc, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.wake();
        }
    }
}

impl RemovalNotify for EpEvents {
    fn device_removed(&self) {
        pr_info!("device removal: closing the connection\n");
        self.lost(-(bindings::ENODEV as i32));
    }
}

impl Rep {
    fn post(&self) -> Result {
        // I1: a rep handed to the HCA is not still owned by it (its last
        // Receive completed and the reply handler is done with it).
        let was_posted = self.posted.swap(true, Ordering::AcqRel);
        if !lifetime::i1_rep_postable(was_posted) {
            sunrpc::warn_once(c_str!("I1: Receive posted twice"));
            return Err(EIO);
        }
        let buf = &self.buf;
        let len = u32::try_from(buf.len()).map_err(|_| EINVAL)?;
        let qp = self.qp.load(Ordering::Relaxed);
        // SAFETY: the rep is not posted (checked above), so no Receive uses
        // its buffer or cqe. The QP lives as long as the endpoint that owns
        // this rep, which drains the QP before dropping its reps.
        let rc = unsafe { ib::post_recv(qp, self.cqe.get(), buf.addr(), len, self.lkey) };
        if rc.is_err() {
            self.posted.store(false, Ordering::Release);
        }
        rc
    }
}

/// rdma_cm event handler; `id->context` is the endpoint's [`EpEvents`].
unsafe extern "C" fn cm_event(
    id: *mut bindings::rdma_cm_id,
    event: *mut bindings::rdma_cm_event,
) -> i32 {
    // SAFETY: the context was set to a live `EpEvents` that outlives the
    // id (see `Transport::establish`); `event` is valid for the call.
    unsafe {
        let events = &*(*id).context.cast::<EpEvents>();
        events.event(&*event);
    }
    0
}

/// Returns true for a completion that means the connection is broken
/// (anything but success or a flush).
fn fatal(status: bindings::ib_wc_status) -> bool {
    status != bindings::ib_wc_status_IB_WC_SUCCESS
        && status != bindings::ib_wc_status_IB_WC_WR_FLUSH_ERR
}

/// Send completion handler.
unsafe extern "C" fn send_done(_cq: *mut bindings::ib_cq, wc: *mut bindings::ib_wc) {
    // SAFETY: `wr_cqe` is the `cqe` field (first, `repr(C)`) of a
    // `SendCqe` in the live endpoint: the QP is drained before the
    // endpoint's cqes are freed.
    let (cqe, status) = unsafe {
        (
            &*(*wc).__bindgen_anon_1.wr_cqe.cast::<SendCqe>(),
            (*wc).status,
        )
    };
    // SAFETY: set when the endpoint was built; the transport outlives its
    // endpoints.
    let t = unsafe { &*cqe.transport.load(Ordering::Relaxed) };
    t.send_done(cqe.slot);
    if fatal(status) {
        t.fault();
    }
}

/// Completion handler of REG_MR and unsignaled LOCAL_INV work requests,
/// which complete only when they fail or are flushed.
unsafe extern "C" fn mr_done(_cq: *mut bindings::ib_cq, wc: *mut bindings::ib_wc) {
    // SAFETY: `wr_cqe` is the cqe of a live MR: MRs are freed after the
    // drain.
    let (ctx, status) = unsafe { (Mr::of_cqe((*wc).__bindgen_anon_1.wr_cqe).0, (*wc).status) };
    if fatal(status) {
        // SAFETY: the MR's context is its transport, which outlives it.
        let t = unsafe { &*ctx.cast::<Transport>() };
        t.fault();
    }
}

/// Completion handler of the last LOCAL_INV of a req's chain.
unsafe extern "C" fn inv_done(_cq: *mut bindings::ib_cq, wc: *mut bindings::ib_wc) {
    // SAFETY: `wr_cqe` is the `cqe` field (first, `repr(C)`) of a req's
    // `InvCtx`; reqs live as long as the transport.
    let (inv, status) = unsafe {
        (
            &*(*wc).__bindgen_anon_1.wr_cqe.cast::<InvCtx>(),
            (*wc).status,
        )
    };
    // SAFETY: set at setup; the transport outlives its endpoints.
    let Some(t) = (unsafe { inv.transport.load(Ordering::Acquire).as_ref() }) else {
        return;
    };
    let Some(req) = t.req(ReqId(inv.req)) else {
        return;
    };
    t.local_inv_done(req, status == bindings::ib_wc_status_IB_WC_SUCCESS);
}

/// Receive completion handler.
unsafe extern "C" fn recv_done(_cq: *mut bindings::ib_cq, wc: *mut bindings::ib_wc) {
    // SAFETY: as for `send_done`, for a `Rep`; the completion is valid
    // for the call.
    let (rep, wc) = unsafe { (&*(*wc).__bindgen_anon_1.wr_cqe.cast::<Rep>(), &*wc) };
    rep.posted.store(false, Ordering::Release);
    // SAFETY: set when the endpoint was built; the transport outlives its
    // endpoints.
    let t = unsafe { &*rep.transport.load(Ordering::Relaxed) };
    if wc.status != bindings::ib_wc_status_IB_WC_SUCCESS {
        if fatal(wc.status) {
            t.fault();
        }
        return;
    }
    // SAFETY: set before the rep was first posted; the endpoint is
    // drained (so this handler has returned) before it is freed.
    let Some(ep) = (unsafe { rep.ep.load(Ordering::Acquire).as_ref() }) else {
        return;
    };
    let inv_rkey = if wc.wc_flags & bindings::ib_wc_flags_IB_WC_WITH_INVALIDATE as i32 != 0 {
        // SAFETY: with IB_WC_WITH_INVALIDATE the union holds the rkey.
        Some(unsafe { wc.ex.invalidate_rkey })
    } else {
        None
    };
    {
        // The Receive completed: the device no longer writes the buffer
        // until it is posted again below.
        let buf = &rep.buf;
        if t.reply(ep, rep, buf.sync_for_cpu(wc.byte_len as usize), inv_rkey) {
            // Held until the req's LOCAL_INV chain completes.
            return;
        }
    }
    // No repost once teardown began (`re_receiving`): the QP is about to
    // be drained, and the rep counts as home.
    if ep.events.closing.load(Ordering::Acquire) {
        return;
    }
    if rep.post().is_err() {
        t.fault();
    }
}

/// The class's `setup` (`xprt_setup_rdma()`), called by sunrpc through the
/// C shim `xprs_class_setup`.
#[no_mangle]
extern "C" fn xprs_setup(
    args: *mut bindings::xprt_create,
    out: *mut *mut bindings::rpc_xprt,
) -> core::ffi::c_int {
    // SAFETY: sunrpc passes valid creation arguments.
    let args = unsafe { &*args };
    match setup(args) {
        Ok(xprt) => {
            // SAFETY: `out` is the shim's local.
            unsafe { *out = xprt };
            0
        }
        Err(e) => errno(e),
    }
}

fn setup(args: &bindings::xprt_create) -> Result<*mut bindings::rpc_xprt> {
    let cfg = Config::from_params()?;
    let xprt = Xprt::alloc(args, cfg.max_requests)?;
    let t = match Transport::new(xprt, cfg) {
        Ok(t) => t,
        Err(e) => {
            xprt.free();
            return Err(e);
        }
    };
    // SAFETY: the transport is never moved out of its box; destroy turns
    // the pointer back into the box.
    let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(t) });
    xprt.set_priv(raw.cast());
    xprt.set_max_payload((MAX_DATA_SEGS as usize) << kernel::page::PAGE_SHIFT);
    Ok(xprt.as_ptr())
}

/// Turns a Rust result into the `int` sunrpc expects.
fn ret(r: Result) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => errno(e),
    }
}

#[no_mangle]
extern "C" fn xprs_op_alloc_slot(xprt: *mut bindings::rpc_xprt, task: *mut bindings::rpc_task) {
    // SAFETY: sunrpc calls ops only on live transports of this class.
    unsafe { Transport::of(xprt) }.alloc_slot(task)
}

#[no_mangle]
extern "C" fn xprs_op_free_slot(xprt: *mut bindings::rpc_xprt, rqst: *mut bindings::rpc_rqst) {
    // SAFETY: as above.
    unsafe { Transport::of(xprt) }.free_slot(rqst)
}

#[no_mangle]
extern "C" fn xprs_op_buf_alloc(task: *mut bindings::rpc_task) -> i32 {
    // SAFETY: the task holds a rqst of a live transport of this class.
    let t = unsafe { Transport::of((*(*task).tk_rqstp).rq_xprt) };
    ret(t.buf_alloc(task))
}

#[no_mangle]
extern "C" fn xprs_op_buf_free(task: *mut bindings::rpc_task) {
    // SAFETY: as above.
    let t = unsafe { Transport::of((*(*task).tk_rqstp).rq_xprt) };
    t.buf_free(task)
}

#[no_mangle]
extern "C" fn xprs_op_send_request(rqst: *mut bindings::rpc_rqst) -> i32 {
    // SAFETY: the rqst belongs to a live transport of this class.
    let t = unsafe { Transport::of((*rqst).rq_xprt) };
    ret(t.send_request(rqst))
}

#[no_mangle]
extern "C" fn xprs_op_close(xprt: *mut bindings::rpc_xprt) {
    // SAFETY: as above.
    unsafe { Transport::of(xprt) }.close()
}

#[no_mangle]
extern "C" fn xprs_op_bc_setup(_xprt: *mut bindings::rpc_xprt, _min_reqs: u32) -> i32 {
    // The backchannel reqs were allocated with the transport.
    0
}

#[no_mangle]
extern "C" fn xprs_op_bc_maxpayload(xprt: *mut bindings::rpc_xprt) -> usize {
    // SAFETY: sunrpc passes one of our live transports.
    let t = unsafe { Transport::of(xprt) };
    t.bc_max_payload.load(Ordering::Relaxed) as usize
}

#[no_mangle]
extern "C" fn xprs_op_bc_num_slots(_xprt: *mut bindings::rpc_xprt) -> u32 {
    BC_SLOTS
}

#[no_mangle]
extern "C" fn xprs_op_bc_free_rqst(rqst: *mut bindings::rpc_rqst) {
    // SAFETY: the rqst is one of our backchannel rqsts, whose `rq_xprt`
    // was set when the call arrived; the callback service holds a
    // reference on that transport until this call.
    let t = unsafe { Transport::of((*rqst).rq_xprt) };
    t.bc_free_rqst(rqst);
}

#[no_mangle]
extern "C" fn xprs_op_inject_disconnect(xprt: *mut bindings::rpc_xprt) {
    // SAFETY: as above.
    unsafe { Transport::of(xprt) }.inject_disconnect()
}

#[no_mangle]
extern "C" fn xprs_op_connect(xprt: *mut bindings::rpc_xprt, task: *mut bindings::rpc_task) {
    // SAFETY: as above.
    unsafe { Transport::of(xprt) }.connect(task)
}

#[no_mangle]
extern "C" fn xprs_connect_worker(xprt: *mut bindings::rpc_xprt) {
    // SAFETY: destroy cancels the worker before freeing the transport.
    unsafe { Transport::of(xprt) }.connect_worker()
}

#[no_mangle]
extern "C" fn xprs_op_set_connect_timeout(
    xprt: *mut bindings::rpc_xprt,
    connect_timeout: usize,
    reconnect_timeout: usize,
) {
    Xprt::from_raw(xprt).set_connect_timeout(connect_timeout, reconnect_timeout)
}

#[no_mangle]
extern "C" fn xprs_op_print_stats(xprt: *mut bindings::rpc_xprt, seq: *mut bindings::seq_file) {
    // SAFETY: as above.
    unsafe { Transport::of(xprt) }.print_stats(seq)
}

#[no_mangle]
extern "C" fn xprs_op_destroy(xprt: *mut bindings::rpc_xprt) {
    let x = Xprt::from_raw(xprt);
    x.cancel_connect_sync();
    // SAFETY: setup stored the leaked box; nothing else runs on this
    // transport any more (sunrpc destroys it last), so this is the only
    // reference.
    let t = unsafe { KBox::from_raw(bindings::xprs_xprt_priv(xprt).cast::<Transport>()) };
    t.drop_endpoint();
    t.account();
    drop(t);
    x.free();
}
