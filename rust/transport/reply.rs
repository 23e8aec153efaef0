// SPDX-License-Identifier: GPL-2.0

#![forbid(unsafe_code)]

//! The receive path (`rpc_rdma.c`): the Receive buffers ([`Rep`]), their
//! completion, and the reply handler, which matches a Reply to its rqst,
//! checks it against what the Call offered, fences the req's MRs (by remote
//! invalidation, or by a LOCAL_INV chain whose completion does the rest),
//! then places the reply and completes the RPC.
//!
//! Only a req in [`Phase::SENT`](super::Phase::SENT) takes a Reply,
//! claimed by one compare-and-swap to
//! [`Phase::REPLIED`](super::Phase::REPLIED); its rqst stays pinned until
//! it is completed or unpinned, and the claim ends with the key
//! (`ReqKey::end_reply`) just before that. A reply is placed only once the MRs are fenced
//! and unmapped ([`Placement`]). The HCA owns a [`Rep`]'s buffer while it is
//! posted (its type invariant); no Receive is reposted once teardown
//! began.

use crate::ib::{CqeHandler, Wc};
use crate::proto::credits::Credits;
use crate::proto::header::{Fixed, Limits, ReplyBody};
use crate::proto::lifetime;
use crate::proto::offered::Offered;
use crate::proto::xdr;
use crate::sunrpc::{self, PinnedRqst};
use crate::trace::{self, BadReply, ReplyLens};
use core::sync::atomic::Ordering;
use kernel::c_str;
use kernel::prelude::*;

use super::endpoint::Endpoint;
use super::frwr::InvCtx;
use super::req::{PendingReply, Unmapping};
use super::stats::add;
use super::{ReqKey, Transport};

pub(super) use super::rep::Rep;

/// What a checked Reply puts in its rqst's receive buffer. It is placed
/// only once the req's MRs are fenced and DMA-unmapped
/// (`rpcrdma_complete_rqst()` runs after the LOCAL_INV chain): copying
/// into pages still mapped `DMA_FROM_DEVICE` loses the data on swiotlb
/// and non-coherent platforms, where the unmap copies the bounce buffer
/// back over them.
#[derive(Clone, Copy)]
pub(super) enum Placement {
    /// An inline RPC message at `offset..end` of the Receive buffer,
    /// behind `writelist` bytes the server wrote into the pages.
    Inline { offset: usize, end: usize, writelist: u32 },
    /// The whole Reply came through the reply chunk: `len` bytes.
    Chunk { len: i32 },
}

impl Placement {
    /// What the Reply conveyed, for the trace.
    fn lens(&self) -> ReplyLens {
        match *self {
            Placement::Inline {
                offset,
                end,
                writelist,
            } => ReplyLens {
                inline_len: u32::try_from(end.saturating_sub(offset)).unwrap_or(u32::MAX),
                write_len: writelist,
                reply_len: 0,
            },
            Placement::Chunk { len } => ReplyLens {
                inline_len: 0,
                write_len: 0,
                reply_len: u32::try_from(len).unwrap_or(0),
            },
        }
    }
}

/// The xid of a message whose header did not decode: its first word.
fn wire_xid(msg: &[u8]) -> u32 {
    msg.first_chunk::<4>().map_or(0, |w| u32::from_be_bytes(*w))
}

impl Transport {
    /// Handles one received message (`rpcrdma_reply_handler()`): find its
    /// rqst and check the reply, fence the req's MRs, either now or by
    /// LOCAL_INV whose last completion does the rest, then place the
    /// reply and complete the RPC. `inv_rkey` is the rkey the peer
    /// invalidated remotely, if any. Returns true if `rep` is held for
    /// the LOCAL_INV completion, which reposts it.
    fn reply(&self, ep: &Endpoint, rep: &Rep, msg: &[u8], inv_rkey: Option<u32>) -> bool {
        let xprt = &*self.xprt;
        let Ok(fixed) = Fixed::decode(msg) else {
            trace::reply_err(xprt, wire_xid(msg), BadReply::Header);
            add(&self.stats.bad_reply_count, 1);
            return false;
        };
        // A callback carries the server's backchannel credits, not ours.
        // Without a callback service (NFSv3, v4.0) there is none to look for.
        if xprt.bc_serv_ready() {
            if let Some(call) = fixed.backchannel_call(msg) {
                self.bc_receive(fixed.xid, call);
                return false;
            }
        }
        // Pinning keeps the rqst from being released while we work
        // without the queue lock.
        let Some(mut rqst) = xprt.lookup_pin(fixed.xid) else {
            // A late Reply to an RPC that gave up, or an unsolicited one.
            trace::reply_err(xprt, fixed.xid, BadReply::Unmatched);
            add(&self.stats.replies_unmatched, 1);
            return false;
        };
        let Some(req) = self.req_of(rqst.as_ptr()) else {
            self.complete_rqst(None, rqst, Err(EIO));
            return false;
        };
        // Only the first Reply to a Call that was sent is taken: not a
        // duplicate, not one while the first one's LOCAL_INV chain runs,
        // not one for a Call still being marshaled.
        let Some(mut key) = req.claim_reply(&rqst) else {
            trace::reply_err(xprt, fixed.xid, BadReply::Dropped);
            add(&self.stats.replies_dropped, 1);
            add(&self.stats.bad_reply_count, 1);
            rqst.unpin(&self.xprt);
            return false;
        };
        // Credits come only from a Reply that matched a Call
        // (`rpcrdma_reply_handler()` updates cwnd after the lookup).
        // Receive completions of one CQ do not run concurrently, and the
        // connect worker resets the grant before the connection's first
        // Receive is posted: this is the only writer while Replies come,
        // so a load, and a store only when the grant changed (rare), do
        // what a swap did, without a locked instruction on every Reply
        // (C compares `rb_credits` the same way).
        let credits = Credits::sanitize(fixed.credits, ep.max_requests);
        if self.credits.load(Ordering::Relaxed) != credits.get() {
            self.credits.store(credits.get(), Ordering::Relaxed);
            xprt.set_cwnd(usize::try_from(credits.cwnd()).unwrap_or(usize::MAX));
        }

        // The phase swap made the reply path the req's user; the Call's
        // `offered` was written before its Release store of SENT.
        let placement = match self.check_reply(ep, &rqst, &key.state().offered, &fixed, msg) {
            Ok(placement) => {
                trace::reply(&rqst, credits.get(), placement.lens());
                Ok(placement)
            }
            Err(why) => {
                trace::reply_err(xprt, fixed.xid, why);
                Err(EIO)
            }
        };
        key.registered().of_pool(ep.mrs.id());
        if let Some(rkey) = inv_rkey {
            self.remote_invalidated(ep, &mut key, rkey);
        }
        if key.registered().len() == 0 {
            let result = placement.and_then(|p| self.place(&mut rqst, p, msg));
            self.complete_rqst(Some(key), rqst, result);
            return false;
        }
        // The chain's completion finishes the Reply after the post below.
        key.state().pending = Some(PendingReply { rqst, placement });
        req.inv.rep.store(rep.index, Ordering::Release);
        req.inv.sync.store(false, Ordering::Relaxed);
        let mut key = match self.post_local_inv(ep, key) {
            // The LOCAL_INV completion places the reply, completes the RPC
            // and reposts the rep.
            Ok(Unmapping::Handed) => return true,
            // The chain completed before its poster could hand it over:
            // finished here. The rep is reposted by the caller, once
            // `msg` is no longer borrowed from it (unless flushed).
            Ok(Unmapping::Completed(key, ok)) => {
                let held = self.finish_local_inv(ep, key, ok);
                return !(ok && held.is_some());
            }
            Err((key, _)) => key,
        };
        req.inv.rep.store(InvCtx::NO_REP, Ordering::Relaxed);
        // A failed post (ENOMEM, or part of the chain) does not mean
        // the QP is dead: the peer may still reach these MRs. They
        // stay out of circulation until the drain; the reconnect
        // fences everything, and the retransmission handles the RPC.
        self.orphan_mrs(&mut key);
        xprt.force_disconnect();
        // The state's last use comes before the phase leaves REPLIED:
        // from there a retransmission may take the req.
        let pending = key.state().pending.take();
        key.end_reply();
        if let Some(pending) = pending {
            pending.rqst.unpin(&self.xprt);
        }
        false
    }

    /// Checks the reply against the connection's limits and what this RPC
    /// offered, and says where it goes, or which check failed; writes
    /// nothing into the rqst.
    fn check_reply(
        &self,
        ep: &Endpoint,
        rqst: &PinnedRqst,
        offered: &Offered,
        fixed: &Fixed,
        msg: &[u8],
    ) -> core::result::Result<Placement, BadReply> {
        let rcv = rqst.rcv_buf();
        let limits = Limits::for_client(ep.link().th.max_rdma_segs, rcv.buflen());
        match fixed.decode_reply_body(msg, &limits) {
            Ok(ReplyBody::Msg(m)) => {
                // A write list or reply chunk this Call never offered.
                offered.check_msg(&m).map_err(|_| BadReply::Unoffered)?;
                let writelist = u32::try_from(m.write_list.total_len()).map_err(|_| BadReply::WriteList)?;
                if writelist > rcv.shape().page_len {
                    return Err(BadReply::WriteList);
                }
                add(&self.stats.total_rdma_reply, u64::from(writelist));
                Ok(Placement::Inline {
                    offset: m.rpc_offset,
                    end: msg.len(),
                    writelist,
                })
            }
            Ok(ReplyBody::NoMsg { reply_chunk }) => {
                offered.check_nomsg(&reply_chunk).map_err(|_| BadReply::Unoffered)?;
                let len = u32::try_from(reply_chunk.total_len()).map_err(|_| BadReply::Body)?;
                add(&self.stats.total_rdma_reply, u64::from(len));
                Ok(Placement::Chunk {
                    len: i32::try_from(len).map_err(|_| BadReply::Body)?,
                })
            }
            Ok(ReplyBody::Error(_)) => Err(BadReply::RdmaError),
            Err(_) => Err(BadReply::Body),
        }
    }

    /// Places a checked reply (`msg` is the whole received message) in
    /// the rqst's receive buffer, once the MRs are unmapped. Returns the
    /// length the RPC layer sees.
    pub(super) fn place(&self, rqst: &mut PinnedRqst, placement: Placement, msg: &[u8]) -> Result<i32> {
        match placement {
            Placement::Inline {
                offset,
                end,
                writelist,
            } => self.inline_fixup(rqst, msg.get(offset..end).ok_or(EIO)?, writelist),
            Placement::Chunk { len } => Ok(len),
        }
    }

    /// Places an inline reply in the rqst's receive buffer
    /// (`rpcrdma_inline_fixup()`): the bytes up to the head's length go to
    /// the head, the rest into the pages and tail, except that with a
    /// write chunk the payload already sits in the pages, so the rest goes
    /// after it, past the XDR pad. An overestimated head is trimmed
    /// instead of moving directly placed data.
    fn inline_fixup(&self, rqst: &mut PinnedRqst, body: &[u8], writelist: u32) -> Result<i32> {
        let copy_len = u32::try_from(body.len()).map_err(|_| EIO)?;
        let head_len = u32::try_from(rqst.rcv_head_len()).map_err(|_| EIO)?;
        let mut first = head_len;
        if first > copy_len {
            if writelist != 0 {
                rqst.trim_rcv_head(copy_len as usize);
            }
            first = copy_len;
        }
        let (head, rest) = body.split_at(first as usize);
        let after = if writelist == 0 {
            first
        } else {
            let aligned = u32::try_from(xdr::align_size(writelist)).map_err(|_| EIO)?;
            first.checked_add(aligned).ok_or(EIO)?
        };
        let room = rqst.private_buflen();
        let mut copied = 0u64;
        for (into_pages, offset, bytes) in [(false, 0, head), (true, after, rest)] {
            let len = u32::try_from(bytes.len()).map_err(|_| EIO)?;
            let len = len.min(room.saturating_sub(offset));
            if len == 0 {
                continue;
            }
            // `offset + len` is within the buffer's `buflen`.
            rqst.write_private(offset, bytes.get(..len as usize).ok_or(EIO)?)?;
            // As C counts it: the bytes that go to the pages and tail.
            if into_pages {
                copied = copied.saturating_add(u64::from(len));
            }
        }
        add(&self.stats.fixup_copy_count, copied);
        let received = u64::from(copy_len).saturating_add(xdr::align_size(writelist));
        i32::try_from(received).map_err(|_| EIO)
    }

    /// The peer invalidated `rkey` with its Send (`frwr_reminv()`): that
    /// MR needs no LOCAL_INV.
    fn remote_invalidated(&self, ep: &Endpoint, key: &mut ReqKey<'_>, rkey: u32) {
        let reg = key.registered();
        let Some(mut lease) =
            reg.take(|lease| ep.mrs.get_mut(lease).is_some_and(|mr| mr.rkey() == rkey))
        else {
            return;
        };
        if let Some(mr) = ep.mrs.get_mut(&mut lease) {
            mr.unmap();
        }
        self.mr_put(lease);
        add(&self.stats.mrs_recycled, 1);
    }

    /// Completes a pinned rqst with `result` and unpins it
    /// (`rpcrdma_complete_rqst()`); `key` is the turn at its req, if it is
    /// ours, which ends before the rqst is completed.
    pub(super) fn complete_rqst(&self, key: Option<ReqKey<'_>>, rqst: PinnedRqst, result: Result<i32>) {
        if let Some(mut key) = key {
            // I3: every MR was invalidated and unmapped before the RPC
            // layer may look at the pages.
            let n = key.registered().len();
            if !lifetime::i3_mrs_fenced(u32::try_from(n).unwrap_or(u32::MAX)) {
                sunrpc::warn_once(c_str!("I3: RPC completed with MRs registered"));
            }
            key.end_reply();
        }
        if result.is_err() {
            add(&self.stats.bad_reply_count, 1);
        }
        rqst.complete(&self.xprt, result);
    }
}

impl CqeHandler for Rep {
    /// Receive completion handler (`rpcrdma_wc_receive()`).
    fn done(&self, wc: &Wc<'_>) {
        trace::wc_receive(wc, &self.cid);
        self.posted.store(false, Ordering::Release);
        let t = self.transport();
        if !wc.is_success() {
            if wc.fatal() {
                t.fault();
            }
            return;
        }
        let Some(ep) = self.endpoint() else {
            return;
        };
        let inv_rkey = wc.invalidated_rkey();
        {
            // The Receive completed: the device no longer writes the buffer
            // until it is posted again below.
            let buf = &self.buf;
            if t.reply(ep, self, buf.sync_for_cpu(wc.byte_len() as usize), inv_rkey) {
                // Held until the req's LOCAL_INV chain completes.
                return;
            }
        }
        // No repost once teardown began (`re_receiving`): the QP is about
        // to be drained, and the rep counts as home.
        if ep.events.closing.load(Ordering::Acquire) {
            return;
        }
        if ep.id.qp().ok_or(EIO).and_then(|qp| self.post(qp)).is_err() {
            t.fault();
        }
    }
}
