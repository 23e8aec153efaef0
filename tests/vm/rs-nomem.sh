# SPDX-License-Identifier: GPL-2.0
# Allocation failure, made to happen at every point of our client's life.
#
# One attempt is: mount NFSv3 over xprtrdma_rs (transport setup, connect,
# the first RPCs), one RPC of each kind (inline; a read chunk and a write
# chunk, 256 KiB O_DIRECT; a reply chunk, GETACL of a 250-entry ACL; an
# RDMA_NOMSG Call, SETACL of 250 entries
# with max_inline_write=1024), a reconnect (one injected disconnect)
# and umount. Attempt N makes the Nth allocation made through our module
# fail: failslab (then fail_page_alloc) with its stack-trace filter on our
# module's text, so the worker, softirq and reply paths count as well as
# the mount's own task.
#
# The fault attribute fails when its call count is a multiple of
# `interval` (lib/fault-inject.c); the count is never reset, so with the
# count at C, interval C+N fails exactly the Nth call from now, once
# (times=1). An attempt in which `times` is still 1 at the end injected
# nothing: the walk is over.
#
# A STRIDE of S walks N = 1, S, 2S, 3S, ...; the full walk is S=1 (`make
# nomem`); make check walks with a stride. Each failure's allocation site
# is the first frame of our module in the failure's stack (verbose dump).
#
# Each attempt must succeed or fail cleanly: a step fails with an errno
# message, or succeeds after sunrpc retried; the data read back is the
# data written; no step hangs (NOMEM_STEP_TIMEOUT seconds). After all
# attempts: rmmod is clean and every transport's pool accounting balances
# (and on the debug kernel, run.sh's kmemleak check finds nothing of ours).
#
# MIN_ORDER above 0 walks only the page allocations of at least that
# order (fail_page_alloc's min-order): the large tables (kmalloc of more
# than 8 KiB goes to the page allocator), which fragmentation fails
# first. They are few, so that walk takes every N whatever the STRIDE.
#
#   tests/vm/rs-nomem.sh [MAX_ATTEMPTS per walk] [both|failslab|fail_page_alloc] [STRIDE] [MIN_ORDER]
. /xprs/repo/tests/vm/lib.sh

MAX_ATTEMPTS=${1:-400}
WALKS=${2:-both}
STEP_TIMEOUT=${NOMEM_STEP_TIMEOUT:-120}
STRIDE=${3:-1}
MIN_ORDER=${4:-0}
case $MIN_ORDER in ''|*[!0-9]*) fail "MIN_ORDER must be a number, not '$MIN_ORDER'" ;; esac

guest_setup rs
marker="rs-nomem: start"
echo "$marker" > /dev/kmsg
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
check "the kernel has failslab" test -d /sys/kernel/debug/failslab
check "the kernel has fail_page_alloc" test -d /sys/kernel/debug/fail_page_alloc
check "the fault attributes have a stack-trace filter" test -e /sys/kernel/debug/failslab/require-start

# Our module's text: from the lowest to past the highest of its text symbols.
awk '$4 == "[xprtrdma_rs]" && $2 ~ /^[tT]$/ { print $1 }' /proc/kallsyms | sort > /tmp/xprs-text
text_lo=$(head -1 /tmp/xprs-text)
text_hi=$(tail -1 /tmp/xprs-text)
[ -n "${text_hi:-}" ] || fail "no text symbols of xprtrdma_rs in /proc/kallsyms"
text_hi=$(printf '0x%x' $(( 0x$text_hi + 0x4000 )))
log "xprtrdma_rs text: 0x$text_lo..$text_hi"

# Files on the server's side of the ext4 export: the ACL to read back.
srv=/export/disk/nomem
mkdir -p "$srv"
head -c 262144 /dev/urandom > /tmp/data256k
acl_entries() { local i; for i in $(seq 1000 1249); do echo "u:$i:rw"; done; }
acl_entries > /tmp/acl250
# With max_inline_write=1024, SETACL of 250 entries (3,000 bytes of ACL)
# goes RDMA_NOMSG. (At the default 4096 it takes 350 entries, and SETACL of
# 400 gets EIO from this nfsd with the C client as with ours.)
echo 1024 > /sys/module/xprtrdma_rs/parameters/max_inline_write
touch "$srv/acl-file"
setfacl -M /tmp/acl250 "$srv/acl-file"
getfacl -n "$srv/acl-file" > /tmp/acl-expected 2>/dev/null
check "the server-side ACL has 250 user entries" test "$(grep -c '^user:[0-9]' /tmp/acl-expected)" = 250

fs=$(fail_sunrpc_setup) || fail "fail_sunrpc is not available"

mnt=/mnt/nomem
# step NAME CMD...: run one step of the workload with a deadline. Prints
# "step NAME: ok" or "step NAME: failed: <its last line>"; a step that
# outlives the deadline is a hang and fails the test.
step() {
	local name=$1; shift
	local rc=0
	timeout -k 5 "$STEP_TIMEOUT" "$@" > /tmp/step.out 2>&1 || rc=$?
	if [ $rc = 124 ] || [ $rc = 137 ]; then
		echo "step $name: HANG (over ${STEP_TIMEOUT}s)"
		return 2
	fi
	if [ $rc = 0 ]; then echo "step $name: ok"; return 0; fi
	echo "step $name: failed (exit $rc): $(tail -1 /tmp/step.out)"
	return 1
}

workload() {
	step mount bash -c ". /xprs/repo/tests/vm/lib.sh; nfs_mount 3 disk $mnt timeo=100" || return $?
	step inline bash -c "echo nomem-inline > $mnt/nomem/small && grep -qx nomem-inline $mnt/nomem/small" || return $?
	step read-chunk dd if=/tmp/data256k of="$mnt/nomem/big" bs=256k count=1 oflag=direct status=none || return $?
	step write-chunk bash -c "dd if=$mnt/nomem/big of=/tmp/back bs=256k count=1 iflag=direct status=none && cmp /tmp/data256k /tmp/back" || return $?
	step reply-chunk bash -c "getfacl -n $mnt/nomem/acl-file | sed 1d > /tmp/acl-got && sed 1d /tmp/acl-expected | cmp - /tmp/acl-got" || return $?
	step nomsg bash -c "touch $mnt/nomem/acl-set && setfacl -M /tmp/acl250 $mnt/nomem/acl-set" || return $?
	echo 1 > "$fs/times"
	echo 1 > "$fs/interval"
	echo 100 > "$fs/probability"
	step reconnect bash -c "stat $mnt/nomem/big > /dev/null && sync && ls -l $mnt/nomem > /dev/null" || return $?
	echo 0 > "$fs/probability"
	step after-reconnect bash -c "dd if=$mnt/nomem/big of=/tmp/back bs=256k count=1 iflag=direct status=none && cmp /tmp/data256k /tmp/back" || return $?
}

# cleanup: unmount whatever an attempt left (a failed step may leave it
# mounted), and wait for the transport to be destroyed.
cleanup() {
	echo 0 > "$fs/probability"
	if mountpoint -q "$mnt"; then
		timeout -k 5 "$STEP_TIMEOUT" umount "$mnt" || { echo "umount: HANG or failure"; return 2; }
	fi
	rm -f "$srv/small" "$srv/big" "$srv/acl-set"
	return 0
}

# The workload without injection first: every step passes, and the
# counters show that each RPC kind really took its chunk type.
out=$(workload) || { printf '%s\n' "$out"; fail "the workload fails with nothing injected"; }
printf '%s\n' "$out"
check "read chunks were sent" test "$(xprt_field "$mnt" 11)" -gt 0
check "write chunks were sent" test "$(xprt_field "$mnt" 12)" -gt 0
check "reply chunks were sent" test "$(xprt_field "$mnt" 13)" -gt 0
check "RDMA_NOMSG Calls were sent" test "$(xprt_field "$mnt" 21)" -gt 0
check "the injected disconnect made a reconnect" test "$(xprt_field "$mnt" 3)" -ge 2
check "no bad replies" test "$(xprt_field "$mnt" 20)" = 0
cleanup || fail "umount after the workload"

sites_file=/tmp/nomem-sites
: > "$sites_file"
: > /tmp/failed-steps
total_attempts=0 total_injected=0
walk() {	# walk failslab|fail_page_alloc
	local attr=/sys/kernel/debug/$1 count=0 n=1 attempts=0 injected=0 site rc out
	local stride=$STRIDE
	[ "$1" = fail_page_alloc ] && [ "$MIN_ORDER" -gt 0 ] && stride=1
	echo 0 > "$attr/probability"
	echo 2 > "$attr/verbose"
	echo 0 > "$attr/space"
	echo 0 > "$attr/times"
	echo N > "$attr/task-filter"
	echo N > "$attr/ignore-gfp-wait"
	if [ -e "$attr/ignore-gfp-highmem" ]; then echo N > "$attr/ignore-gfp-highmem"; fi
	if [ -e "$attr/min-order" ]; then echo "$MIN_ORDER" > "$attr/min-order"; fi
	echo 32 > "$attr/stacktrace-depth"
	echo "0x$text_lo" > "$attr/require-start"
	echo "$text_hi" > "$attr/require-end"
	echo 100 > "$attr/probability"
	while :; do
		[ $attempts -lt "$MAX_ATTEMPTS" ] || { log "$1: stopped after $attempts attempts (N=$n not reached)"; break; }
		attempts=$((attempts + 1))
		echo "rs-nomem: $1 N=$n" > /dev/kmsg
		echo $((count + n)) > "$attr/interval"
		echo 1 > "$attr/times"
		rc=0
		out=$(workload) || rc=$?
		times_after=$(cat "$attr/times")
		echo 0 > "$attr/times"
		cleanup >> /tmp/cleanup.log || rc=2
		printf '%s\n' "$out" > /tmp/attempt.log
		if grep -q HANG /tmp/attempt.log || [ $rc = 2 ]; then
			cat /tmp/attempt.log
			fail "$1, N=$n: a step hung"
		fi
		if grep -q 'differ' /tmp/attempt.log; then
			cat /tmp/attempt.log
			fail "$1, N=$n: data read back differs"
		fi
		# times went from 1 to 0 exactly when the failure was injected. (A
		# __GFP_NOWARN allocation fails without the verbose dump.)
		if [ "$times_after" != 0 ]; then
			# Nothing failed: the Nth call is past the end of the workload.
			check "$1: the attempt with nothing injected (N=$n) passed every step" \
				test "$(grep -c ': ok$' /tmp/attempt.log)" = 8
			log "$1: N=$n is past the last allocation; the walk is complete"
			break
		fi
		injected=$((injected + 1))
		# interval 1 does not count (lib/fault-inject.c), so only a larger one moves it.
		[ $((count + n)) -gt 1 ] && count=$((count + n))
		site=$(dmesg | sed -n "/rs-nomem: $1 N=$n\$/,\$p" | awk '
			{ sub(/^\[[^]]*\] */, "") }
			/FAULT_INJECTION: forcing a failure/ { want = 1; next }
			# The first frame of our own code (a "sym+off/len" word; "?" frames
			# are unreliable and the Workqueue: line names no frame), and not
			# the kernel crate generics (KVec and KBox methods) that were
			# instantiated into our module.
			want && /\[xprtrdma_rs\]/ && $1 ~ /\+0x/ && $1 !~ /6kernel5alloc/ {
				s = $1; sub(/\/.*/, "", s); print s; exit
			}')
		site=${site:-"(no dump: a __GFP_NOWARN allocation)"}
		echo "$1 $site" >> "$sites_file"
		grep ': failed' /tmp/attempt.log >> /tmp/failed-steps || true
		log "$1 N=$n: failed in $site; $(grep -E ': failed' /tmp/attempt.log | head -1 || echo 'every step succeeded')"
		n=$((n == 1 && stride > 1 ? stride : n + stride))
	done
	echo 0 > "$attr/probability"
	echo 0 > "$attr/verbose"
	total_attempts=$((total_attempts + attempts))
	total_injected=$((total_injected + injected))
	log "$1: $attempts attempts, $injected with an injected failure, stride $stride$([ "$1" = failslab ] || echo ", min-order $MIN_ORDER")"
}

case $WALKS in
both) walk failslab; walk fail_page_alloc ;;
failslab|fail_page_alloc) walk "$WALKS" ;;
*) fail "unknown walk '$WALKS'" ;;
esac

log "sites where an allocation was made to fail (walk, first frame of ours, attempts):"
sort "$sites_file" | uniq -c | sort -rn
sites=$(sort -u "$sites_file" | wc -l)
log "summary: $total_attempts attempts, $total_injected injected failures, $sites distinct sites, $(wc -l < /tmp/failed-steps) failed steps (each with an errno)"
log "how the steps that failed said so:"
sed 's/^step \([a-z-]*\): failed (exit \([0-9]*\)): .*: \([^:]*\)$/\1 (exit \2): \3/' /tmp/failed-steps |
	sort | uniq -c | sort -rn

nfsd_stop
check "rmmod xprtrdma_rs is clean" unload xprtrdma_rs
check "transports logged their accounting" test "$(destroy_count "$marker")" -ge 1
bad=$(destroy_unbalanced "$marker")
[ -z "$bad" ] || { printf '%s\n' "$bad"; fail "pool accounting did not balance"; }
log "ok: every transport's pools balanced"
log "rs-nomem passed"
