// SPDX-License-Identifier: GPL-2.0

//! Trace points (`TRACE_SYSTEM xprtrdma_rs`): one function per event of
//! `include/trace/events/xprtrdma_rs.h`, each calling its C wrapper in
//! `rust/trace.c`. The events every RPC passes test their tracepoint's
//! static key first ([`enabled!`]), so that disabled, they cost a load and
//! a branch, as C's `trace_*()` cost a patched-out jump; the others cost
//! one call each. The events and how to read them:
//! `Documentation/tracing.md`.
//!
//! Every wrapper only reads its arguments, and only during the call. The
//! events that name a transport read its address string, written at setup
//! (`Xprt::alloc`) and freed at `Xprt::free`, and the port of its socket
//! address, which lies inside the `rpc_xprt`; by the `Xprt` invariant the
//! transport is live while the `&Xprt` they take is borrowed.

use crate::bindings;
use crate::ib::{Cid, Mr, Wc};
use crate::proto::chunk::{Plan, ReplyPlan, SendPlan};
use crate::sunrpc::{PinnedRqst, Rqst, Task, Xprt};

/// Whether the event of tracepoint `$tp` (one declared in
/// `include/xprtrdma_rs.h`) is enabled: its static key's count read once,
/// as `static_key_enabled()` does. A racing enable or disable is seen a
/// little early or late, as by a jump label being patched.
macro_rules! enabled {
    ($tp:ident) => {
        // SAFETY: the tracepoint is a static of this module (`trace.c`),
        // never freed; its key's count is an `atomic_t` the tracing core
        // changes atomically, read here once as `atomic_read()` does.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!(bindings::$tp.key.enabled.counter)) > 0 }
    };
}

/// A connection attempt ended: `rc` is the result of setting the
/// endpoint up (0 or a negative errno), `status` what the RPC tasks see
/// of it (`connect_status()`).
pub(crate) fn connect(xprt: &Xprt, rc: i32, status: i32) {
    // SAFETY: the xprt is live (module documentation).
    unsafe { bindings::xprs_trace_connect(xprt.as_ptr(), rc, status) }
}

/// An endpoint is torn down: `rc` is `rdma_disconnect()`'s, `status`
/// the endpoint's connection status (1 established, or the negative
/// errno of how it was lost).
pub(crate) fn disconnect(xprt: &Xprt, rc: i32, status: i32) {
    // SAFETY: as for `connect`.
    unsafe { bindings::xprs_trace_disconnect(xprt.as_ptr(), rc, status) }
}

/// `->connect` for a transport that was connected before, with the
/// backoff `delay` in jiffies.
pub(crate) fn reconnect(xprt: &Xprt, delay: usize) {
    // SAFETY: as for `connect`.
    unsafe { bindings::xprs_trace_reconnect(xprt.as_ptr(), delay) }
}

/// `->inject_disconnect`.
pub(crate) fn op_inject_dsc(xprt: &Xprt) {
    // SAFETY: as for `connect`.
    unsafe { bindings::xprs_trace_op_inject_dsc(xprt.as_ptr()) }
}

/// The device of the connection is being removed.
pub(crate) fn device_removal(xprt: &Xprt) {
    // SAFETY: as for `connect`.
    unsafe { bindings::xprs_trace_device_removal(xprt.as_ptr()) }
}

/// The chunk types of a plan, as the C client's `enum rpcrdma_chunktype`.
fn chunk_types(plan: &Plan) -> (u32, u32) {
    let rtype = match plan.send {
        SendPlan::Pullup => bindings::xprs_chunktype_XPRS_NOCH_PULLUP,
        SendPlan::Mapped => bindings::xprs_chunktype_XPRS_NOCH_MAPPED,
        SendPlan::ReadChunk => bindings::xprs_chunktype_XPRS_READCH,
        SendPlan::PositionZeroRead => bindings::xprs_chunktype_XPRS_AREADCH,
    };
    let wtype = match plan.reply {
        ReplyPlan::Inline => bindings::xprs_chunktype_XPRS_NOCH,
        ReplyPlan::WriteChunk { .. } => bindings::xprs_chunktype_XPRS_WRITECH,
        ReplyPlan::ReplyChunk => bindings::xprs_chunktype_XPRS_REPLYCH,
    };
    (rtype, wtype)
}

/// A Call was marshaled with a transport header of `hdrlen` bytes, as
/// `plan` says.
#[inline]
pub(crate) fn marshal(rqst: &Rqst<'_>, hdrlen: usize, plan: &Plan) {
    if !enabled!(__tracepoint_xprs_marshal) {
        return;
    }
    let (rtype, wtype) = chunk_types(plan);
    let hdrlen = u32::try_from(hdrlen).unwrap_or(u32::MAX);
    // SAFETY: the rqst and its task are live while the view is (`Rqst`
    // invariant: a Call being transmitted).
    unsafe { bindings::xprs_trace_marshal(rqst.as_ptr(), hdrlen, rtype, wtype) }
}

/// A Send (behind `num_reg` REG_MRs) of `rqst` is posted on the context
/// `cid`.
#[inline]
pub(crate) fn post_send(rqst: &Rqst<'_>, cid: &Cid, signaled: bool, num_reg: usize) {
    if !enabled!(__tracepoint_xprs_post_send) {
        return;
    }
    let num_reg = u32::try_from(num_reg).unwrap_or(u32::MAX);
    // SAFETY: the rqst is live, and its `rq_task` null or live, while the
    // view is (`Rqst` invariant: a Call or a callback reply being
    // transmitted); `cid` is borrowed for the call.
    unsafe { bindings::xprs_trace_post_send(rqst.as_ptr(), cid.as_raw(), signaled, num_reg) }
}

/// Marshaling `rqst` found no free MR.
pub(crate) fn nomrs_err(xprt: &Xprt, rqst: &Rqst<'_>) {
    // SAFETY: as for [`post_send`]; the xprt is live (module
    // documentation).
    unsafe { bindings::xprs_trace_nomrs_err(xprt.as_ptr(), rqst.as_ptr()) }
}

/// `task` waits on the backlog for a req.
pub(crate) fn backlog_wait(task: &Task<'_>) {
    // SAFETY: the task is live while the view is (`Task` invariant).
    unsafe { bindings::xprs_trace_backlog_wait(task.as_ptr()) }
}

/// Released req `req` went to a task waiting on the backlog.
pub(crate) fn backlog_wake(xprt: &Xprt, req: u32) {
    // SAFETY: as for `connect`.
    unsafe { bindings::xprs_trace_backlog_wake(xprt.as_ptr(), req) }
}

/// A Send completed on context `cid`.
#[inline]
pub(crate) fn wc_send(wc: &Wc<'_>, cid: &Cid) {
    if !enabled!(__tracepoint_xprs_wc_send) {
        return;
    }
    // SAFETY: both are borrowed for the call.
    unsafe { bindings::xprs_trace_wc_send(wc.as_raw(), cid.as_raw()) }
}

/// A Receive completed on context `cid`.
#[inline]
pub(crate) fn wc_receive(wc: &Wc<'_>, cid: &Cid) {
    if !enabled!(__tracepoint_xprs_wc_receive) {
        return;
    }
    // SAFETY: both are borrowed for the call.
    unsafe { bindings::xprs_trace_wc_receive(wc.as_raw(), cid.as_raw()) }
}

/// A REG_MR completed (failed or flushed: it is unsignaled).
#[inline]
pub(crate) fn wc_fastreg(wc: &Wc<'_>, cid: &Cid) {
    if !enabled!(__tracepoint_xprs_wc_fastreg) {
        return;
    }
    // SAFETY: both are borrowed for the call.
    unsafe { bindings::xprs_trace_wc_fastreg(wc.as_raw(), cid.as_raw()) }
}

/// An unsignaled LOCAL_INV completed (failed or flushed).
#[inline]
pub(crate) fn wc_li(wc: &Wc<'_>, cid: &Cid) {
    if !enabled!(__tracepoint_xprs_wc_li) {
        return;
    }
    // SAFETY: both are borrowed for the call.
    unsafe { bindings::xprs_trace_wc_li(wc.as_raw(), cid.as_raw()) }
}

/// The signaled last LOCAL_INV of a req's chain completed.
#[inline]
pub(crate) fn wc_li_done(wc: &Wc<'_>, cid: &Cid) {
    if !enabled!(__tracepoint_xprs_wc_li_done) {
        return;
    }
    // SAFETY: both are borrowed for the call.
    unsafe { bindings::xprs_trace_wc_li_done(wc.as_raw(), cid.as_raw()) }
}

/// What a Reply conveyed: `inline_len` bytes of RPC message inline,
/// `write_len` bytes through the write list, `reply_len` through the reply
/// chunk.
#[derive(Clone, Copy)]
pub(crate) struct ReplyLens {
    pub(crate) inline_len: u32,
    pub(crate) write_len: u32,
    pub(crate) reply_len: u32,
}

/// A Reply matched `rqst` and passed every check; `credits` is its
/// grant, as sanitized.
#[inline]
pub(crate) fn reply(rqst: &PinnedRqst, credits: u32, lens: ReplyLens) {
    if !enabled!(__tracepoint_xprs_reply) {
        return;
    }
    // SAFETY: the rqst is pinned, so it and its task, which waits for this
    // Reply, are live (`PinnedRqst` invariant).
    unsafe { bindings::xprs_trace_reply(rqst.as_ptr(), credits, lens.inline_len, lens.write_len, lens.reply_len) }
}

/// The check a received message failed.
#[derive(Clone, Copy)]
pub(crate) enum BadReply {
    /// The transport header does not decode.
    Header,
    /// No RPC waits for its xid.
    Unmatched,
    /// Its RPC waits for no Reply (a duplicate, or a Call not yet sent).
    Dropped,
    /// The chunk lists do not decode within the connection's limits.
    Body,
    /// RDMA_ERROR.
    RdmaError,
    /// A write list or reply chunk the Call did not offer.
    Unoffered,
    /// A write list longer than the receive pages.
    WriteList,
    /// A callback larger than the `bc_maxpayload` we offered.
    Callback,
}

/// The message with `xid` completes no RPC: it failed check `why`.
pub(crate) fn reply_err(xprt: &Xprt, xid: u32, why: BadReply) {
    let why = match why {
        BadReply::Header => bindings::xprs_bad_reply_XPRS_BAD_HEADER,
        BadReply::Unmatched => bindings::xprs_bad_reply_XPRS_BAD_UNMATCHED,
        BadReply::Dropped => bindings::xprs_bad_reply_XPRS_BAD_DROPPED,
        BadReply::Body => bindings::xprs_bad_reply_XPRS_BAD_BODY,
        BadReply::RdmaError => bindings::xprs_bad_reply_XPRS_BAD_RDMA_ERROR,
        BadReply::Unoffered => bindings::xprs_bad_reply_XPRS_BAD_UNOFFERED,
        BadReply::WriteList => bindings::xprs_bad_reply_XPRS_BAD_WRITE_LIST,
        BadReply::Callback => bindings::xprs_bad_reply_XPRS_BAD_CALLBACK,
    };
    // SAFETY: as for `connect`.
    unsafe { bindings::xprs_trace_reply_err(xprt.as_ptr(), xid, why) }
}

/// `mr` was just mapped.
#[inline]
pub(crate) fn mr_map(mr: &Mr) {
    if !enabled!(__tracepoint_xprs_mr_map) {
        return;
    }
    // SAFETY: `as_raw` is the MR's live `xprs_mr` (`Mr` invariant); the
    // shared borrow keeps every method that changes it from running
    // during the call.
    unsafe { bindings::xprs_trace_mr_map(mr.as_raw()) }
}

/// `mr` is about to be unmapped (the event fires only if it is mapped).
#[inline]
pub(crate) fn mr_unmap(mr: &Mr) {
    if !enabled!(__tracepoint_xprs_mr_unmap) {
        return;
    }
    // SAFETY: as for `mr_map`.
    unsafe { bindings::xprs_trace_mr_unmap(mr.as_raw()) }
}

/// A callback with `xid` arrived.
pub(crate) fn cb_call(xprt: &Xprt, xid: u32) {
    // SAFETY: as for `connect`.
    unsafe { bindings::xprs_trace_cb_call(xprt.as_ptr(), xid) }
}

/// Our reply to the callback with `xid` is being sent.
pub(crate) fn cb_reply(xprt: &Xprt, xid: u32) {
    // SAFETY: as for `connect`.
    unsafe { bindings::xprs_trace_cb_reply(xprt.as_ptr(), xid) }
}
