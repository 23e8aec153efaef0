// SPDX-License-Identifier: GPL-2.0

//! Pure protocol core of the RPC-over-RDMA version 1 client transport.
//!
//! Everything in this module tree is plain `core` Rust: no kernel types, no
//! heap, no `unsafe`, and no panics on any input. The kernel module includes
//! it as `mod proto;` (this file), and the host crate under
//! `tools/proto-host` includes the very same files for unit, property and
//! loom tests.
//!
//! - [`xdr`]: bounds-checked XDR word reader and writer.
//! - [`header`]: the RPC-over-RDMA v1 transport header codec (RFC 8166 §4).
//! - [`cm_private`]: RFC 8797 connection private data.
//! - [`credits`]: credit grant sanitizing and congestion window arithmetic.
//! - [`chunk`]: chunk planning (RFC 8267 DDP eligibility, as
//!   `rpcrdma_marshal_req()` decides it).
//! - [`offered`]: what a Call offered for its Reply, checked against it.
//! - [`lifetime`]: the two-owner `rpcrdma_req` lifetime and invariants
//!   I1..I7.
//! - [`sendctx`]: the sendctx ring and Send signaling policy.

// Wire data must never make this code panic: no indexing, no unchecked
// arithmetic, no unwrap. Clippy enforces it wherever it runs (the kernel's
// CLIPPY=1 builds and tools/check.sh).
#![forbid(unsafe_code)]
#![deny(
    clippy::arithmetic_side_effects,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::todo,
    clippy::unimplemented,
    clippy::unreachable,
    clippy::unwrap_used
)]

pub(crate) mod chunk;
pub(crate) mod cm_private;
pub(crate) mod credits;
pub(crate) mod header;
pub(crate) mod lifetime;
pub(crate) mod offered;
pub(crate) mod sendctx;
pub(crate) mod xdr;
