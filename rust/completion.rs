// SPDX-License-Identifier: GPL-2.0

//! A `struct completion` that Rust owns: initialized in place, then
//! signalled and waited for through `&self` from any CPU.

use crate::bindings;
use kernel::prelude::*;
use kernel::types::Opaque;

/// A kernel completion (`include/linux/completion.h`).
///
/// # Invariants
///
/// `inner` was initialized by `init_completion()` in its final place and
/// is pinned there until dropped.
#[pin_data]
pub(crate) struct Completion {
    #[pin]
    inner: Opaque<bindings::completion>,
}

// SAFETY: a `struct completion` (a counter and a wait queue) is not tied to
// a thread: any thread may own the memory it lives in.
unsafe impl Send for Completion {}
// SAFETY: a completion is made to be signalled and waited for from
// different CPUs at once: every operation on it takes its wait queue's
// spinlock. Rust only passes its address to those kernel functions.
unsafe impl Sync for Completion {}

impl Completion {
    /// Initializes a completion in place, not yet completed.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is the completion's final, pinned place, and
            // `init_completion()` writes every field of it.
            inner <- Opaque::ffi_init(|slot| unsafe { bindings::xprs_init_completion(slot) }),
        })
    }

    /// Wakes one waiter, or the next one to wait (`complete()`).
    pub(crate) fn complete(&self) {
        // SAFETY: initialized (type invariant); `complete()` takes the
        // completion's lock.
        unsafe { bindings::complete(self.inner.get()) };
    }

    /// Forgets completions not yet waited for (`reinit_completion()`),
    /// before the next step that will complete it.
    pub(crate) fn reinit(&self) {
        // SAFETY: initialized (type invariant). `reinit_completion()` is a
        // plain store of 0 to the count, which the wait-queue lock guards
        // elsewhere: a `complete()` racing with it may be forgotten, as for
        // its C callers, but nothing else is touched.
        unsafe { bindings::xprs_reinit_completion(self.inner.get()) };
    }

    /// Waits for a completion, without a timeout (`wait_for_completion()`).
    pub(crate) fn wait(&self) {
        // SAFETY: initialized (type invariant); waiting keeps `&self`, so
        // the completion outlives the wait.
        unsafe { bindings::wait_for_completion(self.inner.get()) }
    }

    /// Waits up to `jiffies` for a completion; returns the jiffies left,
    /// 0 on a timeout (`wait_for_completion_timeout()`).
    pub(crate) fn wait_timeout(&self, jiffies: usize) -> usize {
        // SAFETY: initialized (type invariant); waiting keeps `&self`, so
        // the completion outlives the wait.
        unsafe { bindings::wait_for_completion_timeout(self.inner.get(), jiffies) }
    }
}
