// SPDX-License-Identifier: GPL-2.0

//! RPC-over-RDMA version 1 client transport for the Linux NFS client.
//!
//! The module registers the sunrpc transport class `"rdma"` (netids `"rdma"`
//! and `"rdma6"`, ident `XPRT_TRANSPORT_RDMA`), the class that
//! `mount -o proto=rdma` resolves to. It is meant to run beside
//! `rpcrdma.ko` loaded with `client=0`, which then serves only nfsd.

use kernel::prelude::*;

mod bindings;
mod ib;
// The pure protocol core, the same files the host tests in tools/ build.
// Some of it (the server-side call decoder, the I6/I7 model predicates)
// serves only the host tests and models.
#[allow(dead_code)]
mod proto;
mod rdma_cm;
mod sunrpc;
mod transport;

module! {
    type: XprtRdma,
    name: "xprtrdma_rs",
    author: "xprtrdma-rs developers",
    description: "RPC-over-RDMA client transport, in Rust",
    license: "GPL",
}

struct XprtRdma {
    _class: sunrpc::TransportClass,
}

impl kernel::Module for XprtRdma {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let class = sunrpc::TransportClass::register()?;
        pr_info!("registered transport class \"rdma\" (netids rdma, rdma6)\n");
        Ok(Self { _class: class })
    }
}
