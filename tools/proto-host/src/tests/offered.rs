// SPDX-License-Identifier: GPL-2.0

//! Replies checked against what their Call offered (issue 17, findings 13
//! and 14: a write list or reply chunk the Call never offered).

use crate::proto::header::{Body, ChunkLists, Fixed, Header, Limits, ReplyBody, Segment};
use crate::proto::offered::{Mismatch, Offered, MAX_WRITE_SEGS};

fn seg(handle: u32, length: u32) -> Segment {
    Segment {
        handle,
        length,
        offset: 0x1000,
    }
}

/// Encodes a Reply with these chunk lists and `inline` bytes of RPC
/// message, and checks it against `offered` as the transport does.
fn check(offered: &Offered, nomsg: bool, write: &[&[Segment]], reply: Option<&[Segment]>) -> Result<(), Mismatch> {
    let lists = ChunkLists {
        read: &[],
        write,
        reply,
    };
    let hdr = Header {
        xid: 7,
        credits: 32,
        body: if nomsg { Body::NoMsg(lists) } else { Body::Msg(lists) },
    };
    let mut buf = vec![0u8; 1024];
    let n = hdr.encode(&mut buf).unwrap();
    if !nomsg {
        // 64 bytes of inline RPC reply.
        buf.truncate(n + 64);
    } else {
        buf.truncate(n);
    }
    let fixed = Fixed::decode(&buf).unwrap();
    let limits = Limits::for_client(4, 1 << 20);
    match fixed.decode_reply_body(&buf, &limits).unwrap() {
        ReplyBody::Msg(m) => offered.check_msg(&m),
        ReplyBody::NoMsg { reply_chunk } => offered.check_nomsg(&reply_chunk),
        ReplyBody::Error(_) => panic!("not a reply"),
    }
}

#[test]
fn inline_reply_matches_anything() {
    assert_eq!(check(&Offered::NONE, false, &[], None), Ok(()));
    let mut o = Offered::NONE;
    o.set(&[seg(1, 8192), seg(2, 4)], &[]).unwrap();
    assert_eq!(check(&o, false, &[], None), Ok(()));
}

/// Finding 13: RDMA_MSG with a write chunk of a random handle, when the
/// Call offered no write chunk (its READ reply was planned inline).
#[test]
fn unoffered_write_list_is_refused() {
    let forged = [seg(0xdead_beef, 512)];
    assert_eq!(
        check(&Offered::NONE, false, &[&forged], None),
        Err(Mismatch::WriteListNotOffered)
    );
    // A reply chunk was offered, but no write chunk.
    let mut o = Offered::NONE;
    o.set(&[], &[seg(5, 8192)]).unwrap();
    assert_eq!(check(&o, false, &[&forged], None), Err(Mismatch::WriteListNotOffered));
}

#[test]
fn returned_write_chunk_must_match_the_offer() {
    let mut o = Offered::NONE;
    o.set(&[seg(1, 8192), seg(2, 4)], &[]).unwrap();
    // What nfsd returns: the offered segments, with the lengths written.
    assert_eq!(check(&o, false, &[&[seg(1, 8000), seg(2, 0)]], None), Ok(()));
    assert_eq!(check(&o, false, &[&[seg(1, 8192)]], None), Ok(()));
    assert_eq!(
        check(&o, false, &[&[seg(9, 8000), seg(2, 0)]], None),
        Err(Mismatch::WrongHandle { index: 0 })
    );
    assert_eq!(
        check(&o, false, &[&[seg(1, 8193)]], None),
        Err(Mismatch::TooLong { index: 0 })
    );
    assert_eq!(
        check(&o, false, &[&[seg(1, 1), seg(2, 1), seg(3, 1)]], None),
        Err(Mismatch::TooManySegments)
    );
}

/// Finding 14: RDMA_NOMSG with a reply chunk the Call never offered.
#[test]
fn unoffered_reply_chunk_is_refused() {
    let forged = [seg(0x1234, 300)];
    assert_eq!(
        check(&Offered::NONE, true, &[], Some(&forged)),
        Err(Mismatch::ReplyChunkNotOffered)
    );
    let mut o = Offered::NONE;
    o.set(&[seg(1, 8192)], &[]).unwrap();
    assert_eq!(check(&o, true, &[], Some(&forged)), Err(Mismatch::ReplyChunkNotOffered));
    // A zero-length reply chunk in RDMA_MSG that was never offered.
    assert_eq!(
        check(&Offered::NONE, false, &[], Some(&[seg(4, 0)])),
        Err(Mismatch::ReplyChunkNotOffered)
    );
}

#[test]
fn returned_reply_chunk_must_match_the_offer() {
    let mut o = Offered::NONE;
    o.set(&[], &[seg(5, 4096), seg(6, 4096)]).unwrap();
    assert_eq!(check(&o, true, &[], Some(&[seg(5, 4096), seg(6, 100)])), Ok(()));
    assert_eq!(check(&o, false, &[], Some(&[seg(5, 0)])), Ok(()));
    assert_eq!(
        check(&o, true, &[], Some(&[seg(5, 4096), seg(7, 100)])),
        Err(Mismatch::WrongHandle { index: 1 })
    );
    assert_eq!(
        check(&o, true, &[], Some(&[seg(5, 5000)])),
        Err(Mismatch::TooLong { index: 0 })
    );
}

#[test]
fn oversized_offers_record_nothing() {
    let mut o = Offered::NONE;
    o.set(&[seg(1, 8192)], &[]).unwrap();
    let too_many = vec![seg(1, 1); MAX_WRITE_SEGS + 1];
    assert_eq!(o.set(&too_many, &[]), Err(()));
    // The failed set left nothing offered behind.
    assert_eq!(
        check(&o, false, &[&[seg(1, 10)]], None),
        Err(Mismatch::WriteListNotOffered)
    );
}
