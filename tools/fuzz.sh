#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Usage: tools/fuzz.sh [SECONDS] [TARGET]
#
# Runs the coverage-guided fuzz target TARGET (default decode_reply) for
# SECONDS (default 60) with libFuzzer through cargo-fuzz, on the stable
# toolchain (no sanitizer: the target checks its own invariants, and the
# release profile keeps overflow checks and debug assertions on).
# cargo-fuzz is installed once, from crates.io, into the cache directory.
# New corpus entries go to tools/fuzz/corpus/TARGET (not committed); the
# committed seeds in tools/fuzz/seeds/TARGET are read too.
# Prints "fuzz TARGET: N executions in S s, ..." and exits non-zero on a
# crash, leaving the crashing input under tools/fuzz/artifacts/TARGET.
set -euo pipefail

secs=${1:-60}
target=${2:-decode_reply}
here=$(cd "$(dirname "$0")" && pwd)
cache=${XPRS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/xprtrdma-rs}
cargo_fuzz_version=0.13.2
cargo_fuzz=$cache/cargo/bin/cargo-fuzz

case $secs in
'' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a number, got '$secs'" >&2; exit 2 ;;
esac

if ! [ -x "$cargo_fuzz" ] || ! "$cargo_fuzz" --version 2>/dev/null | grep -qF "$cargo_fuzz_version"; then
	echo "fuzz.sh: installing cargo-fuzz $cargo_fuzz_version into $cache/cargo"
	cargo install --locked --root "$cache/cargo" cargo-fuzz --version "$cargo_fuzz_version"
fi

cd "$here"
# cargo-fuzz has no --locked: fetch first, which fails if fuzz/Cargo.lock
# would have to change.
cargo fetch --locked --manifest-path fuzz/Cargo.toml
corpus=fuzz/corpus/$target
mkdir -p "$corpus" "$cache"
log=${FUZZ_LOG:-$cache/fuzz-$target.log}

echo "fuzz.sh: running $target for ${secs}s (log: $log)"
status=0
CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-$(nproc)} "$cargo_fuzz" run --fuzz-dir fuzz --sanitizer none \
	"$target" "$corpus" "fuzz/seeds/$target" -- \
	-max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1 || status=$?

runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n1)
took=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\2/p' "$log" | tail -n1)
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2)
inputs=$(find "$corpus" -type f | wc -l)

if [ "$status" -ne 0 ] || [ -z "$runs" ]; then
	tail -n 40 "$log" >&2
	echo "fuzz $target: FAILED (exit $status); crash inputs, if any: $here/fuzz/artifacts/$target" >&2
	exit 1
fi
echo "fuzz $target: $runs executions in ${took}s, coverage ${cov:-?} edges, corpus $inputs inputs, no crash"
