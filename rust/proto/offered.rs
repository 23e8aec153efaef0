// SPDX-License-Identifier: GPL-2.0

//! What a Call offered the server for its Reply, and the check of every
//! Reply against it.
//!
//! RFC 8166 §3.5.4 and §4.3: a responder may use only the chunks the
//! requester provided. [`Fixed::decode_reply_body`] checks a Reply against
//! the connection's limits; that is not enough. A write list or a reply
//! chunk the Call never offered points at memory the server was never
//! given, and believing it places the inline reply at the wrong offset
//! (a write list) or hands the RPC layer whatever the receive buffer held
//! before (a reply chunk): silent corruption. So each req remembers the
//! segments it offered, and a Reply whose chunks do not match them fails
//! its RPC.
//!
//! [`Fixed::decode_reply_body`]: super::header::Fixed::decode_reply_body

use super::header::{Chunk, MsgReply, Segment};

/// Most segments of an offered write chunk: a chunk's segments plus the
/// write-pad segment.
pub(crate) const MAX_WRITE_SEGS: usize = MAX_REPLY_SEGS + 1;
/// Most segments of an offered reply chunk (`RPCRDMA_MAX_HDR_SEGS`).
pub(crate) const MAX_REPLY_SEGS: usize = 16;

/// Why a Reply does not match what its Call offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// The Reply has a write chunk, and the Call offered none.
    WriteListNotOffered,
    /// The Reply has more than the one write chunk offered.
    TooManyWriteChunks,
    /// The Reply has a reply chunk, and the Call offered none.
    ReplyChunkNotOffered,
    /// A chunk has more segments than the offered one.
    TooManySegments,
    /// Segment `index` does not name the offered segment's handle.
    WrongHandle {
        /// Position of the segment in its chunk.
        index: usize,
    },
    /// Segment `index` claims more bytes than were offered in it.
    TooLong {
        /// Position of the segment in its chunk.
        index: usize,
    },
}

/// One offered chunk.
///
/// # Invariants
///
/// `len <= N`: the first `len` entries of `segs` are the offered segments.
#[derive(Debug, Clone, Copy)]
struct Offer<const N: usize> {
    segs: [Segment; N],
    len: usize,
}

impl<const N: usize> Offer<N> {
    const EMPTY: Self = Offer {
        segs: [Segment {
            handle: 0,
            length: 0,
            offset: 0,
        }; N],
        len: 0,
    };

    fn set(&mut self, segs: &[Segment]) -> Result<(), ()> {
        let dst = self.segs.get_mut(..segs.len()).ok_or(())?;
        dst.copy_from_slice(segs);
        // INVARIANT: `segs.len() <= N`, or `get_mut` failed above.
        self.len = segs.len();
        Ok(())
    }

    fn as_slice(&self) -> &[Segment] {
        self.segs.get(..self.len).unwrap_or(&[])
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Checks a returned chunk: at most the offered segments, in order,
    /// each with its offered handle and no longer than offered. The
    /// offsets are the server's business (RFC 8166 §3.4.6).
    fn check(&self, chunk: &Chunk<'_>) -> Result<(), Mismatch> {
        let offered = self.as_slice();
        if chunk.segment_count() > offered.len() {
            return Err(Mismatch::TooManySegments);
        }
        for (index, (got, want)) in chunk.segments().zip(offered.iter()).enumerate() {
            if got.handle != want.handle {
                return Err(Mismatch::WrongHandle { index });
            }
            if got.length > want.length {
                return Err(Mismatch::TooLong { index });
            }
        }
        Ok(())
    }
}

/// The chunks one Call offered for its Reply: its write chunk (the client
/// offers at most one, `rpcrdma_encode_write_list()`) and its reply chunk.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Offered {
    write: Offer<MAX_WRITE_SEGS>,
    reply: Offer<MAX_REPLY_SEGS>,
}

impl Offered {
    /// Nothing offered: only an inline Reply without chunks matches.
    pub(crate) const NONE: Self = Offered {
        write: Offer::EMPTY,
        reply: Offer::EMPTY,
    };

    /// Records what a Call offers. Fails, recording nothing, if either
    /// chunk has more segments than a Call can carry.
    pub(crate) fn set(&mut self, write: &[Segment], reply: &[Segment]) -> Result<(), ()> {
        // In place: only the offered segments are copied, once per Call.
        let set = self.write.set(write).and_then(|()| self.reply.set(reply));
        if set.is_err() {
            *self = Self::NONE;
        }
        set
    }

    /// Checks an RDMA_MSG Reply: its write list may only return the
    /// offered write chunk, and a (zero-length, as the decoder already
    /// made sure) reply chunk may only come back if one was offered.
    pub(crate) fn check_msg(&self, reply: &MsgReply<'_>) -> Result<(), Mismatch> {
        let mut chunks = reply.write_list.chunks();
        if let Some(chunk) = chunks.next() {
            if self.write.is_empty() {
                return Err(Mismatch::WriteListNotOffered);
            }
            self.write.check(&chunk)?;
        }
        if chunks.next().is_some() {
            return Err(Mismatch::TooManyWriteChunks);
        }
        if reply.reply_chunk_present && self.reply.is_empty() {
            return Err(Mismatch::ReplyChunkNotOffered);
        }
        Ok(())
    }

    /// Checks the reply chunk of an RDMA_NOMSG Reply.
    pub(crate) fn check_nomsg(&self, reply_chunk: &Chunk<'_>) -> Result<(), Mismatch> {
        if self.reply.is_empty() {
            return Err(Mismatch::ReplyChunkNotOffered);
        }
        self.reply.check(reply_chunk)
    }
}
