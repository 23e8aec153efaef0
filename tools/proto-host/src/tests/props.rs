// SPDX-License-Identifier: GPL-2.0

//! Property tests: codec round trips, decoder totality and bounds, chunk
//! plan coverage, and a model-based check of the sendctx ring.

use super::check_prop;
use crate::proto::chunk::*;
use crate::proto::cm_private::*;
use crate::proto::header::*;
use crate::proto::lifetime::*;
use crate::proto::sendctx::*;
use core::sync::atomic::AtomicU32;
use proptest::collection::vec;
use proptest::prelude::*;
use std::collections::VecDeque;

fn segment() -> impl Strategy<Value = Segment> {
    (any::<u32>(), 0..=65536u32, any::<u64>()).prop_map(|(handle, length, offset)| Segment {
        handle,
        length,
        offset,
    })
}

fn limits() -> Limits {
    Limits::for_client(8, 1 << 20)
}

/// A reply the decoder must accept, described by its parts.
#[derive(Debug, Clone)]
enum ReplyCase {
    Msg {
        write: Option<Vec<Segment>>,
        unused_reply_chunk: Option<Vec<Segment>>,
        payload: Vec<u8>,
    },
    NoMsg {
        reply: Vec<Segment>,
    },
    Error(ErrorBody),
}

fn reply_case() -> impl Strategy<Value = ReplyCase> {
    let zero_len = vec(segment(), 0..=9).prop_map(|mut segs| {
        segs.iter_mut().for_each(|s| s.length = 0);
        segs
    });
    prop_oneof![
        (
            proptest::option::of(vec(segment(), 0..=9)),
            proptest::option::of(zero_len),
            vec(any::<u8>(), 0..64)
        )
            .prop_map(|(write, unused_reply_chunk, payload)| ReplyCase::Msg {
                write,
                unused_reply_chunk,
                payload
            }),
        vec(segment(), 1..=9)
            .prop_filter("reply chunk carries data", |segs| segs
                .iter()
                .any(|s| s.length != 0))
            .prop_map(|reply| ReplyCase::NoMsg { reply }),
        (any::<u32>(), any::<u32>())
            .prop_map(|(low, high)| ReplyCase::Error(ErrorBody::Vers { low, high })),
        Just(ReplyCase::Error(ErrorBody::Chunk)),
    ]
}

/// Calls `f` with the header body that `case` describes.
fn with_reply_body<R>(case: &ReplyCase, f: impl FnOnce(Body<'_>) -> R) -> R {
    match case {
        ReplyCase::Msg {
            write,
            unused_reply_chunk,
            ..
        } => {
            let write_chunks: Vec<&[Segment]> = write.iter().map(Vec::as_slice).collect();
            f(Body::Msg(ChunkLists {
                read: &[],
                write: &write_chunks,
                reply: unused_reply_chunk.as_deref(),
            }))
        }
        ReplyCase::NoMsg { reply } => f(Body::NoMsg(ChunkLists {
            read: &[],
            write: &[],
            reply: Some(reply),
        })),
        ReplyCase::Error(e) => f(Body::Error(*e)),
    }
}

fn encode_reply(xid: u32, credits: u32, case: &ReplyCase) -> Vec<u8> {
    let mut buf = vec![0u8; 1024];
    let n = with_reply_body(case, |body| Header { xid, credits, body }.encode(&mut buf)).unwrap();
    buf.truncate(n);
    if let ReplyCase::Msg { payload, .. } = case {
        buf.extend_from_slice(payload);
    }
    buf
}

fn total(segs: &[Segment]) -> u64 {
    segs.iter().map(|s| u64::from(s.length)).sum()
}

#[test]
fn reply_round_trip() {
    check_prop(
        "reply_round_trip",
        2048,
        (any::<u32>(), any::<u32>(), reply_case()),
        |(xid, credits, case)| {
            let m = encode_reply(xid, credits, &case);
            let fixed = Fixed::decode(&m).unwrap();
            prop_assert_eq!((fixed.xid, fixed.credits), (xid, credits));
            let body = fixed.decode_reply_body(&m, &limits());
            match (&case, body) {
                (
                    ReplyCase::Msg {
                        write,
                        unused_reply_chunk,
                        payload,
                    },
                    Ok(ReplyBody::Msg(r)),
                ) => {
                    let chunks: Vec<Vec<Segment>> = r
                        .write_list
                        .chunks()
                        .map(|c| c.segments().collect())
                        .collect();
                    let want: Vec<Vec<Segment>> = write.iter().cloned().collect();
                    prop_assert_eq!(chunks, want);
                    prop_assert_eq!(r.write_list.total_len(), write.as_deref().map_or(0, total));
                    prop_assert_eq!(r.reply_chunk_present, unused_reply_chunk.is_some());
                    prop_assert_eq!(r.rpc_message, &payload[..]);
                    prop_assert_eq!(r.rpc_offset + payload.len(), m.len());
                }
                (ReplyCase::NoMsg { reply }, Ok(ReplyBody::NoMsg { reply_chunk })) => {
                    prop_assert_eq!(reply_chunk.segments().collect::<Vec<_>>(), reply.clone());
                    prop_assert_eq!(reply_chunk.total_len(), total(reply));
                }
                (ReplyCase::Error(e), Ok(ReplyBody::Error(got))) => prop_assert_eq!(*e, got),
                (case, got) => prop_assert!(false, "{:?} decoded as {:?}", case, got),
            }
            Ok(())
        },
    );
}

#[test]
fn call_round_trip() {
    let read_item =
        (any::<u32>(), segment()).prop_map(|(position, segment)| ReadSegment { position, segment });
    check_prop(
        "call_round_trip",
        1024,
        (
            any::<bool>(),
            vec(read_item, 0..=9),
            vec(vec(segment(), 0..=9), 0..=2),
            proptest::option::of(vec(segment(), 0..=9)),
            vec(any::<u8>(), 0..32),
        ),
        |(nomsg, read, write, reply, payload)| {
            let write_refs: Vec<&[Segment]> = write.iter().map(Vec::as_slice).collect();
            let lists = ChunkLists {
                read: &read,
                write: &write_refs,
                reply: reply.as_deref(),
            };
            let body = if nomsg {
                Body::NoMsg(lists)
            } else {
                Body::Msg(lists)
            };
            let mut buf = vec![0u8; 2048];
            let n = Header {
                xid: 7,
                credits: 128,
                body,
            }
            .encode(&mut buf)
            .unwrap();
            buf.truncate(n);
            if !nomsg {
                buf.extend_from_slice(&payload);
            }
            let limits = Limits {
                max_write_chunks: 2,
                ..limits()
            };
            let call = Fixed::decode(&buf)
                .unwrap()
                .decode_call_body(&buf, &limits)
                .unwrap();
            prop_assert_eq!(call.nomsg, nomsg);
            prop_assert_eq!(call.read_list.items().collect::<Vec<_>>(), read);
            let got: Vec<Vec<Segment>> = call
                .write_list
                .chunks()
                .map(|c| c.segments().collect())
                .collect();
            prop_assert_eq!(got, write);
            prop_assert_eq!(
                call.reply_chunk.map(|c| c.segments().collect::<Vec<_>>()),
                reply
            );
            prop_assert_eq!(call.rpc_offset, n);
            prop_assert_eq!(call.rpc_message.len(), buf.len() - n);
            Ok(())
        },
    );
}

/// Returns true if `inner` lies within `outer`.
fn within(inner: &[u8], outer: &[u8]) -> bool {
    let o = outer.as_ptr_range();
    let i = inner.as_ptr_range();
    i.start >= o.start && i.end <= o.end
}

/// What `Fixed::backchannel_call` is defined as: a decode that admits no
/// chunk at all, then `MsgReply::is_backchannel_call`.
fn backchannel_call_by_decode<'a>(fixed: &Fixed, msg: &'a [u8]) -> Option<&'a [u8]> {
    if fixed.proc_ != RDMA_MSG {
        return None;
    }
    let no_chunks = Limits {
        max_segments: 0,
        max_write_chunks: 0,
        max_chunk_len: 0,
    };
    match fixed.decode_reply_body(msg, &no_chunks) {
        Ok(ReplyBody::Msg(m)) if m.is_backchannel_call(fixed.xid) => Some(m.rpc_message),
        _ => None,
    }
}

/// `Fixed::backchannel_call` (a peek at five words) says what the decode
/// it stands for says, on messages made of the words that matter there
/// (zero, one, the XID, CALL and REPLY), of any length.
#[test]
fn backchannel_call_peek_matches_decode() {
    const XID: u32 = 0x0102_0304;
    // Zero and the XID often enough that calls (three zero lists, the
    // XID, CALL) and near misses come up in a few percent of the cases.
    let word = prop_oneof![4 => Just(0u32), 1 => Just(1u32), 1 => Just(2u32), 2 => Just(XID), 1 => any::<u32>()];
    let proc_ = prop_oneof![Just(RDMA_MSG), Just(RDMA_NOMSG), Just(RDMA_ERROR)];
    check_prop(
        "backchannel_call_peek_matches_decode",
        4096,
        (proc_, vec(word, 0..12), 0..4usize),
        |(proc_, body, cut)| {
            let mut m: Vec<u8> = [XID, 1, 16, proc_]
                .iter()
                .chain(body.iter())
                .flat_map(|w| w.to_be_bytes())
                .collect();
            // A length that is not a whole number of words, too.
            m.truncate(m.len() - cut.min(m.len() - 16));
            let fixed = Fixed::decode(&m).unwrap();
            prop_assert_eq!(fixed.backchannel_call(&m), backchannel_call_by_decode(&fixed, &m));
            Ok(())
        },
    );
}

/// Decodes `data` from the middle of a guard buffer and checks that every
/// view the decoder returns lies within `data` and is self-consistent.
fn check_decode_in_bounds(data: &[u8], limits: &Limits) -> Result<(), TestCaseError> {
    const GUARD: usize = 64;
    let mut guarded = vec![0xa5u8; GUARD + data.len() + GUARD];
    guarded[GUARD..GUARD + data.len()].copy_from_slice(data);
    let input = &guarded[GUARD..GUARD + data.len()];
    let Ok(fixed) = Fixed::decode(input) else {
        return Ok(());
    };
    let check_chunk = |c: &Chunk<'_>| -> Result<(), TestCaseError> {
        prop_assert!(within(c.as_bytes(), input));
        let segs: Vec<_> = c.segments().collect();
        prop_assert_eq!(segs.len(), c.segment_count());
        prop_assert!(segs.len() as u64 <= u64::from(limits.max_segments));
        prop_assert_eq!(total(&segs), c.total_len());
        prop_assert!(c.total_len() <= u64::from(limits.max_chunk_len));
        Ok(())
    };
    let check_write_list = |w: &WriteList<'_>| -> Result<(), TestCaseError> {
        prop_assert!(within(w.as_bytes(), input));
        let chunks: Vec<_> = w.chunks().collect();
        prop_assert_eq!(chunks.len() as u64, u64::from(w.chunk_count()));
        prop_assert!(w.chunk_count() <= limits.max_write_chunks);
        let mut sum = 0;
        for c in &chunks {
            check_chunk(c)?;
            sum += c.total_len();
        }
        prop_assert_eq!(sum, w.total_len());
        Ok(())
    };
    if let Some(call) = fixed.backchannel_call(input) {
        prop_assert!(within(call, input));
    }
    prop_assert_eq!(fixed.backchannel_call(input), backchannel_call_by_decode(&fixed, input));
    match fixed.decode_reply_body(input, limits) {
        Ok(ReplyBody::Msg(m)) => {
            check_write_list(&m.write_list)?;
            prop_assert!(within(m.rpc_message, input));
            prop_assert_eq!(m.rpc_offset + m.rpc_message.len(), input.len());
            let _ = m.is_backchannel_call(fixed.xid);
            let _ = m.rpc_len();
        }
        Ok(ReplyBody::NoMsg { reply_chunk }) => {
            check_chunk(&reply_chunk)?;
            prop_assert!(reply_chunk.total_len() > 0);
        }
        Ok(ReplyBody::Error(_)) => {}
        Err(DecodeError::Truncated { offset })
        | Err(DecodeError::BadDiscriminator { offset, .. })
        | Err(DecodeError::TrailingData { offset }) => prop_assert!(offset <= input.len()),
        Err(_) => {}
    }
    if let Ok(call) = fixed.decode_call_body(input, limits) {
        check_write_list(&call.write_list)?;
        prop_assert!(within(call.read_list.as_bytes(), input));
        prop_assert!(call.read_list.items().count() as u64 <= u64::from(limits.max_segments));
        if let Some(c) = call.reply_chunk {
            check_chunk(&c)?;
        }
        prop_assert!(within(call.rpc_message, input));
        prop_assert_eq!(call.rpc_offset + call.rpc_message.len(), input.len());
    }
    Ok(())
}

fn any_limits() -> impl Strategy<Value = Limits> {
    (
        0..=20u32,
        0..=3u32,
        prop_oneof![Just(u32::MAX), 0..=100_000u32],
    )
        .prop_map(|(max_segments, max_write_chunks, max_chunk_len)| Limits {
            max_segments,
            max_write_chunks,
            max_chunk_len,
        })
}

#[test]
fn arbitrary_bytes_decode_in_bounds() {
    check_prop(
        "arbitrary_bytes_decode_in_bounds",
        8192,
        (vec(any::<u8>(), 0..512), any_limits()),
        |(data, limits)| check_decode_in_bounds(&data, &limits),
    );
}

/// Small words make valid structure likely, so deep paths get exercised.
#[test]
fn structured_words_decode_in_bounds() {
    let word = prop_oneof![4 => 0..=5u32, 1 => any::<u32>()];
    check_prop(
        "structured_words_decode_in_bounds",
        8192,
        (any::<u32>(), vec(word, 0..48), 0..4usize, any_limits()),
        |(xid, body, cut, limits)| {
            let mut m = super::words(&[xid, 1]);
            m.extend(super::words(&body));
            m.truncate(m.len().saturating_sub(cut));
            check_decode_in_bounds(&m, &limits)
        },
    );
}

#[test]
fn mutated_replies_decode_in_bounds() {
    check_prop(
        "mutated_replies_decode_in_bounds",
        4096,
        (
            reply_case(),
            any::<prop::sample::Index>(),
            any::<u8>(),
            any::<prop::sample::Index>(),
        ),
        |(case, at, byte, cut)| {
            let mut m = encode_reply(1, 1, &case);
            let i = at.index(m.len());
            m[i] = byte;
            let keep = cut.index(m.len() + 1);
            check_decode_in_bounds(&m[..keep], &limits())
        },
    );
}

#[test]
fn encoder_never_overruns() {
    check_prop(
        "encoder_never_overruns",
        1024,
        (reply_case(), 0..400usize),
        |(case, room)| {
            let full = encode_reply(3, 4, &case);
            let mut buf = vec![0x5au8; room + 16];
            let header_len = match &case {
                ReplyCase::Msg { payload, .. } => full.len() - payload.len(),
                _ => full.len(),
            };
            let r = with_reply_body(&case, |body| {
                Header {
                    xid: 3,
                    credits: 4,
                    body,
                }
                .encode(&mut buf[..room])
            });
            if room >= header_len {
                prop_assert_eq!(r, Ok(header_len));
                prop_assert_eq!(&buf[..header_len], &full[..header_len]);
            } else {
                prop_assert!(r.is_err());
            }
            prop_assert!(buf[room..].iter().all(|b| *b == 0x5a));
            Ok(())
        },
    );
}

#[test]
fn private_data_round_trip_and_totality() {
    check_prop(
        "private_data_round_trip",
        2048,
        (1024..=262_144u32, 1024..=262_144u32, any::<u8>()),
        |(send, recv, flags)| {
            let send_size = InlineSize::new(send).unwrap();
            let recv_size = InlineSize::new(recv).unwrap();
            let msg = ConnectPrivate {
                flags,
                send_size,
                recv_size,
            };
            let decoded = ConnectPrivate::decode(&msg.encode()).unwrap();
            prop_assert_eq!(decoded, msg);
            prop_assert_eq!(send_size.bytes(), send - send % 1024);
            Ok(())
        },
    );
    check_prop(
        "private_data_arbitrary",
        2048,
        vec(any::<u8>(), 0..16),
        |data| {
            let valid = data.len() >= 8 && data[..4] == [0xf6, 0xab, 0x0e, 0x18] && data[4] == 1;
            prop_assert_eq!(ConnectPrivate::decode(&data).is_ok(), valid);
            let ours = Negotiated {
                inline_send: InlineSize::MAX,
                inline_recv: InlineSize::MAX,
            };
            let n = negotiate(ours, Some(&data));
            if !valid {
                prop_assert_eq!(n.inline_send, DEFAULT_INLINE_SIZE);
                prop_assert_eq!(n.inline_recv, DEFAULT_INLINE_SIZE);
            }
            Ok(())
        },
    );
}

fn shape() -> impl Strategy<Value = XdrShape> {
    let kv = (0..4096u32, 0..3000u32).prop_map(|(page_offset, len)| Kvec { page_offset, len });
    (kv.clone(), 0..20_000u32, 0..300_000u32, kv).prop_map(|(head, page_base, page_len, tail)| {
        XdrShape {
            head,
            page_base,
            page_len,
            tail,
        }
    })
}

fn thresholds() -> impl Strategy<Value = Thresholds> {
    (
        9..=16u32,
        any::<u32>(),
        any::<u32>(),
        0..40u32,
        0..300u32,
        0..20u32,
        any::<bool>(),
    )
        .prop_map(
            |(
                shift,
                max_inline_send,
                max_inline_recv,
                max_send_sge,
                max_fr_depth,
                max_rdma_segs,
                sg_gaps,
            )| Thresholds {
                page: PageSize::from_shift(shift).unwrap(),
                max_inline_send,
                max_inline_recv,
                max_send_sge,
                max_fr_depth,
                max_rdma_segs,
                sg_gaps,
            },
        )
}

#[test]
fn chunk_pieces_cover_exactly_the_conveyed_bytes() {
    let kind = prop_oneof![
        Just(ChunkKind::Read),
        Just(ChunkKind::PositionZeroRead),
        Just(ChunkKind::Write),
        Just(ChunkKind::Reply)
    ];
    check_prop(
        "chunk_pieces_cover",
        2048,
        (shape(), kind, thresholds()),
        |(shape, kind, t)| {
            let mut out = vec![
                Piece {
                    source: Source::Head,
                    page_offset: 0,
                    len: 0
                };
                2048
            ];
            let Ok(n) = chunk_segments(&shape, kind, t.page, &mut out) else {
                return Ok(());
            };
            let pieces = &out[..n];
            let whole = matches!(kind, ChunkKind::PositionZeroRead | ChunkKind::Reply);
            let head = if whole || shape.head.len == 0 {
                u64::from(shape.head.len)
            } else {
                0
            };
            let tail = if whole { u64::from(shape.tail.len) } else { 0 };
            let sum: u64 = pieces.iter().map(|p| u64::from(p.len)).sum();
            prop_assert_eq!(sum, head + u64::from(shape.page_len) + tail);
            prop_assert!(n as u64 <= u64::from(t.page.max_segs()));
            let mut next_page = None;
            for p in pieces {
                if let Source::Page(i) = p.source {
                    prop_assert!(p.len > 0);
                    prop_assert!(p.page_offset + p.len <= t.page.bytes());
                    if let Some(want) = next_page {
                        prop_assert_eq!(i, want);
                        prop_assert_eq!(p.page_offset, 0);
                    } else {
                        prop_assert_eq!(i, t.page.page_index(shape.page_base));
                    }
                    next_page = Some(i + 1);
                }
            }
            let mut ranges = vec![
                MrRange {
                    first: 0,
                    nents: 0,
                    len: 0
                };
                64
            ];
            if let Ok(m) = mr_ranges(pieces, &t, &mut ranges) {
                let ranges = &ranges[..m];
                prop_assert!(m as u64 <= u64::from(t.max_rdma_segs));
                let mut first = 0;
                for r in ranges {
                    prop_assert_eq!(r.first, first);
                    prop_assert!(
                        r.nents >= 1 && r.nents as u64 <= u64::from(t.max_fr_depth.max(1))
                    );
                    let len: u64 = pieces[r.first..r.first + r.nents]
                        .iter()
                        .map(|p| u64::from(p.len))
                        .sum();
                    prop_assert_eq!(r.len, len);
                    // What `register` hands the MR, through `page_run` and
                    // the C helper's split, is this range's pieces.
                    let run = &pieces[r.first..r.first + r.nents];
                    prop_assert_eq!(mr_entries(run, t.page), run.to_vec());
                    first += r.nents;
                }
                prop_assert_eq!(first, n);
            }
            Ok(())
        },
    );
}

/// Shapes whose page lists are long against the registration depth:
/// many registrations, with the head and tail at either end.
fn long_shape() -> impl Strategy<Value = XdrShape> {
    let kv = (0..4096u32, 0..5000u32).prop_map(|(page_offset, len)| Kvec { page_offset, len });
    let len = prop_oneof![0..5000u32, 0..(1u32 << 21), Just(1 << 20)];
    (kv.clone(), 0..20_000u32, len, kv).prop_map(|(head, page_base, page_len, tail)| XdrShape {
        head,
        page_base,
        page_len,
        tail,
    })
}

fn long_thresholds() -> impl Strategy<Value = Thresholds> {
    (
        prop_oneof![Just(12u32), 9..=16u32],
        prop_oneof![Just(32u32), 0..40u32, 0..600u32],
        0..40u32,
        any::<bool>(),
    )
        .prop_map(|(shift, max_fr_depth, max_rdma_segs, sg_gaps)| Thresholds {
            page: PageSize::from_shift(shift).unwrap(),
            max_inline_send: 0,
            max_inline_recv: 0,
            max_send_sge: 0,
            max_fr_depth,
            max_rdma_segs,
            sg_gaps,
        })
}

/// Expands what one registration holds into its pieces, with the page
/// run split as the C helper splits it.
fn expand(e: &MrEntries, page: PageSize) -> Vec<Piece> {
    let mut out: Vec<Piece> = e.head.into_iter().collect();
    if let Some(pr) = e.pages {
        let (mut offset, mut len) = (pr.offset, pr.len);
        for j in 0..pr.count {
            let seg = (page.bytes() - offset).min(len);
            assert!(seg != 0, "the C helper would fail a planned run");
            out.push(Piece {
                source: Source::Page(pr.index + j),
                page_offset: offset,
                len: seg,
            });
            len -= seg;
            offset = 0;
        }
        assert_eq!(len, 0, "the C helper would fail a planned run");
    }
    out.extend(e.tail);
    out
}

#[test]
fn chunk_pieces_plan_as_the_listed_pieces() {
    let kind = prop_oneof![
        Just(ChunkKind::Read),
        Just(ChunkKind::PositionZeroRead),
        Just(ChunkKind::Write),
        Just(ChunkKind::Reply)
    ];
    let shapes = prop_oneof![shape(), long_shape()];
    let ts = prop_oneof![thresholds(), long_thresholds()];
    check_prop(
        "chunk_pieces_plan_as_listed",
        8192,
        (shapes, kind, ts, 1..=20usize),
        |(shape, kind, t, room)| {
            // What `register` did: list the pieces into the req's scratch
            // of `max_segs` pieces, group them, and hand each range to
            // its MR through `page_run`.
            let empty = Piece {
                source: Source::Head,
                page_offset: 0,
                len: 0,
            };
            let mut out = vec![empty; t.page.max_segs() as usize];
            let listed = chunk_segments(&shape, kind, t.page, &mut out);
            let described = ChunkPieces::new(&shape, kind, t.page);
            prop_assert_eq!(listed.is_ok(), described.is_ok());
            let (Ok(n), Ok(c)) = (listed, described) else {
                return Ok(());
            };
            prop_assert_eq!(c.len(), n);
            prop_assert_eq!(c.is_empty(), n == 0);
            let pieces = &out[..n];
            let blank = MrRange::default();
            let (mut want, mut got) = (vec![blank; room], vec![blank; room]);
            let w = mr_ranges(pieces, &t, &mut want);
            let g = c.mr_ranges(&t, &mut got);
            prop_assert_eq!(w, g);
            let Ok(m) = w else {
                return Ok(());
            };
            prop_assert_eq!(&want[..m], &got[..m]);
            let walked: Vec<_> = c.ranges(&t, room).unwrap().collect();
            prop_assert_eq!(walked.len(), m);
            for (r, (walked, held)) in got[..m].iter().zip(&walked) {
                let run = &pieces[r.first..r.first + r.nents];
                let e = c.entries(r).unwrap();
                prop_assert_eq!(expand(&e, t.page), mr_entries(run, t.page));
                prop_assert_eq!(e.len(), r.len);
                prop_assert_eq!((walked, held), (r, &e));
            }
            // Nothing outside the pieces.
            let past = MrRange {
                first: n,
                nents: 1,
                len: 0,
            };
            prop_assert_eq!(c.entries(&past), None);
            Ok(())
        },
    );
}

/// The scatterlist entries `frwr.rs: register` sets for one MR's pieces:
/// a [`PageRun`] of two or more pieces in one `xprs_mr_set_page_run` call
/// (modelled here: `min(PAGE_SIZE - offset, len)` bytes, then a page or
/// the rest, each next page at offset 0), any other piece alone.
fn mr_entries(run: &[Piece], page: PageSize) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut k = 0;
    while k < run.len() {
        match page_run(&run[k..], page).filter(|pr| pr.count > 1) {
            Some(pr) => {
                let (mut offset, mut len) = (pr.offset, pr.len);
                for j in 0..pr.count {
                    let seg = (page.bytes() - offset).min(len);
                    assert!(seg != 0, "the C helper would fail a valid run");
                    out.push(Piece {
                        source: Source::Page(pr.index + j),
                        page_offset: offset,
                        len: seg,
                    });
                    len -= seg;
                    offset = 0;
                }
                assert_eq!(len, 0, "the C helper would fail a valid run");
                k += pr.count as usize;
            }
            None => {
                out.push(run[k]);
                k += 1;
            }
        }
    }
    out
}

#[test]
fn planning_is_total_and_consistent() {
    check_prop(
        "planning_is_total",
        4096,
        (
            shape(),
            shape(),
            any::<u32>(),
            any::<u32>(),
            any::<[bool; 3]>(),
            thresholds(),
        ),
        |(
            snd,
            rcv,
            rcv_buflen,
            sendbuf_len,
            [ddp_allowed, call_write_payload, reply_read_payload],
            t,
        )| {
            let rpc = Rpc {
                snd,
                rcv,
                rcv_buflen,
                sendbuf_len,
                ddp_allowed,
                call_write_payload,
                reply_read_payload,
            };
            let p = plan(&rpc, &t);
            let inline = matches!(p.send, SendPlan::Pullup | SendPlan::Mapped);
            if inline {
                prop_assert!(snd.len() <= u64::from(t.max_inline_send));
            }
            if p.send == SendPlan::ReadChunk {
                prop_assert!(ddp_allowed && call_write_payload);
            }
            match p.reply {
                ReplyPlan::Inline => prop_assert!(rcv_buflen <= t.max_inline_recv),
                ReplyPlan::WriteChunk { pad } => {
                    prop_assert!(ddp_allowed && reply_read_payload);
                    prop_assert_eq!(pad, rcv.page_len % 4 != 0);
                }
                ReplyPlan::ReplyChunk => prop_assert!(rcv_buflen > t.max_inline_recv),
            }
            let mut out = vec![
                Piece {
                    source: Source::Head,
                    page_offset: 0,
                    len: 0
                };
                128
            ];
            if let Ok(n) = send_sges(p.send, &snd, &t, &mut out) {
                prop_assert!((n as u64) < u64::from(t.max_send_sge));
                let sum: u64 = out[..n].iter().map(|s| u64::from(s.len)).sum();
                match p.send {
                    SendPlan::Pullup | SendPlan::Mapped => prop_assert_eq!(sum, snd.len()),
                    SendPlan::ReadChunk => {
                        prop_assert!(sum <= u64::from(snd.head.len) + u64::from(snd.tail.len))
                    }
                    SendPlan::PositionZeroRead => prop_assert_eq!(n, 0),
                }
            }
            Ok(())
        },
    );
}

/// One step of a random sendctx workload.
#[derive(Debug, Clone)]
enum RingOp {
    /// Claim a slot and post a Send for req `n`.
    Post(u8),
    /// Claim a slot, then fail marshaling; give it back if `true`.
    Fail(bool),
    /// Signaled completion of the `n`th in-flight posted Send.
    Complete(u8),
    /// Disconnect: drain the ring.
    Drain,
}

#[test]
fn sendctx_ring_against_a_reference_queue() {
    let op = prop_oneof![
        4 => (0..4u8).prop_map(RingOp::Post),
        1 => any::<bool>().prop_map(RingOp::Fail),
        3 => (0..8u8).prop_map(RingOp::Complete),
        1 => Just(RingOp::Drain),
    ];
    check_prop(
        "sendctx_ring_model",
        2048,
        (2..8usize, vec(op, 0..64)),
        |(cap, ops)| {
            let reqs: Vec<_> = (0..4)
                .map(|i| {
                    let (r, p) = ReqRef::<AtomicU32>::new(ReqId(i), Pool::Free);
                    let rpc = r.take(p).unwrap();
                    (r, rpc)
                })
                .collect();
            let mut ring =
                SendCtxRing::new(
                (0..cap).map(|_| None).collect::<Vec<Slot>>(),
                (0..4).map(|_| AtomicU32::new(0)).collect::<Vec<_>>(),
            );
            // Reference: in-flight slots, oldest first, with the req posted.
            let mut model: VecDeque<(usize, Option<u32>)> = VecDeque::new();
            let mut sends = [0u32; 4];
            for op in ops {
                match op {
                    RingOp::Post(r) => match ring.claim() {
                        Some(c) => {
                            let (req, rpc) = &reqs[usize::from(r)];
                            model.push_back((c.slot(), Some(u32::from(r))));
                            ring.post(c, req.add_send(rpc).unwrap()).unwrap();
                            sends[usize::from(r)] += 1;
                        }
                        None => prop_assert_eq!(model.len(), cap - 1),
                    },
                    RingOp::Fail(give_back) => {
                        if let Some(c) = ring.claim() {
                            if give_back {
                                ring.unget(c).unwrap();
                            } else {
                                model.push_back((c.slot(), None));
                                ring.cancel(c);
                            }
                        }
                    }
                    RingOp::Complete(k) => {
                        let posted: Vec<_> = model.iter().filter(|(_, r)| r.is_some()).collect();
                        if posted.is_empty() {
                            continue;
                        }
                        let target = posted[usize::from(k) % posted.len()].0;
                        let mut expect = Vec::new();
                        while let Some((slot, r)) = model.pop_front() {
                            expect.extend(r);
                            if slot == target {
                                break;
                            }
                        }
                        let mut got = Vec::new();
                        ring.complete(target, |o| {
                            got.push(o.req().0);
                            sends[o.req().0 as usize] -= 1;
                            assert_eq!(reqs[o.req().0 as usize].0.put_send(o), Ok(None));
                        })
                        .unwrap();
                        prop_assert_eq!(got, expect);
                    }
                    RingOp::Drain => {
                        let expect: Vec<u32> = model.drain(..).filter_map(|(_, r)| r).collect();
                        let mut got = Vec::new();
                        ring.drain(|o| {
                            got.push(o.req().0);
                            sends[o.req().0 as usize] -= 1;
                            assert_eq!(reqs[o.req().0 as usize].0.put_send(o), Ok(None));
                        });
                        prop_assert_eq!(got, expect);
                    }
                }
                prop_assert_eq!(ring.in_flight(), model.len());
                prop_assert!(ring.i7_owners_in_active_range());
                prop_assert!(ring.i4_counts_match());
                for (i, (req, _)) in reqs.iter().enumerate() {
                    let in_ring = ring.count_owners(|o| o.req() == ReqId(i as u32)) as u32;
                    prop_assert_eq!(in_ring, sends[i]);
                    // I4's O(1) count, as the kernel's release reads it.
                    prop_assert_eq!(ring.owners_of(ReqId(i as u32)), in_ring);
                    prop_assert!(i6_count_matches(req.count(), true, in_ring));
                }
            }
            ring.drain(|o| drop(reqs[o.req().0 as usize].0.put_send(o)));
            for (req, rpc) in reqs {
                let released = req.put_rpc(rpc).unwrap();
                prop_assert!(released.is_some());
                drop(req.to_pool(released.unwrap(), Pool::Free).unwrap());
            }
            Ok(())
        },
    );
}
