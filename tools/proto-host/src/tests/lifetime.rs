// SPDX-License-Identifier: GPL-2.0

//! Sequential checks of the two-owner req lifetime.

use crate::proto::lifetime::*;
use core::sync::atomic::AtomicU32;

type Req = ReqRef<AtomicU32>;

fn req(id: u32) -> (Req, Pooled) {
    Req::new(ReqId(id), Pool::Free)
}

#[test]
fn reply_before_send_completion() {
    let (r, pooled) = req(1);
    assert_eq!(r.count(), 1);
    assert_eq!((r.id(), pooled.req()), (ReqId(1), ReqId(1)));
    let rpc = r.take(pooled).unwrap();
    assert_eq!(rpc.req(), ReqId(1));
    let send = r.add_send(&rpc).unwrap();
    assert_eq!(r.count(), 2);
    assert!(i6_count_matches(r.count(), true, 1));
    // free_slot first: the Send still holds the req.
    assert_eq!(r.put_rpc(rpc), Ok(None));
    assert_eq!(r.count(), 1);
    assert!(i7_single_home(false, false, false, false, 1));
    let released = r.put_send(send).unwrap().expect("last owner releases");
    assert_eq!(released.req(), ReqId(1));
    let pooled = r.to_pool(released, Pool::Free).unwrap();
    assert_eq!(pooled.pool(), Pool::Free);
    assert_eq!(r.count(), 1);
    // Re-armed: the next consumer enters with I5 satisfied.
    let rpc = r.take(pooled).unwrap();
    let released = r.put_rpc(rpc).unwrap().unwrap();
    drop(r.to_pool(released, Pool::Free).unwrap());
}

#[test]
fn send_completion_before_free_slot() {
    let (r, pooled) = req(2);
    let rpc = r.take(pooled).unwrap();
    let send = r.add_send(&rpc).unwrap();
    assert_eq!(r.put_send(send), Ok(None));
    let released = r.put_rpc(rpc).unwrap().unwrap();
    // Handed straight to a backlog waiter, which now owns it.
    let rpc = r.to_backlog(released).unwrap();
    assert_eq!(r.count(), 1);
    assert!(i5_owned_req_counted(r.count()));
    let released = r.put_rpc(rpc).unwrap().unwrap();
    let pooled = r.to_pool(released, Pool::Backchannel).unwrap();
    assert_eq!(pooled.pool(), Pool::Backchannel);
    drop(r.take(pooled).unwrap());
}

#[test]
fn abort_between_allocation_and_marshal() {
    // gss_refresh failure: free_slot without any Send.
    let (r, pooled) = req(3);
    let rpc = r.take(pooled).unwrap();
    let released = r.put_rpc(rpc).unwrap().unwrap();
    assert_eq!(r.count(), 0);
    drop(r.to_pool(released, Pool::Free).unwrap());
}

#[test]
fn retransmit_holds_two_send_owners() {
    let (r, pooled) = req(4);
    let rpc = r.take(pooled).unwrap();
    let s1 = r.add_send(&rpc).unwrap();
    let s2 = r.add_send(&rpc).unwrap();
    assert!(i6_count_matches(r.count(), true, 2));
    assert_eq!(r.put_rpc(rpc), Ok(None));
    assert_eq!(r.put_send(s2), Ok(None));
    assert!(r.put_send(s1).unwrap().is_some());
}

#[test]
fn tokens_are_checked_against_their_req() {
    let (a, pa) = req(5);
    let (b, pb) = req(6);
    let (pa, err) = b.take(pa).unwrap_err();
    assert_eq!(err, LifetimeError::WrongReq);
    let ra = a.take(pa).unwrap();
    let rb = b.take(pb).unwrap();
    assert_eq!(b.add_send(&ra), Err(LifetimeError::WrongReq));
    assert_eq!(b.put_rpc(ra), Err(LifetimeError::WrongReq));
    // `ra` was consumed by the failed put: `a` still counts it.
    assert_eq!(a.count(), 1);
    let released = b.put_rpc(rb).unwrap().unwrap();
    let (released, err) = a.to_pool(released, Pool::Free).unwrap_err();
    assert_eq!(err, LifetimeError::WrongReq);
    let (released, err) = a.to_backlog(released).unwrap_err();
    assert_eq!(err, LifetimeError::WrongReq);
    drop(b.to_pool(released, Pool::Free).unwrap());
}

#[test]
fn i5_refuses_a_pooled_req_with_outstanding_send() {
    let (r, pooled) = req(7);
    // A second handle with the same identity models a req table mix-up
    // that took a Send reference on a pooled req.
    let (twin, twin_pooled) = req(7);
    let rpc = twin.take(twin_pooled).unwrap();
    let send = r.add_send(&rpc).unwrap();
    let (pooled, err) = r.take(pooled).unwrap_err();
    assert_eq!(err, LifetimeError::NotIdle { count: 2 });
    assert_eq!(r.put_send(send), Ok(None));
    let rpc2 = r.take(pooled).unwrap();
    drop((rpc, rpc2));
}

#[test]
fn count_misuse_is_reported_not_wrapped() {
    let (r, pooled) = req(8);
    let rpc = r.take(pooled).unwrap();
    let released = r.put_rpc(rpc).unwrap().unwrap();
    // Forged tokens stand for bugs elsewhere: the count is zero.
    let (_, forged) = req(8);
    let (forged_rpc_src, p2) = req(8);
    let forged_rpc = forged_rpc_src.take(p2).unwrap();
    assert_eq!(
        r.add_send(&forged_rpc),
        Err(LifetimeError::BadGet { count: 0 })
    );
    assert_eq!(r.put_rpc(forged_rpc), Err(LifetimeError::Underflow));
    let pooled = r.to_pool(released, Pool::Free).unwrap();
    let rpc = r.take(pooled).unwrap();
    let (again, p3) = req(8);
    let rel = again.put_rpc(again.take(p3).unwrap()).unwrap().unwrap();
    // Routing a req that something still counts is refused.
    assert_eq!(
        r.to_pool(rel, Pool::Free).unwrap_err().1,
        LifetimeError::NotReleased { count: 1 }
    );
    drop((forged, rpc));
}

#[test]
fn invariant_predicates() {
    assert!(i1_rep_postable(false) && !i1_rep_postable(true));
    assert!(i2_reply_detached(false) && !i2_reply_detached(true));
    assert!(i3_mrs_fenced(0) && !i3_mrs_fenced(1));
    assert!(i4_send_released(false) && !i4_send_released(true));
    assert!(i5_owned_req_counted(1) && !i5_owned_req_counted(0));
    assert!(i5_pooled_req_idle(1) && !i5_pooled_req_idle(2) && !i5_pooled_req_idle(0));
    assert!(i6_count_matches(3, true, 2) && !i6_count_matches(2, true, 2));
    assert!(!i6_count_matches(0, true, u32::MAX));
    assert!(i7_single_home(true, false, false, false, 3));
    assert!(i7_single_home(false, false, false, false, 1));
    assert!(!i7_single_home(false, false, false, false, 0));
    assert!(!i7_single_home(true, true, false, false, 0));
}
