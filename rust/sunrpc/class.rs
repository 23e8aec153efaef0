// SPDX-License-Identifier: GPL-2.0

//! The module-wide registrations of the client: the `"rdma"` transport
//! class, the `sunrpc.rdma_*` sysctls, and the module parameters the
//! transports are sized by.

use super::ops;
use super::XprtOps;
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
    /// Registers the class, whose transports are `T`'s, failing with
    /// `-EEXIST` when another module (for example `rpcrdma` loaded without
    /// `client=0`) already provides it.
    pub(crate) fn register<T: XprtOps>() -> Result<Self> {
        // SAFETY: `xprs_register_transport` registers a static class whose
        // `setup` is the function given; it is called once, from module
        // init. The adapter's `setup` has the C signature of
        // `xprt_class.setup`.
        to_result(unsafe { bindings::xprs_register_transport(Some(ops::Adapter::<T>::setup)) })?;
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

/// The sysctls `sunrpc.rdma_*`, the C client's names for the module
/// parameters (and three it keeps only for scripts), registered under
/// `/proc/sys/sunrpc`.
///
/// # Invariants
///
/// The table is registered for the whole life of this value.
pub(crate) struct Sysctls(());

impl Sysctls {
    /// Registers the table, failing with `-EEXIST` when it cannot be: in
    /// practice because `rpcrdma` loaded without `client=0` registered its
    /// own.
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: `xprs_sysctl_register` takes no arguments and registers a
        // static table. It is called only here, and a `Sysctls` exists only
        // while it is registered (invariant), so it is never registered
        // twice: module init calls this once.
        to_result(unsafe { bindings::xprs_sysctl_register() })?;
        // INVARIANT: registration succeeded above.
        Ok(Self(()))
    }
}

impl Drop for Sysctls {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the table is registered, and this is
        // the only place that unregisters it.
        unsafe { bindings::xprs_sysctl_unregister() };
    }
}

/// The module parameters the transport is sized by, as set at load time
/// (`xprtrdma_rs.slot_table_entries` and the inline sizes).
pub(crate) struct Params {
    pub(crate) slot_table_entries: u32,
    pub(crate) max_inline_read: u32,
    pub(crate) max_inline_write: u32,
}

impl Params {
    /// Reads the parameters.
    pub(crate) fn get() -> Self {
        // SAFETY: the parameter getters have no preconditions.
        unsafe {
            Self {
                slot_table_entries: bindings::xprs_param_slot_table_entries(),
                max_inline_read: bindings::xprs_param_max_inline_read(),
                max_inline_write: bindings::xprs_param_max_inline_write(),
            }
        }
    }
}
