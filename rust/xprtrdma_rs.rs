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
mod completion;
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
    // Dropped in declaration order: no new transports, then no tunables,
    // then no client.
    _class: sunrpc::TransportClass,
    _sysctls: sunrpc::Sysctls,
    _ib_client: ib_client::IbClient,
}

impl kernel::Module for XprtRdma {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let ib_client = ib_client::IbClient::register()?;
        // The class comes last: once it is registered a mount can reach
        // this module, so nothing after it may fail and unload it again.
        // Beside rpcrdma loaded without client=0 on a CONFIG_SUNRPC_DEBUG
        // kernel the sysctls are the first thing refused (-EEXIST), else
        // the class is.
        let sysctls = sunrpc::Sysctls::register()?;
        let class = sunrpc::TransportClass::register::<transport::Transport>().inspect_err(|e| {
            if *e == EEXIST {
                pr_err!("transport class \"rdma\" exists: is rpcrdma loaded without client=0?\n");
            }
        })?;
        pr_info!("registered transport class \"rdma\" (netids rdma, rdma6) and sysctls sunrpc.rdma_*\n");
        Ok(Self {
            _class: class,
            _sysctls: sysctls,
            _ib_client: ib_client,
        })
    }
}
