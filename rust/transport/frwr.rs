// SPDX-License-Identifier: GPL-2.0

#![allow(unsafe_code)]

//! FRWR memory registration (`frwr_ops.c`): the MR pool of a connection,
//! the leases by which a req holds MRs, mapping a chunk onto MRs (their
//! REG_MRs are posted with the Send), and invalidating them by a chain of
//! LOCAL_INV whose last completion finishes the reply, or wakes
//! `buf_free`.
//!
//! An MR is used only by the holder of its [`MrLease`] (type invariants of
//! [`MrLease`] and [`MrTable`]). Free leases are on `Shared::mr_free`, under
//! the `shared` spinlock, and their MRs are unmapped. A req's leases
//! (`Req::registered`) have one user at a time, as the type invariant of
//! `Req` says. A lease of a pool other than the current endpoint's is
//! stale: that endpoint's teardown fenced and unmapped its MR.

use crate::cell::Unshared;
pub(super) use crate::ib::MrLease;
use crate::ib::{self, BufferMr, Cqe, CqeHandler, Mr, MrHandler, MrSegment, MrTable, MrWr, SendChain, Wc};
use crate::proto::chunk::{self, ChunkKind, Piece};
use crate::proto::header::Segment;
use crate::proto::lifetime::ReqId;
use crate::proto::xdr;
use crate::sunrpc::{self, PieceAddr, Rqst, XdrBuf};
use crate::trace;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};

use super::endpoint::{Endpoint, WritePad};
use super::reply::{Placement, Rep};
use super::req::{InvArrival, PendingReply, Unmapping};
use super::stats::add;
use super::{plan_err, Req, ReqKey, Transport, MAX_HDR_SEGS, MAX_MRS_PER_REQ};

/// MRs created per refill of the MR pool.
const MR_REFILL_BATCH: usize = 32;

/// The MRs a req has registered (`rl_registered`): the leases it holds.
///
/// # Invariants
///
/// `leases[..len]` are all `Some`, `leases[len..]` all `None`.
pub(super) struct Registered {
    leases: [Option<MrLease>; MAX_MRS_PER_REQ],
    len: usize,
}

impl Registered {
    pub(super) const EMPTY: Self = Self {
        leases: [const { None }; MAX_MRS_PER_REQ],
        len: 0,
    };

    /// Returns the registrations, first dropping the leases of a pool other
    /// than `pool`: that pool's endpoint was torn down, which fenced and
    /// unmapped its MRs.
    pub(super) fn of_pool(&mut self, pool: u64) -> &mut Self {
        let mut kept = 0;
        for i in 0..self.len {
            let Some(cell) = self.leases.get_mut(i) else {
                break;
            };
            let lease = cell.take();
            if let Some(lease) = lease.filter(|l| l.table() == pool) {
                if let Some(to) = self.leases.get_mut(kept) {
                    *to = Some(lease);
                    kept += 1;
                }
            }
        }
        // INVARIANT: the kept leases were moved to the front; every slot
        // from `kept` on was emptied above.
        self.len = kept;
        self
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut MrLease> {
        self.leases.iter_mut().take(self.len).flatten()
    }

    /// Records `lease`, or gives it back when the req holds the most MRs
    /// it can.
    fn push(&mut self, lease: MrLease) -> core::result::Result<&mut MrLease, MrLease> {
        let Some(cell) = self.leases.get_mut(self.len) else {
            return Err(lease);
        };
        // INVARIANT: slot `len` was `None`; it is `Some` and counted now.
        self.len += 1;
        Ok(cell.insert(lease))
    }

    /// Removes and returns the last lease.
    fn pop(&mut self) -> Option<MrLease> {
        let last = self.len.checked_sub(1)?;
        // INVARIANT: the last counted slot is emptied and uncounted.
        self.len = last;
        self.leases.get_mut(last)?.take()
    }

    /// Removes and returns the first lease `pick` chooses; the last lease
    /// takes its place.
    pub(super) fn take(&mut self, mut pick: impl FnMut(&mut MrLease) -> bool) -> Option<MrLease> {
        let pos = self.iter_mut().position(&mut pick)?;
        let last = self.len.checked_sub(1)?;
        self.leases.swap(pos, last);
        self.pop()
    }
}

/// The MRs of one connection (`rb_mrs`), and the leases by which a req
/// holds them: a free lease is on `Shared::mr_free`, a held one in
/// `Req::registered`. Dropping a lease takes its MR out of circulation
/// until the pool is dropped with its endpoint (an orphan, or a lease of
/// an endpoint already torn down).
pub(super) struct MrPool {
    table: MrTable,
}

impl MrPool {
    /// The pool of no MRs.
    pub(super) const EMPTY: Self = Self { table: MrTable::EMPTY };

    /// Returns the table, for a [`SendChain`] to link its MRs.
    pub(super) fn table(&self) -> &MrTable {
        &self.table
    }

    /// The table's id, which its leases carry, for `Registered::of_pool`.
    pub(super) fn id(&self) -> u64 {
        self.table.id()
    }

    /// Makes a pool of `n` empty slots (at most `u16::MAX`).
    pub(super) fn new(n: usize) -> Result<Self> {
        Ok(Self {
            table: MrTable::new(n)?,
        })
    }

    /// Returns the MR `lease` names, if it is a lease of this pool.
    pub(super) fn get_mut<'a>(&'a self, lease: &'a mut MrLease) -> Option<&'a mut Mr> {
        self.table.get_mut(lease)
    }

    /// Returns how many slots hold an MR.
    pub(super) fn filled(&mut self) -> usize {
        self.table.filled()
    }
}

/// The state of a req's LOCAL_INV chain, shared by its poster and the
/// completion of its last LOCAL_INV, which is signaled on the req's
/// [`InvCqe`] in the endpoint the chain is posted on. The turn at the req
/// passes between them through the req itself (`ReqKey::hand_to_inv`
/// parks it in the req's cell, `Req::inv_arrive` takes it out), which
/// also holds the completion `buf_free` waits on.
pub(super) struct InvCtx {
    /// The endpoint the chain was posted on.
    pub(super) ep: AtomicPtr<Endpoint>,
    /// True for `frwr_unmap_sync()`: the poster waits on `done`.
    pub(super) sync: AtomicBool,
    /// For the async chain of a Reply: the Receive it came in, held (not
    /// reposted) until the chain is done (the Reply itself waits in the
    /// req's `pending`), as its index in the `reps` of the chain's
    /// endpoint, `ep`; [`InvCtx::NO_REP`] for none. Written by the reply
    /// handler before it posts the chain, read by the chain's completion.
    pub(super) rep: AtomicU32,
}

impl InvCtx {
    /// No rep is held for the chain (`rep`).
    pub(super) const NO_REP: u32 = u32::MAX;

    /// The chain state of a req, no chain posted.
    pub(super) const fn new() -> Self {
        Self {
            ep: AtomicPtr::new(core::ptr::null_mut()),
            sync: AtomicBool::new(false),
            rep: AtomicU32::new(Self::NO_REP),
        }
    }
}

/// The completion context of the last LOCAL_INV of req `req`'s chains on
/// one endpoint (one per req, in `EpRes::inv_cqes`).
pub(super) struct InvCqe {
    pub(super) cqe: Cqe<InvCqe>,
    pub(super) req: u32,
    /// The transport whose endpoint holds this context.
    pub(super) transport: Arc<Transport>,
}

ib::impl_has_cqe!(InvCqe, cqe);

impl Transport {
    /// Registers the part of `buf` (of `rqst`, the req's rqst being
    /// transmitted) a chunk of `kind` conveys: cuts it into
    /// pieces, groups them into MRs and maps each (`rpcrdma_mr_prepare()`
    /// and `frwr_map()`). The MRs are recorded in the req as they are
    /// taken, so a failure part way leaves them for `release_mrs`.
    /// Returns the number of segments written to `out`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn register(
        &self,
        ep: &Endpoint,
        req: &mut ReqKey<'_>,
        rqst: &Rqst<'_>,
        buf: &XdrBuf<'_>,
        kind: ChunkKind,
        writing: bool,
        xid: u32,
        out: &mut [Segment; MAX_HDR_SEGS],
    ) -> Result<usize> {
        let th = &ep.link().th;
        // The pieces are described, not listed: planning and handing them
        // to the MRs costs per registration, not per page, and only the C
        // helper walks the pages (as `frwr_map()` does).
        let pieces = chunk::ChunkPieces::new(&buf.shape(), kind, th.page).map_err(plan_err)?;
        if pieces.is_empty() {
            return Err(EIO);
        }
        // Fails, as a chunk needing more registrations than `out` holds
        // does, before any MR is taken.
        let ranges = pieces.ranges(th, out.len()).map_err(plan_err)?;
        let reg = &mut req.state().registered;
        // Sets entry `sg` of `mr` to `piece`, the head or the tail (or a
        // page of the page list).
        let set_piece = |mr: &mut Mr, sg: u32, piece: &Piece| match buf.locate(piece).ok_or(EIO)? {
            // SAFETY: the page is the rqst's, owned by the caller until MR
            // release.
            PieceAddr::Page(page, offset) => unsafe { mr.set_page(sg, page, offset, piece.len) },
            // SAFETY: as above, for the rqst's head or tail.
            PieceAddr::Virt(addr) => unsafe { mr.set_buf(sg, addr, piece.len) },
        };
        let (mut nranges, mut covered) = (0usize, 0usize);
        for ((range, held), seg) in ranges.zip(out.iter_mut()) {
            let lease = self.mr_get().inspect_err(|_| trace::nomrs_err(&self.xprt, rqst))?;
            let lease = match reg.push(lease) {
                Ok(lease) => lease,
                Err(lease) => {
                    self.mr_put(lease);
                    return Err(EIO);
                }
            };
            let mr = ep.mrs.get_mut(lease).ok_or(EIO)?;
            // The MR is leased to this req and not mapped (MRs on the free
            // list are unmapped); `set_page_run`, `set_page` and `set_buf`
            // check both that and the entries against its depth.
            let mut sg = 0u32;
            if let Some(head) = held.head {
                set_piece(mr, sg, &head)?;
                sg = 1;
            }
            // The page pieces of the range, in one call.
            if let Some(pr) = held.pages {
                let pages = buf.page_run(pr.index, pr.count).ok_or(EIO)?;
                // SAFETY: `pages` holds `pr.count` entries of the rqst's
                // page array, whose pages the caller owns until MR release.
                unsafe { mr.set_page_run(sg, pages, pr.count, pr.offset, pr.len)? };
                sg = sg.checked_add(pr.count).ok_or(EIO)?;
            }
            if let Some(tail) = held.tail {
                set_piece(mr, sg, &tail)?;
                sg = sg.checked_add(1).ok_or(EIO)?;
            }
            // Every entry the MR maps was set above: a stale one would
            // expose a page of an earlier chunk to the peer.
            let nents = u32::try_from(range.nents).map_err(|_| EIO)?;
            if sg != nents {
                return Err(EIO);
            }
            *seg = mr.map(nents, writing, xid)?.to_wire();
            nranges = nranges.saturating_add(1);
            covered = covered.saturating_add(range.nents);
        }
        // And the MRs hold the whole chunk.
        if covered != pieces.len() {
            return Err(EIO);
        }
        Ok(nranges)
    }

    /// Takes a free MR (`rpcrdma_mr_get()`). Runs under `XPRT_LOCKED`.
    ///
    /// When none is free it allocates nothing: the send path of a
    /// swap-backed mount must not. It asks for a refill instead
    /// (`rpcrdma_mrs_refresh()`), which `unwind_send` queues once the
    /// task waits for buffer space, and fails with `EAGAIN`.
    fn mr_get(&self) -> Result<MrLease> {
        if let Some(lease) = self.shared.lock().mr_free.pop() {
            return Ok(lease);
        }
        add(&self.stats.empty_mr_free, 1);
        self.mr_refresh_wanted.store(true, Ordering::Relaxed);
        Err(EAGAIN)
    }

    /// The MR refresh worker (`rpcrdma_mr_refresh_worker()`): refills
    /// the current endpoint's pool, then wakes the senders waiting for
    /// buffer space, whether or not it made any MR (they then retry, and
    /// ask again).
    pub(super) fn mr_refresh_worker(self: ArcBorrow<'_, Self>) {
        {
            let guard = self.lock_ep();
            if let (Some(ep), true) = (guard.endpoint(), self.xprt.connected()) {
                let _ = self.mr_refill(ep);
            }
        }
        self.xprt.write_space();
    }

    /// Puts a lease on the free list. The list has room for every MR of
    /// the pool; should it be full, the lease is dropped and its MR stays
    /// out of use until the endpoint goes.
    pub(super) fn mr_put(&self, lease: MrLease) {
        let _ = self.shared.lock().mr_free.push(lease);
    }

    /// Adds a batch of MRs to the endpoint's pool; each holds the
    /// transport, the handler of its own completions.
    pub(super) fn mr_refill(self: ArcBorrow<'_, Self>, ep: &Endpoint) -> Result {
        let pd = ep.pd.as_ref().ok_or(EIO)?;
        let th = &ep.link().th;
        let (sg_gaps, depth) = (th.sg_gaps, th.max_fr_depth);
        let made = ep.mrs.table.grow(
            MR_REFILL_BATCH,
            |index| Mr::new(pd, sg_gaps, depth, Arc::from(self), u32::from(index)),
            |lease| self.mr_put(lease),
        )?;
        if made == 0 {
            return Err(ENOMEM);
        }
        add(&self.stats.mrs_allocated, made as u64);
        Ok(())
    }

    /// Registers the XDR pad target of write chunks (`frwr_wp_create()`):
    /// a small buffer the peer may write the pad of an unaligned payload
    /// into. Its REG_MR is posted unsignaled.
    pub(super) fn create_write_pad(self: ArcBorrow<'_, Self>, ep: &Endpoint) -> Result {
        let pd = ep.pd.as_ref().ok_or(EIO)?;
        let mut mr = BufferMr::new(pd, Arc::from(self), u32::MAX, xdr::XDR_UNIT as u32)?;
        let seg = mr.map(true, 0)?;
        let qp = ep.id.qp().ok_or(EIO)?;
        // Taken before the post: once posted, the MR must not be freed
        // before the QP.
        let slot = KBox::<WritePad>::new_uninit(GFP_KERNEL)?;
        let mut chain = SendChain::<1>::new();
        chain.reg_buffer(&mut mr)?;
        // SAFETY: the MR is kept in the QP's resources (`write_pad`, set
        // below), which go only after the QP and its CQs.
        unsafe { qp.post_send(chain)? };
        let pad = KBox::write(
            slot,
            WritePad {
                seg: seg.to_wire(),
                _mr: Unshared::new(mr),
            },
        );
        if let Err(pad) = ep.write_pad.set(pad) {
            // A second pad (not made): its REG_MR may be running, so it
            // is never freed.
            sunrpc::warn_once(c_str!("write pad registered twice"));
            KBox::leak(pad);
        }
        Ok(())
    }

    /// Unmaps a req's MRs and returns them to the pool (`frwr_mr_put()`).
    /// The caller makes sure neither the HCA nor the peer can use them:
    /// they were never posted, were invalidated, or the QP is dead.
    pub(super) fn release_mrs(&self, ep: &Endpoint, req: &mut ReqKey<'_>) {
        let reg = req.registered().of_pool(ep.mrs.id());
        if reg.len() != 0 {
            let mut shared = self.shared.lock();
            while let Some(mut lease) = reg.pop() {
                if let Some(mr) = ep.mrs.get_mut(&mut lease) {
                    mr.unmap();
                }
                let _ = shared.mr_free.push(lease);
            }
        }
        // Wake senders waiting for MRs.
        self.xprt.write_space();
    }

    /// Forgets a req's MRs without returning them to the pool: the peer
    /// may still reach them. Teardown, after the drain, unmaps and frees
    /// them with the endpoint's pool and counts them in `mrs_orphaned`.
    pub(super) fn orphan_mrs(&self, req: &mut ReqKey<'_>) {
        // The leases are dropped: no one can reach their MRs any more.
        *req.registered() = Registered::EMPTY;
    }

    /// Posts LOCAL_INV for every MR of the req, the last one signaled on
    /// the req's [`InvCqe`] of `ep` (`frwr_unmap_async()`/`frwr_unmap_sync()`),
    /// and hands the req's turn to that completion
    /// (`ReqKey::hand_to_inv`): the key ends here, comes back with the
    /// error when the chain was not posted, or comes back to finish the
    /// chain (`finish_local_inv`) when it completed before the turn was
    /// handed over.
    pub(super) fn post_local_inv<'a>(
        &self,
        ep: &Endpoint,
        req: ReqKey<'a>,
    ) -> core::result::Result<Unmapping<'a>, (ReqKey<'a>, Error)> {
        let id = req.kref.id().0 as usize;
        let inv = &req.req().inv;
        let at = ep as *const Endpoint as *mut Endpoint;
        req.hand_to_inv::<MAX_MRS_PER_REQ>(ep, |res, reg| {
            let cqe = res.inv_cqes.get(id).ok_or(EIO)?;
            let mut chain = SendChain::new();
            let n = reg.len();
            for (k, lease) in reg.iter_mut().enumerate() {
                let last = k.saturating_add(1) == n;
                chain.local_inv(res.mrs.table(), lease, last.then_some(cqe))?;
            }
            add(&self.stats.local_inv_needed, n as u64);
            inv.ep.store(at, Ordering::Release);
            Ok(chain)
        })
    }

    /// The last LOCAL_INV of a req completed (`frwr_wc_localinv_done()`
    /// and `frwr_wc_localinv_wake()`): the chain is finished here if its
    /// poster handed the req's turn over, else by the poster.
    fn local_inv_done(&self, req: &Req, ok: bool) {
        let ep = req.inv.ep.load(Ordering::Acquire);
        // SAFETY: the chain was posted on this endpoint, which is drained
        // (so this completion has run) before it is freed.
        let Some(ep) = (unsafe { ep.as_ref() }) else {
            sunrpc::warn_once(c_str!("LOCAL_INV completion without an endpoint"));
            return;
        };
        // The chain's poster (the reply handler, or `buf_free`) parks the
        // req's turn for this completion once it posted the chain.
        let key = match req.inv_arrive(ok) {
            InvArrival::Turn(key) => key,
            InvArrival::Early => return,
            InvArrival::Unarmed => {
                sunrpc::warn_once(c_str!("LOCAL_INV completion without a hand-over"));
                return;
            }
        };
        // The held Receive goes back to the QP, unless it is being torn
        // down (a flush means it is).
        if let Some(rep) = self.finish_local_inv(ep, key, ok) {
            if ok
                && !ep.events.closing.load(Ordering::Acquire)
                && ep.id.qp().ok_or(EIO).and_then(|qp| rep.post(qp)).is_err()
            {
                self.fault();
            }
        }
    }

    /// Finishes a req's LOCAL_INV chain on `ep`, which completed (`ok`
    /// when successfully), with the req's key: releases its MRs, then wakes
    /// `buf_free`, or places the Reply the chain fenced and completes its
    /// RPC (unpins it when flushed). The key ends here. Returns the rep
    /// held for that Reply, for the caller to repost.
    pub(super) fn finish_local_inv<'e>(&self, ep: &'e Endpoint, mut key: ReqKey<'_>, ok: bool) -> Option<&'e Rep> {
        let req = key.req();
        // Send queue ordering: every earlier LOCAL_INV of the chain has
        // completed, so all the MRs are fenced.
        self.release_mrs(ep, &mut key);
        if !ok {
            self.fault();
        }
        if req.inv.sync.load(Ordering::Relaxed) {
            // The waiter is in `buf_free`.
            key.wake_unmap_waiter();
            return None;
        }
        // The rep the reply handler held for the chain came in on the
        // chain's endpoint (`Rep::endpoint`), which holds it.
        let rep = req.inv.rep.swap(InvCtx::NO_REP, Ordering::Acquire);
        let rep = ep.reps.get(rep as usize);
        let Some(PendingReply { mut rqst, placement }) = key.state().pending.take() else {
            sunrpc::warn_once(c_str!("LOCAL_INV completion without its Reply"));
            return None;
        };
        if ok {
            let result = match rep {
                Some(rep) => {
                    // The rep is held, not posted: the HCA does not write
                    // its buffer, which `Rep::done` synced.
                    let buf = &rep.buf;
                    let end = match placement {
                        Ok(Placement::Inline { end, .. }) => end,
                        _ => 0,
                    };
                    placement.and_then(|p| self.place(&mut rqst, p, buf.synced(end)))
                }
                None => Err(EIO),
            };
            self.complete_rqst(Some(key), rqst, result);
        } else {
            // Flushed: the RPC is retransmitted after the reconnect.
            key.end_reply();
            rqst.unpin(&self.xprt);
        }
        rep
    }
}

impl MrSegment {
    pub(super) fn to_wire(self) -> Segment {
        Segment {
            handle: self.handle,
            length: self.length,
            offset: self.offset,
        }
    }
}

impl MrHandler for Transport {
    /// Completion handler of REG_MR and unsignaled LOCAL_INV work
    /// requests, which complete only when they fail or are flushed.
    fn mr_done(&self, index: u32, wr: MrWr, wc: &Wc<'_>) {
        // The write pad's MR has index `u32::MAX`: -1.
        let cid = wc.cid(i32::try_from(index).unwrap_or(-1));
        match wr {
            MrWr::Reg => trace::wc_fastreg(wc, &cid),
            MrWr::LocalInv => trace::wc_li(wc, &cid),
        }
        if wc.fatal() {
            self.fault();
        }
    }
}

impl CqeHandler for InvCqe {
    /// Completion handler of the last LOCAL_INV of a req's chain.
    fn done(&self, wc: &Wc<'_>) {
        let t = &*self.transport;
        // The chain's completion id is its req's number.
        trace::wc_li_done(wc, &wc.cid(i32::try_from(self.req).unwrap_or(-1)));
        let Some(req) = t.req(ReqId(self.req)) else {
            return;
        };
        t.local_inv_done(req, wc.is_success());
    }
}
