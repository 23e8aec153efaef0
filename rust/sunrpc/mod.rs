// SPDX-License-Identifier: GPL-2.0

//! Thin abstractions over the sunrpc client transport API: the class and
//! its sysctls here, the transport in `xprt`, tasks and rqsts in `rqst`,
//! `xdr_buf` views in `xdr`.

use crate::bindings;
use kernel::error::to_result;
use kernel::prelude::*;
use kernel::str::CStr;

mod rqst;
mod xdr;
mod xprt;

pub(crate) use rqst::{PinnedRqst, RpcBufs, Rqst, RqstSlot, Task};
pub(crate) use xdr::{PieceAddr, XdrBuf};
pub(crate) use xprt::{Xprt, XprtLocked, XprtMutex, XprtMutexGuard};

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

/// Warns once with a stack trace (`WARN_ONCE`): a broken invariant that
/// the transport survives by leaking rather than corrupting.
pub(crate) fn warn_once(what: &CStr) {
    // SAFETY: `what` is a NUL-terminated string.
    unsafe { bindings::xprs_warn_once(what.as_char_ptr()) };
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

/// A `seq_file` sunrpc is printing a transport's statistics to
/// (`->print_stats`).
///
/// # Invariants
///
/// The `seq_file` is valid for `'a`, and the context that has this value
/// is the one printing to it.
pub(crate) struct SeqFile<'a> {
    seq: *mut bindings::seq_file,
    _life: core::marker::PhantomData<&'a mut bindings::seq_file>,
}

impl SeqFile<'_> {
    /// Wraps the `seq_file` of `->print_stats`.
    ///
    /// # Safety
    ///
    /// `seq` satisfies the type invariant for the chosen lifetime.
    pub(crate) unsafe fn from_raw(seq: *mut bindings::seq_file) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self {
            seq,
            _life: core::marker::PhantomData,
        }
    }

    /// Appends `s` (`seq_puts()`).
    pub(crate) fn puts(&mut self, s: &CStr) {
        // SAFETY: the seq_file is valid and ours to print to (type
        // invariant); `s` is NUL-terminated.
        unsafe { bindings::xprs_seq_puts(self.seq, s.as_char_ptr()) };
    }
}
