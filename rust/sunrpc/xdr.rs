// SPDX-License-Identifier: GPL-2.0

//! Read-only views of the `xdr_buf`s of an RPC.

use crate::bindings;
use crate::proto::chunk::{Kvec, Piece, Source, XdrShape};

/// A read-only view of an `xdr_buf` of an RPC the caller owns or has
/// pinned: its shape for chunk planning, and where each piece lives.
///
/// # Invariants
///
/// `buf` is a valid `xdr_buf` whose head, tail and page array stay valid
/// and unchanged for `'a`.
pub(crate) struct XdrBuf<'a> {
    buf: &'a bindings::xdr_buf,
}

/// Where a planned piece of an `xdr_buf` is in memory.
pub(crate) enum PieceAddr {
    /// At an offset in a page of the page array.
    Page(*mut bindings::page, u32),
    /// At a kernel virtual address (the head or the tail).
    Virt(*mut core::ffi::c_void),
}

fn kvec_shape(v: &bindings::kvec) -> Kvec {
    Kvec {
        page_offset: (v.iov_base as usize & !kernel::page::PAGE_MASK) as u32,
        len: u32::try_from(v.iov_len).unwrap_or(u32::MAX),
    }
}

impl<'a> XdrBuf<'a> {
    /// Wraps `buf`.
    ///
    /// # Safety
    ///
    /// `buf` must satisfy the type invariant for `'a`.
    pub(super) unsafe fn new(buf: *const bindings::xdr_buf) -> Self {
        // SAFETY: guaranteed by the caller.
        Self { buf: unsafe { &*buf } }
    }

    /// Returns the buffer's shape.
    pub(crate) fn shape(&self) -> XdrShape {
        XdrShape {
            head: kvec_shape(&self.buf.head[0]),
            page_base: self.buf.page_base,
            page_len: self.buf.page_len,
            tail: kvec_shape(&self.buf.tail[0]),
        }
    }

    /// Returns the length of the message (`len`).
    pub(crate) fn len(&self) -> u32 {
        self.buf.len
    }

    /// Returns the length of the head.
    pub(crate) fn head_len(&self) -> usize {
        self.buf.head[0].iov_len
    }

    /// Returns `buflen`.
    pub(crate) fn buflen(&self) -> u32 {
        self.buf.buflen
    }

    /// Returns the `XDRBUF_*` flags.
    pub(crate) fn flags(&self) -> u32 {
        self.buf.flags as u32
    }

    /// Returns the entries `index..index + count` of the page array (each
    /// null or a page), if the array covers them.
    pub(crate) fn page_run(&self, index: u32, count: u32) -> Option<*mut *mut bindings::page> {
        if self.buf.pages.is_null() {
            return None;
        }
        let last = (self.buf.page_base as usize)
            .checked_add(self.buf.page_len as usize)?
            .div_ceil(kernel::page::PAGE_SIZE);
        let end = (index as usize).checked_add(count as usize)?;
        if end > last {
            return None;
        }
        // SAFETY: by the type invariant the page array covers `page_base +
        // page_len` bytes, so entries `index..end` exist.
        Some(unsafe { self.buf.pages.add(index as usize) })
    }

    /// Returns where `piece` (planned from this buffer's shape) starts.
    pub(crate) fn locate(&self, piece: &Piece) -> Option<PieceAddr> {
        let virt = |v: &bindings::kvec| {
            let base = v.iov_base as usize & kernel::page::PAGE_MASK;
            PieceAddr::Virt(base.wrapping_add(piece.page_offset as usize) as *mut _)
        };
        match piece.source {
            Source::Head => Some(virt(&self.buf.head[0])),
            Source::Tail => Some(virt(&self.buf.tail[0])),
            Source::Page(index) => {
                if self.buf.pages.is_null() {
                    return None;
                }
                let last = (self.buf.page_base as usize)
                    .checked_add(self.buf.page_len as usize)?
                    .div_ceil(kernel::page::PAGE_SIZE);
                if index as usize >= last {
                    return None;
                }
                // SAFETY: by the type invariant the page array covers
                // `page_base + page_len` bytes, so entry `index` exists.
                let page = unsafe { *self.buf.pages.add(index as usize) };
                // A sparse page array not yet filled: nothing to map.
                if page.is_null() {
                    return None;
                }
                Some(PieceAddr::Page(page, piece.page_offset))
            }
        }
    }
}

