// SPDX-License-Identifier: GPL-2.0

//! Thin abstraction over an RDMA connection manager identifier: its typed
//! events ([`CmEvent`], delivered to a [`CmHandler`] the id owns), the
//! device it resolved to, and the QP it owns.

use crate::bindings;
use crate::ib::{Cq, Device, Pd, Qp};
use crate::sunrpc::Xprt;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::error::{to_result, Error};
use kernel::prelude::*;
use kernel::sync::{Arc, UniqueArc};

/// An rdma_cm event, as a [`CmHandler`] sees it (`struct rdma_cm_event`).
/// Only the events an RC client gets are told apart.
pub(crate) enum CmEvent<'a> {
    AddrResolved,
    AddrError,
    RouteResolved,
    RouteError,
    /// The connection is up; `private_data` is the peer's, if it sent any.
    Established { private_data: Option<&'a [u8]> },
    ConnectError,
    Unreachable,
    /// The peer refused; `status` is the CM's reject reason.
    Rejected { status: i32 },
    AddrChange,
    Disconnected,
    /// Any other event (device removal, time-wait exit, ...).
    Other,
}

impl<'a> CmEvent<'a> {
    fn new(event: &'a bindings::rdma_cm_event) -> Self {
        match event.event {
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_ADDR_RESOLVED => Self::AddrResolved,
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_ADDR_ERROR => Self::AddrError,
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_ROUTE_RESOLVED => Self::RouteResolved,
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_ROUTE_ERROR => Self::RouteError,
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_ESTABLISHED => {
                // SAFETY: for ESTABLISHED the `conn` member of the union is
                // the valid one (`struct rdma_cm_event`), and its private
                // data, when not null, holds `private_data_len` bytes that
                // live as long as the event.
                let private_data = unsafe {
                    let conn = &event.param.conn;
                    (!conn.private_data.is_null()).then(|| {
                        core::slice::from_raw_parts(
                            conn.private_data.cast::<u8>(),
                            usize::from(conn.private_data_len),
                        )
                    })
                };
                Self::Established { private_data }
            }
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_CONNECT_ERROR => Self::ConnectError,
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_UNREACHABLE => Self::Unreachable,
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_REJECTED => Self::Rejected {
                status: event.status,
            },
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_ADDR_CHANGE => Self::AddrChange,
            bindings::rdma_cm_event_type_RDMA_CM_EVENT_DISCONNECTED => Self::Disconnected,
            _ => Self::Other,
        }
    }
}

/// What the events of a [`CmId`] go to. `event` runs on rdma_cm's work
/// (process context, under the id's handler mutex), hence `Sync`.
pub(crate) trait CmHandler: Send + Sync {
    fn event(&self, event: CmEvent<'_>);
}

/// The event handler of every `CmId<H>`: finds the `H` and calls it.
///
/// # Safety
///
/// Called by rdma_cm for an id made by [`CmId::new`] with an `H`, with an
/// event valid for the call.
unsafe extern "C" fn cm_trampoline<H: CmHandler>(
    id: *mut bindings::rdma_cm_id,
    event: *mut bindings::rdma_cm_event,
) -> i32 {
    // SAFETY: `CmId::new` set the context to the `H` of its `Arc`, which
    // its `IdHold` keeps until `rdma_destroy_id()` returned, and that waits
    // for running handlers; the event is valid for the call (the caller).
    let (handler, event) = unsafe { (&*(*id).context.cast::<H>(), &*event) };
    handler.event(CmEvent::new(event));
    // 0: rdma_cm keeps the id.
    0
}

/// Proof that a connection's QP was drained and destroyed and its CQs
/// freed: none of its work requests is outstanding, and no completion
/// handler of it runs any more.
///
/// # Invariants
///
/// Made only by [`CmId::drain_and_destroy_qp`], once it has done so.
pub(crate) struct QpGone(());

/// An `rdma_cm_id` and the handler of its events, destroyed when its
/// last holder lets go: its [`CmId`], or a verbs object made on its
/// device, which holds it through an [`crate::ib::DeviceRef`]. The id
/// holds a reference on its device (rdma_cm's removal of the device
/// waits for every id on it to be destroyed), so a holder keeps the device
/// registered.
///
/// # Invariants
///
/// `id` was returned by `rdma_create_id` with the `H` of `_handler` as its
/// context and `cm_trampoline::<H>` as its event handler, for the `H` of
/// the [`CmId`] that made it; it is destroyed only by `drop`, before
/// `_handler` is dropped.
pub(crate) struct IdHold {
    id: NonNull<bindings::rdma_cm_id>,
    _handler: Arc<dyn CmHandler>,
}

// SAFETY: an `IdHold` owns its `rdma_cm_id` (type invariant), which is not
// tied to a thread: rdma_cm runs its event handler on its own workqueue,
// and `rdma_destroy_id` may run on any thread but that handler's. The
// handler it keeps is `Send + Sync` (`CmHandler`).
unsafe impl Send for IdHold {}
// SAFETY: through `&IdHold` one gets only the id's address, for the rdma_cm
// and verbs functions made to be called concurrently on one id (they take
// the id's and the QP's own locks).
unsafe impl Sync for IdHold {}

impl IdHold {
    /// Returns the raw id.
    fn as_ptr(&self) -> *mut bindings::rdma_cm_id {
        self.id.as_ptr()
    }
}

impl Drop for IdHold {
    fn drop(&mut self) {
        // SAFETY: the id is valid (invariant) and this is its only
        // destruction; no holder is left to use it or its device. `_handler`
        // is dropped after this, once `rdma_destroy_id()` has waited for a
        // running event handler. (Were a handler to drop the last holder
        // from `event`, that wait would deadlock, not free anything early.)
        unsafe { bindings::rdma_destroy_id(self.id.as_ptr()) };
    }
}

/// An `rdma_cm_id` for an RC connection, whose events go to its `H`, and
/// whose QP's Receives use an `R` ([`Qp`]).
///
/// # Invariants
///
/// `hold` is the id made by [`CmId::new`] for an `H` (so `device` reads
/// it). `qp` is the QP created on it, until it is destroyed.
pub(crate) struct CmId<H: CmHandler, R> {
    hold: Arc<IdHold>,
    qp: Option<Qp<R>>,
    _handler: PhantomData<Arc<H>>,
}

impl<H: CmHandler + 'static, R> CmId<H, R> {
    /// Creates an identifier in the network namespace of `xprt`, whose
    /// events go to `handler`.
    pub(crate) fn new(xprt: &Xprt, handler: Arc<H>) -> Result<Self> {
        let hold = UniqueArc::<IdHold>::new_uninit(GFP_KERNEL)?;
        let context = (&*handler as *const H).cast_mut().cast();
        // SAFETY: the xprt is valid (`Xprt` invariant) and holds a
        // reference on its namespace, which `rdma_create_id()` takes its
        // own of. `context` is the `H` the returned value keeps until the
        // id is destroyed, as `cm_trampoline::<H>` needs.
        let id = unsafe {
            bindings::xprs_rdma_create_id(xprt.net(), Some(cm_trampoline::<H>), context)
        };
        let v = id as isize;
        if (-4095..0).contains(&v) {
            return Err(Error::from_errno(v as i32));
        }
        let id = NonNull::new(id).ok_or(ENOMEM)?;
        // INVARIANT: created just above, with `handler` as context; no QP.
        Ok(Self {
            hold: hold.write(IdHold { id, _handler: handler }).into(),
            qp: None,
            _handler: PhantomData,
        })
    }
}

impl<H: CmHandler, R> CmId<H, R> {
    /// Starts resolving the address of the server of `xprt` to a device;
    /// the result is an event.
    pub(crate) fn resolve_addr(&self, xprt: &Xprt, ms: u32) -> Result {
        // SAFETY: the id is valid (invariant); the xprt is valid (`Xprt`
        // invariant), so is its address, which rdma_cm copies during the
        // call.
        to_result(unsafe {
            bindings::rdma_resolve_addr(self.hold.as_ptr(), core::ptr::null_mut(), xprt.addr(), ms as _)
        })
    }

    /// Starts resolving the route; the result is an event.
    pub(crate) fn resolve_route(&self, ms: u32) -> Result {
        // SAFETY: the id is valid (invariant).
        to_result(unsafe { bindings::rdma_resolve_route(self.hold.as_ptr(), ms as _) })
    }

    /// Returns the device the address resolved to, if any, for as long as
    /// the id is borrowed.
    pub(crate) fn device(&self) -> Option<Device<'_>> {
        // SAFETY: the id is valid (invariant). `device` is written by
        // address resolution, which callers wait for; read as `READ_ONCE()`
        // in case one does not.
        let dev = NonNull::new(unsafe {
            core::ptr::read_volatile(core::ptr::addr_of!((*self.hold.as_ptr()).device))
        })?;
        // SAFETY: the id holds a reference on its device until it is
        // destroyed, which `hold` (borrowed with `self`) excludes.
        Some(unsafe { Device::from_raw(dev, &self.hold) })
    }

    /// Creates the RC QP with the given queue sizes, completing on the CQs,
    /// which it owns from now on, as it owns `res`, what its Receives use.
    pub(crate) fn create_qp(
        &mut self,
        pd: &Arc<Pd>,
        send_cq: Cq,
        recv_cq: Cq,
        send_wr: u32,
        recv_wr: u32,
        res: R,
    ) -> Result {
        if self.qp.is_some() {
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
        to_result(unsafe { bindings::rdma_create_qp(self.hold.as_ptr(), pd.as_ptr(), &mut attr) })?;
        // SAFETY: `rdma_create_qp()` succeeded, so `qp` is the QP it made
        // on the id, which `destroy_qp` destroys.
        let qp = NonNull::new(unsafe { (*self.hold.as_ptr()).qp }).ok_or(EIO)?;
        // SAFETY: the QP was just created on these CQs and this PD, nothing
        // is posted on it yet, and it is destroyed, by `destroy_qp`, before
        // the `Qp` (and so the CQs, its hold on the PD and `res`) is
        // dropped or taken apart.
        self.qp = Some(unsafe { Qp::from_raw(qp, send_cq, recv_cq, pd.clone(), res) });
        Ok(())
    }

    /// Returns the QP, if one was created.
    pub(crate) fn qp(&self) -> Option<&Qp<R>> {
        self.qp.as_ref()
    }

    /// Connects with `private` as RFC 8797 private data.
    pub(crate) fn connect(&self, private: &[u8]) -> Result {
        let len = u8::try_from(private.len()).map_err(|_| EINVAL)?;
        // SAFETY: the id is valid and resolved (it has a device); the
        // private data is copied during the call.
        to_result(unsafe {
            bindings::xprs_rdma_connect(self.hold.as_ptr(), private.as_ptr().cast(), len)
        })
    }

    /// Starts a disconnect. Returns `rdma_disconnect()`'s result, for the
    /// trace: an error (not connected) needs no handling.
    pub(crate) fn disconnect(&self) -> i32 {
        // SAFETY: the id is valid.
        unsafe { bindings::rdma_disconnect(self.hold.as_ptr()) }
    }

    /// Flushes and waits for every posted Receive, then every Send, then
    /// destroys the QP and frees its CQs (`rpcrdma_xprt_drain()`, then
    /// `rdma_destroy_qp()` and `ib_free_cq()`). The token it returns lets
    /// the caller release what the QP's work requests used; the QP's
    /// resources, if there was a QP, come back with it.
    pub(crate) fn drain_and_destroy_qp(&mut self) -> (QpGone, Option<R>) {
        if let Some(qp) = &self.qp {
            qp.drain();
        }
        let res = self.destroy_qp();
        // INVARIANT: the QP, if any, was drained and destroyed above.
        (QpGone(()), res)
    }

    /// Destroys the QP, if any, then frees its CQs (freeing a CQ waits for
    /// its completion work), and returns the QP's resources.
    pub(crate) fn destroy_qp(&mut self) -> Option<R> {
        let qp = self.qp.take()?;
        // SAFETY: the QP exists (invariant) and no one can post on it any
        // more: it was taken out of `self`.
        unsafe { bindings::rdma_destroy_qp(self.hold.as_ptr()) };
        // SAFETY: destroyed just above. The CQs go after the QP that used
        // them, and the resources after the CQs.
        Some(unsafe { qp.into_res() })
    }
}

impl<H: CmHandler, R> Drop for CmId<H, R> {
    fn drop(&mut self) {
        // The id itself goes with its last holder (`IdHold`); the QP's
        // resources go after its CQs.
        drop(self.destroy_qp());
    }
}
