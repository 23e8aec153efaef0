// SPDX-License-Identifier: GPL-2.0

//! Host-side harness for the protocol core in `rust/proto`.
//!
//! The protocol core is included by path exactly as the kernel module
//! includes it, so the tests here exercise the same source the kernel
//! builds. Its items are `pub(crate)`, so every test lives in this crate:
//! unit and property tests under `tests/`, and the loom model of the req
//! lifetime under `model` (built with `RUSTFLAGS="--cfg loom"`).

// Outside the test build nothing here uses the protocol core.
#[cfg_attr(any(not(test), loom), allow(dead_code))]
#[path = "../../../rust/proto/mod.rs"]
mod proto;

#[cfg(loom)]
mod loom_counter;

#[cfg(all(test, loom))]
mod model;

#[cfg(all(test, not(loom)))]
mod tests;
