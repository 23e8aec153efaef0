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

/// `RPCRDMA_MIN_SLOT_TABLE`: fewer credits than this are not worth a
/// connection.
pub(crate) const MIN_REQUESTS: u32 = 4;

/// The queue sizes of one connection, fitted to its device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueFit {
    /// Credits offered on this connection (`re_max_requests`).
    pub(crate) max_requests: u32,
    /// Forward reqs that may be in use: the credits plus one signaling
    /// batch of slack ([`super::sendctx::req_pool_slack`]).
    pub(crate) reqs: u32,
    /// Send queue depth: every Send slot (forward and backchannel reqs,
    /// plus one, as the sendctx ring has) with all its WRs, plus two for
    /// the write-pad REG_MR and `ib_drain_sq()`.
    pub(crate) send_wr: u32,
    /// Receive queue depth: one per credit, two spares, one per
    /// backchannel slot, one for `ib_drain_rq()`.
    pub(crate) recv_wr: u32,
}

impl QueueFit {
    fn of(max_requests: u32, per_req_wrs: u32, bc_slots: u32) -> Option<Self> {
        let reqs = max_requests.checked_add(super::sendctx::req_pool_slack(max_requests))?;
        let slots = reqs.checked_add(bc_slots)?.checked_add(1)?;
        let send_wr = slots.checked_mul(per_req_wrs)?.checked_add(2)?;
        let recv_wr = max_requests.checked_add(bc_slots)?.checked_add(3)?;
        Some(QueueFit {
            max_requests,
            reqs,
            send_wr,
            recv_wr,
        })
    }

    fn fits(&self, max_qp_wr: u32) -> bool {
        self.send_wr <= max_qp_wr && self.recv_wr <= max_qp_wr
    }

    /// Fits `wanted` credits to a device whose queues hold at most
    /// `max_qp_wr` work requests, each req needing `per_req_wrs` on the
    /// send queue. As `frwr_query_device()`, a device too small for the
    /// credits asked for gets fewer, not a failed connection; `None` only
    /// if even [`MIN_REQUESTS`] do not fit.
    pub(crate) fn fit(wanted: u32, max_qp_wr: u32, per_req_wrs: u32, bc_slots: u32) -> Option<Self> {
        let fit = |m| Self::of(m, per_req_wrs, bc_slots).filter(|f| f.fits(max_qp_wr));
        if let Some(f) = fit(wanted) {
            return Some(f);
        }
        // The fit shrinks as the credits do: find the largest that fits.
        let (mut lo, mut hi) = (MIN_REQUESTS, wanted);
        let mut best = fit(lo)?;
        while lo < hi {
            let mid = lo.saturating_add(hi.saturating_sub(lo).div_ceil(2));
            match fit(mid) {
                Some(f) => {
                    best = f;
                    lo = mid;
                }
                None => hi = mid.saturating_sub(1),
            }
        }
        Some(best)
    }
}
