// SPDX-License-Identifier: GPL-2.0

//! RPC-over-RDMA version 1 transport header codec (RFC 8166, Section 4).
//!
//! ```text
//!   rdma_xid | rdma_vers | rdma_credit | rdma_proc | body
//!   body (RDMA_MSG, RDMA_NOMSG) = read list | write list | reply chunk
//!   read list   = { 1 | position | segment }* 0
//!   write list  = { 1 | count | segment[count] }* 0
//!   reply chunk = 0 | 1 | count | segment[count]
//!   segment     = handle | length | offset(hyper)
//!   body (RDMA_ERROR) = ERR_VERS | low | high   or   ERR_CHUNK
//! ```
//!
//! Decoding is split in two steps, as `rpcrdma_reply_handler()` does: the
//! fixed fields ([`Fixed::decode`]) identify the RPC and carry the credit
//! grant, then [`Fixed::decode_reply_body`] validates the rest strictly.
//! Decoded lists are borrowed views that re-parse bytes already validated,
//! so no heap is needed.
//!
//! This file holds the constants, the types both directions share and the
//! encoder; `decode.rs` holds the decoder, re-exported here.

use super::xdr::{NoSpace, Reader, Writer, XDR_UNIT};

mod decode;

// Every `pub(crate)` item of the decoder, at its old path `header::*`. A
// glob, since the standalone no_std build of rust/proto uses only some.
pub(crate) use decode::*;

/// The only protocol version this transport speaks.
pub(crate) const RPCRDMA_VERSION: u32 = 1;

/// `rdma_proc` value: an RPC message follows the header inline.
pub(crate) const RDMA_MSG: u32 = 0;
/// `rdma_proc` value: the RPC message travels in chunks only.
pub(crate) const RDMA_NOMSG: u32 = 1;
/// `rdma_proc` value (obsolete in version 1): RDMA_MSG with padding.
pub(crate) const RDMA_MSGP: u32 = 2;
/// `rdma_proc` value (obsolete in version 1): client signals reply done.
pub(crate) const RDMA_DONE: u32 = 3;
/// `rdma_proc` value: the peer could not process a message.
pub(crate) const RDMA_ERROR: u32 = 4;

/// `rdma_err` value: the peer does not support the requested version.
pub(crate) const ERR_VERS: u32 = 1;
/// `rdma_err` value: the peer could not parse the chunk lists.
pub(crate) const ERR_CHUNK: u32 = 2;

/// Bytes of the four fixed header words.
pub(crate) const FIXED_LEN: usize = 4 * XDR_UNIT;
/// Smallest RDMA_MSG/RDMA_NOMSG header: fixed words plus three empty lists
/// (`RPCRDMA_HDRLEN_MIN`).
pub(crate) const HDRLEN_MIN: usize = 7 * XDR_UNIT;
/// Bytes of one encoded RDMA segment (handle, length, 64-bit offset).
pub(crate) const SEGMENT_LEN: usize = 4 * XDR_UNIT;
/// Bytes of one encoded read list item (discriminator, position, segment).
pub(crate) const READ_ITEM_LEN: usize = 2 * XDR_UNIT + SEGMENT_LEN;

/// One RDMA segment: a registered memory region the peer may read or write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Segment {
    /// Steering tag (R_key) of the registered region.
    pub(crate) handle: u32,
    /// Length of the region in bytes.
    pub(crate) length: u32,
    /// Offset (I/O virtual address) of the region.
    pub(crate) offset: u64,
}

impl Segment {
    /// Decodes a segment, its four words (the hyper as two, high first)
    /// with one bounds check.
    fn decode(r: &mut Reader<'_>) -> Option<Self> {
        let [handle, length, high, low] = r.words::<4>()?;
        Some(Segment {
            handle,
            length,
            offset: (u64::from(high) << 32) | u64::from(low),
        })
    }

    fn encode(&self, w: &mut Writer<'_>) -> Result<(), NoSpace> {
        // The hyper as two words, high first: XDR's layout of it. One
        // bounds check for the segment.
        let [o0, o1, o2, o3, o4, o5, o6, o7] = self.offset.to_be_bytes();
        w.words4(
            self.handle,
            self.length,
            u32::from_be_bytes([o0, o1, o2, o3]),
            u32::from_be_bytes([o4, o5, o6, o7]),
        )
    }
}

/// One item of a read list: a segment and the XDR position where its data
/// belongs in the RPC message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ReadSegment {
    /// Byte offset in the RPC message at which the chunk's data belongs.
    pub(crate) position: u32,
    /// The registered region holding the data.
    pub(crate) segment: Segment,
}

/// Body of an RDMA_ERROR message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorBody {
    /// ERR_VERS: the versions the peer supports.
    Vers {
        /// Lowest supported version.
        low: u32,
        /// Highest supported version.
        high: u32,
    },
    /// ERR_CHUNK: the peer could not parse the chunk lists.
    Chunk,
}

/// Chunk lists of an outgoing RDMA_MSG or RDMA_NOMSG header.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ChunkLists<'s> {
    /// Read list items, in order.
    pub(crate) read: &'s [ReadSegment],
    /// Write chunks, each an array of segments.
    pub(crate) write: &'s [&'s [Segment]],
    /// The reply chunk, if any.
    pub(crate) reply: Option<&'s [Segment]>,
}

/// Body of an outgoing header.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Body<'s> {
    /// RDMA_MSG: the RPC message follows inline.
    Msg(ChunkLists<'s>),
    /// RDMA_NOMSG: the RPC message travels in a chunk.
    NoMsg(ChunkLists<'s>),
    /// RDMA_ERROR.
    Error(ErrorBody),
}

/// An outgoing transport header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header<'s> {
    /// Transaction ID, copied from the RPC message (host order).
    pub(crate) xid: u32,
    /// Credit value: requested (calls) or granted (replies).
    pub(crate) credits: u32,
    /// Procedure and its body.
    pub(crate) body: Body<'s>,
}

fn count_of(len: usize) -> Result<u32, NoSpace> {
    u32::try_from(len).map_err(|_| NoSpace)
}

/// Encodes a present chunk: the discriminator 1, the segment count and
/// the segments.
fn encode_chunk(w: &mut Writer<'_>, segments: &[Segment]) -> Result<(), NoSpace> {
    w.words2(1, count_of(segments.len())?)?;
    segments.iter().try_for_each(|seg| seg.encode(w))
}

// The words go out in pairs and fours where the layout allows, each group
// with one bounds check; the bytes are those of one word at a time.
fn encode_lists(w: &mut Writer<'_>, lists: &ChunkLists<'_>) -> Result<(), NoSpace> {
    for item in lists.read {
        w.words2(1, item.position)?;
        item.segment.encode(w)?;
    }
    w.word(0)?;
    lists.write.iter().try_for_each(|chunk| encode_chunk(w, chunk))?;
    match lists.reply {
        Some(chunk) => {
            w.word(0)?;
            encode_chunk(w, chunk)
        }
        // The end of the write list, and no reply chunk.
        None => w.words2(0, 0),
    }
}

impl Header<'_> {
    /// Encodes the header into `buf` and returns the number of bytes
    /// written. For RDMA_MSG the caller appends the RPC message after them.
    pub(crate) fn encode(&self, buf: &mut [u8]) -> Result<usize, NoSpace> {
        let mut w = Writer::new(buf);
        let proc_ = match &self.body {
            Body::Msg(_) => RDMA_MSG,
            Body::NoMsg(_) => RDMA_NOMSG,
            Body::Error(_) => RDMA_ERROR,
        };
        w.words4(self.xid, RPCRDMA_VERSION, self.credits, proc_)?;
        match &self.body {
            Body::Msg(lists) | Body::NoMsg(lists) => encode_lists(&mut w, lists)?,
            Body::Error(ErrorBody::Vers { low, high }) => {
                w.word(ERR_VERS)?;
                w.words2(*low, *high)?;
            }
            Body::Error(ErrorBody::Chunk) => w.word(ERR_CHUNK)?,
        }
        Ok(w.len())
    }
}
