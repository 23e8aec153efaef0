// SPDX-License-Identifier: GPL-2.0

//! Credit grant sanitizing and congestion window arithmetic.
//!
//! The credit value in a reply is not trustworthy: RFC 8166, Section 3.3
//! lets the server grant any number, but this client never has more than
//! the number of requests it offered outstanding, and a grant of zero would
//! stall the connection forever.

/// `RPC_CWNDSHIFT`: the RPC layer keeps its congestion window in units of
/// `1 << RPC_CWNDSHIFT` per request.
pub(crate) const RPC_CWNDSHIFT: u32 = 8;

/// A credit grant already clamped to `1..=offered`.
///
/// # Invariants
///
/// The value is at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Credits(u32);

impl Credits {
    /// The grant in force when a connection starts (RFC 8166,
    /// Section 3.3.3), as `rpcrdma_reset_cwnd()` sets it.
    pub(crate) const INITIAL: Credits = Credits(1);

    /// Sanitizes the grant `wire` received in a reply, as
    /// `rpcrdma_reply_handler()` does: zero becomes one (do not deadlock),
    /// and anything above `offered` (`re_max_requests`) is clamped to it.
    pub(crate) const fn sanitize(wire: u32, offered: u32) -> Self {
        let clamped = if wire > offered { offered } else { wire };
        // INVARIANT: the result is at least 1.
        Credits(if clamped == 0 { 1 } else { clamped })
    }

    /// Returns the number of credits.
    pub(crate) const fn get(self) -> u32 {
        self.0
    }

    /// Returns the RPC congestion window these credits allow
    /// (`xprt->cwnd = credits << RPC_CWNDSHIFT`). The result is 64-bit
    /// so that the shift cannot lose bits.
    pub(crate) const fn cwnd(self) -> u64 {
        (self.0 as u64) << RPC_CWNDSHIFT
    }

    /// Returns how many Receives should be posted after handling a reply
    /// with these credits: one per credit plus two per backchannel slot
    /// (`credits + (rb_bc_srv_max_requests << 1)`), saturating.
    pub(crate) const fn receives_needed(self, bc_max_requests: u32) -> u32 {
        self.0.saturating_add(bc_max_requests.saturating_mul(2))
    }
}
