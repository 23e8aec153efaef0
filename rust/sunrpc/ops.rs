// SPDX-License-Identifier: GPL-2.0

//! The transport's entry points, as `net/phy` and `block/mq` make a
//! driver's: a [`#[vtable]`](vtable) trait, [`XprtOps`], for what sunrpc
//! calls (`struct rpc_xprt_ops`, the class's `setup`, and the two works of
//! `struct xprs_xprt`), and [`Adapter`], which writes the `extern "C"`
//! trampolines once and builds the C table from the trait
//! ([`Adapter::TABLE`]).
//!
//! Each trampoline finds the transport's state from the `rpc_xprt`, the
//! task or the rqst it is given, and turns its pointers into the typed
//! views of `rqst` and `locked`: [`Task`], [`Rqst`], [`SeqFile`], the
//! [`XprtLocked`] token of an op that sunrpc calls under `XPRT_LOCKED`,
//! and the [`OwnerTurn`] or [`TransmitTurn`] of an op it calls for a
//! rqst's owner. Each of those steps is an `unsafe` whose proof is the
//! sunrpc path that calls the op (`net/sunrpc/xprt.c`, `clnt.c`,
//! `backchannel_rqst.c`, `stats.c`); the trait's methods are safe.
//!
//! The rest of the table is sunrpc's own helpers, as `xprt_rdma_procs`
//! has them (`xprt_reserve_xprt_cong()` and friends, `rpcb_getport_async()`),
//! and four short C functions of `rust/helpers.c` (`->timer`,
//! `->set_port`, `->enable_swap`, `->disable_swap`).

use super::{OwnerTurn, Rqst, SeqFile, SlotReturn, Task, TransmitTurn, Xprt, XprtLocked, XprtRef};
use crate::bindings;
use core::marker::PhantomData;
use kernel::ffi::{c_int, c_uint, c_ulong};
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};

/// What a transport of the class implements for sunrpc. The state it is
/// called on is the one its [`XprtOps::setup`] gave the `rpc_xprt`.
///
/// The backchannel ops are optional, and go together: sunrpc checks
/// `->bc_setup` before it uses the others.
#[vtable]
pub(crate) trait XprtOps: Sized + Send + Sync + 'static {
    /// The class's `setup`: allocates the transport with [`Xprt::alloc`],
    /// makes its state, and hands both back with [`NewXprt::publish`](super::NewXprt::publish).
    fn setup(args: &bindings::xprt_create) -> Result<Published<Self>>;

    /// `->alloc_slot`: gives `task` a rqst, or puts it on the backlog.
    fn alloc_slot(&self, task: &Task<'_>);

    /// `->free_slot`: the RPC layer lets go of the rqst `turn` is at,
    /// giving it `back`.
    fn free_slot(&self, turn: OwnerTurn<'_>, back: SlotReturn<'_>);

    /// `->buf_alloc`: gives `rqst` its call and reply buffers.
    fn buf_alloc(&self, rqst: &Rqst<'_>, turn: OwnerTurn<'_>) -> Result;

    /// `->buf_free`: the RPC of the rqst `turn` is at ends; the buffers
    /// stay with the transport.
    fn buf_free(&self, turn: OwnerTurn<'_>);

    /// `->send_request`: transmits `rqst`, a Call or a callback reply.
    fn send_request(&self, rqst: &mut Rqst<'_>, turn: TransmitTurn<'_>, held: &mut XprtLocked<'_>) -> Result;

    /// `->connect`, for `task`; may hand `held` to the connect worker
    /// ([`XprtLocked::queue_connect`]).
    fn connect(&self, task: &Task<'_>, held: XprtLocked<'_>);

    /// The connect work of `struct xprs_xprt`, holding the lock
    /// `->connect` handed it, which it gives back
    /// ([`XprtLocked::unlock_connect`]). It gets the state's `Arc`, for
    /// what it makes to hold.
    fn connect_worker(this: ArcBorrow<'_, Self>, held: XprtLocked<'_>);

    /// The MR refresh work of `struct xprs_xprt`, with the state's `Arc`
    /// as [`XprtOps::connect_worker`].
    fn mr_refresh_worker(this: ArcBorrow<'_, Self>);

    /// `->close`.
    fn close(&self, held: &mut XprtLocked<'_>);

    /// `->destroy`: the state's last use by sunrpc. The works are
    /// cancelled before; the adapter then drops its `Arc` of the state
    /// and frees the `rpc_xprt`, if that was the state's last reference.
    fn destroy(&self, held: &mut XprtLocked<'_>);

    /// `->print_stats` (the `xprt:` line of mountstats).
    fn print_stats(&self, seq: &mut SeqFile<'_>);

    /// `->inject_disconnect` (`CONFIG_FAIL_SUNRPC`).
    fn inject_disconnect(&self);

    /// `->set_connect_timeout`.
    fn set_connect_timeout(&self, _connect: usize, _reconnect: usize) {
        kernel::build_error(kernel::error::VTABLE_DEFAULT_ERROR)
    }

    /// `->bc_setup`.
    fn bc_setup(&self, _min_reqs: u32) -> Result {
        kernel::build_error(kernel::error::VTABLE_DEFAULT_ERROR)
    }

    /// `->bc_maxpayload`.
    fn bc_maxpayload(&self) -> usize {
        kernel::build_error(kernel::error::VTABLE_DEFAULT_ERROR)
    }

    /// `->bc_num_slots`.
    fn bc_num_slots(&self) -> u32 {
        kernel::build_error(kernel::error::VTABLE_DEFAULT_ERROR)
    }

    /// `->bc_free_rqst`: the callback service is done with the rqst `turn`
    /// is at, giving it `back`.
    fn bc_free_rqst(&self, _turn: OwnerTurn<'_>, _back: SlotReturn<'_>) {
        kernel::build_error(kernel::error::VTABLE_DEFAULT_ERROR)
    }
}

/// A transport [`XprtOps::setup`] finished, for the adapter to give
/// sunrpc. Made only by [`NewXprt::publish`](super::NewXprt::publish).
///
/// # Invariants
///
/// `0` is a transport allocated with `Adapter::<T>::TABLE` whose private
/// pointer is an `Arc<T>` turned into a raw pointer ([`Arc::into_raw`]),
/// and that sunrpc has not seen yet.
pub(crate) struct Published<T>(pub(super) *mut bindings::rpc_xprt, pub(super) PhantomData<T>);

/// The `extern "C"` side of [`XprtOps`] for `T`.
pub(super) struct Adapter<T>(PhantomData<T>);

/// Turns a Rust result into the `int` sunrpc expects.
fn ret(r: Result) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

impl<T: XprtOps> Adapter<T> {
    /// The table of every transport `Xprt::alloc::<T>` makes: what the
    /// C client's `xprt_rdma_procs` holds.
    pub(super) const TABLE: bindings::xprs_ops = bindings::xprs_ops {
        xprt: bindings::rpc_xprt_ops {
            reserve_xprt: Some(bindings::xprt_reserve_xprt_cong),
            release_xprt: Some(bindings::xprt_release_xprt_cong),
            alloc_slot: Some(Self::alloc_slot),
            free_slot: Some(Self::free_slot),
            release_request: Some(bindings::xprt_release_rqst_cong),
            wait_for_reply_request: Some(bindings::xprt_wait_for_reply_request_def),
            timer: Some(bindings::xprs_op_timer),
            rpcbind: Some(bindings::rpcb_getport_async),
            set_port: Some(bindings::xprs_op_set_port),
            connect: Some(Self::connect),
            buf_alloc: Some(Self::buf_alloc),
            buf_free: Some(Self::buf_free),
            send_request: Some(Self::send_request),
            close: Some(Self::close),
            destroy: Some(Self::destroy),
            set_connect_timeout: if T::HAS_SET_CONNECT_TIMEOUT {
                Some(Self::set_connect_timeout)
            } else {
                None
            },
            print_stats: Some(Self::print_stats),
            enable_swap: Some(bindings::xprs_op_enable_swap),
            disable_swap: Some(bindings::xprs_op_disable_swap),
            inject_disconnect: Some(Self::inject_disconnect),
            // No bc_destroy: nothing of the backchannel outlives the
            // transport's state.
            #[cfg(CONFIG_SUNRPC_BACKCHANNEL)]
            bc_setup: if Self::HAS_BC { Some(Self::bc_setup) } else { None },
            #[cfg(CONFIG_SUNRPC_BACKCHANNEL)]
            bc_maxpayload: if Self::HAS_BC { Some(Self::bc_maxpayload) } else { None },
            #[cfg(CONFIG_SUNRPC_BACKCHANNEL)]
            bc_num_slots: if Self::HAS_BC { Some(Self::bc_num_slots) } else { None },
            #[cfg(CONFIG_SUNRPC_BACKCHANNEL)]
            bc_free_rqst: if Self::HAS_BC { Some(Self::bc_free_rqst) } else { None },
            // SAFETY: every field of `rpc_xprt_ops` is an `Option` of a
            // function pointer, for which all zeroes is `None`.
            ..unsafe { core::mem::MaybeUninit::<bindings::rpc_xprt_ops>::zeroed().assume_init() }
        },
        connect_worker: Some(Self::connect_worker),
        mr_refresh_worker: Some(Self::mr_refresh_worker),
    };

    /// Whether `T` has the backchannel ops, all four of them or none.
    const HAS_BC: bool = {
        let all = T::HAS_BC_SETUP && T::HAS_BC_MAXPAYLOAD && T::HAS_BC_NUM_SLOTS && T::HAS_BC_FREE_RQST;
        let none = !(T::HAS_BC_SETUP || T::HAS_BC_MAXPAYLOAD || T::HAS_BC_NUM_SLOTS || T::HAS_BC_FREE_RQST);
        assert!(all || none, "the backchannel ops go together");
        all
    };

    /// Returns `T`'s state of `xprt`.
    ///
    /// # Safety
    ///
    /// `xprt` is a transport whose table is [`Self::TABLE`], given to
    /// sunrpc and not destroyed during `'a`.
    unsafe fn state<'a>(xprt: *mut bindings::rpc_xprt) -> &'a T {
        // SAFETY: the private pointer is the state's `Arc`, held for `'a`
        // (see `state_arc`); `Arc::into_raw` points at the value.
        unsafe { &*bindings::xprs_xprt_priv(xprt).cast::<T>() }
    }

    /// Returns `T`'s state of `xprt`, as the `Arc` the transport holds.
    ///
    /// # Safety
    ///
    /// As for [`Self::state`].
    unsafe fn state_arc<'a>(xprt: *mut bindings::rpc_xprt) -> ArcBorrow<'a, T> {
        // SAFETY: only `Xprt::alloc::<T>` installs this table, and a
        // transport it made reaches sunrpc only through `NewXprt::<T>::publish`,
        // which stored `Arc::into_raw` of the state as its private pointer
        // (invariant of `Published`). `Self::destroy` takes that reference
        // back, after `'a` (guaranteed by the caller), so it is held for
        // `'a`.
        unsafe { ArcBorrow::from_raw(bindings::xprs_xprt_priv(xprt).cast::<T>()) }
    }

    /// The class's `setup` (`xprt_setup_rdma()`): a transport, or an
    /// `ERR_PTR()`.
    pub(super) unsafe extern "C" fn setup(args: *mut bindings::xprt_create) -> *mut bindings::rpc_xprt {
        // SAFETY: `xprt_create_transport()` passes its valid creation
        // arguments for the call.
        match T::setup(unsafe { &*args }) {
            // INVARIANT (of `Published`): sunrpc sees the transport from here.
            Ok(p) => p.0,
            Err(e) => e.to_ptr(),
        }
    }

    unsafe extern "C" fn alloc_slot(xprt: *mut bindings::rpc_xprt, task: *mut bindings::rpc_task) {
        // SAFETY: sunrpc calls the ops of this table only on the live
        // transports that carry it.
        let t = unsafe { Self::state(xprt) };
        // SAFETY: `xprt_do_reserve()` calls `->alloc_slot` from the task that
        // needs a slot, which owns its `tk_rqstp` and `tk_status`.
        if let Some(task) = unsafe { Task::from_raw(task) } {
            t.alloc_slot(&task)
        }
    }

    unsafe extern "C" fn free_slot(xprt: *mut bindings::rpc_xprt, rqst: *mut bindings::rpc_rqst) {
        // SAFETY: as in `alloc_slot`.
        let t = unsafe { Self::state(xprt) };
        // SAFETY: `xprt_release()` calls `->free_slot` from the task that
        // owns the rqst and lets go of it here.
        let Some(rqst) = (unsafe { Rqst::from_raw(rqst) }) else {
            return;
        };
        // SAFETY: `xprt_release()` calls `->free_slot` after
        // `xprt_request_dequeue_xprt()` took the rqst off the receive queue
        // and waited until it was unpinned; this is the op's only turn.
        let turn = unsafe { OwnerTurn::new(&rqst) };
        // SAFETY: `xprt_release()` cleared the task's `tk_rqstp` and waited
        // for the unpin (above) before calling `->free_slot`, and does not
        // use the rqst afterwards; made once, for this op.
        let back = unsafe { SlotReturn::new(&rqst) };
        t.free_slot(turn, back)
    }

    unsafe extern "C" fn buf_alloc(task: *mut bindings::rpc_task) -> c_int {
        // SAFETY: `call_allocate()` calls `->buf_alloc` from the task, which
        // holds its rqst.
        let Some(rqst) = unsafe { Task::from_raw(task) }.and_then(|task| task.rqst()) else {
            return EINVAL.to_errno();
        };
        // SAFETY: `call_allocate()` calls the op through the table of the
        // rqst's transport (`rq_xprt`), which the task's rqst keeps live.
        let t = unsafe { Self::state(rqst.xprt_ptr()) };
        // SAFETY: `call_allocate()` runs for the rqst's owner before the
        // Call is encoded, once per rqst (it skips a rqst with a buffer):
        // the rqst is not on the receive queue yet, nor pinned. This is the
        // op's only turn.
        let turn = unsafe { OwnerTurn::new(&rqst) };
        ret(t.buf_alloc(&rqst, turn))
    }

    unsafe extern "C" fn buf_free(task: *mut bindings::rpc_task) {
        // SAFETY: `xprt_release()` calls `->buf_free` from the task, which
        // still holds its rqst.
        let Some(rqst) = unsafe { Task::from_raw(task) }.and_then(|task| task.rqst()) else {
            return;
        };
        // SAFETY: as in `buf_alloc`: `xprt_release()` calls it through
        // `rq_xprt`'s table.
        let t = unsafe { Self::state(rqst.xprt_ptr()) };
        // SAFETY: `xprt_release()` calls `->buf_free` after
        // `xprt_request_dequeue_xprt()` took the rqst off the receive queue
        // and waited until it was unpinned. This is the op's only turn.
        let turn = unsafe { OwnerTurn::new(&rqst) };
        t.buf_free(turn)
    }

    unsafe extern "C" fn send_request(rqst: *mut bindings::rpc_rqst) -> c_int {
        // SAFETY: `xprt_request_transmit()` calls `->send_request` on the
        // owner's behalf: from the owner's task, from another task that
        // holds XPRT_LOCKED and sends the queued rqsts (`xprt_transmit()`
        // pins each, and its owner waits for the transmission), or, for a
        // callback reply, from the callback service's task that owns our
        // backchannel rqst. Nothing else changes what `Rqst` reads.
        let Some(mut rqst) = (unsafe { Rqst::from_raw(rqst) }) else {
            return EINVAL.to_errno();
        };
        // SAFETY: `xprt_request_transmit()` calls it through `rq_xprt`'s
        // table, which the rqst being transmitted keeps live.
        let t = unsafe { Self::state(rqst.xprt_ptr()) };
        // SAFETY: as above: a transport of this table, live for the call.
        let xprt = unsafe { Xprt::from_ptr(rqst.xprt_ptr()) };
        // SAFETY: sunrpc calls `->send_request` only from
        // `xprt_request_transmit()`, which `xprt_transmit()` runs for the
        // task that took XPRT_LOCKED in `xprt_prepare_transmit()` (Calls in
        // `call_transmit()`, callback replies in `call_bc_transmit()`) and
        // releases it after; this is the call's only token.
        let mut held = unsafe { XprtLocked::new(xprt) };
        // SAFETY: the op runs on the rqst owner's behalf (above), under
        // XPRT_LOCKED (above), so no other `->send_request` runs; the
        // owner's other ops come before the rqst is queued for
        // transmission (`->buf_alloc`) or after `xprt_release()` dequeued
        // it and waited for its pins (`->buf_free`, `->free_slot`). This is
        // the op's only turn.
        let turn = unsafe { TransmitTurn::new(&rqst) };
        ret(t.send_request(&mut rqst, turn, &mut held))
    }

    unsafe extern "C" fn connect(xprt: *mut bindings::rpc_xprt, task: *mut bindings::rpc_task) {
        // SAFETY: as in `alloc_slot`.
        let t = unsafe { Self::state(xprt) };
        // SAFETY: as above: live for the call.
        let x = unsafe { Xprt::from_ptr(xprt) };
        // SAFETY: `xprt_connect()` calls `->connect` from the task it was
        // called for (`call_connect()`), which it dereferenced before: never
        // NULL.
        let Some(task) = (unsafe { Task::from_raw(task) }) else {
            return;
        };
        // SAFETY: `xprt_connect()` calls `->connect` only after
        // `xprt_lock_write()` made `task` the holder of XPRT_LOCKED, and
        // releases it after; `connect` consumes the token when it hands the
        // lock to the worker. This is the call's only token.
        let held = unsafe { XprtLocked::new(x) };
        t.connect(&task, held)
    }

    unsafe extern "C" fn connect_worker(xprt: *mut bindings::rpc_xprt) {
        // SAFETY: the work of a transport of this table
        // (`xprs_connect_work()`); destroy cancels it before dropping its
        // reference to the state.
        let t = unsafe { Self::state_arc(xprt) };
        // SAFETY: as above: live for the call.
        let x = unsafe { Xprt::from_ptr(xprt) };
        // SAFETY: only `XprtLocked::queue_connect` queues the work, after
        // `xprt_lock_connect()` handed XPRT_LOCKED to the transport's
        // cookie, consuming the token of the `->connect` that held it.
        // sunrpc releases a lock held for the cookie only in
        // `xprt_unlock_connect()`, which `XprtLocked::unlock_connect` calls,
        // consuming this token; until then no other `->connect` runs, so
        // the work is not queued again.
        let held = unsafe { XprtLocked::new(x) };
        T::connect_worker(t, held)
    }

    unsafe extern "C" fn mr_refresh_worker(xprt: *mut bindings::rpc_xprt) {
        // SAFETY: as in `connect_worker`.
        T::mr_refresh_worker(unsafe { Self::state_arc(xprt) })
    }

    unsafe extern "C" fn close(xprt: *mut bindings::rpc_xprt) {
        // SAFETY: as in `alloc_slot`.
        let t = unsafe { Self::state(xprt) };
        // SAFETY: as above: live for the call.
        let x = unsafe { Xprt::from_ptr(xprt) };
        // SAFETY: sunrpc calls `->close` only from `xprt_autoclose()`, the
        // `task_cleanup` work that `xprt_schedule_autoclose_locked()` and
        // `xprt_init_autodisconnect()` queue after setting XPRT_LOCKED, and
        // `xprt_clear_locked()` queues instead of clearing it; the work
        // releases the lock after `->close` returns. This is the call's
        // only token.
        let mut held = unsafe { XprtLocked::new(x) };
        t.close(&mut held)
    }

    unsafe extern "C" fn destroy(xprt: *mut bindings::rpc_xprt) {
        // SAFETY: `xprt_destroy_cb()` passes a transport of this table,
        // allocated until `free` below, after the last use of `x`.
        let x = unsafe { Xprt::from_ptr(xprt) };
        x.cancel_connect_sync();
        x.cancel_mr_refresh_sync();
        // SAFETY: the private pointer is `Arc::into_raw` of the state
        // (invariant of `Published`), whose reference this takes back:
        // sunrpc calls `->destroy` last, and the works that could still use
        // it are cancelled above, so the pointer is not read again.
        let state = unsafe { Arc::from_raw(bindings::xprs_xprt_priv(xprt).cast::<T>()) };
        // SAFETY: `xprt_destroy()` took XPRT_LOCKED (`wait_on_bit_lock()`)
        // before it queued `xprt_destroy_cb()`, which calls `->destroy`; no
        // one releases it. This is the call's only token.
        let mut held = unsafe { XprtLocked::new(x) };
        state.destroy(&mut held);
        drop(held);
        // The state's links to the transport go with the state
        // (`NewXprt::link`), so the transport may be freed only once the
        // state's last reference is gone. Another holder left means the
        // state leaked one (a bug): the transport is then never freed.
        let Some(state) = state.into_unique_or_drop() else {
            super::warn_once(kernel::c_str!("transport state still referenced at destroy: leaked"));
            return;
        };
        drop(state);
        // SAFETY: allocated by `Xprt::alloc` (only it installs this table)
        // and not freed; sunrpc has finished with it (`->destroy` is its
        // last call), `x` and `held` are not used after this, and the
        // state, whose links had to go with it (`NewXprt::link`), was
        // dropped above, by its last reference.
        unsafe { Xprt::free(xprt) };
    }

    unsafe extern "C" fn set_connect_timeout(xprt: *mut bindings::rpc_xprt, connect: c_ulong, reconnect: c_ulong) {
        // SAFETY: as in `alloc_slot`.
        unsafe { Self::state(xprt) }.set_connect_timeout(connect, reconnect)
    }

    unsafe extern "C" fn print_stats(xprt: *mut bindings::rpc_xprt, seq: *mut bindings::seq_file) {
        // SAFETY: as in `alloc_slot`.
        let t = unsafe { Self::state(xprt) };
        // SAFETY: the mountstats show function, `rpc_clnt_show_stats()`'s
        // caller, prints to `seq` for the duration of the call.
        let mut seq = unsafe { SeqFile::from_raw(seq) };
        t.print_stats(&mut seq)
    }

    unsafe extern "C" fn inject_disconnect(xprt: *mut bindings::rpc_xprt) {
        // SAFETY: as in `alloc_slot`.
        unsafe { Self::state(xprt) }.inject_disconnect()
    }

    #[cfg(CONFIG_SUNRPC_BACKCHANNEL)]
    unsafe extern "C" fn bc_setup(xprt: *mut bindings::rpc_xprt, min_reqs: c_uint) -> c_int {
        // SAFETY: as in `alloc_slot`.
        ret(unsafe { Self::state(xprt) }.bc_setup(min_reqs))
    }

    #[cfg(CONFIG_SUNRPC_BACKCHANNEL)]
    unsafe extern "C" fn bc_maxpayload(xprt: *mut bindings::rpc_xprt) -> usize {
        // SAFETY: as in `alloc_slot`.
        unsafe { Self::state(xprt) }.bc_maxpayload()
    }

    #[cfg(CONFIG_SUNRPC_BACKCHANNEL)]
    unsafe extern "C" fn bc_num_slots(xprt: *mut bindings::rpc_xprt) -> c_uint {
        // SAFETY: as in `alloc_slot`.
        unsafe { Self::state(xprt) }.bc_num_slots()
    }

    #[cfg(CONFIG_SUNRPC_BACKCHANNEL)]
    unsafe extern "C" fn bc_free_rqst(rqst: *mut bindings::rpc_rqst) {
        // SAFETY: `xprt_free_bc_request()` passes a callback rqst we queued
        // (`IdleRqst::enqueue_callback`), which the callback service owned
        // and lets go of here.
        let Some(rqst) = (unsafe { Rqst::from_raw(rqst) }) else {
            return;
        };
        // SAFETY: the callback service's reference on the rqst's transport,
        // which `IdleRqst::enqueue_callback` took and left in `rq_xprt`, is
        // given up here: dropped last, after every use of the transport.
        let xprt = unsafe { XprtRef::from_counted(rqst.xprt_ptr()) };
        // SAFETY: `xprt_free_bc_request()` calls it through `rq_xprt`'s
        // table; the reference above keeps the transport live.
        let t = unsafe { Self::state(rqst.xprt_ptr()) };
        // SAFETY: a callback rqst is never on a receive queue nor pinned;
        // this is the op's only turn.
        let turn = unsafe { OwnerTurn::new(&rqst) };
        // SAFETY: `xprt_free_bc_request()` calls `->bc_free_rqst` when the
        // callback service is done with the rqst; made once, for this op.
        let back = unsafe { SlotReturn::new(&rqst) };
        t.bc_free_rqst(turn, back);
        drop(xprt);
    }
}
