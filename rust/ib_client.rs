// SPDX-License-Identifier: GPL-2.0

//! Our `ib_client`: device removal notification (`ib_client.c`'s
//! `rpcrdma_ib_client` and `rpcrdma_rn_register()`).
//!
//! A connection registers a [`RemovalWatch`] on its device once route
//! resolution has chosen it. When the device is unregistered, ib_core calls
//! our `remove` callback before rdma_cm's (clients are removed in reverse
//! order of registration): it tells every watcher, then waits until each
//! has dropped its watch, which a connection does when it tears down and
//! releases its verbs objects. Only then may the device go.

use crate::bindings;
use crate::ib::Device;
use core::ffi::c_void;
use kernel::c_str;
use kernel::error::{to_result, Error};
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::Opaque;

/// Registration of the `ib_client`.
///
/// # Invariants
///
/// The client is registered with ib_core for the whole life of this value.
pub(crate) struct IbClient(());

impl IbClient {
    /// Registers the client; ib_core calls `add` for every existing device.
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: registers a static client; called once, from module init.
        to_result(unsafe { bindings::xprs_ib_client_register() })?;
        // INVARIANT: registration succeeded above.
        Ok(Self(()))
    }
}

impl Drop for IbClient {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the client is registered, and this
        // is the only place that unregisters it. ib_core calls `remove` for
        // every device first.
        unsafe { bindings::xprs_ib_client_unregister() };
    }
}

/// Something to tell when its device is being removed.
pub(crate) trait RemovalNotify: Send + Sync {
    /// The device is going away: stop using it and drop the watch soon.
    /// Called under the devices lock, so it must not sleep on it.
    fn device_removed(&self);
}

/// One registered watcher.
struct Watcher {
    ctx: *const c_void,
    notify: unsafe fn(*const c_void),
}

/// Calls `T::device_removed` on a watcher's context.
///
/// # Safety
///
/// `ctx` must point to a live `T`.
unsafe fn notify_trampoline<T: RemovalNotify>(ctx: *const c_void) {
    // SAFETY: guaranteed by the caller.
    unsafe { (*ctx.cast::<T>()).device_removed() };
}

/// Our per-device data (`struct rpcrdma_device`).
///
/// # Invariants
///
/// - `removing` and `watchers` are used only under the devices lock.
/// - `done` is initialized before the data is published as client data.
/// - The data is freed only by `remove`, after `watchers` became empty
///   and the client data pointer was cleared under the devices lock, so a
///   pointer read under the lock is valid until the lock is released.
struct DeviceData {
    removing: bool,
    /// Registered watchers; a slot is emptied when its watch is dropped.
    watchers: KVec<Option<Watcher>>,
    done: Opaque<bindings::completion>,
}

impl DeviceData {
    fn watched(&self) -> bool {
        self.watchers.iter().any(Option::is_some)
    }
}

/// Holds the devices lock (`xprs_devices_mutex`).
struct DevicesGuard(());

impl DevicesGuard {
    fn lock() -> Self {
        // SAFETY: a static mutex, taken in process context.
        unsafe { bindings::xprs_devices_lock() };
        Self(())
    }

    /// Returns our data of `device`, or `None` if the device was not added
    /// or is past its removal.
    #[allow(clippy::mut_from_ref)]
    fn data(&self, device: *mut bindings::ib_device) -> Option<&mut DeviceData> {
        // SAFETY: callers pass a device that is registered with ib_core:
        // borrowed from an rdma_cm id (`Device`), held by a watch (whose
        // removal waits for it), or the one being removed.
        let data = unsafe { bindings::xprs_ib_client_data(device) }.cast::<DeviceData>();
        // SAFETY: the devices lock is held: a published pointer stays valid
        // and its fields are ours (type invariant of `DeviceData`).
        unsafe { data.as_mut() }
    }
}

impl Drop for DevicesGuard {
    fn drop(&mut self) {
        // SAFETY: taken in `lock`.
        unsafe { bindings::xprs_devices_unlock() };
    }
}

/// A connection's registration for removal notification on its device:
/// `target.device_removed()` is called when the device is removed, and
/// the removal waits until the watch is dropped.
///
/// # Invariants
///
/// `target` (its address) is one entry of the `watchers` of `device`'s
/// data until drop, and `device` is valid until then: the removal of a
/// device waits for its watches.
pub(crate) struct RemovalWatch<T: RemovalNotify> {
    device: *mut bindings::ib_device,
    target: Arc<T>,
}

// SAFETY: the watch is the address of a device, whose use is serialized by
// the devices lock, and an `Arc<T>`, whose `T` is `Send + Sync`.
unsafe impl<T: RemovalNotify> Send for RemovalWatch<T> {}
// SAFETY: `&RemovalWatch` gives access to nothing.
unsafe impl<T: RemovalNotify> Sync for RemovalWatch<T> {}

impl<T: RemovalNotify> RemovalWatch<T> {
    /// Asks for `target.device_removed()` when `device` is removed. Fails
    /// with `ENETUNREACH` if the device is already going away.
    pub(crate) fn new(device: &Device<'_>, target: Arc<T>) -> Result<Self> {
        let guard = DevicesGuard::lock();
        let unreachable = Error::from_errno(-(bindings::ENETUNREACH as i32));
        // The device is valid while borrowed (`Device` invariant).
        let data = guard.data(device.as_ptr()).ok_or(unreachable)?;
        if data.removing {
            return Err(unreachable);
        }
        let watcher = Watcher {
            ctx: Self::ctx(&target),
            notify: notify_trampoline::<T>,
        };
        match data.watchers.iter_mut().find(|w| w.is_none()) {
            Some(free) => *free = Some(watcher),
            None => data.watchers.push(Some(watcher), GFP_KERNEL)?,
        }
        // INVARIANT: registered above, under the lock, for a device not
        // being removed: its removal now waits for this watch.
        Ok(Self {
            device: device.as_ptr(),
            target,
        })
    }

    /// The watcher context of `target`: the address of its `T`.
    fn ctx(target: &Arc<T>) -> *const c_void {
        (&**target as *const T).cast()
    }
}

impl<T: RemovalNotify> Drop for RemovalWatch<T> {
    fn drop(&mut self) {
        let guard = DevicesGuard::lock();
        // The data outlives every watch (type invariant of `DeviceData`).
        let Some(data) = guard.data(self.device) else {
            crate::sunrpc::warn_once(c_str!("removal watch outlived its device data"));
            return;
        };
        let ctx = Self::ctx(&self.target);
        if let Some(w) = data
            .watchers
            .iter_mut()
            .find(|w| w.as_ref().is_some_and(|w| w.ctx == ctx))
        {
            *w = None;
        }
        if data.removing && !data.watched() {
            // SAFETY: initialized before publication; `remove` waits on it.
            unsafe { bindings::complete(data.done.get()) };
        }
    }
}

/// The client's `add` callback (`rpcrdma_add_one()`).
#[no_mangle]
extern "C" fn xprs_ib_add_one(device: *mut bindings::ib_device) -> core::ffi::c_int {
    let data = match KBox::new(
        DeviceData {
            removing: false,
            watchers: KVec::new(),
            done: Opaque::uninit(),
        },
        GFP_KERNEL,
    ) {
        Ok(data) => data,
        Err(_) => return -(bindings::ENOMEM as i32),
    };
    // SAFETY: `done` is in its final heap location.
    unsafe { bindings::xprs_init_completion(data.done.get()) };
    let _guard = DevicesGuard::lock();
    // SAFETY: ib_core passes a device being registered; ownership of the
    // box moves to the client data until `remove`.
    unsafe { bindings::xprs_ib_set_client_data(device, KBox::into_raw(data).cast()) };
    0
}

/// The client's `remove` callback (`rpcrdma_remove_one()`): tells every
/// watcher, waits for them to let go, then frees the data.
#[no_mangle]
extern "C" fn xprs_ib_remove_one(device: *mut bindings::ib_device, data: *mut c_void) {
    let data = data.cast::<DeviceData>();
    if data.is_null() {
        return;
    }
    let pending = {
        let _guard = DevicesGuard::lock();
        // SAFETY: `data` is what `add` published; it is freed only below,
        // and the lock is held.
        let d = unsafe { &mut *data };
        d.removing = true;
        for w in d.watchers.iter().flatten() {
            // SAFETY: a watcher's context lives until its watch is dropped,
            // which needs the lock we hold.
            unsafe { (w.notify)(w.ctx) };
        }
        d.watched()
    };
    if pending {
        // SAFETY: `done` is initialized; the last watch to go completes it.
        unsafe { bindings::wait_for_completion((*data).done.get()) };
    }
    {
        let _guard = DevicesGuard::lock();
        // SAFETY: clearing our client data; lookups under the lock now fail.
        unsafe { bindings::xprs_ib_set_client_data(device, core::ptr::null_mut()) };
    }
    // SAFETY: `data` came from `KBox::into_raw` in `add`; nobody can reach
    // it any more (no watchers, and the client data is cleared).
    drop(unsafe { KBox::from_raw(data) });
}
