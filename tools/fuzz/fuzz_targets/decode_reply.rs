// SPDX-License-Identifier: GPL-2.0

//! Fuzzes the strict reply decoder (and the call decoder) of
//! `rust/proto/header/decode.rs`.
//!
//! Input: 6 bytes of decode limits (segments, write chunks, big-endian
//! chunk length), then the received message. Besides "no panic" (the
//! release profile keeps overflow checks on, as the kernel does), every
//! view the decoder returns must lie within the message and agree with
//! the counts and totals it reports.

#![no_main]

#[allow(dead_code)]
#[path = "../../../rust/proto/mod.rs"]
mod proto;

use libfuzzer_sys::fuzz_target;
use proto::header::{Chunk, Fixed, Limits, ReplyBody, WriteList};

fn within(inner: &[u8], outer: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr_range(), inner.as_ptr_range());
    i.start >= o.start && i.end <= o.end
}

fn check_chunk(c: &Chunk<'_>, msg: &[u8], limits: &Limits) {
    assert!(within(c.as_bytes(), msg));
    let mut n = 0usize;
    let mut sum = 0u64;
    for seg in c.segments() {
        n += 1;
        sum += u64::from(seg.length);
    }
    assert_eq!(n, c.segment_count());
    assert!(n as u64 <= u64::from(limits.max_segments));
    assert_eq!(sum, c.total_len());
    assert!(sum <= u64::from(limits.max_chunk_len));
}

fn check_write_list(w: &WriteList<'_>, msg: &[u8], limits: &Limits) {
    assert!(within(w.as_bytes(), msg));
    assert!(w.chunk_count() <= limits.max_write_chunks);
    let mut chunks = 0u32;
    let mut sum = 0u64;
    for c in w.chunks() {
        check_chunk(&c, msg, limits);
        chunks += 1;
        sum += c.total_len();
    }
    assert_eq!(chunks, w.chunk_count());
    assert_eq!(sum, w.total_len());
}

fuzz_target!(|data: &[u8]| {
    let Some((head, msg)) = data.split_first_chunk::<6>() else {
        return;
    };
    let limits = Limits {
        max_segments: u32::from(head[0] % 20),
        max_write_chunks: u32::from(head[1] % 4),
        max_chunk_len: u32::from_be_bytes([head[2], head[3], head[4], head[5]]),
    };
    let Ok(fixed) = Fixed::decode(msg) else {
        return;
    };
    if let Some(call) = fixed.backchannel_call(msg) {
        assert!(within(call, msg));
    }
    match fixed.decode_reply_body(msg, &limits) {
        Ok(ReplyBody::Msg(m)) => {
            check_write_list(&m.write_list, msg, &limits);
            assert!(within(m.rpc_message, msg));
            assert_eq!(m.rpc_offset + m.rpc_message.len(), msg.len());
            let _ = m.is_backchannel_call(fixed.xid);
            let _ = m.rpc_len();
        }
        Ok(ReplyBody::NoMsg { reply_chunk }) => {
            check_chunk(&reply_chunk, msg, &limits);
            assert!(reply_chunk.total_len() > 0);
        }
        Ok(ReplyBody::Error(_)) | Err(_) => {}
    }
    if let Ok(call) = fixed.decode_call_body(msg, &limits) {
        check_write_list(&call.write_list, msg, &limits);
        assert!(within(call.read_list.as_bytes(), msg));
        assert!(call.read_list.items().count() as u64 <= u64::from(limits.max_segments));
        if let Some(c) = call.reply_chunk {
            check_chunk(&c, msg, &limits);
        }
        assert_eq!(call.rpc_offset + call.rpc_message.len(), msg.len());
    }
});
