// SPDX-License-Identifier: GPL-2.0

//! The transport class's `setup`: creation of an RPC-over-RDMA transport.

use crate::bindings;
use kernel::error::Error;
use kernel::prelude::*;

/// Called by sunrpc (through the C shim `xprs_class_setup`) to create a
/// transport for a `proto=rdma` mount.
///
/// The data path is not there yet, so every setup fails with
/// `-EPROTONOSUPPORT` and says so once in the log.
#[no_mangle]
extern "C" fn xprs_setup(
    _args: *mut bindings::xprt_create,
    _xprt: *mut *mut bindings::rpc_xprt,
) -> core::ffi::c_int {
    pr_err!("transport setup is not implemented yet: failing with EPROTONOSUPPORT\n");
    Error::from_errno(-(bindings::EPROTONOSUPPORT as core::ffi::c_int)).to_errno()
}
