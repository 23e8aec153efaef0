// SPDX-License-Identifier: GPL-2.0
/*
 * xprtrdma_rs trace points: the events of include/trace/events/xprtrdma_rs.h
 * and one out-of-line wrapper per event, for Rust (rust/trace.rs), which
 * cannot expand the trace_*() static inlines. A wrapper costs a call even
 * with its event disabled; the event's static key is tested inside it.
 */

#define CREATE_TRACE_POINTS
#include <trace/events/xprtrdma_rs.h>

void xprs_trace_connect(const struct rpc_xprt *xprt, int rc,
			int connect_status)
{
	trace_xprs_connect(xprt, rc, connect_status);
}

void xprs_trace_disconnect(const struct rpc_xprt *xprt, int rc,
			   int connect_status)
{
	trace_xprs_disconnect(xprt, rc, connect_status);
}

void xprs_trace_reconnect(const struct rpc_xprt *xprt, unsigned long delay)
{
	trace_xprs_reconnect(xprt, delay);
}

void xprs_trace_op_inject_dsc(const struct rpc_xprt *xprt)
{
	trace_xprs_op_inject_dsc(xprt);
}

void xprs_trace_device_removal(const struct rpc_xprt *xprt)
{
	trace_xprs_device_removal(xprt);
}

void xprs_trace_marshal(const struct rpc_rqst *rqst, unsigned int hdrlen,
			unsigned int rtype, unsigned int wtype)
{
	trace_xprs_marshal(rqst, hdrlen, rtype, wtype);
}

void xprs_trace_post_send(const struct rpc_rqst *rqst,
			  const struct rpc_rdma_cid *cid, bool signaled,
			  unsigned int num_reg)
{
	trace_xprs_post_send(rqst, cid, signaled, num_reg);
}

void xprs_trace_nomrs_err(const struct rpc_xprt *xprt,
			  const struct rpc_rqst *rqst)
{
	trace_xprs_nomrs_err(xprt, rqst);
}

void xprs_trace_backlog_wait(const struct rpc_task *task)
{
	trace_xprs_backlog_wait(task);
}

void xprs_trace_backlog_wake(const struct rpc_xprt *xprt, unsigned int req)
{
	trace_xprs_backlog_wake(xprt, req);
}

void xprs_trace_wc_send(const struct ib_wc *wc, const struct rpc_rdma_cid *cid)
{
	trace_xprs_wc_send(wc, cid);
}

void xprs_trace_wc_receive(const struct ib_wc *wc,
			   const struct rpc_rdma_cid *cid)
{
	trace_xprs_wc_receive(wc, cid);
}

void xprs_trace_wc_fastreg(const struct ib_wc *wc,
			   const struct rpc_rdma_cid *cid)
{
	trace_xprs_wc_fastreg(wc, cid);
}

void xprs_trace_wc_li(const struct ib_wc *wc, const struct rpc_rdma_cid *cid)
{
	trace_xprs_wc_li(wc, cid);
}

void xprs_trace_wc_li_done(const struct ib_wc *wc,
			   const struct rpc_rdma_cid *cid)
{
	trace_xprs_wc_li_done(wc, cid);
}

void xprs_trace_reply(const struct rpc_rqst *rqst, unsigned int credits,
		      unsigned int inline_len, unsigned int write_len,
		      unsigned int reply_len)
{
	trace_xprs_reply(rqst, credits, inline_len, write_len, reply_len);
}

void xprs_trace_reply_err(const struct rpc_xprt *xprt, u32 xid,
			  enum xprs_bad_reply why)
{
	trace_xprs_reply_err(xprt, xid, why);
}

void xprs_trace_mr_map(const struct xprs_mr *mr)
{
	trace_xprs_mr_map(mr);
}

void xprs_trace_mr_unmap(const struct xprs_mr *mr)
{
	trace_xprs_mr_unmap(mr);
}

void xprs_trace_cb_call(const struct rpc_xprt *xprt, u32 xid)
{
	trace_xprs_cb_call(xprt, xid);
}

void xprs_trace_cb_reply(const struct rpc_xprt *xprt, u32 xid)
{
	trace_xprs_cb_reply(xprt, xid);
}
