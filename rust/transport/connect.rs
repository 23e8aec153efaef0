// SPDX-License-Identifier: GPL-2.0

//! Setting up a connection (`rpcrdma_xprt_connect()` of `verbs.c`): the
//! connect worker, address and route resolution, fitting the credits to
//! the device, the PD, CQs, QP and per-connection buffers, and the connect
//! with its RDMA-CM private data.
//!
//! The connect worker holds `XPRT_LOCKED` (`xprt_lock_connect()`) and
//! installs the new endpoint under `ep_lock` as well. Every failure of
//! setup becomes a status sunrpc retries, but for the definitive ones
//! ([`connect_status`]). An endpoint that fails part way is torn down, or
//! dropped (as the type invariant of `Endpoint` says).

#![forbid(unsafe_code)]

use crate::bindings;
use crate::cell::OnceBox;
use crate::completion::Completion;
use crate::ib::{self, Cid, Cq, Cqe, DmaBuf, Pd};
use crate::ib_client::RemovalWatch;
use crate::proto::chunk::{self, Thresholds};
use crate::proto::cm_private::{ConnectPrivate, InlineSize, Negotiated};
use crate::proto::credits::{Credits, QueueFit};
use crate::proto::sendctx::SignalPolicy;
use crate::rdma_cm::CmId;
use crate::sunrpc::{self, Task, XprtLocked};
use crate::trace;
use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, Ordering};
use kernel::c_str;
use kernel::error::Error;
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};

use super::backchannel::BC_SLOTS;
use super::endpoint::{Endpoint, EpEvents, EpRes, Link, Resolving};
use super::frwr::{InvCqe, MrPool};
use super::rep::Reps;
use super::req::ReqSendBuf;
use super::reply::Rep;
use super::sendctx::SendCqe;
use super::{
    err, errno, Config, FixedStack, Transport, MAX_DATA_SEGS, MAX_HDR_SEGS, MAX_MRS_PER_REQ,
    RESOLVE_TIMEOUT_MS,
};

/// How long the connect worker waits for ESTABLISHED or an error.
const CONNECT_TIMEOUT_SECS: usize = 60;

/// Send SGEs asked for (`RPCRDMA_MAX_SEND_SGES` with 4 KiB pages).
const MAX_SEND_SGES: u32 = 1 + 1 + (65536 >> 12) + 1;

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

impl Transport {
    /// `->connect`: schedules the connect worker, with backoff after a
    /// failed attempt, and hands it `XPRT_LOCKED`.
    pub(super) fn connect(&self, task: &Task<'_>, held: XprtLocked<'_>) {
        let mut delay = 0;
        if self.connect_status.load(Ordering::Relaxed) < 0 {
            delay = held.reconnect_delay();
            held.reconnect_backoff(5 * self.xprt.hz());
        }
        // sunrpc calls `->connect` from `xprt_connect()` only for the task
        // that holds XPRT_LOCKED, so the hand-over succeeds. Should it
        // not, no worker runs without the lock: the connect is given up
        // and a later one may start.
        // The cookie counts connects and closes: 0 only before the first.
        if self.xprt.connect_cookie() != 0 {
            trace::reconnect(&self.xprt, delay);
        }
        if !held.queue_connect(task, self.cookie(), delay) {
            sunrpc::warn_once(c_str!("connect without the transport lock"));
            self.xprt.clear_connecting();
        }
    }

    /// Identifies this transport as the holder of `XPRT_LOCKED` while the
    /// connect worker has it (`xprt_lock_connect()`).
    fn cookie(&self) -> *mut c_void {
        self as *const Self as *mut c_void
    }

    /// The connect worker, holding the `XPRT_LOCKED` that `connect` handed
    /// it, which it gives back when done. What the new endpoint makes that
    /// completes or gets events (its completion contexts, MRs and
    /// `EpEvents`) holds the transport's `Arc`.
    pub(super) fn connect_worker(self: ArcBorrow<'_, Self>, mut held: XprtLocked<'_>) {
        let xprt = &*self.xprt;
        self.drop_endpoint(&mut held);
        let mut step = "start";
        let (setup, mut rc) = match self.establish(&held, &mut step) {
            Ok(new) => {
                let mut guard = self.lock_ep();
                // `drop_endpoint` emptied the slot, and only a holder of
                // `held` fills it: nothing comes back, unless `replace`
                // refused (and returned) `new`, which then goes.
                if let Some(old) = guard.replace(&mut held, Some(new)) {
                    self.teardown(old);
                }
                (0, 0)
            }
            Err(e) => {
                let rc = connect_status(e);
                pr_info!("connect failed at {}: {} (tasks see {})\n", step, errno(e), rc);
                (e.to_errno(), rc)
            }
        };
        trace::connect(xprt, setup, rc);
        self.connect_status.store(rc, Ordering::Relaxed);
        xprt.clear_connecting();
        if rc == 0 {
            held.connected_stats();
            xprt.set_connected();
            rc = -(bindings::EAGAIN as i32);
        }
        held.unlock_connect(self.cookie());
        xprt.wake_pending_tasks(rc);
    }

    /// Creates and connects a new endpoint (`rpcrdma_xprt_connect()`).
    /// `step` names the stage that runs, for the log when one fails.
    fn establish(self: ArcBorrow<'_, Self>, held: &XprtLocked<'_>, step: &mut &'static str) -> Result<KBox<Endpoint>> {
        let xprt = &*self.xprt;
        let ours = self.cfg.ours();
        let events = Arc::pin_init(
            pin_init!(EpEvents {
                transport: Arc::from(self),
                ours,
                done <- Completion::new(),
                status: AtomicI32::new(0),
                resolve: AtomicI32::new(0),
                closing: AtomicBool::new(false),
                inline_send: AtomicU32::new(0),
                inline_recv: AtomicU32::new(0),
            }),
            GFP_KERNEL,
        )?;
        *step = "create id";
        let mut id = CmId::new(xprt, events.clone())?;

        *step = "resolve address";
        events.resolve(Resolving::Addr, || id.resolve_addr(xprt, RESOLVE_TIMEOUT_MS))?;
        *step = "resolve route";
        events.resolve(Resolving::Route, || id.resolve_route(RESOLVE_TIMEOUT_MS))?;
        // The connect step waits on the same completion.
        events.done.reinit();

        *step = "device";
        let dev = id.device().ok_or(ENODEV)?;
        let removal = RemovalWatch::new(&dev, events.clone())?;
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
        self.set_req_limit(fit.reqs);
        // The MR table is host memory only, taken before anything of the
        // device's: its failure then unwinds nothing but the CM id.
        let num_mrs = (self.cfg.num_reqs as usize).saturating_mul(MAX_MRS_PER_REQ);
        let num_mrs = num_mrs.min(usize::from(u16::MAX));
        let mrs = MrPool::new(num_mrs)?;
        *step = "create PD and CQs";
        let (max_send_sge, sg_gaps) = (dev.max_send_sge(), dev.sg_gaps());
        let pd = Pd::new(&dev)?;
        let send_cq = Cq::new(&dev, send_wr)?;
        let recv_cq = Cq::new(&dev, recv_wr)?;
        let cqs = (send_cq.id(), recv_cq.id());
        *step = "buffers";
        let lkey = pd.local_dma_lkey();
        let num_reps = fit.max_requests.saturating_add(2).saturating_add(BC_SLOTS);
        // Made before the QP, which takes the Receive buffers: a failure
        // here has no QP to destroy.
        let (send_bufs, send_cqes, inv_cqes, reps) = self.buffers(&dev, lkey, cqs, ring_slots, num_reps)?;
        let res = EpRes {
            reps,
            send_bufs,
            send_cqes,
            inv_cqes,
            write_pad: OnceBox::new(),
            mrs,
        };
        *step = "create QP";
        // The QP owns the CQs and what its work requests use from here
        // on, and frees them after itself.
        id.create_qp(&pd, send_cq, recv_cq, send_wr, recv_wr, res)?;
        let (max_inline_send, max_inline_recv) =
            chunk::max_inline_sizes(ours.inline_send.bytes(), ours.inline_recv.bytes(), max_rdma_segs);
        let th = Thresholds {
            page: self.cfg.page,
            max_inline_send,
            max_inline_recv,
            max_send_sge: max_send_sge.min(MAX_SEND_SGES),
            max_fr_depth,
            max_rdma_segs,
            sg_gaps,
        };
        let ep = KBox::new(
            Endpoint {
                events,
                id,
                _removal: removal,
                pd: Some(pd),
                res_back: None,
                lkey,
                offered: Link { negotiated: ours, th },
                established: OnceBox::new(),
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
            shared.mr_free = mr_free;
        }
        self.credits.store(Credits::INITIAL.get(), Ordering::Relaxed);
        // One credit until the server's first grant, and no congestion
        // slot in use: teardown took back those of the old connection.
        self.xprt
            .reset_cwnd(usize::try_from(Credits::INITIAL.cwnd()).unwrap_or(usize::MAX));
        *step = "connect";
        match self.connect_endpoint(held, &ep) {
            Ok(()) => Ok(ep),
            Err(e) => {
                self.teardown(ep);
                Err(e)
            }
        }
    }

    /// Allocates and maps the per-connection buffers: one send buffer and
    /// one LOCAL_INV completion context per req, one completion context
    /// per ring slot, and the Receive buffers. `(send_cq, recv_cq)` are
    /// the CQ ids of their completion ids. Each context holds the
    /// transport's `Arc`.
    #[allow(clippy::type_complexity)]
    fn buffers(
        self: ArcBorrow<'_, Self>,
        dev: &ib::Device<'_>,
        lkey: u32,
        (send_cq, recv_cq): (u32, u32),
        ring_slots: u32,
        num_reps: u32,
    ) -> Result<(KVec<ReqSendBuf>, KVec<SendCqe>, KVec<InvCqe>, Reps)> {
        let send_size = self.cfg.inline_send.bytes() as usize;
        let recv_size = self.cfg.inline_recv.bytes() as usize;

        let mut send_bufs = KVec::with_capacity(self.reqs.len(), GFP_KERNEL)?;
        for req in self.reqs.iter() {
            let b = DmaBuf::new(dev, send_size, true)?;
            send_bufs.push(req.new_send_buf(b), GFP_KERNEL)?;
        }
        let mut send_cqes = KVec::with_capacity(ring_slots as usize, GFP_KERNEL)?;
        for slot in 0..ring_slots as usize {
            send_cqes.push(
                SendCqe {
                    cqe: Cqe::new(),
                    slot,
                    cid: Cid::new(send_cq, i32::try_from(slot).unwrap_or(-1)),
                    transport: Arc::from(self),
                },
                GFP_KERNEL,
            )?;
        }
        let mut inv_cqes = KVec::with_capacity(self.reqs.len(), GFP_KERNEL)?;
        for req in 0..u32::try_from(self.reqs.len())? {
            inv_cqes.push(
                InvCqe {
                    cqe: Cqe::new(),
                    req,
                    transport: Arc::from(self),
                },
                GFP_KERNEL,
            )?;
        }
        let mut reps = KVec::with_capacity(num_reps as usize, GFP_KERNEL)?;
        for n in 0..num_reps {
            let buf = DmaBuf::new(dev, recv_size, false)?;
            reps.push(
                Rep {
                    cqe: Cqe::new(),
                    cid: Cid::new(recv_cq, i32::try_from(n).unwrap_or(-1)),
                    index: n,
                    buf,
                    transport: Arc::from(self),
                    ep: AtomicPtr::new(core::ptr::null_mut()),
                    lkey,
                    posted: AtomicBool::new(false),
                },
                GFP_KERNEL,
            )?;
        }
        Ok((send_bufs, send_cqes, inv_cqes, reps))
    }

    /// Posts the Receives, connects and waits for the outcome. From the
    /// first post on, the endpoint is shared with its completion handlers
    /// (`Rep::endpoint`), so this only reads it, and stores what the peer
    /// answered in `established`, which they read only after it is set.
    fn connect_endpoint(self: ArcBorrow<'_, Self>, held: &XprtLocked<'_>, ep: &Endpoint) -> Result {
        let me = core::ptr::from_ref(ep).cast_mut();
        let qp = ep.id.qp().ok_or_else(|| err(bindings::ENOTCONN))?;
        for rep in qp.res().reps.iter() {
            rep.ep.store(me, Ordering::Release);
            rep.post(qp)?;
        }
        let ours = self.cfg.ours();
        let private = ConnectPrivate::client(ours.inline_send, ours.inline_recv).encode();
        ep.id.connect(&private)?;
        held.raise_reestablish_timeout(5 * self.xprt.hz());
        let left = ep
            .events
            .done
            .wait_timeout(CONNECT_TIMEOUT_SECS.saturating_mul(self.xprt.hz()));
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
            let offered = &ep.offered.th;
            let (max_inline_send, max_inline_recv) =
                chunk::max_inline_sizes(inline_send.bytes(), inline_recv.bytes(), offered.max_rdma_segs);
            let link = Link {
                negotiated: Negotiated {
                    inline_send,
                    inline_recv,
                },
                th: Thresholds {
                    max_inline_send,
                    max_inline_recv,
                    ..*offered
                },
            };
            // One connect per endpoint: nothing set it before.
            ep.established.set(KBox::new(link, GFP_KERNEL)?).map_err(|_| EIO)?;
        }
        self.bc_max_payload
            .store(Config::bc_max_payload(&ep.link().negotiated), Ordering::Relaxed);
        self.create_write_pad(ep)?;
        // The first batch of MRs (`rpcrdma_mrs_create()`).
        self.mr_refill(ep)
    }
}
