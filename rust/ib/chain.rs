// SPDX-License-Identifier: GPL-2.0

//! The send queue's side of a [`Qp`]: send buffers whose mapping a Send
//! names ([`SendBuf`], whose contents its owner's key lends as a
//! [`SendBufMut`]), the chain of work requests one `ib_post_send()`
//! posts ([`SendChain`]), and the posts themselves ([`Qp::post`] and [`Qp::post_with`], safe,
//! and [`Qp::post_send`]).

use super::{BufferMr, Cqe, CqeHandler, DmaBuf, Mr, MrLease, MrTable, Qp};
use crate::bindings;
use crate::cell::{Key, KeyCell, KeyedBy};
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use kernel::prelude::*;

/// A send buffer: a [`DmaBuf`] whose contents the holder of a key of the
/// [`KeyCell`] it is tied to writes ([`SendBuf::contents`]), and whose
/// mapping ([`SendBuf::addr`], [`SendBuf::len`]) anyone may name, for a
/// Send to read, without a reference to the contents.
///
/// # Invariants
///
/// `addr` and `len` are the mapping of the [`DmaBuf`] in `buf`, which is
/// never replaced ([`SendBufMut`] lends its contents, not the buffer) and
/// so keeps that mapping until this value is dropped.
pub(crate) struct SendBuf<S> {
    addr: u64,
    len: usize,
    buf: KeyedBy<DmaBuf, S>,
}

impl<S> SendBuf<S> {
    /// Wraps `buf`, to be written with the keys of `owner`.
    pub(crate) fn new(buf: DmaBuf, owner: &KeyCell<S>) -> Self {
        // INVARIANT: the mapping of the buffer kept.
        Self {
            addr: buf.addr(),
            len: buf.len(),
            buf: KeyedBy::new(buf, owner),
        }
    }

    /// Returns the DMA address.
    pub(crate) fn addr(&self) -> u64 {
        self.addr
    }

    /// Returns the length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Returns the contents, and the value of `key`, for as long as the key
    /// is borrowed; None when `key` is not a key of the buffer's owner
    /// cell.
    pub(crate) fn contents<'b>(&'b self, key: &'b mut Key<'_, S>) -> Option<(SendBufMut<'b>, &'b mut S)> {
        let (buf, value) = self.buf.get_with(key)?;
        Some((SendBufMut(buf), value))
    }
}

/// The contents of a [`SendBuf`], lent to the holder of its owner's key:
/// they may be written and handed to the device, but the buffer is not
/// replaced, so its mapping stays the one the [`SendBuf`] names.
pub(crate) struct SendBufMut<'b>(&'b mut DmaBuf);

impl SendBufMut<'_> {
    /// Returns the length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Returns the buffer for the CPU to fill before a Send.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        self.0.as_mut_slice()
    }

    /// Hands the first `len` bytes to the device (before posting a Send).
    pub(crate) fn sync_for_device(&self, len: usize) {
        self.0.sync_for_device(len)
    }
}

/// The send-queue work requests of one `ib_post_send()`: the REG_MRs and
/// LOCAL_INVs of up to `N` MRs, in the order added, then at most one Send.
/// What its work requests point to (the MRs, the buffer the Send reads,
/// the owners of the completion contexts) is borrowed for `'r`, and the
/// MRs are held exclusively, through their leases, for `'l`, so none of
/// them goes while the chain lives and no one else touches an MR's work
/// requests while it is built and posted. [`Qp::post`] takes one whose
/// `'r` is the QP's resources'; [`Qp::post_send`] one the caller vouches
/// for.
///
/// # Invariants
///
/// `wrs[..len]` are initialised: the prepared work requests of distinct
/// MRs that live for `'r` and are used by no one else for `'l`, each completing on its
/// MR's own context or on a [`Cqe`] of an owner borrowed for `'r`;
/// `send`, if any, reads `sge.length` bytes of a [`SendBuf`] borrowed for
/// `'r`, within its mapping, and completes on such a [`Cqe`].
pub(crate) struct SendChain<'r, 'l, const N: usize> {
    /// Left uninitialised past `len`: a chain is made for every Send, and
    /// zeroing its `N` slots (256 bytes for a Send's chain) would cost a
    /// memset each time.
    wrs: [MaybeUninit<*mut bindings::ib_send_wr>; N],
    len: usize,
    send: Option<(bindings::ib_send_wr, bindings::ib_sge)>,
    _borrows: PhantomData<(&'r Mr, &'l mut MrLease)>,
}

impl<'r, 'l, const N: usize> SendChain<'r, 'l, N> {
    /// An empty chain.
    pub(crate) fn new() -> Self {
        // INVARIANT: nothing held.
        Self {
            wrs: [const { MaybeUninit::uninit() }; N],
            len: 0,
            send: None,
            _borrows: PhantomData,
        }
    }

    /// Returns the number of MR work requests held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends `wr`, a work request of an MR that lives for `'r` and is
    /// the chain's alone for `'l`; `EIO` when the chain is full.
    fn push(&mut self, wr: *mut bindings::ib_send_wr) -> Result {
        let slot = self.wrs.get_mut(self.len).ok_or(EIO)?;
        *slot = MaybeUninit::new(wr);
        // INVARIANT: slot `len` is initialised just above; the rest is
        // guaranteed by the caller.
        self.len += 1;
        Ok(())
    }

    /// Appends the REG_MR that [`Mr::map`] prepared for the MR of `table`
    /// that `lease` names; `EIO` if the lease is not the table's, the MR
    /// is not mapped or the chain is full.
    pub(crate) fn reg(&mut self, table: &'r MrTable, lease: &'l mut MrLease) -> Result {
        let wr = table.get_mut(lease).ok_or(EIO)?.reg_wr()?;
        // INVARIANT: the MR is `table`'s, borrowed for `'r`, and its lease
        // is borrowed mutably for `'l`.
        self.push(wr)
    }

    /// Appends the REG_MR of a [`BufferMr`]; fails as [`SendChain::reg`].
    pub(crate) fn reg_buffer(&mut self, mr: &'r mut BufferMr) -> Result
    where
        'r: 'l,
    {
        let wr = mr.reg_wr()?;
        // INVARIANT: `mr` is borrowed mutably for `'r`, which outlives `'l`.
        self.push(wr)
    }

    /// Appends a LOCAL_INV of the current rkey of the MR of `table` that
    /// `lease` names: signaled on `signal`'s [`Cqe`], or unsignaled on the
    /// MR's own context when `None`. `EIO` if the lease is not the
    /// table's or the chain is full.
    pub(crate) fn local_inv<T: CqeHandler>(
        &mut self,
        table: &'r MrTable,
        lease: &'l mut MrLease,
        signal: Option<&'r T>,
    ) -> Result {
        let cqe = match signal {
            Some(owner) => Some(Cqe::ptr_of(owner).ok_or(EIO)?),
            None => None,
        };
        let wr = table.get_mut(lease).ok_or(EIO)?.inv_wr(cqe);
        // INVARIANT: as in `reg`; the signaled owner is borrowed for `'r`.
        self.push(wr)
    }

    /// Ends the chain with a Send of the first `len` bytes of `buf`
    /// (covered by `lkey`), signaled or not, completing on `owner`'s
    /// [`Cqe`]. `EIO` if `len` exceeds the buffer or a Send was set.
    pub(crate) fn send<T: CqeHandler, S>(
        &mut self,
        buf: &'r SendBuf<S>,
        len: u32,
        lkey: u32,
        owner: &'r T,
        signaled: bool,
    ) -> Result {
        if self.send.is_some() || len as usize > buf.len() {
            return Err(EIO);
        }
        let sge = bindings::ib_sge {
            addr: buf.addr(),
            length: len,
            lkey,
        };
        // SAFETY: `ib_send_wr` is a C struct for which all zeroes is valid.
        let mut wr: bindings::ib_send_wr = unsafe { core::mem::zeroed() };
        wr.__bindgen_anon_1.wr_cqe = Cqe::ptr_of(owner).ok_or(EIO)?;
        wr.num_sge = 1;
        wr.opcode = bindings::ib_wr_opcode_IB_WR_SEND;
        wr.send_flags = if signaled {
            bindings::ib_send_flags_IB_SEND_SIGNALED as i32
        } else {
            0
        };
        // INVARIANT: within `buf`'s mapping (checked above); `sg_list` is
        // pointed at `sge` when the chain is posted.
        self.send = Some((wr, sge));
        Ok(())
    }
}

impl<R> Qp<R> {
    /// Links `chain`'s work requests in order and posts them with one
    /// `ib_post_send()`.
    ///
    /// # Safety
    ///
    /// Everything `chain` borrowed for `'r` (the MRs, the Send's buffer,
    /// the owners of the completion contexts) stays valid until each work
    /// request has completed, or the QP was destroyed and its CQs freed.
    /// (An MR's own completions reach its [`MrHandler`], which the MR
    /// holds.)
    pub(crate) unsafe fn post_send<const N: usize>(&self, mut chain: SendChain<'_, '_, N>) -> Result {
        // SAFETY: guaranteed by the caller.
        unsafe { self.link_and_post(&mut chain) }
    }

    /// Links `chain`'s work requests in order and posts them with one
    /// `ib_post_send()`, the chain staying where it is (a Send's chain is
    /// 316 bytes: [`Qp::post_with`] builds it in place, so it is neither
    /// returned nor moved by value).
    ///
    /// # Safety
    ///
    /// As for [`Qp::post_send`].
    #[inline(always)]
    unsafe fn link_and_post<const N: usize>(&self, chain: &mut SendChain<'_, '_, N>) -> Result {
        let mut next: *mut bindings::ib_send_wr = core::ptr::null_mut();
        if let Some((wr, sge)) = &mut chain.send {
            wr.sg_list = sge;
            next = wr;
        }
        for wr in chain.wrs.iter().take(chain.len).rev() {
            // SAFETY: the slots below `len` are initialised (type
            // invariant).
            let wr = unsafe { wr.assume_init() };
            // SAFETY: `wr` is the work request of an MR that is the
            // chain's alone while it lives (type invariant), so no one else
            // writes it.
            unsafe { (*wr).next = next };
            next = wr;
        }
        if next.is_null() {
            return Ok(());
        }
        // SAFETY: the QP is live (type invariant); the chain ends in a null
        // `next`; every request, its memory and its completion context is
        // valid for the call (borrowed by `chain`), and after it as long
        // as the caller guarantees. The Send and its SGE, on this stack,
        // are copied by the provider before the call returns.
        super::rc_result(unsafe { bindings::xprs_ib_post_send(self.qp.as_ptr(), next) })
    }

    /// Posts the chain `build` makes from the QP's resources. Because
    /// `build` must give a chain for whatever lifetime `'r` it is lent the
    /// resources, everything the chain points to is theirs (or
    /// `'static`); the leases it holds stay borrowed (`'l`) until the post
    /// returns.
    pub(crate) fn post<'l, const N: usize>(
        &self,
        build: impl for<'r> FnOnce(&'r R) -> Result<SendChain<'r, 'l, N>>,
    ) -> Result {
        let chain = build(&self.res)?;
        // SAFETY: what `chain` borrowed for `'r` is `res`'s, which goes only
        // after the QP is destroyed and its CQs freed (type invariant), so
        // it outlives each work request and its completion.
        unsafe { self.post_send(chain) }
    }

    /// Posts the chain `build` adds to, made empty here, from the QP's
    /// resources: as [`Qp::post`], but the chain is built in place, not
    /// returned by value (which copies the whole chain, 316 bytes for a
    /// Send's, on every post). `build` must add to a chain of whatever
    /// lifetime `'r` it is lent the resources for, and the chain is
    /// borrowed mutably (so invariant in `'r`): everything it points to is
    /// theirs (or `'static`).
    pub(crate) fn post_with<'l, const N: usize>(
        &self,
        build: impl for<'r> FnOnce(&'r R, &mut SendChain<'r, 'l, N>) -> Result,
    ) -> Result {
        let mut chain = SendChain::new();
        build(&self.res, &mut chain)?;
        // SAFETY: what `chain` borrowed for `'r` is `res`'s, which goes only
        // after the QP is destroyed and its CQs freed (type invariant), so
        // it outlives each work request and its completion.
        unsafe { self.link_and_post(&mut chain) }
    }
}
