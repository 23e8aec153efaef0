// SPDX-License-Identifier: GPL-2.0

//! Slot allocation (`->alloc_slot`, `->free_slot`): reqs of the forward
//! pool go to tasks, tasks wait on the backlog when none is free, and a
//! req whose last owner let go goes to a backlog waiter or back to its
//! pool (`rpcrdma_req_release()`).
//!
//! Who holds a req is told by the tokens of `proto::lifetime` ([`Pooled`],
//! [`RpcOwner`], [`Released`]). The idle reqs (`Shared::free`) are under the
//! `shared` spinlock, which is not held while a backlog waiter is woken.
//! Forward reqs with an id from `req_limit` on (beyond what the current
//! connection's device holds) are not handed out; released, they rest in
//! the pool.

use crate::bindings;
use crate::proto::lifetime::{self, Pool, Pooled, Released, RpcOwner};
use crate::sunrpc;
use crate::trace;
use core::sync::atomic::Ordering;
use kernel::c_str;

use super::{Phase, Req, Transport};

impl Transport {
    /// Gives a pooled req to `task`, or puts the task on the backlog.
    fn give(&self, task: *mut bindings::rpc_task, pooled: Pooled) -> bool {
        let Some(req) = self.req(pooled.req()) else {
            sunrpc::warn_once(c_str!("pooled req out of range"));
            return false;
        };
        match req.kref.take(pooled) {
            Ok(owner) => {
                // A new RPC: no Reply is expected until its Call is sent.
                req.phase.store(Phase::IDLE, Ordering::Release);
                // SAFETY: the req just left the pool: nobody else uses
                // its owner cell (type invariant of `Req`).
                unsafe { *req.rpc.get() = Some(owner) };
                // SAFETY: `task` is the task the RPC layer passed in.
                unsafe {
                    (*task).tk_rqstp = req.rqst();
                    (*task).tk_status = 0;
                }
                true
            }
            Err((pooled, _)) => {
                sunrpc::warn_once(c_str!("I5: req left its pool while busy"));
                self.pool_push(pooled);
                false
            }
        }
    }

    pub(super) fn pool_pop(&self, pool: Pool) -> Option<Pooled> {
        let mut ids = self.cfg.ids(pool);
        if pool == Pool::Free {
            let limit = self.req_limit.load(Ordering::Relaxed) as usize;
            ids.end = ids.end.min(limit);
        }
        self.shared.lock().free.get_mut(ids)?.iter_mut().find_map(Option::take)
    }

    pub(super) fn pool_push(&self, pooled: Pooled) {
        let mut shared = self.shared.lock();
        match shared.free.get_mut(pooled.req().0 as usize) {
            Some(cell @ None) => *cell = Some(pooled),
            _ => {
                drop(shared);
                // The token is dropped: the req leaks rather than being
                // handed out twice.
                let _ = pooled;
                sunrpc::warn_once(c_str!("I7: req pooled twice"));
            }
        }
    }

    pub(super) fn alloc_slot(&self, task: *mut bindings::rpc_task) {
        if let Some(pooled) = self.pool_pop(Pool::Free) {
            if self.give(task, pooled) {
                return;
            }
        }
        // SAFETY: `task` is valid; the RPC layer expects -EAGAIN and the
        // task on the backlog when no slot is free.
        unsafe {
            (*task).tk_status = -(bindings::EAGAIN as i32);
            bindings::xprt_add_backlog_noncongested(self.xprt.as_ptr(), task);
        }
        // SAFETY: `task` is the live task the RPC layer passed in.
        unsafe { trace::backlog_wait(task) };
        // A req freed between the pop and joining the backlog would have
        // found no waiter: look again now that the task waits.
        if let Some(pooled) = self.pool_pop(Pool::Free) {
            if let Some(req) = self.req(pooled.req()) {
                match req.kref.take(pooled) {
                    Ok(owner) => self.hand_to_backlog(req, owner),
                    Err((pooled, _)) => self.pool_push(pooled),
                }
            }
        }
    }

    /// Offers an owned req to the first backlog waiter, or returns it to
    /// the pool.
    fn hand_to_backlog(&self, req: &Req, owner: RpcOwner) {
        req.phase.store(Phase::IDLE, Ordering::Release);
        // SAFETY: the caller owns the req; nobody else uses its owner
        // cell until the RPC layer receives the rqst below.
        unsafe { *req.rpc.get() = Some(owner) };
        // SAFETY: the xprt and rqst are valid.
        if unsafe { bindings::xprt_wake_up_backlog(self.xprt.as_ptr(), req.rqst()) } {
            trace::backlog_wake(self.xprt, req.kref.id().0);
            return;
        }
        // SAFETY: no waiter took the rqst: the caller still owns it.
        let Some(owner) = (unsafe { (*req.rpc.get()).take() }) else {
            return;
        };
        match req.kref.put_rpc(owner) {
            Ok(Some(released)) => self.to_pool(req, released, Pool::Free),
            Ok(None) => {}
            Err(_) => sunrpc::warn_once(c_str!("req refcount underflow")),
        }
    }

    fn to_pool(&self, req: &Req, released: Released, pool: Pool) {
        // SAFETY: the req is released: no RPC or handler uses its rqst.
        unsafe { self.xprt.reset_rqst(req.rqst()) };
        match req.kref.to_pool(released, pool) {
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
        let in_ring = self.shared.lock().ring.count_owners(|o| o.req() == id) != 0;
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
        match req.kref.to_backlog(released) {
            Ok(owner) => self.hand_to_backlog(req, owner),
            Err(_) => sunrpc::warn_once(c_str!("released req still counted")),
        }
    }

    /// `->free_slot`, and for backchannel rqsts `->bc_free_rqst`: the RPC
    /// layer lets go of the req.
    pub(super) fn free_slot(&self, rqst: *mut bindings::rpc_rqst) {
        let Some(req) = self.req_of(rqst) else {
            sunrpc::warn_once(c_str!("free_slot of a foreign rqst"));
            return;
        };
        // SAFETY: the RPC layer owns the rqst until this call.
        let Some(owner) = (unsafe { (*req.rpc.get()).take() }) else {
            sunrpc::warn_once(c_str!("free_slot of an unowned rqst"));
            return;
        };
        match req.kref.put_rpc(owner) {
            Ok(Some(released)) => self.release(released),
            Ok(None) => {}
            Err(_) => sunrpc::warn_once(c_str!("req refcount underflow")),
        }
    }
}
