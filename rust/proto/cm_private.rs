// SPDX-License-Identifier: GPL-2.0

//! RFC 8797 connection private data.
//!
//! ```text
//!   0               4       5       6        7        8
//!   | magic 0xf6ab0e18 | version | flags | send_size | recv_size |
//! ```
//!
//! Each size is encoded as `size / 1024 - 1` in one byte, so it covers
//! 1 KiB to 256 KiB in 1 KiB steps. A peer that sends no valid private data
//! is assumed to use 1024-byte inline buffers in both directions
//! (`RPCRDMA_V1_DEF_INLINE_SIZE`).

/// The RFC 8797 magic number.
pub(crate) const MAGIC: u32 = 0xf6ab_0e18;
/// The only private data format version defined.
pub(crate) const VERSION: u8 = 1;
/// Flag: the sender accepts Send With Invalidate.
pub(crate) const FLAG_SEND_WITH_INVALIDATE: u8 = 1 << 0;
/// Encoded length of the private data message.
pub(crate) const LEN: usize = 8;
/// Inline size assumed when the peer does not advertise one.
pub(crate) const DEFAULT_INLINE_SIZE: InlineSize = InlineSize(1024);

const SIZE_UNIT: u32 = 1024;

/// An inline buffer size that RFC 8797 can express.
///
/// # Invariants
///
/// The value is a multiple of 1024 between 1024 and 262144 inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct InlineSize(u32);

impl InlineSize {
    /// Largest expressible size.
    pub(crate) const MAX: InlineSize = InlineSize(256 * SIZE_UNIT);

    /// Rounds `bytes` down to a 1 KiB multiple; `None` if it is below 1 KiB
    /// or above 256 KiB.
    pub(crate) const fn new(bytes: u32) -> Option<Self> {
        if bytes < SIZE_UNIT || bytes > Self::MAX.0 {
            return None;
        }
        // INVARIANT: checked just above, then rounded down to a multiple.
        Some(InlineSize(bytes.wrapping_sub(bytes % SIZE_UNIT)))
    }

    /// Returns the size in bytes.
    pub(crate) const fn bytes(self) -> u32 {
        self.0
    }

    const fn encode(self) -> u8 {
        // The type invariant bounds the quotient to 1..=256.
        (self.0 / SIZE_UNIT).wrapping_sub(1) as u8
    }

    const fn decode(code: u8) -> Self {
        // INVARIANT: (0..=255 + 1) * 1024 is 1024..=262144, a multiple.
        InlineSize((code as u32).wrapping_add(1).wrapping_mul(SIZE_UNIT))
    }
}

/// The content of an RFC 8797 private data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnectPrivate {
    /// The flags byte; unknown bits are kept as received.
    pub(crate) flags: u8,
    /// Largest message the sender will send inline.
    pub(crate) send_size: InlineSize,
    /// Largest message the sender can receive inline.
    pub(crate) recv_size: InlineSize,
}

/// Why received private data is not an RFC 8797 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrivateDataError {
    /// Fewer than [`LEN`] bytes.
    Short,
    /// The magic number does not match.
    BadMagic,
    /// The format version is not 1.
    BadVersion,
}

impl ConnectPrivate {
    /// The message this client sends: it accepts Send With Invalidate and
    /// advertises its own inline sizes.
    pub(crate) const fn client(send_size: InlineSize, recv_size: InlineSize) -> Self {
        ConnectPrivate {
            flags: FLAG_SEND_WITH_INVALIDATE,
            send_size,
            recv_size,
        }
    }

    /// Returns true if the sender accepts Send With Invalidate.
    pub(crate) const fn remote_invalidate(&self) -> bool {
        self.flags & FLAG_SEND_WITH_INVALIDATE != 0
    }

    /// Encodes the message.
    pub(crate) const fn encode(&self) -> [u8; LEN] {
        let m = MAGIC.to_be_bytes();
        [
            m[0],
            m[1],
            m[2],
            m[3],
            VERSION,
            self.flags,
            self.send_size.encode(),
            self.recv_size.encode(),
        ]
    }

    /// Decodes and validates received private data. Bytes beyond [`LEN`]
    /// are ignored: InfiniBand CM pads private data with zeroes.
    pub(crate) fn decode(data: &[u8]) -> Result<Self, PrivateDataError> {
        let (msg, _) = data
            .split_first_chunk::<LEN>()
            .ok_or(PrivateDataError::Short)?;
        let [m0, m1, m2, m3, version, flags, send, recv] = *msg;
        if u32::from_be_bytes([m0, m1, m2, m3]) != MAGIC {
            return Err(PrivateDataError::BadMagic);
        }
        if version != VERSION {
            return Err(PrivateDataError::BadVersion);
        }
        Ok(ConnectPrivate {
            flags,
            send_size: InlineSize::decode(send),
            recv_size: InlineSize::decode(recv),
        })
    }
}

/// Inline thresholds in force for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Negotiated {
    /// Largest Send this client may post (`re_inline_send`).
    pub(crate) inline_send: InlineSize,
    /// Largest Receive this client must accept (`re_inline_recv`).
    pub(crate) inline_recv: InlineSize,
}

/// Combines this client's sizes with what the server sent in its connection
/// private data (`None` when it sent none), as
/// `rpcrdma_update_cm_private()` does: invalid or absent data means the
/// version 1 defaults, and each direction takes the smaller of the two
/// sides.
pub(crate) fn negotiate(ours: Negotiated, peer: Option<&[u8]>) -> Negotiated {
    let (peer_send, peer_recv) = match peer.map(ConnectPrivate::decode) {
        Some(Ok(msg)) => (msg.send_size, msg.recv_size),
        _ => (DEFAULT_INLINE_SIZE, DEFAULT_INLINE_SIZE),
    };
    Negotiated {
        inline_recv: ours.inline_recv.min(peer_send),
        inline_send: ours.inline_send.min(peer_recv),
    }
}
