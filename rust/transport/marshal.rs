// SPDX-License-Identifier: GPL-2.0

#![forbid(unsafe_code)]

//! The send path (`rpc_rdma.c`, and `xprt_rdma_allocate()` and
//! `xprt_rdma_free()` of `transport.c`): the req's call and reply buffers,
//! `->send_request`, and marshaling a Call: plan it, register its chunks,
//! build the transport header and pull the inline part up into the send
//! buffer.
//!
//! `send_request` runs under `XPRT_LOCKED`, which makes it a reader of the
//! endpoint; `buf_free` reads it under `ep_lock` and waits for its
//! LOCAL_INV chain outside that lock. From `send_request` until the Send is
//! posted the req is in [`Phase::MARSHALING`] and takes no Reply; the post
//! moves it to [`Phase::SENT`] with a Release store, which publishes what
//! marshaling wrote (`offered`, the MRs) to the reply handler.

use crate::bindings;
use crate::ib::SendBufMut;
use crate::proto::chunk::{self, ChunkKind, ReplyPlan, SendPlan};
use crate::proto::header::{Body, ChunkLists, Header, ReadSegment, Segment};
use crate::sunrpc::{self, Rqst, TransmitTurn, XprtLocked};
use crate::trace;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::c_str;
use kernel::prelude::*;

use super::endpoint::Endpoint;
use super::req::Unmapping;
use super::stats::add;
use super::{err, Phase, Req, ReqKey, Transport, MAX_HDR_SEGS};

impl Transport {
    /// Gives back the MRs a failed send attempt registered. With `wait`
    /// (EAGAIN: out of MRs or of sendctxs) the task then waits for buffer
    /// space; in this order, because the release wakes waiters, which
    /// would cancel a wait set before it.
    ///
    /// A refill of the MR pool that `mr_get` asked for is queued after the
    /// wait is set, so that the worker's wakeup cannot come before it.
    fn unwind_send(&self, ep: &Endpoint, key: &mut ReqKey<'_>, wait: bool) {
        self.release_mrs(ep, key);
        if wait {
            self.xprt.wait_for_buffer_space();
            if self.mr_refresh_wanted.swap(false, Ordering::Relaxed) {
                self.xprt.queue_mr_refresh();
            }
        }
    }

    /// `->buf_alloc` (`xprt_rdma_allocate()`) for `rqst`, the rqst of
    /// `key`'s req.
    pub(super) fn buf_alloc(&self, rqst: &Rqst<'_>, key: &mut ReqKey<'_>) -> Result {
        let (callsize, rcvsize) = rqst.buffer_sizes();
        let bufs = &mut key.state().bufs;
        // Regbufs grow on demand and are kept for the req's next RPC.
        if bufs.grow_call(callsize)? {
            add(&self.stats.hardway_register_count, callsize as u64);
        }
        if bufs.grow_reply(rcvsize)? {
            add(&self.stats.hardway_register_count, rcvsize as u64);
        }
        rqst.set_buffers(bufs);
        Ok(())
    }

    /// `->buf_free` (`xprt_rdma_free()`): an RPC that exits without its
    /// reply (a signal, a soft timeout) may still have registered MRs;
    /// invalidate them and wait (`frwr_unmap_sync()`) so the server can no
    /// longer reach pages the RPC layer is about to release.
    pub(super) fn buf_free(&self, mut key: ReqKey<'_>) {
        if key.registered().len() == 0 {
            return;
        }
        let req = key.req();
        let posted = {
            let guard = self.lock_ep();
            let ep = guard.endpoint();
            // Pool ids start at 1: without an endpoint every lease is stale.
            if key.registered().of_pool(ep.map_or(0, |ep| ep.mrs.id())).len() == 0 {
                return;
            }
            match ep {
                Some(ep) => self.start_unmap_sync(ep, key),
                None => false,
            }
        };
        // The wait is outside `ep_lock`, so that connect and close do not
        // queue behind one slow LOCAL_INV chain (and a signal or timeout
        // behind them). Teardown drains the QP, which completes the
        // chain, flushed, before it frees the endpoint.
        if posted {
            req.wait_unmap();
        }
        req.inv.sync.store(false, Ordering::Relaxed);
    }

    /// Posts the LOCAL_INV chain of `frwr_unmap_sync()` for a req's MRs;
    /// returns whether the caller must wait for its last completion. A
    /// posted chain's completion takes the req's turn: the key ends here.
    fn start_unmap_sync(&self, ep: &Endpoint, key: ReqKey<'_>) -> bool {
        key.inv.sync.store(true, Ordering::Relaxed);
        key.arm_unmap_wait();
        let mut key = match self.post_local_inv(ep, key) {
            Ok(Unmapping::Handed) => return true,
            // Completed before the turn was handed over: finished here,
            // which wakes the wait at once.
            Ok(Unmapping::Completed(key, ok)) => {
                let _ = self.finish_local_inv(ep, key, ok);
                return true;
            }
            Err((key, _)) => key,
        };
        // As `frwr_unmap_sync()`: a failed post does not mean the QP is
        // dead, so the MRs are not reused; they go when the QP has
        // drained, after the disconnect forced here.
        self.orphan_mrs(&mut key);
        self.xprt.force_disconnect();
        false
    }

    /// `->send_request`, for Calls and (`xprt_rdma_bc_send_reply()`) for
    /// our replies to callbacks.
    ///
    /// `req` is `rqst`'s req, None when `rqst` is not one of ours; `turn`
    /// is traded for its key once the req is taken from the reply path.
    pub(super) fn send_request<'a>(
        &'a self,
        rqst: &mut Rqst<'_>,
        req: Option<&'a Req>,
        turn: TransmitTurn<'a>,
        held: &mut XprtLocked<'_>,
    ) -> Result {
        let xprt = &*self.xprt;
        if !xprt.connected() {
            return Err(err(bindings::ENOTCONN));
        }
        if !rqst.get_cong(xprt) {
            return Err(err(bindings::EBADSLT));
        }
        let (backchannel, cookie) = (!rqst.has_call_buffer(), rqst.connect_cookie());
        // A retransmit on the same connection would reuse a send buffer
        // the HCA may still read, and throws off credit accounting: drop
        // the connection instead, before touching the buffer. Callback
        // replies are sent once and never retransmitted (nor does C check
        // them); their cookie is whatever the pooled rqst held.
        if !backchannel && cookie == xprt.connect_cookie() {
            self.close(held);
            return Err(err(bindings::ENOTCONN));
        }
        let req = req.ok_or(EINVAL)?;
        let Some(ep) = self.endpoint(held) else {
            return Err(err(bindings::ENOTCONN));
        };
        // From here until the Send is posted no Reply is taken for this
        // req, so this is its only user. A reply handler that already
        // claimed it (a Reply to the previous transmission, arrived on
        // this connection) completes or unpins the rqst; this transmission
        // waits for the reconnect.
        let Some(mut key) = req.transmit_key(turn) else {
            return Err(err(bindings::ENOTCONN));
        };
        if key.registered().of_pool(ep.mrs.id()).len() != 0 {
            sunrpc::warn_once(c_str!("send_request with MRs still registered"));
            req.set_phase(|p| p == Phase::MARSHALING, Phase::IDLE);
            self.close(held);
            return Err(err(bindings::ENOTCONN));
        }
        // Only backchannel rqsts come without a call buffer.
        let marshaled = if backchannel {
            self.bc_marshal(ep, &mut key, rqst)
        } else {
            self.marshal(ep, &mut key, rqst)
        };
        let len = match marshaled {
            Ok(len) => len,
            Err(e) => {
                req.set_phase(|p| p == Phase::MARSHALING, Phase::IDLE);
                self.unwind_send(ep, &mut key, e == EAGAIN);
                if e != EAGAIN {
                    add(&self.stats.failed_marshal_count, 1);
                }
                return Err(e);
            }
        };
        rqst.set_xtime_now();
        match self.post(ep, &mut key, rqst, len) {
            Ok(()) => {}
            // Out of sendctxs or MRs before the chain was posted: the
            // phase is still MARSHALING, so the key is still the only one.
            // A backchannel req has no phase (no Reply can claim it): its
            // EAGAIN waits for buffer space too, as C's
            // rpcrdma_bc_marshal_reply() does.
            Err(e) if e == EAGAIN && (backchannel || req.set_phase(|p| p == Phase::MARSHALING, Phase::IDLE)) => {
                self.unwind_send(ep, &mut key, true);
                return Err(e);
            }
            Err(_) => {
                // Nothing was sent: take back the phase, unless a (forged)
                // Reply already claimed the req; closing drains either way.
                // The phase may be SENT already (the post itself failed),
                // so the key is not used again: a Reply may have it.
                req.set_phase(|p| p != Phase::REPLIED, Phase::IDLE);
                self.close(held);
                return Err(err(bindings::ENOTCONN));
            }
        }
        if backchannel {
            return Ok(());
        }
        rqst.add_sent_bytes();
        // An RPC with no reply throws off credit accounting: reset it.
        if !rqst.reply_expected() {
            self.close(held);
            return Err(err(bindings::ENOTCONN));
        }
        Ok(())
    }

    /// Plans the RPC, registers its chunks, and builds the transport
    /// header plus the inline part of the Call in the req's send buffer
    /// (`rpcrdma_marshal_req()`). Returns the Send length.
    fn marshal(&self, ep: &Endpoint, key: &mut ReqKey<'_>, rqst: &mut Rqst<'_>) -> Result<u32> {
        // The send buffer is the req's, and no Send of this req is
        // outstanding on this connection (retransmits drop it); it is
        // taken after registering, which needs the key too.
        ep.send_bufs.get(key.kref.id().0 as usize).ok_or(EINVAL)?;
        // A sparse receive page array (NFSv3 GETACL) is filled before the
        // reply chunk maps it or an inline reply is copied into it.
        rqst.alloc_sparse_rcv_pages()?;
        let rqst = &*rqst;
        let (xid, snd, rcv, ddp_allowed) = (rqst.xid(), rqst.snd_buf(), rqst.rcv_buf(), rqst.ddp_allowed());
        let snd_shape = snd.shape();
        let rpc = chunk::Rpc {
            snd: snd_shape,
            rcv: rcv.shape(),
            rcv_buflen: rcv.buflen(),
            // Inline Calls are always pulled up into the send buffer.
            sendbuf_len: u32::MAX,
            ddp_allowed,
            call_write_payload: snd.flags() & bindings::XDRBUF_WRITE != 0,
            reply_read_payload: rcv.flags() & bindings::XDRBUF_READ != 0,
        };
        let link = ep.link();
        let plan = chunk::plan(&rpc, &link.th);

        // The segment arrays are made (and zeroed) only for the chunks
        // this Call has: a 4 KiB READ has a write chunk alone.
        let read_store;
        let mut read: &[ReadSegment] = &[];
        let read_kind = match plan.send {
            SendPlan::ReadChunk => Some(ChunkKind::Read),
            SendPlan::PositionZeroRead => Some(ChunkKind::PositionZeroRead),
            SendPlan::Pullup | SendPlan::Mapped => None,
        };
        if let Some(kind) = read_kind {
            let position = kind.read_position(&snd_shape);
            let mut segs = [Segment::default(); MAX_HDR_SEGS];
            let nread = self.register(ep, key, rqst, &snd, kind, false, xid, &mut segs)?;
            read_store = segs.map(|segment| ReadSegment { position, segment });
            read = read_store.get(..nread).ok_or(EIO)?;
            add(&self.stats.read_chunk_count, nread as u64);
            if kind == ChunkKind::PositionZeroRead {
                add(&self.stats.nomsg_call_count, 1);
            }
        }

        let mut write_store;
        let mut write_chunk: &[Segment] = &[];
        let mut reply_store;
        let mut reply_chunk: &[Segment] = &[];
        match plan.reply {
            ReplyPlan::Inline => {}
            ReplyPlan::WriteChunk { pad } => {
                // One more slot than a chunk's segments: the write-pad
                // segment.
                write_store = [Segment::default(); MAX_HDR_SEGS + 1];
                let chunk = write_store.first_chunk_mut::<MAX_HDR_SEGS>().ok_or(EIO)?;
                let mut nwrite = self.register(ep, key, rqst, &rcv, ChunkKind::Write, true, xid, chunk)?;
                self.count_rdma_request(chunk, nwrite, &self.stats.write_chunk_count);
                if pad {
                    let pad = ep.write_pad.get().ok_or(EIO)?;
                    *write_store.get_mut(nwrite).ok_or(EIO)? = pad.seg;
                    nwrite = nwrite.saturating_add(1);
                }
                write_chunk = write_store.get(..nwrite).ok_or(EIO)?;
            }
            ReplyPlan::ReplyChunk => {
                reply_store = [Segment::default(); MAX_HDR_SEGS];
                let nreply = self.register(ep, key, rqst, &rcv, ChunkKind::Reply, true, xid, &mut reply_store)?;
                self.count_rdma_request(&reply_store, nreply, &self.stats.reply_chunk_count);
                reply_chunk = reply_store.get(..nreply).ok_or(EIO)?;
            }
        }

        // `offered` is the marshaling send path's: the phase is MARSHALING.
        // What a failed marshal leaves in it is never read: the phase goes
        // back to IDLE.
        key.state()
            .offered
            .set(write_chunk, reply_chunk)
            .map_err(|_| EIO)?;
        let write_list = [write_chunk];
        let lists = ChunkLists {
            read,
            write: if write_chunk.is_empty() { &[] } else { &write_list },
            reply: if reply_chunk.is_empty() {
                None
            } else {
                Some(reply_chunk)
            },
        };
        let hdr = Header {
            xid,
            credits: ep.max_requests,
            body: if plan.send == SendPlan::PositionZeroRead {
                Body::NoMsg(lists)
            } else {
                Body::Msg(lists)
            },
        };
        let mut sendbuf = key.send_buf(ep).ok_or(EINVAL)?;
        let limit = (link.negotiated.inline_send.bytes() as usize).min(sendbuf.len());
        let buf = sendbuf.as_mut_slice().get_mut(..limit).ok_or(EIO)?;
        let hdrlen = hdr.encode(buf).map_err(|_| EIO)?;
        trace::marshal(rqst, hdrlen, &plan);

        // The inline part: (offset in the xdr_buf, length) runs.
        let head = snd_shape.head.len;
        let pages_end = head.checked_add(snd_shape.page_len).ok_or(EIO)?;
        let (first, second) = match plan.send {
            SendPlan::Pullup | SendPlan::Mapped => {
                let all = u32::try_from(snd_shape.len()).map_err(|_| EIO)?;
                ((0, all), None)
            }
            SendPlan::ReadChunk => {
                let tail = chunk::readch_tail(snd_shape.tail).map(|t| {
                    let skipped = snd_shape.tail.len.saturating_sub(t.len);
                    (pages_end.saturating_add(skipped), t.len)
                });
                ((0, head), tail)
            }
            SendPlan::PositionZeroRead => ((0, 0), None),
        };
        let mut total = hdrlen;
        for run in [Some(first), second].into_iter().flatten() {
            total = self.pull_up(rqst, &mut sendbuf, limit, total, run)?;
        }
        u32::try_from(total).map_err(|_| EIO)
    }

    /// Copies `len` bytes at `offset` of the rqst's call into the send
    /// buffer at `at`, within `limit`. Returns the end of the copy.
    pub(super) fn pull_up(
        &self,
        rqst: &Rqst<'_>,
        sendbuf: &mut SendBufMut<'_>,
        limit: usize,
        at: usize,
        (offset, len): (u32, u32),
    ) -> Result<usize> {
        if len == 0 {
            return Ok(at);
        }
        let end = at.checked_add(len as usize).ok_or(EIO)?;
        if end > limit.min(sendbuf.len()) {
            return Err(EIO);
        }
        let dst = sendbuf.as_mut_slice().get_mut(at..end).ok_or(EIO)?;
        rqst.read_call(offset, dst)?;
        // As C counts it: what lies beyond the head.
        let head = rqst.snd_buf().head_len();
        let beyond = (offset as usize)
            .saturating_add(len as usize)
            .saturating_sub((offset as usize).max(head));
        add(&self.stats.pullup_copy_count, beyond as u64);
        Ok(end)
    }

    fn count_rdma_request(&self, segs: &[Segment], n: usize, chunks: &AtomicU64) {
        add(chunks, n as u64);
        let bytes = segs.iter().take(n).map(|s| u64::from(s.length)).sum();
        add(&self.stats.total_rdma_request, bytes);
    }
}
