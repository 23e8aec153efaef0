// SPDX-License-Identifier: GPL-2.0

//! RFC 8797 connection private data.

use crate::proto::cm_private::*;

fn size(bytes: u32) -> InlineSize {
    InlineSize::new(bytes).unwrap()
}

#[test]
fn client_message_bytes() {
    let m = ConnectPrivate::client(size(4096), size(4096));
    assert_eq!(m.encode(), [0xf6, 0xab, 0x0e, 0x18, 1, 1, 3, 3]);
    assert!(m.remote_invalidate());
    let m = ConnectPrivate::client(size(1024), InlineSize::MAX);
    assert_eq!(m.encode(), [0xf6, 0xab, 0x0e, 0x18, 1, 1, 0, 255]);
}

#[test]
fn inline_size_range_and_rounding() {
    assert_eq!(InlineSize::new(1023), None);
    assert_eq!(InlineSize::new(256 * 1024 + 1), None);
    assert_eq!(size(1024).bytes(), 1024);
    assert_eq!(size(4095).bytes(), 3072);
    assert_eq!(InlineSize::MAX.bytes(), 262_144);
}

#[test]
fn decode_valid_and_padded() {
    // InfiniBand CM pads private data with zeroes.
    let mut data = [0u8; 56];
    data[..8].copy_from_slice(&[0xf6, 0xab, 0x0e, 0x18, 1, 0x81, 7, 0]);
    let m = ConnectPrivate::decode(&data).unwrap();
    assert_eq!(m.send_size.bytes(), 8192);
    assert_eq!(m.recv_size.bytes(), 1024);
    assert!(m.remote_invalidate());
    // Unknown flag bits are kept and ignored.
    assert_eq!(m.flags, 0x81);
    let m = ConnectPrivate::decode(&[0xf6, 0xab, 0x0e, 0x18, 1, 0, 0, 0]).unwrap();
    assert!(!m.remote_invalidate());
}

#[test]
fn decode_errors() {
    let good = [0xf6, 0xab, 0x0e, 0x18, 1, 1, 0, 0];
    for len in 0..8 {
        assert_eq!(
            ConnectPrivate::decode(&good[..len]),
            Err(PrivateDataError::Short)
        );
    }
    let mut bad = good;
    bad[3] = 0x19;
    assert_eq!(
        ConnectPrivate::decode(&bad),
        Err(PrivateDataError::BadMagic)
    );
    let mut bad = good;
    bad[4] = 2;
    assert_eq!(
        ConnectPrivate::decode(&bad),
        Err(PrivateDataError::BadVersion)
    );
}

#[test]
fn negotiation_takes_the_smaller_side_or_the_defaults() {
    let ours = Negotiated {
        inline_send: size(4096),
        inline_recv: size(4096),
    };
    // No private data, or invalid private data: 1 KiB each way.
    let default = Negotiated {
        inline_send: DEFAULT_INLINE_SIZE,
        inline_recv: DEFAULT_INLINE_SIZE,
    };
    assert_eq!(negotiate(ours, None), default);
    assert_eq!(negotiate(ours, Some(&[1, 2, 3])), default);
    assert_eq!(
        negotiate(ours, Some(&[0xf6, 0xab, 0x0e, 0x18, 2, 0, 63, 63])),
        default
    );
    // The server sends up to 64 KiB and receives up to 2 KiB: we receive
    // at most min(4 KiB, 64 KiB) and send at most min(4 KiB, 2 KiB).
    let peer = ConnectPrivate {
        flags: 0,
        send_size: size(65536),
        recv_size: size(2048),
    }
    .encode();
    let n = negotiate(ours, Some(&peer));
    assert_eq!(n.inline_recv.bytes(), 4096);
    assert_eq!(n.inline_send.bytes(), 2048);
}
