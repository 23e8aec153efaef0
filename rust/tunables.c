// SPDX-License-Identifier: GPL-2.0
/*
 * xprtrdma_rs tunables: the module parameters slot_table_entries,
 * max_inline_read and max_inline_write, and the C client's sysctls
 * sunrpc.rdma_slot_table_entries, rdma_max_inline_read and
 * rdma_max_inline_write over the same variables, with C's defaults and
 * ranges. Values apply to transports created after the change.
 * Documentation/tunables.md has the whole list.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/sysctl.h>
#include "xprtrdma_rs.h"

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
