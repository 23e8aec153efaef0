// SPDX-License-Identifier: GPL-2.0

//! The RPC-over-RDMA transport: setup, connection, slots, and the inline
//! (RDMA_MSG only) send and receive paths.
//!
//! Every call and reply travels inline: `max_payload` is kept small enough
//! (`MAX_PAYLOAD`) that the NFS client clamps rsize, wsize and dtsize so
//! that no message needs a chunk.

use crate::bindings;
use crate::ib::{self, Cq, DmaBuf, Pd};
use crate::proto::cm_private::{self, ConnectPrivate, InlineSize, Negotiated};
use crate::proto::credits::Credits;
use crate::proto::header::{Body, ChunkLists, Fixed, Header, Limits, ReplyBody};
use crate::proto::lifetime::{Pool, Pooled, ReqId, ReqRef, Released, RpcOwner, SendOwner};
use crate::proto::sendctx::{SendCtxRing, SignalPolicy, Slot};
use crate::rdma_cm::CmId;
use crate::sunrpc::{self, Xprt};
use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use kernel::error::Error;
use kernel::prelude::*;
use kernel::sync::SpinLock;
use kernel::types::Opaque;
use kernel::{c_str, fmt, new_spinlock, str::CString};

/// Credits this client asks for (`re_max_requests`).
const MAX_REQUESTS: u32 = 32;
/// Inline buffer size this client offers in both directions.
const INLINE_SIZE: InlineSize = match InlineSize::new(4096) {
    Some(s) => s,
    None => cm_private::DEFAULT_INLINE_SIZE,
};
/// Largest RPC payload: small enough that every call and reply is inline.
const MAX_PAYLOAD: usize = 1024;
/// Initial size of each req's call and reply buffers.
const RPC_BUF_SIZE: usize = 2 * 1024;
/// Receives kept posted: one per credit plus two spares.
const NUM_REPS: u32 = MAX_REQUESTS + 2;
/// rdma_cm address and route resolution timeout.
const RESOLVE_TIMEOUT_MS: u32 = 5000;
/// How long the connect worker waits for ESTABLISHED or an error.
const CONNECT_TIMEOUT_SECS: usize = 60;

/// Reqs in the pool: the credits plus one signaling batch of slack.
const NUM_REQS: u32 = MAX_REQUESTS + crate::proto::sendctx::req_pool_slack(MAX_REQUESTS);
/// Sendctx ring slots: each req has at most one Send outstanding per
/// connection, so one more slot than reqs never fills.
const RING_SLOTS: usize = NUM_REQS as usize + 1;

/// Send owners collected under the ring lock and released after it, so
/// that routing a req (which may wake a backlog waiter) never runs under
/// the lock. It holds a whole ring's worth: no allocation in completion
/// context.
struct OwnerBatch {
    owners: [Option<SendOwner>; RING_SLOTS],
    len: usize,
}

impl OwnerBatch {
    fn new() -> Self {
        Self {
            owners: [const { None }; RING_SLOTS],
            len: 0,
        }
    }

    fn push(&mut self, owner: SendOwner) {
        match self.owners.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(owner);
                self.len = self.len.saturating_add(1);
            }
            // A ring of RING_SLOTS slots holds fewer owners than that.
            None => sunrpc::warn_once(c_str!("Send owner batch overflow: req leaked")),
        }
    }
}

fn errno(e: Error) -> i32 {
    e.to_errno()
}

/// Returns the error for a positive errno constant from the bindings.
fn err(e: u32) -> Error {
    Error::from_errno(-(e as i32))
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

/// Transport statistics (the rdma columns of `xprt: rdma`).
#[derive(Default)]
struct Stats {
    pullup_copy_count: AtomicU64,
    fixup_copy_count: AtomicU64,
    failed_marshal_count: AtomicU64,
    bad_reply_count: AtomicU64,
    empty_sendctx_q: AtomicU64,
}

/// The call and reply buffers of one req (`rq_buffer`, `rq_rbuffer`).
struct RpcBufs {
    call: KVec<u8>,
    reply: KVec<u8>,
}

/// One request slot (`rpcrdma_req`).
///
/// # Invariants
///
/// - `rqst` is handed to the RPC layer only while `rpc` holds the
///   [`RpcOwner`] token; the RPC layer then has exclusive use of `rpc` and
///   `bufs` until `free_slot`.
/// - `send` is written only by `send_request`, which the RPC layer runs
///   for a rqst it owns under `XPRT_LOCKED`, and only while no Send of this
///   req is outstanding on the current connection.
struct Req {
    rqst: Opaque<bindings::rpc_rqst>,
    kref: ReqRef<AtomicU32>,
    rpc: UnsafeCell<Option<RpcOwner>>,
    bufs: UnsafeCell<RpcBufs>,
}

/// A Send completion context: one per sendctx ring slot.
#[repr(C)]
struct SendCqe {
    cqe: Opaque<bindings::ib_cqe>,
    slot: usize,
    transport: *const Transport,
}

/// A Receive buffer and its completion context (`rpcrdma_rep`).
#[repr(C)]
struct Rep {
    cqe: Opaque<bindings::ib_cqe>,
    buf: UnsafeCell<DmaBuf>,
    transport: *const Transport,
    qp: *mut bindings::ib_qp,
    lkey: u32,
}

/// State the rdma_cm event handler shares with the connect worker.
struct EpEvents {
    xprt: Xprt,
    done: Opaque<bindings::completion>,
    /// 0 while connecting, 1 when established, a negative errno on failure.
    status: AtomicI32,
    /// The result of address or route resolution.
    resolve: AtomicI32,
    /// Set once teardown starts: no more close requests.
    closing: AtomicBool,
    inline_send: AtomicU32,
    inline_recv: AtomicU32,
}

/// One connection (`rpcrdma_ep`). Fields are dropped in teardown order by
/// [`Endpoint::teardown`].
struct Endpoint {
    events: KBox<EpEvents>,
    id: CmId,
    pd: Option<Pd>,
    send_cq: Option<Cq>,
    recv_cq: Option<Cq>,
    reps: KVec<Rep>,
    send_bufs: KVec<UnsafeCell<DmaBuf>>,
    send_cqes: KVec<SendCqe>,
    lkey: u32,
    negotiated: Negotiated,
}

/// State shared between the send path, completions and slot allocation.
struct Shared {
    /// Idle reqs, indexed by req id.
    free: KVec<Option<Pooled>>,
    ring: SendCtxRing<Slots>,
    policy: SignalPolicy,
    credits: Credits,
}

/// The Rust side of one `rpc_xprt`.
///
/// # Invariants
///
/// - `xprt` is the transport this state was created for and outlives it.
/// - `ep` is accessed only by holders of `XPRT_LOCKED` (the connect
///   worker, `send_request`, `close`) or by `destroy` once nothing else
///   runs.
#[pin_data]
pub(crate) struct Transport {
    xprt: Xprt,
    reqs: KVec<Req>,
    #[pin]
    shared: SpinLock<Shared>,
    ep: UnsafeCell<Option<KBox<Endpoint>>>,
    connect_status: AtomicI32,
    stats: Stats,
}

// SAFETY: the raw pointers inside are to kernel objects that may be used
// from any thread; the interior mutability is guarded as documented on
// each type.
unsafe impl Send for Transport {}
// SAFETY: as above.
unsafe impl Sync for Transport {}

impl Req {
    fn rqst(&self) -> *mut bindings::rpc_rqst {
        self.rqst.get()
    }
}

impl Transport {
    fn new(xprt: Xprt) -> Result<Pin<KBox<Self>>> {
        let n = NUM_REQS;
        let mut reqs = KVec::with_capacity(n as usize, GFP_KERNEL)?;
        let mut free = KVec::with_capacity(n as usize, GFP_KERNEL)?;
        for i in 0..n {
            let (kref, pooled) = ReqRef::new(ReqId(i), Pool::Free);
            let bufs = RpcBufs {
                call: KVec::from_elem(0u8, RPC_BUF_SIZE, GFP_KERNEL)?,
                reply: KVec::from_elem(0u8, RPC_BUF_SIZE, GFP_KERNEL)?,
            };
            reqs.push(
                Req {
                    // SAFETY: all zeroes is a valid, idle `rpc_rqst`.
                    rqst: Opaque::new(unsafe { core::mem::zeroed() }),
                    kref,
                    rpc: UnsafeCell::new(None),
                    bufs: UnsafeCell::new(bufs),
                },
                GFP_KERNEL,
            )?;
            free.push(Some(pooled), GFP_KERNEL)?;
        }
        let mut slots = KVec::with_capacity(RING_SLOTS, GFP_KERNEL)?;
        for _ in 0..RING_SLOTS {
            slots.push(None, GFP_KERNEL)?;
        }
        let shared = Shared {
            free,
            ring: SendCtxRing::new(Slots(slots)),
            policy: SignalPolicy::new(MAX_REQUESTS),
            credits: Credits::INITIAL,
        };
        KBox::pin_init(
            pin_init!(Self {
                xprt,
                reqs,
                shared <- new_spinlock!(shared, "xprtrdma_rs::shared"),
                ep: UnsafeCell::new(None),
                connect_status: AtomicI32::new(0),
                stats: Stats::default(),
            }),
            GFP_KERNEL,
        )
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
        self.reqs.iter().find(|r| r.rqst() == rqst)
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

    fn pool_pop(&self) -> Option<Pooled> {
        self.shared.lock().free.iter_mut().find_map(Option::take)
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
        if let Some(pooled) = self.pool_pop() {
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
        if let Some(pooled) = self.pool_pop() {
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
            Ok(Some(released)) => self.to_pool(req, released),
            Ok(None) => {}
            Err(_) => sunrpc::warn_once(c_str!("req refcount underflow")),
        }
    }

    fn to_pool(&self, req: &Req, released: Released) {
        // SAFETY: the req is released: nobody uses its rqst. All zeroes
        // is the idle state of an `rpc_rqst`.
        unsafe { core::ptr::write_bytes(req.rqst(), 0, 1) };
        match req.kref.to_pool(released, Pool::Free) {
            Ok(pooled) => self.pool_push(pooled),
            Err(_) => sunrpc::warn_once(c_str!("released req still counted")),
        }
    }

    /// Routes a req whose last owner let go (`rpcrdma_req_release()`).
    fn release(&self, released: Released) {
        let Some(req) = self.req(released.req()) else {
            sunrpc::warn_once(c_str!("released req out of range"));
            return;
        };
        match req.kref.to_backlog(released) {
            Ok(owner) => self.hand_to_backlog(req, owner),
            Err(_) => sunrpc::warn_once(c_str!("released req still counted")),
        }
    }

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

    fn buf_alloc(&self, task: *mut bindings::rpc_task) -> Result {
        // SAFETY: `task` is valid and owns `tk_rqstp`.
        let rqst = unsafe { (*task).tk_rqstp };
        let req = self.req_of(rqst).ok_or(EINVAL)?;
        // SAFETY: the RPC layer owns the rqst (type invariant of `Req`).
        let (callsize, rcvsize) = unsafe { ((*rqst).rq_callsize, (*rqst).rq_rcvsize) };
        // SAFETY: as above: the buffers belong to the owner.
        let bufs = unsafe { &mut *req.bufs.get() };
        let flags = GFP_KERNEL | __GFP_NOWARN;
        if bufs.call.len() < callsize {
            bufs.call = KVec::from_elem(0u8, callsize, flags)?;
        }
        if bufs.reply.len() < rcvsize {
            bufs.reply = KVec::from_elem(0u8, rcvsize, flags)?;
        }
        // SAFETY: as above.
        unsafe {
            (*rqst).rq_buffer = bufs.call.as_mut_ptr().cast();
            (*rqst).rq_rbuffer = bufs.reply.as_mut_ptr().cast();
        }
        Ok(())
    }

    /// Returns the current endpoint.
    ///
    /// # Safety
    ///
    /// The caller holds `XPRT_LOCKED` (see the type invariant).
    unsafe fn endpoint(&self) -> &mut Option<KBox<Endpoint>> {
        // SAFETY: the caller serializes access as the invariant requires.
        unsafe { &mut *self.ep.get() }
    }

    fn send_request(&self, rqst: *mut bindings::rpc_rqst) -> Result {
        let xprt = self.xprt;
        if !xprt.connected() {
            return Err(err(bindings::ENOTCONN));
        }
        // SAFETY: the xprt and rqst are valid.
        if !unsafe { bindings::xprt_request_get_cong(xprt.as_ptr(), rqst) } {
            return Err(err(bindings::EBADSLT));
        }
        // A retransmit on the same connection would reuse a send buffer
        // the HCA may still read, and throws off credit accounting: drop
        // the connection instead, before touching the buffer.
        // SAFETY: the rqst is owned by the caller.
        if unsafe { (*rqst).rq_connect_cookie } == xprt.connect_cookie() {
            self.close();
            return Err(err(bindings::ENOTCONN));
        }
        let req = self.req_of(rqst).ok_or(EINVAL)?;
        // SAFETY: send_request runs under XPRT_LOCKED.
        let Some(ep) = (unsafe { self.endpoint() }).as_deref() else {
            return Err(err(bindings::ENOTCONN));
        };
        let len = match self.marshal(ep, req, rqst) {
            Ok(len) => len,
            Err(e) => {
                self.stats.failed_marshal_count.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        // SAFETY: the rqst is owned by the caller.
        unsafe { (*rqst).rq_xtime = bindings::ktime_get() };
        if self.post(ep, req, len).is_err() {
            self.close();
            return Err(err(bindings::ENOTCONN));
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

    /// Builds the RDMA_MSG header and pulls the whole call up behind it in
    /// the req's send buffer. Returns the message length.
    fn marshal(&self, ep: &Endpoint, req: &Req, rqst: *mut bindings::rpc_rqst) -> Result<u32> {
        let idx = self.req_index(req)?;
        let cell = ep.send_bufs.get(idx).ok_or(EINVAL)?;
        // SAFETY: `Req` invariant: no Send of this req is outstanding on
        // this connection (retransmits drop it), and the caller owns it.
        let sendbuf = unsafe { &mut *cell.get() };
        // SAFETY: the rqst is owned by the caller.
        let (xid, snd) = unsafe { (u32::from_be((*rqst).rq_xid), &(*rqst).rq_snd_buf) };
        let hdr = Header {
            xid,
            credits: MAX_REQUESTS,
            body: Body::Msg(ChunkLists::default()),
        };
        let limit = (ep.negotiated.inline_send.bytes() as usize).min(sendbuf.len());
        let buf = sendbuf.as_mut_slice().get_mut(..limit).ok_or(EIO)?;
        let hdrlen = hdr.encode(buf).map_err(|_| EIO)?;
        let rpclen = snd.len as usize;
        let total = hdrlen.checked_add(rpclen).ok_or(EIO)?;
        if total > limit {
            // This transport sends every call inline.
            return Err(EIO);
        }
        // SAFETY: `hdrlen + rpclen <= limit` bytes fit in the send buffer.
        let dst = unsafe { sendbuf.as_mut_ptr().add(hdrlen) };
        // SAFETY: `snd` is the rqst's encoded call; `dst` has room for
        // `rpclen` bytes.
        let rc = unsafe {
            bindings::read_bytes_from_xdr_buf(snd, 0, dst.cast(), snd.len)
        };
        if rc != 0 {
            return Err(EIO);
        }
        self.stats
            .pullup_copy_count
            .fetch_add(rpclen as u64, Ordering::Relaxed);
        u32::try_from(total).map_err(|_| EIO)
    }

    fn req_index(&self, req: &Req) -> Result<usize> {
        Ok(req.kref.id().0 as usize)
    }

    /// Claims a sendctx, takes the Send owner and posts the Send.
    fn post(&self, ep: &Endpoint, req: &Req, len: u32) -> Result {
        let idx = self.req_index(req)?;
        let (slot, signaled) = {
            let mut shared = self.shared.lock();
            let Some(claim) = shared.ring.claim() else {
                drop(shared);
                self.stats.empty_sendctx_q.fetch_add(1, Ordering::Relaxed);
                // SAFETY: the xprt is valid.
                unsafe { bindings::xprt_wait_for_buffer_space(self.xprt.as_ptr()) };
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
            (slot, shared.policy.signal(false, 1))
        };
        let sendbuf_cell = ep.send_bufs.get(idx).ok_or(EIO)?;
        // SAFETY: read-only use of the mapping's address and length.
        let sendbuf = unsafe { &*sendbuf_cell.get() };
        sendbuf.sync_for_device(len as usize);
        let cqe = ep.send_cqes.get(slot).ok_or(EIO)?;
        let qp = ep.id.qp().ok_or(err(bindings::ENOTCONN))?;
        // SAFETY: the QP is live while the endpoint exists; the buffer
        // stays mapped and untouched until the Send owner is released by
        // a completion or the drain; the cqe lives in the endpoint.
        unsafe { ib::post_send(qp, cqe.cqe.get(), sendbuf.addr(), len, ep.lkey, signaled) }
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

    fn put_sends(&self, batch: OwnerBatch) {
        for owner in batch.owners.into_iter().flatten() {
            self.put_send(owner);
        }
    }

    /// Walks the ring up to `slot` and releases the Send owners found.
    fn send_done(&self, slot: usize) {
        let mut batch = OwnerBatch::new();
        let walked = self.shared.lock().ring.complete(slot, |o| batch.push(o));
        if walked.is_err() {
            sunrpc::warn_once(c_str!("Send completion outside the sendctx ring"));
        }
        self.put_sends(batch);
        // SAFETY: the xprt is valid.
        unsafe { bindings::xprt_write_space(self.xprt.as_ptr()) };
    }

    /// Handles one received message: find its rqst, copy the reply in and
    /// complete it.
    fn reply(&self, msg: &[u8]) {
        let xprt = self.xprt;
        let Ok(fixed) = Fixed::decode(msg) else {
            self.stats.bad_reply_count.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let credits = Credits::sanitize(fixed.credits, MAX_REQUESTS);
        let changed = {
            let mut shared = self.shared.lock();
            let changed = shared.credits != credits;
            shared.credits = credits;
            changed
        };
        if changed {
            xprt.set_cwnd(usize::try_from(credits.cwnd()).unwrap_or(usize::MAX));
        }
        xprt.queue_lock();
        // SAFETY: the xprt is valid and its queue lock is held.
        let rqst = unsafe { bindings::xprt_lookup_rqst(xprt.as_ptr(), fixed.xid.to_be()) };
        if rqst.is_null() {
            xprt.queue_unlock();
            return;
        }
        // SAFETY: the rqst was found under the queue lock; pinning keeps
        // it from being released while we copy without the lock.
        unsafe { bindings::xprt_pin_rqst(rqst) };
        xprt.queue_unlock();

        // SAFETY: pinned above; the receive buffer belongs to the
        // transport until xprt_complete_rqst().
        let buflen = unsafe { (*rqst).rq_rcv_buf.buflen };
        let limits = Limits::for_client(0, buflen);
        let copied = match fixed.decode_reply_body(msg, &limits) {
            Ok(ReplyBody::Msg(m)) if m.write_list.is_empty() && !m.reply_chunk_present => {
                self.copy_reply(rqst, m.rpc_message)
            }
            _ => Err(EIO),
        };
        xprt.queue_lock();
        // SAFETY: the rqst is pinned and the queue lock is held.
        unsafe {
            match copied {
                Ok(n) => bindings::xprt_complete_rqst((*rqst).rq_task, n),
                Err(e) => {
                    self.stats.bad_reply_count.fetch_add(1, Ordering::Relaxed);
                    (*(*rqst).rq_task).tk_status = e.to_errno();
                    bindings::xprt_complete_rqst((*rqst).rq_task, 0);
                }
            }
            bindings::xprt_unpin_rqst(rqst);
        }
        xprt.queue_unlock();
    }

    /// Copies an inline reply into `rq_private_buf` (what
    /// `rpcrdma_inline_fixup()` does) and returns the length received.
    fn copy_reply(&self, rqst: *mut bindings::rpc_rqst, body: &[u8]) -> Result<i32> {
        // SAFETY: the rqst is pinned by the caller.
        let buf = unsafe { &(*rqst).rq_private_buf };
        let room = buf.head[0]
            .iov_len
            .saturating_add(buf.page_len as usize)
            .saturating_add(buf.tail[0].iov_len);
        let len = body.len().min(room);
        let len32 = u32::try_from(len).map_err(|_| EIO)?;
        // SAFETY: `len` bytes of `body` are readable and fit in the
        // buffer's head, pages and tail; the kernel copies only those.
        let rc = unsafe {
            bindings::write_bytes_to_xdr_buf(buf, 0, body.as_ptr().cast_mut().cast(), len32)
        };
        if rc != 0 {
            return Err(EIO);
        }
        self.stats
            .fixup_copy_count
            .fetch_add(len as u64, Ordering::Relaxed);
        i32::try_from(len).map_err(|_| EIO)
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
        // SAFETY: the worker holds XPRT_LOCKED (xprt_lock_connect).
        let ep = unsafe { self.endpoint() };
        if let Some(old) = ep.take() {
            self.teardown(old);
        }
        let mut rc = match self.establish() {
            Ok(new) => {
                *ep = Some(new);
                0
            }
            Err(e) => errno(e),
        };
        self.connect_status.store(rc, Ordering::Relaxed);
        if rc != 0 {
            pr_info!("connect failed: {}\n", rc);
        }
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

    /// Creates and connects a new endpoint (`rpcrdma_xprt_connect()`).
    fn establish(&self) -> Result<KBox<Endpoint>> {
        let xprt = self.xprt;
        let events = KBox::new(
            EpEvents {
                xprt,
                done: Opaque::uninit(),
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
        // SAFETY: `events` outlives the id: the endpoint drops the id
        // before `events` (see `Endpoint::teardown`), or this function
        // does on error (locals drop in reverse order).
        let mut id = unsafe { CmId::new(xprt.net(), cm_event, ctx)? };

        // SAFETY: `addr` is the server's socket address in the xprt.
        unsafe { id.resolve_addr(xprt.addr(), RESOLVE_TIMEOUT_MS)? };
        events.wait_resolved()?;
        // SAFETY: `done` is initialized.
        unsafe { bindings::xprs_reinit_completion(events.done.get()) };
        id.resolve_route(RESOLVE_TIMEOUT_MS)?;
        events.wait_resolved()?;
        // SAFETY: as above.
        unsafe { bindings::xprs_reinit_completion(events.done.get()) };

        let dev = id.device().ok_or(ENODEV)?;
        let ring_slots = self.shared.lock().ring.capacity() as u32;
        let send_wr = ring_slots.saturating_add(1);
        let recv_wr = NUM_REPS.saturating_add(1);
        if dev.max_qp_wr() < send_wr.max(recv_wr) {
            return Err(ENOMEM);
        }
        let pd = Pd::new(&dev)?;
        let send_cq = Cq::new(&dev, send_wr)?;
        let recv_cq = Cq::new(&dev, recv_wr)?;
        id.create_qp(&pd, &send_cq, &recv_cq, send_wr, recv_wr)?;
        let qp = id.qp().ok_or(err(bindings::ENOTCONN))?;
        let lkey = pd.local_dma_lkey();
        let (send_bufs, send_cqes, reps) = match self.buffers(&dev, qp, lkey, ring_slots) {
            Ok(b) => b,
            Err(e) => {
                // The QP must go before the CQs it uses.
                id.destroy_qp();
                return Err(e);
            }
        };
        let ours = Negotiated {
            inline_send: INLINE_SIZE,
            inline_recv: INLINE_SIZE,
        };
        let mut ep = KBox::new(
            Endpoint {
                events,
                id,
                pd: Some(pd),
                send_cq: Some(send_cq),
                recv_cq: Some(recv_cq),
                reps,
                send_bufs,
                send_cqes,
                lkey,
                negotiated: ours,
            },
            GFP_KERNEL,
        )?;
        // Fresh ring, signaling policy and credits for the new connection
        // (the old ring was drained when the old endpoint went away).
        {
            let mut shared = self.shared.lock();
            shared.policy = SignalPolicy::new(MAX_REQUESTS);
            shared.credits = Credits::INITIAL;
        }
        self.xprt.reset_cwnd(usize::try_from(Credits::INITIAL.cwnd()).unwrap_or(usize::MAX));
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
    ) -> Result<(KVec<UnsafeCell<DmaBuf>>, KVec<SendCqe>, KVec<Rep>)> {
        let me = self as *const Self;

        let mut send_bufs = KVec::with_capacity(self.reqs.len(), GFP_KERNEL)?;
        for _ in 0..self.reqs.len() {
            let b = DmaBuf::new(dev, INLINE_SIZE.bytes() as usize, true)?;
            send_bufs.push(UnsafeCell::new(b), GFP_KERNEL)?;
        }
        let mut send_cqes = KVec::with_capacity(ring_slots as usize, GFP_KERNEL)?;
        for slot in 0..ring_slots as usize {
            send_cqes.push(
                SendCqe {
                    cqe: Opaque::new(bindings::ib_cqe {
                        done: Some(send_done),
                    }),
                    slot,
                    transport: me,
                },
                GFP_KERNEL,
            )?;
        }
        let mut reps = KVec::with_capacity(NUM_REPS as usize, GFP_KERNEL)?;
        for _ in 0..NUM_REPS {
            let buf = DmaBuf::new(dev, INLINE_SIZE.bytes() as usize, false)?;
            reps.push(
                Rep {
                    cqe: Opaque::new(bindings::ib_cqe {
                        done: Some(recv_done),
                    }),
                    buf: UnsafeCell::new(buf),
                    transport: me,
                    qp,
                    lkey,
                },
                GFP_KERNEL,
            )?;
        }
        Ok((send_bufs, send_cqes, reps))
    }

    fn connect_endpoint(&self, ep: &mut Endpoint) -> Result {
        for rep in ep.reps.iter() {
            rep.post()?;
        }
        let private = ConnectPrivate::client(INLINE_SIZE, INLINE_SIZE).encode();
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
        }
        Ok(())
    }

    /// Tears an endpoint down (`rpcrdma_xprt_disconnect()`): disconnect,
    /// drain Receives then Sends, release the Send owners left in the
    /// ring, then free the verbs objects and the id.
    fn teardown(&self, mut ep: KBox<Endpoint>) {
        ep.events.closing.store(true, Ordering::Release);
        ep.id.disconnect();
        ep.id.drain();
        ep.id.destroy_qp();
        drop(ep.send_cq.take());
        drop(ep.recv_cq.take());
        let mut batch = OwnerBatch::new();
        self.shared.lock().ring.drain(|o| batch.push(o));
        self.put_sends(batch);
        let Endpoint {
            events,
            id,
            pd,
            reps,
            send_bufs,
            send_cqes,
            ..
        } = KBox::into_inner(ep);
        drop(reps);
        drop(send_bufs);
        drop(send_cqes);
        drop(pd);
        drop(id);
        drop(events);
    }

    /// `->close` (`xprt_rdma_close()`).
    fn close(&self) {
        // SAFETY: close runs under XPRT_LOCKED.
        if let Some(ep) = unsafe { self.endpoint() }.take() {
            self.teardown(ep);
        }
        self.xprt.closed();
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
        let line = CString::try_from_fmt(fmt!(
            "\txprt:\trdma 0 {} {} {} {} {} {} {} {} {} 0 0 0 0 0 {} {} 0 {} {} 0 0 0 0 0 {} 0\n",
            st.bind_count,
            st.connect_count,
            st.connect_time / hz,
            idle,
            st.sends,
            st.recvs,
            st.bad_xids,
            st.req_u,
            st.bklog_u,
            s.pullup_copy_count.load(Ordering::Relaxed),
            s.fixup_copy_count.load(Ordering::Relaxed),
            s.failed_marshal_count.load(Ordering::Relaxed),
            s.bad_reply_count.load(Ordering::Relaxed),
            s.empty_sendctx_q.load(Ordering::Relaxed),
        ));
        if let Ok(line) = line {
            // SAFETY: `seq` is the seq_file the caller is printing to.
            unsafe { bindings::xprs_seq_puts(seq, line.as_char_ptr()) };
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
            // SAFETY: the xprt outlives its endpoints.
            unsafe { bindings::xprt_force_disconnect(self.xprt.as_ptr()) };
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
                let ours = Negotiated {
                    inline_send: INLINE_SIZE,
                    inline_recv: INLINE_SIZE,
                };
                let n = cm_private::negotiate(ours, peer);
                self.inline_send.store(n.inline_send.bytes(), Ordering::Release);
                self.inline_recv.store(n.inline_recv.bytes(), Ordering::Release);
                self.status.store(1, Ordering::Release);
                self.wake();
            }
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_CONNECT_ERROR => {
                self.connect_failed(neg(bindings::ENOTCONN));
            }
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_UNREACHABLE => {
                self.connect_failed(neg(bindings::ENETUNREACH));
            }
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_REJECTED => {
                self.connect_failed(neg(bindings::ECONNREFUSED));
            }
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_ADDR_CHANGE
            | bindings::rdma_cm_event_type_RDMA_CM_EVENT_DEVICE_REMOVAL
            | bindings::rdma_cm_event_type_RDMA_CM_EVENT_DISCONNECTED => {
                match self.status.swap(neg(bindings::ECONNABORTED), Ordering::AcqRel) {
                    0 => self.wake(),
                    1 => self.force_disconnect(),
                    _ => {}
                }
            }
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

impl Rep {
    fn post(&self) -> Result {
        // SAFETY: the rep is not posted (it is being set up or its
        // completion has been handled): the buffer is ours.
        let buf = unsafe { &*self.buf.get() };
        let len = u32::try_from(buf.len()).map_err(|_| EINVAL)?;
        // SAFETY: the QP lives as long as the endpoint that owns this rep;
        // the endpoint drains the QP before dropping its reps.
        unsafe { ib::post_recv(self.qp, self.cqe.get(), buf.addr(), len, self.lkey) }
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
    // SAFETY: the transport outlives its endpoints.
    let t = unsafe { &*cqe.transport };
    t.send_done(cqe.slot);
    if status != bindings::ib_wc_status_IB_WC_SUCCESS
        && status != bindings::ib_wc_status_IB_WC_WR_FLUSH_ERR
    {
        // SAFETY: the xprt outlives its endpoints.
        unsafe { bindings::xprt_force_disconnect(t.xprt.as_ptr()) };
    }
}

/// Receive completion handler.
unsafe extern "C" fn recv_done(_cq: *mut bindings::ib_cq, wc: *mut bindings::ib_wc) {
    // SAFETY: as for `send_done`, for a `Rep`.
    let (rep, status, len) = unsafe {
        (
            &*(*wc).__bindgen_anon_1.wr_cqe.cast::<Rep>(),
            (*wc).status,
            (*wc).byte_len,
        )
    };
    // SAFETY: the transport outlives its endpoints.
    let t = unsafe { &*rep.transport };
    if status != bindings::ib_wc_status_IB_WC_SUCCESS {
        if status != bindings::ib_wc_status_IB_WC_WR_FLUSH_ERR {
            // SAFETY: the xprt outlives its endpoints.
            unsafe { bindings::xprt_force_disconnect(t.xprt.as_ptr()) };
        }
        return;
    }
    {
        // SAFETY: the Receive completed: the device no longer writes the
        // buffer until it is posted again below.
        let buf = unsafe { &*rep.buf.get() };
        t.reply(buf.sync_for_cpu(len as usize));
    }
    if rep.post().is_err() {
        // SAFETY: the xprt outlives its endpoints.
        unsafe { bindings::xprt_force_disconnect(t.xprt.as_ptr()) };
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
    let xprt = Xprt::alloc(args, NUM_REQS)?;
    let t = match Transport::new(xprt) {
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
    xprt.set_max_payload(MAX_PAYLOAD);
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

/// `->buf_free`: the call and reply buffers belong to the req and are
/// reused by its next RPC, so there is nothing to release per call.
#[no_mangle]
extern "C" fn xprs_op_buf_free(_task: *mut bindings::rpc_task) {}

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
    // SAFETY: nothing else uses the endpoint during destroy.
    if let Some(ep) = unsafe { t.endpoint() }.take() {
        t.teardown(ep);
    }
    drop(t);
    x.free();
}
