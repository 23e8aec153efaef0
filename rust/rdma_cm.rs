// SPDX-License-Identifier: GPL-2.0

//! Thin abstraction over an RDMA connection manager identifier and the QP
//! it owns.

use crate::bindings;
use crate::ib::{Cq, Device, Pd};
use core::ptr::NonNull;
use kernel::error::{to_result, Error};
use kernel::prelude::*;

/// The signature of an rdma_cm event handler.
pub(crate) type Handler =
    unsafe extern "C" fn(*mut bindings::rdma_cm_id, *mut bindings::rdma_cm_event) -> i32;

/// An `rdma_cm_id` for an RC connection.
///
/// # Invariants
///
/// `id` was returned by `rdma_create_id` and is destroyed only by `drop`.
/// `has_qp` is true exactly when a QP was created on it and not destroyed.
pub(crate) struct CmId {
    id: NonNull<bindings::rdma_cm_id>,
    has_qp: bool,
}

// SAFETY: a `CmId` owns its `rdma_cm_id` (type invariant), which is not
// tied to a thread: rdma_cm runs its event handler on its own workqueue,
// and `rdma_destroy_id` may run on any thread but that handler's.
unsafe impl Send for CmId {}
// SAFETY: the `&self` methods call rdma_cm and verbs functions made to be
// called concurrently on one id (they take the id's and the QP's own
// locks), and read `device` and `qp`: `device` is set by address
// resolution, which callers wait for, and `qp` changes only in
// `create_qp` and `destroy_qp`, which take `&mut self`.
unsafe impl Sync for CmId {}

impl CmId {
    /// Creates an identifier in `net` whose events go to `handler` with
    /// `context`.
    ///
    /// # Safety
    ///
    /// `context` must stay valid, and `handler` callable with it, until the
    /// returned value is dropped (`rdma_destroy_id` waits for handlers).
    pub(crate) unsafe fn new(
        net: *mut bindings::net,
        handler: Handler,
        context: *mut core::ffi::c_void,
    ) -> Result<Self> {
        // SAFETY: `net` comes from the transport, which holds a reference;
        // the caller guarantees `context`.
        let id = unsafe { bindings::xprs_rdma_create_id(net, Some(handler), context) };
        let v = id as isize;
        if (-4095..0).contains(&v) {
            return Err(Error::from_errno(v as i32));
        }
        let id = NonNull::new(id).ok_or(ENOMEM)?;
        // INVARIANT: created just above, no QP yet.
        Ok(Self { id, has_qp: false })
    }

    /// Starts resolving `dst` to a device; the result is an event.
    ///
    /// # Safety
    ///
    /// `dst` must point to a valid socket address.
    pub(crate) unsafe fn resolve_addr(&self, dst: *mut bindings::sockaddr, ms: u32) -> Result {
        // SAFETY: the id is valid (invariant); the caller guarantees `dst`.
        to_result(unsafe {
            bindings::rdma_resolve_addr(self.id.as_ptr(), core::ptr::null_mut(), dst, ms as _)
        })
    }

    /// Starts resolving the route; the result is an event.
    pub(crate) fn resolve_route(&self, ms: u32) -> Result {
        // SAFETY: the id is valid (invariant).
        to_result(unsafe { bindings::rdma_resolve_route(self.id.as_ptr(), ms as _) })
    }

    /// Returns the device the address resolved to, if any.
    pub(crate) fn device(&self) -> Option<Device> {
        // SAFETY: the id is valid (invariant); `device` is set by address
        // resolution, which the caller waited for.
        let dev = NonNull::new(unsafe { (*self.id.as_ptr()).device })?;
        // SAFETY: the id holds a reference on its device until it is
        // destroyed, and owners drop device objects before the id.
        Some(unsafe { Device::from_raw(dev) })
    }

    /// Creates the RC QP with the given queue sizes.
    pub(crate) fn create_qp(
        &mut self,
        pd: &Pd,
        send_cq: &Cq,
        recv_cq: &Cq,
        send_wr: u32,
        recv_wr: u32,
    ) -> Result {
        if self.has_qp {
            return Err(EBUSY);
        }
        // SAFETY: `ib_qp_init_attr` is a C struct for which all zeroes is
        // valid.
        let mut attr: bindings::ib_qp_init_attr = unsafe { core::mem::zeroed() };
        attr.send_cq = send_cq.as_ptr();
        attr.recv_cq = recv_cq.as_ptr();
        attr.cap.max_send_wr = send_wr;
        attr.cap.max_recv_wr = recv_wr;
        attr.cap.max_send_sge = 1;
        attr.cap.max_recv_sge = 1;
        attr.sq_sig_type = bindings::ib_sig_type_IB_SIGNAL_REQ_WR;
        attr.qp_type = bindings::ib_qp_type_IB_QPT_RC;
        // SAFETY: the id, PD and CQs are valid; `attr` is read during the
        // call only.
        to_result(unsafe { bindings::rdma_create_qp(self.id.as_ptr(), pd.as_ptr(), &mut attr) })?;
        // INVARIANT: the QP exists now.
        self.has_qp = true;
        Ok(())
    }

    /// Returns the QP, if one was created.
    pub(crate) fn qp(&self) -> Option<*mut bindings::ib_qp> {
        if !self.has_qp {
            return None;
        }
        // SAFETY: the id is valid; `qp` was set by `rdma_create_qp`.
        Some(unsafe { (*self.id.as_ptr()).qp })
    }

    /// Connects with `private` as RFC 8797 private data.
    pub(crate) fn connect(&self, private: &[u8]) -> Result {
        let len = u8::try_from(private.len()).map_err(|_| EINVAL)?;
        // SAFETY: the id is valid and resolved (it has a device); the
        // private data is copied during the call.
        to_result(unsafe {
            bindings::xprs_rdma_connect(self.id.as_ptr(), private.as_ptr().cast(), len)
        })
    }

    /// Starts a disconnect. Returns `rdma_disconnect()`'s result, for the
    /// trace: an error (not connected) needs no handling.
    pub(crate) fn disconnect(&self) -> i32 {
        // SAFETY: the id is valid.
        unsafe { bindings::rdma_disconnect(self.id.as_ptr()) }
    }

    /// Flushes and waits for every posted Receive, then every Send.
    pub(crate) fn drain(&self) {
        if let Some(qp) = self.qp() {
            // SAFETY: the QP is live; draining moves it to the error state
            // and waits for the flushes.
            unsafe {
                bindings::ib_drain_rq(qp);
                bindings::ib_drain_sq(qp);
            }
        }
    }

    /// Destroys the QP, if any.
    pub(crate) fn destroy_qp(&mut self) {
        if self.has_qp {
            // SAFETY: the QP exists (invariant) and is not used afterwards.
            unsafe { bindings::rdma_destroy_qp(self.id.as_ptr()) };
            // INVARIANT: destroyed just above.
            self.has_qp = false;
        }
    }
}

impl Drop for CmId {
    fn drop(&mut self) {
        self.destroy_qp();
        // SAFETY: the id is valid (invariant) and this is its only
        // destruction; it is never dropped from its own event handler.
        unsafe { bindings::rdma_destroy_id(self.id.as_ptr()) };
    }
}
