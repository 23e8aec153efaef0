// SPDX-License-Identifier: GPL-2.0

//! Bindings to the parts of the kernel's C API this module uses, generated
//! by the module-local bindgen run in `Kbuild` from `include/xprtrdma_rs.h`.

#![allow(
    dead_code,
    missing_docs,
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    unreachable_pub,
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    unsafe_op_in_unsafe_fn,
    unnecessary_transmutes,
    improper_ctypes
)]

use kernel::ffi;

include!("bindings_generated.rs");
