// SPDX-License-Identifier: GPL-2.0

//! The sendctx ring and the Send signaling policy.
//!
//! Each posted Send uses one slot of a circular ring (`rb_sc_ctxs`). The
//! send path claims the slot after `head`; a Send completion releases every
//! slot from `tail` up to and including the completed one, because only
//! every Nth Send is signaled and the unsignaled Sends before a signaled one
//! completed before it. Slots in the active range `(tail, head]` hold the
//! [`SendOwner`] of a posted Send, or nothing if the Send was cancelled
//! before posting.
//!
//! In C the ring is lock-free between one producer and one consumer. Here
//! every operation takes `&mut self`: the kernel keeps the ring under one
//! spinlock, which keeps this module free of `unsafe`.
//!
//! The ring also counts, per req, the Send owners its slots hold, where it
//! takes and drops them, so that I4 (a released req is in no sendctx) is
//! answered in O(1) ([`SendCtxRing::owners_of`]) instead of by a walk of
//! every slot on each release. The counts are atomics, so that whoever
//! shares their storage with the ring reads them without the ring's lock
//! ([`owners_in`]); the ring, under `&mut self`, is their only writer.

use super::lifetime::{ReqId, SendOwner};
use core::sync::atomic::{AtomicU32, Ordering};

/// Returns the number of Send owners of `req` that a ring counting into
/// `held` holds, in O(1) and without the ring: I4 holds for a released req
/// when this is zero. Each count is read as of some moment; a released
/// req's is final, as each of its owners left its slot (and its count)
/// before the put that released it, which the refcount's AcqRel orders
/// before the `Released` token's holder.
pub(crate) fn owners_in(held: &[AtomicU32], req: ReqId) -> u32 {
    usize::try_from(req.0)
        .ok()
        .and_then(|i| held.get(i))
        .map_or(0, |n| n.load(Ordering::Relaxed))
}

/// A ring slot: the Send owner of a posted Send (`sc_req`), if any.
pub(crate) type Slot = Option<SendOwner>;

/// A slot claimed for a Send being prepared.
#[must_use = "a claimed slot must be posted, cancelled or given back"]
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SendClaim {
    slot: usize,
}

impl SendClaim {
    /// Returns the claimed slot index.
    pub(crate) const fn slot(&self) -> usize {
        self.slot
    }
}

/// A ring operation named a slot that it cannot apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RingError {
    /// A completion named a slot outside the active range `(tail, head]`.
    NotActive {
        /// The slot named.
        slot: usize,
    },
}

/// The sendctx ring over caller-provided slot storage `S`, with the
/// count of Send owners it holds per req in `H` (indexed by req id).
///
/// # Invariants
///
/// - `head` and `tail` are less than the number of slots (or zero when
///   there are none).
/// - I7 (ring side): slots outside the active range `(tail, head]` hold no
///   owner.
/// - I4 bookkeeping: every owner in a slot is of a req below `held`'s
///   length, and `held[r]` is the number of slots holding an owner of req
///   `r` ([`SendCtxRing::i4_counts_match`]).
pub(crate) struct SendCtxRing<S, H> {
    slots: S,
    held: H,
    head: usize,
    tail: usize,
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>, H: AsRef<[AtomicU32]>> SendCtxRing<S, H> {
    /// Creates an empty ring over `slots`, emptying every slot first, for
    /// Send owners of the reqs below `held`'s length. A ring of `n` slots
    /// holds at most `n - 1` Sends (`re_max_requests +
    /// RPCRDMA_MAX_BC_REQUESTS` slots in C).
    ///
    /// Slots that held owners are dropped, so pass empty storage.
    pub(crate) fn new(mut slots: S, held: H) -> Self {
        slots.as_mut().iter_mut().for_each(|s| {
            // Fresh storage holds no owners; nothing is released here.
            let _ = s.take();
        });
        held.as_ref().iter().for_each(|n| n.store(0, Ordering::Relaxed));
        // INVARIANT: empty ring, every slot empty, no owner counted.
        SendCtxRing {
            slots,
            held,
            head: 0,
            tail: 0,
        }
    }

    /// Returns the count of `req`, if the ring takes its owners. The ring
    /// is its only writer (under `&mut self`): a load and a store change
    /// it, no read-modify-write.
    fn held(&self, req: ReqId) -> Option<&AtomicU32> {
        let i = usize::try_from(req.0).ok()?;
        self.held.as_ref().get(i)
    }

    /// Returns the number of slots.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.as_ref().len()
    }

    /// Returns the last claimed slot (`rb_sc_head`).
    pub(crate) const fn head(&self) -> usize {
        self.head
    }

    /// Returns the last released slot (`rb_sc_tail`).
    pub(crate) const fn tail(&self) -> usize {
        self.tail
    }

    /// Returns the slot after `slot`, wrapping (`rpcrdma_sendctx_next()`).
    pub(crate) fn next(&self, slot: usize) -> usize {
        match slot.checked_add(1) {
            Some(n) if n < self.capacity() => n,
            _ => 0,
        }
    }

    fn prev(&self, slot: usize) -> usize {
        match slot.checked_sub(1) {
            Some(p) => p,
            None => self.capacity().saturating_sub(1),
        }
    }

    /// Returns how many steps forward from `from` reach `to`.
    fn distance(&self, from: usize, to: usize) -> usize {
        match to.checked_sub(from) {
            Some(d) => d,
            None => self.capacity().saturating_sub(from).saturating_add(to),
        }
    }

    /// Returns the number of slots in the active range.
    pub(crate) fn in_flight(&self) -> usize {
        self.distance(self.tail, self.head)
    }

    /// Returns true if `slot` is in the active range `(tail, head]`.
    pub(crate) fn is_active(&self, slot: usize) -> bool {
        let d = self.distance(self.tail, slot);
        slot < self.capacity() && d != 0 && d <= self.in_flight()
    }

    /// Claims the next slot for a Send (`rpcrdma_sendctx_get_locked()`).
    /// Returns `None` when the ring is full: too few Send completions have
    /// come back, so the caller waits for buffer space.
    pub(crate) fn claim(&mut self) -> Option<SendClaim> {
        if self.capacity() < 2 {
            return None;
        }
        let next = self.next(self.head);
        if next == self.tail {
            return None;
        }
        // INVARIANT: `next` was outside the active range, hence empty; it
        // joins the range empty.
        self.head = next;
        Some(SendClaim { slot: next })
    }

    /// Records the Send owner of a successfully prepared Send in its slot.
    /// Fails, handing the owner back, if the claim does not name an empty
    /// active slot or the owner's req is not one the ring counts.
    pub(crate) fn post(&mut self, claim: SendClaim, owner: SendOwner) -> Result<(), SendOwner> {
        if !self.is_active(claim.slot) {
            return Err(owner);
        }
        let Ok(req) = usize::try_from(owner.req().0) else {
            return Err(owner);
        };
        let slot = self.slots.as_mut().get_mut(claim.slot);
        let held = self.held.as_ref().get(req);
        match (slot, held) {
            (Some(slot @ None), Some(held)) => {
                let Some(more) = held.load(Ordering::Relaxed).checked_add(1) else {
                    return Err(owner);
                };
                // INVARIANT: the slot is in the active range, and its
                // owner is counted.
                held.store(more, Ordering::Relaxed);
                *slot = Some(owner);
                Ok(())
            }
            _ => Err(owner),
        }
    }

    /// Send preparation failed: the slot stays in the active range holding
    /// no owner, and completion walks skip it
    /// (`rpcrdma_sendctx_cancel()`, `sc_req = NULL`). No reference count
    /// changes, because no Send owner was created.
    pub(crate) fn cancel(&mut self, claim: SendClaim) {
        // The claimed slot was empty when claimed and nothing posted into
        // it, so it holds no owner: nothing to drop here.
        let _ = claim;
    }

    /// Gives back the most recently claimed slot, on which no Send was
    /// posted (`rpcrdma_sendctx_unget_locked()`). Fails, handing the claim
    /// back, if it is not the head or holds an owner.
    pub(crate) fn unget(&mut self, claim: SendClaim) -> Result<(), SendClaim> {
        let empty = matches!(self.slots.as_ref().get(claim.slot), Some(None));
        if claim.slot != self.head || !self.is_active(claim.slot) || !empty {
            return Err(claim);
        }
        // INVARIANT: the slot is empty, so shrinking the range is fine.
        self.head = self.prev(self.head);
        Ok(())
    }

    /// Handles the completion of the Send in `slot`
    /// (`rpcrdma_sendctx_put_locked()`): walks from the tail up to and
    /// including `slot`, handing every Send owner found to `release` and
    /// skipping cancelled slots, then moves the tail to `slot`. Returns the
    /// number of owners released.
    pub(crate) fn complete<F: FnMut(SendOwner)>(
        &mut self,
        slot: usize,
        release: F,
    ) -> Result<usize, RingError> {
        if !self.is_active(slot) {
            return Err(RingError::NotActive { slot });
        }
        Ok(self.release_through(slot, release))
    }

    /// As [`SendCtxRing::complete`], but hands at most `max` owners to
    /// `release`: the walk stops before the slot of the next owner, with the
    /// tail after the last slot walked, so a later call with the same
    /// `slot` carries on where it stopped. Returns true once the tail
    /// reached `slot`. The caller can thus collect the owners in a fixed
    /// array of `max` on its stack.
    pub(crate) fn complete_some<F: FnMut(SendOwner)>(
        &mut self,
        slot: usize,
        max: usize,
        release: F,
    ) -> Result<bool, RingError> {
        if !self.is_active(slot) {
            return Err(RingError::NotActive { slot });
        }
        Ok(self.walk(slot, max, release).1)
    }

    /// As [`SendCtxRing::drain`], at most `max` owners at a time (as
    /// [`SendCtxRing::complete_some`]): the ring is reset once the walk
    /// reached the head, and true returned.
    pub(crate) fn drain_some<F: FnMut(SendOwner)>(&mut self, max: usize, release: F) -> bool {
        let done = self.walk(self.head, max, release).1;
        if done {
            // INVARIANT: every slot in the range was emptied by the walks.
            self.head = 0;
            self.tail = 0;
        }
        done
    }

    fn release_through<F: FnMut(SendOwner)>(&mut self, last: usize, release: F) -> usize {
        self.walk(last, usize::MAX, release).0
    }

    /// Walks from the tail toward `last`, handing at most `max` owners to
    /// `release`; returns how many it handed and whether the tail reached
    /// `last`.
    fn walk<F: FnMut(SendOwner)>(&mut self, last: usize, max: usize, mut release: F) -> (usize, bool) {
        let mut released = 0usize;
        let mut steps = self.distance(self.tail, last);
        while steps != 0 {
            let cur = self.next(self.tail);
            if released >= max && matches!(self.slots.as_ref().get(cur), Some(Some(_))) {
                return (released, false);
            }
            if let Some(owner) = self.slots.as_mut().get_mut(cur).and_then(Option::take) {
                // INVARIANT: the owner leaves its slot and its count.
                if let Some(held) = self.held(owner.req()) {
                    held.store(held.load(Ordering::Relaxed).saturating_sub(1), Ordering::Relaxed);
                }
                release(owner);
                released = released.saturating_add(1);
            }
            // INVARIANT: `cur` was emptied before it left the range.
            self.tail = cur;
            steps = steps.saturating_sub(1);
        }
        (released, true)
    }

    /// Releases every Send owner still in the ring after the QP has been
    /// drained, then resets the ring (`rpcrdma_sendctxs_destroy()`, run
    /// before the reqs are reset). The final unsignaled Sends have no later
    /// signaled completion to release them. Returns the number of owners
    /// released.
    pub(crate) fn drain<F: FnMut(SendOwner)>(&mut self, release: F) -> usize {
        let released = self.release_through(self.head, release);
        // INVARIANT: every slot in the range was emptied above.
        self.head = 0;
        self.tail = 0;
        released
    }

    /// Returns the number of Send owners of `req` in the ring, in O(1): I4
    /// holds for a released req when this is zero.
    pub(crate) fn owners_of(&self, req: ReqId) -> u32 {
        owners_in(self.held.as_ref(), req)
    }

    /// I4 bookkeeping: the per-req counts behind [`SendCtxRing::owners_of`]
    /// match the slots (a walk of every slot and req: for the host tests).
    pub(crate) fn i4_counts_match(&self) -> bool {
        let counted = self.held.as_ref().len();
        let in_range = self
            .slots
            .as_ref()
            .iter()
            .flatten()
            .all(|o| usize::try_from(o.req().0).is_ok_and(|i| i < counted));
        in_range
            && self.held.as_ref().iter().enumerate().all(|(i, n)| {
                let n = n.load(Ordering::Relaxed);
                let found = self.count_owners(|o| usize::try_from(o.req().0).is_ok_and(|r| r == i));
                u32::try_from(found).is_ok_and(|found| found == n)
            })
    }

    /// Counts the Send owners in the ring for which `pred` holds (for I6).
    pub(crate) fn count_owners<P: Fn(&SendOwner) -> bool>(&self, pred: P) -> usize {
        self.slots
            .as_ref()
            .iter()
            .flatten()
            .filter(|o| pred(o))
            .count()
    }

    /// I7, ring side: every Send owner sits in the active range.
    pub(crate) fn i7_owners_in_active_range(&self) -> bool {
        self.slots
            .as_ref()
            .iter()
            .enumerate()
            .all(|(i, s)| s.is_none() || self.is_active(i))
    }
}

/// Decides which Sends are signaled (`re_send_count`, `re_send_batch` and
/// the test in `frwr_send()`).
///
/// A Send is signaled when its SGEs must be DMA-unmapped promptly, or when
/// the budget of unsignaled WRs is used up; the budget is refilled to at
/// most `batch` (`re_max_requests >> 3`) after each signaled Send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SignalPolicy {
    batch: u32,
    budget: u32,
}

impl SignalPolicy {
    /// Creates the policy for a connection offering `max_requests` credits.
    pub(crate) const fn new(max_requests: u32) -> Self {
        let batch = max_requests >> 3;
        SignalPolicy {
            batch,
            budget: batch,
        }
    }

    /// Returns true if a Send posted in a chain of `num_wrs` work requests
    /// (registrations plus the Send) must be signaled, and updates the
    /// budget. `needs_unmap` is true if the Send has DMA-mapped SGEs
    /// (`sc_unmap_count != 0`).
    pub(crate) fn signal(&mut self, needs_unmap: bool, num_wrs: u32) -> bool {
        if needs_unmap || num_wrs > self.budget {
            // C computes `num_wrs - re_send_count` in unsigned arithmetic;
            // keep its wrap-around so the budget matches C exactly.
            self.budget = self.batch.min(num_wrs.wrapping_sub(self.budget));
            true
        } else {
            self.budget = self.budget.wrapping_sub(num_wrs);
            false
        }
    }
}

/// Extra reqs beyond `max_reqs` so that reqs pinned by unsignaled Sends do
/// not stall slot allocation (`rpcrdma_req_pool_slack()`): one signaling
/// batch, rounded up so that at least one spare exists.
pub(crate) const fn req_pool_slack(max_reqs: u32) -> u32 {
    max_reqs.div_ceil(8)
}
