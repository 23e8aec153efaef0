// SPDX-License-Identifier: GPL-2.0

#![forbid(unsafe_code)]

//! Transport statistics: the rdma columns of `xprt: rdma`
//! (`xprt_rdma_print_stats()`), and the pool accounting logged at destroy.
//! The counters are relaxed atomics, bumped by [`add`] in any context.

use crate::sunrpc::{self, SeqFile};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::{c_str, fmt, str::CString};

use super::Transport;

/// Transport statistics: the rdma columns of `xprt: rdma`, in the C
/// client's order.
#[derive(Default)]
pub(super) struct Stats {
    pub(super) read_chunk_count: AtomicU64,
    pub(super) write_chunk_count: AtomicU64,
    pub(super) reply_chunk_count: AtomicU64,
    pub(super) total_rdma_request: AtomicU64,
    pub(super) total_rdma_reply: AtomicU64,
    /// Bytes of Call data copied into the send buffer beyond the RPC
    /// header (the head): C sends its head buffer in place and counts the
    /// page list and tail it pulls up behind it.
    pub(super) pullup_copy_count: AtomicU64,
    /// Bytes of an inline Reply copied into the page list and tail; C
    /// points the head at the receive buffer and counts the rest.
    pub(super) fixup_copy_count: AtomicU64,
    /// Bytes of call and reply buffers grown past their size
    /// (`rpcrdma_check_regbuf()`).
    pub(super) hardway_register_count: AtomicU64,
    pub(super) failed_marshal_count: AtomicU64,
    pub(super) bad_reply_count: AtomicU64,
    pub(super) nomsg_call_count: AtomicU64,
    pub(super) mrs_recycled: AtomicU64,
    pub(super) mrs_orphaned: AtomicU64,
    pub(super) mrs_allocated: AtomicU64,
    pub(super) local_inv_needed: AtomicU64,
    pub(super) empty_sendctx_q: AtomicU64,
    /// Replies (not in mountstats) dropped because their req was not
    /// waiting for one: duplicates, early or forged ones. Also counted in
    /// `bad_reply_count`.
    pub(super) replies_dropped: AtomicU64,
    /// Replies whose XID matched no waiting RPC.
    pub(super) replies_unmatched: AtomicU64,
    /// Sends (not in mountstats) that found no free MR and asked the
    /// refresh worker for more (C's `xprtrdma_nomrs_err` event).
    pub(super) empty_mr_free: AtomicU64,
}

pub(super) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Transport {
    pub(super) fn print_stats(&self, seq: &mut SeqFile<'_>) {
        let x = &*self.xprt;
        let s = &self.stats;
        let st = x.stat();
        let hz = x.hz().max(1);
        let idle = if x.connected() {
            (x.jiffies().wrapping_sub(x.last_used()) as isize) / hz as isize
        } else {
            0
        };
        let v = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let line = CString::try_from_fmt(fmt!(
            "\txprt:\trdma 0 {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} 0\n",
            st.bind_count,
            st.connect_count,
            st.connect_time / hz,
            idle,
            st.sends,
            st.recvs,
            st.bad_xids,
            st.req_u,
            st.bklog_u,
            v(&s.read_chunk_count),
            v(&s.write_chunk_count),
            v(&s.reply_chunk_count),
            v(&s.total_rdma_request),
            v(&s.total_rdma_reply),
            v(&s.pullup_copy_count),
            v(&s.fixup_copy_count),
            v(&s.hardway_register_count),
            v(&s.failed_marshal_count),
            v(&s.bad_reply_count),
            v(&s.nomsg_call_count),
            v(&s.mrs_recycled),
            v(&s.mrs_orphaned),
            v(&s.mrs_allocated),
            v(&s.local_inv_needed),
            v(&s.empty_sendctx_q),
        ));
        if let Ok(line) = line {
            seq.puts(&line);
        }
    }

    /// Logs the pool accounting at destroy: every req must be home, and
    /// the last teardown must have found every rep and MR home.
    pub(super) fn account(&self) {
        let reqs_home = self.shared.lock().free.iter().filter(|r| r.is_some()).count();
        let a = &self.accounting;
        let l = |c: &AtomicU32| c.load(Ordering::Relaxed);
        pr_info!(
            "destroy: reqs home {}/{}, reps home {}/{}, mrs home {}/{}\n",
            reqs_home,
            self.reqs.len(),
            l(&a.reps_home),
            l(&a.reps),
            l(&a.mrs_home),
            l(&a.mrs)
        );
        pr_info!(
            "replies: dropped {} (req not awaiting one), unmatched {}\n",
            self.stats.replies_dropped.load(Ordering::Relaxed),
            self.stats.replies_unmatched.load(Ordering::Relaxed)
        );
        pr_info!(
            "mrs: {} allocated, none free at send {} times\n",
            self.stats.mrs_allocated.load(Ordering::Relaxed),
            self.stats.empty_mr_free.load(Ordering::Relaxed)
        );
        if reqs_home != self.reqs.len() {
            sunrpc::warn_once(c_str!("I5: reqs missing from the pool at destroy"));
        }
    }
}
