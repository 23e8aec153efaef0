// SPDX-License-Identifier: GPL-2.0

//! Thin abstractions over the RDMA verbs this transport uses: protection
//! domains, completion queues, completion handlers ([`Cqe`],
//! [`CqeHandler`], [`Wc`]), streaming DMA mappings, FRWR MRs and
//! Send/Receive posting.

use crate::bindings;
use crate::cell::Foreign;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::error::{to_result, Error};
use kernel::prelude::*;

/// Converts an `ERR_PTR`-or-pointer return into a `Result`.
fn from_err_ptr<T>(ptr: *mut T) -> Result<NonNull<T>> {
    let v = ptr as isize;
    if (-4095..0).contains(&v) {
        // `v` is a negative errno in the `ERR_PTR` range.
        return Err(Error::from_errno(v as i32));
    }
    NonNull::new(ptr).ok_or(ENOMEM)
}

/// An RDMA device, borrowed from the `rdma_cm_id` that resolved to it.
///
/// # Invariants
///
/// The pointer is a valid `ib_device` for as long as the owning
/// [`crate::rdma_cm::CmId`] exists; users keep the id alive longer than
/// every object created on the device.
#[derive(Clone, Copy)]
pub(crate) struct Device(NonNull<bindings::ib_device>);

// SAFETY: a `Device` is the address of an `ib_device`, which is not tied
// to a thread. Its methods only read attributes ib_core fixed when it
// registered the device, through helpers callable from any context, so
// copies of it may be moved to and used on any thread at once.
unsafe impl Send for Device {}
// SAFETY: as above: `&Device` allows no more than a copy does.
unsafe impl Sync for Device {}

impl Device {
    /// Wraps `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid device that outlives every use of the value.
    pub(crate) unsafe fn from_raw(ptr: NonNull<bindings::ib_device>) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self(ptr)
    }

    /// Returns the raw device.
    pub(crate) fn as_ptr(&self) -> *mut bindings::ib_device {
        self.0.as_ptr()
    }

    /// Returns true if the device supports FRWR (`frwr_query_device()`).
    pub(crate) fn supports_frwr(&self) -> bool {
        // SAFETY: by the type invariant the device is valid.
        unsafe { bindings::xprs_ib_device_frwr(self.as_ptr()) }
    }

    /// Returns the most pages one MR should cover.
    pub(crate) fn max_fr_depth(&self) -> u32 {
        // SAFETY: by the type invariant the device is valid.
        unsafe { bindings::xprs_ib_device_max_fr_depth(self.as_ptr()) }
    }

    /// Returns true if MRs may register discontiguous pages.
    pub(crate) fn sg_gaps(&self) -> bool {
        // SAFETY: by the type invariant the device is valid.
        unsafe { bindings::xprs_ib_device_sg_gaps(self.as_ptr()) }
    }

    /// Returns the Send SGEs the device supports.
    pub(crate) fn max_send_sge(&self) -> u32 {
        // SAFETY: by the type invariant the device is valid.
        unsafe { bindings::xprs_ib_device_max_send_sge(self.as_ptr()) }
    }

    /// Returns the deepest queue a QP of ours can have: its CQ is as deep,
    /// so the smaller of `max_qp_wr` and `max_cqe`.
    pub(crate) fn max_queue(&self) -> u32 {
        // SAFETY: by the type invariant the device is valid.
        unsafe { bindings::xprs_ib_device_max_queue(self.as_ptr()) }
    }
}

/// A protection domain.
///
/// # Invariants
///
/// `pd` was returned by `ib_alloc_pd` and is deallocated only by `drop`.
pub(crate) struct Pd {
    pd: NonNull<bindings::ib_pd>,
}

// SAFETY: a `Pd` owns its `ib_pd` (type invariant), which is not tied to
// a thread: `ib_dealloc_pd` may run on any one.
unsafe impl Send for Pd {}
// SAFETY: through `&Pd` one gets only the PD's address, for verbs calls
// that take their own locks, and `local_dma_lkey`, written once by
// `ib_alloc_pd` before the `Pd` exists: nothing is written through it.
unsafe impl Sync for Pd {}

impl Pd {
    /// Allocates a protection domain on `dev`.
    pub(crate) fn new(dev: &Device) -> Result<Self> {
        // SAFETY: by the `Device` invariant the device is valid.
        let pd = from_err_ptr(unsafe { bindings::xprs_ib_alloc_pd(dev.as_ptr()) })?;
        // INVARIANT: allocated just above.
        Ok(Self { pd })
    }

    /// Returns the raw protection domain.
    pub(crate) fn as_ptr(&self) -> *mut bindings::ib_pd {
        self.pd.as_ptr()
    }

    /// Returns the lkey that covers all DMA-mapped memory.
    pub(crate) fn local_dma_lkey(&self) -> u32 {
        // SAFETY: by the type invariant the PD is valid; the field is
        // written once by ib_alloc_pd.
        unsafe { (*self.pd.as_ptr()).local_dma_lkey }
    }
}

impl Drop for Pd {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the PD is live and unused: owners
        // drop it after the QP and every MR on it.
        unsafe { bindings::xprs_ib_dealloc_pd(self.pd.as_ptr()) };
    }
}

/// A completion queue polled from the ib_comp workqueue.
///
/// # Invariants
///
/// `cq` was returned by `ib_alloc_cq_any` and is freed only by `drop`.
pub(crate) struct Cq {
    cq: NonNull<bindings::ib_cq>,
}

// SAFETY: a `Cq` owns its `ib_cq` (type invariant), which is not tied to
// a thread: `ib_free_cq` may run on any one (in process context, as the
// owners' teardown does).
unsafe impl Send for Cq {}
// SAFETY: through `&Cq` one gets only the CQ's address, for creating a QP
// on it; Rust never reads or writes the `ib_cq`.
unsafe impl Sync for Cq {}

impl Cq {
    /// Allocates a completion queue of `depth` entries on `dev`.
    pub(crate) fn new(dev: &Device, depth: u32) -> Result<Self> {
        let depth = i32::try_from(depth).map_err(|_| EINVAL)?;
        // SAFETY: by the `Device` invariant the device is valid; the
        // private pointer is unused (each work request carries its own
        // `ib_cqe`).
        let cq = from_err_ptr(unsafe {
            bindings::xprs_ib_alloc_cq(dev.as_ptr(), core::ptr::null_mut(), depth)
        })?;
        // INVARIANT: allocated just above.
        Ok(Self { cq })
    }

    /// Returns the raw completion queue.
    pub(crate) fn as_ptr(&self) -> *mut bindings::ib_cq {
        self.cq.as_ptr()
    }
}

impl Drop for Cq {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the CQ is live; owners destroy the
        // QP using it first.
        unsafe { bindings::ib_free_cq(self.cq.as_ptr()) };
    }
}

/// A heap buffer with a streaming DMA mapping for one device.
///
/// # Invariants
///
/// `addr` maps the `len` bytes at `buf` for `dev` in direction `to_device`
/// until `drop`. `buf` is a `len`-byte allocation owned by this value.
pub(crate) struct DmaBuf {
    buf: KVec<u8>,
    addr: u64,
    dev: Device,
    to_device: bool,
}

impl DmaBuf {
    /// Allocates `len` zeroed bytes and maps them for `dev`.
    pub(crate) fn new(dev: &Device, len: usize, to_device: bool) -> Result<Self> {
        let mut buf = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        // SAFETY: `buf` is a valid allocation of `len` bytes and the
        // device is valid (`Device` invariant).
        let addr = unsafe {
            bindings::xprs_ib_dma_map_single(
                dev.as_ptr(),
                buf.as_mut_ptr().cast(),
                len,
                to_device as i32,
            )
        };
        // SAFETY: as above.
        if unsafe { bindings::xprs_ib_dma_mapping_error(dev.as_ptr(), addr) } != 0 {
            return Err(EIO);
        }
        // INVARIANT: mapped just above.
        Ok(Self {
            buf,
            addr,
            dev: *dev,
            to_device,
        })
    }

    /// Returns the DMA address.
    pub(crate) fn addr(&self) -> u64 {
        self.addr
    }

    /// Returns the length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Returns the CPU address, for the kernel's buffer copy helpers.
    pub(crate) fn as_mut_ptr(&mut self) -> *mut u8 {
        self.buf.as_mut_ptr()
    }

    /// Returns the buffer for the CPU to fill before a Send.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// Hands the first `len` bytes to the device (before posting a Send).
    pub(crate) fn sync_for_device(&self, len: usize) {
        // SAFETY: by the type invariant `addr` maps at least `len` bytes
        // when `len` is clamped to the buffer length.
        unsafe {
            bindings::xprs_ib_dma_sync_for_device(self.dev.as_ptr(), self.addr, len.min(self.len()))
        };
    }

    /// Returns the first `len` bytes, already taken back from the device
    /// by [`DmaBuf::sync_for_cpu`] and not handed to it since.
    pub(crate) fn synced(&self, len: usize) -> &[u8] {
        self.buf.get(..len.min(self.len())).unwrap_or(&[])
    }

    /// Takes the first `len` bytes back from the device after a Receive
    /// completed, and returns them.
    pub(crate) fn sync_for_cpu(&self, len: usize) -> &[u8] {
        let len = len.min(self.len());
        // SAFETY: by the type invariant `addr` maps at least `len` bytes.
        unsafe { bindings::xprs_ib_dma_sync_for_cpu(self.dev.as_ptr(), self.addr, len) };
        self.buf.get(..len).unwrap_or(&[])
    }
}

impl Drop for DmaBuf {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the mapping is live; owners drop
        // the buffer only once no work request uses it.
        unsafe {
            bindings::xprs_ib_dma_unmap_single(
                self.dev.as_ptr(),
                self.addr,
                self.buf.len(),
                self.to_device as i32,
            )
        };
    }
}

/// Posts one signaled or unsignaled Send of `len` bytes at `addr`,
/// completing on `cqe`, behind the REG_MR work requests `regs` (FRWR
/// registrations are chained before the Send, in one post).
///
/// # Safety
///
/// `qp` must be a live QP, the `len` bytes at `addr` must stay mapped and
/// unmodified until the Send completes or the QP is drained, and `cqe`
/// must come from [`Cqe::ptr_of`] for an owner that stays valid until
/// then. `regs` are prepared REG_MR work requests of MRs the caller owns.
pub(crate) unsafe fn post_send(
    qp: *mut bindings::ib_qp,
    cqe: *mut bindings::ib_cqe,
    addr: u64,
    len: u32,
    lkey: u32,
    signaled: bool,
    regs: &[*mut bindings::ib_send_wr],
) -> Result {
    let mut sge = bindings::ib_sge {
        addr,
        length: len,
        lkey,
    };
    // SAFETY: `ib_send_wr` is a C struct for which all zeroes is valid.
    let mut wr: bindings::ib_send_wr = unsafe { core::mem::zeroed() };
    wr.__bindgen_anon_1.wr_cqe = cqe;
    wr.sg_list = &mut sge;
    wr.num_sge = 1;
    wr.opcode = bindings::ib_wr_opcode_IB_WR_SEND;
    wr.send_flags = if signaled {
        bindings::ib_send_flags_IB_SEND_SIGNALED as i32
    } else {
        0
    };
    let send: *mut bindings::ib_send_wr = &mut wr;
    // SAFETY: the caller owns the REG_MR work requests; the chain ends
    // with the Send.
    let first = match unsafe { chain(regs) } {
        Some(first) => {
            if let Some(&last) = regs.last() {
                // SAFETY: `last` is the caller's REG_MR request, the end
                // of the chain just built.
                unsafe { (*last).next = send };
            }
            first
        }
        None => send,
    };
    // SAFETY: the caller guarantees `qp` and the memory; `wr` and `sge`
    // are copied by the provider before the call returns.
    to_result(unsafe { bindings::xprs_ib_post_send(qp, first) })
}

/// Posts one Receive of up to `len` bytes at `addr`, completing on `cqe`.
///
/// # Safety
///
/// `qp` must be a live QP; the buffer must stay mapped until the Receive
/// completes or the QP is drained, and `cqe` must come from
/// [`Cqe::ptr_of`] for an owner that stays valid until then.
pub(crate) unsafe fn post_recv(
    qp: *mut bindings::ib_qp,
    cqe: *mut bindings::ib_cqe,
    addr: u64,
    len: u32,
    lkey: u32,
) -> Result {
    let mut sge = bindings::ib_sge {
        addr,
        length: len,
        lkey,
    };
    // SAFETY: `ib_recv_wr` is a C struct for which all zeroes is valid.
    let mut wr: bindings::ib_recv_wr = unsafe { core::mem::zeroed() };
    wr.__bindgen_anon_1.wr_cqe = cqe;
    wr.sg_list = &mut sge;
    wr.num_sge = 1;
    // SAFETY: as for `post_send`.
    to_result(unsafe { bindings::xprs_ib_post_recv(qp, &wr) })
}

/// A work completion (`struct ib_wc`), as a completion handler sees it:
/// valid for the handler's call, and written by no one during it.
pub(crate) struct Wc<'a>(&'a bindings::ib_wc);

impl Wc<'_> {
    /// Returns the completion's status.
    pub(crate) fn status(&self) -> bindings::ib_wc_status {
        self.0.status
    }

    /// Returns true if the work request succeeded.
    pub(crate) fn is_success(&self) -> bool {
        self.status() == bindings::ib_wc_status_IB_WC_SUCCESS
    }

    /// Returns true for a completion that means the connection is broken
    /// (anything but success or a flush).
    pub(crate) fn fatal(&self) -> bool {
        let status = self.status();
        status != bindings::ib_wc_status_IB_WC_SUCCESS
            && status != bindings::ib_wc_status_IB_WC_WR_FLUSH_ERR
    }

    /// Returns the number of bytes a Receive placed.
    pub(crate) fn byte_len(&self) -> u32 {
        self.0.byte_len
    }

    /// Returns the rkey the peer invalidated with its Send
    /// (`IB_WC_WITH_INVALIDATE`), if it did.
    pub(crate) fn invalidated_rkey(&self) -> Option<u32> {
        if self.0.wc_flags & bindings::ib_wc_flags_IB_WC_WITH_INVALIDATE as i32 == 0 {
            return None;
        }
        // SAFETY: with IB_WC_WITH_INVALIDATE set the provider wrote the
        // invalidated rkey into the union (`ex.invalidate_rkey`, as
        // `struct ib_wc` documents); both members are plain 32-bit
        // integers, valid for any bits.
        Some(unsafe { self.0.ex.invalidate_rkey })
    }
}

/// The owner of an embedded [`Cqe`], found from it by offset, as
/// `container_of` does. Implemented only by [`impl_has_cqe!`].
///
/// # Safety
///
/// `Self` has a field of type `Cqe<Self>` at byte offset `CQE_OFFSET`.
pub(crate) unsafe trait HasCqe {
    /// The byte offset of the `Cqe<Self>` field in `Self`.
    const CQE_OFFSET: usize;
}

/// Implements [`HasCqe`] for `$owner`, whose field `$field` is its
/// `Cqe<$owner>`: the offset is `offset_of!` that field, and the field's
/// type is checked at compile time.
macro_rules! impl_has_cqe {
    ($owner:ty, $field:ident) => {
        // SAFETY: `CQE_OFFSET` is the offset of `$field`, which the
        // function below, compiled with the impl, shows to be a
        // `Cqe<$owner>`.
        unsafe impl $crate::ib::HasCqe for $owner {
            const CQE_OFFSET: usize = {
                fn field_type(owner: &$owner) -> &$crate::ib::Cqe<$owner> {
                    &owner.$field
                }
                let _: fn(&$owner) -> &$crate::ib::Cqe<$owner> = field_type;
                ::core::mem::offset_of!($owner, $field)
            };
        }
    };
}
pub(crate) use impl_has_cqe;

/// What completes the work requests posted on an owner's [`Cqe`]. `done`
/// runs in the CQ's polling context (process context on `ib-comp-wq`),
/// on whichever CPU reaps the completion, hence `Sync`.
pub(crate) trait CqeHandler: HasCqe + Sync {
    /// Handles one completion of a work request posted on `self`'s `Cqe`.
    fn done(&self, wc: &Wc<'_>);
}

/// The completion context (`struct ib_cqe`) of work requests whose
/// completions go to the owner `T` that embeds it ([`HasCqe`]).
///
/// # Invariants
///
/// `cqe.done` is [`trampoline::<T>`], written by [`Cqe::new`] and never
/// changed. The address of `cqe` is handed out only by [`Cqe::ptr_of`],
/// which computes it from a `&T` as that `T`'s field at `T::CQE_OFFSET`.
#[repr(transparent)]
pub(crate) struct Cqe<T> {
    cqe: Foreign<bindings::ib_cqe>,
    _owner: PhantomData<fn(&T)>,
}

impl<T: CqeHandler> Cqe<T> {
    /// Makes the completion context of a `T`, to be stored in the `T`'s
    /// field that `impl_has_cqe!` names.
    pub(crate) fn new() -> Self {
        // INVARIANT: `done` is the trampoline of `T`.
        Self {
            cqe: Foreign::new(bindings::ib_cqe {
                done: Some(trampoline::<T>),
            }),
            _owner: PhantomData,
        }
    }

    /// Returns the `ib_cqe` embedded in `owner`, for a work request whose
    /// completion is to reach `owner.done()`.
    pub(crate) fn ptr_of(owner: &T) -> *mut bindings::ib_cqe {
        // INVARIANT: the address is the `Cqe<T>` field of `owner` (by
        // `HasCqe`), whose first byte is its `ib_cqe` (`Cqe` and `Foreign`
        // are `repr(transparent)`, as is `Opaque`). It is computed from
        // the pointer to the whole owner, so the trampoline may step back
        // to it.
        (owner as *const T)
            .cast::<u8>()
            .wrapping_add(T::CQE_OFFSET)
            .cast::<bindings::ib_cqe>()
            .cast_mut()
    }
}

/// The completion function of every [`Cqe<T>`]: finds the owner `T` and
/// calls its [`CqeHandler::done`].
///
/// # Safety
///
/// Called by the CQ poller for a completion `wc` of a work request whose
/// `wr_cqe` was given by [`Cqe::ptr_of`] for a `T` that is still live (the
/// contracts of [`post_send`], [`post_recv`] and [`post_chain`]: the
/// owner stays valid until the work request completes or the QP is
/// drained).
unsafe extern "C" fn trampoline<T: CqeHandler>(_cq: *mut bindings::ib_cq, wc: *mut bindings::ib_wc) {
    // SAFETY: `wc` is valid for the call and the poller does not touch it
    // until we return. The CQ calls `wr_cqe->done`, and only a `Cqe<T>`
    // has `done == trampoline::<T>` (type invariant); its address comes
    // only from `Cqe::ptr_of`, as `owner + T::CQE_OFFSET` computed from a
    // pointer to the whole `T`, so subtracting `T::CQE_OFFSET` gives back
    // that `T`, which the poster keeps live until this completion. A
    // shared reference is sound: `T: Sync`, and its users share it.
    let (owner, wc) = unsafe {
        let cqe = (*wc).__bindgen_anon_1.wr_cqe.cast::<u8>();
        (&*cqe.sub(T::CQE_OFFSET).cast::<T>(), Wc(&*wc))
    };
    owner.done(&wc);
}

/// What the work requests of an [`Mr`] complete on: REG_MR, and
/// LOCAL_INV posted on the MR's own `cqe` (unsignaled, so only failures
/// and flushes complete). Runs as [`CqeHandler::done`] does.
pub(crate) trait MrHandler: Sync {
    /// Handles a completion of a work request of the MR made with
    /// `index` by [`Mr::new`].
    fn mr_done(&self, index: u32, wc: &Wc<'_>);
}

/// The completion function of MRs whose owner is an `H`: finds the
/// `xprs_mr` and its owner, and calls [`MrHandler::mr_done`].
///
/// # Safety
///
/// Called by the CQ poller for a completion `wc` of a work request on the
/// own `cqe` of an MR made by [`Mr::new`] with an `H` owner; the MR is
/// still live (the posting contracts), so its owner is too (that of
/// [`Mr::new`]).
unsafe extern "C" fn mr_trampoline<H: MrHandler>(_cq: *mut bindings::ib_cq, wc: *mut bindings::ib_wc) {
    // SAFETY: `wc` is valid for the call. `wr_cqe` is the `cqe` of a live
    // `xprs_mr` (the caller), its first member (invariant of `Mr`), so it
    // is the `xprs_mr` itself; `ctx` and `index` were written by
    // `Mr::new` before the MR was shared and not since. `Mr::new` made
    // `done` this function only with `ctx` an `H` that outlives the MR.
    let (owner, index, wc) = unsafe {
        let m = &*(*wc).__bindgen_anon_1.wr_cqe.cast::<bindings::xprs_mr>();
        (&*m.ctx.cast::<H>(), m.index, Wc(&*wc))
    };
    owner.mr_done(index, &wc);
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
/// is freed only by `drop`. Its `cqe` field is the first member, so a
/// completion's `wr_cqe` for either work request is the `xprs_mr` itself.
/// `cqe.done`, `ctx`, `index` and `depth` are written only by [`Mr::new`]:
/// `cqe.done` is `mr_trampoline::<H>` and `ctx` an `H` for one
/// [`MrHandler`] type `H`.
pub(crate) struct Mr {
    mr: NonNull<bindings::xprs_mr>,
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
    /// own `cqe` complete on `owner.mr_done(index, ..)`.
    ///
    /// # Safety
    ///
    /// `owner` stays valid as long as the MR exists.
    pub(crate) unsafe fn new<H: MrHandler>(
        pd: &Pd,
        sg_gaps: bool,
        depth: u32,
        owner: &H,
        index: u32,
    ) -> Result<Self> {
        // SAFETY: the PD is valid (its invariant).
        let mr = from_err_ptr(unsafe { bindings::xprs_mr_alloc(pd.as_ptr(), sg_gaps, depth) })?;
        // SAFETY: just allocated and not shared yet.
        unsafe {
            let m = &mut *mr.as_ptr();
            // INVARIANT: `done` and `ctx` are set together: the trampoline
            // of `H` and an `H` that outlives the MR (the caller).
            m.cqe.done = Some(mr_trampoline::<H>);
            m.ctx = (owner as *const H).cast_mut().cast();
            m.index = index;
        }
        // INVARIANT: allocated above.
        Ok(Self { mr })
    }

    /// Returns the number of scatterlist entries.
    pub(crate) fn depth(&self) -> u32 {
        // SAFETY: valid by the type invariant; `depth` is never written
        // after allocation.
        unsafe { (*self.mr.as_ptr()).depth }
    }

    /// Sets scatterlist entry `i` to `len` bytes at `offset` in `page`.
    ///
    /// # Safety
    ///
    /// The MR is not mapped, and the page stays allocated while the MR
    /// maps it.
    pub(crate) unsafe fn set_page(&mut self, i: u32, page: *mut bindings::page, offset: u32, len: u32) {
        // SAFETY: guaranteed by the caller; the shim checks `i`.
        unsafe { bindings::xprs_mr_set_page(self.mr.as_ptr(), i, page, offset, len) }
    }

    /// Sets scatterlist entry `i` to `len` bytes at kernel address `buf`.
    ///
    /// # Safety
    ///
    /// As for [`Mr::set_page`]; `buf` is directly mapped kernel memory.
    pub(crate) unsafe fn set_buf(&mut self, i: u32, buf: *mut core::ffi::c_void, len: u32) {
        // SAFETY: guaranteed by the caller; the shim checks `i`.
        unsafe { bindings::xprs_mr_set_buf(self.mr.as_ptr(), i, buf, len) }
    }

    /// DMA-maps the first `nents` entries and prepares the REG_MR work
    /// request (`frwr_map()`): remote write access if `writing`, remote
    /// read otherwise; `xid` goes into the upper half of the iova.
    pub(crate) fn map(&mut self, dev: &Device, nents: u32, writing: bool, xid: u32) -> Result<MrSegment> {
        let mut seg = MrSegment {
            handle: 0,
            length: 0,
            offset: 0,
        };
        // SAFETY: the MR is valid (invariant); the device is the one the
        // PD was allocated on; the out pointers are locals.
        to_result(unsafe {
            bindings::xprs_mr_map(
                self.mr.as_ptr(),
                dev.as_ptr(),
                nents,
                writing,
                xid,
                &mut seg.handle,
                &mut seg.length,
                &mut seg.offset,
            )
        })?;
        Ok(seg)
    }

    /// DMA-unmaps the scatterlist if it is mapped.
    pub(crate) fn unmap(&mut self) {
        // SAFETY: valid by the type invariant; callers unmap only MRs no
        // work request or remote peer can use any more.
        unsafe { bindings::xprs_mr_unmap(self.mr.as_ptr()) }
    }

    /// Returns the current rkey.
    pub(crate) fn rkey(&self) -> u32 {
        // SAFETY: valid by the type invariant; the rkey changes only in
        // `map`, which takes `&mut self`, so it does not change under us.
        unsafe { bindings::xprs_mr_rkey(self.mr.as_ptr()) }
    }

    /// Returns the REG_MR work request prepared by [`Mr::map`], for the
    /// caller to chain and post.
    pub(crate) fn reg_wr(&mut self) -> *mut bindings::ib_send_wr {
        // SAFETY: valid by the type invariant; only the address is taken.
        unsafe { core::ptr::addr_of_mut!((*self.mr.as_ptr()).reg_wr.wr) }
    }

    /// Prepares and returns the LOCAL_INV work request for the current
    /// rkey, completing on `cqe` (from [`Cqe::ptr_of`]; the MR's own when
    /// `None`).
    pub(crate) fn inv_wr(&mut self, cqe: Option<*mut bindings::ib_cqe>, signaled: bool) -> *mut bindings::ib_send_wr {
        let m = self.mr.as_ptr();
        // SAFETY: valid by the type invariant; `&mut self` makes this the
        // MR's only user, so nothing else touches its work requests.
        unsafe {
            let own = core::ptr::addr_of_mut!((*m).cqe);
            let wr = core::ptr::addr_of_mut!((*m).inv_wr);
            core::ptr::write_bytes(wr, 0, 1);
            (*wr).__bindgen_anon_1.wr_cqe = cqe.unwrap_or(own);
            (*wr).opcode = bindings::ib_wr_opcode_IB_WR_LOCAL_INV;
            (*wr).ex.invalidate_rkey = bindings::xprs_mr_rkey(m);
            if signaled {
                (*wr).send_flags = bindings::ib_send_flags_IB_SEND_SIGNALED as i32;
            }
            wr
        }
    }
}

impl Drop for Mr {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the MR is live; owners drop it
        // once the QP is drained, so no work request uses it.
        unsafe { bindings::xprs_mr_free(self.mr.as_ptr()) }
    }
}

// SAFETY: an `Mr` owns its `xprs_mr` alone (type invariant) and keeps
// no reference to thread-local state: the allocation, the `ib_mr` and the
// DMA mapping belong to the device and may be used and freed from any
// thread, which is all that moving the owner to another thread does.
unsafe impl Send for Mr {}

/// Links `wrs` into one chain, in order, and returns its head.
///
/// # Safety
///
/// Every pointer is a valid work request owned by the caller.
pub(crate) unsafe fn chain(wrs: &[*mut bindings::ib_send_wr]) -> Option<*mut bindings::ib_send_wr> {
    let (&first, rest) = wrs.split_first()?;
    let mut prev = first;
    for &wr in rest {
        // SAFETY: guaranteed by the caller.
        unsafe { (*prev).next = wr };
        prev = wr;
    }
    // SAFETY: as above.
    unsafe { (*prev).next = core::ptr::null_mut() };
    Some(first)
}

/// Posts a chain of send-queue work requests built by [`chain`].
///
/// # Safety
///
/// `qp` must be a live QP; every work request in the chain, its memory and
/// its `ib_cqe` must stay valid until it completes or the QP is drained.
/// Each `ib_cqe` is an MR's own or comes from [`Cqe::ptr_of`] (whose
/// owner must then stay valid as long).
pub(crate) unsafe fn post_chain(qp: *mut bindings::ib_qp, first: *mut bindings::ib_send_wr) -> Result {
    // SAFETY: guaranteed by the caller.
    to_result(unsafe { bindings::xprs_ib_post_send(qp, first) })
}
