#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the misbehaving RPC-over-RDMA test peer (tests/hostile/xprs-hostile.c)
# on the host, for the guest (Debian 12 both): out/hostile/xprs-hostile,
# rebuilt when the source changes. Installs librdmacm-dev and
# libibverbs-dev if they are missing; the guest image has the run-time
# libraries (rdma-core, ibverbs-providers).
#
#   scripts/hostile.sh          build (a no-op when up to date)
#   scripts/hostile.sh --path   print the binary's path, build nothing
#
# Each build also runs the peer's host self-test (built with ASan and
# UBSan, no RDMA device needed): random and half-valid Calls, nfsd record
# streams and replies through its parsers and fault builders. A build that
# fails it is not installed. HOSTILE_SELFTEST=N sets the iterations.
. "$(dirname "$0")/lib.sh"

SRC=$XPRS_TOP/tests/hostile/xprs-hostile.c
OUT=$XPRS_TOP/out/hostile
BIN=$OUT/xprs-hostile
CFLAGS=(-O2 -g -Wall -Wextra -Werror -Wshadow -Wformat=2)

if [ "${1:-}" = --path ]; then echo "$BIN"; exit 0; fi

install_packages librdmacm-dev libibverbs-dev gcc

key=$(inputs_hash "$SRC" "${CFLAGS[*]}" "$(gcc --version | head -1)")
if [ -x "$BIN" ] && [ "$(cat "$BIN.key" 2>/dev/null)" = "$key" ]; then
	exit 0
fi
mkdir -p "$OUT"
gcc "${CFLAGS[@]}" -o "$BIN.tmp" "$SRC" -lrdmacm -libverbs
gcc "${CFLAGS[@]/-O2/-O1}" -fsanitize=address,undefined -fno-sanitize-recover=all \
	-DXPRS_HOSTILE_SELFTEST -o "$OUT/xprs-hostile-selftest" "$SRC" -lrdmacm -libverbs
"$OUT/xprs-hostile-selftest" "${HOSTILE_SELFTEST:-100000}" >&2 ||
	die "the self-test of $SRC failed"
mv "$BIN.tmp" "$BIN"
echo "$key" > "$BIN.key"
log "built $BIN"
