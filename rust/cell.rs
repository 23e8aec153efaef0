// SPDX-License-Identifier: GPL-2.0

//! Cells the transport shares between threads, and the pinned vector its
//! reqs live in ([`PinnedVec`]). Each cell says in its `Sync`
//! (and `Send`) impl why sharing it is sound; the types that contain them
//! then get `Send` and `Sync` from their fields.

use crate::bindings;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
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
/// points where a req changes hands) show that the turn is theirs.
///
/// # Invariants
///
/// The value is reached only through a [`Key`] for this cell or through
/// `&mut self`. While one key's borrow of the value lives, no other key
/// for the cell is used, and uses through different keys are ordered (a
/// lock, or a Release/Acquire handover).
pub(crate) struct KeyCell<T>(UnsafeCell<T>);

impl<T> KeyCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    /// Makes a key to the value.
    ///
    /// # Safety
    ///
    /// From now until the key is dropped, the value is used only through
    /// it: every use through an earlier key happened before (by a lock or
    /// a Release/Acquire pair) and none comes while this key lives, except
    /// after this key's last use, handed over the same way.
    pub(crate) unsafe fn key(&self) -> Key<'_, T> {
        // INVARIANT: guaranteed by the caller.
        Key {
            cell: self,
            _not_send: PhantomData,
        }
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
/// (invariant of [`KeyCell`]).
pub(crate) struct Key<'a, T> {
    cell: &'a KeyCell<T>,
    _not_send: PhantomData<*mut ()>,
}

impl<T> core::ops::Deref for Key<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the value is used only through this key (type
        // invariant), and the borrow of `self` excludes a mutable use
        // through it for the result's lifetime.
        unsafe { &*self.cell.0.get() }
    }
}

impl<T> core::ops::DerefMut for Key<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the value is used only through this key (type
        // invariant), and the mutable borrow of `self` excludes every
        // other use through it for the result's lifetime.
        unsafe { &mut *self.cell.0.get() }
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
        use core::sync::atomic::Ordering;
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
        let p = self.ptr.load(core::sync::atomic::Ordering::Acquire);
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
