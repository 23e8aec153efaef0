// SPDX-License-Identifier: GPL-2.0

#![forbid(unsafe_code)]

//! The backchannel (`backchannel.c`): callbacks the server sends on the
//! forward connection (NFSv4.1 and later). A callback arrives in a
//! Receive, is copied into one of the [`BC_SLOTS`] backchannel reqs (the
//! ids after the forward pool's) and queued for the callback service; the
//! Receive buffer is reposted at once. Our reply is built inline in the
//! req's send buffer and sent by `send_request`; the req goes home at
//! `->bc_free_rqst`.

use crate::proto::header::{Body, ChunkLists, Header};
use crate::proto::lifetime::Pool;
use crate::sunrpc::{self, Rqst};
use crate::trace::{self, BadReply};
use kernel::c_str;
use kernel::prelude::*;

use super::endpoint::Endpoint;
use super::stats::add;
use super::{ReqKey, Transport};

/// Backchannel reqs (`RPCRDMA_BACKWARD_WRS >> 1`): how many callbacks the
/// server may have outstanding, which is also the credit grant of our
/// replies to them.
pub(super) const BC_SLOTS: u32 = 16;

/// Size of a backchannel req's call and reply buffers; callbacks are
/// bounded by `bc_maxpayload`, which is at most this less the header.
pub(super) const BC_BUF_SIZE: usize = 4096;

impl Transport {
    /// A backchannel call arrived (`rpcrdma_bc_receive_call()`): copy it
    /// into a backchannel req and queue that for the callback service.
    /// The receive buffer is reposted at once; the req holds the call.
    pub(super) fn bc_receive(&self, xid: u32, call: &[u8]) {
        trace::cb_call(&self.xprt, xid);
        let Some(pooled) = self.pool_pop(Pool::Backchannel) else {
            pr_warn!("backchannel overflow\n");
            self.xprt.force_disconnect();
            return;
        };
        let Some(req) = self.req(pooled.req()) else {
            sunrpc::warn_once(c_str!("pooled req out of range"));
            return;
        };
        // The req just left its pool: it is ours until the callback
        // service takes the rqst.
        let mut new = match req.take(pooled) {
            Ok(new) => new,
            Err((pooled, _)) => {
                sunrpc::warn_once(c_str!("I5: req left its pool while busy"));
                self.pool_push(pooled);
                return;
            }
        };
        let Some(dst) = new.key().state().bufs.reply_mut().get_mut(..call.len()) else {
            // Larger than the bc_maxpayload we advertised.
            trace::reply_err(&self.xprt, xid, BadReply::Callback);
            add(&self.stats.bad_reply_count, 1);
            self.drop_new(new);
            return;
        };
        dst.copy_from_slice(call);
        // The callback service now owns the rqst until bc_free_rqst.
        new.enqueue_callback(xid, call.len());
    }

    /// Builds our reply to a callback in the req's send buffer
    /// (`rpcrdma_bc_marshal_reply()`): an RDMA_MSG header granting
    /// [`BC_SLOTS`] credits, then the reply pulled up behind it. Returns
    /// the Send length.
    pub(super) fn bc_marshal(&self, ep: &Endpoint, key: &mut ReqKey<'_>, rqst: &Rqst<'_>) -> Result<u32> {
        // As in `marshal`: no Send of this req is outstanding (the
        // callback service sends each reply once).
        let mut sendbuf = key.send_buf(ep).ok_or(EINVAL)?;
        let limit = (ep.link().negotiated.inline_send.bytes() as usize).min(sendbuf.len());
        let (xid, len) = (rqst.xid(), rqst.snd_buf().len());
        trace::cb_reply(&self.xprt, xid);
        let hdr = Header {
            xid,
            credits: BC_SLOTS,
            body: Body::Msg(ChunkLists {
                read: &[],
                write: &[],
                reply: None,
            }),
        };
        let buf = sendbuf.as_mut_slice().get_mut(..limit).ok_or(EIO)?;
        let hdrlen = hdr.encode(buf).map_err(|_| EIO)?;
        let total = self.pull_up(rqst, &mut sendbuf, limit, hdrlen, (0, len))?;
        u32::try_from(total).map_err(|_| EIO)
    }
}
