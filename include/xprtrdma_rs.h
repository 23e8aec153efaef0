/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xprtrdma_rs: the C side of the module.
 *
 * This header is both the input of the module-local bindgen run (see
 * Kbuild) and the prototype list of the C shims in rust/helpers.c. The
 * shims exist only for what Rust cannot express directly: static inline
 * functions, macros, and static initializers of structures with flexible
 * array members.
 */
#ifndef XPRTRDMA_RS_H
#define XPRTRDMA_RS_H

#include <linux/sunrpc/xprt.h>
#include <linux/sunrpc/xprtrdma.h>

/* Registration of the "rdma"/"rdma6" client transport class. */
int xprs_register_transport(void);
void xprs_unregister_transport(void);

/*
 * Implemented in Rust: the class's ->setup. Returns 0 and a transport in
 * @xprt, or a negative errno.
 */
int xprs_setup(struct xprt_create *args, struct rpc_xprt **xprt);

#endif /* XPRTRDMA_RS_H */
