// SPDX-License-Identifier: GPL-2.0

//! RPC-over-RDMA version 1 client transport for the Linux NFS client.
//!
//! The module registers the sunrpc transport class `"rdma"` (netids `"rdma"`
//! and `"rdma6"`, ident `XPRT_TRANSPORT_RDMA`), the class that
//! `mount -o proto=rdma` resolves to. It is meant to run beside
//! `rpcrdma.ko` loaded with `client=0`, which then serves only nfsd.

use kernel::prelude::*;

mod bindings;
mod cell;
mod ib;
mod ib_client;
// The pure protocol core, the same files the host tests in tools/ build.
// Some of it (the server-side call decoder, the I6/I7 model predicates)
// serves only the host tests and models.
#[allow(dead_code)]
mod proto;
mod rdma_cm;
mod sunrpc;
mod trace;
mod transport;

module! {
    type: XprtRdma,
    name: "xprtrdma_rs",
    author: "xprtrdma-rs developers",
    description: "RPC-over-RDMA client transport, in Rust",
    license: "GPL",
}

struct XprtRdma {
    // Dropped in declaration order: no new transports, then no client.
    _class: sunrpc::TransportClass,
    _ib_client: ib_client::IbClient,
}

impl kernel::Module for XprtRdma {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let ib_client = ib_client::IbClient::register()?;
        let class = sunrpc::TransportClass::register()?;
        pr_info!("registered transport class \"rdma\" (netids rdma, rdma6)\n");
        Ok(Self {
            _class: class,
            _ib_client: ib_client,
        })
    }
}
