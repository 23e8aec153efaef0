// SPDX-License-Identifier: GPL-2.0

//! Cells the transport shares between threads. Each says in its `Sync`
//! (and `Send`) impl why sharing it is sound; the types that contain them
//! then get `Send` and `Sync` from their fields.

use crate::bindings;
use core::cell::UnsafeCell;
use kernel::types::Opaque;

/// Interior mutability for a value whose users take turns by a protocol
/// the owner of the cell documents (a lock, or a Release/Acquire
/// handover), as `SyncUnsafeCell` would give.
///
/// # Invariants
///
/// The value is reached only through the raw pointer [`SyncCell::get`]
/// returns, and every dereference of it is an `unsafe` operation whose
/// caller shows that no other access to the value is concurrent with a
/// write, and that it happens after every earlier conflicting access.
pub(crate) struct SyncCell<T>(UnsafeCell<T>);

impl<T> SyncCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    /// Returns a pointer to the value; see the type invariant for its use.
    pub(crate) const fn get(&self) -> *mut T {
        self.0.get()
    }
}

// SAFETY: `&SyncCell<T>` gives safe code only a raw pointer; every access
// through it is an `unsafe` dereference whose caller rules out data races
// (type invariant). What sharing the cell adds is that the value may be
// read through `&T` on several threads at once, which `T: Sync` allows,
// and be used mutably, or dropped, on another thread than the one that
// wrote it, which `T: Send` allows.
unsafe impl<T: Send + Sync> Sync for SyncCell<T> {}

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

    pub(crate) const fn uninit() -> Self {
        Self(Opaque::uninit())
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

// SAFETY: a `struct completion` (a flag and a wait queue) is not tied to
// a thread: any thread may own the memory it lives in.
unsafe impl Send for Foreign<bindings::completion> {}
// SAFETY: a `struct completion` is made to be signalled and waited for
// from different CPUs: every operation on it takes its wait queue's
// spinlock. Rust only passes its address to those kernel functions.
unsafe impl Sync for Foreign<bindings::completion> {}

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
