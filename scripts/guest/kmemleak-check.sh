#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run by run.sh after a test passed on the debug kernel: unmount what the test left, scan, rmmod xprtrdma_rs, scan again.
# Fails on an unreferenced object whose allocation backtrace runs through
# xprtrdma_rs: a frame in it while it is loaded, or, after rmmod, a frame
# that no longer resolves to any symbol (an unloaded module's text). Other
# objects (boot-time, the server's) are listed and do not fail the run.
#
#   kmemleak-check.sh [NAME]
#
# NAME (tests/vm/suite.sh gives each test's) names the reports it keeps,
# /xprs/out/kmemleak-NAME.txt; afterwards the objects reported so far are
# cleared, so that the next check reports only what is new.
set -uo pipefail
KL=/sys/kernel/debug/kmemleak
tag=${1:+-$1}
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
[ -e $KL ] || { echo "FAIL: the debug kernel has no $KL"; exit 1; }

log() { echo "== [$(cut -d' ' -f1 /proc/uptime)] kmemleak: $*"; }
# kmemleak reports an object unreferenced for at least 5 s whose contents
# did not change between two scans (its checksum), so one scan never
# reports a fresh leak: each round is two. A pointer may sit in a register
# or a list being spliced during a round, so what a first round finds of
# ours is confirmed by a second: the report lists only reported objects
# that are still unreferenced. The second scan reports only objects
# allocated at least 5 s before it starts (kmemleak's minimum age), so it
# starts no earlier than 6 s after the first began; under TCG the first
# scan itself takes longer than that.
scan() {
	local t0=$SECONDS
	echo scan > $KL
	while [ $((SECONDS - t0)) -lt 6 ]; do sleep 1; done
	echo scan > $KL
	cat $KL
}
# ours FILE: the reported objects whose backtrace has a frame of ours. After
# rmmod that is a bare address: no symbol resolves it any more. It is named
# from the module's symbols saved before it went, when the module was still
# loaded then. The only other module our tests unload is rpcrdma, so a bare
# frame counts as ours; the output shows which it was.
ours() {
	gawk '
		FILENAME == ARGV[1] { nsym++; addr[nsym] = strtonum("0x" $1); name[nsym] = $3; next }
		function named(a,   i, best) {
			for (i = 1; i <= nsym; i++) if (addr[i] <= a) best = i
			return best ? sprintf("%s+0x%x [xprtrdma_rs]", name[best], a - addr[best]) : ""
		}
		/^unreferenced object/ { flush(); obj = $0; body = ""; hit = 0; n++; next }
		obj != "" {
			line = $0
			if (NF == 1 && $1 ~ /^0x[0-9a-f]+$/) {
				a = strtonum($1); nm = named(a)
				line = line "  (" (nm != "" ? nm : "an unloaded module: ours, or rpcrdma") ")"; hit = 1
			}
			if (line ~ /xprtrdma_rs/) hit = 1
			body = body "\n" line
		}
		function flush() { if (obj != "" && hit) { print obj body; bad++ } obj = "" }
		END { flush(); printf "== kmemleak: %d objects reported, %d through xprtrdma_rs\n", n, bad; exit bad > 0 }
	' /tmp/xprs-syms "$1"
}

umount -a -t nfs,nfs4 2>/dev/null
grep '\[xprtrdma_rs\]' /proc/kallsyms | sort > /tmp/xprs-syms || true
for i in $(seq 50); do
	[ -d /sys/module/xprtrdma_rs ] || break
	rmmod xprtrdma_rs 2>/dev/null && break
	sleep 0.2
done
[ -d /sys/module/xprtrdma_rs ] && { log "FAIL: xprtrdma_rs does not unload"; exit 1; }
log "scanning after umount and rmmod"
scan > "/xprs/out/kmemleak$tag.txt"
if ours "/xprs/out/kmemleak$tag.txt" > /tmp/kmemleak.ours; then
	tail -1 /tmp/kmemleak.ours
	echo clear > $KL
	exit 0
fi
log "confirming what the first scan found of ours with a second"
scan > "/xprs/out/kmemleak$tag.2.txt"
ours "/xprs/out/kmemleak$tag.2.txt" || exit 1
echo clear > $KL
