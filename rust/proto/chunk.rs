// SPDX-License-Identifier: GPL-2.0

//! Chunk planning: how one RPC Call is conveyed (RFC 8166 Section 3.5,
//! RFC 8267 Section 4 DDP eligibility), decided the way
//! `rpcrdma_marshal_req()` decides it.
//!
//! [`plan`] picks the Call's transfer mode ([`SendPlan`]) and the Reply's
//! ([`ReplyPlan`]). [`chunk_segments`] cuts the part of an `xdr_buf` that a
//! chunk conveys into per-page pieces (`rpcrdma_convert_iovs()`),
//! [`mr_ranges`] groups those pieces into memory registrations
//! (`frwr_map()`), and [`send_sges`] lists the Send SGEs that follow the
//! transport header SGE (`rpcrdma_prepare_send_sges()`). [`ChunkPieces`]
//! plans the same registrations from the pieces' description (head, page
//! run, tail) without listing them, which is what the kernel's register
//! path uses; the listed form is its reference in the host tests. Every
//! output is plain data that the kernel executes.

use super::header::{HDRLEN_MIN, RDMA_MSG, RDMA_NOMSG, READ_ITEM_LEN, SEGMENT_LEN};
use super::xdr::{self, XDR_UNIT};

/// Send SGEs always available: transport header, head, tail
/// (`RPCRDMA_MIN_SEND_SGES`).
pub(crate) const MIN_SEND_SGES: u32 = 3;

/// A page size, validated to be a power of two between 512 bytes and
/// 64 KiB.
///
/// # Invariants
///
/// `9 <= shift <= 16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageSize {
    shift: u32,
}

impl PageSize {
    /// Returns the page size whose log2 is `shift`, if supported.
    pub(crate) const fn from_shift(shift: u32) -> Option<Self> {
        if shift < 9 || shift > 16 {
            return None;
        }
        // INVARIANT: checked above.
        Some(PageSize { shift })
    }

    /// Returns the page size in bytes.
    pub(crate) const fn bytes(self) -> u32 {
        1 << self.shift
    }

    /// Returns `offset` modulo the page size (`offset_in_page()`).
    pub(crate) const fn offset_in_page(self, offset: u64) -> u32 {
        // The mask keeps the value below 2^16, so it fits in u32.
        (offset & (self.bytes() as u64).wrapping_sub(1)) as u32
    }

    /// Returns the index of the page holding byte `offset`.
    pub(crate) const fn page_index(self, offset: u32) -> u32 {
        offset >> self.shift
    }

    /// Most pieces one chunk can be cut into (`RPCRDMA_MAX_SEGS`): one per
    /// page of a 1 MiB payload, plus one for misalignment, plus head, tail
    /// and a spare (`RPCRDMA_MAX_IOV_SEGS`).
    pub(crate) const fn max_segs(self) -> u32 {
        (0x10_0000u32 >> self.shift).saturating_add(4)
    }
}

/// A kernel virtual buffer (`struct kvec`), reduced to what the plan needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Kvec {
    /// Offset of `iov_base` within its page.
    pub(crate) page_offset: u32,
    /// Length in bytes.
    pub(crate) len: u32,
}

/// The shape of an `xdr_buf`: head, page list and tail lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct XdrShape {
    /// The head kvec.
    pub(crate) head: Kvec,
    /// Offset of the first byte of page data from the start of the first
    /// page of the page array (`page_base`).
    pub(crate) page_base: u32,
    /// Bytes of page data (`page_len`).
    pub(crate) page_len: u32,
    /// The tail kvec.
    pub(crate) tail: Kvec,
}

impl XdrShape {
    /// Returns the total length (`xdr->len`), computed without overflow.
    pub(crate) const fn len(&self) -> u64 {
        (self.head.len as u64)
            .saturating_add(self.page_len as u64)
            .saturating_add(self.tail.len as u64)
    }

    /// Returns how many page-sized pieces the page data spans.
    fn page_pieces(&self, page: PageSize) -> u64 {
        let first = page.offset_in_page(u64::from(self.page_base));
        let span = u64::from(first).saturating_add(u64::from(self.page_len));
        span.div_ceil(u64::from(page.bytes()))
    }
}

/// Connection parameters the plan depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Thresholds {
    /// Page size of the host.
    pub(crate) page: PageSize,
    /// Largest RPC Call that may go inline (`re_max_inline_send`).
    pub(crate) max_inline_send: u32,
    /// Largest RPC Reply that may come back inline (`re_max_inline_recv`).
    pub(crate) max_inline_recv: u32,
    /// Send SGEs the device supports (`re_attr.cap.max_send_sge`).
    pub(crate) max_send_sge: u32,
    /// Most pages one memory registration covers (`re_max_fr_depth`).
    pub(crate) max_fr_depth: u32,
    /// Most RDMA segments in one chunk (`re_max_rdma_segs`).
    pub(crate) max_rdma_segs: u32,
    /// The device registers discontiguous pages (`IB_MR_TYPE_SG_GAPS`).
    pub(crate) sg_gaps: bool,
}

/// Size of the largest Call transport header: fixed fields, a read list of
/// `max_rdma_segs` items, and a one-segment reply chunk
/// (`rpcrdma_max_call_header_size()`).
pub(crate) const fn max_call_header_size(max_rdma_segs: u32) -> u32 {
    let list = (max_rdma_segs as u64).saturating_mul(READ_ITEM_LEN as u64);
    // A minimal reply chunk (segment count and one segment), and one more
    // list discriminator, counted as C counts them.
    let reply = (XDR_UNIT + SEGMENT_LEN + XDR_UNIT) as u64;
    saturate_u32(list.saturating_add(HDRLEN_MIN as u64).saturating_add(reply))
}

/// Size of the largest Reply transport header: fixed fields and one write
/// chunk of `max_rdma_segs` segments (`rpcrdma_max_reply_header_size()`).
pub(crate) const fn max_reply_header_size(max_rdma_segs: u32) -> u32 {
    let chunk = (max_rdma_segs as u64).saturating_mul(SEGMENT_LEN as u64);
    // Write chunk discriminator and segment count.
    let counts = (2 * XDR_UNIT) as u64;
    saturate_u32(
        chunk
            .saturating_add(HDRLEN_MIN as u64)
            .saturating_add(counts),
    )
}

const fn saturate_u32(v: u64) -> u32 {
    if v > u32::MAX as u64 {
        u32::MAX
    } else {
        v as u32
    }
}

/// Returns the RPC message sizes that fit inline under the negotiated
/// inline thresholds, as `(max_inline_send, max_inline_recv)`
/// (`rpcrdma_set_max_header_sizes()`).
pub(crate) const fn max_inline_sizes(
    inline_send: u32,
    inline_recv: u32,
    max_rdma_segs: u32,
) -> (u32, u32) {
    (
        inline_send.saturating_sub(max_call_header_size(max_rdma_segs)),
        inline_recv.saturating_sub(max_reply_header_size(max_rdma_segs)),
    )
}

/// One RPC Call and its expected Reply, as far as planning goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rpc {
    /// The Call (`rq_snd_buf`).
    pub(crate) snd: XdrShape,
    /// The space for the Reply (`rq_rcv_buf`).
    pub(crate) rcv: XdrShape,
    /// Largest possible Reply (`rq_rcv_buf.buflen`).
    pub(crate) rcv_buflen: u32,
    /// Size of the req's send buffer (`rdmab_length(rl_sendbuf)`).
    pub(crate) sendbuf_len: u32,
    /// Direct data placement is allowed: false when a GSS service that
    /// checksums or encrypts the payload is in use
    /// (`RPCAUTH_AUTH_DATATOUCH`).
    pub(crate) ddp_allowed: bool,
    /// The Call's page list is a DDP-eligible payload, e.g. NFS WRITE data
    /// (`XDRBUF_WRITE`).
    pub(crate) call_write_payload: bool,
    /// The Reply's page list is a DDP-eligible payload, e.g. NFS READ data
    /// (`XDRBUF_READ`).
    pub(crate) reply_read_payload: bool,
}

/// How the Call is conveyed (`rtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendPlan {
    /// Inline, copied into the send buffer (`rpcrdma_noch_pullup`).
    Pullup,
    /// Inline, with head, pages and tail each DMA-mapped
    /// (`rpcrdma_noch_mapped`).
    Mapped,
    /// RDMA_MSG with the page list in a read chunk at the position of the
    /// page data (`rpcrdma_readch`).
    ReadChunk,
    /// RDMA_NOMSG with the whole Call in a position-zero read chunk
    /// (`rpcrdma_areadch`).
    PositionZeroRead,
}

/// How the Reply comes back (`wtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplyPlan {
    /// Inline (`rpcrdma_noch`).
    Inline,
    /// The page list is a write chunk; the rest comes inline
    /// (`rpcrdma_writech`).
    WriteChunk {
        /// A segment of the shared write-pad region follows the payload
        /// segments, because the payload length is not XDR-aligned.
        pad: bool,
    },
    /// The whole Reply goes into a reply chunk (`rpcrdma_replych`).
    ReplyChunk,
}

/// The transfer decisions for one RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// How the Call goes.
    pub(crate) send: SendPlan,
    /// How the Reply comes back.
    pub(crate) reply: ReplyPlan,
}

impl Plan {
    /// Returns the `rdma_proc` of the Call header.
    pub(crate) const fn proc_(&self) -> u32 {
        match self.send {
            SendPlan::PositionZeroRead => RDMA_NOMSG,
            _ => RDMA_MSG,
        }
    }
}

/// The Call fits inline: under the inline threshold and within the
/// device's Send SGE limit (`rpcrdma_args_inline()`).
fn args_inline(rpc: &Rpc, t: &Thresholds) -> bool {
    if rpc.snd.len() > u64::from(t.max_inline_send) {
        return false;
    }
    let sges = u64::from(MIN_SEND_SGES).saturating_add(rpc.snd.page_pieces(t.page));
    sges <= u64::from(t.max_send_sge)
}

/// Decides how the Call and the Reply are conveyed.
pub(crate) fn plan(rpc: &Rpc, t: &Thresholds) -> Plan {
    let nonpayload = u64::from(rpc.rcv.head.len).saturating_add(u64::from(rpc.rcv.tail.len));
    let reply = if rpc.rcv_buflen <= t.max_inline_recv {
        ReplyPlan::Inline
    } else if rpc.ddp_allowed && rpc.reply_read_payload && nonpayload < u64::from(t.max_inline_recv)
    {
        ReplyPlan::WriteChunk {
            pad: xdr::pad_size(rpc.rcv.page_len) != 0,
        }
    } else {
        ReplyPlan::ReplyChunk
    };
    let send = if args_inline(rpc, t) {
        if rpc.snd.len() < u64::from(rpc.sendbuf_len) {
            SendPlan::Pullup
        } else {
            SendPlan::Mapped
        }
    } else if rpc.ddp_allowed && rpc.call_write_payload {
        SendPlan::ReadChunk
    } else {
        SendPlan::PositionZeroRead
    };
    Plan { send, reply }
}

/// Where a piece of an `xdr_buf` lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// In the head kvec.
    Head,
    /// In page `index` of the page array (`xdr->pages[index]`).
    Page(u32),
    /// In the tail kvec.
    Tail,
}

/// A contiguous piece of an `xdr_buf` (`struct rpcrdma_mr_seg`, or one
/// Send SGE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece {
    /// Where the bytes live.
    pub(crate) source: Source,
    /// Offset of the first byte within its page.
    pub(crate) page_offset: u32,
    /// Number of bytes.
    pub(crate) len: u32,
}

/// Which part of an `xdr_buf` a chunk conveys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkKind {
    /// Read chunk for a DDP payload: the page list only.
    Read,
    /// Position-zero read chunk: the whole Call.
    PositionZeroRead,
    /// Write chunk: the page list only.
    Write,
    /// Reply chunk: the whole Reply buffer.
    Reply,
}

impl ChunkKind {
    /// Returns the XDR position of a read chunk, given the Call's shape.
    pub(crate) const fn read_position(self, snd: &XdrShape) -> u32 {
        match self {
            ChunkKind::Read => snd.head.len,
            _ => 0,
        }
    }
}

/// Why a plan cannot be carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlanError {
    /// More pieces than `RPCRDMA_MAX_SEGS` or than the output holds.
    TooManyPieces,
    /// More memory registrations than `re_max_rdma_segs` allows in one
    /// chunk.
    TooManyRdmaSegments,
    /// More Send SGEs than the device supports or the output holds.
    SendSgesExhausted,
}

/// Appends pieces to a caller-provided array.
struct Pieces<'o> {
    out: &'o mut [Piece],
    n: usize,
    err: PlanError,
}

impl Pieces<'_> {
    fn push(&mut self, piece: Piece) -> Result<(), PlanError> {
        let slot = self.out.get_mut(self.n).ok_or(self.err)?;
        *slot = piece;
        self.n = self.n.checked_add(1).ok_or(self.err)?;
        Ok(())
    }

    fn push_kvec(&mut self, source: Source, kvec: Kvec) -> Result<(), PlanError> {
        self.push(Piece {
            source,
            page_offset: kvec.page_offset,
            len: kvec.len,
        })
    }

    /// Cuts the page list into pieces that do not cross page boundaries.
    fn push_pages(&mut self, shape: &XdrShape, page: PageSize) -> Result<(), PlanError> {
        let mut index = page.page_index(shape.page_base);
        let mut offset = page.offset_in_page(u64::from(shape.page_base));
        let mut remaining = shape.page_len;
        while remaining != 0 {
            let len = page.bytes().saturating_sub(offset).min(remaining);
            self.push(Piece {
                source: Source::Page(index),
                page_offset: offset,
                len,
            })?;
            remaining = remaining.saturating_sub(len);
            index = index.checked_add(1).ok_or(self.err)?;
            offset = 0;
        }
        Ok(())
    }
}

/// Cuts the part of `shape` that a chunk of `kind` conveys into pieces no
/// larger than a page (`rpcrdma_convert_iovs()`), writing them to `out`.
/// Returns the number of pieces.
pub(crate) fn chunk_segments(
    shape: &XdrShape,
    kind: ChunkKind,
    page: PageSize,
    out: &mut [Piece],
) -> Result<usize, PlanError> {
    let mut pieces = Pieces {
        out,
        n: 0,
        err: PlanError::TooManyPieces,
    };
    // As in C, the head is included when the chunk starts at XDR position
    // zero. Read and write chunks start after the head, so they include it
    // only when the head is empty.
    let with_head = match kind {
        ChunkKind::PositionZeroRead | ChunkKind::Reply => true,
        ChunkKind::Read | ChunkKind::Write => shape.head.len == 0,
    };
    if with_head {
        pieces.push_kvec(Source::Head, shape.head)?;
    }
    pieces.push_pages(shape, page)?;
    let with_tail = matches!(kind, ChunkKind::PositionZeroRead | ChunkKind::Reply);
    if with_tail && shape.tail.len != 0 {
        pieces.push_kvec(Source::Tail, shape.tail)?;
    }
    let n = pieces.n;
    if u64::try_from(n).map_or(true, |n| n > u64::from(page.max_segs())) {
        return Err(PlanError::TooManyPieces);
    }
    Ok(n)
}

/// A run of page pieces that one call can hand to an MR: `count` pieces
/// in consecutive pages from `index`, `len` bytes from `offset` in the
/// first, each piece but the last ending at its page's end and each but
/// the first starting at its page's start. Cut at page boundaries again,
/// `len` bytes from `offset` give back exactly these pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageRun {
    /// Page array index of the first piece.
    pub(crate) index: u32,
    /// Number of pieces (and pages).
    pub(crate) count: u32,
    /// Offset of the first byte in the first page.
    pub(crate) offset: u32,
    /// Total bytes.
    pub(crate) len: u32,
}

/// Returns the [`PageRun`] at the start of `pieces` (as `push_pages`
/// cuts the page list), or `None` if the first piece is not in a page or
/// is empty or crosses its page's end.
pub(crate) fn page_run(pieces: &[Piece], page: PageSize) -> Option<PageRun> {
    let size = page.bytes();
    let fits = |p: &Piece| {
        p.len != 0
            && p.page_offset
                .checked_add(p.len)
                .is_some_and(|end| end <= size)
    };
    let (first, rest) = pieces.split_first()?;
    let Source::Page(index) = first.source else {
        return None;
    };
    if !fits(first) {
        return None;
    }
    let mut run = PageRun {
        index,
        count: 1,
        offset: first.page_offset,
        len: first.len,
    };
    let mut prev = first;
    for p in rest {
        let next = index.checked_add(run.count);
        let follows = matches!(p.source, Source::Page(i) if Some(i) == next);
        let prev_ends = prev.page_offset.checked_add(prev.len) == Some(size);
        if !follows || !prev_ends || p.page_offset != 0 || !fits(p) {
            break;
        }
        let (Some(count), Some(len)) = (run.count.checked_add(1), run.len.checked_add(p.len))
        else {
            break;
        };
        run.count = count;
        run.len = len;
        prev = p;
    }
    Some(run)
}

/// A run of pieces covered by one memory registration, i.e. one RDMA
/// segment of a chunk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct MrRange {
    /// Index of the first piece.
    pub(crate) first: usize,
    /// Number of pieces (`mr_nents`).
    pub(crate) nents: usize,
    /// Total bytes.
    pub(crate) len: u64,
}

/// Groups `pieces` into memory registrations the way `frwr_map()` does: at
/// most `max_fr_depth` pieces each, and unless the device handles gaps, a
/// registration ends at a piece that does not end on a page boundary or
/// before a piece that does not start on one. Writes the ranges to `out`
/// and returns how many there are; fails if a chunk would need more than
/// `max_rdma_segs`.
pub(crate) fn mr_ranges(
    pieces: &[Piece],
    t: &Thresholds,
    out: &mut [MrRange],
) -> Result<usize, PlanError> {
    // A device reporting a depth of zero registers one piece at a time,
    // rather than looping forever.
    let depth = usize::try_from(t.max_fr_depth.max(1)).unwrap_or(usize::MAX);
    let mut n = 0usize;
    let mut rest = pieces;
    let mut first = 0usize;
    while !rest.is_empty() {
        let window = rest.get(..depth.min(rest.len())).unwrap_or(rest);
        let mut nents = 0usize;
        let mut len = 0u64;
        for (i, piece) in window.iter().enumerate() {
            nents = i.saturating_add(1);
            len = len.saturating_add(u64::from(piece.len));
            if t.sg_gaps {
                continue;
            }
            let end = u64::from(piece.page_offset).saturating_add(u64::from(piece.len));
            let next_offset = window.get(nents).map(|p| p.page_offset);
            if next_offset.is_some_and(|o| o != 0) || t.page.offset_in_page(end) != 0 {
                break;
            }
        }
        if u32::try_from(n).map_or(true, |n| n >= t.max_rdma_segs) {
            return Err(PlanError::TooManyRdmaSegments);
        }
        let slot = out.get_mut(n).ok_or(PlanError::TooManyRdmaSegments)?;
        *slot = MrRange { first, nents, len };
        n = n.saturating_add(1);
        first = first.saturating_add(nents);
        rest = rest.get(nents..).unwrap_or(&[]);
    }
    Ok(n)
}

/// The pieces [`chunk_segments`] cuts a chunk into, described by their
/// parts rather than listed: an optional head piece, the page list as one
/// [`PageRun`], an optional tail piece. [`ChunkPieces::ranges`] (and
/// [`ChunkPieces::mr_ranges`], [`ChunkPieces::entries`]) give what
/// [`mr_ranges`] and [`page_run`] give over the listed pieces, in work that
/// grows with the number of registrations, not of pages: only the C helper
/// that fills the scatterlist touches each page (as `frwr_map()` does).
///
/// # Invariants
///
/// The pieces, in order `head`, the pieces of `pages` (piece `j` in page
/// `pages.index + j`, from `pages.offset` in the first and 0 in the
/// others, each but the last running to its page's end), `tail`, are
/// exactly those [`chunk_segments`] writes for the same shape, kind and
/// page size; `pages`, when present, has `count >= 1` and `len >= 1`; `n`
/// is their number, at most `page.max_segs()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkPieces {
    head: Option<Piece>,
    pages: Option<PageRun>,
    tail: Option<Piece>,
    page: PageSize,
    n: u32,
}

/// What one memory registration of a [`ChunkPieces`] holds, in
/// scatterlist order: the head piece, a run of page pieces (one
/// `xprs_mr_set_page_run` call), the tail piece; any of them may be
/// absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct MrEntries {
    /// The head piece, at entry 0.
    pub(crate) head: Option<Piece>,
    /// Page pieces, from the entry after the head.
    pub(crate) pages: Option<PageRun>,
    /// The tail piece, after the page pieces.
    pub(crate) tail: Option<Piece>,
}

impl MrEntries {
    /// Returns the total bytes.
    pub(crate) fn len(&self) -> u64 {
        let piece = |p: &Option<Piece>| p.map_or(0, |p| u64::from(p.len));
        piece(&self.head)
            .saturating_add(self.pages.map_or(0, |r| u64::from(r.len)))
            .saturating_add(piece(&self.tail))
    }
}

impl PageRun {
    /// Returns how many bytes of the run come before its piece `j`
    /// (`j <= count`; the run's length for `j == count`).
    fn bytes_before(&self, j: u32, page: PageSize) -> u32 {
        if j == 0 {
            return 0;
        }
        // Piece 0 holds `bytes - offset`, each next one a page, but the
        // run ends after `len` bytes. `offset` is below the page size, so
        // the subtraction does not wrap.
        let upto = u64::from(j)
            .saturating_mul(u64::from(page.bytes()))
            .saturating_sub(u64::from(self.offset));
        // The minimum is at most `len`, a u32.
        u32::try_from(upto.min(u64::from(self.len))).unwrap_or(self.len)
    }

    /// Returns pieces `from..to` of the run as a run of their own, or
    /// `None` if that is empty or not within the run.
    #[inline]
    fn sub(&self, from: u32, to: u32, page: PageSize) -> Option<PageRun> {
        if from >= to || to > self.count {
            return None;
        }
        let start = self.bytes_before(from, page);
        Some(PageRun {
            index: self.index.checked_add(from)?,
            count: to.checked_sub(from)?,
            offset: if from == 0 { self.offset } else { 0 },
            len: self.bytes_before(to, page).checked_sub(start)?,
        })
    }

    /// Returns piece `j` of the run.
    #[inline]
    fn piece(&self, j: u32, page: PageSize) -> Option<Piece> {
        let one = self.sub(j, j.checked_add(1)?, page)?;
        Some(Piece {
            source: Source::Page(one.index),
            page_offset: one.offset,
            len: one.len,
        })
    }
}

/// The memory registrations of a [`ChunkPieces`], from
/// [`ChunkPieces::ranges`]: each range with what it holds.
#[derive(Debug, Clone)]
pub(crate) struct MrRanges<'c> {
    chunk: &'c ChunkPieces,
    /// Most pieces per registration, at least 1.
    depth: u32,
    /// The pieces after which a registration must end early.
    ends: [Option<u32>; 2],
    /// The first piece of the next registration.
    first: u32,
}

impl MrRanges<'_> {
    /// Returns the number of pieces of the registration that starts at
    /// piece `first` (at least 1).
    #[inline]
    fn nents(&self, first: u32) -> u32 {
        let mut nents = self.depth.min(self.chunk.n.saturating_sub(first)).max(1);
        for &end in self.ends.iter().flatten() {
            if let Some(upto) = end.checked_sub(first) {
                nents = nents.min(upto.saturating_add(1));
            }
        }
        nents
    }
}

impl Iterator for MrRanges<'_> {
    type Item = (MrRange, MrEntries);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.first >= self.chunk.n {
            return None;
        }
        let nents = self.nents(self.first);
        let range = MrRange {
            first: self.first as usize,
            nents: nents as usize,
            len: 0,
        };
        let held = self.chunk.entries(&range)?;
        self.first = self.first.saturating_add(nents);
        Some((
            MrRange {
                len: held.len(),
                ..range
            },
            held,
        ))
    }
}

impl ChunkPieces {
    /// Describes the pieces of the part of `shape` that a chunk of `kind`
    /// conveys, failing exactly when [`chunk_segments`] fails with an
    /// output of `page.max_segs()` pieces.
    pub(crate) fn new(shape: &XdrShape, kind: ChunkKind, page: PageSize) -> Result<Self, PlanError> {
        let too_many = PlanError::TooManyPieces;
        // Which parts go in, as `chunk_segments` decides it.
        let with_head = match kind {
            ChunkKind::PositionZeroRead | ChunkKind::Reply => true,
            ChunkKind::Read | ChunkKind::Write => shape.head.len == 0,
        };
        let with_tail =
            matches!(kind, ChunkKind::PositionZeroRead | ChunkKind::Reply) && shape.tail.len != 0;
        let kvec = |source, v: Kvec| Piece {
            source,
            page_offset: v.page_offset,
            len: v.len,
        };
        let head = with_head.then(|| kvec(Source::Head, shape.head));
        let tail = with_tail.then(|| kvec(Source::Tail, shape.tail));
        let pages = if shape.page_len == 0 {
            None
        } else {
            let count = u32::try_from(shape.page_pieces(page)).map_err(|_| too_many)?;
            let index = page.page_index(shape.page_base);
            // `push_pages` steps the page index past each piece, and
            // fails should it overflow.
            index.checked_add(count).ok_or(too_many)?;
            Some(PageRun {
                index,
                count,
                offset: page.offset_in_page(u64::from(shape.page_base)),
                len: shape.page_len,
            })
        };
        let n = u32::from(head.is_some())
            .saturating_add(pages.map_or(0, |r| r.count))
            .saturating_add(u32::from(tail.is_some()));
        if n > page.max_segs() {
            return Err(too_many);
        }
        // INVARIANT: the parts `chunk_segments` pushes, in its order, with
        // the page list cut as `push_pages` cuts it; within its bound.
        Ok(Self {
            head,
            pages,
            tail,
            page,
            n,
        })
    }

    /// Returns true if there is no piece.
    pub(crate) fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Returns the number of pieces.
    pub(crate) fn len(&self) -> usize {
        self.n as usize
    }

    /// Returns the number of pieces before the first page piece, and the
    /// number of page pieces.
    #[inline]
    fn page_span(&self) -> (u32, u32) {
        (
            u32::from(self.head.is_some()),
            self.pages.map_or(0, |r| r.count),
        )
    }

    /// Returns piece `g`.
    #[inline]
    fn piece(&self, g: u32) -> Option<Piece> {
        let (h, count) = self.page_span();
        if g < h {
            return self.head;
        }
        let j = g.checked_sub(h)?;
        if j < count {
            return self.pages?.piece(j, self.page);
        }
        if j == count {
            return self.tail;
        }
        None
    }

    /// Returns true if, on a device without `IB_MR_TYPE_SG_GAPS`, a
    /// registration must end after piece `g`: it is not the last piece,
    /// and it does not end on a page boundary or the next does not start
    /// on one (the test of [`mr_ranges`]).
    fn ends_registration(&self, g: u32) -> bool {
        let next = g.checked_add(1).and_then(|next| self.piece(next));
        match (self.piece(g), next) {
            (Some(p), Some(q)) => {
                let end = u64::from(p.page_offset).saturating_add(u64::from(p.len));
                q.page_offset != 0 || self.page.offset_in_page(end) != 0
            }
            _ => false,
        }
    }

    /// Groups the pieces into memory registrations as [`mr_ranges`] does
    /// over the listed pieces, with the same result, writing the ranges to
    /// `out`: [`ChunkPieces::ranges`] collected.
    pub(crate) fn mr_ranges(&self, t: &Thresholds, out: &mut [MrRange]) -> Result<usize, PlanError> {
        let mut n = 0usize;
        for ((range, _), slot) in self.ranges(t, out.len())?.zip(out.iter_mut()) {
            *slot = range;
            n = n.saturating_add(1);
        }
        Ok(n)
    }

    /// Returns the memory registrations of the pieces, in order, each with
    /// what it holds: the ranges [`mr_ranges`] gives over the listed pieces
    /// with an output of `room` ranges, and fails when it fails (more than
    /// `max_rdma_segs` or `room` ranges), before yielding any. Where
    /// [`mr_ranges`] tests every piece, this tests only the two places a
    /// registration can end early: after the head and after the last page
    /// piece. Every other piece is a page piece followed by a page piece,
    /// so it ends at its page's end and the next starts at its page's
    /// start.
    #[inline]
    pub(crate) fn ranges(&self, t: &Thresholds, room: usize) -> Result<MrRanges<'_>, PlanError> {
        let (h, count) = self.page_span();
        let mut ends = [None, None];
        if !t.sg_gaps {
            let last_page = h.saturating_add(count).checked_sub(1);
            let at = |g: u32| self.ends_registration(g).then_some(g);
            ends = [if h == 1 { at(0) } else { None }, last_page.and_then(at)];
        }
        let ranges = MrRanges {
            chunk: self,
            depth: t.max_fr_depth.max(1),
            ends,
            first: 0,
        };
        // Counted first, so that a chunk that needs too many fails before
        // any MR is taken, as with [`mr_ranges`].
        let limit = usize::try_from(t.max_rdma_segs).map_or(room, |m| m.min(room));
        let mut first = 0u32;
        let mut n = 0usize;
        while first < self.n {
            if n >= limit {
                return Err(PlanError::TooManyRdmaSegments);
            }
            n = n.saturating_add(1);
            first = first.saturating_add(ranges.nents(first));
        }
        Ok(ranges)
    }

    /// Returns what the registration of pieces `range` holds: the pieces
    /// that [`page_run`] and the single-piece path of `frwr.rs: register`
    /// hand it, with the page pieces as one run. `None` if the range is
    /// empty or not within the pieces.
    #[inline]
    pub(crate) fn entries(&self, range: &MrRange) -> Option<MrEntries> {
        let first = u32::try_from(range.first).ok()?;
        let end = first.checked_add(u32::try_from(range.nents).ok()?)?;
        if first >= end || end > self.n {
            return None;
        }
        let (h, count) = self.page_span();
        let pages = match self.pages {
            Some(run) => {
                let from = first.max(h).saturating_sub(h);
                let to = end.min(h.saturating_add(count)).saturating_sub(h);
                run.sub(from, to, self.page)
            }
            None => None,
        };
        Some(MrEntries {
            head: self.head.filter(|_| first == 0),
            pages,
            tail: self.tail.filter(|_| end == self.n),
        })
    }
}

/// Lists the Send SGEs that follow the transport header SGE for `plan`
/// (`rpcrdma_prepare_send_sges()`), writing them to `out`, and returns how
/// many there are.
///
/// - For [`SendPlan::Pullup`], the whole Call, copied into the head buffer.
/// - For [`SendPlan::Mapped`], the head, each page piece, and the tail.
/// - For [`SendPlan::ReadChunk`], the head, and the tail unless it is only
///   the XDR pad of the page list; the pad bytes at the front of the tail
///   are skipped so that what follows lands XDR-aligned.
/// - For [`SendPlan::PositionZeroRead`], none.
pub(crate) fn send_sges(
    plan: SendPlan,
    snd: &XdrShape,
    t: &Thresholds,
    out: &mut [Piece],
) -> Result<usize, PlanError> {
    let mut sges = Pieces {
        out,
        n: 0,
        err: PlanError::SendSgesExhausted,
    };
    match plan {
        SendPlan::Pullup => {
            let len = u32::try_from(snd.len()).map_err(|_| PlanError::SendSgesExhausted)?;
            sges.push_kvec(
                Source::Head,
                Kvec {
                    page_offset: snd.head.page_offset,
                    len,
                },
            )?;
        }
        SendPlan::Mapped => {
            sges.push_kvec(Source::Head, snd.head)?;
            sges.push_pages(snd, t.page)?;
            if snd.tail.len != 0 {
                sges.push_kvec(Source::Tail, snd.tail)?;
            }
        }
        SendPlan::ReadChunk => {
            sges.push_kvec(Source::Head, snd.head)?;
            if let Some(tail) = readch_tail(snd.tail) {
                sges.push_kvec(Source::Tail, tail)?;
            }
        }
        SendPlan::PositionZeroRead => {}
    }
    let n = sges.n;
    // One more SGE carries the transport header.
    if u64::try_from(n).map_or(true, |n| n >= u64::from(t.max_send_sge)) {
        return Err(PlanError::SendSgesExhausted);
    }
    Ok(n)
}

/// Returns the part of the Call's tail that is sent inline next to a read
/// chunk: nothing if the tail is only an XDR pad (at most 3 bytes), else
/// the tail without the leading pad bytes that `xdr_write_pages()` inserted
/// after an unaligned page list.
pub(crate) const fn readch_tail(tail: Kvec) -> Option<Kvec> {
    if tail.len <= 3 {
        return None;
    }
    let pad = tail.len & 3;
    Some(Kvec {
        page_offset: tail.page_offset.wrapping_add(pad),
        len: tail.len.wrapping_sub(pad),
    })
}
