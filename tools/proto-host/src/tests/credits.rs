// SPDX-License-Identifier: GPL-2.0

//! Credit grant sanitizing and cwnd arithmetic.

use crate::proto::credits::*;

#[test]
fn sanitize_grant() {
    assert_eq!(Credits::sanitize(0, 128).get(), 1);
    assert_eq!(Credits::sanitize(1, 128).get(), 1);
    assert_eq!(Credits::sanitize(64, 128).get(), 64);
    assert_eq!(Credits::sanitize(128, 128).get(), 128);
    assert_eq!(Credits::sanitize(129, 128).get(), 128);
    assert_eq!(Credits::sanitize(u32::MAX, 128).get(), 128);
    // Even a nonsensical offer of zero never yields zero credits.
    assert_eq!(Credits::sanitize(5, 0).get(), 1);
    assert_eq!(Credits::INITIAL.get(), 1);
}

#[test]
fn cwnd_is_credits_shifted() {
    assert_eq!(Credits::INITIAL.cwnd(), 256);
    assert_eq!(Credits::sanitize(128, 128).cwnd(), 128 << RPC_CWNDSHIFT);
    assert_eq!(
        Credits::sanitize(u32::MAX, u32::MAX).cwnd(),
        u64::from(u32::MAX) << 8
    );
}

#[test]
fn receives_to_post() {
    assert_eq!(Credits::sanitize(32, 128).receives_needed(0), 32);
    assert_eq!(Credits::sanitize(32, 128).receives_needed(16), 64);
    assert_eq!(
        Credits::sanitize(32, 128).receives_needed(u32::MAX),
        u32::MAX
    );
}

/// Issue 17, finding 3: a device whose queues cannot hold the credits
/// asked for gets fewer (as `frwr_query_device()`), not ENOMEM.
#[test]
fn queues_fit_the_device() {
    // rxe (max_qp_wr 16384), 13 WRs per req, 16 backchannel slots.
    let f = QueueFit::fit(128, 16384, 13, 16).unwrap();
    assert_eq!(f.max_requests, 128);
    assert_eq!(f.reqs, 128 + 16);
    assert_eq!(f.send_wr, (144 + 16 + 1) * 13 + 2);
    assert_eq!(f.recv_wr, 128 + 16 + 3);
    // The largest slot table: shrunk to what the send queue holds.
    let f = QueueFit::fit(16384, 16384, 13, 16).unwrap();
    assert!(f.send_wr <= 16384 && f.recv_wr <= 16384, "{f:?}");
    assert!(f.max_requests < 16384 && f.max_requests > 1000, "{f:?}");
    // And it is the largest that fits.
    let next = f.max_requests + 1;
    let slack = crate::proto::sendctx::req_pool_slack(next);
    assert!((next + slack + 16 + 1) * 13 + 2 > 16384);
    // A tiny device: still MIN_REQUESTS, or nothing.
    assert_eq!(QueueFit::fit(128, 200, 13, 16).map(|f| f.max_requests), None);
    let f = QueueFit::fit(128, 400, 13, 16).unwrap();
    assert!(f.max_requests >= MIN_REQUESTS && f.send_wr <= 400);
    // Nothing overflows at the extremes.
    assert_eq!(QueueFit::fit(u32::MAX, u32::MAX, u32::MAX, u32::MAX), None);
    // Shrunk only as far as the arithmetic must: u32::MAX credits plus
    // their slack do not fit a u32, but more than 8/9 of them do.
    let f = QueueFit::fit(u32::MAX, u32::MAX, 1, 0).unwrap();
    assert!(f.max_requests >= u32::MAX / 9 * 8 && f.max_requests < u32::MAX, "{f:?}");
}
