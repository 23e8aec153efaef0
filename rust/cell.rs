// SPDX-License-Identifier: GPL-2.0

//! Cells the transport shares between threads, and the pinned vector its
//! reqs live in ([`PinnedVec`]). Each cell says in its `Sync`
//! (and `Send`) impl why sharing it is sound; the types that contain them
//! then get `Send` and `Sync` from their fields.

use crate::bindings;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicU8, Ordering};
use kernel::prelude::*;
use kernel::types::Opaque;

/// A C object embedded in a Rust one, reached only through the raw pointer
/// [`Foreign::get`] returns and used by the rules of the C code that
/// shares it. Only the C types below, each with its reason, may cross
/// threads in one (an explicit impl for one type disables the automatic
/// ones for every type).
///
/// # Invariants
///
/// No reference to the object is made from a `&Foreign<T>`.
#[repr(transparent)]
pub(crate) struct Foreign<T>(Opaque<T>);

impl<T> Foreign<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(Opaque::new(value))
    }

    /// Returns the address of the C object.
    pub(crate) const fn get(&self) -> *mut T {
        self.0.get()
    }
}

// SAFETY: an `ib_cqe` holds only its completion function, a plain function
// pointer, which may move to any thread.
unsafe impl Send for Foreign<bindings::ib_cqe> {}
// SAFETY: the function pointer is written when the owner of the `ib_cqe`
// is built, before its address is given to a work request, and afterwards
// only read, by the CQ poller of whichever CPU reaps the completion.
unsafe impl Sync for Foreign<bindings::ib_cqe> {}

// SAFETY: an `rpc_rqst` belongs to the RPC layer's data structures, which
// use it from whichever CPU runs the task or the transport's handlers, and
// guard its fields by sunrpc's rules (the task that owns the slot, the
// transport lock, the queue lock and pinning). Its pointers name kernel
// objects, none of them tied to a thread, so moving the bytes to another
// thread is sound; and Rust touches the fields only through the raw
// pointer, in `unsafe` blocks that follow those rules.
unsafe impl Send for Foreign<bindings::rpc_rqst> {}
// SAFETY: as above.
unsafe impl Sync for Foreign<bindings::rpc_rqst> {}

/// A value only its owner can reach: nothing hands out a `&T` from a
/// `&Unshared<T>`, so a shared reference to one reaches nothing (as
/// `core::sync::Exclusive`). It keeps a value alive, and drops it, inside
/// a type that is otherwise shared.
///
/// # Invariants
///
/// No method takes `&self`.
pub(crate) struct Unshared<T> {
    _value: T,
}

impl<T> Unshared<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self { _value: value }
    }
}

// SAFETY: by the type invariant a `&Unshared<T>` gives no access to the
// value, so any number of threads may hold one; the value itself is used,
// and dropped, only by the owner, which needs `T: Send` when the owner
// moves (the auto `Send` of this type).
unsafe impl<T> Sync for Unshared<T> {}

/// A value with one user at a time, who proves it with the cell's
/// [`Key`]: the state of a req, which the RPC layer's task, the reply
/// handler and a LOCAL_INV completion take turns at by the req's
/// ownership rules. Keys are made by [`KeyCell::key`], whose callers (the
/// points where a req changes hands) show that the turn is theirs, and by
/// [`KeyCell::arrive`], for a turn parked in the cell.
///
/// A turn may be parked in the cell between a holder that starts some
/// work (a chain of work requests) and the one completion of that work,
/// and whichever of them comes second goes on with it. The holder starts
/// the work and parks the turn with [`Key::hand_over`], which arms the
/// cell first and parks only once the work is started and the key lends
/// nothing any more; the completion reports with [`KeyCell::arrive`]. If
/// the completion came first, `hand_over` gives the key back with the
/// completion's status and the holder finishes the work itself;
/// otherwise `arrive` makes the key of the parked turn.
///
/// # Invariants
///
/// The value is reached only through a [`Key`] for this cell or through
/// `&mut self`. While one key's borrow of the value lives, no other key
/// for the cell is used, and uses through different keys are ordered (a
/// lock, or a Release/Acquire handover). A turn is parked
/// (`POSTED` set in `parked`) only by [`Key::hand_over`], which
/// consumes the turn's key to park it; while it is parked, no key of the
/// cell exists, and only the first [`KeyCell::arrive`] that finds it
/// parked and not yet arrived takes it out, making its key.
pub(crate) struct KeyCell<T> {
    value: UnsafeCell<T>,
    parked: AtomicU8,
}

/// What [`KeyCell::arrive`] found.
pub(crate) enum Arrival<'a, T> {
    /// The turn was parked: the completion goes on with this key.
    Turn(Key<'a, T>),
    /// Armed, not yet parked: the holder goes on when it parks.
    Early,
    /// Not armed, or arrived already: no work awaits this completion, so
    /// nothing is done.
    Unarmed,
}

impl<T> KeyCell<T> {
    /// The holder armed the cell for the work it starts.
    const ARMED: u8 = 1 << 0;
    /// The holder parked its turn.
    const POSTED: u8 = 1 << 1;
    /// The work completed.
    const ARRIVED: u8 = 1 << 2;
    /// The work completed successfully.
    const OK: u8 = 1 << 3;

    pub(crate) const fn new(value: T) -> Self {
        // INVARIANT: no key made, no turn parked.
        Self {
            value: UnsafeCell::new(value),
            parked: AtomicU8::new(0),
        }
    }

    /// Makes a key to the value.
    ///
    /// # Safety
    ///
    /// From now until the key is dropped, the value is used only through
    /// it: every use through an earlier key happened before (by a lock or
    /// a Release/Acquire pair) and none comes while this key lives, except
    /// after this key's last use, handed over the same way. No turn is
    /// parked in the cell meanwhile ([`Key::hand_over`]).
    pub(crate) unsafe fn key(&self) -> Key<'_, T> {
        // INVARIANT: guaranteed by the caller.
        Key {
            cell: self,
            _not_send: PhantomData,
        }
    }

    /// The work of the turn parked in the cell completed, with status
    /// `ok`.
    pub(crate) fn arrive(&self, ok: bool) -> Arrival<'_, T> {
        let bits = Self::ARRIVED | if ok { Self::OK } else { 0 };
        // Acquire: pairs with the Release of `hand_over`.
        let prev = self.parked.fetch_or(bits, Ordering::AcqRel);
        if prev & Self::ARMED == 0 || prev & Self::ARRIVED != 0 {
            // No work started, or its completion already arrived.
            return Arrival::Unarmed;
        }
        if prev & Self::POSTED == 0 {
            // Not parked yet: `hand_over` finds ARRIVED and keeps its key.
            return Arrival::Early;
        }
        // INVARIANT: the parked turn is taken out, by the only arrival
        // that found it parked and not arrived (the word says ARRIVED from
        // the `fetch_or` above until this store, and no key exists to arm
        // or park).
        self.parked.store(0, Ordering::Relaxed);
        // INVARIANT: the key of the turn `hand_over` parked, consuming that
        // turn's key after its last use (Release, paired with the Acquire
        // above): the value is used only through this key, as it was only
        // through that one, and no other key was made while the turn was
        // parked (`key`'s contract).
        Arrival::Turn(Key {
            cell: self,
            _not_send: PhantomData,
        })
    }
}

// SAFETY: a `&KeyCell<T>` reaches the value only through a key, and keys
// are used one at a time, each use ordered after the previous one (type
// invariant): what crosses threads is exclusive use of a `T`, handed from
// one thread to the next, which `T: Send` allows.
unsafe impl<T: Send> Sync for KeyCell<T> {}

/// Exclusive use of the value of one [`KeyCell`], for as long as the key
/// lives. Neither `Clone` nor `Copy`, and not `Send`: a key is the turn of
/// the context that was given it.
///
/// # Invariants
///
/// The value of `cell` is used only through this key while it lives
/// (invariant of [`KeyCell`]), and no turn is parked in `cell`.
pub(crate) struct Key<'a, T> {
    cell: &'a KeyCell<T>,
    _not_send: PhantomData<*mut ()>,
}

/// What became of the work [`Key::hand_over`] started, and of its turn.
pub(crate) enum HandOver<'a, T, E> {
    /// Started, and the turn parked: the work's completion goes on
    /// ([`KeyCell::arrive`]).
    Parked,
    /// Started, and completed before the turn could be parked: the holder
    /// goes on, with the completion's status.
    Completed(Key<'a, T>, bool),
    /// Not started: the holder goes on. When `Some`, a completion (with
    /// that status) arrived all the same.
    Failed(Key<'a, T>, E, Option<bool>),
}

impl<'a, T> Key<'a, T> {
    /// Starts work whose one completion calls [`KeyCell::arrive`], by
    /// `start` (which may use the value, but keeps nothing of it once it
    /// returns), and parks the turn for that completion: the key ends
    /// here, unless the completion came before the turn was parked or the
    /// work could not be started.
    pub(crate) fn hand_over<E>(mut self, start: impl FnOnce(&mut T) -> Result<(), E>) -> HandOver<'a, T, E> {
        // Armed before the work starts, so its completion finds the cell
        // armed. No turn is parked while this key lives (type invariant),
        // so the store loses none; it forgets an arrival of work that was
        // never armed.
        self.cell.parked.store(KeyCell::<T>::ARMED, Ordering::Relaxed);
        if let Err(e) = start(&mut self) {
            // Not started: no completion will come. Nothing was parked, and
            // nothing is after.
            let prev = self.cell.parked.swap(0, Ordering::Acquire);
            let arrived = (prev & KeyCell::<T>::ARRIVED != 0).then_some(prev & KeyCell::<T>::OK != 0);
            return HandOver::Failed(self, e, arrived);
        }
        // `start` returned, so nothing borrows the value through this key.
        // Release: the key's uses come before the `arrive` that finds the
        // turn parked.
        let prev = self.cell.parked.fetch_or(KeyCell::<T>::POSTED, Ordering::AcqRel);
        if prev & KeyCell::<T>::ARRIVED == 0 {
            // INVARIANT: parked, consuming the turn's key.
            return HandOver::Parked;
        }
        // The completion came first and took nothing (it found the turn
        // not parked): the key goes on.
        // INVARIANT: not parked after all; the key lives on.
        self.cell.parked.store(0, Ordering::Relaxed);
        HandOver::Completed(self, prev & KeyCell::<T>::OK != 0)
    }
}

impl<T> core::ops::Deref for Key<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the value is used only through this key (type
        // invariant), and the borrow of `self` excludes a mutable use
        // through it for the result's lifetime.
        unsafe { &*self.cell.value.get() }
    }
}

impl<T> core::ops::DerefMut for Key<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the value is used only through this key (type
        // invariant), and the mutable borrow of `self` excludes every
        // other use through it for the result's lifetime.
        unsafe { &mut *self.cell.value.get() }
    }
}

/// A value kept apart from a [`KeyCell`] but used only through that
/// cell's keys, as the kernel's `LockedBy` is used through its lock's
/// guard: a req's send buffer, which the endpoint holds and the holder of
/// the req's key writes. [`KeyedBy::get_with`] checks that the key is one
/// of the cell's.
///
/// # Invariants
///
/// `owner` is the address of the [`KeyCell`] whose keys reach the value;
/// it is only compared, never dereferenced. The value is reached only
/// through [`KeyedBy::get_with`], with one of those keys.
pub(crate) struct KeyedBy<T, S> {
    owner: *const KeyCell<S>,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only with a key of `owner` (type
// invariant), and keys of one cell are used one at a time, each use
// ordered after the previous one (invariant of [`KeyCell`]): what crosses
// threads is exclusive use of a `T`, which `T: Send` allows. `owner` is an
// address that is only compared.
unsafe impl<T: Send, S> Sync for KeyedBy<T, S> {}
// SAFETY: the value moves with this one, which `T: Send` allows; `owner`
// is an address that is only compared.
unsafe impl<T: Send, S> Send for KeyedBy<T, S> {}

impl<T, S> KeyedBy<T, S> {
    /// Makes `value` reachable with the keys of `owner`.
    pub(crate) fn new(value: T, owner: &KeyCell<S>) -> Self {
        // INVARIANT: the value is reached only through `get_with`.
        Self {
            owner,
            value: UnsafeCell::new(value),
        }
    }

    /// Returns the value, and the key's, for as long as the key is
    /// borrowed; None when `key` is not a key of the owner cell (or that
    /// cell holds a zero-sized value, whose address two cells may share).
    pub(crate) fn get_with<'b>(&'b self, key: &'b mut Key<'_, S>) -> Option<(&'b mut T, &'b mut S)> {
        if core::mem::size_of::<S>() == 0 || !core::ptr::eq(key.cell, self.owner) {
            return None;
        }
        // SAFETY: `key` is a key of the owner cell, whose keys alone reach
        // the value (type invariant), and while one key of a cell is used
        // no other is (invariant of [`KeyCell`]); the mutable borrow of
        // `key` for `'b` excludes every other use through it, so the value
        // is this borrow's alone for `'b`.
        let value = unsafe { &mut *self.value.get() };
        Some((value, &mut **key))
    }
}

/// A vector of values, each initialized in place and pinned there until
/// the vector is dropped, as `Pin<KBox<T>>` would pin one: the reqs, whose
/// completions and work-request contexts must not move. Its one
/// allocation is made up front, as for a `KVVec` filled within its
/// capacity.
///
/// # Invariants
///
/// `items` is never grown, shrunk or reordered, nor an element moved out
/// of it: each element stays at its address until the vector is dropped,
/// which drops it there. Elements are reached only through `&self`.
pub(crate) struct PinnedVec<T>(KVVec<T>);

impl<T> PinnedVec<T> {
    /// Makes an empty vector with room for `n` elements.
    pub(crate) fn with_capacity(n: usize) -> Result<Self> {
        // INVARIANT: empty; the capacity is all it ever has.
        Ok(Self(KVVec::with_capacity(n, GFP_KERNEL)?))
    }

    /// Initializes the next element in place with `init`; `ENOMEM` when
    /// the vector is full (it never grows).
    pub(crate) fn push(&mut self, init: impl PinInit<T, Error>) -> Result {
        let len = self.0.len();
        let slot = self.0.spare_capacity_mut().first_mut().ok_or(ENOMEM)?;
        // SAFETY: `slot` is the first spare slot of the vector:
        // uninitialized memory, valid for writes. It is at its final
        // address, as the vector is never grown (type invariant), so it is
        // pinned until dropped. On an error it is left spare: not touched
        // again, and not counted in the length, so not dropped.
        unsafe { init.__pinned_init(slot.as_mut_ptr())? };
        // SAFETY: the element at `len`, within the capacity, was just
        // initialized.
        unsafe { self.0.set_len(len + 1) };
        // INVARIANT: appended; nothing moved.
        Ok(())
    }

    /// Returns element `i`.
    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        self.0.get(i)
    }

    /// Returns the elements, in order.
    pub(crate) fn as_slice(&self) -> &[T] {
        &self.0
    }
}

/// A value set at most once, through a shared reference, and from then on
/// only read, until the owner drops it: an `Option<KBox<T>>` whose `Some`
/// is written through `&self` (the write pad of a connection, made once it
/// is established, in resources shared since the QP was created).
///
/// # Invariants
///
/// `ptr` is null or, once [`OnceBox::set`] stored it, the pointer of a
/// `KBox<T>` this value owns, never changed again and freed only by
/// `drop`.
pub(crate) struct OnceBox<T> {
    ptr: core::sync::atomic::AtomicPtr<T>,
    _owns: PhantomData<(KBox<T>, *mut ())>,
}

// SAFETY: a `OnceBox<T>` owns at most one `T` (type invariant), which
// moves with it when `T: Send`.
unsafe impl<T: Send> Send for OnceBox<T> {}
// SAFETY: through `&OnceBox<T>` a `T` is stored, possibly by another
// thread than the one that drops it (`T: Send`), and read through `&T` on
// several threads at once (`T: Sync`); the store (Release) happens before
// every read that sees it (Acquire).
unsafe impl<T: Send + Sync> Sync for OnceBox<T> {}

impl<T> OnceBox<T> {
    /// An empty box.
    pub(crate) const fn new() -> Self {
        // INVARIANT: null.
        Self {
            ptr: core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    /// Stores `value`; gives it back if a value was stored before.
    pub(crate) fn set(&self, value: KBox<T>) -> core::result::Result<(), KBox<T>> {
        let raw = KBox::into_raw(value);
        match self
            .ptr
            .compare_exchange(core::ptr::null_mut(), raw, Ordering::AcqRel, Ordering::Acquire)
        {
            // INVARIANT: the box is owned here from now on, never replaced.
            Ok(_) => Ok(()),
            // SAFETY: `raw` came from `KBox::into_raw` just above and was
            // not stored, so it is still this call's to give back.
            Err(_) => Err(unsafe { KBox::from_raw(raw) }),
        }
    }

    /// Returns the value, once it is stored.
    pub(crate) fn get(&self) -> Option<&T> {
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: null or the pointer of a box this value owns, never
        // changed and freed only by `drop`, which `&self` excludes (type
        // invariant); the Acquire load pairs with `set`'s store.
        unsafe { p.as_ref() }
    }
}

impl<T> Drop for OnceBox<T> {
    fn drop(&mut self) {
        let p = *self.ptr.get_mut();
        if !p.is_null() {
            // SAFETY: the pointer of the box this value owns (type
            // invariant), freed only here.
            drop(unsafe { KBox::from_raw(p) });
        }
    }
}
