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
