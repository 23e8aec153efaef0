// SPDX-License-Identifier: GPL-2.0

//! Completion handlers: a work completion seen safely ([`Wc`]), and the
//! completion context ([`Cqe`]) an owner embeds, whose one generic
//! trampoline finds the owner again and calls its [`CqeHandler::done`].

use crate::bindings;
use crate::cell::Foreign;
use core::marker::PhantomData;

/// A completion id (`struct rpc_rdma_cid`, as the C client's): the id of
/// a CQ and the number of a completion context on it. A work request
/// traced with the id of its context can be matched to its completion.
#[derive(Clone, Copy)]
pub(crate) struct Cid(bindings::rpc_rdma_cid);

impl Cid {
    /// The id of completion context `completion` on the CQ `cq` (from
    /// [`super::Cq::id`] or [`Wc::cid`]).
    pub(crate) fn new(cq: u32, completion: i32) -> Self {
        Self(bindings::rpc_rdma_cid {
            ci_queue_id: cq,
            ci_completion_id: completion,
        })
    }

    /// Returns the C struct, for the trace points.
    pub(crate) fn as_raw(&self) -> &bindings::rpc_rdma_cid {
        &self.0
    }
}

/// A work completion (`struct ib_wc`), as a completion handler sees it:
/// valid for the handler's call, and written by no one during it; and the
/// CQ it came from, whose id is read only for a completion id
/// ([`Wc::cid`], for the trace points), not on every completion.
///
/// # Invariants
///
/// `cq` is the live CQ whose poller made this value, for at least `'a`.
pub(crate) struct Wc<'a> {
    wc: &'a bindings::ib_wc,
    cq: *mut bindings::ib_cq,
}

impl<'a> Wc<'a> {
    /// Wraps the completion `wc` the poller of `cq` passed to a handler.
    ///
    /// # Safety
    ///
    /// `cq` is the live CQ and `wc` the completion of a handler's call,
    /// which nothing writes until it returns and which outlives `'a`.
    pub(super) unsafe fn from_raw(cq: *mut bindings::ib_cq, wc: *const bindings::ib_wc) -> Self {
        // INVARIANT: the caller guarantees that `cq` is live for the call,
        // which `'a` does not outlive.
        Self {
            // SAFETY: guaranteed by the caller.
            wc: unsafe { &*wc },
            cq,
        }
    }

    /// Returns the C struct, for the trace points.
    pub(crate) fn as_raw(&self) -> &bindings::ib_wc {
        self.wc
    }

    /// Returns the completion id of context `completion` on this
    /// completion's CQ.
    pub(crate) fn cid(&self, completion: i32) -> Cid {
        // SAFETY: the CQ is live (type invariant); its id is fixed when it
        // is allocated.
        Cid::new(unsafe { bindings::xprs_ib_cq_id(self.cq) }, completion)
    }

    /// Returns the completion's status.
    fn status(&self) -> bindings::ib_wc_status {
        self.wc.status
    }

    /// Returns true if the work request succeeded.
    pub(crate) fn is_success(&self) -> bool {
        self.status() == bindings::ib_wc_status_IB_WC_SUCCESS
    }

    /// Returns true for a completion that means the connection is broken
    /// (anything but success or a flush).
    pub(crate) fn fatal(&self) -> bool {
        !self.is_success() && self.status() != bindings::ib_wc_status_IB_WC_WR_FLUSH_ERR
    }

    /// Returns the number of bytes a Receive placed.
    pub(crate) fn byte_len(&self) -> u32 {
        self.wc.byte_len
    }

    /// Returns the rkey the peer invalidated with its Send
    /// (`IB_WC_WITH_INVALIDATE`), if it did.
    pub(crate) fn invalidated_rkey(&self) -> Option<u32> {
        if self.wc.wc_flags & bindings::ib_wc_flags_IB_WC_WITH_INVALIDATE as i32 == 0 {
            return None;
        }
        // SAFETY: with IB_WC_WITH_INVALIDATE set the provider wrote the
        // invalidated rkey into the union (`ex.invalidate_rkey`, as
        // `struct ib_wc` documents); both members are plain 32-bit
        // integers, valid for any bits.
        Some(unsafe { self.wc.ex.invalidate_rkey })
    }
}

/// The owner of an embedded [`Cqe`], found from it by offset, as
/// `container_of` does. Implemented by [`impl_has_cqe!`]. The trait is
/// safe: [`Cqe::ptr_of`] checks that `cqe` is the `Cqe<Self>` at
/// `CQE_OFFSET` inside `Self` before it hands the address out, so a wrong
/// impl only makes posts fail.
pub(crate) trait HasCqe: Sized {
    /// The byte offset of the `Cqe<Self>` field in `Self`.
    const CQE_OFFSET: usize;

    /// Returns that field.
    fn cqe(&self) -> &Cqe<Self>;
}

/// Implements [`HasCqe`] for `$owner`, whose field `$field` is its
/// `Cqe<$owner>`: the offset is `offset_of!` that field.
macro_rules! impl_has_cqe {
    ($owner:ty, $field:ident) => {
        impl $crate::ib::HasCqe for $owner {
            const CQE_OFFSET: usize = ::core::mem::offset_of!($owner, $field);

            fn cqe(&self) -> &$crate::ib::Cqe<$owner> {
                &self.$field
            }
        }
    };
}
pub(crate) use impl_has_cqe;

/// What completes the work requests posted on an owner's [`Cqe`]. `done`
/// runs in the CQ's polling context (process context on `ib-comp-wq`),
/// on whichever CPU reaps the completion, hence `Sync`.
pub(crate) trait CqeHandler: HasCqe + Sync {
    /// Handles one completion of a work request posted on `self`'s `Cqe`.
    fn done(&self, wc: &Wc<'_>);
}

/// The completion context (`struct ib_cqe`) of work requests whose
/// completions go to the owner `T` that embeds it ([`HasCqe`]).
///
/// # Invariants
///
/// `cqe.done` is [`trampoline::<T>`], written by [`Cqe::new`] and never
/// changed. The address of `cqe` is handed out only by [`Cqe::ptr_of`],
/// for a `Cqe<T>` it checked to be the field at `T::CQE_OFFSET` of the
/// `T` it was given.
#[repr(transparent)]
pub(crate) struct Cqe<T> {
    cqe: Foreign<bindings::ib_cqe>,
    _owner: PhantomData<fn(&T)>,
}

impl<T: CqeHandler> Cqe<T> {
    /// Makes the completion context of a `T`, to be stored in the `T`'s
    /// field that `impl_has_cqe!` names.
    pub(crate) fn new() -> Self {
        // INVARIANT: `done` is the trampoline of `T`.
        Self {
            cqe: Foreign::new(bindings::ib_cqe {
                done: Some(trampoline::<T>),
            }),
            _owner: PhantomData,
        }
    }

    /// Returns the `ib_cqe` embedded in `owner`, for a work request whose
    /// completion is to reach `owner.done()`; None (a wrong [`HasCqe`]
    /// impl) unless `owner.cqe()` lies within `owner` at `T::CQE_OFFSET`.
    pub(crate) fn ptr_of(owner: &T) -> Option<*mut bindings::ib_cqe> {
        let base = owner as *const T as usize;
        let field = owner.cqe() as *const Cqe<T> as usize;
        let inside = T::CQE_OFFSET
            .checked_add(core::mem::size_of::<Cqe<T>>())
            .is_some_and(|end| end <= core::mem::size_of::<T>());
        if !inside || field.wrapping_sub(base) != T::CQE_OFFSET {
            return None;
        }
        // INVARIANT: the address is that of `owner.cqe()`, a `Cqe<T>` at
        // `T::CQE_OFFSET` inside `owner` (checked above), whose first byte
        // is its `ib_cqe` (`Cqe` and `Foreign` are `repr(transparent)`, as
        // is `Opaque`). It is computed from the pointer to the whole owner,
        // so the trampoline may step back to it.
        Some(
            (owner as *const T)
                .cast::<u8>()
                .wrapping_add(T::CQE_OFFSET)
                .cast::<bindings::ib_cqe>()
                .cast_mut(),
        )
    }
}

/// The completion function of every [`Cqe<T>`]: finds the owner `T` and
/// calls its [`CqeHandler::done`].
///
/// # Safety
///
/// Called by the CQ poller for a completion `wc` of a work request whose
/// `wr_cqe` was given by [`Cqe::ptr_of`] for a `T` that is still live (the
/// posts of [`Qp`](super::Qp): the owner stays valid until the work
/// request completes, or the QP is destroyed and its CQs freed).
unsafe extern "C" fn trampoline<T: CqeHandler>(cq: *mut bindings::ib_cq, wc: *mut bindings::ib_wc) {
    // SAFETY: `cq` is the poller's own live CQ, and `wc` is valid for the
    // call and the poller does not touch it until we return. The CQ calls
    // `wr_cqe->done`, and only a `Cqe<T>`
    // has `done == trampoline::<T>` (type invariant); its address comes
    // only from `Cqe::ptr_of`, as `owner + T::CQE_OFFSET` computed from a
    // pointer to the whole `T` (and checked to be that `T`'s own
    // `Cqe<T>`), so subtracting `T::CQE_OFFSET` gives back
    // that `T`, which the poster keeps live until this completion. A
    // shared reference is sound: `T: Sync`, and its users share it.
    let (owner, wc) = unsafe {
        let cqe = (*wc).__bindgen_anon_1.wr_cqe.cast::<u8>();
        (&*cqe.sub(T::CQE_OFFSET).cast::<T>(), Wc::from_raw(cq, wc))
    };
    owner.done(&wc);
}

