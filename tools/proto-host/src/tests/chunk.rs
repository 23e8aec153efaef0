// SPDX-License-Identifier: GPL-2.0

//! Chunk planning decisions and piece/MR/SGE layouts.

use crate::proto::chunk::*;

const PAGE: u32 = 4096;

fn page() -> PageSize {
    PageSize::from_shift(12).unwrap()
}

/// A 4 KiB-inline connection on a device with 256-page registrations:
/// `re_max_rdma_segs` is DIV_ROUND_UP(257, 256) + 2 = 4.
fn thresholds() -> Thresholds {
    let (max_inline_send, max_inline_recv) = max_inline_sizes(4096, 4096, 4);
    Thresholds {
        page: page(),
        max_inline_send,
        max_inline_recv,
        max_send_sge: 19,
        max_fr_depth: 256,
        max_rdma_segs: 4,
        sg_gaps: false,
    }
}

fn kvec(len: u32) -> Kvec {
    Kvec {
        page_offset: 0,
        len,
    }
}

fn head_only(len: u32) -> XdrShape {
    XdrShape {
        head: kvec(len),
        ..XdrShape::default()
    }
}

fn rpc(snd: XdrShape, rcv: XdrShape) -> Rpc {
    Rpc {
        snd,
        rcv,
        rcv_buflen: u32::try_from(rcv.len()).unwrap(),
        sendbuf_len: 4096,
        ddp_allowed: true,
        call_write_payload: false,
        reply_read_payload: false,
    }
}

fn with_pages(head: u32, page_base: u32, page_len: u32, tail: u32) -> XdrShape {
    XdrShape {
        head: kvec(head),
        page_base,
        page_len,
        tail: kvec(tail),
    }
}

#[test]
fn header_size_bounds_match_c() {
    // 7 fixed words + 4 read items of 6 words + count, segment, discriminator.
    assert_eq!(max_call_header_size(4), 28 + 96 + 24);
    // 7 fixed words + count, 4 segments, discriminator.
    assert_eq!(max_reply_header_size(4), 28 + 4 + 64 + 4);
    assert_eq!(max_inline_sizes(4096, 4096, 4), (4096 - 148, 4096 - 100));
    assert_eq!(max_inline_sizes(100, 100, 4), (0, 0));
    assert_eq!(page().max_segs(), 256 + 1 + 3);
}

#[test]
fn small_call_goes_inline_by_pullup() {
    let t = thresholds();
    let p = plan(&rpc(head_only(120), head_only(500)), &t);
    assert_eq!(
        p,
        Plan {
            send: SendPlan::Pullup,
            reply: ReplyPlan::Inline
        }
    );
    assert_eq!(p.proc_(), 0);
}

#[test]
fn call_filling_the_send_buffer_is_mapped() {
    let t = thresholds();
    let mut r = rpc(with_pages(100, 0, 3800, 0), head_only(500));
    r.sendbuf_len = 3900;
    assert_eq!(plan(&r, &t).send, SendPlan::Mapped);
    r.sendbuf_len = 3901;
    assert_eq!(plan(&r, &t).send, SendPlan::Pullup);
}

#[test]
fn large_write_uses_a_read_chunk_when_ddp_is_allowed() {
    let t = thresholds();
    let mut r = rpc(with_pages(200, 0, 65536, 0), head_only(300));
    r.call_write_payload = true;
    let p = plan(&r, &t);
    assert_eq!(p.send, SendPlan::ReadChunk);
    assert_eq!(p.proc_(), 0);
    // krb5i/krb5p: no direct data placement, so the whole call moves.
    r.ddp_allowed = false;
    let p = plan(&r, &t);
    assert_eq!(p.send, SendPlan::PositionZeroRead);
    assert_eq!(p.proc_(), 1);
    // A large call without a DDP-eligible payload also moves whole.
    let r = rpc(head_only(5000), head_only(300));
    assert_eq!(plan(&r, &t).send, SendPlan::PositionZeroRead);
}

#[test]
fn inline_threshold_is_inclusive() {
    let t = thresholds();
    let r = rpc(head_only(t.max_inline_send), head_only(300));
    assert_ne!(plan(&r, &t).send, SendPlan::PositionZeroRead);
    let r = rpc(head_only(t.max_inline_send + 1), head_only(300));
    assert_eq!(plan(&r, &t).send, SendPlan::PositionZeroRead);
}

#[test]
fn too_many_page_sges_forces_a_chunk() {
    let mut t = thresholds();
    // Page data at offset 4000 spans two pages: 3 + 2 SGEs.
    let r = rpc(with_pages(100, 4000, 3000, 0), head_only(300));
    t.max_send_sge = 5;
    assert_ne!(plan(&r, &t).send, SendPlan::PositionZeroRead);
    t.max_send_sge = 4;
    assert_eq!(plan(&r, &t).send, SendPlan::PositionZeroRead);
}

#[test]
fn reply_plans() {
    let t = thresholds();
    let small = rpc(head_only(100), head_only(t.max_inline_recv));
    assert_eq!(plan(&small, &t).reply, ReplyPlan::Inline);
    let small = rpc(head_only(100), head_only(t.max_inline_recv + 1));
    assert_eq!(plan(&small, &t).reply, ReplyPlan::ReplyChunk);

    // NFS READ of 1 MiB: the page list is the write chunk.
    let mut read = rpc(head_only(100), with_pages(300, 0, 1 << 20, 0));
    read.reply_read_payload = true;
    assert_eq!(plan(&read, &t).reply, ReplyPlan::WriteChunk { pad: false });
    read.rcv.page_len = 1001;
    read.rcv_buflen = 5000;
    assert_eq!(plan(&read, &t).reply, ReplyPlan::WriteChunk { pad: true });
    read.ddp_allowed = false;
    assert_eq!(plan(&read, &t).reply, ReplyPlan::ReplyChunk);
    read.ddp_allowed = true;
    // Non-payload parts must stay strictly under the inline limit.
    read.rcv.head.len = t.max_inline_recv - 8;
    read.rcv.tail.len = 8;
    assert_eq!(plan(&read, &t).reply, ReplyPlan::ReplyChunk);
    read.rcv.tail.len = 7;
    assert_eq!(plan(&read, &t).reply, ReplyPlan::WriteChunk { pad: true });
}

fn pieces(shape: &XdrShape, kind: ChunkKind) -> Vec<Piece> {
    let mut out = [Piece {
        source: Source::Head,
        page_offset: 0,
        len: 0,
    }; 300];
    let n = chunk_segments(shape, kind, page(), &mut out).unwrap();
    out[..n].to_vec()
}

fn piece(source: Source, page_offset: u32, len: u32) -> Piece {
    Piece {
        source,
        page_offset,
        len,
    }
}

#[test]
fn write_chunk_pieces_follow_page_boundaries() {
    let rcv = with_pages(300, 100, 2 * PAGE, 40);
    assert_eq!(
        pieces(&rcv, ChunkKind::Write),
        [
            piece(Source::Page(0), 100, 3996),
            piece(Source::Page(1), 0, 4096),
            piece(Source::Page(2), 0, 100),
        ]
    );
    // page_base beyond the first page starts at a later page index.
    let rcv = with_pages(300, 2 * PAGE + 10, 20, 0);
    assert_eq!(
        pieces(&rcv, ChunkKind::Write),
        [piece(Source::Page(2), 10, 20)]
    );
}

#[test]
fn whole_message_chunks_include_head_and_tail() {
    let mut shape = with_pages(300, 0, 5000, 40);
    shape.head.page_offset = 64;
    shape.tail.page_offset = 512;
    let expected = [
        piece(Source::Head, 64, 300),
        piece(Source::Page(0), 0, 4096),
        piece(Source::Page(1), 0, 904),
        piece(Source::Tail, 512, 40),
    ];
    assert_eq!(pieces(&shape, ChunkKind::Reply), expected);
    assert_eq!(pieces(&shape, ChunkKind::PositionZeroRead), expected);
    // A read chunk conveys only the page list, at the head's end.
    assert_eq!(pieces(&shape, ChunkKind::Read), &expected[1..3]);
    assert_eq!(ChunkKind::Read.read_position(&shape), 300);
    assert_eq!(ChunkKind::PositionZeroRead.read_position(&shape), 0);
    // An empty tail adds no piece.
    shape.tail.len = 0;
    assert_eq!(pieces(&shape, ChunkKind::Reply).len(), 3);
}

#[test]
fn piece_limits() {
    let shape = with_pages(0, 0, 3 * PAGE, 0);
    let mut out = [piece(Source::Head, 0, 0); 2];
    assert_eq!(
        chunk_segments(&shape, ChunkKind::Write, page(), &mut out),
        Err(PlanError::TooManyPieces)
    );
    // More pieces than RPCRDMA_MAX_SEGS, even with room in the output.
    let shape = with_pages(0, 0, 2 << 20, 0);
    let mut out = [piece(Source::Head, 0, 0); 600];
    assert_eq!(
        chunk_segments(&shape, ChunkKind::Write, page(), &mut out),
        Err(PlanError::TooManyPieces)
    );
}

fn ranges(p: &[Piece], t: &Thresholds) -> Result<Vec<MrRange>, PlanError> {
    let mut out = [MrRange {
        first: 0,
        nents: 0,
        len: 0,
    }; 16];
    let n = mr_ranges(p, t, &mut out)?;
    Ok(out[..n].to_vec())
}

#[test]
fn registrations_merge_contiguous_pages_up_to_the_depth() {
    let mut t = thresholds();
    let p = pieces(&with_pages(300, 100, 2 * PAGE, 0), ChunkKind::Write);
    assert_eq!(
        ranges(&p, &t).unwrap(),
        [MrRange {
            first: 0,
            nents: 3,
            len: 8192
        }]
    );
    t.max_fr_depth = 2;
    assert_eq!(
        ranges(&p, &t).unwrap(),
        [
            MrRange {
                first: 0,
                nents: 2,
                len: 8092
            },
            MrRange {
                first: 2,
                nents: 1,
                len: 100
            },
        ]
    );
}

#[test]
fn registrations_break_at_gaps_unless_the_device_allows_them() {
    let mut t = thresholds();
    let mut shape = with_pages(300, 0, 2 * PAGE, 40);
    shape.head.page_offset = 64;
    shape.tail.page_offset = 512;
    let p = pieces(&shape, ChunkKind::Reply);
    // The head ends mid-page, and the tail starts mid-page.
    assert_eq!(
        ranges(&p, &t).unwrap(),
        [
            MrRange {
                first: 0,
                nents: 1,
                len: 300
            },
            MrRange {
                first: 1,
                nents: 2,
                len: 8192
            },
            MrRange {
                first: 3,
                nents: 1,
                len: 40
            },
        ]
    );
    t.max_rdma_segs = 2;
    assert_eq!(ranges(&p, &t), Err(PlanError::TooManyRdmaSegments));
    t.sg_gaps = true;
    assert_eq!(
        ranges(&p, &t).unwrap(),
        [MrRange {
            first: 0,
            nents: 4,
            len: 8532
        }]
    );
}

fn sges(plan: SendPlan, snd: &XdrShape, t: &Thresholds) -> Result<Vec<Piece>, PlanError> {
    let mut out = [piece(Source::Head, 0, 0); 32];
    let n = send_sges(plan, snd, t, &mut out)?;
    Ok(out[..n].to_vec())
}

#[test]
fn send_sge_layouts() {
    let t = thresholds();
    let mut snd = with_pages(200, 4000, 200, 8);
    snd.tail.page_offset = 300;
    assert_eq!(
        sges(SendPlan::Pullup, &snd, &t).unwrap(),
        [piece(Source::Head, 0, 408)]
    );
    assert_eq!(
        sges(SendPlan::Mapped, &snd, &t).unwrap(),
        [
            piece(Source::Head, 0, 200),
            piece(Source::Page(0), 4000, 96),
            piece(Source::Page(1), 0, 104),
            piece(Source::Tail, 300, 8),
        ]
    );
    assert_eq!(sges(SendPlan::PositionZeroRead, &snd, &t).unwrap(), []);
    // Read chunk: a tail that is only the XDR pad is not sent...
    snd.tail.len = 3;
    assert_eq!(
        sges(SendPlan::ReadChunk, &snd, &t).unwrap(),
        [piece(Source::Head, 0, 200)]
    );
    // ...and a pad in front of real tail content is skipped.
    snd.tail.len = 7;
    assert_eq!(
        sges(SendPlan::ReadChunk, &snd, &t).unwrap(),
        [piece(Source::Head, 0, 200), piece(Source::Tail, 303, 4)]
    );
    assert_eq!(readch_tail(kvec(8)), Some(kvec(8)));
    let mut few = t;
    few.max_send_sge = 4;
    assert_eq!(
        sges(SendPlan::Mapped, &snd, &few),
        Err(PlanError::SendSgesExhausted)
    );
}

#[test]
fn page_size_validation() {
    assert_eq!(PageSize::from_shift(8), None);
    assert_eq!(PageSize::from_shift(17), None);
    let p = PageSize::from_shift(16).unwrap();
    assert_eq!(p.bytes(), 65536);
    assert_eq!(p.offset_in_page(65537), 1);
    assert_eq!(p.page_index(65536 * 3 + 5), 3);
}

#[test]
fn page_runs_cover_whole_pages_in_a_row() {
    // 3 pages' worth from offset 100: 3996, 4096, 4096, 100 bytes.
    let shape = with_pages(10, 100, 3 * PAGE, 0);
    let ps = pieces(&shape, ChunkKind::Write);
    assert_eq!(ps.len(), 4);
    assert_eq!(
        page_run(&ps, page()),
        Some(PageRun {
            index: 0,
            count: 4,
            offset: 100,
            len: 3 * PAGE
        })
    );
    // From the second piece on: three, starting at a page's start.
    assert_eq!(
        page_run(&ps[1..], page()),
        Some(PageRun {
            index: 1,
            count: 3,
            offset: 0,
            len: 2 * PAGE + 100
        })
    );
    // Not a page piece, or a page piece that does not end at its page's
    // end: the run stops there.
    let head = piece(Source::Head, 0, 10);
    assert_eq!(page_run(&[head], page()), None);
    let short = [
        piece(Source::Page(0), 0, 10),
        piece(Source::Page(1), 0, PAGE),
    ];
    assert_eq!(page_run(&short, page()).map(|r| r.count), Some(1));
    // A gap in the page indexes, an offset inside the next page.
    let gap = [
        piece(Source::Page(0), 0, PAGE),
        piece(Source::Page(2), 0, PAGE),
    ];
    assert_eq!(page_run(&gap, page()).map(|r| r.count), Some(1));
    let inside = [
        piece(Source::Page(0), 0, PAGE),
        piece(Source::Page(1), 8, 8),
    ];
    assert_eq!(page_run(&inside, page()).map(|r| r.count), Some(1));
    // Empty or page-crossing pieces start no run.
    assert_eq!(page_run(&[piece(Source::Page(0), 0, 0)], page()), None);
    assert_eq!(page_run(&[piece(Source::Page(0), 4000, 200)], page()), None);
    assert_eq!(page_run(&[], page()), None);
}

#[test]
fn a_1mib_write_chunk_is_eight_runs_of_32_pages() {
    // NFS READ of 1 MiB into page-aligned pages, on rxe (32-page MRs).
    let t = Thresholds {
        max_fr_depth: 32,
        max_rdma_segs: 16,
        ..thresholds()
    };
    let shape = with_pages(120, 0, 1 << 20, 0);
    let c = ChunkPieces::new(&shape, ChunkKind::Write, page()).unwrap();
    assert_eq!(c.len(), 256);
    let mut out = [MrRange::default(); 16];
    assert_eq!(c.mr_ranges(&t, &mut out), Ok(8));
    for (k, r) in out[..8].iter().enumerate() {
        assert_eq!((r.first, r.nents, r.len), (32 * k, 32, 32 * u64::from(PAGE)));
        let e = c.entries(r).unwrap();
        assert_eq!(
            e,
            MrEntries {
                head: None,
                pages: Some(PageRun {
                    index: 32 * k as u32,
                    count: 32,
                    offset: 0,
                    len: 32 * PAGE
                }),
                tail: None,
            }
        );
    }
    // A reply chunk: the head alone when it does not end at a page's end,
    // then the pages from an offset, then the tail after a short last page.
    let shape = with_pages(300, 100, 2 * PAGE, 40);
    let c = ChunkPieces::new(&shape, ChunkKind::Reply, page()).unwrap();
    assert_eq!(c.len(), 5);
    assert_eq!(c.mr_ranges(&t, &mut out), Ok(3));
    let held: Vec<_> = out[..3].iter().map(|r| c.entries(r).unwrap()).collect();
    assert_eq!(held[0].head.map(|p| p.len), Some(300));
    assert_eq!(held[0].pages, None);
    assert_eq!(
        held[1].pages,
        Some(PageRun {
            index: 0,
            count: 3,
            offset: 100,
            len: 2 * PAGE
        })
    );
    assert_eq!(held[2].tail.map(|p| p.len), Some(40));
}

/// The planning `frwr.rs: register` does for a 1 MiB write chunk on rxe
/// (256 pages, 32-page MRs), `XPRS_PLAN_REPS` times (default 0), the
/// listed way (`chunk_segments`, `mr_ranges`, `page_run` over each
/// range) if `XPRS_PLAN_LISTED` is set, else the described way
/// (`ChunkPieces`). For counting instructions on the host, e.g.
/// `valgrind --tool=callgrind` of this test at 0 and at 1000 repetitions:
/// the difference over 1000 is the cost of one plan.
#[test]
#[ignore]
fn plan_cost_1mib() {
    use std::hint::black_box;
    let reps: usize = std::env::var("XPRS_PLAN_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let listed = std::env::var_os("XPRS_PLAN_LISTED").is_some();
    let t = Thresholds {
        max_fr_depth: 32,
        max_rdma_segs: 16,
        ..thresholds()
    };
    let shape = with_pages(120, 0, 1 << 20, 0);
    let mut scratch = vec![piece(Source::Head, 0, 0); page().max_segs() as usize];
    let mut sum = 0u64;
    for _ in 0..reps {
        let shape = black_box(shape);
        if listed {
            let mut ranges = [MrRange::default(); 16];
            let n = chunk_segments(&shape, ChunkKind::Write, page(), &mut scratch).unwrap();
            let pieces = &scratch[..n];
            let m = mr_ranges(pieces, &t, &mut ranges).unwrap();
            for r in &ranges[..m] {
                let run = &pieces[r.first..r.first + r.nents];
                let mut k = 0;
                while let Some(rest) = run.get(k..).filter(|rest| !rest.is_empty()) {
                    match page_run(rest, page()).filter(|pr| pr.count > 1) {
                        Some(pr) => {
                            sum += u64::from(black_box(pr).len);
                            k += pr.count as usize;
                        }
                        None => {
                            sum += u64::from(black_box(rest[0]).len);
                            k += 1;
                        }
                    }
                }
            }
        } else {
            let c = ChunkPieces::new(&shape, ChunkKind::Write, page()).unwrap();
            for (_, held) in c.ranges(&t, 16).unwrap() {
                sum += black_box(held).len();
            }
        }
    }
    assert_eq!(sum, reps as u64 * (1 << 20));
}
