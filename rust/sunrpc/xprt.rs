// SPDX-License-Identifier: GPL-2.0

//! The transport (`struct rpc_xprt`), its `XPRT_LOCKED` token, and a value
//! guarded by that lock and a mutex together.

use super::rqst::{PinnedRqst, RqstSlot};
use crate::bindings;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use kernel::prelude::*;
use kernel::sync::lock::{mutex::MutexBackend, Guard};
use kernel::sync::Mutex;
use kernel::new_mutex;

/// A `struct rpc_xprt` of this module's class (a `struct xprs_xprt`).
///
/// # Invariants
///
/// The pointer is valid from [`Xprt::alloc`] until [`Xprt::free`]; every
/// copy is used only within that window (the transport state that holds
/// copies is freed first).
#[derive(Clone, Copy)]
pub(crate) struct Xprt(*mut bindings::rpc_xprt);

// SAFETY: an `Xprt` is the address of an `rpc_xprt`, a kernel object that
// sunrpc uses from every CPU and that is not tied to a thread. Past
// `alloc`, which fills it in before anyone else sees it, no method makes a
// reference to it (see below): each calls a sunrpc function that
// takes the transport's own locks, or reads or writes single fields
// through the raw pointer under the rule stated at that method (a lock
// held, `XPRT_LOCKED` through [`XprtLocked`], or a volatile read as
// `READ_ONCE()`). Those rules do not depend on the thread that holds the
// copy, so copies may be moved to and used on any thread.
unsafe impl Send for Xprt {}
// SAFETY: as above: `&Xprt` allows no more than a copy does.
unsafe impl Sync for Xprt {}

/// A transport [`Xprt::alloc`] made that sunrpc has not been given yet:
/// the class's `setup` finishes it, then hands it over with
/// [`NewXprt::publish`] or frees it.
///
/// # Invariants
///
/// `self.0` satisfies the invariant of [`Xprt`], and sunrpc has not seen
/// the transport: no one else reads or writes its fields.
pub(crate) struct NewXprt(Xprt);

impl NewXprt {
    /// Returns the transport, for the state that will use it once it is
    /// published.
    pub(crate) fn xprt(&self) -> Xprt {
        self.0
    }

    /// Stores the Rust state pointer, which the entry points read.
    pub(crate) fn set_priv(&mut self, p: *mut core::ffi::c_void) {
        // SAFETY: valid, and not shared yet (type invariant).
        unsafe { bindings::xprs_xprt_set_priv(self.0 .0, p) };
    }

    /// Sets the largest RPC payload, which the RPC client reads.
    pub(crate) fn set_max_payload(&mut self, n: usize) {
        // SAFETY: valid, and not shared yet (type invariant).
        unsafe { (*self.0 .0).max_payload = n };
    }

    /// Returns the finished transport, to be given to sunrpc.
    pub(crate) fn publish(self) -> *mut bindings::rpc_xprt {
        self.0 .0
    }

    /// Frees the transport, which sunrpc never saw.
    pub(crate) fn free(self) {
        self.0.free()
    }
}

/// As in `xprt_rdma.h`, in seconds.
const BIND_TO_SECS: usize = 60;
const INIT_REEST_TO_SECS: usize = 5;
const IDLE_DISC_TO_SECS: usize = 5 * 60;

impl Xprt {
    /// Wraps a transport sunrpc passed to one of our ops.
    pub(crate) fn from_raw(xprt: *mut bindings::rpc_xprt) -> Self {
        // INVARIANT: sunrpc passes live transports of this class.
        Self(xprt)
    }

    /// Allocates and initializes a transport as `xprt_setup_rdma()` does,
    /// taking a module reference.
    pub(crate) fn alloc(args: &bindings::xprt_create, slots: u32) -> Result<NewXprt> {
        if args.addrlen > core::mem::size_of::<bindings::__kernel_sockaddr_storage>() {
            return Err(EBADF);
        }
        // SAFETY: no preconditions.
        if !unsafe { bindings::xprs_try_module_get() } {
            return Err(EIO);
        }
        // SAFETY: `args.net` is the namespace sunrpc creates the transport
        // in.
        let xprt = unsafe { bindings::xprs_xprt_alloc(args.net, slots) };
        if xprt.is_null() {
            // SAFETY: taken above.
            unsafe { bindings::xprs_module_put() };
            return Err(ENOMEM);
        }
        // SAFETY: `xprt` was just allocated and is not shared yet;
        // `args.dstaddr` holds `args.addrlen <= sizeof(addr)` bytes.
        unsafe {
            let hz = bindings::xprs_hz();
            let x = &mut *xprt;
            x.connect_timeout = (*x.timeout).to_initval;
            x.max_reconnect_timeout = (*x.timeout).to_maxval;
            x.bind_timeout = BIND_TO_SECS * hz;
            x.reestablish_timeout = INIT_REEST_TO_SECS * hz;
            x.idle_timeout = IDLE_DISC_TO_SECS * hz;
            x.set_resvport(0);
            x.prot = bindings::IPPROTO_TCP as _;
            x.addrlen = args.addrlen;
            core::ptr::copy_nonoverlapping(
                args.dstaddr.cast::<u8>(),
                core::ptr::addr_of_mut!(x.addr).cast::<u8>(),
                args.addrlen,
            );
            if bindings::xprs_get_port(xprt) != 0 {
                bindings::xprs_xprt_set_bound(xprt);
            }
            let rc = bindings::xprs_format_addresses(xprt);
            if rc != 0 {
                bindings::xprs_free_addresses(xprt);
                bindings::xprs_xprt_free(xprt);
                bindings::xprs_module_put();
                return Err(kernel::error::Error::from_errno(rc));
            }
        }
        // INVARIANT: allocated above, and not given to anyone yet.
        Ok(NewXprt(Self(xprt)))
    }

    /// Frees the transport and drops the module reference.
    pub(crate) fn free(self) {
        // SAFETY: by the type invariant the xprt is live; this is its end.
        unsafe {
            bindings::xprs_free_addresses(self.0);
            bindings::xprs_xprt_free(self.0);
            bindings::xprs_module_put();
        }
    }

    /// Returns the raw transport.
    pub(crate) fn as_ptr(&self) -> *mut bindings::rpc_xprt {
        self.0
    }

    // No `&rpc_xprt` or `&mut rpc_xprt` is ever made of a live transport:
    // other CPUs write its fields under sunrpc's locks, so a reference to
    // the whole struct would assert what is not true. Fields are read and
    // written through the raw pointer, one place at a time, and racy reads
    // are volatile, as the C transport's `READ_ONCE()`.

    /// Returns the network namespace.
    pub(crate) fn net(&self) -> *mut bindings::net {
        // SAFETY: valid by the type invariant; set before the transport
        // is created and never written again.
        unsafe { (*self.0).xprt_net }
    }

    /// Returns the server address.
    pub(crate) fn addr(&self) -> *mut bindings::sockaddr {
        // SAFETY: valid by the type invariant.
        unsafe { core::ptr::addr_of_mut!((*self.0).addr).cast() }
    }

    /// Returns true once the NFSv4.1 callback service is attached
    /// (`xprt->bc_serv`), so backchannel calls have somewhere to go.
    pub(crate) fn bc_serv_ready(&self) -> bool {
        // SAFETY: valid by the type invariant.
        unsafe { bindings::xprs_bc_serv_ready(self.0) }
    }

    /// `xprt_connected()`.
    pub(crate) fn connected(&self) -> bool {
        // SAFETY: valid by the type invariant.
        unsafe { bindings::xprs_xprt_connected(self.0) }
    }

    /// `xprt_set_connected()`.
    pub(crate) fn set_connected(&self) {
        // SAFETY: valid by the type invariant.
        unsafe { bindings::xprs_xprt_set_connected(self.0) }
    }

    /// `xprt_clear_connecting()`.
    pub(crate) fn clear_connecting(&self) {
        // SAFETY: valid by the type invariant.
        unsafe { bindings::xprs_xprt_clear_connecting(self.0) }
    }

    /// Returns the connect cookie.
    pub(crate) fn connect_cookie(&self) -> u32 {
        // SAFETY: valid by the type invariant; written only under
        // XPRT_LOCKED, read as `READ_ONCE()`.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*self.0).connect_cookie)) }
    }

    /// Wakes the tasks waiting for the connection with `status`
    /// (`xprt_wake_pending_tasks()`).
    pub(crate) fn wake_pending_tasks(&self, status: i32) {
        // SAFETY: valid by the type invariant; it takes the queue's lock.
        unsafe { bindings::xprt_wake_pending_tasks(self.0, status) }
    }

    /// Asks sunrpc to close the connection (`xprt_force_disconnect()`).
    pub(crate) fn force_disconnect(&self) {
        // SAFETY: valid by the type invariant; callable from any context.
        unsafe { bindings::xprt_force_disconnect(self.0) };
    }

    /// Finds the rqst waiting for the Reply with `xid` and pins it, under
    /// the queue lock (`xprt_lookup_rqst()`, `xprt_pin_rqst()`).
    pub(crate) fn lookup_pin(&self, xid: u32) -> Option<PinnedRqst> {
        self.queue_lock();
        // SAFETY: valid by the type invariant; the queue lock is held, as
        // `xprt_lookup_rqst()` requires.
        let rqst = unsafe { bindings::xprt_lookup_rqst(self.0, xid.to_be()) };
        let pinned = core::ptr::NonNull::new(rqst).map(|rqst| {
            // SAFETY: `rqst` is on this transport's receive queue, found
            // under the queue lock, which is still held: sunrpc releases a
            // rqst only after taking it off the queue under this lock.
            unsafe { bindings::xprt_pin_rqst(rqst.as_ptr()) };
            // SAFETY: just found and pinned, on this transport.
            unsafe { PinnedRqst::new(*self, rqst) }
        });
        self.queue_unlock();
        pinned
    }

    /// Hands the idle `rqst` to the first task waiting on the backlog
    /// (`xprt_wake_up_backlog()`); returns false when none waits.
    ///
    /// # Safety
    ///
    /// `rqst` belongs to this transport and is the caller's to give: no
    /// task or handler uses it. When this returns true the woken task owns
    /// it.
    pub(crate) unsafe fn wake_up_backlog(&self, rqst: &RqstSlot) -> bool {
        // SAFETY: valid by the type invariant; the caller guarantees the
        // rqst.
        unsafe { bindings::xprt_wake_up_backlog(self.0, rqst.as_ptr()) }
    }

    /// Makes the transmitting task wait for buffer space
    /// (`xprt_wait_for_buffer_space()`).
    pub(crate) fn wait_for_buffer_space(&self) {
        // SAFETY: valid by the type invariant; it only sets a bit of
        // `xprt->state` (`XPRT_WRITE_SPACE`), atomically.
        unsafe { bindings::xprt_wait_for_buffer_space(self.0) }
    }

    /// Sets the congestion window from a credit grant.
    pub(crate) fn set_cwnd(&self, cwnd: usize) {
        // SAFETY: valid; `cwnd` is protected by the transport lock.
        unsafe {
            bindings::xprs_transport_lock(self.0);
            (*self.0).cwnd = cwnd;
            bindings::xprs_transport_unlock(self.0);
        }
    }

    /// `rpcrdma_reset_cwnd()`: no congestion slot in use, and `cwnd`.
    pub(crate) fn reset_cwnd(&self, cwnd: usize) {
        // SAFETY: valid; `cong` and `cwnd` are protected by the transport
        // lock.
        unsafe {
            bindings::xprs_transport_lock(self.0);
            (*self.0).cong = 0;
            (*self.0).cwnd = cwnd;
            bindings::xprs_transport_unlock(self.0);
        }
    }

    /// Clears `rq_cong` of each of `rqsts`, under the transport lock that
    /// guards it, so none of them holds a congestion slot any more.
    ///
    /// # Safety
    ///
    /// Every rqst must be valid and belong to this transport.
    pub(crate) unsafe fn forget_congestion(&self, rqsts: impl Iterator<Item = *mut bindings::rpc_rqst>) {
        // SAFETY: valid by the type invariant; `rq_cong` is protected by
        // the transport lock, and the caller guarantees the rqsts.
        unsafe {
            bindings::xprs_transport_lock(self.0);
            for rqst in rqsts {
                (*rqst).rq_cong = 0;
            }
            bindings::xprs_transport_unlock(self.0);
        }
    }

    /// Returns a rqst of this transport to its idle state, all zeroes,
    /// under the transport lock: teardown's [`Xprt::forget_congestion`]
    /// writes `rq_cong` of every rqst, released ones included, under it.
    ///
    /// # Safety
    ///
    /// `rqst` belongs to this transport, and no RPC or handler uses it.
    pub(crate) unsafe fn reset_rqst(&self, rqst: &RqstSlot) {
        // SAFETY: valid by the type invariant; the caller guarantees the
        // rqst; all zeroes is an idle `rpc_rqst`.
        unsafe {
            bindings::xprs_transport_lock(self.0);
            core::ptr::write_bytes(rqst.as_ptr(), 0, 1);
            bindings::xprs_transport_unlock(self.0);
        }
    }

    /// Takes `xprt->queue_lock`.
    pub(super) fn queue_lock(&self) {
        // SAFETY: valid by the type invariant.
        unsafe { bindings::xprs_queue_lock(self.0) }
    }

    /// Releases `xprt->queue_lock`.
    pub(super) fn queue_unlock(&self) {
        // SAFETY: valid by the type invariant; the caller holds the lock.
        unsafe { bindings::xprs_queue_unlock(self.0) }
    }

    /// Cancels the connect worker and waits for it.
    pub(crate) fn cancel_connect_sync(&self) {
        // SAFETY: valid; the worker was initialized by alloc.
        unsafe { bindings::xprs_cancel_connect_sync(self.0) }
    }

    /// Queues the MR refresh worker (`rpcrdma_mrs_refresh()`); a no-op
    /// while it is queued already.
    pub(crate) fn queue_mr_refresh(&self) {
        // SAFETY: valid; the worker was initialized by alloc.
        unsafe { bindings::xprs_queue_mr_refresh(self.0) }
    }

    /// Cancels the MR refresh worker and waits for it.
    pub(crate) fn cancel_mr_refresh_sync(&self) {
        // SAFETY: valid; the worker was initialized by alloc.
        unsafe { bindings::xprs_cancel_mr_refresh_sync(self.0) }
    }

    /// Returns `HZ`.
    pub(crate) fn hz(&self) -> usize {
        // SAFETY: no preconditions.
        unsafe { bindings::xprs_hz() }
    }

    /// Returns `jiffies`.
    pub(crate) fn jiffies(&self) -> usize {
        // SAFETY: no preconditions.
        unsafe { bindings::xprs_jiffies() }
    }

    /// Returns `last_used`.
    pub(crate) fn last_used(&self) -> usize {
        // SAFETY: valid by the type invariant; sunrpc updates it without
        // our locks: read as `READ_ONCE()`.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*self.0).last_used)) }
    }

    /// `->set_connect_timeout` (`xprt_rdma_set_connect_timeout()`): a
    /// shorter connect timeout also shortens the retransmit timeout, to no
    /// less than twice the initial reestablish timeout.
    pub(crate) fn set_connect_timeout(&self, connect: usize, reconnect: usize) {
        let min_initval = 2 * INIT_REEST_TO_SECS * self.hz();
        // SAFETY: valid by the type invariant; the transport lock taken here
        // protects these fields, and the xprt is the first member of its
        // `struct xprs_xprt`, so the private timeout lives as long as it.
        unsafe {
            bindings::xprs_transport_lock(self.0);
            let x = self.0;
            if connect < (*x).connect_timeout {
                let mut to = *(*x).timeout;
                let initval = connect.max(min_initval);
                to.to_initval = initval;
                to.to_maxval = initval;
                let own = x.cast::<bindings::xprs_xprt>();
                (*own).timeout = to;
                (*x).timeout = core::ptr::addr_of!((*own).timeout);
                (*x).connect_timeout = connect;
            }
            if reconnect < (*x).max_reconnect_timeout {
                (*x).max_reconnect_timeout = reconnect;
            }
            bindings::xprs_transport_unlock(self.0);
        }
    }

    /// Returns the generic statistics.
    pub(crate) fn stat(&self) -> bindings::rpc_xprt__bindgen_ty_1 {
        // SAFETY: valid by the type invariant; the counters are bumped
        // under sunrpc's locks, and a report of them, as C's
        // `xprt_rdma_print_stats()`, takes whatever each one holds.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*self.0).stat)) }
    }
}

/// Proof that `XPRT_LOCKED` of one transport is held: sunrpc's transport
/// write lock, a bit in `xprt->state`. sunrpc holds it around
/// `->send_request`, `->connect`, `->close` and `->destroy` (not always
/// around `->inject_disconnect`); `->connect` hands it to the connect
/// worker ([`XprtLocked::queue_connect`]), which gives it back
/// ([`XprtLocked::unlock_connect`]). It serializes those entry points and
/// the fields they write without another lock (`connect_cookie`,
/// `reestablish_timeout`, the connect statistics), which this module
/// therefore writes only through this type.
///
/// The token neither takes nor releases the lock (sunrpc does); it makes
/// the code that runs under the lock say so in its types. It names its
/// transport, so that a proof for one transport cannot pass for another's
/// ([`XprtLocked::is_for`]); a zero-sized token could not tell them apart,
/// which is also why `LockedBy` refuses zero-sized owners. It is neither
/// `Send` nor `Sync`: the lock belongs to the context that runs the entry
/// point.
///
/// # Invariants
///
/// While the value exists, the context that has it holds `XPRT_LOCKED` of
/// `xprt`, and no other `XprtLocked` of `xprt` exists. So `&mut
/// XprtLocked` excludes every other user of what the lock guards, and
/// `&XprtLocked` every user but the holders of shared borrows of this
/// token, on this thread.
pub(crate) struct XprtLocked<'a> {
    xprt: &'a Xprt,
    _not_send: PhantomData<*mut ()>,
}

impl<'a> XprtLocked<'a> {
    /// Records that the caller holds `XPRT_LOCKED` of `xprt`.
    ///
    /// # Safety
    ///
    /// The caller holds `XPRT_LOCKED` of `xprt` until the value is dropped
    /// or consumed, and makes no other `XprtLocked` of `xprt` meanwhile.
    pub(crate) unsafe fn new(xprt: &'a Xprt) -> Self {
        // INVARIANT: guaranteed by the caller; the value stays on this
        // thread (it is not `Send`).
        Self {
            xprt,
            _not_send: PhantomData,
        }
    }

    /// Returns whether this proves the lock of `xprt`.
    pub(crate) fn is_for(&self, xprt: &Xprt) -> bool {
        self.xprt.0 == xprt.0
    }

    /// Accounts a successful connect (as `xprt_rdma_connect_worker()`).
    pub(crate) fn connected_stats(&self) {
        let x = self.xprt.0;
        // SAFETY: valid by the type invariant of `Xprt`; XPRT_LOCKED, held
        // by the type invariant, serializes these fields, as in the C
        // transport, and `Self` is not `Sync`, so no other thread has this
        // token.
        unsafe {
            (*x).connect_cookie = (*x).connect_cookie.wrapping_add(1);
            (*x).stat.connect_count = (*x).stat.connect_count.wrapping_add(1);
            let now = bindings::xprs_jiffies();
            (*x).stat.connect_time = (*x)
                .stat
                .connect_time
                .wrapping_add(now.wrapping_sub((*x).stat.connect_start));
        }
    }

    /// `xprt_rdma_close()`'s bookkeeping after the endpoint is gone.
    pub(crate) fn closed(&self) {
        let x = self.xprt.0;
        // SAFETY: as in `connected_stats`; `xprt_disconnect_done` takes
        // the transport lock itself.
        unsafe {
            (*x).reestablish_timeout = 0;
            (*x).connect_cookie = (*x).connect_cookie.wrapping_add(1);
            bindings::xprt_disconnect_done(x);
        }
    }

    /// Raises the reestablish timeout to at least `min` jiffies.
    pub(crate) fn raise_reestablish_timeout(&self, min: usize) {
        let x = self.xprt.0;
        // SAFETY: as in `connected_stats`.
        unsafe {
            if (*x).reestablish_timeout < min {
                (*x).reestablish_timeout = min;
            }
        }
    }

    /// `xprt_reconnect_delay()`: how long to wait before the next connect.
    pub(crate) fn reconnect_delay(&self) -> usize {
        // SAFETY: valid by the type invariant of `Xprt`; it reads fields
        // that XPRT_LOCKED (held) serializes.
        unsafe { bindings::xprt_reconnect_delay(self.xprt.0) }
    }

    /// `xprt_reconnect_backoff()`: doubles the reestablish timeout, within
    /// `init_to` and the maximum.
    pub(crate) fn reconnect_backoff(&self, init_to: usize) {
        // SAFETY: as in `connected_stats`.
        unsafe { bindings::xprt_reconnect_backoff(self.xprt.0, init_to) }
    }

    /// Hands the lock to the connect worker (`xprt_lock_connect()`: from
    /// `task`, which must hold it, to `cookie`) and queues the worker
    /// after `delay` jiffies. Returns false, queuing nothing, when `task`
    /// is not the lock's holder; the lock then stays with `task`.
    ///
    /// The worker's own `XprtLocked` relies on this being the only place
    /// that queues it.
    pub(crate) fn queue_connect(
        self,
        task: *mut bindings::rpc_task,
        cookie: *mut core::ffi::c_void,
        delay: usize,
    ) -> bool {
        // The token ends here: once handed over, the lock is the worker's.
        let Self { xprt, .. } = self;
        let x = xprt.0;
        // SAFETY: valid by the type invariant of `Xprt`; `task` and
        // `cookie` are only compared with and stored in `snd_task`, never
        // dereferenced.
        if !unsafe { bindings::xprt_lock_connect(x, task, cookie) } {
            return false;
        }
        // SAFETY: valid; the worker was initialized by `Xprt::alloc`.
        unsafe { bindings::xprs_queue_connect(x, delay) };
        true
    }

    /// Gives back the lock the connect worker holds for `cookie`
    /// (`xprt_unlock_connect()`).
    pub(crate) fn unlock_connect(self, cookie: *mut core::ffi::c_void) {
        // The token ends here: once released, the lock may be another's.
        let Self { xprt, .. } = self;
        // SAFETY: valid by the type invariant of `Xprt`; the cookie is only
        // compared with `snd_task`.
        unsafe { bindings::xprt_unlock_connect(xprt.0, cookie) }
    }
}


/// A value read by the holder of either `XPRT_LOCKED` of one transport or
/// a mutex of its own, and replaced only by a holder of both (the
/// transport's endpoint): `LockedBy` for a value two locks guard.
///
/// # Invariants
///
/// `value` is read only through [`XprtMutex::get`] (with an
/// [`XprtLocked`] of `xprt`) or [`XprtMutexGuard::get`] (with `mutex`
/// held), and written only through [`XprtMutexGuard::replace`] (with both).
#[pin_data]
pub(crate) struct XprtMutex<T> {
    xprt: Xprt,
    #[pin]
    mutex: Mutex<()>,
    value: UnsafeCell<T>,
}

// SAFETY: readers on several threads share `&T` (needs `T: Sync`); the one
// writer, which excludes every reader by holding both locks (type
// invariant), may drop a value another thread made (needs `T: Send`).
unsafe impl<T: Send + Sync> Sync for XprtMutex<T> {}

impl<T> XprtMutex<T> {
    /// Makes the cell for `xprt`, holding `value`.
    pub(crate) fn new(xprt: Xprt, value: T) -> impl PinInit<Self> {
        pin_init!(Self {
            xprt,
            mutex <- new_mutex!((), "xprtrdma_rs::ep_lock"),
            value: UnsafeCell::new(value),
        })
    }

    /// Returns the value, for a holder of `XPRT_LOCKED`; None when `held`
    /// is another transport's.
    pub(crate) fn get<'b>(&'b self, held: &'b XprtLocked<'_>) -> Option<&'b T> {
        if !held.is_for(&self.xprt) {
            return None;
        }
        // SAFETY: `held` proves that this context holds XPRT_LOCKED of this
        // transport, so no other context writes the value (type invariant,
        // `XprtLocked` invariant); this one writes it only through
        // `&mut XprtLocked` ([`XprtMutexGuard::replace`]), which the shared
        // borrow of `held` for `'b` excludes.
        Some(unsafe { &*self.value.get() })
    }

    /// Takes the mutex, to read the value or (with `XPRT_LOCKED`) replace
    /// it.
    pub(crate) fn lock(&self) -> XprtMutexGuard<'_, T> {
        // INVARIANT: the guard holds `self.mutex`.
        XprtMutexGuard {
            cell: self,
            _guard: self.mutex.lock(),
        }
    }
}

/// The mutex of an [`XprtMutex`], held.
///
/// # Invariants
///
/// `_guard` holds `cell.mutex`.
pub(crate) struct XprtMutexGuard<'a, T> {
    cell: &'a XprtMutex<T>,
    _guard: Guard<'a, (), MutexBackend>,
}

impl<T> XprtMutexGuard<'_, T> {
    /// Returns the value.
    pub(crate) fn get(&self) -> &T {
        // SAFETY: this context holds the mutex (type invariant), so no
        // other context writes the value (type invariant of `XprtMutex`);
        // this one writes it only through `&mut self` (`replace`), which
        // the borrow of `self` for the result's lifetime excludes.
        unsafe { &*self.cell.value.get() }
    }

    /// Installs `new` and returns the value it replaces, for a holder of
    /// `XPRT_LOCKED` as well; when `held` is another transport's, replaces
    /// nothing and gives `new` back.
    pub(crate) fn replace(&mut self, held: &mut XprtLocked<'_>, new: T) -> core::result::Result<T, T> {
        if !held.is_for(&self.cell.xprt) {
            return Err(new);
        }
        // SAFETY: this context holds the mutex (type invariant) and
        // XPRT_LOCKED of this transport (`held`, checked above), which
        // exclude every other context's reader and writer (type invariant
        // of `XprtMutex`). On this one, a reader holds a shared borrow of
        // `self` or of the unique `XprtLocked` of this transport, and both
        // are borrowed mutably here.
        Ok(core::mem::replace(unsafe { &mut *self.cell.value.get() }, new))
    }
}
