/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Trace events of xprtrdma_rs (TRACE_SYSTEM xprtrdma_rs). Where an event
 * has a counterpart in the C client's include/trace/events/rpcrdma.h, it
 * keeps that event's fields, in the same order and with the same names;
 * fields of our own come after them. Documentation/tracing.md lists them.
 *
 * Rust calls the wrappers in rust/trace.c (xprs_trace_*), which are the
 * only users of these trace_*() functions.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM xprtrdma_rs

#if !defined(_TRACE_XPRTRDMA_RS_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_XPRTRDMA_RS_H

#include <linux/tracepoint.h>
#include <linux/sunrpc/addr.h>
#include <linux/sunrpc/clnt.h>
#include <linux/sunrpc/sched.h>
#include <linux/sunrpc/xprt.h>
#include <linux/sunrpc/rpc_rdma_cid.h>
#include <rdma/ib_cm.h>
#include <rdma/ib_verbs.h>
#include <trace/misc/rdma.h>
#include <trace/misc/sunrpc.h>

#include <xprtrdma_rs.h>

#define xprs_addrstr(xprt) ((xprt)->address_strings[RPC_DISPLAY_ADDR])
/*
 * The port as a number: the port string may be replaced by ->set_port, but
 * the address it is formatted from lives as long as the transport.
 */
#define xprs_port(xprt) rpc_get_port((const struct sockaddr *)&(xprt)->addr)
#define xprs_task_id(rqst) ((rqst)->rq_task ? (rqst)->rq_task->tk_pid : 0)
#define xprs_client_id(rqst)						\
	((rqst)->rq_task && (rqst)->rq_task->tk_client ?		\
	 (rqst)->rq_task->tk_client->cl_clid : -1)

/**
 ** Connection events
 **/

/* As xprtrdma_connect_class. */
DECLARE_EVENT_CLASS(xprs_connect_class,
	TP_PROTO(const struct rpc_xprt *xprt, int rc, int connect_status),

	TP_ARGS(xprt, rc, connect_status),

	TP_STRUCT__entry(
		__field(int, rc)
		__field(int, connect_status)
		__string(addr, xprs_addrstr(xprt))
		__field(unsigned short, port)
	),

	TP_fast_assign(
		__entry->rc = rc;
		__entry->connect_status = connect_status;
		__assign_str(addr);
		__entry->port = xprs_port(xprt);
	),

	TP_printk("peer=[%s]:%u rc=%d connection status=%d",
		__get_str(addr), __entry->port,
		__entry->rc, __entry->connect_status
	)
);

#define DEFINE_XPRS_CONN_EVENT(name)					\
	DEFINE_EVENT(xprs_connect_class, xprs_##name,			\
		TP_PROTO(const struct rpc_xprt *xprt, int rc,		\
			 int connect_status),				\
		TP_ARGS(xprt, rc, connect_status))

DEFINE_XPRS_CONN_EVENT(connect);
DEFINE_XPRS_CONN_EVENT(disconnect);

/* As xprtrdma_op_connect, for a connect after an earlier connection. */
TRACE_EVENT(xprs_reconnect,
	TP_PROTO(const struct rpc_xprt *xprt, unsigned long delay),

	TP_ARGS(xprt, delay),

	TP_STRUCT__entry(
		__field(unsigned long, delay)
		__string(addr, xprs_addrstr(xprt))
		__field(unsigned short, port)
	),

	TP_fast_assign(
		__entry->delay = delay;
		__assign_str(addr);
		__entry->port = xprs_port(xprt);
	),

	TP_printk("peer=[%s]:%u delay=%lu",
		__get_str(addr), __entry->port, __entry->delay
	)
);

/* As xprtrdma_rxprt. */
DECLARE_EVENT_CLASS(xprs_xprt_class,
	TP_PROTO(const struct rpc_xprt *xprt),

	TP_ARGS(xprt),

	TP_STRUCT__entry(
		__string(addr, xprs_addrstr(xprt))
		__field(unsigned short, port)
	),

	TP_fast_assign(
		__assign_str(addr);
		__entry->port = xprs_port(xprt);
	),

	TP_printk("peer=[%s]:%u", __get_str(addr), __entry->port)
);

#define DEFINE_XPRS_XPRT_EVENT(name)					\
	DEFINE_EVENT(xprs_xprt_class, xprs_##name,			\
		TP_PROTO(const struct rpc_xprt *xprt),			\
		TP_ARGS(xprt))

DEFINE_XPRS_XPRT_EVENT(op_inject_dsc);
DEFINE_XPRS_XPRT_EVENT(device_removal);

/**
 ** Call events
 **/

TRACE_DEFINE_ENUM(XPRS_NOCH);
TRACE_DEFINE_ENUM(XPRS_NOCH_PULLUP);
TRACE_DEFINE_ENUM(XPRS_NOCH_MAPPED);
TRACE_DEFINE_ENUM(XPRS_READCH);
TRACE_DEFINE_ENUM(XPRS_AREADCH);
TRACE_DEFINE_ENUM(XPRS_WRITECH);
TRACE_DEFINE_ENUM(XPRS_REPLYCH);

#define xprs_show_chunktype(x)						\
	__print_symbolic(x,						\
			 { XPRS_NOCH, "inline" },			\
			 { XPRS_NOCH_PULLUP, "pullup" },		\
			 { XPRS_NOCH_MAPPED, "mapped" },		\
			 { XPRS_READCH, "read list" },			\
			 { XPRS_AREADCH, "*read list" },		\
			 { XPRS_WRITECH, "write list" },		\
			 { XPRS_REPLYCH, "reply chunk" })

/* As xprtrdma_marshal. */
TRACE_EVENT(xprs_marshal,
	TP_PROTO(const struct rpc_rqst *rqst, unsigned int hdrlen,
		 unsigned int rtype, unsigned int wtype),

	TP_ARGS(rqst, hdrlen, rtype, wtype),

	TP_STRUCT__entry(
		__field(unsigned int, task_id)
		__field(unsigned int, client_id)
		__field(u32, xid)
		__field(unsigned int, hdrlen)
		__field(unsigned int, headlen)
		__field(unsigned int, pagelen)
		__field(unsigned int, taillen)
		__field(unsigned int, rtype)
		__field(unsigned int, wtype)
	),

	TP_fast_assign(
		__entry->task_id = xprs_task_id(rqst);
		__entry->client_id = xprs_client_id(rqst);
		__entry->xid = be32_to_cpu(rqst->rq_xid);
		__entry->hdrlen = hdrlen;
		__entry->headlen = rqst->rq_snd_buf.head[0].iov_len;
		__entry->pagelen = rqst->rq_snd_buf.page_len;
		__entry->taillen = rqst->rq_snd_buf.tail[0].iov_len;
		__entry->rtype = rtype;
		__entry->wtype = wtype;
	),

	TP_printk(SUNRPC_TRACE_TASK_SPECIFIER
		  " xid=0x%08x hdr=%u xdr=%u/%u/%u %s/%s",
		__entry->task_id, __entry->client_id, __entry->xid,
		__entry->hdrlen,
		__entry->headlen, __entry->pagelen, __entry->taillen,
		xprs_show_chunktype(__entry->rtype),
		xprs_show_chunktype(__entry->wtype)
	)
);

/* As xprtrdma_post_send, plus the xid and the REG_MRs chained before it. */
TRACE_EVENT(xprs_post_send,
	TP_PROTO(const struct rpc_rqst *rqst, const struct rpc_rdma_cid *cid,
		 bool signaled, unsigned int num_reg),

	TP_ARGS(rqst, cid, signaled, num_reg),

	TP_STRUCT__entry(
		__field(u32, cq_id)
		__field(int, completion_id)
		__field(unsigned int, task_id)
		__field(unsigned int, client_id)
		__field(int, num_sge)
		__field(int, signaled)
		__field(u32, xid)
		__field(unsigned int, num_reg)
	),

	TP_fast_assign(
		__entry->cq_id = cid->ci_queue_id;
		__entry->completion_id = cid->ci_completion_id;
		__entry->task_id = xprs_task_id(rqst);
		__entry->client_id = xprs_client_id(rqst);
		__entry->num_sge = 1;
		__entry->signaled = signaled;
		__entry->xid = be32_to_cpu(rqst->rq_xid);
		__entry->num_reg = num_reg;
	),

	TP_printk(SUNRPC_TRACE_TASK_SPECIFIER
		  " cq.id=%u cid=%d (%d SGE%s) %s xid=0x%08x reg_mr=%u",
		__entry->task_id, __entry->client_id,
		__entry->cq_id, __entry->completion_id,
		__entry->num_sge, (__entry->num_sge == 1 ? "" : "s"),
		(__entry->signaled ? "signaled" : ""),
		__entry->xid, __entry->num_reg
	)
);

/* As xprtrdma_nomrs_err. */
TRACE_EVENT(xprs_nomrs_err,
	TP_PROTO(const struct rpc_xprt *xprt, const struct rpc_rqst *rqst),

	TP_ARGS(xprt, rqst),

	TP_STRUCT__entry(
		__field(unsigned int, task_id)
		__field(unsigned int, client_id)
		__string(addr, xprs_addrstr(xprt))
		__field(unsigned short, port)
	),

	TP_fast_assign(
		__entry->task_id = xprs_task_id(rqst);
		__entry->client_id = xprs_client_id(rqst);
		__assign_str(addr);
		__entry->port = xprs_port(xprt);
	),

	TP_printk(SUNRPC_TRACE_TASK_SPECIFIER " peer=[%s]:%u",
		__entry->task_id, __entry->client_id,
		__get_str(addr), __entry->port
	)
);

/* A task waits for a req (xprt_add_backlog_noncongested). */
TRACE_EVENT(xprs_backlog_wait,
	TP_PROTO(const struct rpc_task *task),

	TP_ARGS(task),

	TP_STRUCT__entry(
		__field(unsigned int, task_id)
		__field(unsigned int, client_id)
	),

	TP_fast_assign(
		__entry->task_id = task->tk_pid;
		__entry->client_id = task->tk_client ?
				     task->tk_client->cl_clid : -1;
	),

	TP_printk(SUNRPC_TRACE_TASK_SPECIFIER,
		__entry->task_id, __entry->client_id
	)
);

/* A released req went to a task waiting on the backlog. */
TRACE_EVENT(xprs_backlog_wake,
	TP_PROTO(const struct rpc_xprt *xprt, unsigned int req),

	TP_ARGS(xprt, req),

	TP_STRUCT__entry(
		__field(unsigned int, req)
		__string(addr, xprs_addrstr(xprt))
		__field(unsigned short, port)
	),

	TP_fast_assign(
		__entry->req = req;
		__assign_str(addr);
		__entry->port = xprs_port(xprt);
	),

	TP_printk("peer=[%s]:%u req=%u",
		__get_str(addr), __entry->port, __entry->req
	)
);

/**
 ** Completion events
 **/

/* As rpcrdma_completion_class. */
DECLARE_EVENT_CLASS(xprs_completion_class,
	TP_PROTO(const struct ib_wc *wc, const struct rpc_rdma_cid *cid),

	TP_ARGS(wc, cid),

	TP_STRUCT__entry(
		__field(u32, cq_id)
		__field(int, completion_id)
		__field(unsigned long, status)
		__field(unsigned int, vendor_err)
	),

	TP_fast_assign(
		__entry->cq_id = cid->ci_queue_id;
		__entry->completion_id = cid->ci_completion_id;
		__entry->status = wc->status;
		if (wc->status)
			__entry->vendor_err = wc->vendor_err;
		else
			__entry->vendor_err = 0;
	),

	TP_printk("cq.id=%u cid=%d status=%s (%lu/0x%x)",
		__entry->cq_id, __entry->completion_id,
		rdma_show_wc_status(__entry->status),
		__entry->status, __entry->vendor_err
	)
);

#define DEFINE_XPRS_COMPLETION_EVENT(name)				\
	DEFINE_EVENT(xprs_completion_class, xprs_##name,		\
		TP_PROTO(const struct ib_wc *wc,			\
			 const struct rpc_rdma_cid *cid),		\
		TP_ARGS(wc, cid))

DEFINE_XPRS_COMPLETION_EVENT(wc_send);
DEFINE_XPRS_COMPLETION_EVENT(wc_fastreg);
DEFINE_XPRS_COMPLETION_EVENT(wc_li);
DEFINE_XPRS_COMPLETION_EVENT(wc_li_done);

/* As rpcrdma_receive_completion_class (xprtrdma_wc_receive). */
TRACE_EVENT(xprs_wc_receive,
	TP_PROTO(const struct ib_wc *wc, const struct rpc_rdma_cid *cid),

	TP_ARGS(wc, cid),

	TP_STRUCT__entry(
		__field(u32, cq_id)
		__field(int, completion_id)
		__field(u32, received)
		__field(unsigned long, status)
		__field(unsigned int, vendor_err)
	),

	TP_fast_assign(
		__entry->cq_id = cid->ci_queue_id;
		__entry->completion_id = cid->ci_completion_id;
		__entry->status = wc->status;
		if (wc->status) {
			__entry->received = 0;
			__entry->vendor_err = wc->vendor_err;
		} else {
			__entry->received = wc->byte_len;
			__entry->vendor_err = 0;
		}
	),

	TP_printk("cq.id=%u cid=%d status=%s (%lu/0x%x) received=%u",
		__entry->cq_id, __entry->completion_id,
		rdma_show_wc_status(__entry->status),
		__entry->status, __entry->vendor_err,
		__entry->received
	)
);

/**
 ** Reply events
 **/

/* As xprtrdma_reply, plus what the Reply conveyed and how. */
TRACE_EVENT(xprs_reply,
	TP_PROTO(const struct rpc_rqst *rqst, unsigned int credits,
		 unsigned int inline_len, unsigned int write_len,
		 unsigned int reply_len),

	TP_ARGS(rqst, credits, inline_len, write_len, reply_len),

	TP_STRUCT__entry(
		__field(unsigned int, task_id)
		__field(unsigned int, client_id)
		__field(u32, xid)
		__field(unsigned int, credits)
		__field(unsigned int, inline_len)
		__field(unsigned int, write_len)
		__field(unsigned int, reply_len)
	),

	TP_fast_assign(
		__entry->task_id = xprs_task_id(rqst);
		__entry->client_id = xprs_client_id(rqst);
		__entry->xid = be32_to_cpu(rqst->rq_xid);
		__entry->credits = credits;
		__entry->inline_len = inline_len;
		__entry->write_len = write_len;
		__entry->reply_len = reply_len;
	),

	TP_printk(SUNRPC_TRACE_TASK_SPECIFIER
		  " xid=0x%08x credits=%u inline=%u write=%u reply=%u",
		__entry->task_id, __entry->client_id, __entry->xid,
		__entry->credits, __entry->inline_len, __entry->write_len,
		__entry->reply_len
	)
);

TRACE_DEFINE_ENUM(XPRS_BAD_HEADER);
TRACE_DEFINE_ENUM(XPRS_BAD_UNMATCHED);
TRACE_DEFINE_ENUM(XPRS_BAD_DROPPED);
TRACE_DEFINE_ENUM(XPRS_BAD_BODY);
TRACE_DEFINE_ENUM(XPRS_BAD_RDMA_ERROR);
TRACE_DEFINE_ENUM(XPRS_BAD_UNOFFERED);
TRACE_DEFINE_ENUM(XPRS_BAD_WRITE_LIST);
TRACE_DEFINE_ENUM(XPRS_BAD_CALLBACK);

#define xprs_show_bad_reply(x)						\
	__print_symbolic(x,						\
			 { XPRS_BAD_HEADER, "header" },			\
			 { XPRS_BAD_UNMATCHED, "unmatched xid" },	\
			 { XPRS_BAD_DROPPED, "not awaited" },		\
			 { XPRS_BAD_BODY, "body" },			\
			 { XPRS_BAD_RDMA_ERROR, "RDMA_ERROR" },		\
			 { XPRS_BAD_UNOFFERED, "chunk not offered" },	\
			 { XPRS_BAD_WRITE_LIST, "write list too long" },\
			 { XPRS_BAD_CALLBACK, "callback too long" })

/* A received message that completes no RPC, and the check it failed. */
TRACE_EVENT(xprs_reply_err,
	TP_PROTO(const struct rpc_xprt *xprt, u32 xid, unsigned int why),

	TP_ARGS(xprt, xid, why),

	TP_STRUCT__entry(
		__field(u32, xid)
		__field(unsigned int, why)
		__string(addr, xprs_addrstr(xprt))
		__field(unsigned short, port)
	),

	TP_fast_assign(
		__entry->xid = xid;
		__entry->why = why;
		__assign_str(addr);
		__entry->port = xprs_port(xprt);
	),

	TP_printk("peer=[%s]:%u xid=0x%08x failed=%s",
		__get_str(addr), __entry->port, __entry->xid,
		xprs_show_bad_reply(__entry->why)
	)
);

/**
 ** MR events
 **/

TRACE_DEFINE_ENUM(DMA_BIDIRECTIONAL);
TRACE_DEFINE_ENUM(DMA_TO_DEVICE);
TRACE_DEFINE_ENUM(DMA_FROM_DEVICE);
TRACE_DEFINE_ENUM(DMA_NONE);

#define xprs_show_direction(x)						\
	__print_symbolic(x,						\
			 { DMA_BIDIRECTIONAL, "BIDIR" },		\
			 { DMA_TO_DEVICE, "TO_DEVICE" },		\
			 { DMA_FROM_DEVICE, "FROM_DEVICE" },		\
			 { DMA_NONE, "NONE" })

/*
 * As xprtrdma_mr_class, with the xid the MR's iova carries (xprs_mr_map)
 * instead of the task, and our MR number (its slot in the connection's
 * pool; 4294967295 for the write pad) as mr.id.
 */
DECLARE_EVENT_CLASS(xprs_mr_class,
	TP_PROTO(const struct xprs_mr *mr),

	TP_ARGS(mr),

	TP_STRUCT__entry(
		__field(u32, xid)
		__field(u32, mr_id)
		__field(int, nents)
		__field(u32, handle)
		__field(u32, length)
		__field(u64, offset)
		__field(u32, dir)
	),

	TP_fast_assign(
		__entry->xid = mr->mr->iova >> 32;
		__entry->mr_id = mr->index;
		__entry->nents = mr->nents;
		__entry->handle = mr->mr->rkey;
		__entry->length = mr->mr->length;
		__entry->offset = mr->mr->iova;
		__entry->dir = mr->dir;
	),

	TP_printk("xid=0x%08x mr.id=%u nents=%d %u@0x%016llx:0x%08x (%s)",
		__entry->xid, __entry->mr_id, __entry->nents, __entry->length,
		(unsigned long long)__entry->offset, __entry->handle,
		xprs_show_direction(__entry->dir)
	)
);

DEFINE_EVENT(xprs_mr_class, xprs_mr_map,
	TP_PROTO(const struct xprs_mr *mr),
	TP_ARGS(mr));

/* Only an MR that is mapped is unmapped. */
DEFINE_EVENT_CONDITION(xprs_mr_class, xprs_mr_unmap,
	TP_PROTO(const struct xprs_mr *mr),
	TP_ARGS(mr),
	TP_CONDITION(mr->nents != 0));

/**
 ** Callback events
 **/

/* As xprtrdma_callback_class. */
DECLARE_EVENT_CLASS(xprs_callback_class,
	TP_PROTO(const struct rpc_xprt *xprt, u32 xid),

	TP_ARGS(xprt, xid),

	TP_STRUCT__entry(
		__field(u32, xid)
		__string(addr, xprs_addrstr(xprt))
		__field(unsigned short, port)
	),

	TP_fast_assign(
		__entry->xid = xid;
		__assign_str(addr);
		__entry->port = xprs_port(xprt);
	),

	TP_printk("peer=[%s]:%u xid=0x%08x",
		__get_str(addr), __entry->port, __entry->xid
	)
);

#define DEFINE_XPRS_CALLBACK_EVENT(name)				\
	DEFINE_EVENT(xprs_callback_class, xprs_cb_##name,		\
		TP_PROTO(const struct rpc_xprt *xprt, u32 xid),		\
		TP_ARGS(xprt, xid))

DEFINE_XPRS_CALLBACK_EVENT(call);
DEFINE_XPRS_CALLBACK_EVENT(reply);

#endif /* _TRACE_XPRTRDMA_RS_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH trace/events
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE xprtrdma_rs

#include <trace/define_trace.h>
