#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Usage: tools/check.sh
#
# Runs every host-side check of the protocol core (rust/proto):
#   1. rust/proto compiled alone as a no_std library with the kernel's lint
#      flags and overflow checks, plus clippy with the same flags;
#   2. clippy on the host crate (tests and loom model included);
#   3. unit and property tests (release profile, overflow checks on);
#   4. the loom model of the req lifetime (RUSTFLAGS="--cfg loom", own
#      target dir);
#   5. a short fuzz run of the reply decoder (tools/fuzz.sh, FUZZ_SECONDS,
#      default 30);
#   6. scripts/bench-report.py's profile figures on a synthetic run
#      (tools/bench-report-test.py).
# Prints one summary line with the counts, and exits non-zero on any
# failure. Needs cargo; fetches crates from crates.io per Cargo.lock.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$here"
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-$(nproc)}
# Build outputs live in the cache, so a fresh clone reuses them.
# The project cache (scripts/lib.sh): XPRS_CACHE, as every other build.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XPRS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/xprtrdma-rs}/tools-target}
fuzz_seconds=${FUZZ_SECONDS:-30}
logs=${CHECK_LOG_DIR:-$CARGO_TARGET_DIR/check-logs}
mkdir -p "$logs"

step() { echo "== check: $*"; }
fail() { echo "check: FAILED: $*" >&2; exit 1; }

# The kernel's lint set (rust_common_flags and KBUILD_RUSTFLAGS of 6.12).
kernel_lints=(
	-Dnon_ascii_idents -Dunsafe_op_in_unsafe_fn -Wmissing_docs
	-Wrust_2018_idioms -Wunreachable_pub -Wclippy::all
	-Aclippy::collapsible_if -Aclippy::collapsible_match
	-Wclippy::ignored_unit_patterns -Wclippy::mut_mut
	-Wclippy::needless_bitwise_bool -Aclippy::needless_lifetimes
	-Wclippy::no_mangle_with_rust_abi -Wclippy::undocumented_unsafe_blocks
	-Aclippy::uninlined_format_args -Wclippy::unnecessary_safety_comment
	-Wclippy::unnecessary_safety_doc -Aclippy::unwrap_or_default
	-Wclippy::float_arithmetic
)

step "rust/proto as a no_std library with the kernel's flags"
nostd=$CARGO_TARGET_DIR/proto-nostd
mkdir -p "$nostd"
cat >"$nostd/lib.rs" <<RS
//! rust/proto included the way the kernel module includes it.
#![no_std]
// The kernel crate does not use every item yet.
#[allow(dead_code)]
#[path = "$root/rust/proto/mod.rs"]
mod proto;
RS
for compiler in "${PROTO_RUSTC:-rustc}" clippy-driver; do
	if ! command -v "$compiler" >/dev/null; then
		[ "$compiler" = clippy-driver ] || fail "$compiler not found"
		echo "check: clippy-driver not found, skipping the clippy pass over rust/proto"
		continue
	fi
	"$compiler" --edition=2021 --crate-type=rlib --crate-name=proto_nostd \
		-Cpanic=abort -Coverflow-checks=on -Copt-level=2 -Dwarnings \
		"${kernel_lints[@]}" --out-dir "$nostd" "$nostd/lib.rs" ||
		fail "rust/proto does not build cleanly with $compiler"
done

step "clippy on the host crate"
cargo clippy --locked --release --all-targets -- -Dwarnings
RUSTFLAGS="--cfg loom" cargo clippy --locked --release --all-targets \
	--target-dir "$CARGO_TARGET_DIR/loom" -- -Dwarnings

step "unit and property tests"
cargo test --locked --release -- --nocapture 2>&1 | tee "$logs/tests.log" ||
	fail "unit/property tests"
tests=$(sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' "$logs/tests.log" |
	awk '{ s += $1 } END { print s + 0 }')
cases=$(grep -o 'proptest [a-z_]*: [0-9]* cases' "$logs/tests.log" |
	awk '{ s += $3 } END { print s + 0 }')
props=$(grep -c -o 'proptest [a-z_]*: [0-9]* cases' "$logs/tests.log" || true)
[ "$tests" -gt 0 ] || fail "no test ran"

step "loom model of the req lifetime"
RUSTFLAGS="--cfg loom" cargo test --locked --release --target-dir "$CARGO_TARGET_DIR/loom" \
	-- --nocapture --test-threads=2 2>&1 | tee "$logs/loom.log" ||
	fail "loom model"
interleavings=$(grep -o 'loom [a-z_]*: [0-9]* interleavings' "$logs/loom.log" |
	awk '{ s += $3 } END { print s + 0 }')
models=$(grep -o 'loom [a-z_]*: [0-9]* interleavings' "$logs/loom.log" | wc -l)
[ "$models" -gt 0 ] || fail "no loom model ran"

step "fuzzing the reply decoder for ${fuzz_seconds}s"
"$here/fuzz.sh" "$fuzz_seconds" decode_reply | tee "$logs/fuzz.log" || fail "fuzzing"
execs=$(sed -n 's/^fuzz decode_reply: \([0-9]*\) executions.*/\1/p' "$logs/fuzz.log")

step "the benchmark report's profile figures on a synthetic run"
python3 "$here/bench-report-test.py" || fail "bench-report-test"

echo "check: OK: $tests tests passed, $cases proptest cases in $props properties, $interleavings loom interleavings in $models models, $execs fuzz executions in ${fuzz_seconds}s"
