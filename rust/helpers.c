// SPDX-License-Identifier: GPL-2.0
/*
 * C shims for xprtrdma_rs: static initializers and inline helpers that
 * Rust cannot reach through bindgen. Keep this file free of transport
 * logic: the only exception is the address string formatting (printk
 * formats), as in transport.c.
 */
#include <linux/module.h>
#include <linux/err.h>
#include <linux/jiffies.h>
#include <linux/sunrpc/addr.h>
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
};

static const struct rpc_timeout xprs_default_timeout = {
	.to_initval = 60 * HZ,
	.to_maxval = 60 * HZ,
};

static void xprs_connect_work(struct work_struct *work)
{
	struct xprs_xprt *x = container_of(work, struct xprs_xprt,
					   connect_worker.work);

	xprs_connect_worker(&x->xprt);
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

u32 xprs_ib_device_max_qp_wr(struct ib_device *dev)
{
	return dev->attrs.max_qp_wr;
}
