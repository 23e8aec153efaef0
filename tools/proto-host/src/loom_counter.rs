// SPDX-License-Identifier: GPL-2.0

//! The req reference count on loom's atomics, so that loom explores every
//! interleaving and memory ordering of the same `ReqRef` code the kernel
//! runs on `core::sync::atomic::AtomicU32`.

use crate::proto::lifetime::Counter;
use loom::sync::atomic::{AtomicU32, Ordering};

impl Counter for AtomicU32 {
    fn new(value: u32) -> Self {
        AtomicU32::new(value)
    }

    fn load_acquire(&self) -> u32 {
        self.load(Ordering::Acquire)
    }

    fn update<F: FnMut(u32) -> Option<u32>>(&self, f: F) -> Result<u32, u32> {
        self.fetch_update(Ordering::AcqRel, Ordering::Acquire, f)
    }
}
