// SPDX-License-Identifier: GPL-2.0

//! Unit and property tests of the protocol core.

mod chunk;
mod cm_private;
mod credits;
mod header;
mod lifetime;
mod offered;
mod props;
mod sendctx;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::sync::atomic::{AtomicU64, Ordering};

/// Runs `test` on `cases` inputs drawn from `strategy`, fails the calling
/// test with proptest's shrunk counterexample on the first failure, and
/// prints the number of cases run for `tools/check.sh` to add up.
pub(crate) fn check_prop<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let ran = AtomicU64::new(0);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let result = TestRunner::new(config).run(&strategy, |value| {
        ran.fetch_add(1, Ordering::Relaxed);
        test(value)
    });
    if let Err(e) = result {
        panic!("property {name} failed: {e}");
    }
    println!("proptest {name}: {} cases", ran.load(Ordering::Relaxed));
}

/// Builds a message from XDR words.
pub(crate) fn words(ws: &[u32]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_be_bytes()).collect()
}
