#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run by run.sh after a test passed on the debug kernel: unmount what the test left, scan, rmmod xprtrdma_rs, scan again.
# Fails on an unreferenced object whose allocation backtrace runs through
# xprtrdma_rs: a frame in it while it is loaded, or, after rmmod, a frame
# that no longer resolves to any symbol (an unloaded module's text). Other
# objects (boot-time, the server's) are listed and do not fail the run.
set -uo pipefail
KL=/sys/kernel/debug/kmemleak
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
[ -e $KL ] || { echo "FAIL: the debug kernel has no $KL"; exit 1; }

log() { echo "== [$(cut -d' ' -f1 /proc/uptime)] kmemleak: $*"; }
# kmemleak reports an object unreferenced for at least 5 s; the second
# scan confirms what the first found (a pointer may sit in a register or
# a list being spliced during the first).
scan() {
	sleep 6
	echo scan > $KL
	echo scan > $KL
	cat $KL
}

umount -a -t nfs,nfs4 2>/dev/null
log "scanning after umount"
scan > /tmp/kmemleak.1
for i in $(seq 50); do
	[ -d /sys/module/xprtrdma_rs ] || break
	rmmod xprtrdma_rs 2>/dev/null && break
	sleep 0.2
done
[ -d /sys/module/xprtrdma_rs ] && { log "FAIL: xprtrdma_rs does not unload"; exit 1; }
log "scanning after rmmod"
scan > /tmp/kmemleak.2
cat /tmp/kmemleak.1 /tmp/kmemleak.2 > /xprs/out/kmemleak.txt
awk '
	/^unreferenced object/ { flush(); obj = $0; body = ""; ours = 0; n++; next }
	obj != "" {
		body = body "\n" $0
		if ($0 ~ /xprtrdma_rs/ || $0 ~ /\] 0x[0-9a-f]+$/) ours = 1
	}
	function flush() {
		if (obj != "" && ours) { print obj body; bad++ }
		obj = ""
	}
	END {
		flush()
		printf "== kmemleak: %d unreferenced objects, %d through xprtrdma_rs\n", n, bad
		exit bad > 0
	}' /xprs/out/kmemleak.txt
