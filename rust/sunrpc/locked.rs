// SPDX-License-Identifier: GPL-2.0

//! The `XPRT_LOCKED` token of a transport, and a value guarded by that lock
//! and a mutex together.

use super::{Task, Xprt};
use crate::bindings;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use kernel::prelude::*;
use kernel::sync::lock::{mutex::MutexBackend, Guard};
use kernel::sync::Mutex;
use kernel::new_mutex;

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
/// ([`XprtLocked::is_at`]); a zero-sized token could not tell them apart,
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

    /// Returns whether this proves the lock of the transport at `addr`
    /// (an [`XprtMutex`]'s, compared, never dereferenced).
    fn is_at(&self, addr: usize) -> bool {
        core::ptr::from_ref(self.xprt) as usize == addr
    }

    /// Accounts a successful connect (as `xprt_rdma_connect_worker()`).
    pub(crate) fn connected_stats(&self) {
        let x = self.xprt.as_ptr();
        // SAFETY: live (`Xprt` invariant, for the borrow `self.xprt`);
        // XPRT_LOCKED, held by the type invariant, serializes these fields,
        // as in the C transport, and `Self` is not `Sync`, so no other
        // thread has this token.
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
        let x = self.xprt.as_ptr();
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
        let x = self.xprt.as_ptr();
        // SAFETY: as in `connected_stats`.
        unsafe {
            if (*x).reestablish_timeout < min {
                (*x).reestablish_timeout = min;
            }
        }
    }

    /// `xprt_reconnect_delay()`: how long to wait before the next connect.
    pub(crate) fn reconnect_delay(&self) -> usize {
        // SAFETY: live (`Xprt` invariant, for the borrow `self.xprt`); it
        // reads fields that XPRT_LOCKED (held) serializes.
        unsafe { bindings::xprt_reconnect_delay(self.xprt.as_ptr()) }
    }

    /// `xprt_reconnect_backoff()`: doubles the reestablish timeout, within
    /// `init_to` and the maximum.
    pub(crate) fn reconnect_backoff(&self, init_to: usize) {
        // SAFETY: as in `connected_stats`.
        unsafe { bindings::xprt_reconnect_backoff(self.xprt.as_ptr(), init_to) }
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
        task: &Task<'_>,
        cookie: *mut core::ffi::c_void,
        delay: usize,
    ) -> bool {
        // The token ends here: once handed over, the lock is the worker's.
        let Self { xprt, .. } = self;
        let x = xprt.as_ptr();
        // SAFETY: live (`Xprt` invariant, for the borrow `xprt`); `task`
        // and `cookie` are only compared with and stored in `snd_task`,
        // never dereferenced.
        if !unsafe { bindings::xprt_lock_connect(x, task.as_ptr(), cookie) } {
            return false;
        }
        // SAFETY: live; the worker was initialized by `Xprt::alloc`.
        unsafe { bindings::xprs_queue_connect(x, delay) };
        true
    }

    /// Gives back the lock the connect worker holds for `cookie`
    /// (`xprt_unlock_connect()`).
    pub(crate) fn unlock_connect(self, cookie: *mut core::ffi::c_void) {
        // The token ends here: once released, the lock may be another's.
        let Self { xprt, .. } = self;
        // SAFETY: live (`Xprt` invariant, for the borrow `xprt`); the
        // cookie is only compared with `snd_task`.
        unsafe { bindings::xprt_unlock_connect(xprt.as_ptr(), cookie) }
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
    /// The address of the transport, compared with an [`XprtLocked`]'s,
    /// never dereferenced.
    xprt: usize,
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
    pub(crate) fn new(xprt: &Xprt, value: T) -> impl PinInit<Self> {
        let xprt = core::ptr::from_ref(xprt) as usize;
        pin_init!(Self {
            xprt,
            mutex <- new_mutex!((), "xprtrdma_rs::ep_lock"),
            value: UnsafeCell::new(value),
        })
    }

    /// Returns the value, for a holder of `XPRT_LOCKED`; None when `held`
    /// is another transport's.
    pub(crate) fn get<'b>(&'b self, held: &'b XprtLocked<'_>) -> Option<&'b T> {
        if !held.is_at(self.xprt) {
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
        if !held.is_at(self.cell.xprt) {
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
