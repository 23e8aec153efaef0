// SPDX-License-Identifier: GPL-2.0

#![forbid(unsafe_code)]

//! Posting Sends and the sendctx ring (`frwr_send()` and the
//! sendctx of `verbs.c`): each Send claims a ring slot, which holds a Send
//! owner of its req until a signaled Send completion walks the ring past
//! it. The ring is under the `shared` spinlock; the owners it gives up are
//! collected under the lock and released after it, as releasing a req may
//! wake a backlog waiter.

use crate::bindings;
use crate::ib::{self, Cid, Cqe, CqeHandler, SendChain, Wc};
use crate::proto::lifetime::SendOwner;
use crate::proto::sendctx::Slot;
use crate::rdma_cm::QpGone;
use crate::sunrpc::{self, Rqst};
use crate::trace;
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::Arc;

use super::endpoint::Endpoint;
use super::stats::add;
use super::{err, Phase, ReqKey, Transport, MAX_MRS_PER_REQ};

/// Ring storage: the sendctx ring needs slices of slots.
pub(super) struct Slots(pub(super) KVec<Slot>);

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

/// The ring's count of Send owners per req, indexed by req id: shared
/// with [`Transport::ring_held`], which reads them for I4 without the
/// `shared` lock; the ring writes them under it.
pub(super) struct Held(pub(super) Arc<KVec<AtomicU32>>);

impl AsRef<[AtomicU32]> for Held {
    fn as_ref(&self) -> &[AtomicU32] {
        &self.0
    }
}

/// The Send owners one hold of the ring's lock hands back
/// ([`Transport::release_ring`]): a signaling budget's unsignaled Sends
/// and the signaled one at the default 128 credits (`128 >> 3`, plus one).
const RELEASE_BATCH: usize = 17;

/// A Send completion context: one per sendctx ring slot.
pub(super) struct SendCqe {
    pub(super) cqe: Cqe<SendCqe>,
    pub(super) slot: usize,
    /// The completion id of Sends posted on this context.
    pub(super) cid: Cid,
    /// The transport whose endpoint holds this context.
    pub(super) transport: Arc<Transport>,
}

ib::impl_has_cqe!(SendCqe, cqe);

impl Transport {
    /// Claims a sendctx, takes the Send owner and posts the REG_MR chain
    /// and the Send of `rqst`, the req's rqst being transmitted. The chain
    /// is built from the QP's resources (`Qp::post`): the MRs of its pool,
    /// the req's send buffer and the ring slot's `SendCqe`.
    pub(super) fn post(&self, ep: &Endpoint, key: &mut ReqKey<'_>, rqst: &Rqst<'_>, len: u32) -> Result {
        let req = key.req();
        let id = req.kref.id().0 as usize;
        let parts = key.send_parts(ep).ok_or(EIO)?;
        let qp = ep.id.qp().ok_or_else(|| err(bindings::ENOTCONN))?;
        qp.post_with(|res, chain: &mut SendChain<'_, '_, MAX_MRS_PER_REQ>| {
            for lease in parts.registered.iter_mut() {
                chain.reg(res.mrs.table(), lease)?;
            }
            let num_regs = chain.len();
            let num_wrs = u32::try_from(num_regs).map_err(|_| EIO)?.saturating_add(1);
            let (slot, signaled) = {
                let mut shared = self.shared.lock();
                let Some(claim) = shared.ring.claim() else {
                    drop(shared);
                    add(&self.stats.empty_sendctx_q, 1);
                    return Err(EAGAIN);
                };
                let Some(rpc) = parts.rpc else {
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
                (slot, shared.policy.signal(false, num_wrs))
            };
            parts.buf.sync_for_device(len as usize);
            let cqe = res.send_cqes.get(slot).ok_or(EIO)?;
            // Traced before the post, after which a Reply may complete the rqst.
            trace::post_send(rqst, &cqe.cid, signaled, num_regs);
            // The Send reads the buffer `parts.buf` is, named here by its
            // mapping only; its contents are not written until its Send
            // owner is released (type invariant of `Req`).
            let sendbuf = res.send_bufs.get(id).ok_or(EIO)?;
            chain.send(sendbuf, len, ep.lkey, cqe, signaled)?;
            // The Reply may complete before the post returns. Release: the
            // reply handler sees what marshaling wrote (`offered`, the MRs).
            req.phase.store(Phase::SENT, Ordering::Release);
            Ok(())
        })
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

    /// Forgets what the Sends of a connection that is gone still hold:
    /// the Send owners of its last unsignaled Sends, which no signaled
    /// completion will release (the QP is drained and destroyed, so the
    /// HCA no longer reads their buffers), then the congestion slots of
    /// the RPCs sent on it.
    pub(super) fn release_sends(&self, _gone: &QpGone) {
        self.release_ring(None);
        // Credits are valid for one connection only (`rpcrdma_req_reset()`):
        // RPCs sent on this one give up their congestion slots, so their
        // retransmits take new ones under the next connection's grant.
        // Otherwise those slots outlive the `cong = 0` of the next connect
        // and their puts wrap `cong`, stalling every sender in CWND_WAIT.
        self.reqs.forget_congestion();
    }

    /// Empties the ring up to `slot` (or entirely, for `None`) and releases
    /// the Send owners found, outside the lock.
    ///
    /// The owners are collected on the stack, [`RELEASE_BATCH`] per hold
    /// of the lock, so a completion takes the lock once (C's ring is
    /// lock-free): a signaled completion releases at most the Sends of one
    /// signaling budget and itself. More than that (a drain, a larger
    /// budget) walks on in further holds; Send completions of a CQ do not
    /// run concurrently, and a drain runs once the QP is gone, so no other
    /// walk comes between them.
    fn release_ring(&self, slot: Option<usize>) {
        loop {
            let mut found: [Option<SendOwner>; RELEASE_BATCH] = [const { None }; RELEASE_BATCH];
            let mut n = 0usize;
            let walked = {
                // The walk hands over at most RELEASE_BATCH owners, so
                // every one finds a cell.
                let keep = |o| match found.get_mut(n) {
                    Some(cell) => {
                        *cell = Some(o);
                        n += 1;
                    }
                    None => sunrpc::warn_once(c_str!("Send owner batch overflow: req leaked")),
                };
                let mut shared = self.shared.lock();
                match slot {
                    Some(slot) => shared.ring.complete_some(slot, RELEASE_BATCH, keep),
                    None => Ok(shared.ring.drain_some(RELEASE_BATCH, keep)),
                }
            };
            // The owners fill `found` from the front.
            for cell in found.iter_mut() {
                let Some(owner) = cell.take() else {
                    break;
                };
                self.put_send(owner);
            }
            match walked {
                Ok(true) => return,
                Ok(false) => {}
                Err(_) => {
                    sunrpc::warn_once(c_str!("Send completion outside the sendctx ring"));
                    return;
                }
            }
        }
    }

    /// Walks the ring up to `slot` and releases the Send owners found.
    fn send_done(&self, slot: usize) {
        self.release_ring(Some(slot));
        self.xprt.write_space();
    }
}

impl CqeHandler for SendCqe {
    /// Send completion handler (`rpcrdma_wc_send()`).
    fn done(&self, wc: &Wc<'_>) {
        trace::wc_send(wc, &self.cid);
        let t = &*self.transport;
        t.send_done(self.slot);
        if wc.fatal() {
            t.fault();
        }
    }
}
