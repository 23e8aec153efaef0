// SPDX-License-Identifier: GPL-2.0

//! The entry points sunrpc calls (`transport.c`): the class's `setup`
//! (through the C shim `xprs_class_setup`), the `xprs_op_*` functions the
//! C table `xprs_ops` in `rust/helpers.c` points at, and the body of the
//! connect worker. Each finds its [`Transport`] from the `rpc_xprt`, the
//! task or the rqst it is given; `Documentation/ops-table.md` maps them
//! to the C client's ops.

use crate::bindings;
use crate::sunrpc::{Xprt, XprtLocked};
use core::sync::atomic::Ordering;
use kernel::prelude::*;

use super::backchannel::BC_SLOTS;
use super::{errno, Config, Transport, MAX_DATA_SEGS};

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

#[no_mangle]
extern "C" fn xprs_op_alloc_slot(xprt: *mut bindings::rpc_xprt, task: *mut bindings::rpc_task) {
    // SAFETY: sunrpc calls ops only on live transports of this class.
    unsafe { Transport::of(xprt) }.alloc_slot(task)
}

#[no_mangle]
extern "C" fn xprs_op_free_slot(xprt: *mut bindings::rpc_xprt, rqst: *mut bindings::rpc_rqst) {
    // SAFETY: as above.
    unsafe { Transport::of(xprt) }.free_slot(rqst)
}

#[no_mangle]
extern "C" fn xprs_op_buf_alloc(task: *mut bindings::rpc_task) -> i32 {
    // SAFETY: the task holds a rqst of a live transport of this class.
    let t = unsafe { Transport::of((*(*task).tk_rqstp).rq_xprt) };
    ret(t.buf_alloc(task))
}

#[no_mangle]
extern "C" fn xprs_op_buf_free(task: *mut bindings::rpc_task) {
    // SAFETY: as above.
    let t = unsafe { Transport::of((*(*task).tk_rqstp).rq_xprt) };
    t.buf_free(task)
}

#[no_mangle]
extern "C" fn xprs_op_send_request(rqst: *mut bindings::rpc_rqst) -> i32 {
    // SAFETY: the rqst belongs to a live transport of this class.
    let t = unsafe { Transport::of((*rqst).rq_xprt) };
    // SAFETY: sunrpc calls `->send_request` only from
    // `xprt_request_transmit()`, which `xprt_transmit()` runs for the task
    // that took XPRT_LOCKED in `xprt_prepare_transmit()` (Calls in
    // `call_transmit()`, callback replies in `call_bc_transmit()`) and
    // releases it after; this is the call's only token.
    let mut held = unsafe { XprtLocked::new(&t.xprt) };
    ret(t.send_request(rqst, &mut held))
}

#[no_mangle]
extern "C" fn xprs_op_close(xprt: *mut bindings::rpc_xprt) {
    // SAFETY: as above.
    let t = unsafe { Transport::of(xprt) };
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
    let t = unsafe { Transport::of(xprt) };
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
    let t = unsafe { Transport::of((*rqst).rq_xprt) };
    t.bc_free_rqst(rqst);
}

#[no_mangle]
extern "C" fn xprs_op_inject_disconnect(xprt: *mut bindings::rpc_xprt) {
    // SAFETY: as above.
    unsafe { Transport::of(xprt) }.inject_disconnect()
}

#[no_mangle]
extern "C" fn xprs_op_connect(xprt: *mut bindings::rpc_xprt, task: *mut bindings::rpc_task) {
    // SAFETY: as above.
    let t = unsafe { Transport::of(xprt) };
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
    let t = unsafe { Transport::of(xprt) };
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
    unsafe { Transport::of(xprt) }.mr_refresh_worker()
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
    unsafe { Transport::of(xprt) }.print_stats(seq)
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
