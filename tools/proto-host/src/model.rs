// SPDX-License-Identifier: GPL-2.0

//! Loom model of the req lifetime: reply completion, Send completion with
//! the sendctx ring walk, `free_slot`, marshal failure and the disconnect
//! drain, run concurrently on the real `ReqRef` and `SendCtxRing` code.
//!
//! Besides the protocol state, the model keeps ghost state the hardware and
//! the RPC layer would have: which send buffers the HCA may still read
//! (`hw`, per ring slot), which req owns which rep, how many MRs are
//! registered, and where each req lives. It asserts, at the points where
//! the kernel asserts them:
//!
//! - no double release, and no release while a Send owner exists or the
//!   HCA may still read the req's send buffer (I4);
//! - every req returns to exactly one pool exactly once per release;
//! - I1, I2, I3 on the reply path, I5 at slot allocation and `free_slot`,
//!   I6 at quiescence and I7 at every routing.
//!
//! Lock order: `send` before `ghost`. Every test prints how many
//! interleavings loom explored, for `tools/check.sh` to add up.

use crate::proto::lifetime::*;
use crate::proto::sendctx::*;
use loom::sync::atomic::AtomicU32;
use loom::sync::{Arc, Mutex};
use loom::thread;

type Req = ReqRef<AtomicU32>;

/// Ring slots: enough for every model, small enough to keep them quick.
const RING_SLOTS: usize = 4;

/// Preemption bound used when `LOOM_MAX_PREEMPTIONS` is not set.
const DEFAULT_PREEMPTIONS: usize = 5;

#[derive(Default)]
struct ReqGhost {
    /// The RPC layer holds the req.
    rpc_owned: bool,
    /// Released and not routed yet.
    released: bool,
    releases: u32,
    routes: u32,
    /// `rl_reply` is set.
    reply: bool,
    /// The rep holding the reply has `rr_rqst` set.
    rep_attached: bool,
    /// MRs on `rl_registered`.
    registered_mrs: u32,
    /// A backchannel (bc_prealloc) req.
    backchannel: bool,
}

struct Ghost {
    reqs: Vec<ReqGhost>,
    /// Per ring slot: whose send buffer the HCA may still read.
    hw: [Option<ReqId>; RING_SLOTS],
    free: Vec<Pooled>,
    bc_list: Vec<Pooled>,
    /// A task sleeps on the backlog waiting for a req.
    backlog_waiting: bool,
}

impl Ghost {
    fn in_pool(&self, id: ReqId) -> (bool, bool) {
        (
            self.free.iter().any(|p| p.req() == id),
            self.bc_list.iter().any(|p| p.req() == id),
        )
    }
}

struct World {
    reqs: Vec<Req>,
    send: Mutex<SendCtxRing<Vec<Slot>, Vec<core::sync::atomic::AtomicU32>>>,
    ghost: Mutex<Ghost>,
}

fn idx(id: ReqId) -> usize {
    id.0 as usize
}

impl World {
    /// Creates `n` reqs; those whose bit is set in `bc_mask` live on the
    /// backchannel list.
    fn new(n: u32, bc_mask: u32) -> Arc<Self> {
        let mut ghost = Ghost {
            reqs: (0..n).map(|_| ReqGhost::default()).collect(),
            hw: [None; RING_SLOTS],
            free: Vec::new(),
            bc_list: Vec::new(),
            backlog_waiting: false,
        };
        let reqs = (0..n)
            .map(|i| {
                let bc = bc_mask & (1 << i) != 0;
                let pool = if bc { Pool::Backchannel } else { Pool::Free };
                let (req, pooled) = Req::new(ReqId(i), pool);
                ghost.reqs[i as usize].backchannel = bc;
                if bc {
                    ghost.bc_list.push(pooled);
                } else {
                    ghost.free.push(pooled);
                }
                req
            })
            .collect();
        Arc::new(World {
            reqs,
            send: Mutex::new(SendCtxRing::new(
                (0..RING_SLOTS).map(|_| None).collect(),
                // The ring's counts, only touched under the mutex: plain
                // atomics, not loom's.
                (0..n).map(|_| core::sync::atomic::AtomicU32::new(0)).collect(),
            )),
            ghost: Mutex::new(ghost),
        })
    }

    fn req(&self, id: ReqId) -> &Req {
        &self.reqs[idx(id)]
    }

    /// Slot allocation (`xprt_rdma_alloc_slot`, `rpcrdma_bc_rqst_get`).
    fn alloc(&self, id: ReqId) -> RpcOwner {
        let mut g = self.ghost.lock().unwrap();
        let list = if g.reqs[idx(id)].backchannel {
            &mut g.bc_list
        } else {
            &mut g.free
        };
        let at = list
            .iter()
            .position(|p| p.req() == id)
            .expect("req is pooled");
        let pooled = list.swap_remove(at);
        let rpc = match self.req(id).take(pooled) {
            Ok(rpc) => rpc,
            Err((_, e)) => panic!("I5 violated: req {id:?} left its pool: {e:?}"),
        };
        g.reqs[idx(id)].rpc_owned = true;
        g.reqs[idx(id)].registered_mrs = 1;
        rpc
    }

    /// `rpcrdma_marshal_req` that succeeds and posts a Send. Returns the
    /// ring slot. `needs_unmap` is true if the Send has DMA-mapped SGEs.
    fn marshal(&self, rpc: &RpcOwner, needs_unmap: bool) -> usize {
        let id = rpc.req();
        let mut ring = self.send.lock().unwrap();
        let claim = ring.claim().expect("ring has room");
        let slot = claim.slot();
        if cfg!(feature = "broken_send_ref_conditional") && !needs_unmap {
            // The pre-series bug: no Send-side reference unless SGEs need
            // unmapping. The Send is posted, but no owner holds the req.
            ring.cancel(claim);
        } else {
            let owner = self
                .req(id)
                .add_send(rpc)
                .expect("RPC owner holds a reference");
            ring.post(claim, owner).expect("claimed slot is empty");
        }
        // ib_post_send: from now on the HCA may read the send buffer.
        self.ghost.lock().unwrap().hw[slot] = Some(id);
        slot
    }

    /// `rpcrdma_marshal_req` failing after a sendctx was claimed: the
    /// sendctx is cancelled (and given back if `unget`) without touching
    /// the reference count.
    fn marshal_fails(&self, rpc: &RpcOwner, unget: bool) {
        let req = self.req(rpc.req());
        let before = req.count();
        let mut ring = self.send.lock().unwrap();
        let claim = ring.claim().expect("ring has room");
        if unget {
            ring.unget(claim).expect("claim is the head");
        } else {
            ring.cancel(claim);
        }
        drop(ring);
        // Only the RPC owner can change the count while it is held, and it
        // is held right here.
        assert_eq!(req.count(), before, "cancel changed the reference count");
    }

    /// Moves the HCA past the walked slots and drops the Send owners.
    fn release_sends(&self, owners: Vec<SendOwner>) {
        for owner in owners {
            let req = self.req(owner.req());
            match req.put_send(owner) {
                Ok(Some(released)) => self.release(released),
                Ok(None) => {}
                Err(e) => panic!("double release of a Send owner: {e:?}"),
            }
        }
    }

    /// Send completion for `slot` (`rpcrdma_wc_send`): walk the ring.
    fn send_completion(&self, slot: usize) {
        let mut ring = self.send.lock().unwrap();
        let mut owners = Vec::new();
        let mut walked = Vec::new();
        let mut cur = ring.tail();
        while cur != slot {
            cur = ring.next(cur);
            walked.push(cur);
        }
        ring.complete(slot, |o| owners.push(o))
            .expect("completed slot is active");
        {
            // The HCA is done with every walked Send.
            let mut g = self.ghost.lock().unwrap();
            for s in walked {
                g.hw[s] = None;
            }
        }
        drop(ring);
        self.release_sends(owners);
    }

    /// Disconnect (`rpcrdma_xprt_disconnect`): the QP is drained, so the
    /// HCA reads no send buffer any more; then `rpcrdma_sendctxs_destroy`
    /// releases the Send owners that no signaled completion walked.
    fn disconnect(&self) {
        let mut ring = self.send.lock().unwrap();
        self.ghost.lock().unwrap().hw = [None; RING_SLOTS];
        let mut owners = Vec::new();
        ring.drain(|o| owners.push(o));
        drop(ring);
        self.release_sends(owners);
    }

    /// A reply arrives and completes the RPC (`rpcrdma_reply_handler` ->
    /// invalidation -> `rpcrdma_complete_rqst`). It changes no reference.
    fn reply(&self, id: ReqId) {
        let mut g = self.ghost.lock().unwrap();
        let r = &mut g.reqs[idx(id)];
        assert!(r.rpc_owned, "reply for a req the RPC layer does not hold");
        r.reply = true;
        r.rep_attached = true;
        // frwr_reminv / frwr_unmap_async invalidate and unmap the MRs.
        r.registered_mrs = 0;
        assert!(i3_mrs_fenced(r.registered_mrs), "I3 violated");
    }

    /// `xprt_rdma_free_slot` / `xprt_rdma_bc_free_rqst`.
    fn free_slot(&self, rpc: RpcOwner) {
        let id = rpc.req();
        let req = self.req(id);
        assert!(
            i5_owned_req_counted(req.count()),
            "I5 violated: owned req uncounted"
        );
        {
            let mut g = self.ghost.lock().unwrap();
            let r = &mut g.reqs[idx(id)];
            // rpcrdma_reply_put(): detach the rep, then return it.
            r.reply = false;
            assert!(i2_reply_detached(r.reply), "I2 violated");
            r.rep_attached = false;
            // rpcrdma_post_recvs() pulls the rep off the free list.
            assert!(i1_rep_postable(r.rep_attached), "I1 violated");
            // MRs of an RPC that ended without a reply are unmapped too.
            r.registered_mrs = 0;
            r.rpc_owned = false;
        }
        match req.put_rpc(rpc) {
            Ok(Some(released)) => self.release(released),
            Ok(None) => {}
            Err(e) => panic!("double release of the RPC owner: {e:?}"),
        }
    }

    /// `rpcrdma_req_release`: checks I4 and I7, then routes the req.
    fn release(&self, released: Released) {
        let id = released.req();
        let req = self.req(id);
        let ring = self.send.lock().unwrap();
        // The kernel's I4 probe: the ring's O(1) count of the req's owners,
        // which must agree with a walk of every slot.
        let owners_in_ring = ring.owners_of(id) as usize;
        assert_eq!(owners_in_ring, ring.count_owners(|o| o.req() == id));
        let mut g = self.ghost.lock().unwrap();
        drop(ring);
        let hw_reading = g.hw.contains(&Some(id));
        assert!(
            i4_send_released(owners_in_ring > 0 || hw_reading),
            "I4 violated: req {id:?} released while a Send still uses it \
             (owners in ring: {owners_in_ring}, HCA may read its buffer: {hw_reading})"
        );
        let (in_free, in_bc) = g.in_pool(id);
        let r = &mut g.reqs[idx(id)];
        assert!(!r.released, "double release of req {id:?}");
        assert!(
            i7_single_home(r.rpc_owned, in_free, in_bc, true, 0),
            "I7 violated: released req {id:?} still has a home"
        );
        r.releases += 1;
        r.routes += 1;
        if r.backchannel {
            let pooled = req
                .to_pool(released, Pool::Backchannel)
                .expect("released req re-arms");
            g.bc_list.push(pooled);
        } else if g.backlog_waiting {
            g.backlog_waiting = false;
            let rpc = req.to_backlog(released).expect("released req re-arms");
            g.reqs[idx(id)].rpc_owned = true;
            drop(g);
            // The woken task gives up at once (say, a signal).
            self.free_slot(rpc);
        } else {
            let pooled = req
                .to_pool(released, Pool::Free)
                .expect("released req re-arms");
            g.free.push(pooled);
        }
    }

    /// Quiescent checks: every req is back, armed, in exactly one pool,
    /// released as often as routed, and the ring holds nothing.
    fn finish(&self, expected_routes: &[u32]) {
        let ring = self.send.lock().unwrap();
        assert!(ring.i7_owners_in_active_range());
        assert!(ring.i4_counts_match());
        let g = self.ghost.lock().unwrap();
        for (i, req) in self.reqs.iter().enumerate() {
            let id = ReqId(i as u32);
            let r = &g.reqs[i];
            let homes = g
                .free
                .iter()
                .chain(&g.bc_list)
                .filter(|p| p.req() == id)
                .count();
            assert_eq!(homes, 1, "req {id:?} is in {homes} pools");
            let (in_free, in_bc) = g.in_pool(id);
            assert!(i7_single_home(r.rpc_owned, in_free, in_bc, r.released, 0));
            assert_eq!(r.releases, r.routes);
            assert_eq!(
                r.routes, expected_routes[i],
                "req {id:?} routed {} times",
                r.routes
            );
            let owners = ring.count_owners(|o| o.req() == id) as u32;
            assert!(
                i6_count_matches(req.count(), true, owners),
                "I6 violated for {id:?}"
            );
            assert_eq!(owners, 0);
            assert!(i5_pooled_req_idle(req.count()));
            assert_eq!(
                in_bc, r.backchannel,
                "req {id:?} returned to the wrong pool"
            );
        }
        assert!(g.hw.iter().all(Option::is_none));
    }
}

/// Runs `model` under loom and prints the number of interleavings.
fn explore(name: &str, model: impl Fn() + Sync + Send + 'static) {
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = runs.clone();
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(DEFAULT_PREEMPTIONS);
    }
    let bound = builder.preemption_bound;
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        model();
    });
    println!(
        "loom {name}: {} interleavings (preemption bound {bound:?})",
        runs.load(std::sync::atomic::Ordering::Relaxed)
    );
}

/// One RPC: its reply races its own Send completion, and `free_slot`
/// follows the reply. The Send uses only pre-registered buffers
/// (`needs_unmap == false`), the case the pre-series code got wrong.
#[test]
fn reply_races_send_completion() {
    explore("reply_races_send_completion", || {
        let w = World::new(1, 0);
        let rpc = w.alloc(ReqId(0));
        let slot = w.marshal(&rpc, false);
        let cq = {
            let w = w.clone();
            thread::spawn(move || w.send_completion(slot))
        };
        let rpc_task = {
            let w = w.clone();
            thread::spawn(move || {
                w.reply(ReqId(0));
                w.free_slot(rpc);
            })
        };
        cq.join().unwrap();
        rpc_task.join().unwrap();
        w.finish(&[1]);
    });
}

/// Two RPCs: the first Send is unsignaled, the second signaled; one
/// completion walks both, racing both `free_slot`s.
#[test]
fn signaled_completion_walks_unsignaled_send() {
    explore("signaled_completion_walks_unsignaled_send", || {
        let w = World::new(2, 0);
        let a = w.alloc(ReqId(0));
        let b = w.alloc(ReqId(1));
        w.marshal(&a, false);
        let signaled = w.marshal(&b, true);
        let cq = {
            let w = w.clone();
            thread::spawn(move || w.send_completion(signaled))
        };
        let task_a = {
            let w = w.clone();
            thread::spawn(move || {
                w.reply(ReqId(0));
                w.free_slot(a);
            })
        };
        w.reply(ReqId(1));
        w.free_slot(b);
        cq.join().unwrap();
        task_a.join().unwrap();
        w.finish(&[1, 1]);
    });
}

/// Disconnect: the last Sends were unsignaled, so only the drain releases
/// their owners, racing `free_slot` of a regular req and
/// `bc_free_rqst` of a backchannel req.
#[test]
fn disconnect_drain_races_free_slot() {
    explore("disconnect_drain_races_free_slot", || {
        let w = World::new(2, 0b10);
        let a = w.alloc(ReqId(0));
        let bc = w.alloc(ReqId(1));
        w.marshal(&a, false);
        w.marshal(&bc, false);
        let teardown = {
            let w = w.clone();
            thread::spawn(move || w.disconnect())
        };
        let task_a = {
            let w = w.clone();
            thread::spawn(move || w.free_slot(a))
        };
        // bc_free_rqst: the drained bc req must come back to bc_pa_list.
        w.free_slot(bc);
        teardown.join().unwrap();
        task_a.join().unwrap();
        w.finish(&[1, 1]);
    });
}

/// Marshal failure on one req while another's Send completes; a task
/// waits on the backlog, so whichever req is released first is handed to
/// it and comes back once more.
fn marshal_failure_and_backlog(unget: bool) {
    let w = World::new(2, 0);
    let a = w.alloc(ReqId(0));
    let b = w.alloc(ReqId(1));
    w.ghost.lock().unwrap().backlog_waiting = true;
    let task_b = {
        let w = w.clone();
        thread::spawn(move || {
            w.marshal_fails(&b, unget);
            // The RPC gives up: its slot is freed without a Send.
            w.free_slot(b);
        })
    };
    let slot = w.marshal(&a, true);
    let cq = {
        let w = w.clone();
        thread::spawn(move || w.send_completion(slot))
    };
    w.reply(ReqId(0));
    w.free_slot(a);
    task_b.join().unwrap();
    cq.join().unwrap();
    // Whichever req reached the backlog waiter was routed twice.
    let g = w.ghost.lock().unwrap();
    let routes = [g.reqs[0].routes, g.reqs[1].routes];
    assert!(!g.backlog_waiting, "the backlog waiter was never woken");
    drop(g);
    assert_eq!(routes.iter().sum::<u32>(), 3);
    w.finish(&routes);
}

#[test]
fn marshal_cancel_and_backlog() {
    explore("marshal_cancel_and_backlog", || {
        marshal_failure_and_backlog(false)
    });
}

#[test]
fn marshal_unget_and_backlog() {
    explore("marshal_unget_and_backlog", || {
        marshal_failure_and_backlog(true)
    });
}
