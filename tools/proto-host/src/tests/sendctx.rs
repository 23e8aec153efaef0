// SPDX-License-Identifier: GPL-2.0

//! The sendctx ring and the Send signaling policy.

use crate::proto::lifetime::*;
use crate::proto::sendctx::*;
use core::sync::atomic::AtomicU32;

type Req = ReqRef<AtomicU32>;

/// Reqs with their RPC owners, ready to post Sends.
fn reqs(n: u32) -> Vec<(Req, RpcOwner)> {
    (0..n)
        .map(|i| {
            let (r, pooled) = Req::new(ReqId(i), Pool::Free);
            let rpc = r.take(pooled).unwrap();
            (r, rpc)
        })
        .collect()
}

/// Reqs a test ring counts owners for.
const RING_REQS: usize = 16;

type Ring = SendCtxRing<Vec<Slot>, Vec<AtomicU32>>;

fn ring(n: usize) -> Ring {
    SendCtxRing::new(
        (0..n).map(|_| None).collect(),
        (0..RING_REQS).map(|_| AtomicU32::new(0)).collect(),
    )
}

fn post(ring: &mut Ring, req: &(Req, RpcOwner)) -> usize {
    let claim = ring.claim().expect("ring has room");
    let slot = claim.slot();
    ring.post(claim, req.0.add_send(&req.1).unwrap()).unwrap();
    slot
}

#[test]
fn ring_holds_capacity_minus_one() {
    let rs = reqs(4);
    let mut ring = ring(4);
    assert_eq!(ring.capacity(), 4);
    for r in &rs[..3] {
        post(&mut ring, r);
    }
    assert_eq!(ring.in_flight(), 3);
    assert!(ring.claim().is_none());
    assert!(ring.i7_owners_in_active_range());
    assert_eq!(
        ring.drain(|o| drop(rs[o.req().0 as usize].0.put_send(o))),
        3
    );
}

#[test]
fn signaled_completion_releases_earlier_unsignaled_sends() {
    let rs = reqs(3);
    let mut ring = ring(8);
    let slots: Vec<_> = rs.iter().map(|r| post(&mut ring, r)).collect();
    assert_eq!(slots, [1, 2, 3]);
    let mut released = Vec::new();
    // Slot 2 is signaled: slots 1 and 2 complete.
    let n = ring.complete(2, |o| released.push(o)).unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        released.iter().map(|o| o.req()).collect::<Vec<_>>(),
        [ReqId(0), ReqId(1)]
    );
    assert_eq!((ring.tail(), ring.head()), (2, 3));
    assert_eq!(ring.count_owners(|o| o.req() == ReqId(2)), 1);
    assert_eq!(ring.count_owners(|_| true), 1);
    // A completion for a slot already walked is refused.
    assert_eq!(
        ring.complete(1, |_| {}),
        Err(RingError::NotActive { slot: 1 })
    );
    assert_eq!(
        ring.complete(5, |_| {}),
        Err(RingError::NotActive { slot: 5 })
    );
    assert_eq!(
        ring.complete(99, |_| {}),
        Err(RingError::NotActive { slot: 99 })
    );
    for o in released {
        let r = &rs[o.req().0 as usize].0;
        assert_eq!(r.put_send(o), Ok(None));
    }
    ring.drain(|o| drop(rs[o.req().0 as usize].0.put_send(o)));
    assert_eq!((ring.tail(), ring.head(), ring.in_flight()), (0, 0, 0));
}

#[test]
fn the_walk_wraps_around() {
    let rs = reqs(1);
    let mut ring = ring(3);
    for _ in 0..7 {
        let slot = post(&mut ring, &rs[0]);
        let mut got = 0;
        ring.complete(slot, |o| {
            got += 1;
            assert_eq!(rs[0].0.put_send(o), Ok(None));
        })
        .unwrap();
        assert_eq!(got, 1);
    }
    assert_eq!(rs[0].0.count(), 1);
}

#[test]
fn cancelled_slots_are_skipped() {
    let rs = reqs(2);
    let mut ring = ring(8);
    post(&mut ring, &rs[0]);
    // Marshal of req 1 fails after the slot was claimed: count untouched.
    let claim = ring.claim().unwrap();
    assert_eq!(claim.slot(), 2);
    ring.cancel(claim);
    assert_eq!(rs[1].0.count(), 1);
    let last = post(&mut ring, &rs[0]);
    let mut n = 0;
    assert_eq!(
        ring.complete(last, |o| {
            n += 1;
            drop(rs[0].0.put_send(o))
        }),
        Ok(2)
    );
    assert_eq!(n, 2);
    assert_eq!(ring.tail(), last);
}

#[test]
fn unget_returns_only_the_head_slot() {
    let rs = reqs(1);
    let mut ring = ring(4);
    let first = ring.claim().unwrap();
    let second = ring.claim().unwrap();
    let first = ring.unget(first).unwrap_err();
    ring.unget(second).unwrap();
    assert_eq!(ring.head(), 1);
    ring.post(first, rs[0].0.add_send(&rs[0].1).unwrap())
        .unwrap();
    assert_eq!(post(&mut ring, &rs[0]), 2);
    assert_eq!(ring.drain(|o| drop(rs[0].0.put_send(o))), 2);
    assert_eq!(rs[0].0.count(), 1);
}

#[test]
fn post_refuses_a_slot_that_left_the_ring() {
    let rs = reqs(1);
    let mut ring = ring(4);
    let claim = ring.claim().unwrap();
    assert_eq!(ring.drain(|_| panic!("nothing was posted")), 0);
    let owner = rs[0].0.add_send(&rs[0].1).unwrap();
    let owner = ring.post(claim, owner).unwrap_err();
    assert_eq!(rs[0].0.put_send(owner), Ok(None));
    // Rings too small to hold a Send never hand out a slot.
    assert!(self::ring(1).claim().is_none());
    assert!(self::ring(0).claim().is_none());
}

#[test]
fn drain_releases_trailing_unsignaled_sends() {
    let rs = reqs(3);
    let mut ring = ring(8);
    let s0 = post(&mut ring, &rs[0]);
    post(&mut ring, &rs[1]);
    post(&mut ring, &rs[2]);
    ring.complete(s0, |o| drop(rs[0].0.put_send(o))).unwrap();
    // The last two Sends were unsignaled and no later completion came.
    let mut who = Vec::new();
    assert_eq!(
        ring.drain(|o| {
            who.push(o.req());
            drop(rs[o.req().0 as usize].0.put_send(o))
        }),
        2
    );
    assert_eq!(who, [ReqId(1), ReqId(2)]);
    assert!(rs.iter().all(|(r, _)| r.count() == 1));
    assert!(ring.i7_owners_in_active_range());
}

#[test]
fn signal_policy_matches_frwr_send() {
    // 32 credits: a batch of 4 unsignaled WRs.
    let mut p = SignalPolicy::new(32);
    let pattern: Vec<bool> = (0..10).map(|_| p.signal(false, 1)).collect();
    assert_eq!(
        pattern,
        // The first batch is 4 WRs; after a signaled Send, C refills the
        // budget with min(batch, num_wrs - budget), here 1.
        [false, false, false, false, true, false, true, false, true, false]
    );
    // DMA-mapped SGEs force a signal.
    let mut p = SignalPolicy::new(32);
    assert!(p.signal(true, 1));
    // C wraps num_wrs - budget when unmapping with budget left: the
    // budget becomes the whole batch.
    assert!(!p.signal(false, 1));
    // A chain longer than the budget is signaled.
    let mut p = SignalPolicy::new(32);
    assert!(p.signal(false, 5));
    assert!(!p.signal(false, 1));
    // Fewer than 8 credits: every Send is signaled.
    let mut p = SignalPolicy::new(7);
    assert!((0..5).all(|_| p.signal(false, 1)));
}

#[test]
fn pool_slack() {
    assert_eq!(req_pool_slack(0), 0);
    assert_eq!(req_pool_slack(1), 1);
    assert_eq!(req_pool_slack(8), 1);
    assert_eq!(req_pool_slack(9), 2);
    assert_eq!(req_pool_slack(128), 16);
}

#[test]
fn owners_are_counted_per_req_where_the_ring_takes_and_drops_them() {
    let rs = reqs(3);
    let mut ring = ring(8);
    let s0 = post(&mut ring, &rs[0]);
    post(&mut ring, &rs[1]);
    // A req with two Sends in the ring (a backchannel reply, a resend).
    let s2 = post(&mut ring, &rs[0]);
    post(&mut ring, &rs[2]);
    assert_eq!(ring.owners_of(ReqId(0)), 2);
    assert_eq!(ring.owners_of(ReqId(1)), 1);
    assert!(ring.i4_counts_match());
    ring.complete(s0, |o| drop(rs[o.req().0 as usize].0.put_send(o)))
        .unwrap();
    assert_eq!(ring.owners_of(ReqId(0)), 1);
    ring.complete(s2, |o| drop(rs[o.req().0 as usize].0.put_send(o)))
        .unwrap();
    assert_eq!(ring.owners_of(ReqId(0)), 0);
    assert_eq!(ring.owners_of(ReqId(1)), 0);
    assert_eq!(ring.owners_of(ReqId(2)), 1);
    assert!(ring.i4_counts_match());
    ring.drain(|o| drop(rs[o.req().0 as usize].0.put_send(o)));
    assert_eq!(ring.owners_of(ReqId(2)), 0);
    // A req the ring keeps no count for, and ids beyond any: never held.
    assert_eq!(ring.owners_of(ReqId(RING_REQS as u32)), 0);
    assert_eq!(ring.owners_of(ReqId(u32::MAX)), 0);
    assert!(ring.i4_counts_match());
}

#[test]
fn post_refuses_an_owner_of_a_req_it_does_not_count() {
    let (r, pooled) = Req::new(ReqId(RING_REQS as u32), Pool::Free);
    let rpc = r.take(pooled).unwrap();
    let mut ring = ring(4);
    let claim = ring.claim().unwrap();
    let owner = ring.post(claim, r.add_send(&rpc).unwrap()).unwrap_err();
    assert_eq!(r.put_send(owner), Ok(None));
    assert_eq!(ring.count_owners(|_| true), 0);
    assert!(ring.i4_counts_match());
    assert!(r.put_rpc(rpc).unwrap().is_some());
}

#[test]
fn bounded_walks_release_in_order_and_finish_where_one_walk_would() {
    let rs = reqs(7);
    let mut ring = ring(8);
    let slots: Vec<_> = rs[..5].iter().map(|r| post(&mut ring, r)).collect();
    // A cancelled Send between them: its slot holds no owner.
    let claim = ring.claim().unwrap();
    let cancelled = claim.slot();
    ring.cancel(claim);
    post(&mut ring, &rs[5]);
    let mut who = Vec::new();
    let mut rounds = 0;
    // Slot 4 (the fourth Send) is signaled; two owners per walk.
    loop {
        rounds += 1;
        let mut n = 0;
        let done = ring
            .complete_some(slots[3], 2, |o| {
                n += 1;
                who.push(o.req());
                drop(rs[o.req().0 as usize].0.put_send(o));
            })
            .unwrap();
        assert!(n <= 2);
        assert!(ring.i4_counts_match());
        if done {
            break;
        }
    }
    assert_eq!(rounds, 2);
    assert_eq!(who, [ReqId(0), ReqId(1), ReqId(2), ReqId(3)]);
    assert_eq!(ring.tail(), slots[3]);
    // Exactly `max` owners left: the walk ends in one call, over the
    // cancelled slot too.
    let mut n = 0;
    assert!(ring.drain_some(2, |o| {
        n += 1;
        drop(rs[o.req().0 as usize].0.put_send(o));
    }));
    assert_eq!(n, 2);
    assert!(cancelled > slots[4]);
    assert_eq!((ring.tail(), ring.head()), (0, 0));
    assert_eq!(ring.count_owners(|_| true), 0);
    assert!(ring.i4_counts_match());
    // A walk to a slot outside the active range is refused.
    assert!(ring.complete_some(3, 2, |_| {}).is_err());
}
