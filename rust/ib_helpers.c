// SPDX-License-Identifier: GPL-2.0
/*
 * C shims for xprtrdma_rs, the RDMA side: our ib_client, completions,
 * rdma_cm ids and connect parameters, PD and CQ allocation, posting, DMA
 * mapping, the device limits, and the FRWR MRs (mapping with the iova,
 * the rkey bump and the max_fr_depth quirk), as frwr_ops.c and verbs.c
 * do them.
 */
#include <linux/module.h>
#include <linux/err.h>
#include <linux/slab.h>
#include "xprtrdma_rs.h"

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

bool xprs_ib_uses_virt_dma(struct ib_device *dev)
{
	return ib_uses_virt_dma(dev);
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
	/* reg_wr.key mirrors ibmr->rkey from here on (xprs_mr_map sets both):
	 * Rust reads the rkey from it. */
	mr->reg_wr.key = ibmr->rkey;
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

int xprs_mr_set_page_run(struct xprs_mr *mr, u32 i, struct page **pages,
			 u32 count, u32 offset, u32 len)
{
	struct scatterlist *sg;
	u64 before_last;
	u32 k, last_room;

	if (WARN_ON_ONCE(i > mr->depth || count > mr->depth - i ||
			 offset >= PAGE_SIZE))
		return -EIO;
	if (!count)
		return len ? -EIO : 0;
	/*
	 * The lengths, checked once rather than per page: every entry but
	 * the last runs to its page's end (from offset in the first, from 0
	 * in the others), and the last holds the rest of len, at least a
	 * byte and no more than its page holds.
	 */
	before_last = (u64)(count - 1) * PAGE_SIZE - (count > 1 ? offset : 0);
	last_room = PAGE_SIZE - (count > 1 ? 0 : offset);
	if (len <= before_last || len - before_last > last_room)
		return -EIO;
	sg = &mr->sg[i];
	for (k = 0; k + 1 < count; k++) {
		if (!pages[k])
			return -EIO;
		sg_set_page(&sg[k], pages[k], PAGE_SIZE - offset, offset);
		offset = 0;
	}
	if (!pages[k])
		return -EIO;
	sg_set_page(&sg[k], pages[k], len - before_last, offset);
	return 0;
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

