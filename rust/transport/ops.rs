// SPDX-License-Identifier: GPL-2.0

#![allow(unsafe_code)]

//! The entry points sunrpc calls (`transport.c`): the class's `setup`
//! (through the C shim `xprs_class_setup`), the `xprs_op_*` functions the
//! C table `xprs_ops` in `rust/helpers.c` points at, and the body of the
//! connect worker. `Documentation/ops-table.md` maps them to the C
//! client's ops.
//!
//! This is the adapter between sunrpc's pointers and the typed views the
//! logic takes: each entry point finds its [`Transport`] from the
//! `rpc_xprt`, the task or the rqst it is given ([`transport_of`]), wraps
//! the task or rqst ([`Task`], [`Rqst`]), makes the [`XprtLocked`] token of
//! an op that runs under `XPRT_LOCKED`, and the [`ReqKey`] of an op sunrpc
//! calls for the owner of a rqst. Each of those steps is an `unsafe`
//! whose proof is the sunrpc path that calls the op.

use crate::bindings;
use crate::sunrpc::{Rqst, SeqFile, Task, Xprt, XprtLocked};
use core::sync::atomic::Ordering;
use kernel::c_str;
use kernel::prelude::*;

use super::backchannel::BC_SLOTS;
use super::{errno, Config, ReqKey, Transport, MAX_DATA_SEGS};

/// Returns the transport state of `xprt`.
///
/// # Safety
///
/// `xprt` must be a transport created by [`xprs_setup`] and not destroyed
/// during `'a`.
unsafe fn transport_of<'a>(xprt: *mut bindings::rpc_xprt) -> &'a Transport {
    // SAFETY: setup stored a leaked `Pin<KBox<Transport>>` as the private
    // pointer; it is freed only by destroy, after `'a` (guaranteed by the
    // caller).
    unsafe { &*bindings::xprs_xprt_priv(xprt).cast::<Transport>() }
}

/// Returns the key of `rqst`'s req, for an op sunrpc calls for the
/// rqst's owner; None when `rqst` is not one of `t`'s.
///
/// # Safety
///
/// The op's context has the req's turn until the key is dropped (type
/// invariant of [`Req`](super::Req)): sunrpc calls the op for the task
/// that owns the rqst, and no reply handler or LOCAL_INV completion is
/// the req's user meanwhile.
unsafe fn owner_key<'a>(t: &'a Transport, rqst: &Rqst<'_>) -> Option<ReqKey<'a>> {
    let req = t.req_of(rqst.as_ptr())?;
    // SAFETY: guaranteed by the caller.
    Some(unsafe { req.key() })
}

/// The class's `setup` (`xprt_setup_rdma()`), called by sunrpc through the
/// C shim `xprs_class_setup`.
#[no_mangle]
extern "C" fn xprs_setup(
    args: *mut bindings::xprt_create,
    out: *mut *mut bindings::rpc_xprt,
) -> core::ffi::c_int {
    // SAFETY: sunrpc passes valid creation arguments.
    let args = unsafe { &*args };
    match setup(args) {
        Ok(xprt) => {
            // SAFETY: `out` is the shim's local.
            unsafe { *out = xprt };
            0
        }
        Err(e) => errno(e),
    }
}

fn setup(args: &bindings::xprt_create) -> Result<*mut bindings::rpc_xprt> {
    let cfg = Config::from_params()?;
    let mut new = Xprt::alloc(args, cfg.max_requests)?;
    let t = match Transport::new(new.xprt(), cfg) {
        Ok(t) => t,
        Err(e) => {
            new.free();
            return Err(e);
        }
    };
    // SAFETY: the transport is never moved out of its box; destroy turns
    // the pointer back into the box.
    let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(t) });
    new.set_priv(raw.cast());
    new.set_max_payload((MAX_DATA_SEGS as usize) << kernel::page::PAGE_SHIFT);
    Ok(new.publish())
}

/// Turns a Rust result into the `int` sunrpc expects.
fn ret(r: Result) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => errno(e),
    }
}

/// Turns a `->free_slot`, or `->bc_free_rqst`, rqst into its req's key.
///
/// # Safety
///
/// `rqst` is a live rqst of `t` that sunrpc is releasing: `xprt_release()`
/// calls `->free_slot` after `xprt_request_dequeue_xprt()` took the rqst
/// off the receive queue and waited until it was unpinned, and the
/// callback service calls `->bc_free_rqst` when it is done with the rqst
/// we queued (no reply handler or LOCAL_INV completion is the req's user
/// then); the RPC layer does not use it again.
unsafe fn releasing_key<'a>(t: &'a Transport, rqst: *mut bindings::rpc_rqst) -> Option<ReqKey<'a>> {
    // SAFETY: guaranteed by the caller: the op runs for the rqst's owner,
    // which lets go of it here.
    let rqst = unsafe { Rqst::from_raw(rqst) };
    // SAFETY: as above: the releasing owner's context has the req's turn.
    let key = rqst.and_then(|rqst| unsafe { owner_key(t, &rqst) });
    if key.is_none() {
        crate::sunrpc::warn_once(c_str!("free_slot of a foreign rqst"));
    }
    key
}

#[no_mangle]
extern "C" fn xprs_op_alloc_slot(xprt: *mut bindings::rpc_xprt, task: *mut bindings::rpc_task) {
    // SAFETY: sunrpc calls ops only on live transports of this class.
    let t = unsafe { transport_of(xprt) };
    // SAFETY: `xprt_do_reserve()` calls `->alloc_slot` from the task that
    // needs a slot, which owns its `tk_rqstp` and `tk_status`.
    if let Some(task) = unsafe { Task::from_raw(task) } {
        t.alloc_slot(&task)
    }
}

#[no_mangle]
extern "C" fn xprs_op_free_slot(xprt: *mut bindings::rpc_xprt, rqst: *mut bindings::rpc_rqst) {
    // SAFETY: as above.
    let t = unsafe { transport_of(xprt) };
    // SAFETY: `->free_slot` is called from `xprt_release()` (see
    // `releasing_key`), or by sunrpc for a rqst it never used.
    if let Some(key) = unsafe { releasing_key(t, rqst) } {
        t.free_slot(key)
    }
}

#[no_mangle]
extern "C" fn xprs_op_buf_alloc(task: *mut bindings::rpc_task) -> i32 {
    // SAFETY: `call_allocate()` calls `->buf_alloc` from the task, which
    // holds its rqst.
    let Some(rqst) = unsafe { Task::from_raw(task) }.and_then(|task| task.rqst()) else {
        return errno(EINVAL);
    };
    // SAFETY: the task holds a rqst of a live transport of this class.
    let t = unsafe { transport_of(rqst.xprt_ptr()) };
    // SAFETY: `call_allocate()` runs for the rqst's owner before the Call
    // is encoded, once per rqst (it skips a rqst with a buffer): the rqst
    // is not on the receive queue, so no reply handler can claim its req.
    let Some(mut key) = (unsafe { owner_key(t, &rqst) }) else {
        return errno(EINVAL);
    };
    ret(t.buf_alloc(&rqst, &mut key))
}

#[no_mangle]
extern "C" fn xprs_op_buf_free(task: *mut bindings::rpc_task) {
    // SAFETY: `xprt_release()` calls `->buf_free` from the task, which
    // holds its rqst.
    let Some(rqst) = unsafe { Task::from_raw(task) }.and_then(|task| task.rqst()) else {
        return;
    };
    // SAFETY: the task holds a rqst of a live transport of this class.
    let t = unsafe { transport_of(rqst.xprt_ptr()) };
    // SAFETY: `xprt_release()` calls `->buf_free` after
    // `xprt_request_dequeue_xprt()` took the rqst off the receive queue and
    // waited until it was unpinned: no reply handler or LOCAL_INV chain of
    // a Reply is the req's user any more, and the task is.
    if let Some(key) = unsafe { owner_key(t, &rqst) } {
        t.buf_free(key)
    }
}

#[no_mangle]
extern "C" fn xprs_op_send_request(rqst: *mut bindings::rpc_rqst) -> i32 {
    // SAFETY: `xprt_request_transmit()` calls `->send_request` for the
    // task that owns the rqst (or, for a callback reply, the callback
    // service's task that owns our backchannel rqst).
    let Some(rqst) = (unsafe { Rqst::from_raw(rqst) }) else {
        return errno(EINVAL);
    };
    // SAFETY: the rqst belongs to a live transport of this class.
    let t = unsafe { transport_of(rqst.xprt_ptr()) };
    // SAFETY: sunrpc calls `->send_request` only from
    // `xprt_request_transmit()`, which `xprt_transmit()` runs for the task
    // that took XPRT_LOCKED in `xprt_prepare_transmit()` (Calls in
    // `call_transmit()`, callback replies in `call_bc_transmit()`) and
    // releases it after; this is the call's only token.
    let mut held = unsafe { XprtLocked::new(&t.xprt) };
    // SAFETY: `xprt_request_transmit()` runs for the task that owns the
    // rqst. A reply handler is the req's user only from its claim of a
    // SENT req until it completes or unpins the rqst, and `send_request`
    // marshals only after moving the phase from anything but REPLIED to
    // MARSHALING, which excludes that claim; a callback reply's rqst is
    // never on the receive queue, so no Reply claims it. `send_request`
    // touches the req's state only after that phase change (or, for a
    // callback reply, at all).
    let key = unsafe { owner_key(t, &rqst) };
    ret(t.send_request(&rqst, key, &mut held))
}

#[no_mangle]
extern "C" fn xprs_op_close(xprt: *mut bindings::rpc_xprt) {
    // SAFETY: as above.
    let t = unsafe { transport_of(xprt) };
    // SAFETY: sunrpc calls `->close` only from `xprt_autoclose()`, the
    // `task_cleanup` work that `xprt_schedule_autoclose_locked()` and
    // `xprt_init_autodisconnect()` queue after setting XPRT_LOCKED, and
    // `xprt_clear_locked()` queues instead of clearing it; the work
    // releases the lock after `->close` returns. This is the call's only
    // token.
    let mut held = unsafe { XprtLocked::new(&t.xprt) };
    t.close(&mut held)
}

#[no_mangle]
extern "C" fn xprs_op_bc_setup(_xprt: *mut bindings::rpc_xprt, _min_reqs: u32) -> i32 {
    // The backchannel reqs were allocated with the transport.
    0
}

#[no_mangle]
extern "C" fn xprs_op_bc_maxpayload(xprt: *mut bindings::rpc_xprt) -> usize {
    // SAFETY: sunrpc passes one of our live transports.
    let t = unsafe { transport_of(xprt) };
    t.bc_max_payload.load(Ordering::Relaxed) as usize
}

#[no_mangle]
extern "C" fn xprs_op_bc_num_slots(_xprt: *mut bindings::rpc_xprt) -> u32 {
    BC_SLOTS
}

#[no_mangle]
extern "C" fn xprs_op_bc_free_rqst(rqst: *mut bindings::rpc_rqst) {
    // SAFETY: the rqst is one of our backchannel rqsts, whose `rq_xprt`
    // was set when the call arrived; the callback service holds a
    // reference on that transport until this call.
    let xprt = unsafe { (*rqst).rq_xprt };
    // SAFETY: as above: the transport is live until the `xprt_put` below.
    let t = unsafe { transport_of(xprt) };
    // SAFETY: the callback service is done with the rqst (see
    // `releasing_key`).
    if let Some(key) = unsafe { releasing_key(t, rqst) } {
        t.free_slot(key)
    }
    // SAFETY: drops the reference `xprs_bc_enqueue` took; nothing of the
    // transport is used after it.
    unsafe { bindings::xprt_put(xprt) };
}

#[no_mangle]
extern "C" fn xprs_op_inject_disconnect(xprt: *mut bindings::rpc_xprt) {
    // SAFETY: as above.
    unsafe { transport_of(xprt) }.inject_disconnect()
}

#[no_mangle]
extern "C" fn xprs_op_connect(xprt: *mut bindings::rpc_xprt, task: *mut bindings::rpc_task) {
    // SAFETY: as above.
    let t = unsafe { transport_of(xprt) };
    // SAFETY: `xprt_connect()` calls `->connect` only after
    // `xprt_lock_write()` made `task` the holder of XPRT_LOCKED, and
    // releases it after. `connect` consumes the token when it hands the
    // lock to the worker. This is the call's only token.
    let held = unsafe { XprtLocked::new(&t.xprt) };
    t.connect(task, held)
}

#[no_mangle]
extern "C" fn xprs_connect_worker(xprt: *mut bindings::rpc_xprt) {
    // SAFETY: destroy cancels the worker before freeing the transport.
    let t = unsafe { transport_of(xprt) };
    // SAFETY: only `XprtLocked::queue_connect` queues the worker, after
    // `xprt_lock_connect()` handed XPRT_LOCKED to this transport's cookie,
    // and consuming the token of the `->connect` that held it. sunrpc
    // releases a lock held for the cookie only in `xprt_unlock_connect()`,
    // which `connect_worker` calls last, consuming this token; until then
    // no other `->connect` runs, so the worker is not queued again.
    let held = unsafe { XprtLocked::new(&t.xprt) };
    t.connect_worker(held)
}

#[no_mangle]
extern "C" fn xprs_mr_refresh_worker(xprt: *mut bindings::rpc_xprt) {
    // SAFETY: destroy cancels the worker before freeing the transport.
    unsafe { transport_of(xprt) }.mr_refresh_worker()
}

#[no_mangle]
extern "C" fn xprs_op_set_connect_timeout(
    xprt: *mut bindings::rpc_xprt,
    connect_timeout: usize,
    reconnect_timeout: usize,
) {
    Xprt::from_raw(xprt).set_connect_timeout(connect_timeout, reconnect_timeout)
}

#[no_mangle]
extern "C" fn xprs_op_print_stats(xprt: *mut bindings::rpc_xprt, seq: *mut bindings::seq_file) {
    // SAFETY: as above.
    let t = unsafe { transport_of(xprt) };
    // SAFETY: `xprt_rdma_print_stats()`'s caller, the mountstats show
    // function, prints to `seq` for the duration of the call.
    let mut seq = unsafe { SeqFile::from_raw(seq) };
    t.print_stats(&mut seq)
}

#[no_mangle]
extern "C" fn xprs_op_destroy(xprt: *mut bindings::rpc_xprt) {
    let x = Xprt::from_raw(xprt);
    x.cancel_connect_sync();
    x.cancel_mr_refresh_sync();
    // SAFETY: setup stored the leaked box; nothing else runs on this
    // transport any more (sunrpc destroys it last), so this is the only
    // reference.
    let t = unsafe { KBox::from_raw(bindings::xprs_xprt_priv(xprt).cast::<Transport>()) };
    // SAFETY: `xprt_destroy()` took XPRT_LOCKED (`wait_on_bit_lock()`)
    // before it queued `xprt_destroy_cb()`, which calls `->destroy`; no
    // one releases it. This is the call's only token.
    let mut held = unsafe { XprtLocked::new(&t.xprt) };
    t.drop_endpoint(&mut held);
    t.account();
    drop(t);
    x.free();
}
