// SPDX-License-Identifier: GPL-2.0

//! Thin abstractions over the RDMA verbs this transport uses: protection
//! domains, completion queues, streaming DMA mappings and Send/Receive
//! posting here; completion handlers ([`Cqe`], [`CqeHandler`], [`Wc`]) in
//! `cqe.rs`; FRWR MRs ([`Mr`]) in `mr.rs`.

use crate::bindings;
use core::ptr::NonNull;
use kernel::error::{to_result, Error};
use kernel::prelude::*;

mod cqe;
mod mr;

pub(crate) use cqe::{impl_has_cqe, Cid, Cqe, CqeHandler, HasCqe, Wc};
pub(crate) use mr::{Mr, MrHandler, MrSegment, MrWr};

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

    /// Returns the CQ's id, the CQ half of the completion ids ([`Cid`])
    /// of work requests that complete on it.
    pub(crate) fn id(&self) -> u32 {
        // SAFETY: by the type invariant the CQ is live; its id is fixed
        // when it is allocated.
        unsafe { bindings::xprs_ib_cq_id(self.cq.as_ptr()) }
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
