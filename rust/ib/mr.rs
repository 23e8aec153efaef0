// SPDX-License-Identifier: GPL-2.0

//! FRWR memory regions ([`Mr`], `struct rpcrdma_mr`; [`BufferMr`], one
//! over a buffer of its own) and the handler of their own completions
//! ([`MrHandler`]).

use super::{from_err_ptr, Pd, Wc};
use crate::bindings;
use core::ptr::NonNull;
use kernel::prelude::*;
use kernel::sync::Arc;

/// Which work request of an [`Mr`] completed on one of its own contexts.
#[derive(Clone, Copy)]
pub(crate) enum MrWr {
    /// The REG_MR (`frwr_wc_fastreg()`).
    Reg,
    /// A LOCAL_INV posted on the MR's own context (`frwr_wc_localinv()`).
    LocalInv,
}

/// What the work requests of an [`Mr`] complete on: REG_MR, and
/// LOCAL_INV posted on the MR's own context (both unsignaled, so only
/// failures and flushes complete). Runs as [`CqeHandler::done`] does.
pub(crate) trait MrHandler: Send + Sync {
    /// Handles a completion of the work request `wr` of the MR made with
    /// `index` by [`Mr::new`].
    fn mr_done(&self, index: u32, wr: MrWr, wc: &Wc<'_>);
}

/// The completion function of MRs whose owner is an `H`: finds the
/// `xprs_mr` and its owner, and calls [`MrHandler::mr_done`]. `INV` tells
/// the LOCAL_INV context (`inv_cqe`) from the REG_MR one (`cqe`).
///
/// # Safety
///
/// Called by the CQ poller of `cq` for a completion `wc` of a work
/// request on the own `cqe` (`INV` false) or `inv_cqe` (`INV` true) of an
/// MR made by [`Mr::new`] with an `H` owner; the MR is still live (the
/// posting contract), so its owner is too: the MR holds an `Arc` of it.
unsafe extern "C" fn mr_trampoline<H: MrHandler, const INV: bool>(
    cq: *mut bindings::ib_cq,
    wc: *mut bindings::ib_wc,
) {
    let (offset, wr) = if INV {
        (core::mem::offset_of!(bindings::xprs_mr, inv_cqe), MrWr::LocalInv)
    } else {
        (core::mem::offset_of!(bindings::xprs_mr, cqe), MrWr::Reg)
    };
    // SAFETY: `cq` and `wc` are valid for the call. `wr_cqe` is the `cqe`
    // or `inv_cqe` of a live `xprs_mr`, as `INV` says (the caller), so
    // stepping back by that field's offset gives the `xprs_mr`; `ctx` and
    // `index` were written by `Mr::new` before the MR was shared and not
    // since. `Mr::new` made `done` this function only with `ctx` the `H`
    // of the `Arc` the MR holds (`_owner`), so it outlives the MR.
    let (owner, index, wc) = unsafe {
        let m = &*(*wc)
            .__bindgen_anon_1
            .wr_cqe
            .cast::<u8>()
            .sub(offset)
            .cast::<bindings::xprs_mr>();
        (&*m.ctx.cast::<H>(), m.index, Wc::from_raw(cq, wc))
    };
    owner.mr_done(index, wr, &wc);
}

/// One FRWR memory region with its scatterlist and its REG_MR and
/// LOCAL_INV work requests (`struct rpcrdma_mr`).
///
/// Every method that changes the MR (its scatterlist, mapping, rkey or work
/// requests) takes `&mut self`, so whoever holds the `Mr` mutably is its
/// one user; `Mr` is not `Sync`, since a shared `&Mr` has no use but to
/// read.
///
/// # Invariants
///
/// `mr` was returned by `xprs_mr_alloc`, is owned by this value alone and
/// is freed only by `drop`. Its `reg_wr.key` is its `ib_mr`'s current
/// rkey: `xprs_mr_alloc` sets it, and `xprs_mr_map`, the one place that
/// changes the rkey (`ib_update_fast_reg_key()`), sets it again. The REG_MR completes on its `cqe`, a
/// LOCAL_INV on the MR's own context on its `inv_cqe`. `cqe.done`,
/// `inv_cqe.done`, `ctx`, `index` and `depth` are written only by
/// [`Mr::new`]: `cqe.done` is `mr_trampoline::<H, false>`, `inv_cqe.done`
/// `mr_trampoline::<H, true>` and `ctx` an `H` for one [`MrHandler`] type
/// `H`: the `H` of `_owner`, which the MR holds until it is freed, so
/// `ctx` is valid for as long as the MR is. `ctx` is read only by those
/// trampolines. `dev` is the device of the MR's PD, `_pd`, from
/// [`Mr::new`] on (`xprs_mr_map` writes the same one); `_pd` is held until
/// the MR is freed, so the PD and its device outlive it.
pub(crate) struct Mr {
    mr: NonNull<bindings::xprs_mr>,
    _pd: Arc<Pd>,
    _owner: Arc<dyn MrHandler>,
}

/// A registered segment: what goes on the wire for one MR.
#[derive(Clone, Copy, Default)]
pub(crate) struct MrSegment {
    pub(crate) handle: u32,
    pub(crate) length: u32,
    pub(crate) offset: u64,
}

impl Mr {
    /// Allocates an MR of `depth` pages on `pd`. Its work requests on its
    /// own contexts complete on `owner.mr_done(index, ..)`; the MR holds
    /// `owner` until it is freed.
    pub(crate) fn new<H: MrHandler + 'static>(
        pd: &Arc<Pd>,
        sg_gaps: bool,
        depth: u32,
        owner: Arc<H>,
        index: u32,
    ) -> Result<Self> {
        // SAFETY: the PD is valid (its invariant).
        let mr = from_err_ptr(unsafe { bindings::xprs_mr_alloc(pd.as_ptr(), sg_gaps, depth) })?;
        // SAFETY: just allocated and not shared yet; the PD is valid.
        unsafe {
            let m = &mut *mr.as_ptr();
            // INVARIANT: both `done`s and `ctx` are set together: the
            // trampolines of `H`, each for its own field, and the `H` of
            // `owner`, kept below. The device is the PD's.
            m.cqe.done = Some(mr_trampoline::<H, false>);
            m.inv_cqe.done = Some(mr_trampoline::<H, true>);
            m.ctx = (&*owner as *const H).cast_mut().cast();
            m.index = index;
            m.dev = (*pd.as_ptr()).device;
        }
        // INVARIANT: allocated above, on `pd`, which it holds, as it holds
        // the owner `ctx` points to.
        Ok(Self {
            mr,
            _pd: pd.clone(),
            _owner: owner,
        })
    }

    /// Returns the `xprs_mr`, for the trace points to read.
    pub(crate) fn as_raw(&self) -> *const bindings::xprs_mr {
        self.mr.as_ptr()
    }

    /// Returns the number of scatterlist entries.
    pub(crate) fn depth(&self) -> u32 {
        // SAFETY: valid by the type invariant; `depth` is never written
        // after allocation.
        unsafe { (*self.mr.as_ptr()).depth }
    }

    /// Returns true while the scatterlist is DMA-mapped (from [`Mr::map`]
    /// to [`Mr::unmap`]).
    fn is_mapped(&self) -> bool {
        // SAFETY: valid by the type invariant; `nents` changes only in
        // `map` and `unmap`, which take `&mut self`.
        unsafe { (*self.mr.as_ptr()).nents != 0 }
    }

    /// Sets scatterlist entry `i` to `len` bytes at `offset` in `page`.
    /// Fails with `EIO`, changing nothing, if `i` is past the MR's depth
    /// or the MR is mapped.
    ///
    /// # Safety
    ///
    /// The page stays allocated until the MR is unmapped.
    pub(crate) unsafe fn set_page(&mut self, i: u32, page: *mut bindings::page, offset: u32, len: u32) -> Result {
        if i >= self.depth() || self.is_mapped() {
            return Err(EIO);
        }
        // SAFETY: the MR is valid and unmapped, and `i` is within its
        // scatterlist (checked above); the caller keeps the page.
        unsafe { bindings::xprs_mr_set_page(self.mr.as_ptr(), i, page, offset, len) };
        Ok(())
    }

    /// Sets scatterlist entries `i..i + count` in one call: `len` bytes
    /// from `offset` in the first of `count` consecutive pages, going on at
    /// the start of each next one (a page-aligned run of the page list, as
    /// `proto::chunk::ChunkPieces::entries` gives it). Fails with `EIO` if
    /// the entries pass the MR's depth or the MR is mapped (changing
    /// nothing), or if a page is null or `offset` and `len` do not make
    /// exactly `count` entries (entries from `i` on may then be set; the
    /// MR stays unmapped).
    ///
    /// # Safety
    ///
    /// `pages` points to `count` readable page pointers, each null or a
    /// page that stays allocated until the MR is unmapped.
    pub(crate) unsafe fn set_page_run(
        &mut self,
        i: u32,
        pages: *mut *mut bindings::page,
        count: u32,
        offset: u32,
        len: u32,
    ) -> Result {
        if self.is_mapped() || i.checked_add(count).map_or(true, |end| end > self.depth()) {
            return Err(EIO);
        }
        // SAFETY: the MR is valid and unmapped, and `i..i + count` lies in
        // its scatterlist (checked above); the caller vouches for `pages`.
        super::rc_result(unsafe { bindings::xprs_mr_set_page_run(self.mr.as_ptr(), i, pages, count, offset, len) })
    }

    /// Sets scatterlist entry `i` to `len` bytes at kernel address `buf`;
    /// fails as [`Mr::set_page`] does.
    ///
    /// # Safety
    ///
    /// `buf` is directly mapped kernel memory (not vmalloc'ed) that stays
    /// allocated until the MR is unmapped.
    pub(crate) unsafe fn set_buf(&mut self, i: u32, buf: *mut core::ffi::c_void, len: u32) -> Result {
        if i >= self.depth() || self.is_mapped() {
            return Err(EIO);
        }
        // SAFETY: as for `set_page`, for the page of `buf`.
        unsafe { bindings::xprs_mr_set_buf(self.mr.as_ptr(), i, buf, len) };
        Ok(())
    }

    /// DMA-maps the first `nents` entries for the MR's device and prepares
    /// the REG_MR work request (`frwr_map()`): remote write access if
    /// `writing`, remote read otherwise; `xid` goes into the upper half of
    /// the iova.
    pub(crate) fn map(&mut self, nents: u32, writing: bool, xid: u32) -> Result<MrSegment> {
        let mut seg = MrSegment {
            handle: 0,
            length: 0,
            offset: 0,
        };
        let m = self.mr.as_ptr();
        // SAFETY: the MR is valid (invariant) and `&mut self` makes this
        // its only user; `dev` is the device of its PD (invariant); the
        // out pointers are locals.
        super::rc_result(unsafe {
            bindings::xprs_mr_map(
                m,
                (*m).dev,
                nents,
                writing,
                xid,
                &mut seg.handle,
                &mut seg.length,
                &mut seg.offset,
            )
        })?;
        crate::trace::mr_map(self);
        Ok(seg)
    }

    /// DMA-unmaps the scatterlist if it is mapped.
    pub(crate) fn unmap(&mut self) {
        crate::trace::mr_unmap(self);
        // SAFETY: valid by the type invariant; callers unmap only MRs no
        // work request or remote peer can use any more.
        unsafe { bindings::xprs_mr_unmap(self.mr.as_ptr()) }
    }

    /// Returns the current rkey.
    pub(crate) fn rkey(&self) -> u32 {
        // SAFETY: valid by the type invariant, under which `reg_wr.key` is
        // the current rkey; it changes only in `map`, which takes
        // `&mut self`, so it does not change under us (a posted REG_MR is
        // only read). Read in place: no C call on every remote
        // invalidation and LOCAL_INV.
        unsafe { (*self.mr.as_ptr()).reg_wr.key }
    }

    /// Returns the REG_MR work request prepared by [`Mr::map`], for a
    /// [`super::SendChain`] to link, or `EIO` if the MR is not mapped.
    pub(super) fn reg_wr(&mut self) -> Result<*mut bindings::ib_send_wr> {
        if !self.is_mapped() {
            return Err(EIO);
        }
        // SAFETY: valid by the type invariant; only the address is taken.
        Ok(unsafe { core::ptr::addr_of_mut!((*self.mr.as_ptr()).reg_wr.wr) })
    }

    /// Prepares and returns the LOCAL_INV work request for the current
    /// rkey, for a [`super::SendChain`] to link: signaled on `cqe` (from
    /// [`super::Cqe::ptr_of`]), or unsignaled on the MR's own LOCAL_INV
    /// context when `None`.
    pub(super) fn inv_wr(&mut self, cqe: Option<*mut bindings::ib_cqe>) -> *mut bindings::ib_send_wr {
        let rkey = self.rkey();
        let m = self.mr.as_ptr();
        // SAFETY: valid by the type invariant; `&mut self` makes this the
        // MR's only user, so nothing else touches its work requests.
        unsafe {
            let own = core::ptr::addr_of_mut!((*m).inv_cqe);
            let wr = core::ptr::addr_of_mut!((*m).inv_wr);
            core::ptr::write_bytes(wr, 0, 1);
            (*wr).__bindgen_anon_1.wr_cqe = cqe.unwrap_or(own);
            (*wr).opcode = bindings::ib_wr_opcode_IB_WR_LOCAL_INV;
            (*wr).ex.invalidate_rkey = rkey;
            if cqe.is_some() {
                (*wr).send_flags = bindings::ib_send_flags_IB_SEND_SIGNALED as i32;
            }
            wr
        }
    }
}

impl Drop for Mr {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the MR is live and its PD (held by
        // `_pd`, dropped after this) too; owners drop it once the QP is
        // drained, so no work request uses it (the contract of
        // `Qp::post_send`).
        unsafe { bindings::xprs_mr_free(self.mr.as_ptr()) }
    }
}

// SAFETY: an `Mr` owns its `xprs_mr` alone (type invariant) and keeps
// no reference to thread-local state: the allocation, the `ib_mr` and the
// DMA mapping belong to the device and may be used and freed from any
// thread, which is all that moving the owner to another thread does. Its
// `Arc`s (of the PD, and of the handler, `Send + Sync`) may move too.
unsafe impl Send for Mr {}

/// An MR over a buffer of its own, mapped once and kept (the write pad,
/// `re_write_pad_mr`).
///
/// # Invariants
///
/// Entry 0 of `mr`'s scatterlist is `_buf`, a kmalloc'ed allocation;
/// `mr` is declared first, so it is unmapped and deregistered before
/// `_buf` is freed.
pub(crate) struct BufferMr {
    mr: Mr,
    _buf: KVec<u8>,
}

impl BufferMr {
    /// Allocates a one-entry MR on `pd` over a zeroed buffer of `len`
    /// bytes (`EINVAL` for none); its own completions go to
    /// `owner.mr_done(index, ..)`.
    pub(crate) fn new<H: MrHandler + 'static>(pd: &Arc<Pd>, owner: Arc<H>, index: u32, len: u32) -> Result<Self> {
        // An empty `KVec` has no allocation to map.
        if len == 0 {
            return Err(EINVAL);
        }
        let mut mr = Mr::new(pd, false, 1, owner, index)?;
        let mut buf = KVec::from_elem(0u8, len as usize, GFP_KERNEL)?;
        // SAFETY: the buffer is kmalloc'ed, so directly mapped, and is
        // freed only after the MR (type invariant).
        unsafe { mr.set_buf(0, buf.as_mut_ptr().cast(), len)? };
        // INVARIANT: entry 0 is `buf`, which the value owns with `mr`.
        Ok(Self { mr, _buf: buf })
    }

    /// Maps the buffer: see [`Mr::map`].
    pub(crate) fn map(&mut self, writing: bool, xid: u32) -> Result<MrSegment> {
        self.mr.map(1, writing, xid)
    }

    /// Returns the REG_MR work request: see [`Mr::reg_wr`].
    pub(super) fn reg_wr(&mut self) -> Result<*mut bindings::ib_send_wr> {
        self.mr.reg_wr()
    }
}
