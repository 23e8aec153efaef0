// SPDX-License-Identifier: GPL-2.0

#![forbid(unsafe_code)]

//! Slot allocation (`->alloc_slot`, `->free_slot`): reqs of the forward
//! pool go to tasks, tasks wait on the backlog when none is free, and a
//! req whose last owner let go goes to a backlog waiter or back to its
//! pool (`rpcrdma_req_release()`).
//!
//! Who holds a req is told by the tokens of `proto::lifetime` ([`Pooled`],
//! `RpcOwner`, [`Released`]); who uses it, by its key ([`ReqKey`]). The idle reqs (`Shared::free`) are under the
//! `shared` spinlock, which is not held while a backlog waiter is woken.
//! Forward reqs with an id from `req_limit` on (beyond what the current
//! connection's device holds) are not handed out; released, they rest in
//! the pool.

use crate::proto::lifetime::{self, LifetimeError, Pool, Pooled, Released};
use crate::proto::sendctx;
use crate::sunrpc::{self, SlotReturn, Task};
use crate::trace;
use core::sync::atomic::Ordering;
use kernel::c_str;

use super::req::NewReq;
use super::{Req, ReqKey, Transport};

impl Transport {
    /// Gives a pooled req to `task`, or puts the task on the backlog.
    fn give(&self, task: &Task<'_>, pooled: Pooled) -> bool {
        let Some(req) = self.req(pooled.req()) else {
            sunrpc::warn_once(c_str!("pooled req out of range"));
            return false;
        };
        match req.take(pooled) {
            Ok(new) => match new.give_to(task) {
                Ok(()) => true,
                Err(new) => {
                    self.drop_new(new);
                    false
                }
            },
            Err((pooled, _)) => {
                sunrpc::warn_once(c_str!("I5: req left its pool while busy"));
                self.pool_push(pooled);
                false
            }
        }
    }

    /// Takes an idle req of `pool`: for the forward pool the one last
    /// pooled below `req_limit` (`free_ids`, O(1), as C's `rb_send_bufs`
    /// list), for the backchannel's the first found.
    pub(super) fn pool_pop(&self, pool: Pool) -> Option<Pooled> {
        let mut shared = self.shared.lock();
        if pool == Pool::Backchannel {
            let ids = self.cfg.ids(pool);
            return shared.free.get_mut(ids)?.iter_mut().find_map(Option::take);
        }
        let limit = self.req_limit.load(Ordering::Relaxed);
        while let Some(id) = shared.free_ids.pop() {
            // An id from `req_limit` on (the limit fell since it was
            // pooled) rests in `free` until a connection holds it again.
            if id >= limit {
                continue;
            }
            if let Some(pooled) = shared.free.get_mut(id as usize).and_then(Option::take) {
                return Some(pooled);
            }
        }
        None
    }

    /// Puts `free_ids` in step with `req_limit` after it changed: every
    /// idle forward req below it, once.
    pub(super) fn set_req_limit(&self, limit: u32) {
        let mut shared = self.shared.lock();
        self.req_limit.store(limit, Ordering::Relaxed);
        let shared = &mut *shared;
        shared.free_ids.clear();
        let forward = self.cfg.ids(Pool::Free);
        // The lowest id on top, as at creation.
        for (id, cell) in shared.free.iter().enumerate().take(forward.end).rev() {
            if let (Some(_), Ok(id)) = (cell, u32::try_from(id)) {
                if id < limit && shared.free_ids.push(id).is_err() {
                    sunrpc::warn_once(c_str!("free req ids overflow"));
                }
            }
        }
    }

    pub(super) fn pool_push(&self, pooled: Pooled) {
        let mut guard = self.shared.lock();
        let id = pooled.req().0;
        let forward = pooled.pool() == Pool::Free && id < self.req_limit.load(Ordering::Relaxed);
        let shared = &mut *guard;
        match shared.free.get_mut(id as usize) {
            Some(cell @ None) => {
                *cell = Some(pooled);
                // Each id at most once: its cell was empty until now.
                if forward && shared.free_ids.push(id).is_err() {
                    sunrpc::warn_once(c_str!("free req ids overflow"));
                }
            }
            _ => {
                drop(guard);
                // The token is dropped: the req leaks rather than being
                // handed out twice.
                let _ = pooled;
                sunrpc::warn_once(c_str!("I7: req pooled twice"));
            }
        }
    }

    pub(super) fn alloc_slot(&self, task: &Task<'_>) {
        if let Some(pooled) = self.pool_pop(Pool::Free) {
            if self.give(task, pooled) {
                return;
            }
        }
        task.wait_on_backlog(&self.xprt);
        trace::backlog_wait(task);
        // A req freed between the pop and joining the backlog would have
        // found no waiter: look again now that the task waits.
        if let Some(pooled) = self.pool_pop(Pool::Free) {
            if let Some(req) = self.req(pooled.req()) {
                match req.take(pooled) {
                    Ok(new) => self.hand_to_backlog(new),
                    Err((pooled, _)) => self.pool_push(pooled),
                }
            }
        }
    }

    /// Offers an owned req to the first backlog waiter, or returns it to
    /// the pool.
    fn hand_to_backlog(&self, mut new: NewReq<'_>) {
        let req = new.key().req();
        let Err(new) = new.offer_to_backlog() else {
            trace::backlog_wake(&self.xprt, req.kref.id().0);
            return;
        };
        // No waiter took the rqst: the RPC owner lets go again.
        match new.put_rpc() {
            Some(Ok(Some(released))) => self.to_pool(req, released, Pool::Free),
            Some(Ok(None)) | None => {}
            Some(Err(_)) => sunrpc::warn_once(c_str!("req refcount underflow")),
        }
    }

    fn to_pool(&self, req: &Req, released: Released, pool: Pool) {
        match req.to_pool(released, pool) {
            Ok(pooled) => self.pool_push(pooled),
            Err(_) => sunrpc::warn_once(c_str!("released req still counted")),
        }
    }

    /// Routes a req whose last owner let go (`rpcrdma_req_release()`).
    pub(super) fn release(&self, released: Released) {
        let id = released.req();
        let Some(req) = self.req(id) else {
            sunrpc::warn_once(c_str!("released req out of range"));
            return;
        };
        // I4: both owners are gone, so no sendctx still refers to the req.
        // The ring counts each req's owners where it takes and drops them,
        // so this is one load, not a walk of every slot, and the counts are
        // atomics shared with the ring, so it takes no lock.
        let in_ring = sendctx::owners_in(&self.ring_held, id) != 0;
        if !lifetime::i4_send_released(in_ring) {
            sunrpc::warn_once(c_str!("I4: req released while a sendctx holds it"));
        }
        if self.cfg.home(id) == Pool::Backchannel {
            self.to_pool(req, released, Pool::Backchannel);
            return;
        }
        // A req beyond what this connection's device holds rests.
        if id.0 >= self.req_limit.load(Ordering::Relaxed) {
            self.to_pool(req, released, Pool::Free);
            return;
        }
        match req.to_backlog(released) {
            Ok(new) => self.hand_to_backlog(new),
            Err(_) => sunrpc::warn_once(c_str!("released req still counted")),
        }
    }

    /// `->free_slot`, and for backchannel rqsts `->bc_free_rqst`: the RPC
    /// layer lets go of the req as sunrpc gives its rqst `back`.
    pub(super) fn free_slot(&self, key: ReqKey<'_>, back: SlotReturn<'_>) {
        self.rpc_let_go(key.put_rpc(back));
    }

    /// The RPC owner of a req whose rqst no one took lets go.
    pub(super) fn drop_new(&self, new: NewReq<'_>) {
        self.rpc_let_go(new.put_rpc());
    }

    /// Routes a req after its RPC owner let go, if that was its last owner.
    fn rpc_let_go(&self, put: Option<core::result::Result<Option<Released>, LifetimeError>>) {
        match put {
            None => sunrpc::warn_once(c_str!("free_slot of an unowned rqst")),
            Some(Ok(Some(released))) => self.release(released),
            Some(Ok(None)) => {}
            Some(Err(_)) => sunrpc::warn_once(c_str!("req refcount underflow")),
        }
    }
}
