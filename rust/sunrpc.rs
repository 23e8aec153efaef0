// SPDX-License-Identifier: GPL-2.0

//! Thin abstractions over the sunrpc client transport API.

use crate::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// The registered `"rdma"` client transport class.
///
/// # Invariants
///
/// The class is registered with sunrpc for the whole life of this value.
pub(crate) struct TransportClass(());

impl TransportClass {
    /// Registers the class, failing with `-EEXIST` when another module (for
    /// example `rpcrdma` loaded without `client=0`) already provides it.
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: `xprs_register_transport` takes no arguments and registers
        // a static class; it is called once, from module init.
        to_result(unsafe { bindings::xprs_register_transport() })?;
        // INVARIANT: registration succeeded above.
        Ok(Self(()))
    }
}

impl Drop for TransportClass {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the class is registered, and this is
        // the only place that unregisters it.
        unsafe { bindings::xprs_unregister_transport() };
    }
}
