// SPDX-License-Identifier: GPL-2.0

//! Bounds-checked XDR (RFC 4506) primitives.
//!
//! [`Reader`] never reads past the slice it was given and [`Writer`] never
//! writes past the slice it was given. Neither performs arithmetic that can
//! overflow: positions are derived from slice lengths, never from wire data.

/// Size in bytes of one XDR unit.
pub(crate) const XDR_UNIT: usize = 4;

/// Returns the number of pad bytes that follow `len` bytes of XDR opaque
/// data (`xdr_pad_size()` in C).
pub(crate) const fn pad_size(len: u32) -> u32 {
    (XDR_UNIT as u32).wrapping_sub(len & 3) & 3
}

/// Returns `len` rounded up to the next XDR unit (`xdr_align_size()` in C),
/// computed in 64 bits so that it cannot overflow.
pub(crate) const fn align_size(len: u32) -> u64 {
    (len as u64).wrapping_add(pad_size(len) as u64)
}

/// A cursor that decodes big-endian XDR words from a borrowed buffer.
///
/// # Invariants
///
/// `rest` is always a suffix of `whole`.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    whole: &'a [u8],
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Creates a reader positioned at the start of `buf`.
    pub(crate) const fn new(buf: &'a [u8]) -> Self {
        // INVARIANT: `buf` is a suffix of itself.
        Reader {
            whole: buf,
            rest: buf,
        }
    }

    /// Returns the offset of the next unread byte from the start of the
    /// buffer.
    pub(crate) const fn offset(&self) -> usize {
        // `rest` is a suffix of `whole` (type invariant), so this cannot
        // underflow; `wrapping_sub` keeps the overflow checker quiet.
        self.whole.len().wrapping_sub(self.rest.len())
    }

    /// Returns the bytes that have not been read yet.
    pub(crate) const fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    /// Returns the bytes between two earlier [`Reader::offset`] values, or
    /// an empty slice if they do not describe a range of the buffer.
    pub(crate) fn between(&self, start: usize, end: usize) -> &'a [u8] {
        self.whole.get(start..end).unwrap_or(&[])
    }

    /// Decodes one 32-bit word, or returns `None` if fewer than four bytes
    /// remain.
    pub(crate) fn word(&mut self) -> Option<u32> {
        let (word, rest) = self.rest.split_first_chunk::<4>()?;
        // INVARIANT: `rest` is a suffix of the previous `rest`.
        self.rest = rest;
        Some(u32::from_be_bytes(*word))
    }

    /// Decodes `N` consecutive words with one bounds check, or returns
    /// `None` (reading nothing) if fewer than `N` words remain.
    #[inline]
    pub(crate) fn words<const N: usize>(&mut self) -> Option<[u32; N]> {
        let (group, rest) = self.rest.split_at_checked(N.checked_mul(XDR_UNIT)?)?;
        let mut out = [0u32; N];
        for (o, w) in out.iter_mut().zip(group.chunks_exact(XDR_UNIT)) {
            *o = w.first_chunk::<4>().map_or(0, |w| u32::from_be_bytes(*w));
        }
        // INVARIANT: `rest` is a suffix of the previous `rest`.
        self.rest = rest;
        Some(out)
    }

    /// Takes the next `len` bytes, or returns `None` (reading nothing) if
    /// fewer remain.
    #[inline]
    pub(crate) fn bytes(&mut self, len: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.rest.split_at_checked(len)?;
        // INVARIANT: `rest` is a suffix of the previous `rest`.
        self.rest = rest;
        Some(taken)
    }
}

/// Error returned when an encoded message does not fit in the caller's
/// buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NoSpace;

/// A cursor that encodes big-endian XDR words into a borrowed buffer.
///
/// # Invariants
///
/// `len <= buf.len()`.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Writer<'a> {
    /// Creates a writer positioned at the start of `buf`.
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        // INVARIANT: 0 <= buf.len().
        Writer { buf, len: 0 }
    }

    /// Returns the number of bytes written so far.
    pub(crate) const fn len(&self) -> usize {
        self.len
    }

    fn put<const N: usize>(&mut self, bytes: [u8; N]) -> Result<(), NoSpace> {
        let dst = self
            .buf
            .get_mut(self.len..)
            .and_then(|tail| tail.first_chunk_mut::<N>())
            .ok_or(NoSpace)?;
        *dst = bytes;
        // INVARIANT: `N` bytes at `len` exist, so `len + N <= buf.len()`.
        self.len = self.len.checked_add(N).ok_or(NoSpace)?;
        Ok(())
    }

    /// Encodes one 32-bit word.
    pub(crate) fn word(&mut self, value: u32) -> Result<(), NoSpace> {
        self.put(value.to_be_bytes())
    }

    /// Encodes two 32-bit words with one bounds check.
    pub(crate) fn words2(&mut self, a: u32, b: u32) -> Result<(), NoSpace> {
        let ([a0, a1, a2, a3], [b0, b1, b2, b3]) = (a.to_be_bytes(), b.to_be_bytes());
        self.put([a0, a1, a2, a3, b0, b1, b2, b3])
    }

    /// Encodes four 32-bit words with one bounds check.
    pub(crate) fn words4(&mut self, a: u32, b: u32, c: u32, d: u32) -> Result<(), NoSpace> {
        let ([a0, a1, a2, a3], [b0, b1, b2, b3]) = (a.to_be_bytes(), b.to_be_bytes());
        let ([c0, c1, c2, c3], [d0, d1, d2, d3]) = (c.to_be_bytes(), d.to_be_bytes());
        self.put([
            a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3,
        ])
    }
}
