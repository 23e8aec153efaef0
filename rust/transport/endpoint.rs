// SPDX-License-Identifier: GPL-2.0

//! One connection (`rpcrdma_ep`): its teardown (`rpcrdma_xprt_disconnect()`
//! of `verbs.c`), `->close`, the RDMA-CM event handler and device removal.
//!
//! [`Endpoint::drop`] destroys the QP before anything its work requests
//! use (its type invariant). Teardown takes an endpoint that
//! `Transport::ep` no longer (or never) holds; while it drains,
//! `tearing_down` keeps the flushes from asking for another close, and
//! `EpEvents::closing` keeps Receives from being reposted.

#![forbid(unsafe_code)]

use crate::bindings;
use crate::cell::{OnceBox, Unshared};
use crate::completion::Completion;
use crate::ib::{BufferMr, Pd};
use crate::ib_client::{RemovalNotify, RemovalWatch};
use crate::proto::chunk::Thresholds;
use crate::proto::cm_private::{self, Negotiated};
use crate::proto::header::Segment;
use crate::rdma_cm::{CmEvent, CmHandler, CmId};
use crate::sunrpc::XprtLocked;
use crate::trace;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use kernel::error::Error;
use kernel::prelude::*;
use kernel::sync::Arc;

use super::frwr::{InvCqe, MrPool};
use super::rep::Reps;
use super::req::ReqSendBuf;
use super::sendctx::SendCqe;
use super::stats::add;
use super::{Transport, RESOLVE_TIMEOUT_MS};

/// `IB_CM_REJ_STALE_CONN` (`ib_cm_rej_reason`): the peer still holds our
/// previous connection.
const IB_CM_REJ_STALE_CONN: i32 = 10;

/// A step of connection setup that ends with an rdma_cm event, as
/// [`EpEvents::resolve`] records it in `EpEvents::resolve`.
#[derive(Clone, Copy)]
pub(super) enum Resolving {
    /// `rdma_resolve_addr()`: ADDR_RESOLVED or ADDR_ERROR.
    Addr = 1,
    /// `rdma_resolve_route()`: ROUTE_RESOLVED or ROUTE_ERROR.
    Route = 2,
}

/// State the rdma_cm event handler shares with the connect worker.
#[pin_data]
pub(super) struct EpEvents {
    /// The transport whose endpoint this is, for its `rpc_xprt`.
    pub(super) transport: Arc<Transport>,
    pub(super) ours: Negotiated,
    #[pin]
    pub(super) done: Completion,
    /// 0 while connecting, 1 when established, a negative errno on failure.
    pub(super) status: AtomicI32,
    /// The resolution step being waited for (a [`Resolving`], positive)
    /// until an event for that step or the waiter ends it; then its
    /// result: 0 or a negative errno. Starts at 0: no step.
    pub(super) resolve: AtomicI32,
    /// Set once teardown starts: no more close requests.
    pub(super) closing: AtomicBool,
    pub(super) inline_send: AtomicU32,
    pub(super) inline_recv: AtomicU32,
}

/// The registered XDR pad target of write chunks (`re_write_pad_mr`).
pub(super) struct WritePad {
    /// Its segment in a write chunk.
    pub(super) seg: Segment,
    /// The MR and the buffer it maps, kept (and never touched) until the
    /// endpoint is dropped, after the drain.
    pub(super) _mr: Unshared<BufferMr>,
}

/// What the work requests of a connection's QP use: its Receive buffers,
/// send buffers, completion contexts, write pad and MRs, owned by the QP
/// (`ib::Qp<EpRes>`), which gives them back only once it is destroyed and
/// its CQs are freed. Posts borrow from it (`Qp::post`, `Qp::post_recv`),
/// so what a work request points to outlives it by type. The fields are
/// declared in the order C frees them, which Rust drops them in.
pub(super) struct EpRes {
    pub(super) reps: Reps,
    pub(super) send_bufs: KVec<ReqSendBuf>,
    pub(super) send_cqes: KVec<SendCqe>,
    /// The completion context of each req's LOCAL_INV chains, by req id.
    pub(super) inv_cqes: KVec<InvCqe>,
    /// Set once, when the connection is established.
    pub(super) write_pad: OnceBox<WritePad>,
    pub(super) mrs: MrPool,
}

/// The resources of no QP, for an endpoint whose QP is gone without
/// giving them back (`Endpoint`'s `Deref`).
static NO_RES: EpRes = EpRes {
    reps: KVec::new(),
    send_bufs: KVec::new(),
    send_cqes: KVec::new(),
    inv_cqes: KVec::new(),
    write_pad: OnceBox::new(),
    mrs: MrPool::EMPTY,
};

/// The inline thresholds of a connection and the limits the chunk plan
/// derives from them.
#[derive(Clone, Copy)]
pub(super) struct Link {
    pub(super) negotiated: Negotiated,
    pub(super) th: Thresholds,
}

/// One connection (`rpcrdma_ep`). It dereferences to its [`EpRes`]: the
/// QP's, or those it gave back (`res_back`).
///
/// Once its first Receive is posted, a completion handler may read it
/// (`Rep::endpoint`) at any time, so from then on it is only shared:
/// what connecting learns from the peer is set once, in `established`.
///
/// # Invariants
///
/// [`Endpoint::drop`] destroys the QP and frees its CQs (freeing one waits
/// for its completion work) before any field is dropped; what its work
/// requests use is the QP's own ([`EpRes`]) until then. Each verbs object
/// keeps what it needs itself (an MR its PD, each object its device,
/// through the CM id: `ib::DeviceRef`), so no field order is needed for
/// soundness. The fields are declared in the order C frees them, which
/// Rust drops them in: the resources (the QP's, right after its CQs, or
/// `res_back`, those it gave back), the PD, the removal watch, then the
/// id, whose last holder destroys it, after which its handler, `events`,
/// goes. [`Transport::teardown`] disconnects and drains first; an endpoint
/// dropped on an early exit of connection setup, before any Receive was
/// posted, is destroyed in the same order.
pub(super) struct Endpoint {
    /// The resources, once the QP gave them back (teardown): until then
    /// they are the QP's.
    pub(super) res_back: Option<EpRes>,
    pub(super) pd: Option<Arc<Pd>>,
    /// Tells `events` when the device is being removed; held until
    /// dropped. The device may go once its last user lets go of it.
    pub(super) _removal: RemovalWatch<EpEvents>,
    pub(super) id: CmId<EpEvents, EpRes>,
    pub(super) events: Arc<EpEvents>,
    pub(super) lkey: u32,
    /// Our own inline sizes and the limits derived from them, in force
    /// until the peer's answer sets `established`.
    pub(super) offered: Link,
    /// The sizes both sides agreed on, and their limits: set once, when
    /// the connection is established (`rpcrdma_update_cm_private()`).
    pub(super) established: OnceBox<Link>,
    /// Credits offered on this connection, fitted to the device.
    pub(super) max_requests: u32,
}

impl Endpoint {
    /// The thresholds in force: those agreed on, once the connection is
    /// established, else our own.
    pub(super) fn link(&self) -> &Link {
        self.established.get().unwrap_or(&self.offered)
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        // The QP goes, then the CQs it used, then its resources, before
        // any field (type invariant).
        drop(self.id.destroy_qp());
    }
}

impl core::ops::Deref for Endpoint {
    type Target = EpRes;

    /// The resources: the QP's, or those it gave back.
    fn deref(&self) -> &EpRes {
        match (self.id.qp(), &self.res_back) {
            (Some(qp), _) => qp.res(),
            (None, Some(res)) => res,
            (None, None) => &NO_RES,
        }
    }
}

impl Transport {
    /// Tears the current endpoint down, if any, under `ep_lock`.
    pub(super) fn drop_endpoint(&self, held: &mut XprtLocked<'_>) {
        let mut guard = self.lock_ep();
        if let Some(old) = guard.replace(held, None) {
            self.teardown(old);
        }
        drop(guard);
    }

    /// Tears an endpoint down (`rpcrdma_xprt_disconnect()`): disconnect,
    /// drain Receives then Sends, release the Send owners left in the
    /// ring, fence the MRs, then free the verbs objects and the id.
    pub(super) fn teardown(&self, mut ep: KBox<Endpoint>) {
        self.tearing_down.store(true, Ordering::Release);
        ep.events.closing.store(true, Ordering::Release);
        let rc = ep.id.disconnect();
        trace::disconnect(&self.xprt, rc, ep.events.status.load(Ordering::Acquire));
        // Drain, then the QP, then the send and the receive CQ.
        let (gone, res) = ep.id.drain_and_destroy_qp();
        // Kept, as they were, until the endpoint is dropped.
        ep.res_back = res;
        self.release_sends(&gone);

        // Pool accounting: after the drain every Receive has completed,
        // and every MR not on the free list is held by an RPC that will
        // be retransmitted (its MRs are unmapped as they are freed below).
        let reps_home = ep.reps.iter().filter(|r| !r.posted.load(Ordering::Acquire)).count();
        let allocated = ep.res_back.as_mut().map_or(0, |res| res.mrs.filled());
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

        // The rest goes as the type invariant of `Endpoint` says.
        drop(ep);
        self.tearing_down.store(false, Ordering::Release);
    }

    /// A completion reported a broken connection: ask sunrpc to close it,
    /// unless teardown is already draining it.
    pub(super) fn fault(&self) {
        if !self.tearing_down.load(Ordering::Acquire) {
            self.xprt.force_disconnect();
        }
    }

    /// `->close` (`xprt_rdma_close()`).
    pub(super) fn close(&self, held: &mut XprtLocked<'_>) {
        self.drop_endpoint(held);
        held.closed();
    }

    /// `->inject_disconnect`: drops the connection as a fault would.
    ///
    /// It reads the endpoint under `ep_lock`, because sunrpc does not
    /// always hold `XPRT_LOCKED` here: `xprt_end_transmit()` injects also
    /// for a task that did not take the lock (`call_bc_transmit()` with
    /// nothing left to send, `rpc_task_handle_transmitted()`).
    pub(super) fn inject_disconnect(&self) {
        trace::op_inject_dsc(&self.xprt);
        let guard = self.lock_ep();
        if let Some(ep) = guard.endpoint() {
            // Its DISCONNECTED event does the rest.
            let _ = ep.id.disconnect();
        }
    }
}

impl EpEvents {
    /// Runs one resolution step: `start` asks rdma_cm for it, and only
    /// that step's success event (ADDR_RESOLVED for [`Resolving::Addr`],
    /// ROUTE_RESOLVED for [`Resolving::Route`]) makes it `Ok`.
    ///
    /// As C's `rpcrdma_create_id()` sets `re_async_rc = -ETIMEDOUT` before
    /// each step, the step is recorded before it starts, and the
    /// completion reset. Only an event of that step stores a result and
    /// wakes (`resolved`): an event of the other step, or one arriving
    /// after this wait gave up, finds the step closed and is ignored. Any
    /// other wake comes from `lost` or `connect_failed` (ADDR_CHANGE,
    /// DISCONNECTED, ...), which set `status` first: that errno is the
    /// result, even if the step also succeeded. A timeout is -ETIMEDOUT,
    /// unless the step's event won the race to close it.
    pub(super) fn resolve(&self, step: Resolving, start: impl FnOnce() -> Result) -> Result {
        let step = step as i32;
        self.resolve.store(step, Ordering::Release);
        self.done.reinit();
        // A loss whose wake the reset may have forgotten still stands.
        let started = self.failed().and_then(|()| start());
        let rc = match started {
            Err(e) => e.to_errno(),
            Ok(()) => {
                let left = self
                    .done
                    .wait_timeout((RESOLVE_TIMEOUT_MS / 1000 + 1) as usize * self.transport.xprt.hz());
                // Woken with the step still open: only `status` can say
                // why (it is checked below).
                let e = if left == 0 { bindings::ETIMEDOUT } else { bindings::ENOTCONN };
                -(e as i32)
            }
        };
        // Close the step: its result is whichever of the event and this
        // store comes first.
        let rc = match self
            .resolve
            .compare_exchange(step, rc, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => rc,
            Err(result) => result,
        };
        self.failed()?;
        match rc {
            0 => Ok(()),
            e => Err(Error::from_errno(e)),
        }
    }

    /// An event of `step` ended it with `rc`: records it and wakes the
    /// waiter, if that step is the one waited for.
    fn resolved(&self, step: Resolving, rc: i32) {
        if self
            .resolve
            .compare_exchange(step as i32, rc, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.wake();
        }
    }

    /// The failure `lost` or `connect_failed` reported, if any.
    fn failed(&self) -> Result {
        match self.status.load(Ordering::Acquire) {
            s if s < 0 => Err(Error::from_errno(s)),
            _ => Ok(()),
        }
    }

    fn wake(&self) {
        self.done.complete();
    }

    /// A connected endpoint lost its connection: ask sunrpc to close it,
    /// unless teardown already runs.
    fn force_disconnect(&self) {
        if !self.closing.load(Ordering::Acquire) {
            self.transport.xprt.force_disconnect();
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

impl CmHandler for EpEvents {
    fn event(&self, event: CmEvent<'_>) {
        let neg = |e: u32| -(e as i32);
        match event {
            CmEvent::AddrResolved => self.resolved(Resolving::Addr, 0),
            CmEvent::AddrError => self.resolved(Resolving::Addr, neg(bindings::EPROTO)),
            CmEvent::RouteResolved => self.resolved(Resolving::Route, 0),
            CmEvent::RouteError => self.resolved(Resolving::Route, neg(bindings::ENETUNREACH)),
            CmEvent::Established { private_data } => {
                let n = cm_private::negotiate(self.ours, private_data);
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
            CmEvent::ConnectError => self.connect_failed(neg(bindings::ENOTCONN)),
            CmEvent::Unreachable => self.connect_failed(neg(bindings::ENETUNREACH)),
            CmEvent::Rejected { status } => {
                // A stale-connection reject means the peer still had our
                // old connection: simply try again.
                self.connect_failed(if status == IB_CM_REJ_STALE_CONN {
                    neg(bindings::ENOTCONN)
                } else {
                    neg(bindings::ECONNREFUSED)
                });
            }
            CmEvent::AddrChange => self.lost(neg(bindings::ENODEV)),
            CmEvent::Disconnected => self.lost(neg(bindings::ECONNABORTED)),
            // DEVICE_REMOVAL is handled by our ib_client, which also waits
            // for the endpoint to release the device.
            CmEvent::Other => {}
        }
    }
}

impl RemovalNotify for EpEvents {
    fn device_removed(&self) {
        pr_info!("device removal: closing the connection\n");
        trace::device_removal(&self.transport.xprt);
        self.lost(-(bindings::ENODEV as i32));
    }
}
