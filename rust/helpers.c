// SPDX-License-Identifier: GPL-2.0
/*
 * C shims for xprtrdma_rs: static initializers and inline helpers that
 * Rust cannot reach through bindgen. Keep this file free of logic.
 */
#include <linux/module.h>
#include <linux/err.h>
#include "xprtrdma_rs.h"

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
