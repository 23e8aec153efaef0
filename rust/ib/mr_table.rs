// SPDX-License-Identifier: GPL-2.0

//! The MRs of one connection ([`MrTable`], `rb_mrs`) and the leases by
//! which their users hold them ([`MrLease`]): the table hands out `&mut Mr`
//! only against a `&mut MrLease` for that MR, so the holder of the lease
//! is the MR's one user, with no lock on the way.

use super::Mr;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use kernel::prelude::*;

/// Exclusive use of one MR of an [`MrTable`]. Dropping a lease takes the MR
/// out of circulation until the table is dropped.
///
/// # Invariants
///
/// A lease is made only by [`MrTable::grow`], once for each slot it fills,
/// and is neither `Clone` nor `Copy`: at most one lease names slot `index`
/// of the table with id `table`.
#[must_use]
pub(crate) struct MrLease {
    table: u64,
    index: u16,
}

impl MrLease {
    /// Returns the id of the table whose MR this lease names.
    pub(crate) fn table(&self) -> u64 {
        self.table
    }
}

/// Ids of MR tables; 0 names no table.
static MR_TABLE_IDS: AtomicU64 = AtomicU64::new(1);

/// A fixed number of MR slots, each filled once, by [`MrTable::grow`], and
/// then used only by the holder of its [`MrLease`].
///
/// # Invariants
///
/// - `id` is not 0 and no other table has it: ids are drawn once from
///   [`MR_TABLE_IDS`], which would take centuries of connections to wrap;
///   or it is 0 and the table has no slot ([`MrTable::EMPTY`]), so no
///   lease names it.
/// - Slots from `reserved` on are empty and no lease names them. A slot
///   below `reserved` was reserved by exactly one call of
///   [`MrTable::grow`]: that call alone writes it, at most once, before it
///   makes the slot's lease; from then until the table is dropped the slot
///   is reached only through [`MrTable::get_mut`] with that lease (or
///   through `&mut self`).
pub(crate) struct MrTable {
    id: u64,
    slots: KVec<UnsafeCell<Option<Mr>>>,
    reserved: AtomicUsize,
}

// SAFETY: a shared `&MrTable` reaches an MR only in two ways. `grow` writes
// slots that its own atomic reservation gave to it alone, before any lease
// for them exists. `get_mut` hands out `&mut Mr` only for the slot named by
// a lease of this table, borrowed mutably for as long as the `&mut Mr`
// lives; as at most one lease names each slot (invariant of `MrLease`), no
// two threads reach the same MR at once. Whoever moves a lease to another
// thread orders that move after its last use of the MR (`&mut MrLease` is
// a borrow, so every use ends before the lease can move), and the write of
// the slot happens before the lease exists. What crosses threads is thus
// exclusive use of an `Mr`, which is `Send`.
unsafe impl Sync for MrTable {}

impl MrTable {
    /// The table of no slots.
    // INVARIANT: id 0 with no slot.
    pub(crate) const EMPTY: Self = Self {
        id: 0,
        slots: KVec::new(),
        reserved: AtomicUsize::new(0),
    };

    /// Makes a table of `n` empty slots (at most `u16::MAX`).
    pub(crate) fn new(n: usize) -> Result<Self> {
        let n = n.min(usize::from(u16::MAX));
        let mut slots = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            slots.push(UnsafeCell::new(None), GFP_KERNEL)?;
        }
        // INVARIANT: a fresh id, and no slot reserved or leased.
        Ok(Self {
            id: MR_TABLE_IDS.fetch_add(1, Ordering::Relaxed),
            slots,
            reserved: AtomicUsize::new(0),
        })
    }

    /// Returns the table's id, which its leases carry.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Fills up to `n` more slots with MRs from `make` (given each slot's
    /// index) and passes a lease for each to `leased`; stops at the first
    /// MR `make` fails to give. Returns how many it filled, or `EAGAIN`
    /// when the table is full.
    pub(crate) fn grow(
        &self,
        n: usize,
        mut make: impl FnMut(u16) -> Result<Mr>,
        mut leased: impl FnMut(MrLease),
    ) -> Result<usize> {
        let len = self.slots.len();
        let first = self
            .reserved
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| {
                (r < len).then(|| r.saturating_add(n).min(len))
            })
            .map_err(|_| EAGAIN)?;
        let last = first.saturating_add(n).min(len);
        let mut filled = first;
        for i in first..last {
            let (Ok(index), Some(slot)) = (u16::try_from(i), self.slots.get(i)) else {
                break;
            };
            let Ok(mr) = make(index) else {
                break;
            };
            // SAFETY: slot `i` is in the range just reserved by this call
            // alone, and no lease for it exists yet (type invariant).
            unsafe { *slot.get() = Some(mr) };
            filled = i.saturating_add(1);
            // INVARIANT: the one lease of slot `i`, made after its write.
            leased(MrLease { table: self.id, index });
        }
        if filled < last {
            // Give back the slots left empty, unless a later call already
            // reserved past them; they then stay unused.
            let _ = self
                .reserved
                .compare_exchange(last, filled, Ordering::AcqRel, Ordering::Acquire);
        }
        Ok(filled - first)
    }

    /// Returns the MR `lease` names, if it is a lease of this table.
    pub(crate) fn get_mut<'a>(&'a self, lease: &'a mut MrLease) -> Option<&'a mut Mr> {
        if lease.table != self.id {
            return None;
        }
        let slot = self.slots.get(usize::from(lease.index))?;
        // The slot was written before the lease was made and is not written
        // again (type invariant).
        // SAFETY: `lease` is this table's only lease of the slot (`MrLease`
        // invariant), borrowed mutably for `'a`: no other reference to the
        // MR exists while the result lives.
        unsafe { (*slot.get()).as_mut() }
    }

    /// Returns how many slots hold an MR.
    pub(crate) fn filled(&mut self) -> usize {
        self.slots.iter_mut().filter_map(|s| s.get_mut().as_ref()).count()
    }
}
