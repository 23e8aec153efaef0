#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs in the guest, exec'd by /sbin/xprs-init as PID 1: run one test
# script, then leave its status and the full dmesg in the out share and
# power off. PID 1 must never exit.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
OUT=/xprs/out
. "$OUT/env"	# XPRS_TEST, XPRS_ARGS, XPRS_TIMEOUT: written by scripts/vm

# Before the host's timeout kills the guest, leave the blocked tasks and the
# whole kernel log behind so a hang can be diagnosed.
(
	sleep $((XPRS_TIMEOUT > 60 ? XPRS_TIMEOUT - 30 : XPRS_TIMEOUT / 2))
	echo "xprs: watchdog: the test is about to time out; dumping blocked tasks" > /dev/kmsg
	echo w > /proc/sysrq-trigger
	dmesg > "$OUT/dmesg.txt"
	ps -eo pid,stat,wchan:32,etime,cmd > "$OUT/ps.txt"
) &

hostname xprs-guest
echo "xprs: running $XPRS_TEST ${XPRS_ARGS[*]}" > /dev/kmsg
cd /xprs/repo
# The console follows the log until the test's own process ends. A pipe
# into tee would wait for every holder of the test's stdout instead, and
# a task the test left stuck in the kernel (D state: the C client under
# the hostile peer) holds it for good.
bash "$XPRS_TEST" "${XPRS_ARGS[@]}" > "$OUT/test.log" 2>&1 &
test_pid=$!
tail -n +1 -f --pid=$test_pid "$OUT/test.log" &
wait $test_pid
rc=$?
wait $!
# On the debug kernel, a passing test must also leave nothing of ours.
if [ $rc = 0 ] && [ "${XPRS_FLAVOR:-prod}" = debug ]; then
	bash /xprs/repo/scripts/guest/kmemleak-check.sh 2>&1 | tee -a "$OUT/test.log" || rc=1
fi
echo "xprs: $XPRS_TEST exited with status $rc" > /dev/kmsg
dmesg > "$OUT/dmesg.txt"
echo "$rc" > "$OUT/status"
sync
umount /xprs/out
echo o > /proc/sysrq-trigger
while :; do sleep 60; done
