// SPDX-License-Identifier: GPL-2.0

//! Hand-built transport headers, laid out as RFC 8166 Section 4 specifies.

use super::words;
use crate::proto::header::*;
use crate::proto::xdr::NoSpace;

const XID: u32 = 0x1122_3344;
/// RPC message direction words (RFC 5531).
const CALL: u32 = 0;
const REPLY: u32 = 1;

fn limits() -> Limits {
    Limits::for_client(8, 1 << 20)
}

fn decode(msg: &[u8]) -> Result<ReplyBody<'_>, DecodeError> {
    decode_with(msg, &limits())
}

fn decode_with<'a>(msg: &'a [u8], limits: &Limits) -> Result<ReplyBody<'a>, DecodeError> {
    Fixed::decode(msg)?.decode_reply_body(msg, limits)
}

fn msg(body: ReplyBody<'_>) -> MsgReply<'_> {
    match body {
        ReplyBody::Msg(m) => m,
        other => panic!("expected RDMA_MSG, got {other:?}"),
    }
}

/// An RDMA_MSG reply with no chunks, followed by the start of an RPC reply.
fn inline_reply() -> Vec<u8> {
    words(&[XID, 1, 32, RDMA_MSG, 0, 0, 0, XID, REPLY])
}

/// An NFS READ reply (RFC 8166 Section 3.5.3): one write chunk of two
/// segments, the second of odd length, then the inline RPC reply.
fn write_list_reply() -> Vec<u8> {
    words(&[
        XID, 1, 32, RDMA_MSG, // fixed
        0,        // read list: empty
        1, 2, // write list: one chunk of two segments
        0xaaaa, 4096, 0, 0x1000, // segment 1
        0xbbbb, 101, 0x1, 0x2000, // segment 2 (offset 0x1_0000_2000)
        0,      // write list ends
        0,      // no reply chunk
        XID, REPLY, 0, 0,
    ])
}

/// An RDMA_NOMSG reply whose RPC reply was written into the reply chunk.
fn nomsg_reply() -> Vec<u8> {
    words(&[XID, 1, 32, RDMA_NOMSG, 0, 0, 1, 1, 0xcccc, 2000, 0, 0x3000])
}

#[test]
fn fixed_fields() {
    let m = write_list_reply();
    assert_eq!(
        Fixed::decode(&m),
        Ok(Fixed {
            xid: XID,
            credits: 32,
            proc_: RDMA_MSG
        })
    );
}

#[test]
fn inline_msg_reply() {
    let m = inline_reply();
    let body = msg(decode(&m).unwrap());
    assert!(body.write_list.is_empty());
    assert!(!body.reply_chunk_present);
    assert_eq!(body.rpc_offset, HDRLEN_MIN);
    assert_eq!(body.rpc_message, &m[28..]);
    assert_eq!(body.rpc_len(), 8);
    assert!(!body.is_backchannel_call(XID));
}

#[test]
fn backchannel_call_detection() {
    let m = words(&[XID, 1, 32, RDMA_MSG, 0, 0, 0, XID, CALL, 2]);
    let body = msg(decode(&m).unwrap());
    assert!(body.is_backchannel_call(XID));
    assert!(!body.is_backchannel_call(XID ^ 1));
    // Too short to carry the RPC direction.
    let m = words(&[XID, 1, 32, RDMA_MSG, 0, 0, 0, XID]);
    assert!(!msg(decode(&m).unwrap()).is_backchannel_call(XID));
    // Any chunk rules it out.
    let m = words(&[XID, 1, 32, RDMA_MSG, 0, 0, 1, 0, XID, CALL]);
    assert!(!msg(decode(&m).unwrap()).is_backchannel_call(XID));
}

#[test]
fn backchannel_call_from_fixed_header() {
    let call = words(&[XID, 1, 16, RDMA_MSG, 0, 0, 0, XID, CALL, 2]);
    let fixed = Fixed::decode(&call).unwrap();
    assert_eq!(fixed.backchannel_call(&call), Some(&call[28..]));
    // A reply to one of our calls.
    let reply = words(&[XID, 1, 16, RDMA_MSG, 0, 0, 0, XID, 1, 0]);
    assert_eq!(Fixed::decode(&reply).unwrap().backchannel_call(&reply), None);
    // RDMA_NOMSG never carries a backchannel call.
    let nomsg = words(&[XID, 1, 16, RDMA_NOMSG, 0, 0, 0, XID, CALL]);
    assert_eq!(Fixed::decode(&nomsg).unwrap().backchannel_call(&nomsg), None);
    // A write chunk, or a malformed list, rules it out without a panic.
    let chunked = words(&[XID, 1, 16, RDMA_MSG, 0, 1, 1, 7, 8, 0, 9, 0, 0, XID, CALL]);
    assert_eq!(Fixed::decode(&chunked).unwrap().backchannel_call(&chunked), None);
    let bad = words(&[XID, 1, 16, RDMA_MSG, 0, 0, 5, XID, CALL]);
    assert_eq!(Fixed::decode(&bad).unwrap().backchannel_call(&bad), None);
    // The XID of the RPC message must be the transport header's.
    let other = words(&[XID, 1, 16, RDMA_MSG, 0, 0, 0, XID ^ 1, CALL]);
    assert_eq!(Fixed::decode(&other).unwrap().backchannel_call(&other), None);
}

#[test]
fn write_list_reply_segments() {
    let m = write_list_reply();
    let body = msg(decode(&m).unwrap());
    assert_eq!(body.write_list.chunk_count(), 1);
    assert_eq!(body.write_list.total_len(), 4197);
    let chunks: Vec<_> = body.write_list.chunks().collect();
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].segment_count(), 2);
    let segs: Vec<_> = chunks[0].segments().collect();
    assert_eq!(
        segs,
        [
            Segment {
                handle: 0xaaaa,
                length: 4096,
                offset: 0x1000
            },
            Segment {
                handle: 0xbbbb,
                length: 101,
                offset: 0x1_0000_2000
            },
        ]
    );
    assert_eq!(body.rpc_offset, 4 * 17);
    assert_eq!(body.rpc_message.len(), 16);
    // 16 inline bytes plus 4197 rounded up to 4200.
    assert_eq!(body.rpc_len(), 16 + 4200);
    assert_eq!(body.write_list.as_bytes(), &m[20..60]);
}

#[test]
fn nomsg_reply_chunk() {
    let m = nomsg_reply();
    match decode(&m).unwrap() {
        ReplyBody::NoMsg { reply_chunk } => {
            assert_eq!(reply_chunk.total_len(), 2000);
            assert_eq!(reply_chunk.as_bytes(), &m[32..48]);
            assert_eq!(
                reply_chunk.segments().collect::<Vec<_>>(),
                [Segment {
                    handle: 0xcccc,
                    length: 2000,
                    offset: 0x3000
                }]
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn rdma_error_bodies() {
    let m = words(&[XID, 1, 0, RDMA_ERROR, ERR_VERS, 1, 1]);
    assert_eq!(
        decode(&m),
        Ok(ReplyBody::Error(ErrorBody::Vers { low: 1, high: 1 }))
    );
    let m = words(&[XID, 1, 0, RDMA_ERROR, ERR_CHUNK]);
    assert_eq!(decode(&m), Ok(ReplyBody::Error(ErrorBody::Chunk)));
    let m = words(&[XID, 1, 0, RDMA_ERROR, 3]);
    assert_eq!(decode(&m), Err(DecodeError::UnknownErrorCode { code: 3 }));
    let m = words(&[XID, 1, 0, RDMA_ERROR, ERR_VERS, 1]);
    assert_eq!(decode(&m), Err(DecodeError::Truncated { offset: 24 }));
    let m = words(&[XID, 1, 0, RDMA_ERROR, ERR_CHUNK, 0]);
    assert_eq!(decode(&m), Err(DecodeError::TrailingData { offset: 20 }));
    let m = words(&[XID, 1, 0, RDMA_ERROR]);
    assert_eq!(decode(&m), Err(DecodeError::Truncated { offset: 16 }));
}

#[test]
fn every_short_prefix_is_truncated() {
    for m in [write_list_reply(), nomsg_reply()] {
        let header_len = if m == nomsg_reply() { m.len() } else { 4 * 17 };
        for len in 0..header_len {
            match decode(&m[..len]) {
                Err(DecodeError::Truncated { offset }) => {
                    assert!(offset <= len, "offset {offset} beyond prefix {len}");
                }
                other => panic!("prefix of {len} bytes decoded as {other:?}"),
            }
        }
    }
}

#[test]
fn version_and_proc_checks() {
    let m = words(&[XID, 2, 1, RDMA_MSG, 0, 0, 0]);
    assert_eq!(
        Fixed::decode(&m),
        Err(DecodeError::BadVersion { version: 2 })
    );
    for (p, err) in [
        (RDMA_MSGP, DecodeError::ObsoleteProc { proc_: RDMA_MSGP }),
        (RDMA_DONE, DecodeError::ObsoleteProc { proc_: RDMA_DONE }),
        (5, DecodeError::UnknownProc { proc_: 5 }),
        (u32::MAX, DecodeError::UnknownProc { proc_: u32::MAX }),
    ] {
        let m = words(&[XID, 1, 1, p, 0, 0, 0]);
        // The fixed words still decode, so the RPC can be matched and failed.
        assert_eq!(Fixed::decode(&m).unwrap().proc_, p);
        assert_eq!(decode(&m), Err(err));
    }
}

#[test]
fn discriminators_must_be_zero_or_one() {
    for (at, words_) in [(16, [2, 0, 0]), (20, [0, 0x8000_0000, 0]), (24, [0, 0, 7])] {
        let mut w = vec![XID, 1, 1, RDMA_MSG];
        w.extend_from_slice(&words_);
        let m = words(&w);
        let value = words_[(at - 16) / 4];
        assert_eq!(
            decode(&m),
            Err(DecodeError::BadDiscriminator { offset: at, value })
        );
    }
}

#[test]
fn read_list_in_reply_is_rejected() {
    let m = words(&[XID, 1, 1, RDMA_MSG, 1, 0, 0xdd, 512, 0, 0, 0, 0, 0]);
    assert_eq!(decode(&m), Err(DecodeError::ReadListInReply));
    let m = words(&[XID, 1, 1, RDMA_NOMSG, 1, 0, 0xdd, 512, 0, 0, 0, 0, 0]);
    assert_eq!(decode(&m), Err(DecodeError::ReadListInReply));
}

#[test]
fn segment_count_limits() {
    let mut w = vec![XID, 1, 1, RDMA_MSG, 0, 1, 10];
    w.extend(std::iter::repeat_n(0, 40));
    w.extend([0, 0]);
    let m = words(&w);
    assert_eq!(
        decode(&m),
        Err(DecodeError::TooManySegments { count: 10, max: 9 })
    );
    // A huge count is refused before anything is multiplied or read.
    let m = words(&[XID, 1, 1, RDMA_MSG, 0, 1, u32::MAX, 0, 0]);
    assert_eq!(
        decode(&m),
        Err(DecodeError::TooManySegments {
            count: u32::MAX,
            max: 9
        })
    );
    // Same for the reply chunk.
    let m = words(&[XID, 1, 1, RDMA_NOMSG, 0, 0, 1, 10]);
    assert_eq!(
        decode(&m),
        Err(DecodeError::TooManySegments { count: 10, max: 9 })
    );
}

#[test]
fn write_list_must_end_within_limit() {
    let m = words(&[
        XID, 1, 1, RDMA_MSG, 0, 1, 1, 1, 8, 0, 0, 1, 1, 2, 8, 0, 0, 0, 0,
    ]);
    assert_eq!(decode(&m), Err(DecodeError::TooManyWriteChunks { max: 1 }));
    let two = Limits {
        max_write_chunks: 2,
        ..limits()
    };
    let body = msg(decode_with(&m, &two).unwrap());
    assert_eq!(body.write_list.chunk_count(), 2);
    assert_eq!(body.write_list.total_len(), 16);
    let lens: Vec<_> = body.write_list.chunks().map(|c| c.total_len()).collect();
    assert_eq!(lens, [8, 8]);
    // A list that runs off the end of the message.
    let m = words(&[XID, 1, 1, RDMA_MSG, 0, 1, 1, 1, 8, 0, 0]);
    assert_eq!(decode(&m), Err(DecodeError::Truncated { offset: 44 }));
}

#[test]
fn chunk_lengths_are_bounded_by_the_receive_buffer() {
    let small = Limits {
        max_chunk_len: 4000,
        ..limits()
    };
    let m = words(&[XID, 1, 1, RDMA_MSG, 0, 1, 1, 1, 4096, 0, 0, 0, 0]);
    assert_eq!(
        decode_with(&m, &small),
        Err(DecodeError::ChunkTooLong {
            len: 4096,
            max: 4000
        })
    );
    // Lengths are summed in 64 bits: no wrap-around to a small total.
    let m = words(&[
        XID,
        1,
        1,
        RDMA_MSG,
        0,
        1,
        2,
        1,
        u32::MAX,
        0,
        0,
        2,
        2,
        0,
        0,
        0,
        0,
    ]);
    assert_eq!(
        decode(&m),
        Err(DecodeError::ChunkTooLong {
            len: u64::from(u32::MAX) + 2,
            max: 1 << 20
        })
    );
    let m = words(&[XID, 1, 1, RDMA_NOMSG, 0, 0, 1, 1, 1, 4097, 0, 0]);
    assert_eq!(
        decode_with(&m, &small),
        Err(DecodeError::ChunkTooLong {
            len: 4097,
            max: 4000
        })
    );
}

#[test]
fn msg_and_nomsg_sanity_checks() {
    // RDMA_MSG may return an unused (zero-length) reply chunk...
    let m = words(&[XID, 1, 1, RDMA_MSG, 0, 0, 1, 1, 1, 0, 0, 0]);
    assert!(msg(decode(&m).unwrap()).reply_chunk_present);
    // ...but not one that carries data.
    let m = words(&[XID, 1, 1, RDMA_MSG, 0, 0, 1, 1, 1, 8, 0, 0]);
    assert_eq!(decode(&m), Err(DecodeError::ReplyChunkInMsg));
    // RDMA_NOMSG needs a reply chunk that carries data...
    let m = words(&[XID, 1, 1, RDMA_NOMSG, 0, 0, 0]);
    assert_eq!(decode(&m), Err(DecodeError::MissingReplyChunk));
    let m = words(&[XID, 1, 1, RDMA_NOMSG, 0, 0, 1, 0]);
    assert_eq!(decode(&m), Err(DecodeError::MissingReplyChunk));
    // ...no write list payload...
    let m = words(&[
        XID, 1, 1, RDMA_NOMSG, 0, 1, 1, 1, 8, 0, 0, 0, 1, 1, 1, 8, 0, 0,
    ]);
    assert_eq!(decode(&m), Err(DecodeError::WriteListInNoMsg));
    // ...and nothing after the header.
    let mut m = nomsg_reply();
    m.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(decode(&m), Err(DecodeError::TrailingData { offset: 48 }));
}

#[test]
fn encode_call_with_read_list_and_reply_chunk() {
    let read = [ReadSegment {
        position: 132,
        segment: Segment {
            handle: 7,
            length: 8192,
            offset: 0xffff_0000_0000_1000,
        },
    }];
    let reply = [Segment {
        handle: 9,
        length: 1024,
        offset: 0x2000,
    }];
    let header = Header {
        xid: XID,
        credits: 128,
        body: Body::Msg(ChunkLists {
            read: &read,
            write: &[],
            reply: Some(&reply),
        }),
    };
    let expected = words(&[
        XID,
        1,
        128,
        RDMA_MSG, // fixed
        1,
        132,
        7,
        8192,
        0xffff_0000,
        0x1000,
        0, // read list
        0, // write list
        1,
        1,
        9,
        1024,
        0,
        0x2000, // reply chunk
    ]);
    let mut buf = [0u8; 128];
    assert_eq!(header.encode(&mut buf), Ok(expected.len()));
    assert_eq!(&buf[..expected.len()], &expected[..]);
    for short in 0..expected.len() {
        assert_eq!(header.encode(&mut buf[..short]), Err(NoSpace));
    }

    let limits = limits();
    let fixed = Fixed::decode(&expected).unwrap();
    let call = fixed.decode_call_body(&expected, &limits).unwrap();
    assert!(!call.nomsg);
    assert_eq!(call.read_list.items().collect::<Vec<_>>(), read);
    assert!(!call.read_list.is_empty());
    assert!(call.write_list.is_empty());
    let rc = call.reply_chunk.unwrap();
    assert_eq!(rc.segments().collect::<Vec<_>>(), reply);
    assert_eq!(call.rpc_offset, expected.len());
    assert!(call.rpc_message.is_empty());
}

#[test]
fn encode_backchannel_reply_and_errors() {
    let mut buf = [0u8; 64];
    let header = Header {
        xid: XID,
        credits: 1,
        body: Body::Msg(ChunkLists::default()),
    };
    assert_eq!(header.encode(&mut buf), Ok(HDRLEN_MIN));
    assert_eq!(&buf[..28], &words(&[XID, 1, 1, 0, 0, 0, 0])[..]);

    for (body, expect) in [
        (
            ErrorBody::Vers { low: 1, high: 2 },
            words(&[XID, 1, 0, RDMA_ERROR, ERR_VERS, 1, 2]),
        ),
        (ErrorBody::Chunk, words(&[XID, 1, 0, RDMA_ERROR, ERR_CHUNK])),
    ] {
        let h = Header {
            xid: XID,
            credits: 0,
            body: Body::Error(body),
        };
        let n = h.encode(&mut buf).unwrap();
        assert_eq!(&buf[..n], &expect[..]);
        assert_eq!(decode(&buf[..n]), Ok(ReplyBody::Error(body)));
    }
}

#[test]
fn call_decoder_refuses_replies_only_procs() {
    let m = words(&[XID, 1, 0, RDMA_ERROR, ERR_CHUNK]);
    let fixed = Fixed::decode(&m).unwrap();
    assert_eq!(
        fixed.decode_call_body(&m, &limits()),
        Err(DecodeError::NotACall)
    );
    let m = words(&[XID, 1, 0, RDMA_NOMSG, 0, 0, 0, 5]);
    let fixed = Fixed::decode(&m).unwrap();
    assert_eq!(
        fixed.decode_call_body(&m, &limits()),
        Err(DecodeError::TrailingData { offset: 28 })
    );
    let mut w = vec![XID, 1, 0, RDMA_MSG];
    for _ in 0..10 {
        w.extend([1, 0, 1, 8, 0, 0]);
    }
    w.extend([0, 0, 0]);
    let m = words(&w);
    let fixed = Fixed::decode(&m).unwrap();
    assert_eq!(
        fixed.decode_call_body(&m, &limits()),
        Err(DecodeError::TooManySegments { count: 10, max: 9 })
    );
}

/// The header `marshal` encodes for a 4 KiB READ (one write-chunk
/// segment), `XPRS_ENCODE_REPS` times (default 0). For counting
/// instructions on the host, e.g. `valgrind --tool=callgrind` of this test
/// at 0 and at 1000 repetitions.
#[test]
#[ignore]
fn encode_cost_4k_read() {
    use std::hint::black_box;
    let reps: usize = std::env::var("XPRS_ENCODE_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let seg = [Segment {
        handle: 7,
        length: 4096,
        offset: 0x1122_3344_0000_1000,
    }];
    let write = [&seg[..]];
    let mut buf = [0u8; 1024];
    let mut sum = 0;
    for _ in 0..reps {
        let header = Header {
            xid: XID,
            credits: 128,
            body: Body::Msg(ChunkLists {
                read: &[],
                write: black_box(&write),
                reply: None,
            }),
        };
        sum += black_box(&header).encode(black_box(&mut buf)).unwrap();
    }
    assert_eq!(sum, reps * 52);
}

/// Fixed::decode and decode_reply_body of the Reply to a 4 KiB READ (one
/// write chunk of one segment, then a 100-byte RPC reply),
/// `XPRS_DECODE_REPS` times (default 0): for counting instructions on the
/// host, e.g. `valgrind --tool=callgrind` of this test at 0 and at 1000
/// repetitions.
#[test]
#[ignore]
fn decode_cost_4k_read_reply() {
    use std::hint::black_box;
    let reps: usize = std::env::var("XPRS_DECODE_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut w = vec![XID, 1, 128, RDMA_MSG, 0, 1, 1, 7, 4096, 0x1122_3344, 0x1000, 0, 0];
    w.extend([0u32; 25]);
    let m = words(&w);
    let limits = Limits::for_client(8, 8192);
    let mut sum = 0;
    for _ in 0..reps {
        let msg = black_box(&m[..]);
        let fixed = Fixed::decode(msg).unwrap();
        match fixed.decode_reply_body(msg, black_box(&limits)).unwrap() {
            ReplyBody::Msg(r) => sum += r.rpc_offset + r.write_list.total_len() as usize,
            _ => unreachable!(),
        }
    }
    assert_eq!(sum, reps * (52 + 4096));
}
