// SPDX-License-Identifier: GPL-2.0

//! Thin abstractions over the RDMA verbs this transport uses: protection
//! domains, completion queues, streaming DMA mappings and Send/Receive
//! posting here; completion handlers ([`Cqe`], [`CqeHandler`], [`Wc`]) in
//! `cqe.rs`; FRWR MRs ([`Mr`]) in `mr.rs`.

use crate::bindings;
use crate::rdma_cm::IdHold;
use core::ptr::NonNull;
use kernel::error::Error;
use kernel::prelude::*;
use kernel::sync::{Arc, UniqueArc};

/// `to_result` of a C return code on the data path (posts, MR mapping),
/// inlined: the kernel crate's is not `#[inline]`, so every Send, Receive
/// and registration paid a call for it.
#[inline(always)]
fn rc_result(rc: core::ffi::c_int) -> Result {
    if rc < 0 {
        Err(Error::from_errno(rc))
    } else {
        Ok(())
    }
}

mod chain;
mod cqe;
mod mr;
mod mr_table;

pub(crate) use chain::{SendBuf, SendBufMut, SendChain};
pub(crate) use cqe::{impl_has_cqe, Cid, Cqe, CqeHandler, HasCqe, Wc};
pub(crate) use mr::{BufferMr, Mr, MrHandler, MrSegment, MrWr};
pub(crate) use mr_table::{MrLease, MrTable};

/// Converts an `ERR_PTR`-or-pointer return into a `Result`.
fn from_err_ptr<T>(ptr: *mut T) -> Result<NonNull<T>> {
    let v = ptr as isize;
    if (-4095..0).contains(&v) {
        // `v` is a negative errno in the `ERR_PTR` range.
        return Err(Error::from_errno(v as i32));
    }
    NonNull::new(ptr).ok_or(ENOMEM)
}

/// An RDMA device, borrowed for `'a` from the `rdma_cm_id` that resolved
/// to it ([`crate::rdma_cm::CmId::device`]).
///
/// # Invariants
///
/// The pointer is a valid `ib_device` for as long as `hold`, the id that
/// resolved to it, is not destroyed: at least `'a`, and for as long as a
/// [`DeviceRef`] made from this value lives.
#[derive(Clone, Copy)]
pub(crate) struct Device<'a> {
    dev: NonNull<bindings::ib_device>,
    hold: &'a Arc<IdHold>,
}

impl<'a> Device<'a> {
    /// Wraps `ptr`, the device `hold` resolved to.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid device until the id of `hold` is destroyed.
    pub(crate) unsafe fn from_raw(ptr: NonNull<bindings::ib_device>, hold: &'a Arc<IdHold>) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self { dev: ptr, hold }
    }

    /// Returns a hold on the device, for an object made on it to keep.
    fn hold(&self) -> DeviceRef {
        // INVARIANT: the id that keeps the device is held with it.
        DeviceRef {
            dev: self.dev,
            _hold: self.hold.clone(),
        }
    }

    /// Returns the raw device.
    pub(crate) fn as_ptr(&self) -> *mut bindings::ib_device {
        self.dev.as_ptr()
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

/// A device kept for the objects made on it ([`Pd`], [`Cq`], [`DmaBuf`]),
/// so that each may free itself whenever it is dropped.
///
/// # Invariants
///
/// `dev` is a valid `ib_device` for as long as `_hold` lives: it is the
/// device the id of `_hold` resolved to, which the id keeps registered
/// until it is destroyed (type invariants of [`Device`] and [`IdHold`]).
pub(crate) struct DeviceRef {
    dev: NonNull<bindings::ib_device>,
    _hold: Arc<IdHold>,
}

// SAFETY: a `DeviceRef` is the address of a device that stays valid while
// it lives (type invariant) and a hold on the id (`Send + Sync`); the
// verbs and DMA functions called on the device may run on any thread, and
// concurrently.
unsafe impl Send for DeviceRef {}
// SAFETY: as for `Send`: `&DeviceRef` gives only the device's address.
unsafe impl Sync for DeviceRef {}

impl DeviceRef {
    /// Returns the raw device, valid while `self` lives.
    fn as_ptr(&self) -> *mut bindings::ib_device {
        self.dev.as_ptr()
    }
}

/// A protection domain, shared (`Arc<Pd>`) by its owner and by the QP and
/// the MRs made on it, so it is deallocated only once all of them are
/// gone.
///
/// # Invariants
///
/// `pd` was returned by `ib_alloc_pd` on `_dev`'s device and is
/// deallocated only by `drop`. Every QP and MR on it holds an `Arc` of
/// this value until it is destroyed ([`Qp`], [`Mr`]).
pub(crate) struct Pd {
    pd: NonNull<bindings::ib_pd>,
    _dev: DeviceRef,
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
    pub(crate) fn new(dev: &Device<'_>) -> Result<Arc<Self>> {
        // Taken first, so that its failure makes no verbs call.
        let slot = UniqueArc::<Pd>::new_uninit(GFP_KERNEL)?;
        let dev = dev.hold();
        // SAFETY: the device is valid while `dev` lives (its invariant).
        let pd = from_err_ptr(unsafe { bindings::xprs_ib_alloc_pd(dev.as_ptr()) })?;
        // INVARIANT: allocated just above, on `dev`; nothing uses it yet.
        Ok(slot.write(Self { pd, _dev: dev }).into())
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
        // SAFETY: by the type invariant the PD is live and unused: this is
        // the last `Arc` of it, so every QP and MR on it is gone; its
        // device is held by `_dev`, dropped after this.
        unsafe { bindings::xprs_ib_dealloc_pd(self.pd.as_ptr()) };
    }
}

/// A completion queue polled from the ib_comp workqueue.
///
/// # Invariants
///
/// `cq` was returned by `ib_alloc_cq_any` on `_dev`'s device and is freed
/// only by `drop`. A QP uses it only while a [`Qp`] owns it, which frees
/// it after destroying the QP.
pub(crate) struct Cq {
    cq: NonNull<bindings::ib_cq>,
    _dev: DeviceRef,
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
    pub(crate) fn new(dev: &Device<'_>, depth: u32) -> Result<Self> {
        let depth = i32::try_from(depth).map_err(|_| EINVAL)?;
        let dev = dev.hold();
        // SAFETY: the device is valid while `dev` lives (its invariant);
        // the private pointer is unused (each work request carries its own
        // `ib_cqe`).
        let cq = from_err_ptr(unsafe {
            bindings::xprs_ib_alloc_cq(dev.as_ptr(), core::ptr::null_mut(), depth)
        })?;
        // INVARIANT: allocated just above, on `dev`; no QP uses it yet.
        Ok(Self { cq, _dev: dev })
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
        // SAFETY: by the type invariant the CQ is live and no QP uses it
        // (a `Qp` destroys its QP before dropping its CQs); its device is
        // held by `_dev`, dropped after this.
        unsafe { bindings::ib_free_cq(self.cq.as_ptr()) };
    }
}

/// An RC queue pair, created by [`crate::rdma_cm::CmId::create_qp`], with
/// the two CQs it completes on and `R`, the resources its work requests
/// use ([`Qp::post_recv`], [`Qp::post`]).
///
/// # Invariants
///
/// `qp` is a live QP on the PD `_pd` whose send and receive queues
/// complete on `send_cq` and `recv_cq`. Its owner destroys it before
/// dropping this value or taking it apart ([`Qp::into_res`]), which then
/// frees the CQs and lets go of the PD: a CQ or PD goes only after the
/// QP that uses it. `res` is reached only through `&self` while the QP
/// lives, and dropped or handed out only after the CQs are freed (it is
/// declared after them): every work request posted with what it lends
/// ([`Qp::post_recv`], [`Qp::post`]) has completed, or been flushed with
/// the QP, and no completion handler runs any more.
pub(crate) struct Qp<R> {
    qp: NonNull<bindings::ib_qp>,
    send_cq: Cq,
    recv_cq: Cq,
    pd: Arc<Pd>,
    res: R,
}

// SAFETY: a `Qp` is the address of a QP, which is not tied to a thread,
// and owns its CQs (`Send`) and `res`, which may move when `R: Send`.
unsafe impl<R: Send> Send for Qp<R> {}
// SAFETY: through `&Qp` one posts and drains, and the providers serialize
// concurrent posts on one queue with the queue's own lock; `res` is
// shared as `&R`, which `R: Sync` allows.
unsafe impl<R: Sync> Sync for Qp<R> {}

impl<R> Qp<R> {
    /// Wraps `qp`, on `pd`, completing on `send_cq` and `recv_cq`, whose
    /// Receives use `res`.
    ///
    /// # Safety
    ///
    /// `qp` is a live QP created on that PD and those CQs, on which
    /// nothing is posted yet, and the caller destroys it before dropping
    /// the value or calling [`Qp::into_res`].
    pub(crate) unsafe fn from_raw(qp: NonNull<bindings::ib_qp>, send_cq: Cq, recv_cq: Cq, pd: Arc<Pd>, res: R) -> Self {
        // INVARIANT: guaranteed by the caller; nothing borrowed `res` yet.
        Self {
            qp,
            send_cq,
            recv_cq,
            pd,
            res,
        }
    }

    /// Returns the resources of the QP's Receives.
    pub(crate) fn res(&self) -> &R {
        &self.res
    }

    /// Takes a destroyed QP apart: frees the send CQ, then the receive CQ
    /// (each waits for its completion work), lets go of the PD, and
    /// returns the resources, which no work request uses any more.
    ///
    /// # Safety
    ///
    /// The QP was destroyed.
    pub(crate) unsafe fn into_res(self) -> R {
        let Self {
            qp: _,
            send_cq,
            recv_cq,
            pd,
            res,
        } = self;
        drop(send_cq);
        drop(recv_cq);
        drop(pd);
        // INVARIANT: the QP is destroyed (the caller) and its CQs freed,
        // so nothing uses `res` but its new owner.
        res
    }

    /// Posts one Receive, the one `pick` chooses from the QP's resources:
    /// the buffer it fills and the owner of the [`Cqe`] it completes on.
    /// Because `pick` must give a [`Recv`] for whatever lifetime it is
    /// lent the resources, both come from them (or are `'static`).
    pub(crate) fn post_recv<T: CqeHandler>(&self, pick: impl for<'r> FnOnce(&'r R) -> Result<Recv<'r, T>>) -> Result {
        let recv = pick(&self.res)?;
        let len = u32::try_from(recv.buf.len()).map_err(|_| EINVAL)?;
        let mut sge = bindings::ib_sge {
            addr: recv.buf.addr(),
            length: len,
            lkey: recv.lkey,
        };
        // SAFETY: `ib_recv_wr` is a C struct for which all zeroes is valid.
        let mut wr: bindings::ib_recv_wr = unsafe { core::mem::zeroed() };
        wr.__bindgen_anon_1.wr_cqe = Cqe::ptr_of(recv.owner).ok_or(EIO)?;
        wr.sg_list = &mut sge;
        wr.num_sge = 1;
        // SAFETY: the QP is live (type invariant). The buffer, mapped for
        // its `len` bytes while it lives (`DmaBuf` invariant), and the
        // owner of the `Cqe` were lent by `pick` for a lifetime of its
        // choosing, which it cannot name, so they are `res`'s (or
        // `'static`): `res` goes only after the QP is destroyed and its
        // CQs freed (type invariant), so both outlive the Receive and its
        // completion. `wr` and `sge` are copied by the provider before the
        // call returns.
        rc_result(unsafe { bindings::xprs_ib_post_recv(self.qp.as_ptr(), &wr) })
    }

    /// Flushes and waits for every posted Receive, then every Send.
    pub(crate) fn drain(&self) {
        // SAFETY: the QP is live (type invariant); draining moves it to
        // the error state and waits for the flushes.
        unsafe {
            bindings::ib_drain_rq(self.qp.as_ptr());
            bindings::ib_drain_sq(self.qp.as_ptr());
        }
    }
}

/// A heap buffer with a streaming DMA mapping for one device.
///
/// # Invariants
///
/// `addr` maps the `len` bytes at `buf` for the device of `dev` in
/// direction `to_device` until `drop`; `dev` keeps the device valid until
/// then. `buf` is a `len`-byte allocation owned by this value. `virt_dma`
/// is `ib_uses_virt_dma()` of that device, which is fixed for its life.
pub(crate) struct DmaBuf {
    buf: KVec<u8>,
    addr: u64,
    dev: DeviceRef,
    to_device: bool,
    /// The device maps nothing (rxe, siw): `ib_dma_sync_*()` do nothing
    /// for it, so the syncs below make no C call (C's are inline, and
    /// test the same).
    virt_dma: bool,
}

// SAFETY: a `DmaBuf` owns its buffer and its mapping (type invariant),
// neither tied to a thread: the DMA API may map, sync and unmap from any
// CPU.
unsafe impl Send for DmaBuf {}
// SAFETY: through `&DmaBuf` one only reads the buffer and its address, and
// syncs the mapping, which the DMA API allows from several CPUs at once;
// writing the buffer takes `&mut self`.
unsafe impl Sync for DmaBuf {}

impl DmaBuf {
    /// Allocates `len` zeroed bytes and maps them for `dev`.
    pub(crate) fn new(dev: &Device<'_>, len: usize, to_device: bool) -> Result<Self> {
        let mut buf = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        let dev = dev.hold();
        // SAFETY: `buf` is a valid allocation of `len` bytes and the
        // device is valid while `dev` lives (`DeviceRef` invariant).
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
        // SAFETY: as above.
        let virt_dma = unsafe { bindings::xprs_ib_uses_virt_dma(dev.as_ptr()) };
        // INVARIANT: mapped just above, for the device `dev` holds, whose
        // `virt_dma` was just read.
        Ok(Self {
            buf,
            addr,
            dev,
            to_device,
            virt_dma,
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
        if self.virt_dma {
            return;
        }
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
        if !self.virt_dma {
            // SAFETY: by the type invariant `addr` maps at least `len`
            // bytes.
            unsafe { bindings::xprs_ib_dma_sync_for_cpu(self.dev.as_ptr(), self.addr, len) };
        }
        self.buf.get(..len).unwrap_or(&[])
    }
}

impl Drop for DmaBuf {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the mapping is live and `dev` keeps
        // its device; owners drop the buffer only once no work request
        // uses it (the contract of `Qp::post_send`).
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

/// A Receive for [`Qp::post_recv`]: the whole of `buf` (covered by
/// `lkey`), completing on `owner`'s [`Cqe`], both lent for `'r` by the
/// QP's resources.
pub(crate) struct Recv<'r, T> {
    pub(crate) owner: &'r T,
    pub(crate) buf: &'r DmaBuf,
    pub(crate) lkey: u32,
}

