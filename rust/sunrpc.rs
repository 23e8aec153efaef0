// SPDX-License-Identifier: GPL-2.0

//! Thin abstractions over the sunrpc client transport API: the transport
//! here, the class, its sysctls and the module parameters in `class`, the
//! entry points sunrpc calls (the
//! [`XprtOps`] trait and its C table) in `ops`, the `XPRT_LOCKED` token
//! and the value it guards with a mutex in `locked`, tasks, rqsts and the
//! turns of the ops at them in `rqst`, the rqsts a transport keeps and
//! hands out in `owned`, `xdr_buf` views in `xdr`.

use crate::bindings;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::sync::Arc;
use kernel::types::Opaque;

mod class;
mod locked;
mod ops;
mod owned;
mod rqst;
mod xdr;

pub(crate) use class::{Params, Sysctls, TransportClass};
pub(crate) use locked::{XprtLocked, XprtMutex, XprtMutexGuard};
pub(crate) use ops::{Published, XprtOps};
pub(crate) use owned::{IdleRqst, OwnedRqst};
pub(crate) use rqst::{OwnerTurn, PinnedRqst, RpcBufs, Rqst, SlotReturn, Task, TransmitTurn};
pub(crate) use xdr::{PieceAddr, XdrBuf};

/// Warns once with a stack trace (`WARN_ONCE`): a broken invariant that
/// the transport survives by leaking rather than corrupting.
pub(crate) fn warn_once(what: &CStr) {
    // SAFETY: `what` is a NUL-terminated string.
    unsafe { bindings::xprs_warn_once(what.as_char_ptr()) };
}

/// A `struct rpc_xprt` of this module's class (a `struct xprs_xprt`): the
/// one type through which the transport names its sunrpc transport.
///
/// The C object is never copied, moved or referenced whole in Rust: a
/// value of this type exists only behind a pointer to a transport sunrpc
/// allocated. Code holds it in one of three ways, each of which keeps the
/// transport live for as long as it exists:
///
/// - `&Xprt`, a borrow: the adapter of `ops` makes one for each call
///   sunrpc makes on the transport (the transport is live during the
///   call), and the two holders below lend theirs;
/// - [`XprtRef`], a counted reference (`xprt_get()`, `xprt_put()`), for
///   a holder that must keep the transport from being destroyed (the
///   callback service, for each callback it is given);
/// - [`XprtLink`], the back-link of the transport's own state, which does
///   not count (the transport owns the state: a counted reference there
///   would keep it forever), and which the state drops before `->destroy`
///   returns.
///
/// # Invariants
///
/// A `&Xprt` is made only for a transport allocated by [`Xprt::alloc`]
/// (whose table is `ops::Adapter::<T>::TABLE` for some `T`) that stays
/// allocated, and not yet past its `->destroy`, for the borrow's lifetime.
#[repr(transparent)]
pub(crate) struct Xprt(Opaque<bindings::rpc_xprt>);

// SAFETY: an `Xprt` is a kernel object that sunrpc uses from every CPU and
// that is not tied to a thread. No method makes a Rust reference to the
// `rpc_xprt` inside (see below): each calls a sunrpc function that takes
// the transport's own locks, or reads or writes single fields through the
// raw pointer under the rule stated at that method (a lock held,
// `XPRT_LOCKED` through [`XprtLocked`], or a volatile read as
// `READ_ONCE()`). Those rules do not depend on the thread, so a `&Xprt`
// (the only access there is) may be sent to and used on any thread.
unsafe impl Send for Xprt {}
// SAFETY: as above: every method takes `&self` and follows sunrpc's
// locking, whatever the thread.
unsafe impl Sync for Xprt {}

/// A transport [`Xprt::alloc`] made for `T` that sunrpc has not been
/// given yet: the class's `setup` ([`XprtOps::setup`]) finishes it, then
/// hands it over with [`NewXprt::publish`] or frees it.
///
/// # Invariants
///
/// `self.0` is a transport allocated by [`Xprt::alloc`] with the table
/// `ops::Adapter::<T>::TABLE` that nothing has freed, and sunrpc has not
/// seen it: no one else reads or writes its fields. Only this value frees
/// it or gives it to sunrpc, and it is consumed by either.
pub(crate) struct NewXprt<T>(NonNull<bindings::rpc_xprt>, PhantomData<T>);

impl<T: XprtOps> NewXprt<T> {
    /// Returns the transport, borrowed from this value, which keeps it.
    pub(crate) fn xprt(&self) -> &Xprt {
        // SAFETY: allocated and not freed while `self` exists (type
        // invariant): only `publish` and `free`, which consume `self`,
        // give it up. It is of this module's class, as `Xprt` requires.
        unsafe { Xprt::from_ptr(self.0.as_ptr()) }
    }

    /// Makes the back-link of the state that [`NewXprt::publish`] will
    /// store in this transport.
    ///
    /// # Safety
    ///
    /// The link and every clone of it are dropped before the state
    /// published with this `NewXprt` is (the adapter's `->destroy` frees
    /// the transport only once the state's last `Arc` is dropped, and
    /// never if one is left), or, when the state is not published, before
    /// [`NewXprt::free`] is called.
    pub(crate) unsafe fn link(&self) -> XprtLink {
        // INVARIANT: the transport is allocated now (type invariant), and
        // is freed only by `free` or by the adapter's `->destroy` after the
        // published state's last reference was dropped; the caller
        // guarantees that the link and its clones are gone by then.
        XprtLink(self.0.cast())
    }

    /// Stores `state` as the transport's, which the entry points reach,
    /// sets the largest RPC payload, which the RPC client reads, and
    /// returns the finished transport, for the adapter to give sunrpc.
    pub(crate) fn publish(self, state: Arc<T>, max_payload: usize) -> Published<T> {
        // The adapter's `destroy` takes this reference back
        // (`Arc::from_raw`); an `Arc` never moves its value.
        let raw = Arc::into_raw(state).cast_mut();
        let x = self.0.as_ptr();
        // SAFETY: allocated, and not shared yet (type invariant).
        unsafe {
            bindings::xprs_xprt_set_priv(x, raw.cast());
            (*x).max_payload = max_payload;
        }
        // INVARIANT: allocated with `T`'s table (type invariant), its
        // private pointer the state's raw `Arc`, not seen by sunrpc yet.
        Published(x, PhantomData)
    }

    /// Frees the transport, which sunrpc never saw.
    pub(crate) fn free(self) {
        // SAFETY: allocated by `Xprt::alloc` and not freed (type
        // invariant); sunrpc never saw it, and this consumes the only value
        // that could free it or give it away. The links of a state that was
        // not published are gone (`NewXprt::link`'s contract).
        unsafe { Xprt::free(self.0.as_ptr()) }
    }
}

/// The state's link back to the transport that owns it: a pointer that
/// does not count, as C's `container_of()` from `rpcrdma_xprt` to its
/// `rpc_xprt` does not. It derefs to [`Xprt`]. Cloning it makes another
/// link under the same contract ([`NewXprt::link`]).
///
/// # Invariants
///
/// The transport is allocated by [`Xprt::alloc`] and not past its
/// `->destroy` while this value exists: made by [`NewXprt::link`], whose
/// caller guarantees that every link goes before the state it was made
/// for, which the transport frees only after the state.
pub(crate) struct XprtLink(NonNull<Xprt>);

// SAFETY: a link gives only `&Xprt`, which is `Send` and `Sync`; where it
// is dropped does not matter (it owns nothing).
unsafe impl Send for XprtLink {}
// SAFETY: as above.
unsafe impl Sync for XprtLink {}

impl Clone for XprtLink {
    fn clone(&self) -> Self {
        // INVARIANT: the transport is live now (type invariant), and the
        // clone falls under the contract of the link it is made from.
        Self(self.0)
    }
}

impl core::ops::Deref for XprtLink {
    type Target = Xprt;

    fn deref(&self) -> &Xprt {
        // SAFETY: live while `self` exists (type invariant), so for the
        // borrow of `self`; `Xprt` is a transparent wrapper.
        unsafe { self.0.as_ref() }
    }
}

/// As in `xprt_rdma.h`, in seconds.
const BIND_TO_SECS: usize = 60;
const INIT_REEST_TO_SECS: usize = 5;
const IDLE_DISC_TO_SECS: usize = 5 * 60;

impl Xprt {
    /// Borrows a transport sunrpc passed to one of our ops, or one a
    /// holder below keeps.
    ///
    /// # Safety
    ///
    /// `xprt` is a transport of this class that stays allocated, and not
    /// past its `->destroy`, for `'a`.
    pub(super) unsafe fn from_ptr<'a>(xprt: *mut bindings::rpc_xprt) -> &'a Self {
        // INVARIANT: guaranteed by the caller.
        // SAFETY: `Xprt` is a transparent wrapper of the C struct, and the
        // pointer is valid for `'a` (guaranteed by the caller).
        unsafe { &*xprt.cast::<Self>() }
    }

    /// Allocates and initializes a transport for `T`, with its table, as
    /// `xprt_setup_rdma()` does, taking a module reference.
    pub(crate) fn alloc<T: XprtOps>(args: &bindings::xprt_create, slots: u32) -> Result<NewXprt<T>> {
        if args.addrlen > core::mem::size_of::<bindings::__kernel_sockaddr_storage>() {
            return Err(EBADF);
        }
        // SAFETY: no preconditions.
        if !unsafe { bindings::xprs_try_module_get() } {
            return Err(EIO);
        }
        // SAFETY: `args.net` is the namespace sunrpc creates the transport
        // in.
        let xprt = unsafe { bindings::xprs_xprt_alloc(args.net, slots, &ops::Adapter::<T>::TABLE) };
        let Some(nn) = NonNull::new(xprt) else {
            // SAFETY: taken above.
            unsafe { bindings::xprs_module_put() };
            return Err(ENOMEM);
        };
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
        // INVARIANT: allocated above with `T`'s table, and not given to
        // anyone yet.
        Ok(NewXprt(nn, PhantomData))
    }

    /// Frees the transport and drops the module reference.
    ///
    /// # Safety
    ///
    /// `xprt` was allocated by [`Xprt::alloc`] and is not freed yet, and
    /// nothing uses it after this call: no `&Xprt` or [`XprtLink`] of it
    /// is left, and sunrpc has finished with it (it never saw it, or it
    /// called `->destroy`).
    pub(super) unsafe fn free(xprt: *mut bindings::rpc_xprt) {
        // SAFETY: guaranteed by the caller; this is its end.
        unsafe {
            bindings::xprs_free_addresses(xprt);
            bindings::xprs_xprt_free(xprt);
            bindings::xprs_module_put();
        }
    }

    /// Returns the raw transport, for the C calls of the abstractions.
    pub(crate) fn as_ptr(&self) -> *mut bindings::rpc_xprt {
        self.0.get()
    }

    // No `&rpc_xprt` or `&mut rpc_xprt` is ever made of a live transport:
    // other CPUs write its fields under sunrpc's locks, so a reference to
    // the whole struct would assert what is not true. Fields are read and
    // written through the raw pointer, one place at a time, and racy reads
    // are volatile, as the C transport's `READ_ONCE()`. Each method below
    // relies on the transport being live for the borrow of `self` (type
    // invariant), written "live" in its SAFETY comment.

    /// Returns the network namespace.
    pub(crate) fn net(&self) -> *mut bindings::net {
        // SAFETY: live; set before the transport is created and never
        // written again.
        unsafe { (*self.as_ptr()).xprt_net }
    }

    /// Returns the server address.
    pub(crate) fn addr(&self) -> *mut bindings::sockaddr {
        // SAFETY: live; only the address of the field is taken.
        unsafe { core::ptr::addr_of_mut!((*self.as_ptr()).addr).cast() }
    }

    /// Returns true once the NFSv4.1 callback service is attached
    /// (`xprt->bc_serv`), so backchannel calls have somewhere to go.
    pub(crate) fn bc_serv_ready(&self) -> bool {
        // SAFETY: live.
        unsafe { bindings::xprs_bc_serv_ready(self.as_ptr()) }
    }

    /// `xprt_connected()`.
    pub(crate) fn connected(&self) -> bool {
        // SAFETY: live; `state` is a word of bits that sunrpc changes
        // only with atomic bit operations, read here once, as `test_bit()`
        // reads it (inline, as C's `xprt_connected()` is: no C call on
        // every Send).
        let state = unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*self.as_ptr()).state)) };
        state & (1 << bindings::XPRT_CONNECTED) != 0
    }

    /// `xprt_set_connected()`.
    pub(crate) fn set_connected(&self) {
        // SAFETY: live; it sets a bit of `xprt->state`, atomically.
        unsafe { bindings::xprs_xprt_set_connected(self.as_ptr()) }
    }

    /// `xprt_clear_connecting()`.
    pub(crate) fn clear_connecting(&self) {
        // SAFETY: live; it clears a bit of `xprt->state`, atomically.
        unsafe { bindings::xprs_xprt_clear_connecting(self.as_ptr()) }
    }

    /// Returns the connect cookie.
    pub(crate) fn connect_cookie(&self) -> u32 {
        // SAFETY: live; written only under XPRT_LOCKED, read as
        // `READ_ONCE()`.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*self.as_ptr()).connect_cookie)) }
    }

    /// Wakes the tasks waiting for the connection with `status`
    /// (`xprt_wake_pending_tasks()`).
    pub(crate) fn wake_pending_tasks(&self, status: i32) {
        // SAFETY: live; it takes the queue's lock.
        unsafe { bindings::xprt_wake_pending_tasks(self.as_ptr(), status) }
    }

    /// Asks sunrpc to close the connection (`xprt_force_disconnect()`).
    pub(crate) fn force_disconnect(&self) {
        // SAFETY: live; callable from any context.
        unsafe { bindings::xprt_force_disconnect(self.as_ptr()) };
    }

    /// Wakes the senders waiting for buffer space, if any
    /// (`xprt_write_space()`).
    pub(crate) fn write_space(&self) {
        // SAFETY: live; it takes `transport_lock` (a plain spinlock: our
        // callers run in process context).
        unsafe { bindings::xprt_write_space(self.as_ptr()) };
    }

    /// Finds the rqst waiting for the Reply with `xid` and pins it, under
    /// the queue lock (`xprt_lookup_rqst()`, `xprt_pin_rqst()`).
    pub(crate) fn lookup_pin(&self, xid: u32) -> Option<PinnedRqst> {
        self.queue_lock();
        // SAFETY: live; the queue lock is held, as `xprt_lookup_rqst()`
        // requires.
        let rqst = unsafe { bindings::xprt_lookup_rqst(self.as_ptr(), xid.to_be()) };
        let pinned = core::ptr::NonNull::new(rqst).map(|rqst| {
            // SAFETY: `rqst` is on this transport's receive queue, found
            // under the queue lock, which is still held: sunrpc releases a
            // rqst only after taking it off the queue under this lock.
            unsafe { bindings::xprt_pin_rqst(rqst.as_ptr()) };
            // SAFETY: just found on this transport's receive queue and
            // pinned.
            unsafe { PinnedRqst::new(rqst) }
        });
        self.queue_unlock();
        pinned
    }

    /// Makes the transmitting task wait for buffer space
    /// (`xprt_wait_for_buffer_space()`).
    pub(crate) fn wait_for_buffer_space(&self) {
        // SAFETY: live; it only sets a bit of `xprt->state`
        // (`XPRT_WRITE_SPACE`), atomically.
        unsafe { bindings::xprt_wait_for_buffer_space(self.as_ptr()) }
    }

    /// Sets the congestion window from a credit grant.
    pub(crate) fn set_cwnd(&self, cwnd: usize) {
        let x = self.as_ptr();
        // SAFETY: live; `cwnd` is protected by the transport lock, held
        // for the write.
        unsafe {
            bindings::xprs_transport_lock(x);
            (*x).cwnd = cwnd;
            bindings::xprs_transport_unlock(x);
        }
    }

    /// `rpcrdma_reset_cwnd()`: no congestion slot in use, and `cwnd`.
    pub(crate) fn reset_cwnd(&self, cwnd: usize) {
        let x = self.as_ptr();
        // SAFETY: live; `cong` and `cwnd` are protected by the transport
        // lock, held for the writes.
        unsafe {
            bindings::xprs_transport_lock(x);
            (*x).cong = 0;
            (*x).cwnd = cwnd;
            bindings::xprs_transport_unlock(x);
        }
    }

    /// Takes `xprt->queue_lock`.
    fn queue_lock(&self) {
        // SAFETY: live.
        unsafe { bindings::xprs_queue_lock(self.as_ptr()) }
    }

    /// Releases `xprt->queue_lock`.
    fn queue_unlock(&self) {
        // SAFETY: live; the caller holds the lock.
        unsafe { bindings::xprs_queue_unlock(self.as_ptr()) }
    }

    /// Cancels the connect worker and waits for it.
    pub(crate) fn cancel_connect_sync(&self) {
        // SAFETY: live; the worker was initialized by alloc.
        unsafe { bindings::xprs_cancel_connect_sync(self.as_ptr()) }
    }

    /// Queues the MR refresh worker (`rpcrdma_mrs_refresh()`); a no-op
    /// while it is queued already.
    pub(crate) fn queue_mr_refresh(&self) {
        // SAFETY: live; the worker was initialized by alloc.
        unsafe { bindings::xprs_queue_mr_refresh(self.as_ptr()) }
    }

    /// Cancels the MR refresh worker and waits for it.
    pub(crate) fn cancel_mr_refresh_sync(&self) {
        // SAFETY: live; the worker was initialized by alloc.
        unsafe { bindings::xprs_cancel_mr_refresh_sync(self.as_ptr()) }
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
        // SAFETY: live; sunrpc updates it without our locks: read as
        // `READ_ONCE()`.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*self.as_ptr()).last_used)) }
    }

    /// `->set_connect_timeout` (`xprt_rdma_set_connect_timeout()`): a
    /// shorter connect timeout also shortens the retransmit timeout, to no
    /// less than twice the initial reestablish timeout.
    pub(crate) fn set_connect_timeout(&self, connect: usize, reconnect: usize) {
        let min_initval = 2 * INIT_REEST_TO_SECS * self.hz();
        let x = self.as_ptr();
        // SAFETY: live; the transport lock taken here protects these
        // fields, and the xprt is the first member of its `struct
        // xprs_xprt` (`Xprt::alloc`), so the private timeout lives as long
        // as it.
        unsafe {
            bindings::xprs_transport_lock(x);
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
            bindings::xprs_transport_unlock(x);
        }
    }

    /// Returns the generic statistics.
    pub(crate) fn stat(&self) -> bindings::rpc_xprt__bindgen_ty_1 {
        // SAFETY: live; the counters are bumped under sunrpc's locks, and a
        // report of them, as C's `xprt_rdma_print_stats()`, takes whatever
        // each one holds.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*self.as_ptr()).stat)) }
    }
}

/// A counted reference to a transport (`xprt_get()`, `xprt_put()`): it
/// keeps the transport from being destroyed, as the callback service holds
/// one for each callback it is given (`xprs_bc_enqueue()` takes it,
/// `->bc_free_rqst` gives it up). It derefs to [`Xprt`].
///
/// Not an `ARef<Xprt>`: `AlwaysRefCounted` would let any `&Xprt` take a
/// new reference, and in `->destroy`, where the state's links still lend
/// a `&Xprt`, the count is already zero, so `xprt_get()` fails
/// (`kref_get_unless_zero()`) and the reference would be put without
/// being held. This type is made only from a reference already taken.
///
/// # Invariants
///
/// The value owns one reference to a live transport of this class.
pub(crate) struct XprtRef(NonNull<Xprt>);

// SAFETY: the reference is sunrpc's count, not a thread's: `xprt_put()`
// may be called on any thread (with the last reference it waits for
// XPRT_LOCKED and queues the destroy work, so it may sleep, which is a
// rule of context, not of thread), and the value gives only `&Xprt`, which
// is `Send` and `Sync`.
unsafe impl Send for XprtRef {}
// SAFETY: as above.
unsafe impl Sync for XprtRef {}

impl XprtRef {
    /// Takes over a counted reference to `xprt`.
    ///
    /// # Safety
    ///
    /// `xprt` is a live transport of this class, and the caller owns a
    /// reference to it (`xprt_get()`), which it gives to the new value.
    pub(super) unsafe fn from_counted(xprt: *mut bindings::rpc_xprt) -> Self {
        // SAFETY: non-null, as a live transport (guaranteed by the caller).
        // INVARIANT: the caller's reference is the new value's.
        Self(unsafe { NonNull::new_unchecked(xprt.cast::<Xprt>()) })
    }
}

impl core::ops::Deref for XprtRef {
    type Target = Xprt;

    fn deref(&self) -> &Xprt {
        // SAFETY: the reference this value owns (type invariant) keeps the
        // transport from `->destroy`, so it is live for the borrow of
        // `self`; `Xprt` is a transparent wrapper.
        unsafe { self.0.as_ref() }
    }
}

impl Drop for XprtRef {
    fn drop(&mut self) {
        // SAFETY: this value owns a reference (type invariant), given up
        // here, once; with the last one `xprt_put()` destroys the
        // transport, from a work.
        unsafe { bindings::xprt_put(self.0.as_ptr().cast()) };
    }
}

/// A `seq_file` sunrpc is printing a transport's statistics to
/// (`->print_stats`).
///
/// # Invariants
///
/// The `seq_file` is valid for `'a`, and the context that has this value
/// is the one printing to it.
pub(crate) struct SeqFile<'a> {
    seq: *mut bindings::seq_file,
    _life: core::marker::PhantomData<&'a mut bindings::seq_file>,
}

impl SeqFile<'_> {
    /// Wraps the `seq_file` of `->print_stats`.
    ///
    /// # Safety
    ///
    /// `seq` satisfies the type invariant for the chosen lifetime.
    pub(crate) unsafe fn from_raw(seq: *mut bindings::seq_file) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self {
            seq,
            _life: core::marker::PhantomData,
        }
    }

    /// Appends `s` (`seq_puts()`).
    pub(crate) fn puts(&mut self, s: &CStr) {
        // SAFETY: the seq_file is valid and ours to print to (type
        // invariant); `s` is NUL-terminated.
        unsafe { bindings::xprs_seq_puts(self.seq, s.as_char_ptr()) };
    }
}
