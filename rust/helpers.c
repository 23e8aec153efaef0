// SPDX-License-Identifier: GPL-2.0
/*
 * C shims for xprtrdma_rs: static initializers and inline helpers that
 * Rust cannot reach through bindgen. Some transport logic lives here
 * because it is all C API: the address strings (printk formats, as in
 * transport.c), sparse-page allocation, MR mapping (iova, rkey bump, the
 * max_fr_depth quirk), the rdma_connect parameters, backchannel rqst
 * setup and enqueue, and PF_MEMALLOC in the connect work for swap.
 */
#include <linux/module.h>
#include <linux/err.h>
#include <linux/jiffies.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/sysctl.h>
#include <linux/sunrpc/auth.h>
#include <linux/sunrpc/addr.h>
#include <linux/sunrpc/svc.h>
#include <linux/lwq.h>
#include "xprtrdma_rs.h"

static struct xprs_xprt *xprs_of(struct rpc_xprt *xprt)
{
	return container_of(xprt, struct xprs_xprt, xprt);
}

static struct rpc_xprt *xprs_class_setup(struct xprt_create *args)
{
	struct rpc_xprt *xprt = NULL;
	int rc = xprs_setup(args, &xprt);

	return rc ? ERR_PTR(rc) : xprt;
}

/* The class the netids "rdma" and "rdma6" resolve to (proto=rdma). */
static struct xprt_class xprs_class = {
	.list		= LIST_HEAD_INIT(xprs_class.list),
	.name		= "rdma",
	.owner		= THIS_MODULE,
	.ident		= XPRT_TRANSPORT_RDMA,
	.setup		= xprs_class_setup,
	.netid		= { "rdma", "rdma6", "" },
};

int xprs_register_transport(void)
{
	return xprt_register_transport(&xprs_class);
}

void xprs_unregister_transport(void)
{
	xprt_unregister_transport(&xprs_class);
}

static void xprs_op_set_port(struct rpc_xprt *xprt, u16 port);

static void xprs_op_timer(struct rpc_xprt *xprt, struct rpc_task *task)
{
	xprt_force_disconnect(xprt);
}

/* As the C client: swap needs nothing beyond PF_MEMALLOC when connecting. */
static int xprs_op_enable_swap(struct rpc_xprt *xprt)
{
	return 0;
}

static void xprs_op_disable_swap(struct rpc_xprt *xprt)
{
}

static const struct rpc_xprt_ops xprs_ops = {
	.reserve_xprt		= xprt_reserve_xprt_cong,
	.release_xprt		= xprt_release_xprt_cong,
	.alloc_slot		= xprs_op_alloc_slot,
	.free_slot		= xprs_op_free_slot,
	.release_request	= xprt_release_rqst_cong,
	.wait_for_reply_request	= xprt_wait_for_reply_request_def,
	.timer			= xprs_op_timer,
	.rpcbind		= rpcb_getport_async,
	.set_port		= xprs_op_set_port,
	.connect		= xprs_op_connect,
	.buf_alloc		= xprs_op_buf_alloc,
	.buf_free		= xprs_op_buf_free,
	.send_request		= xprs_op_send_request,
	.close			= xprs_op_close,
	.destroy		= xprs_op_destroy,
	.set_connect_timeout	= xprs_op_set_connect_timeout,
	.print_stats		= xprs_op_print_stats,
	.enable_swap		= xprs_op_enable_swap,
	.disable_swap		= xprs_op_disable_swap,
	.inject_disconnect	= xprs_op_inject_disconnect,
#if IS_ENABLED(CONFIG_SUNRPC_BACKCHANNEL)
	/* No bc_destroy: the backchannel reqs are preallocated with the
	 * transport and freed with it. */
	.bc_setup		= xprs_op_bc_setup,
	.bc_maxpayload		= xprs_op_bc_maxpayload,
	.bc_num_slots		= xprs_op_bc_num_slots,
	.bc_free_rqst		= xprs_op_bc_free_rqst,
#endif
};

static const struct rpc_timeout xprs_default_timeout = {
	.to_initval = 60 * HZ,
	.to_maxval = 60 * HZ,
};

static void xprs_connect_work(struct work_struct *work)
{
	struct xprs_xprt *x = container_of(work, struct xprs_xprt,
					   connect_worker.work);
	unsigned int pflags = current->flags;

	/* A swap-backed mount must be able to reconnect under pressure. */
	if (atomic_read(&x->xprt.swapper))
		current->flags |= PF_MEMALLOC;
	xprs_connect_worker(&x->xprt);
	current_restore_flags(pflags, PF_MEMALLOC);
}

/*
 * As rpcrdma_mr_refresh_worker(): a send that finds no free MR asks for
 * more here rather than allocating them itself, so that the send path of
 * a swap-backed mount allocates nothing.
 */
static void xprs_mr_refresh_work(struct work_struct *work)
{
	struct xprs_xprt *x = container_of(work, struct xprs_xprt,
					   mr_refresh_worker);

	xprs_mr_refresh_worker(&x->xprt);
}

struct rpc_xprt *xprs_xprt_alloc(struct net *net, unsigned int max_slots)
{
	struct rpc_xprt *xprt;

	xprt = xprt_alloc(net, sizeof(struct xprs_xprt), 0, max_slots);
	if (!xprt)
		return NULL;
	xprt->timeout = &xprs_default_timeout;
	xprt->ops = &xprs_ops;
	xprt->xprt_class = &xprs_class;
	INIT_DELAYED_WORK(&xprs_of(xprt)->connect_worker, xprs_connect_work);
	INIT_WORK(&xprs_of(xprt)->mr_refresh_worker, xprs_mr_refresh_work);
	return xprt;
}

void xprs_xprt_free(struct rpc_xprt *xprt)
{
	xprt_free(xprt);
}

void *xprs_xprt_priv(struct rpc_xprt *xprt)
{
	return xprs_of(xprt)->priv;
}

void xprs_xprt_set_priv(struct rpc_xprt *xprt, void *priv)
{
	xprs_of(xprt)->priv = priv;
}

void xprs_queue_connect(struct rpc_xprt *xprt, unsigned long delay)
{
	queue_delayed_work(system_long_wq, &xprs_of(xprt)->connect_worker,
			   delay);
}

void xprs_cancel_connect_sync(struct rpc_xprt *xprt)
{
	cancel_delayed_work_sync(&xprs_of(xprt)->connect_worker);
}

void xprs_queue_mr_refresh(struct rpc_xprt *xprt)
{
	queue_work(system_highpri_wq, &xprs_of(xprt)->mr_refresh_worker);
}

void xprs_cancel_mr_refresh_sync(struct rpc_xprt *xprt)
{
	cancel_work_sync(&xprs_of(xprt)->mr_refresh_worker);
}

bool xprs_try_module_get(void)
{
	return try_module_get(THIS_MODULE);
}

void xprs_module_put(void)
{
	module_put(THIS_MODULE);
}

unsigned long xprs_hz(void)
{
	return HZ;
}

unsigned long xprs_jiffies(void)
{
	return jiffies;
}

bool xprs_xprt_connected(struct rpc_xprt *xprt)
{
	return xprt_connected(xprt);
}

void xprs_xprt_set_connected(struct rpc_xprt *xprt)
{
	xprt_set_connected(xprt);
}

void xprs_xprt_clear_connected(struct rpc_xprt *xprt)
{
	xprt_clear_connected(xprt);
}

void xprs_xprt_clear_connecting(struct rpc_xprt *xprt)
{
	xprt_clear_connecting(xprt);
}

void xprs_xprt_set_bound(struct rpc_xprt *xprt)
{
	xprt_set_bound(xprt);
}

bool xprs_rpc_reply_expected(struct rpc_task *task)
{
	return rpc_reply_expected(task);
}

void xprs_queue_lock(struct rpc_xprt *xprt)
{
	spin_lock(&xprt->queue_lock);
}

void xprs_queue_unlock(struct rpc_xprt *xprt)
{
	spin_unlock(&xprt->queue_lock);
}

void xprs_transport_lock(struct rpc_xprt *xprt)
{
	spin_lock(&xprt->transport_lock);
}

void xprs_transport_unlock(struct rpc_xprt *xprt)
{
	spin_unlock(&xprt->transport_lock);
}

unsigned short xprs_get_port(struct rpc_xprt *xprt)
{
	return rpc_get_port((struct sockaddr *)&xprt->addr);
}

void xprs_set_port(struct rpc_xprt *xprt, unsigned short port)
{
	rpc_set_port((struct sockaddr *)&xprt->addr, port);
}

/* The port strings, as xprt_rdma_set_port(). */
static void xprs_format_port(struct rpc_xprt *xprt)
{
	unsigned short port = xprs_get_port(xprt);
	char buf[8];

	kfree(xprt->address_strings[RPC_DISPLAY_PORT]);
	snprintf(buf, sizeof(buf), "%u", port);
	xprt->address_strings[RPC_DISPLAY_PORT] = kstrdup(buf, GFP_KERNEL);

	kfree(xprt->address_strings[RPC_DISPLAY_HEX_PORT]);
	snprintf(buf, sizeof(buf), "%4hx", port);
	xprt->address_strings[RPC_DISPLAY_HEX_PORT] = kstrdup(buf, GFP_KERNEL);
}

static void xprs_op_set_port(struct rpc_xprt *xprt, u16 port)
{
	xprs_set_port(xprt, port);
	xprs_format_port(xprt);
}

/* The address strings, as xprt_rdma_format_addresses(). */
int xprs_format_addresses(struct rpc_xprt *xprt)
{
	struct sockaddr *sap = (struct sockaddr *)&xprt->addr;
	char buf[128];

	switch (sap->sa_family) {
	case AF_INET: {
		struct sockaddr_in *sin = (struct sockaddr_in *)sap;

		snprintf(buf, sizeof(buf), "%08x", ntohl(sin->sin_addr.s_addr));
		xprt->address_strings[RPC_DISPLAY_HEX_ADDR] =
			kstrdup(buf, GFP_KERNEL);
		xprt->address_strings[RPC_DISPLAY_NETID] = RPCBIND_NETID_RDMA;
		break;
	}
	case AF_INET6: {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)sap;

		snprintf(buf, sizeof(buf), "%pi6", &sin6->sin6_addr);
		xprt->address_strings[RPC_DISPLAY_HEX_ADDR] =
			kstrdup(buf, GFP_KERNEL);
		xprt->address_strings[RPC_DISPLAY_NETID] = RPCBIND_NETID_RDMA6;
		break;
	}
	default:
		return -EAFNOSUPPORT;
	}
	(void)rpc_ntop(sap, buf, sizeof(buf));
	xprt->address_strings[RPC_DISPLAY_ADDR] = kstrdup(buf, GFP_KERNEL);
	xprs_format_port(xprt);
	xprt->address_strings[RPC_DISPLAY_PROTO] = "rdma";
	return 0;
}

void xprs_free_addresses(struct rpc_xprt *xprt)
{
	unsigned int i;

	for (i = 0; i < RPC_DISPLAY_MAX; i++)
		switch (i) {
		case RPC_DISPLAY_PROTO:
		case RPC_DISPLAY_NETID:
			continue;
		default:
			kfree(xprt->address_strings[i]);
		}
}

void xprs_warn_once(const char *what)
{
	WARN_ONCE(1, "xprtrdma_rs: %s\n", what);
}

void xprs_seq_puts(struct seq_file *seq, const char *s)
{
	seq_puts(seq, s);
}

#if IS_ENABLED(CONFIG_SUNRPC_BACKCHANNEL)
bool xprs_bc_serv_ready(struct rpc_xprt *xprt)
{
	return READ_ONCE(xprt->bc_serv) != NULL;
}

/* Dresses a backchannel req's rqst for a received call, as
 * rpcrdma_bc_receive_call() and rpcrdma_bc_rqst_get() do: the call in
 * @rcv, the reply to be built in @snd. */
void xprs_bc_rqst_init(struct rpc_rqst *rqst, struct rpc_xprt *xprt, __be32 xid,
		       void *rcv, size_t rcv_len, void *snd, size_t snd_buflen)
{
	struct xdr_buf *buf = &rqst->rq_rcv_buf;

	rqst->rq_xprt = xprt;
	rqst->rq_xid = xid;
	rqst->rq_reply_bytes_recvd = 0;
	__set_bit(RPC_BC_PA_IN_USE, &rqst->rq_bc_pa_state);
	memset(buf, 0, sizeof(*buf));
	buf->head[0].iov_base = rcv;
	buf->head[0].iov_len = rcv_len;
	buf->len = rcv_len;
	buf->buflen = rcv_len;
	rqst->rq_private_buf = *buf;
	xdr_buf_init(&rqst->rq_snd_buf, snd, snd_buflen);
}

/* Queues the call for the callback service; bc_free_rqst drops the
 * transport reference taken here. */
void xprs_bc_enqueue(struct rpc_rqst *rqst)
{
	struct rpc_xprt *xprt = rqst->rq_xprt;
	struct svc_serv *bc_serv = xprt->bc_serv;

	xprt_get(xprt);
	lwq_enqueue(&rqst->rq_bc_list, &bc_serv->sv_cb_list);
	svc_pool_wake_idle_thread(&bc_serv->sv_pools[0]);
}
#else
bool xprs_bc_serv_ready(struct rpc_xprt *xprt)
{
	return false;
}

void xprs_bc_rqst_init(struct rpc_rqst *rqst, struct rpc_xprt *xprt, __be32 xid,
		       void *rcv, size_t rcv_len, void *snd, size_t snd_buflen)
{
}

void xprs_bc_enqueue(struct rpc_rqst *rqst)
{
}
#endif

int xprs_ib_add_one(struct ib_device *device);
void xprs_ib_remove_one(struct ib_device *device, void *data);

/* Registered after ib_core's rdma_cm client, so removal reaches us first
 * (clients are removed in reverse order). */
static struct ib_client xprs_ib_client = {
	.name	= "xprtrdma_rs",
	.add	= xprs_ib_add_one,
	.remove	= xprs_ib_remove_one,
};

/* Serializes lookups of our per-device data against its removal. */
static DEFINE_MUTEX(xprs_devices_mutex);

int xprs_ib_client_register(void)
{
	return ib_register_client(&xprs_ib_client);
}

void xprs_ib_client_unregister(void)
{
	ib_unregister_client(&xprs_ib_client);
}

void *xprs_ib_client_data(struct ib_device *device)
{
	return ib_get_client_data(device, &xprs_ib_client);
}

void xprs_ib_set_client_data(struct ib_device *device, void *data)
{
	ib_set_client_data(device, &xprs_ib_client, data);
}

void xprs_devices_lock(void)
{
	mutex_lock(&xprs_devices_mutex);
}

void xprs_devices_unlock(void)
{
	mutex_unlock(&xprs_devices_mutex);
}

void xprs_init_completion(struct completion *c)
{
	init_completion(c);
}

void xprs_reinit_completion(struct completion *c)
{
	reinit_completion(c);
}

struct rdma_cm_id *xprs_rdma_create_id(struct net *net,
				       rdma_cm_event_handler handler,
				       void *context)
{
	return rdma_create_id(net, handler, context, RDMA_PS_TCP, IB_QPT_RC);
}

struct ib_pd *xprs_ib_alloc_pd(struct ib_device *device)
{
	return ib_alloc_pd(device, 0);
}

void xprs_ib_dealloc_pd(struct ib_pd *pd)
{
	ib_dealloc_pd(pd);
}

struct ib_cq *xprs_ib_alloc_cq(struct ib_device *device, void *private,
			       int nr_cqe)
{
	return ib_alloc_cq_any(device, private, nr_cqe, IB_POLL_WORKQUEUE);
}

u32 xprs_ib_cq_id(struct ib_cq *cq)
{
	return cq->res.id;
}

int xprs_ib_post_send(struct ib_qp *qp, const struct ib_send_wr *wr)
{
	return ib_post_send(qp, wr, NULL);
}

int xprs_ib_post_recv(struct ib_qp *qp, const struct ib_recv_wr *wr)
{
	return ib_post_recv(qp, wr, NULL);
}

static enum dma_data_direction xprs_dir(int to_device)
{
	return to_device ? DMA_TO_DEVICE : DMA_FROM_DEVICE;
}

u64 xprs_ib_dma_map_single(struct ib_device *dev, void *cpu_addr,
			   size_t size, int to_device)
{
	return ib_dma_map_single(dev, cpu_addr, size, xprs_dir(to_device));
}

int xprs_ib_dma_mapping_error(struct ib_device *dev, u64 dma_addr)
{
	return ib_dma_mapping_error(dev, dma_addr);
}

void xprs_ib_dma_unmap_single(struct ib_device *dev, u64 addr, size_t size,
			      int to_device)
{
	ib_dma_unmap_single(dev, addr, size, xprs_dir(to_device));
}

void xprs_ib_dma_sync_for_cpu(struct ib_device *dev, u64 addr, size_t size)
{
	ib_dma_sync_single_for_cpu(dev, addr, size, DMA_FROM_DEVICE);
}

void xprs_ib_dma_sync_for_device(struct ib_device *dev, u64 addr,
				 size_t size)
{
	ib_dma_sync_single_for_device(dev, addr, size, DMA_TO_DEVICE);
}

/* As rpcrdma_ep_create(): offer RDMA Read, initiate none. */
int xprs_rdma_connect(struct rdma_cm_id *id, const void *pdata, u8 pdata_len)
{
	struct rdma_conn_param param = {
		.private_data		= pdata,
		.private_data_len	= pdata_len,
		.responder_resources	= min_t(int, U8_MAX,
						id->device->attrs.max_qp_rd_atom),
		.initiator_depth	= 0,
		.retry_count		= 6,
		.rnr_retry_count	= 0,
		.flow_control		= 0,
	};

	return rdma_connect(id, &param);
}

/* Both queues' CQs are as deep as the queues, so the CQ limit bounds them too. */
u32 xprs_ib_device_max_queue(struct ib_device *dev)
{
	return min_t(u32, dev->attrs.max_qp_wr, max(dev->attrs.max_cqe, 0));
}

u32 xprs_ib_device_max_fr_depth(struct ib_device *dev)
{
	const struct ib_device_attr *attrs = &dev->attrs;

	/* The frwr_query_device() quirk for devices that prefer small MRs. */
	if (attrs->max_sge_rd > 16)
		return attrs->max_sge_rd;
	return attrs->max_fast_reg_page_list_len;
}

u32 xprs_ib_device_max_send_sge(struct ib_device *dev)
{
	return dev->attrs.max_send_sge;
}

bool xprs_ib_device_sg_gaps(struct ib_device *dev)
{
	return dev->attrs.kernel_cap_flags & IBK_SG_GAPS_REG;
}

bool xprs_ib_device_frwr(struct ib_device *dev)
{
	return (dev->attrs.device_cap_flags & IB_DEVICE_MEM_MGT_EXTENSIONS) &&
	       dev->attrs.max_fast_reg_page_list_len;
}

void *xprs_rpc_buf_alloc(size_t size)
{
	return kzalloc(size, rpc_task_gfp_mask());
}

/*
 * As rpcrdma_alloc_sparse_pages(): an xdr_buf flagged XDRBUF_SPARSE_PAGES
 * (NFSv3 GETACL, for example) comes with a page array of NULLs, which the
 * ULP frees after the RPC. Fill the part covering page_base + page_len
 * before anything maps or copies into it. Returns 0 or -ENOBUFS, which
 * call_transmit_status() retries after a delay.
 */
int xprs_alloc_sparse_pages(struct xdr_buf *buf)
{
	struct page **ppages;
	int len;

	if (!(buf->flags & XDRBUF_SPARSE_PAGES) || !buf->page_len)
		return 0;
	if (!buf->pages)
		return -EIO;
	len = buf->page_len + offset_in_page(buf->page_base);
	ppages = buf->pages + (buf->page_base >> PAGE_SHIFT);
	while (len > 0) {
		if (!*ppages)
			*ppages = alloc_page(GFP_NOWAIT | __GFP_NOWARN);
		if (!*ppages)
			return -ENOBUFS;
		ppages++;
		len -= PAGE_SIZE;
	}
	return 0;
}

/* As rpcrdma_marshal_req(): no direct placement under krb5i/krb5p. */
bool xprs_rqst_ddp_allowed(struct rpc_rqst *rqst)
{
	return !test_bit(RPCAUTH_AUTH_DATATOUCH,
			 &rqst->rq_cred->cr_auth->au_flags);
}

struct xprs_mr *xprs_mr_alloc(struct ib_pd *pd, bool sg_gaps, u32 depth)
{
	struct xprs_mr *mr;
	struct ib_mr *ibmr;

	/* As XPRTRDMA_GFP_FLAGS: the refresh worker of a swap-backed mount
	 * must not recurse into reclaim, nor dip into the reserves. */
	mr = kzalloc(struct_size(mr, sg, depth),
		     __GFP_NOMEMALLOC | __GFP_NORETRY | __GFP_NOWARN);
	if (!mr)
		return ERR_PTR(-ENOMEM);
	ibmr = ib_alloc_mr(pd, sg_gaps ? IB_MR_TYPE_SG_GAPS : IB_MR_TYPE_MEM_REG,
			   depth);
	if (IS_ERR(ibmr)) {
		kfree(mr);
		return ERR_CAST(ibmr);
	}
	mr->mr = ibmr;
	mr->depth = depth;
	mr->dir = DMA_NONE;
	sg_init_table(mr->sg, depth);
	return mr;
}

void xprs_mr_unmap(struct xprs_mr *mr)
{
	if (mr->nents) {
		ib_dma_unmap_sg(mr->dev, mr->sg, mr->nents, mr->dir);
		mr->nents = 0;
		mr->dir = DMA_NONE;
	}
}

void xprs_mr_free(struct xprs_mr *mr)
{
	xprs_mr_unmap(mr);
	ib_dereg_mr(mr->mr);
	kfree(mr);
}

void xprs_mr_set_page(struct xprs_mr *mr, u32 i, struct page *page, u32 offset,
		      u32 len)
{
	if (!WARN_ON_ONCE(i >= mr->depth))
		sg_set_page(&mr->sg[i], page, len, offset);
}

void xprs_mr_set_buf(struct xprs_mr *mr, u32 i, void *buf, u32 len)
{
	xprs_mr_set_page(mr, i, virt_to_page(buf), offset_in_page(buf), len);
}

int xprs_mr_map(struct xprs_mr *mr, struct ib_device *dev, u32 nents,
		bool writing, u32 xid, u32 *handle, u32 *length, u64 *offset)
{
	enum dma_data_direction dir = writing ? DMA_FROM_DEVICE : DMA_TO_DEVICE;
	struct ib_mr *ibmr = mr->mr;
	int dma_nents, n;
	u8 key;

	if (WARN_ON_ONCE(mr->nents || !nents || nents > mr->depth))
		return -EIO;
	dma_nents = ib_dma_map_sg(dev, mr->sg, nents, dir);
	if (!dma_nents)
		return -EIO;
	mr->dev = dev;
	mr->nents = nents;
	mr->dir = dir;
	n = ib_map_mr_sg(ibmr, mr->sg, dma_nents, NULL, PAGE_SIZE);
	if (n != dma_nents) {
		xprs_mr_unmap(mr);
		return -EIO;
	}
	ibmr->iova &= 0x00000000ffffffff;
	ibmr->iova |= ((u64)xid) << 32;
	key = (u8)(ibmr->rkey & 0x000000FF);
	ib_update_fast_reg_key(ibmr, ++key);

	mr->reg_wr.wr.next = NULL;
	mr->reg_wr.wr.opcode = IB_WR_REG_MR;
	mr->reg_wr.wr.wr_cqe = &mr->cqe;
	mr->reg_wr.wr.num_sge = 0;
	mr->reg_wr.wr.send_flags = 0;
	mr->reg_wr.mr = ibmr;
	mr->reg_wr.key = ibmr->rkey;
	mr->reg_wr.access = writing ?
			    IB_ACCESS_REMOTE_WRITE | IB_ACCESS_LOCAL_WRITE :
			    IB_ACCESS_REMOTE_READ;
	*handle = ibmr->rkey;
	*length = ibmr->length;
	*offset = ibmr->iova;
	return 0;
}

u32 xprs_mr_rkey(struct xprs_mr *mr)
{
	return mr->mr->rkey;
}

/*
 * Tunables: module parameters slot_table_entries, max_inline_read and
 * max_inline_write, and the C client's sysctls sunrpc.rdma_slot_table_entries,
 * rdma_max_inline_read and rdma_max_inline_write over the same variables,
 * with C's defaults and ranges. Values apply to transports created after
 * the change. Documentation/tunables.md has the whole list.
 */
static unsigned int xprs_slot_table_entries = RPCRDMA_DEF_SLOT_TABLE;
static unsigned int xprs_max_inline_read = RPCRDMA_DEF_INLINE;
static unsigned int xprs_max_inline_write = RPCRDMA_DEF_INLINE;

static int xprs_param_set_range(const char *val, const struct kernel_param *kp,
				unsigned int min, unsigned int max)
{
	unsigned int n;
	int rc = kstrtouint(val, 0, &n);

	if (rc)
		return rc;
	if (n < min || n > max)
		return -EINVAL;
	WRITE_ONCE(*(unsigned int *)kp->arg, n);
	return 0;
}

static int xprs_set_slots(const char *val, const struct kernel_param *kp)
{
	return xprs_param_set_range(val, kp, RPCRDMA_MIN_SLOT_TABLE,
				    RPCRDMA_MAX_SLOT_TABLE);
}

static int xprs_set_inline(const char *val, const struct kernel_param *kp)
{
	return xprs_param_set_range(val, kp, RPCRDMA_MIN_INLINE,
				    RPCRDMA_MAX_INLINE);
}

static const struct kernel_param_ops xprs_slots_ops = {
	.set = xprs_set_slots,
	.get = param_get_uint,
};

static const struct kernel_param_ops xprs_inline_ops = {
	.set = xprs_set_inline,
	.get = param_get_uint,
};

module_param_cb(slot_table_entries, &xprs_slots_ops, &xprs_slot_table_entries,
		0644);
MODULE_PARM_DESC(slot_table_entries,
		 "RPC slots (credits requested) per transport, 4..16384 (128)");
module_param_cb(max_inline_read, &xprs_inline_ops, &xprs_max_inline_read, 0644);
MODULE_PARM_DESC(max_inline_read,
		 "Largest inline Reply offered, 1024..65536 bytes (4096)");
module_param_cb(max_inline_write, &xprs_inline_ops, &xprs_max_inline_write,
		0644);
MODULE_PARM_DESC(max_inline_write,
		 "Largest inline Call offered, 1024..65536 bytes (4096)");

unsigned int xprs_param_slot_table_entries(void)
{
	return READ_ONCE(xprs_slot_table_entries);
}

unsigned int xprs_param_max_inline_read(void)
{
	return READ_ONCE(xprs_max_inline_read);
}

unsigned int xprs_param_max_inline_write(void)
{
	return READ_ONCE(xprs_max_inline_write);
}

/*
 * The C client's sysctls (xr_tunables_table in transport.c), with its names,
 * handlers, ranges and defaults. The first three are the module parameters'
 * variables, so a write through either shows in both. The last three are
 * kept for scripts that set them: the C client of 6.12 reads none of them
 * (rdma_inline_write_padding writes a dummy, FRWR is its only memory
 * registration mode, nothing reads xprt_rdma_pad_optimize), and ours does
 * not either. C registers the table only with CONFIG_SUNRPC_DEBUG; we do
 * whenever the kernel has sysctls.
 */
static unsigned int xprs_min_slot_table_size = RPCRDMA_MIN_SLOT_TABLE;
static unsigned int xprs_max_slot_table_size = RPCRDMA_MAX_SLOT_TABLE;
static unsigned int xprs_min_inline_size = RPCRDMA_MIN_INLINE;
static unsigned int xprs_max_inline_size = RPCRDMA_MAX_INLINE;
static unsigned int xprs_max_padding = PAGE_SIZE;
static unsigned int xprs_min_memreg = RPCRDMA_BOUNCEBUFFERS;
static unsigned int xprs_max_memreg = RPCRDMA_LAST - 1;
static unsigned int xprs_inline_write_padding;
static unsigned int xprs_memreg_strategy = RPCRDMA_FRWR;
static int xprs_pad_optimize;

static struct ctl_table xprs_sysctl_table[] = {
	{
		.procname	= "rdma_slot_table_entries",
		.data		= &xprs_slot_table_entries,
		.maxlen		= sizeof(unsigned int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= &xprs_min_slot_table_size,
		.extra2		= &xprs_max_slot_table_size,
	},
	{
		.procname	= "rdma_max_inline_read",
		.data		= &xprs_max_inline_read,
		.maxlen		= sizeof(unsigned int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= &xprs_min_inline_size,
		.extra2		= &xprs_max_inline_size,
	},
	{
		.procname	= "rdma_max_inline_write",
		.data		= &xprs_max_inline_write,
		.maxlen		= sizeof(unsigned int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= &xprs_min_inline_size,
		.extra2		= &xprs_max_inline_size,
	},
	{
		.procname	= "rdma_inline_write_padding",
		.data		= &xprs_inline_write_padding,
		.maxlen		= sizeof(unsigned int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= SYSCTL_ZERO,
		.extra2		= &xprs_max_padding,
	},
	{
		.procname	= "rdma_memreg_strategy",
		.data		= &xprs_memreg_strategy,
		.maxlen		= sizeof(unsigned int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= &xprs_min_memreg,
		.extra2		= &xprs_max_memreg,
	},
	{
		.procname	= "rdma_pad_optimize",
		.data		= &xprs_pad_optimize,
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec,
	},
};

static struct ctl_table_header *xprs_sysctl_header;

int xprs_sysctl_register(void)
{
	if (!IS_ENABLED(CONFIG_SYSCTL))
		return 0;
	xprs_sysctl_header = register_sysctl("sunrpc", xprs_sysctl_table);
	if (xprs_sysctl_header)
		return 0;
	/*
	 * register_sysctl() says only NULL: an entry of that name exists
	 * (it has logged "sysctl duplicate entry"), or memory ran out. The
	 * first is the case we know: rpcrdma loaded without client=0 on a
	 * CONFIG_SUNRPC_DEBUG kernel, where the class would be refused with
	 * -EEXIST next; report that.
	 */
	pr_err("xprtrdma_rs: cannot register the sunrpc.rdma_* sysctls: another module has them (rpcrdma without client=0?), or out of memory\n");
	return -EEXIST;
}

void xprs_sysctl_unregister(void)
{
	unregister_sysctl_table(xprs_sysctl_header);
	xprs_sysctl_header = NULL;
}
