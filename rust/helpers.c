// SPDX-License-Identifier: GPL-2.0
/*
 * C shims for xprtrdma_rs, the sunrpc side: static initializers and
 * inline helpers that Rust cannot reach through bindgen. Some transport
 * logic lives here because it is all C API: the class and the ops table,
 * the address strings (printk formats, as in transport.c), sparse-page
 * allocation, backchannel rqst setup and enqueue, and PF_MEMALLOC in the
 * connect work for swap. The RDMA side is in ib_helpers.c, the tunables
 * in tunables.c.
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

/*
 * The class the netids "rdma" and "rdma6" resolve to (proto=rdma). Its
 * ->setup is Rust's, given at registration.
 */
static struct xprt_class xprs_class = {
	.list		= LIST_HEAD_INIT(xprs_class.list),
	.name		= "rdma",
	.owner		= THIS_MODULE,
	.ident		= XPRT_TRANSPORT_RDMA,
	.netid		= { "rdma", "rdma6", "" },
};

int xprs_register_transport(struct rpc_xprt *(*setup)(struct xprt_create *args))
{
	xprs_class.setup = setup;
	return xprt_register_transport(&xprs_class);
}

void xprs_unregister_transport(void)
{
	xprt_unregister_transport(&xprs_class);
}

/*
 * The ops of the table (rust/sunrpc/ops.rs builds it) that are C: as
 * xprt_rdma_timer(), and swap, which needs nothing beyond PF_MEMALLOC when
 * connecting, as in the C client. ->set_port is below.
 */
void xprs_op_timer(struct rpc_xprt *xprt, struct rpc_task *task)
{
	xprt_force_disconnect(xprt);
}

int xprs_op_enable_swap(struct rpc_xprt *xprt)
{
	return 0;
}

void xprs_op_disable_swap(struct rpc_xprt *xprt)
{
}

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
	x->ops->connect_worker(&x->xprt);
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

	x->ops->mr_refresh_worker(&x->xprt);
}

struct rpc_xprt *xprs_xprt_alloc(struct net *net, unsigned int max_slots,
				 const struct xprs_ops *ops)
{
	struct rpc_xprt *xprt;

	xprt = xprt_alloc(net, sizeof(struct xprs_xprt), 0, max_slots);
	if (!xprt)
		return NULL;
	xprt->timeout = &xprs_default_timeout;
	xprs_of(xprt)->ops = ops;
	xprt->ops = &ops->xprt;
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

void xprs_op_set_port(struct rpc_xprt *xprt, u16 port)
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
