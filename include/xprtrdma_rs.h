/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xprtrdma_rs: the C side of the module.
 *
 * This header is both the input of the module-local bindgen run (see
 * Kbuild) and the prototype list of the C shims in rust/helpers.c. The
 * shims exist only for what Rust cannot express directly: static inline
 * functions, macros, and static initializers of structures with flexible
 * array members or function pointer tables.
 */
#ifndef XPRTRDMA_RS_H
#define XPRTRDMA_RS_H

#include <linux/completion.h>
#include <linux/scatterlist.h>
#include <linux/seq_file.h>
#include <linux/tracepoint-defs.h>
#include <linux/workqueue.h>
#include <linux/sunrpc/clnt.h>
#include <linux/sunrpc/xprt.h>
#include <linux/sunrpc/xdr.h>
#include <linux/sunrpc/xprtrdma.h>
#include <linux/sunrpc/rpc_rdma_cid.h>
#include <rdma/ib_verbs.h>
#include <rdma/rdma_cm.h>

/*
 * Registration of the "rdma"/"rdma6" client transport class, whose
 * ->setup (implemented in Rust, rust/sunrpc/ops.rs) returns a transport or
 * an ERR_PTR().
 */
int xprs_register_transport(struct rpc_xprt *(*setup)(struct xprt_create *args));
void xprs_unregister_transport(void);

/*
 * The transport's entry points, a table the Rust adapter builds
 * (rust/sunrpc/ops.rs): sunrpc's ops, and the works of struct xprs_xprt.
 */
struct xprs_ops {
	struct rpc_xprt_ops xprt;
	void (*connect_worker)(struct rpc_xprt *xprt);
	void (*mr_refresh_worker)(struct rpc_xprt *xprt);
};

/*
 * The transport as sunrpc allocates it: struct rpc_xprt first (xprt_alloc
 * returns it), then the Rust state and the connect worker.
 */
struct xprs_xprt {
	struct rpc_xprt xprt;
	const struct xprs_ops *ops;
	void *priv;
	struct delayed_work connect_worker;
	/* Refills the MR pool out of the send path (rb_refresh_worker). */
	struct work_struct mr_refresh_worker;
	struct rpc_timeout timeout;
};

/* Allocation of the transport with the ops table @ops and its works. */
struct rpc_xprt *xprs_xprt_alloc(struct net *net, unsigned int max_slots,
				 const struct xprs_ops *ops);
void xprs_xprt_free(struct rpc_xprt *xprt);
void *xprs_xprt_priv(struct rpc_xprt *xprt);
void xprs_xprt_set_priv(struct rpc_xprt *xprt, void *priv);
void xprs_queue_connect(struct rpc_xprt *xprt, unsigned long delay);
void xprs_cancel_connect_sync(struct rpc_xprt *xprt);
void xprs_queue_mr_refresh(struct rpc_xprt *xprt);
void xprs_cancel_mr_refresh_sync(struct rpc_xprt *xprt);
bool xprs_try_module_get(void);
void xprs_module_put(void);
unsigned long xprs_hz(void);
unsigned long xprs_jiffies(void);

/* The rpc_xprt_ops entries implemented in C, for the Rust table. */
void xprs_op_timer(struct rpc_xprt *xprt, struct rpc_task *task);
void xprs_op_set_port(struct rpc_xprt *xprt, u16 port);
int xprs_op_enable_swap(struct rpc_xprt *xprt);
void xprs_op_disable_swap(struct rpc_xprt *xprt);

/* Static inline helpers of sunrpc. */
void xprs_xprt_set_connected(struct rpc_xprt *xprt);
void xprs_xprt_clear_connected(struct rpc_xprt *xprt);
void xprs_xprt_clear_connecting(struct rpc_xprt *xprt);
void xprs_xprt_set_bound(struct rpc_xprt *xprt);
bool xprs_rpc_reply_expected(struct rpc_task *task);
void xprs_queue_lock(struct rpc_xprt *xprt);
void xprs_queue_unlock(struct rpc_xprt *xprt);
void xprs_transport_lock(struct rpc_xprt *xprt);
void xprs_transport_unlock(struct rpc_xprt *xprt);
unsigned short xprs_get_port(struct rpc_xprt *xprt);
void xprs_set_port(struct rpc_xprt *xprt, unsigned short port);
int xprs_format_addresses(struct rpc_xprt *xprt);
void xprs_free_addresses(struct rpc_xprt *xprt);
void xprs_warn_once(const char *what);
void xprs_seq_puts(struct seq_file *seq, const char *s);

/* Completions. */
/* Backchannel (NFSv4.1 callbacks on the forward connection). Without
 * CONFIG_SUNRPC_BACKCHANNEL there is no callback service to hand calls to. */
bool xprs_bc_serv_ready(struct rpc_xprt *xprt);
void xprs_bc_rqst_init(struct rpc_rqst *rqst, struct rpc_xprt *xprt, __be32 xid,
		       void *rcv, size_t rcv_len, void *snd, size_t snd_buflen);
void xprs_bc_enqueue(struct rpc_rqst *rqst);

/* Our ib_client (device removal), and the lock its device data lives
 * under. The callbacks are Rust. */
int xprs_ib_client_register(void);
void xprs_ib_client_unregister(void);
void *xprs_ib_client_data(struct ib_device *device);
void xprs_ib_set_client_data(struct ib_device *device, void *data);
void xprs_devices_lock(void);
void xprs_devices_unlock(void);
void xprs_init_completion(struct completion *c);
void xprs_reinit_completion(struct completion *c);

/* rdma_cm and verbs macros and static inlines. */
/* The CQ's restrack id: the cq.id of completion ids (struct rpc_rdma_cid). */
u32 xprs_ib_cq_id(struct ib_cq *cq);
struct rdma_cm_id *xprs_rdma_create_id(struct net *net,
				       rdma_cm_event_handler handler,
				       void *context);
struct ib_pd *xprs_ib_alloc_pd(struct ib_device *device);
void xprs_ib_dealloc_pd(struct ib_pd *pd);
struct ib_cq *xprs_ib_alloc_cq(struct ib_device *device, void *private,
			       int nr_cqe);
int xprs_ib_post_send(struct ib_qp *qp, const struct ib_send_wr *wr);
int xprs_ib_post_recv(struct ib_qp *qp, const struct ib_recv_wr *wr);
u64 xprs_ib_dma_map_single(struct ib_device *dev, void *cpu_addr,
			   size_t size, int to_device);
int xprs_ib_dma_mapping_error(struct ib_device *dev, u64 dma_addr);
void xprs_ib_dma_unmap_single(struct ib_device *dev, u64 addr, size_t size,
			      int to_device);
void xprs_ib_dma_sync_for_cpu(struct ib_device *dev, u64 addr, size_t size);
void xprs_ib_dma_sync_for_device(struct ib_device *dev, u64 addr,
				 size_t size);
/* ib_uses_virt_dma(): the device (rxe, siw) maps nothing, so the
 * ib_dma_sync_*() calls do nothing; fixed for the device's life. */
bool xprs_ib_uses_virt_dma(struct ib_device *dev);
int xprs_rdma_connect(struct rdma_cm_id *id, const void *pdata, u8 pdata_len);
u32 xprs_ib_device_max_queue(struct ib_device *dev);
u32 xprs_ib_device_max_fr_depth(struct ib_device *dev);
u32 xprs_ib_device_max_send_sge(struct ib_device *dev);
bool xprs_ib_device_sg_gaps(struct ib_device *dev);
bool xprs_ib_device_frwr(struct ib_device *dev);
bool xprs_rqst_ddp_allowed(struct rpc_rqst *rqst);
int xprs_alloc_sparse_pages(struct xdr_buf *buf);
/* kzalloc() with the RPC layer's flags (rpc_task_gfp_mask()). */
void *xprs_rpc_buf_alloc(size_t size);

/*
 * One FRWR memory region (struct rpcrdma_mr): the MR, the scatterlist it
 * maps, and its REG_MR and LOCAL_INV work requests. @cqe, the REG_MR's
 * completion context, comes first so its wr_cqe is the xprs_mr itself;
 * @inv_cqe is that of a LOCAL_INV posted on the MR's own context.
 */
struct xprs_mr {
	struct ib_cqe cqe;
	struct ib_cqe inv_cqe;
	void *ctx;
	u32 index;
	struct ib_mr *mr;
	struct ib_device *dev;
	struct ib_reg_wr reg_wr;
	struct ib_send_wr inv_wr;
	u32 depth;
	u32 nents;
	int dir;
	struct scatterlist sg[];
};

/* ib_alloc_mr() of @depth pages with its scatterlist; ERR_PTR on error. */
struct xprs_mr *xprs_mr_alloc(struct ib_pd *pd, bool sg_gaps, u32 depth);
/* Unmaps (if mapped) and deregisters the MR, and frees @mr. */
void xprs_mr_free(struct xprs_mr *mr);
/* Sets scatterlist entry @i to @len bytes at @offset in @page. */
void xprs_mr_set_page(struct xprs_mr *mr, u32 i, struct page *page, u32 offset,
		      u32 len);
/* Sets scatterlist entry @i to @len bytes at kernel address @buf. */
void xprs_mr_set_buf(struct xprs_mr *mr, u32 i, void *buf, u32 len);
/*
 * Sets entries @i..@i + @count to the @len bytes that start at @offset in
 * @pages[0] and go on at the start of each next page (as frwr_map() sets
 * the segments of rpcrdma_convert_iovs()): the first entry holds
 * PAGE_SIZE - @offset bytes or @len if less, the others a page or the
 * rest. -EIO if that is not exactly @count nonempty entries, if a page is
 * NULL or the entries pass the MR's depth; entries from @i may then have
 * been set.
 */
int xprs_mr_set_page_run(struct xprs_mr *mr, u32 i, struct page **pages,
			 u32 count, u32 offset, u32 len);
/*
 * As frwr_map(): DMA-maps the first @nents entries, maps them into the
 * MR, bumps the rkey and prepares the REG_MR WR (remote write access if
 * @writing, remote read otherwise) with @xid in the upper iova bits.
 * Returns 0 and the segment, or a negative errno with nothing mapped.
 */
int xprs_mr_map(struct xprs_mr *mr, struct ib_device *dev, u32 nents,
		bool writing, u32 xid, u32 *handle, u32 *length, u64 *offset);
/* DMA-unmaps the scatterlist, if it is mapped. */
void xprs_mr_unmap(struct xprs_mr *mr);

/* Module parameters, with the ranges of the C client's sysctls. */
unsigned int xprs_param_slot_table_entries(void);
unsigned int xprs_param_max_inline_read(void);
unsigned int xprs_param_max_inline_write(void);

/*
 * Trace points (rust/trace.c, include/trace/events/xprtrdma_rs.h). Each
 * wrapper fires one event and only reads its arguments, during the call.
 */

/* How a Call conveys its arguments and its Reply (as enum rpcrdma_chunktype). */
enum xprs_chunktype {
	XPRS_NOCH = 0,
	XPRS_NOCH_PULLUP,
	XPRS_NOCH_MAPPED,
	XPRS_READCH,
	XPRS_AREADCH,
	XPRS_WRITECH,
	XPRS_REPLYCH,
};

/* The check a received message failed (xprs_trace_reply_err). */
enum xprs_bad_reply {
	XPRS_BAD_HEADER = 0,	/* transport header does not decode */
	XPRS_BAD_UNMATCHED,	/* no RPC waits for the xid */
	XPRS_BAD_DROPPED,	/* its RPC awaits no Reply (duplicate, early) */
	XPRS_BAD_BODY,		/* the chunk lists do not decode */
	XPRS_BAD_RDMA_ERROR,	/* RDMA_ERROR */
	XPRS_BAD_UNOFFERED,	/* a write list or reply chunk not offered */
	XPRS_BAD_WRITE_LIST,	/* more written than the pages hold */
	XPRS_BAD_CALLBACK,	/* a callback larger than bc_maxpayload */
};

void xprs_trace_connect(const struct rpc_xprt *xprt, int rc,
			int connect_status);
void xprs_trace_disconnect(const struct rpc_xprt *xprt, int rc,
			   int connect_status);
void xprs_trace_reconnect(const struct rpc_xprt *xprt, unsigned long delay);
void xprs_trace_op_inject_dsc(const struct rpc_xprt *xprt);
void xprs_trace_device_removal(const struct rpc_xprt *xprt);
void xprs_trace_marshal(const struct rpc_rqst *rqst, unsigned int hdrlen,
			unsigned int rtype, unsigned int wtype);
void xprs_trace_post_send(const struct rpc_rqst *rqst,
			  const struct rpc_rdma_cid *cid, bool signaled,
			  unsigned int num_reg);
void xprs_trace_nomrs_err(const struct rpc_xprt *xprt,
			  const struct rpc_rqst *rqst);
void xprs_trace_backlog_wait(const struct rpc_task *task);
void xprs_trace_backlog_wake(const struct rpc_xprt *xprt, unsigned int req);
void xprs_trace_wc_send(const struct ib_wc *wc, const struct rpc_rdma_cid *cid);
void xprs_trace_wc_receive(const struct ib_wc *wc,
			   const struct rpc_rdma_cid *cid);
void xprs_trace_wc_fastreg(const struct ib_wc *wc,
			   const struct rpc_rdma_cid *cid);
void xprs_trace_wc_li(const struct ib_wc *wc, const struct rpc_rdma_cid *cid);
void xprs_trace_wc_li_done(const struct ib_wc *wc,
			   const struct rpc_rdma_cid *cid);
void xprs_trace_reply(const struct rpc_rqst *rqst, unsigned int credits,
		      unsigned int inline_len, unsigned int write_len,
		      unsigned int reply_len);
void xprs_trace_reply_err(const struct rpc_xprt *xprt, u32 xid,
			  enum xprs_bad_reply why);
void xprs_trace_mr_map(const struct xprs_mr *mr);
void xprs_trace_mr_unmap(const struct xprs_mr *mr);
void xprs_trace_cb_call(const struct rpc_xprt *xprt, u32 xid);
void xprs_trace_cb_reply(const struct rpc_xprt *xprt, u32 xid);

/*
 * Registers the sysctls sunrpc.rdma_* (the C client's names, over the
 * module parameters' variables). Returns 0, or -EEXIST when they cannot
 * be registered (already there, or no memory). Without CONFIG_SYSCTL it
 * registers nothing and returns 0.
 */
int xprs_sysctl_register(void);
/* Unregisters them; only after xprs_sysctl_register() returned 0. */
void xprs_sysctl_unregister(void);

/*
 * The tracepoints of the events every RPC passes, defined by rust/trace.c:
 * rust/trace.rs tests each one's static key count (static_key_enabled(),
 * as trace_*_enabled() does) before it calls the event's wrapper, so that a
 * disabled event costs a load and a branch, not a call.
 */
extern struct tracepoint __tracepoint_xprs_marshal;
extern struct tracepoint __tracepoint_xprs_post_send;
extern struct tracepoint __tracepoint_xprs_wc_send;
extern struct tracepoint __tracepoint_xprs_wc_receive;
extern struct tracepoint __tracepoint_xprs_wc_fastreg;
extern struct tracepoint __tracepoint_xprs_wc_li;
extern struct tracepoint __tracepoint_xprs_wc_li_done;
extern struct tracepoint __tracepoint_xprs_reply;
extern struct tracepoint __tracepoint_xprs_mr_map;
extern struct tracepoint __tracepoint_xprs_mr_unmap;

#endif /* XPRTRDMA_RS_H */
