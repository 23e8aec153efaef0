// SPDX-License-Identifier: GPL-2.0

#![allow(unsafe_code)]

//! The Receive buffer (`rpcrdma_rep`): whose it is (the HCA's while
//! posted), and the way back from it to its endpoint and transport. Its
//! completion handler, the reply path, is in `reply`.

use crate::bindings;
use crate::ib::{self, Cid, Cqe, DmaBuf};
use crate::proto::lifetime;
use crate::sunrpc;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::Arc;

use super::endpoint::Endpoint;
use super::Transport;

/// A Receive buffer and its completion context (`rpcrdma_rep`).
///
/// # Invariants
///
/// - `posted` is true from `post` until the Receive's completion: the HCA
///   owns `buf` exactly then.
/// - `index` is this rep's position in the `reps` of its endpoint.
/// - `ep` is null or points to the endpoint whose `reps` hold this rep,
///   set (Release) once that endpoint is at its final address; the rep
///   lives inside it, so the endpoint outlives every borrow of the rep.
pub(super) struct Rep {
    pub(super) cqe: Cqe<Rep>,
    /// The completion id of Receives posted on this rep.
    pub(super) cid: Cid,
    /// Where the rep is in its endpoint's `reps`.
    pub(super) index: u32,
    pub(super) buf: DmaBuf,
    /// The transport whose endpoint holds this rep.
    pub(super) transport: Arc<Transport>,
    pub(super) ep: AtomicPtr<Endpoint>,
    pub(super) qp: AtomicPtr<bindings::ib_qp>,
    pub(super) lkey: u32,
    pub(super) posted: AtomicBool,
}

ib::impl_has_cqe!(Rep, cqe);

impl Rep {
    /// Returns the transport the rep's endpoint belongs to.
    pub(super) fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Returns the endpoint the rep belongs to, once it is set.
    pub(super) fn endpoint(&self) -> Option<&Endpoint> {
        // SAFETY: null or the endpoint that holds this rep, which outlives
        // the borrow of `self` (type invariant); the Acquire load pairs
        // with the Release store that published it.
        unsafe { self.ep.load(Ordering::Acquire).as_ref() }
    }

    /// Posts the Receive (`rpcrdma_post_recvs()` for one rep).
    pub(super) fn post(&self) -> Result {
        // I1: a rep handed to the HCA is not still owned by it (its last
        // Receive completed and the reply handler is done with it).
        let was_posted = self.posted.swap(true, Ordering::AcqRel);
        if !lifetime::i1_rep_postable(was_posted) {
            sunrpc::warn_once(c_str!("I1: Receive posted twice"));
            return Err(EIO);
        }
        let buf = &self.buf;
        let len = u32::try_from(buf.len()).map_err(|_| EINVAL)?;
        let qp = self.qp.load(Ordering::Relaxed);
        // SAFETY: the rep is not posted (checked above), so no Receive uses
        // its buffer or cqe. The QP lives as long as the endpoint that owns
        // this rep, which drains the QP before dropping its reps, so the
        // rep also outlives the Receive.
        let rc = unsafe { ib::post_recv(qp, Cqe::ptr_of(self), buf.addr(), len, self.lkey) };
        if rc.is_err() {
            self.posted.store(false, Ordering::Release);
        }
        rc
    }
}
