// SPDX-License-Identifier: GPL-2.0

//! Decoding of received RPC-over-RDMA v1 transport headers: the fixed
//! fields ([`Fixed`]), the strict reply and call body decoders, the
//! negotiated [`Limits`] they check against, and the borrowed views
//! ([`Chunk`], [`WriteList`], [`ReadList`]) over validated bytes.

use super::super::xdr::{self, Reader, XDR_UNIT};
use super::{
    ErrorBody, ReadSegment, Segment, ERR_CHUNK, ERR_VERS, FIXED_LEN, RDMA_DONE, RDMA_ERROR,
    RDMA_MSG, RDMA_MSGP, RDMA_NOMSG, RPCRDMA_VERSION, SEGMENT_LEN,
};

/// Everything that can be wrong with a received transport header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The message ends inside the field that starts at `offset`.
    Truncated {
        /// Offset of the incomplete field.
        offset: usize,
    },
    /// `rdma_vers` is not 1.
    BadVersion {
        /// The version received.
        version: u32,
    },
    /// `rdma_proc` is RDMA_MSGP or RDMA_DONE, which version 1 retired.
    ObsoleteProc {
        /// The procedure received.
        proc_: u32,
    },
    /// `rdma_proc` is not a version 1 procedure.
    UnknownProc {
        /// The procedure received.
        proc_: u32,
    },
    /// A list or optional-item discriminator is neither 0 nor 1.
    BadDiscriminator {
        /// Offset of the discriminator.
        offset: usize,
        /// The value received.
        value: u32,
    },
    /// A reply carries a read list; servers never send one.
    ReadListInReply,
    /// An RDMA_ERROR was given to the call decoder.
    NotACall,
    /// A chunk or read list has more segments than were negotiated.
    TooManySegments {
        /// Segments in the list or chunk.
        count: u32,
        /// The negotiated maximum.
        max: u32,
    },
    /// The write list does not end after the negotiated number of chunks.
    TooManyWriteChunks {
        /// The negotiated maximum.
        max: u32,
    },
    /// A chunk (or the write list) claims more bytes than the receive
    /// buffer can hold.
    ChunkTooLong {
        /// Sum of the segment lengths.
        len: u64,
        /// Bytes the receive buffer can hold.
        max: u32,
    },
    /// An RDMA_MSG reply also conveys data in a reply chunk.
    ReplyChunkInMsg,
    /// An RDMA_NOMSG reply conveys data in the write list.
    WriteListInNoMsg,
    /// An RDMA_NOMSG reply conveys no data in a reply chunk.
    MissingReplyChunk,
    /// An RDMA_ERROR carries an unknown error code.
    UnknownErrorCode {
        /// The code received.
        code: u32,
    },
    /// Bytes follow a header that must end the message.
    TrailingData {
        /// Offset of the first unexpected byte.
        offset: usize,
    },
}

/// Limits negotiated for a connection and request, against which a received
/// header is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Most segments allowed in one chunk or in the read list.
    pub(crate) max_segments: u32,
    /// Most chunks allowed in the write list.
    pub(crate) max_write_chunks: u32,
    /// Most bytes one chunk (or the whole write list) may convey.
    pub(crate) max_chunk_len: u32,
}

impl Limits {
    /// Limits for replies to this client: `max_rdma_segs` is the
    /// connection's `re_max_rdma_segs`, plus one segment for the write pad;
    /// the write list holds one chunk; `rcv_buflen` is the size of the
    /// request's receive buffer (`rq_rcv_buf.buflen`).
    pub(crate) const fn for_client(max_rdma_segs: u32, rcv_buflen: u32) -> Self {
        Limits {
            max_segments: max_rdma_segs.saturating_add(1),
            max_write_chunks: 1,
            max_chunk_len: rcv_buflen,
        }
    }
}

/// The fixed fields of a received header, with the version checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fixed {
    /// Transaction ID (host order).
    pub(crate) xid: u32,
    /// Credit value exactly as received; see `credits::Credits::sanitize()`.
    pub(crate) credits: u32,
    /// `rdma_proc` exactly as received; checked by the body decoders.
    pub(crate) proc_: u32,
}

impl Fixed {
    /// Decodes and checks the four fixed words of `msg`.
    pub(crate) fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(msg);
        let [xid, version, credits, proc_] = r.words::<4>().ok_or(DecodeError::Truncated { offset: 0 })?;
        if version != RPCRDMA_VERSION {
            return Err(DecodeError::BadVersion { version });
        }
        Ok(Fixed {
            xid,
            credits,
            proc_,
        })
    }

    /// Strictly decodes the body of a message sent by a server to this
    /// client (a reply or a backchannel call). `msg` is the whole received
    /// message, fixed words included, exactly as long as the Receive
    /// completion reported.
    pub(crate) fn decode_reply_body<'a>(
        &self,
        msg: &'a [u8],
        limits: &Limits,
    ) -> Result<ReplyBody<'a>, DecodeError> {
        let mut r = body_reader(msg)?;
        match self.proc_ {
            RDMA_MSG | RDMA_NOMSG => {}
            RDMA_ERROR => return decode_error_body(&mut r).map(ReplyBody::Error),
            RDMA_MSGP | RDMA_DONE => return Err(DecodeError::ObsoleteProc { proc_: self.proc_ }),
            proc_ => return Err(DecodeError::UnknownProc { proc_ }),
        }
        if discriminator(&mut r)? {
            return Err(DecodeError::ReadListInReply);
        }
        let write_list = decode_write_list(&mut r, limits)?;
        let reply_chunk = decode_optional_chunk(&mut r, limits)?;
        let reply_len = reply_chunk.map_or(0, |c| c.total_len());
        if self.proc_ == RDMA_MSG {
            if reply_len != 0 {
                return Err(DecodeError::ReplyChunkInMsg);
            }
            return Ok(ReplyBody::Msg(MsgReply {
                write_list,
                reply_chunk_present: reply_chunk.is_some(),
                rpc_offset: r.offset(),
                rpc_message: r.remaining(),
            }));
        }
        if write_list.total_len() != 0 {
            return Err(DecodeError::WriteListInNoMsg);
        }
        let reply_chunk = match reply_chunk {
            Some(chunk) if reply_len != 0 => chunk,
            _ => return Err(DecodeError::MissingReplyChunk),
        };
        expect_end(&r)?;
        Ok(ReplyBody::NoMsg { reply_chunk })
    }

    /// Returns the inline RPC message of `msg` if it is a backchannel call
    /// (see [`MsgReply::is_backchannel_call`]), decoded with limits that
    /// admit no chunk at all; `None` for anything else, including malformed
    /// messages, which the reply decoder then reports.
    ///
    /// That decode admits exactly one layout: the three list
    /// discriminators zero (anything else is a chunk, which the limits
    /// refuse, or malformed), then the RPC message, whose first words must
    /// be the XID and CALL. So those five words after the fixed ones are
    /// compared, read in two groups (`rpcrdma_is_bcall()` peeks at them the
    /// same way), and a Reply fails on its direction word without a
    /// decode.
    pub(crate) fn backchannel_call<'a>(&self, msg: &'a [u8]) -> Option<&'a [u8]> {
        if self.proc_ != RDMA_MSG {
            return None;
        }
        let mut r = body_reader(msg).ok()?;
        let [read, write, reply] = r.words::<3>()?;
        let rpc = r.remaining();
        let [xid, direction] = r.words::<2>()?;
        if [read, write, reply, direction] != [0, 0, 0, RPC_CALL] || xid != self.xid {
            return None;
        }
        Some(rpc)
    }

    /// Decodes the body of a call (RDMA_MSG or RDMA_NOMSG, read list
    /// allowed), as a server would; this client uses it to check what its
    /// own encoder produces.
    pub(crate) fn decode_call_body<'a>(
        &self,
        msg: &'a [u8],
        limits: &Limits,
    ) -> Result<CallBody<'a>, DecodeError> {
        let mut r = body_reader(msg)?;
        match self.proc_ {
            RDMA_MSG | RDMA_NOMSG => {}
            RDMA_ERROR => return Err(DecodeError::NotACall),
            RDMA_MSGP | RDMA_DONE => return Err(DecodeError::ObsoleteProc { proc_: self.proc_ }),
            proc_ => return Err(DecodeError::UnknownProc { proc_ }),
        }
        let read_list = decode_read_list(&mut r, limits)?;
        let write_list = decode_write_list(&mut r, limits)?;
        let reply_chunk = decode_optional_chunk(&mut r, limits)?;
        if self.proc_ == RDMA_NOMSG {
            expect_end(&r)?;
        }
        Ok(CallBody {
            nomsg: self.proc_ == RDMA_NOMSG,
            read_list,
            write_list,
            reply_chunk,
            rpc_offset: r.offset(),
            rpc_message: r.remaining(),
        })
    }
}

/// A strictly validated reply body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplyBody<'a> {
    /// RDMA_MSG: the RPC reply follows inline.
    Msg(MsgReply<'a>),
    /// RDMA_NOMSG: the RPC reply was written into the reply chunk.
    NoMsg {
        /// The reply chunk as returned by the server (non-empty).
        reply_chunk: Chunk<'a>,
    },
    /// RDMA_ERROR.
    Error(ErrorBody),
}

/// A validated RDMA_MSG reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MsgReply<'a> {
    /// The write list as returned by the server.
    pub(crate) write_list: WriteList<'a>,
    /// Whether the server returned a (zero-length) reply chunk.
    pub(crate) reply_chunk_present: bool,
    /// Offset of the inline RPC message within the received message.
    pub(crate) rpc_offset: usize,
    /// The inline RPC message (everything after the transport header).
    pub(crate) rpc_message: &'a [u8],
}

/// RPC message direction word of an RPC call (RFC 5531).
const RPC_CALL: u32 = 0;

impl MsgReply<'_> {
    /// Returns the length the RPC layer sees: the inline message plus the
    /// XDR-aligned write list payload (what `rpcrdma_decode_msg()` returns).
    pub(crate) fn rpc_len(&self) -> u64 {
        let inline = u64::try_from(self.rpc_message.len()).unwrap_or(u64::MAX);
        let payload = u32::try_from(self.write_list.total_len()).map_or(u64::MAX, xdr::align_size);
        inline.saturating_add(payload)
    }

    /// Returns true if this message is a backchannel call for `xid`: no
    /// chunks at all, and the inline RPC message starts with the same XID
    /// and the CALL direction (the test `rpcrdma_is_bcall()` makes).
    pub(crate) fn is_backchannel_call(&self, xid: u32) -> bool {
        if !self.write_list.is_empty() || self.reply_chunk_present {
            return false;
        }
        let mut r = Reader::new(self.rpc_message);
        r.word() == Some(xid) && r.word() == Some(RPC_CALL)
    }
}

/// A validated call body (read list allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CallBody<'a> {
    /// True for RDMA_NOMSG.
    pub(crate) nomsg: bool,
    /// The read list.
    pub(crate) read_list: ReadList<'a>,
    /// The write list.
    pub(crate) write_list: WriteList<'a>,
    /// The reply chunk, if present.
    pub(crate) reply_chunk: Option<Chunk<'a>>,
    /// Offset of the inline RPC message.
    pub(crate) rpc_offset: usize,
    /// The inline RPC message (empty for RDMA_NOMSG).
    pub(crate) rpc_message: &'a [u8],
}

/// Returns a reader over `msg` positioned after the fixed words, so that
/// reported offsets count from the start of the message.
fn body_reader(msg: &[u8]) -> Result<Reader<'_>, DecodeError> {
    let mut r = Reader::new(msg);
    r.bytes(FIXED_LEN).ok_or(DecodeError::Truncated { offset: 0 })?;
    Ok(r)
}

fn word_at(r: &mut Reader<'_>) -> Result<(usize, u32), DecodeError> {
    let offset = r.offset();
    r.word()
        .map(|w| (offset, w))
        .ok_or(DecodeError::Truncated { offset })
}

fn discriminator(r: &mut Reader<'_>) -> Result<bool, DecodeError> {
    match word_at(r)? {
        (_, 0) => Ok(false),
        (_, 1) => Ok(true),
        (offset, value) => Err(DecodeError::BadDiscriminator { offset, value }),
    }
}

fn expect_end(r: &Reader<'_>) -> Result<(), DecodeError> {
    if r.remaining().is_empty() {
        Ok(())
    } else {
        Err(DecodeError::TrailingData { offset: r.offset() })
    }
}

fn check_len(len: u64, limits: &Limits) -> Result<(), DecodeError> {
    if len > u64::from(limits.max_chunk_len) {
        return Err(DecodeError::ChunkTooLong {
            len,
            max: limits.max_chunk_len,
        });
    }
    Ok(())
}

fn check_count(count: u32, limits: &Limits) -> Result<(), DecodeError> {
    if count > limits.max_segments {
        return Err(DecodeError::TooManySegments {
            count,
            max: limits.max_segments,
        });
    }
    Ok(())
}

fn decode_error_body(r: &mut Reader<'_>) -> Result<ErrorBody, DecodeError> {
    let body = match word_at(r)? {
        (_, ERR_VERS) => {
            let (_, low) = word_at(r)?;
            let (_, high) = word_at(r)?;
            ErrorBody::Vers { low, high }
        }
        (_, ERR_CHUNK) => ErrorBody::Chunk,
        (_, code) => return Err(DecodeError::UnknownErrorCode { code }),
    };
    expect_end(r)?;
    Ok(body)
}

/// Decodes one counted array of segments (a write or reply chunk).
fn decode_chunk<'a>(r: &mut Reader<'a>, limits: &Limits) -> Result<Chunk<'a>, DecodeError> {
    let (_, count) = word_at(r)?;
    check_count(count, limits)?;
    let start = r.offset();
    // The segments with one bounds check: `count` is at most the
    // negotiated maximum, so the product does not overflow; if it did, the
    // bytes would not be there either.
    let len = usize::try_from(count).ok().and_then(|n| n.checked_mul(SEGMENT_LEN));
    let Some(encoded) = len.and_then(|len| r.bytes(len)) else {
        // Where a segment-by-segment decode stops: the first segment
        // that is not all there.
        let rest = r.remaining();
        let whole = rest.len().wrapping_sub(rest.chunks_exact(SEGMENT_LEN).remainder().len());
        return Err(DecodeError::Truncated {
            offset: start.saturating_add(whole),
        });
    };
    let total = encoded.chunks_exact(SEGMENT_LEN).fold(0u64, |total, seg| {
        // A segment's length is its second word.
        let length = seg.get(XDR_UNIT..).and_then(|w| w.first_chunk::<4>()).map_or(0, |w| u32::from_be_bytes(*w));
        total.saturating_add(u64::from(length))
    });
    check_len(total, limits)?;
    // INVARIANT: the bytes hold exactly `count` segments, which any
    // `SEGMENT_LEN` bytes are.
    Ok(Chunk {
        encoded,
        total_len: total,
    })
}

fn decode_optional_chunk<'a>(
    r: &mut Reader<'a>,
    limits: &Limits,
) -> Result<Option<Chunk<'a>>, DecodeError> {
    match discriminator(r)? {
        false => Ok(None),
        true => decode_chunk(r, limits).map(Some),
    }
}

fn decode_write_list<'a>(
    r: &mut Reader<'a>,
    limits: &Limits,
) -> Result<WriteList<'a>, DecodeError> {
    let start = r.offset();
    let mut chunks: u32 = 0;
    let mut total: u64 = 0;
    loop {
        let item_start = r.offset();
        if !discriminator(r)? {
            // INVARIANT: `chunks` present chunks were validated, followed by
            // the terminating discriminator, which `encoded` excludes.
            return Ok(WriteList {
                encoded: r.between(start, item_start),
                chunks,
                total_len: total,
            });
        }
        if chunks >= limits.max_write_chunks {
            return Err(DecodeError::TooManyWriteChunks {
                max: limits.max_write_chunks,
            });
        }
        let chunk = decode_chunk(r, limits)?;
        total = total.saturating_add(chunk.total_len);
        check_len(total, limits)?;
        chunks = chunks.saturating_add(1);
    }
}

fn decode_read_list<'a>(r: &mut Reader<'a>, limits: &Limits) -> Result<ReadList<'a>, DecodeError> {
    let start = r.offset();
    let mut count: u32 = 0;
    let mut total: u64 = 0;
    loop {
        let item_start = r.offset();
        if !discriminator(r)? {
            // INVARIANT: `count` validated items precede the terminator.
            return Ok(ReadList {
                encoded: r.between(start, item_start),
                count,
            });
        }
        count = count.saturating_add(1);
        check_count(count, limits)?;
        let offset = r.offset();
        r.word().ok_or(DecodeError::Truncated { offset })?;
        let offset = r.offset();
        let seg = Segment::decode(r).ok_or(DecodeError::Truncated { offset })?;
        total = total.saturating_add(u64::from(seg.length));
        check_len(total, limits)?;
    }
}

/// A validated chunk: a counted array of segments.
///
/// # Invariants
///
/// `encoded` holds exactly `encoded.len() / SEGMENT_LEN` segments whose
/// lengths add up to `total_len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chunk<'a> {
    encoded: &'a [u8],
    total_len: u64,
}

impl<'a> Chunk<'a> {
    /// Returns the number of segments.
    pub(crate) const fn segment_count(&self) -> usize {
        self.encoded.len() / SEGMENT_LEN
    }

    /// Returns the sum of the segment lengths.
    pub(crate) const fn total_len(&self) -> u64 {
        self.total_len
    }

    /// Returns the encoded segments as they appear in the message.
    pub(crate) const fn as_bytes(&self) -> &'a [u8] {
        self.encoded
    }

    /// Iterates over the segments.
    pub(crate) fn segments(&self) -> Segments<'a> {
        Segments {
            r: Reader::new(self.encoded),
        }
    }
}

/// Iterator over the segments of a [`Chunk`].
#[derive(Clone)]
pub(crate) struct Segments<'a> {
    r: Reader<'a>,
}

impl Iterator for Segments<'_> {
    type Item = Segment;

    fn next(&mut self) -> Option<Segment> {
        Segment::decode(&mut self.r)
    }
}

/// A validated write list.
///
/// # Invariants
///
/// `encoded` holds exactly `chunks` validated `1 | count | segments` items,
/// without the terminating discriminator; their lengths add up to
/// `total_len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WriteList<'a> {
    encoded: &'a [u8],
    chunks: u32,
    total_len: u64,
}

impl<'a> WriteList<'a> {
    /// Returns true if the list has no chunk.
    pub(crate) const fn is_empty(&self) -> bool {
        self.chunks == 0
    }

    /// Returns the number of chunks.
    pub(crate) const fn chunk_count(&self) -> u32 {
        self.chunks
    }

    /// Returns the sum of all segment lengths of all chunks.
    pub(crate) const fn total_len(&self) -> u64 {
        self.total_len
    }

    /// Returns the encoded chunks as they appear in the message.
    pub(crate) const fn as_bytes(&self) -> &'a [u8] {
        self.encoded
    }

    /// Iterates over the chunks.
    pub(crate) fn chunks(&self) -> WriteChunks<'a> {
        WriteChunks {
            r: Reader::new(self.encoded),
        }
    }
}

/// Iterator over the chunks of a [`WriteList`].
#[derive(Clone)]
pub(crate) struct WriteChunks<'a> {
    r: Reader<'a>,
}

impl<'a> Iterator for WriteChunks<'a> {
    type Item = Chunk<'a>;

    fn next(&mut self) -> Option<Chunk<'a>> {
        self.r.word()?;
        let count = usize::try_from(self.r.word()?).ok()?;
        let len = count.checked_mul(SEGMENT_LEN)?;
        let rest = self.r.remaining();
        let encoded = rest.get(..len)?;
        self.r = Reader::new(rest.get(len..)?);
        let total_len = Segments {
            r: Reader::new(encoded),
        }
        .fold(0u64, |sum, seg| sum.saturating_add(u64::from(seg.length)));
        // INVARIANT: `encoded` was validated by `decode_chunk()`.
        Some(Chunk { encoded, total_len })
    }
}

/// A validated read list.
///
/// # Invariants
///
/// `encoded` holds exactly `count` validated `1 | position | segment`
/// items, without the terminating discriminator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadList<'a> {
    encoded: &'a [u8],
    count: u32,
}

impl<'a> ReadList<'a> {
    /// Returns true if the list has no item.
    pub(crate) const fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Returns the encoded items as they appear in the message.
    pub(crate) const fn as_bytes(&self) -> &'a [u8] {
        self.encoded
    }

    /// Iterates over the items.
    pub(crate) fn items(&self) -> ReadItems<'a> {
        ReadItems {
            r: Reader::new(self.encoded),
        }
    }
}

/// Iterator over the items of a [`ReadList`].
#[derive(Clone)]
pub(crate) struct ReadItems<'a> {
    r: Reader<'a>,
}

impl Iterator for ReadItems<'_> {
    type Item = ReadSegment;

    fn next(&mut self) -> Option<ReadSegment> {
        self.r.word()?;
        let position = self.r.word()?;
        let segment = Segment::decode(&mut self.r)?;
        Some(ReadSegment { position, segment })
    }
}
