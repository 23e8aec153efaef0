// SPDX-License-Identifier: GPL-2.0

#![allow(unsafe_code)]

//! The Receive buffer (`rpcrdma_rep`): whose it is (the HCA's while
//! posted), and the way back from it to its endpoint and transport. Its
//! completion handler, the reply path, is in `reply`.

use crate::ib::{self, Cid, Cqe, DmaBuf, Qp, Recv};
use crate::proto::lifetime;
use crate::sunrpc;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::Arc;

use super::endpoint::{Endpoint, EpRes};
use super::Transport;

/// The Receive buffers of one connection, owned by its QP ([`Qp::res`]).
pub(super) type Reps = KVec<Rep>;

/// A Receive buffer and its completion context (`rpcrdma_rep`), one of
/// the [`Reps`] its endpoint's QP owns.
///
/// # Invariants
///
/// - `posted` is true from `post` until the Receive's completion: the HCA
///   owns `buf` exactly then.
/// - `index` is this rep's position in the [`Reps`] of its endpoint.
/// - `ep` is null or points to the endpoint that holds this rep (in its
///   QP, or in `res_back` once the QP gave it back), set (Release) once
///   that endpoint is at its final address; the rep lives inside it, so
///   the endpoint outlives every borrow of the rep.
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
        // with the Release store that published it. Its QP is destroyed
        // (`destroy_qp`, under teardown's `&mut`) only after the drain, when
        // the only handlers left run for flushed Receives, which neither
        // read the endpoint nor post.
        unsafe { self.ep.load(Ordering::Acquire).as_ref() }
    }

    /// Posts the Receive (`rpcrdma_post_recvs()` for one rep) on `qp`,
    /// whose [`Reps`] hold it.
    pub(super) fn post(&self, qp: &Qp<EpRes>) -> Result {
        // I1: a rep handed to the HCA is not still owned by it (its last
        // Receive completed and the reply handler is done with it).
        let was_posted = self.posted.swap(true, Ordering::AcqRel);
        if !lifetime::i1_rep_postable(was_posted) {
            sunrpc::warn_once(c_str!("I1: Receive posted twice"));
            return Err(EIO);
        }
        // Not posted (checked above): no Receive uses its buffer or cqe.
        let index = self.index as usize;
        let rc = qp.post_recv(|res| {
            let rep = res.reps.get(index).filter(|rep| core::ptr::eq(*rep, self)).ok_or(EIO)?;
            Ok(Recv {
                owner: rep,
                buf: &rep.buf,
                lkey: rep.lkey,
            })
        });
        if rc.is_err() {
            self.posted.store(false, Ordering::Release);
        }
        rc
    }
}
