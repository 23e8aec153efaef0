// SPDX-License-Identifier: GPL-2.0

#![forbid(unsafe_code)]

//! The transport's entry points (`transport.c`): its [`XprtOps`], which
//! the adapter in `sunrpc::ops` turns into the class's `setup`, the C
//! table of `rpc_xprt_ops` and the two works. `Documentation/ops-table.md`
//! maps them to the C client's ops.
//!
//! Each op finds what it works on from the typed views the adapter gives
//! it, and trades the turn of an op sunrpc calls for a rqst's owner
//! ([`OwnerTurn`], [`TransmitTurn`]) for the [`ReqKey`] of the rqst's req
//! (`req`); the logic is in the files named at each op.

use crate::bindings;
use crate::sunrpc::{self, OwnerTurn, Published, Rqst, SeqFile, SlotReturn, Task, TransmitTurn, Xprt, XprtLocked, XprtOps};
use core::sync::atomic::Ordering;
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::ArcBorrow;

use super::backchannel::BC_SLOTS;
use super::{Config, ReqKey, Transport, MAX_DATA_SEGS};

impl Transport {
    /// The key of the req of the rqst `turn` is at, for an op sunrpc calls
    /// for the rqst's owner; None when the rqst is not one of ours.
    fn owner_key<'a>(&'a self, turn: OwnerTurn<'a>) -> Option<ReqKey<'a>> {
        self.req_of(turn.rqst())?.owner_key(turn)
    }

    /// The key of a rqst `->free_slot` or `->bc_free_rqst` releases,
    /// warned about when the rqst is not ours.
    fn releasing_key<'a>(&'a self, turn: OwnerTurn<'a>) -> Option<ReqKey<'a>> {
        let key = self.owner_key(turn);
        if key.is_none() {
            sunrpc::warn_once(c_str!("free_slot of a foreign rqst"));
        }
        key
    }
}

#[vtable]
impl XprtOps for Transport {
    /// `xprt_setup_rdma()`.
    fn setup(args: &bindings::xprt_create) -> Result<Published<Self>> {
        let cfg = Config::from_params()?;
        let new = Xprt::alloc::<Self>(args, cfg.max_requests)?;
        let t = match Transport::new(&new, cfg) {
            Ok(t) => t,
            Err(e) => {
                new.free();
                return Err(e);
            }
        };
        Ok(new.publish(t, (MAX_DATA_SEGS as usize) << kernel::page::PAGE_SHIFT))
    }

    /// `slots`.
    fn alloc_slot(&self, task: &Task<'_>) {
        Transport::alloc_slot(self, task)
    }

    /// `slots`.
    fn free_slot(&self, turn: OwnerTurn<'_>, back: SlotReturn<'_>) {
        if let Some(key) = self.releasing_key(turn) {
            Transport::free_slot(self, key, back)
        }
    }

    /// `marshal`.
    fn buf_alloc(&self, rqst: &Rqst<'_>, turn: OwnerTurn<'_>) -> Result {
        let mut key = self.owner_key(turn).ok_or(EINVAL)?;
        Transport::buf_alloc(self, rqst, &mut key)
    }

    /// `marshal`.
    fn buf_free(&self, turn: OwnerTurn<'_>) {
        if let Some(key) = self.owner_key(turn) {
            Transport::buf_free(self, key)
        }
    }

    /// `marshal`.
    fn send_request(&self, rqst: &mut Rqst<'_>, turn: TransmitTurn<'_>, held: &mut XprtLocked<'_>) -> Result {
        let req = self.req_of(turn.rqst());
        Transport::send_request(self, rqst, req, turn, held)
    }

    /// `connect`.
    fn connect(&self, task: &Task<'_>, held: XprtLocked<'_>) {
        Transport::connect(self, task, held)
    }

    /// `connect`.
    fn connect_worker(this: ArcBorrow<'_, Self>, held: XprtLocked<'_>) {
        Transport::connect_worker(this, held)
    }

    /// `frwr`.
    fn mr_refresh_worker(this: ArcBorrow<'_, Self>) {
        Transport::mr_refresh_worker(this)
    }

    /// `endpoint`.
    fn close(&self, held: &mut XprtLocked<'_>) {
        Transport::close(self, held)
    }

    /// `endpoint` and `stats`: the endpoint goes, the pools are accounted
    /// for, then the adapter drops the state.
    fn destroy(&self, held: &mut XprtLocked<'_>) {
        self.drop_endpoint(held);
        self.account();
    }

    /// `stats`.
    fn print_stats(&self, seq: &mut SeqFile<'_>) {
        Transport::print_stats(self, seq)
    }

    /// `endpoint`.
    fn inject_disconnect(&self) {
        Transport::inject_disconnect(self)
    }

    /// `xprt_rdma_set_connect_timeout()`, in `sunrpc`.
    fn set_connect_timeout(&self, connect: usize, reconnect: usize) {
        self.xprt.set_connect_timeout(connect, reconnect)
    }

    /// The backchannel reqs were allocated with the transport.
    fn bc_setup(&self, _min_reqs: u32) -> Result {
        Ok(())
    }

    /// `xprt_rdma_bc_maxpayload()`, of the current (or next) connection.
    fn bc_maxpayload(&self) -> usize {
        self.bc_max_payload.load(Ordering::Relaxed) as usize
    }

    fn bc_num_slots(&self) -> u32 {
        BC_SLOTS
    }

    /// The callback service is done with the rqst: `slots`.
    fn bc_free_rqst(&self, turn: OwnerTurn<'_>, back: SlotReturn<'_>) {
        if let Some(key) = self.releasing_key(turn) {
            Transport::free_slot(self, key, back)
        }
    }
}
