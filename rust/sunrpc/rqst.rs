// SPDX-License-Identifier: GPL-2.0

//! RPC tasks and rqsts as the transport sees them: the storage of the
//! rqsts it owns ([`RqstSlot`], kept in an `OwnedRqst`), the task or rqst
//! sunrpc passes to an op ([`Task`], [`Rqst`]) and the turns of the ops at
//! them, a rqst the reply handler found and pinned ([`PinnedRqst`]), and
//! the call and reply buffers ([`RpcBufs`]).
//!
//! No reference to a whole `rpc_rqst` or `rpc_task` is made: sunrpc writes
//! other fields of them concurrently under its own rules. Each method
//! reads or writes the fields its type's invariant gives it.

use super::xdr::XdrBuf;
use super::Xprt;
use crate::bindings;
use crate::cell::Foreign;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::error::Error;
use kernel::prelude::*;

/// The storage of one `rpc_rqst` the transport owns, embedded in its req,
/// inside the `OwnedRqst` that hands it to sunrpc and resets it.
pub(crate) struct RqstSlot(Foreign<bindings::rpc_rqst>);

impl RqstSlot {
    /// An idle rqst: all zeroes, as sunrpc's own slot allocation leaves
    /// one.
    pub(crate) fn new() -> Self {
        // SAFETY: all zeroes is a valid, idle `rpc_rqst` (no pointer set,
        // no list linked).
        Self(Foreign::new(unsafe { core::mem::zeroed() }))
    }

    /// Returns the address of the rqst.
    pub(crate) fn as_ptr(&self) -> *mut bindings::rpc_rqst {
        self.0.get()
    }

    /// Returns whether `rqst` is this one.
    pub(crate) fn is(&self, rqst: *const bindings::rpc_rqst) -> bool {
        core::ptr::eq(self.as_ptr(), rqst)
    }
}

/// The call and reply buffers of one req (`rq_buffer`, `rq_rbuffer`).
/// They grow on demand and are kept for the req's next RPC.
pub(crate) struct RpcBufs {
    pub(super) call: KVec<u8>,
    pub(super) reply: KVec<u8>,
}

impl RpcBufs {
    /// Allocates both buffers, of `size` zeroed bytes each.
    pub(crate) fn new(size: usize) -> Result<Self> {
        Ok(Self {
            call: KVec::from_elem(0u8, size, GFP_KERNEL)?,
            reply: KVec::from_elem(0u8, size, GFP_KERNEL)?,
        })
    }

    /// Makes the call buffer at least `len` bytes (with the RPC layer's
    /// allocation flags); returns whether it had to grow.
    pub(crate) fn grow_call(&mut self, len: usize) -> Result<bool> {
        grow(&mut self.call, len)
    }

    /// Makes the reply buffer at least `len` bytes; returns whether it had
    /// to grow.
    pub(crate) fn grow_reply(&mut self, len: usize) -> Result<bool> {
        grow(&mut self.reply, len)
    }

    /// Returns the reply buffer, where a callback is copied.
    pub(crate) fn reply_mut(&mut self) -> &mut [u8] {
        &mut self.reply
    }
}

fn grow(buf: &mut KVec<u8>, len: usize) -> Result<bool> {
    if buf.len() >= len {
        return Ok(false);
    }
    *buf = rpc_buf(len)?;
    Ok(true)
}

/// Allocates a zeroed `len`-byte RPC buffer with the RPC layer's
/// allocation flags (`rpc_task_gfp_mask()`: no retries from rpciod).
fn rpc_buf(len: usize) -> Result<KVec<u8>> {
    if len == 0 {
        return Ok(KVec::new());
    }
    // SAFETY: no preconditions.
    let p = unsafe { bindings::xprs_rpc_buf_alloc(len) };
    if p.is_null() {
        return Err(ENOMEM);
    }
    // SAFETY: `p` is a `kzalloc` allocation of `len` initialized bytes;
    // `KVec` frees it with `kfree`, as its `Kmalloc` allocator does.
    Ok(unsafe { KVec::from_raw_parts(p.cast(), len, len) })
}

/// The RPC task sunrpc passed to an op (`->alloc_slot`, `->buf_alloc`,
/// `->buf_free`).
///
/// # Invariants
///
/// The task is live for `'a`, and the op runs for it: sunrpc calls these
/// ops from the task itself (`xprt_do_reserve()`, `call_allocate()`,
/// `xprt_release()`), so the task's `tk_rqstp` and `tk_status` are the
/// op's to read and write.
pub(crate) struct Task<'a>(Lent<'a, bindings::rpc_task>);

/// The address of a C object sunrpc lent an op for `'a`; what the lending
/// allows is the invariant of the view that holds it.
struct Lent<'a, T> {
    ptr: NonNull<T>,
    _life: PhantomData<&'a T>,
}

impl<T> Lent<'_, T> {
    fn new(ptr: *mut T) -> Option<Self> {
        Some(Self {
            ptr: NonNull::new(ptr)?,
            _life: PhantomData,
        })
    }
}

impl<'a> Task<'a> {
    /// Wraps the task an op was called for.
    ///
    /// # Safety
    ///
    /// `task` satisfies the type invariant for `'a`.
    pub(super) unsafe fn from_raw(task: *mut bindings::rpc_task) -> Option<Self> {
        // INVARIANT: guaranteed by the caller.
        Lent::new(task).map(Self)
    }

    /// Returns the task's address, for the trace and for sunrpc calls
    /// that only store it.
    pub(crate) fn as_ptr(&self) -> *mut bindings::rpc_task {
        self.0.ptr.as_ptr()
    }

    /// Returns the rqst the task holds (`tk_rqstp`).
    pub(crate) fn rqst(&self) -> Option<Rqst<'a>> {
        // SAFETY: the task is live and the op's (type invariant).
        let rqst = unsafe { (*self.as_ptr()).tk_rqstp };
        // SAFETY: a task that holds a rqst owns it until `xprt_release()`
        // has called `->free_slot`, which comes after every op that reads
        // `tk_rqstp`; it is a rqst of the transport the op was called on.
        unsafe { Rqst::from_raw(rqst) }
    }

    /// Returns the task's transport (`tk_xprt`), the one `->alloc_slot`
    /// is called on.
    pub(super) fn xprt_ptr(&self) -> *mut bindings::rpc_xprt {
        // SAFETY: the task is live and the op runs for it (type
        // invariant); `tk_xprt` is set before the task reserves a slot and
        // changes only when the task, which runs this op, switches or
        // releases its transport.
        unsafe { (*self.as_ptr()).tk_xprt }
    }

    /// Gives the task `rqst` (`tk_rqstp`, status 0): the end of a
    /// successful `->alloc_slot` (`IdleRqst::give_to`).
    ///
    /// # Safety
    ///
    /// The rqst belongs to the transport the op was called on and is the
    /// caller's to give: no other task or handler uses it.
    pub(super) unsafe fn assign(&self, rqst: &RqstSlot) {
        // SAFETY: the fields are the op's (type invariant); the caller
        // gives the rqst up.
        unsafe {
            (*self.as_ptr()).tk_rqstp = rqst.as_ptr();
            (*self.as_ptr()).tk_status = 0;
        }
    }

    /// Puts the task on `xprt`'s backlog with `-EAGAIN`, as `->alloc_slot`
    /// does when no slot is free (`xprt_add_backlog_noncongested()`).
    pub(crate) fn wait_on_backlog(&self, xprt: &Xprt) {
        // SAFETY: the task is live and the op's (type invariant); the RPC
        // layer expects -EAGAIN and the task on the backlog.
        unsafe {
            (*self.as_ptr()).tk_status = -(bindings::EAGAIN as i32);
            bindings::xprt_add_backlog_noncongested(xprt.as_ptr(), self.as_ptr());
        }
    }
}

/// A rqst of this transport that sunrpc passed to an op for the task that
/// owns it (`->buf_alloc`, `->buf_free`, `->send_request`, `->free_slot`,
/// `->bc_free_rqst`), or on that task's behalf (`->send_request` from
/// another task's `xprt_transmit()`, which pins the rqst meanwhile).
///
/// # Invariants
///
/// For `'a` the rqst is live, its `rq_task` (when set) is live, and the op
/// runs for the rqst's owner, or on its behalf while it waits: its buffers, `rq_snd_buf`, the transmit
/// fields (`rq_xtime`, `rq_xmit_bytes_sent`) and the receive buffer's page
/// array are not changed by anyone else while the op runs.
pub(crate) struct Rqst<'a>(Lent<'a, bindings::rpc_rqst>);

impl<'a> Rqst<'a> {
    /// Wraps the rqst an op was called for.
    ///
    /// # Safety
    ///
    /// `rqst` satisfies the type invariant for `'a`.
    pub(super) unsafe fn from_raw(rqst: *mut bindings::rpc_rqst) -> Option<Self> {
        // INVARIANT: guaranteed by the caller.
        Lent::new(rqst).map(Self)
    }

    /// Returns the rqst's address, for the trace and to find its req.
    pub(crate) fn as_ptr(&self) -> *mut bindings::rpc_rqst {
        self.0.ptr.as_ptr()
    }

    /// Returns the transport the rqst belongs to (`rq_xprt`).
    pub(super) fn xprt_ptr(&self) -> *mut bindings::rpc_xprt {
        // SAFETY: live (type invariant); set before the rqst reaches an op.
        unsafe { (*self.as_ptr()).rq_xprt }
    }

    /// Returns the xid, in host order.
    pub(crate) fn xid(&self) -> u32 {
        // SAFETY: live (type invariant); set before the rqst is encoded.
        u32::from_be(unsafe { (*self.as_ptr()).rq_xid })
    }

    /// Returns the sizes of the call and reply buffers the RPC needs
    /// (`rq_callsize`, `rq_rcvsize`).
    pub(crate) fn buffer_sizes(&self) -> (usize, usize) {
        // SAFETY: live and the owner's (type invariant).
        unsafe { ((*self.as_ptr()).rq_callsize, (*self.as_ptr()).rq_rcvsize) }
    }

    /// Points the rqst's call and reply buffers (`rq_buffer`,
    /// `rq_rbuffer`) at `bufs`. sunrpc uses them until the RPC ends; the
    /// req keeps `bufs` and grows them only in a later `->buf_alloc`, for
    /// its next RPC.
    pub(crate) fn set_buffers(&self, bufs: &mut RpcBufs) {
        // SAFETY: live and the owner's (type invariant).
        unsafe {
            (*self.as_ptr()).rq_buffer = bufs.call.as_mut_ptr().cast();
            (*self.as_ptr()).rq_rbuffer = bufs.reply.as_mut_ptr().cast();
        }
    }

    /// Returns whether the rqst has a call buffer: a callback reply (a
    /// backchannel rqst) comes without one.
    pub(crate) fn has_call_buffer(&self) -> bool {
        // SAFETY: live and the owner's (type invariant).
        !unsafe { (*self.as_ptr()).rq_buffer }.is_null()
    }

    /// Returns the connect cookie of the rqst's last transmission.
    pub(crate) fn connect_cookie(&self) -> u32 {
        // SAFETY: live (type invariant); `xprt_request_transmit()` writes
        // it after each successful `->send_request`, in the owner's
        // context, so not while an op of the owner runs.
        unsafe { (*self.as_ptr()).rq_connect_cookie }
    }

    /// Takes a congestion slot of `xprt` (`xprt_request_get_cong()`);
    /// returns false when the window is full.
    pub(crate) fn get_cong(&self, xprt: &Xprt) -> bool {
        // SAFETY: the rqst is live and belongs to `xprt`, which is live
        // (`Xprt` invariant); the call takes the transport lock.
        unsafe { bindings::xprt_request_get_cong(xprt.as_ptr(), self.as_ptr()) }
    }

    /// Records the transmit time (`rq_xtime`).
    pub(crate) fn set_xtime_now(&self) {
        // SAFETY: live and the owner's (type invariant).
        unsafe { (*self.as_ptr()).rq_xtime = bindings::ktime_get() };
    }

    /// Counts the call's bytes as sent (`rq_xmit_bytes_sent`).
    pub(crate) fn add_sent_bytes(&self) {
        // SAFETY: live and the owner's (type invariant).
        unsafe {
            let r = self.as_ptr();
            (*r).rq_xmit_bytes_sent = (*r).rq_xmit_bytes_sent.saturating_add((*r).rq_snd_buf.len as usize);
        }
    }

    /// Returns whether the RPC waits for a reply
    /// (`rpc_reply_expected()`).
    pub(crate) fn reply_expected(&self) -> bool {
        // SAFETY: live; a rqst being transmitted has its live task (type
        // invariant).
        unsafe { bindings::xprs_rpc_reply_expected((*self.as_ptr()).rq_task) }
    }

    /// Returns whether the RPC's credential allows direct data placement.
    pub(crate) fn ddp_allowed(&self) -> bool {
        // SAFETY: live (type invariant); the credential is held for the
        // RPC's life.
        unsafe { bindings::xprs_rqst_ddp_allowed(self.as_ptr()) }
    }

    /// Fills a sparse receive page array (NFSv3 GETACL) before the reply
    /// chunk maps it or an inline reply is copied into it. It takes
    /// `&mut self`: no [`XdrBuf`] of [`Rqst::rcv_buf`] lives while the page
    /// array changes.
    pub(crate) fn alloc_sparse_rcv_pages(&mut self) -> Result {
        // Only a sparse page array needs filling: the helper's own first
        // test, made here so that the common Call pays no C call for it
        // (as `rpcrdma_marshal_req()` tests the flag inline).
        // SAFETY: live, and the receive buffer is the owner's (type
        // invariant).
        if unsafe { (*self.as_ptr()).rq_rcv_buf.flags } & bindings::XDRBUF_SPARSE_PAGES == 0 {
            return Ok(());
        }
        // SAFETY: live, and the receive buffer's page array is the
        // owner's (type invariant); `&mut self` excludes every view of it
        // made through `self`, so the mutable borrow is the only one.
        let rc = unsafe { bindings::xprs_alloc_sparse_pages(&mut (*self.as_ptr()).rq_rcv_buf) };
        if rc != 0 {
            return Err(Error::from_errno(rc));
        }
        Ok(())
    }

    /// Returns the call (`rq_snd_buf`).
    pub(crate) fn snd_buf(&self) -> XdrBuf<'_> {
        // SAFETY: live, and the call does not change while the owner's op
        // runs (type invariant).
        unsafe { XdrBuf::new(&(*self.as_ptr()).rq_snd_buf) }
    }

    /// Returns the receive buffer (`rq_rcv_buf`).
    pub(crate) fn rcv_buf(&self) -> XdrBuf<'_> {
        // SAFETY: live, and the receive buffer's shape and page array do
        // not change while the owner's op runs (type invariant).
        unsafe { XdrBuf::new(&(*self.as_ptr()).rq_rcv_buf) }
    }

    /// Copies the `dst.len()` bytes at `offset` of the call into `dst`
    /// (`read_bytes_from_xdr_buf()`).
    ///
    /// A run within the head (the RPC header of every inline Call, the
    /// whole of most) is copied straight from there: that is all
    /// `read_bytes_from_xdr_buf()` does for it, after working out the
    /// sub-buffer (`xdr_buf_subsegment()`) and copying nothing from the
    /// pages and tail.
    pub(crate) fn read_call(&self, offset: u32, dst: &mut [u8]) -> Result {
        let len = u32::try_from(dst.len()).map_err(|_| EIO)?;
        // SAFETY: live, the call is stable (type invariant).
        let head = unsafe { (*self.as_ptr()).rq_snd_buf.head[0] };
        let src = (head.iov_base as usize).wrapping_add(offset as usize);
        let in_head = (offset as usize)
            .checked_add(dst.len())
            .is_some_and(|end| end <= head.iov_len);
        let to = dst.as_ptr() as usize;
        let apart = to.saturating_add(dst.len()) <= src || src.saturating_add(dst.len()) <= to;
        if len != 0 && in_head && apart && !head.iov_base.is_null() {
            // SAFETY: live, and the call does not change while the owner's
            // op runs (type invariant); its head is `iov_len` bytes at
            // `iov_base` of the rqst's call buffer, as the RPC layer set it
            // up, the memory `read_bytes_from_xdr_buf()` reads for such a
            // run. `offset + len` is within it, and `dst` lies apart from
            // `src..src + len` (both checked above).
            unsafe {
                core::ptr::copy_nonoverlapping(
                    head.iov_base.cast::<u8>().add(offset as usize),
                    dst.as_mut_ptr(),
                    dst.len(),
                )
            };
            return Ok(());
        }
        // SAFETY: live, the call is stable (type invariant); the kernel
        // writes at most `len` bytes into `dst`, and checks `offset + len`
        // against the buffer.
        let rc = unsafe {
            bindings::read_bytes_from_xdr_buf(&(*self.as_ptr()).rq_snd_buf, offset, dst.as_mut_ptr().cast(), len)
        };
        if rc != 0 {
            return Err(EIO);
        }
        Ok(())
    }
}

/// The turn of an op that sunrpc calls for a rqst's owner while no reply
/// handler can reach the rqst (`->buf_alloc`, `->buf_free`,
/// `->free_slot`, `->bc_free_rqst`): the transport trades it, once per op,
/// for the turn at the state it keeps for the rqst.
///
/// # Invariants
///
/// For `'a`, the context that has this value runs an op sunrpc called for
/// the owner of `rqst`; the rqst is on no receive queue and not pinned, so
/// no reply handler has it or can find it; and no other turn of the rqst
/// exists. It is not `Send`: the turn is the op's context's.
pub(crate) struct OwnerTurn<'a> {
    rqst: NonNull<bindings::rpc_rqst>,
    _life: PhantomData<(&'a bindings::rpc_rqst, *mut ())>,
}

impl<'a> OwnerTurn<'a> {
    /// Makes the turn of the op running for `rqst`.
    ///
    /// # Safety
    ///
    /// The type invariant holds for `rqst` during `'a`.
    pub(super) unsafe fn new(rqst: &Rqst<'a>) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self {
            rqst: rqst.0.ptr,
            _life: PhantomData,
        }
    }

    /// Returns the address of the rqst, to find what the transport keeps
    /// for it.
    pub(crate) fn rqst(&self) -> *const bindings::rpc_rqst {
        self.rqst.as_ptr()
    }
}

/// Proof that sunrpc gives a rqst back to its transport: `->free_slot`
/// or `->bc_free_rqst` runs for it, so the transport may let go of the
/// rqst's RPC owner (`OwnedRqst::put_rpc`).
///
/// # Invariants
///
/// For `'a`, the context that has this value runs `->free_slot` for
/// `rqst`, which `xprt_release()` calls after it cleared the task's
/// `tk_rqstp` and waited for the rqst's unpin, or `->bc_free_rqst`, which
/// the callback service calls when it is done with the rqst: sunrpc does
/// not use the rqst again until the transport hands it out anew. Made
/// once per op; not `Send`.
pub(crate) struct SlotReturn<'a> {
    rqst: NonNull<bindings::rpc_rqst>,
    _life: PhantomData<(&'a bindings::rpc_rqst, *mut ())>,
}

impl<'a> SlotReturn<'a> {
    /// Makes the proof of the `->free_slot` or `->bc_free_rqst` running
    /// for `rqst`.
    ///
    /// # Safety
    ///
    /// The type invariant holds for `rqst` during `'a`.
    pub(super) unsafe fn new(rqst: &Rqst<'a>) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self {
            rqst: rqst.0.ptr,
            _life: PhantomData,
        }
    }

    /// Returns the address of the rqst given back.
    pub(crate) fn rqst(&self) -> *const bindings::rpc_rqst {
        self.rqst.as_ptr()
    }
}

/// The turn of `->send_request` at the rqst it transmits.
///
/// # Invariants
///
/// For `'a`, the context that has this value holds `XPRT_LOCKED` and runs
/// `->send_request` on the owner's behalf: the owner's own task, another
/// task that holds the lock and sends the queued rqsts of others
/// (`xprt_transmit()` pins each one for that; the owner waits for the
/// transmission, and `xprt_release()` for the pin), or the callback
/// service's task for our reply to a callback. No other op of the rqst's
/// owner runs meanwhile, and no other turn of the rqst exists. Unlike an
/// [`OwnerTurn`], a Call's rqst may be on the receive queue, and in a reply
/// handler's hands: with a Reply to an earlier transmission of the same
/// Call. A callback reply's rqst is never on a receive queue. Not `Send`.
pub(crate) struct TransmitTurn<'a> {
    rqst: NonNull<bindings::rpc_rqst>,
    _life: PhantomData<(&'a bindings::rpc_rqst, *mut ())>,
}

impl<'a> TransmitTurn<'a> {
    /// Makes the turn of the `->send_request` running for `rqst`.
    ///
    /// # Safety
    ///
    /// The type invariant holds for `rqst` during `'a`.
    pub(super) unsafe fn new(rqst: &Rqst<'a>) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self {
            rqst: rqst.0.ptr,
            _life: PhantomData,
        }
    }

    /// Returns the address of the rqst, to find what the transport keeps
    /// for it.
    pub(crate) fn rqst(&self) -> *const bindings::rpc_rqst {
        self.rqst.as_ptr()
    }
}

/// A rqst the reply handler found by its xid and pinned
/// ([`Xprt::lookup_pin`]): sunrpc does not release it until it is unpinned,
/// and its task waits for the Reply. Consumed by [`PinnedRqst::complete`]
/// or [`PinnedRqst::unpin`]; it may be kept, in its req, while a LOCAL_INV
/// chain runs. Both take the transport from their caller, whose borrow
/// keeps it live across the queue lock they take, and check that it is
/// the rqst's (`rq_xprt`).
///
/// # Invariants
///
/// `rqst` is a rqst that this value pinned and that is still pinned; its
/// `rq_task` is live. The receive buffers (`rq_rcv_buf`,
/// `rq_private_buf`) are the reply path's until the rqst is completed or
/// unpinned (the transport's req protocol: the owner's send path and the
/// reply path take turns by the req's phase).
///
#[must_use = "a pinned rqst must be completed or unpinned"]
pub(crate) struct PinnedRqst {
    rqst: NonNull<bindings::rpc_rqst>,
}

// SAFETY: the pin is sunrpc's, not a thread's: any thread may complete or
// unpin the rqst, as the LOCAL_INV completion does for the reply handler.
// The fields the value touches are guarded by the queue lock it takes, or
// by the reply path's turn (type invariant), which does not depend on the
// thread.
unsafe impl Send for PinnedRqst {}

impl PinnedRqst {
    /// # Safety
    ///
    /// `rqst` was found on its transport's receive queue and pinned by
    /// the caller, who gives that pin to the new value.
    pub(super) unsafe fn new(rqst: NonNull<bindings::rpc_rqst>) -> Self {
        // INVARIANT: guaranteed by the caller; a rqst on the receive queue
        // has its task, which waits for the Reply.
        Self { rqst }
    }

    /// Returns whether `xprt` is the rqst's transport (`rq_xprt`), whose
    /// queue lock `complete` and `unpin` take; warns when it is not (the
    /// pin is then kept: a hung RPC rather than the wrong lock).
    fn is_of(&self, xprt: &Xprt) -> bool {
        // SAFETY: pinned (type invariant), so the rqst is live; `rq_xprt`
        // is set when the rqst is given to its task and not changed while
        // the rqst is in use.
        let ours = core::ptr::eq(unsafe { (*self.as_ptr()).rq_xprt }, xprt.as_ptr());
        if !ours {
            super::warn_once(kernel::c_str!("pinned rqst of another transport"));
        }
        ours
    }

    /// Returns the rqst's address, for the trace and to find its req.
    pub(crate) fn as_ptr(&self) -> *mut bindings::rpc_rqst {
        self.rqst.as_ptr()
    }

    /// Returns the receive buffer (`rq_rcv_buf`).
    pub(crate) fn rcv_buf(&self) -> XdrBuf<'_> {
        // SAFETY: pinned, and the receive buffer is the reply path's (type
        // invariant): nothing changes it while `self` is borrowed.
        unsafe { XdrBuf::new(&(*self.as_ptr()).rq_rcv_buf) }
    }

    /// Returns the length of the receive buffer's head.
    pub(crate) fn rcv_head_len(&self) -> usize {
        // SAFETY: as in `rcv_buf`.
        unsafe { (*self.as_ptr()).rq_rcv_buf.head[0].iov_len }
    }

    /// Shortens the head of the receive buffer and of its private copy to
    /// `len` bytes, and their `buflen` by as much, when `len` is shorter
    /// (an overestimated head, trimmed rather than moving data placed
    /// directly in the pages).
    pub(crate) fn trim_rcv_head(&mut self, len: usize) {
        let delta = self.rcv_head_len().saturating_sub(len);
        let delta = u32::try_from(delta).unwrap_or(u32::MAX);
        if delta == 0 {
            return;
        }
        // SAFETY: pinned, the receive buffers are the reply path's (type
        // invariant), and `&mut self` excludes every view of them.
        unsafe {
            let (rcv, private) = (&mut (*self.as_ptr()).rq_rcv_buf, &mut (*self.as_ptr()).rq_private_buf);
            rcv.head[0].iov_len = len;
            private.head[0].iov_len = len;
            rcv.buflen = rcv.buflen.saturating_sub(delta);
            private.buflen = private.buflen.saturating_sub(delta);
        }
    }

    /// Returns the room of the private receive buffer (`buflen`).
    pub(crate) fn private_buflen(&self) -> u32 {
        // SAFETY: as in `rcv_buf`.
        unsafe { (*self.as_ptr()).rq_private_buf.buflen }
    }

    /// Copies `bytes` into the private receive buffer at `offset`
    /// (`write_bytes_to_xdr_buf()`).
    ///
    /// A run within the head (the RPC header of an inline Reply, on every
    /// Reply) is copied straight there: that is all
    /// `write_bytes_to_xdr_buf()` does for it, after working out the
    /// sub-buffer (`xdr_buf_subsegment()`) and copying nothing into the
    /// pages and tail.
    pub(crate) fn write_private(&mut self, offset: u32, bytes: &[u8]) -> Result {
        let len = u32::try_from(bytes.len()).map_err(|_| EIO)?;
        // SAFETY: as in `rcv_buf`.
        let head = unsafe { (*self.as_ptr()).rq_private_buf.head[0] };
        let dst = (head.iov_base as usize).wrapping_add(offset as usize);
        let in_head = (offset as usize)
            .checked_add(bytes.len())
            .is_some_and(|end| end <= head.iov_len);
        let src = bytes.as_ptr() as usize;
        let apart = src.saturating_add(bytes.len()) <= dst || dst.saturating_add(bytes.len()) <= src;
        if len != 0 && in_head && apart && !head.iov_base.is_null() {
            // SAFETY: pinned, the receive buffers are the reply path's
            // (type invariant), and `&mut self` excludes every view of
            // them held through this type; the head of the private buffer
            // is `iov_len` bytes at `iov_base` of the rqst's receive
            // buffer, as the RPC layer set it up (and `trim_rcv_head` only
            // shortens it), the memory `write_bytes_to_xdr_buf()` writes
            // for such a run. `offset + len` is within it, and `bytes`
            // (only read) lies apart from `dst..dst + len` (both checked
            // above), so no reference covers what is written.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    bytes.as_ptr(),
                    head.iov_base.cast::<u8>().add(offset as usize),
                    bytes.len(),
                )
            };
            return Ok(());
        }
        // SAFETY: pinned, the receive buffers are the reply path's (type
        // invariant); the kernel reads at most `len` bytes of `bytes` and
        // writes within the buffer.
        let rc = unsafe {
            bindings::write_bytes_to_xdr_buf(
                &mut (*self.as_ptr()).rq_private_buf,
                offset,
                bytes.as_ptr().cast_mut().cast(),
                len,
            )
        };
        if rc != 0 {
            return Err(EIO);
        }
        Ok(())
    }

    /// Completes the RPC with `result` (the reply length, or the errno its
    /// task sees with a length of 0) and unpins the rqst, under the queue
    /// lock (`xprt_complete_rqst()`, `xprt_unpin_rqst()`).
    pub(crate) fn complete(self, xprt: &Xprt, result: core::result::Result<i32, Error>) {
        if !self.is_of(xprt) {
            return;
        }
        xprt.queue_lock();
        // SAFETY: pinned, so the rqst and its waiting task are live (type
        // invariant); the queue lock is held, as both calls require. The
        // task's status is written under it before the task is woken.
        unsafe {
            let task = (*self.as_ptr()).rq_task;
            match result {
                Ok(n) => bindings::xprt_complete_rqst(task, n),
                Err(e) => {
                    (*task).tk_status = e.to_errno();
                    bindings::xprt_complete_rqst(task, 0);
                }
            }
            bindings::xprt_unpin_rqst(self.as_ptr());
        }
        xprt.queue_unlock();
    }

    /// Unpins the rqst without completing it (`rpcrdma_unpin_rqst()`).
    pub(crate) fn unpin(self, xprt: &Xprt) {
        if !self.is_of(xprt) {
            return;
        }
        xprt.queue_lock();
        // SAFETY: pinned by this value (type invariant); the queue lock is
        // held.
        unsafe { bindings::xprt_unpin_rqst(self.as_ptr()) };
        xprt.queue_unlock();
    }
}
