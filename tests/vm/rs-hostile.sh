# SPDX-License-Identifier: GPL-2.0
# The NFS/RDMA client against a server that misbehaves on purpose.
#
#   rs-hostile.sh [rs|c] [PER_MODE] [MODE_SECONDS] [MODE[:EVERY]... chunks/MODE[:EVERY]...]
#
# tests/hostile/xprs-hostile.c (built on the host by scripts/hostile.sh)
# runs in the guest as an RPC-over-RDMA server on 10.0.2.15:20050 that
# forwards every Call over TCP to nfsd and corrupts the reply to every
# Nth one, one fault kind at a time (Documentation/hostile-peer.md). An
# NFSv3 mount with rsize=wsize=1024 goes through it, so Calls and READ
# replies are inline and the peer needs no XDR knowledge.
#
# Clean I/O first (files written, caches dropped, read back bit-exact).
# Then for each mode a small-file workload (tests/hostile/workload.py:
# reads compared with what was written, stat, listing, write + fsync +
# read-back), bounded by `timeout`, until the peer has sent PER_MODE
# malformed messages of that kind or MODE_SECONDS pass. A workload that
# times out is a hang; an operation that succeeds with wrong bytes is
# silent corruption, one that fails with another errno than EIO took a
# garbage reply as valid. After each mode, back to clean, and a freshly written
# file must read back bit-exact. At the end: umount, rmmod (rs: balanced
# pool accounting) and a table of modes x outcomes, also in
# out/vm/rs-hostile/rs-hostile-summary.md; the peer's own log is
# hostile.log beside it.
#
# What our client must show: no hang, no corruption, every clean check
# bit-exact, the peer alive, clean umount and rmmod. Affected RPCs may fail
# with EIO (counted, not a failure). With "c" the in-tree client runs the
# same, for reference.
. /xprs/repo/tests/vm/lib.sh

client=${1:-rs}
PER_MODE=${2:-100}
MODE_SECONDS=${3:-20}
shift $(( $# >= 3 ? 3 : $# ))
# Each mode with how often it strikes (every Nth reply).
# MODE:EVERY[:read] (read: only replies to NFSv3 READ are struck).
ALL_MODES="dup:1 badxid:1 unsol:2 hdr:1 credits:1 trunc:1 wlist:1:read wlist:3
	rchunk:3 biglen:1 rdmaerr:1 inv_bad:8 early:3 disc:25 setup:5"
ALL_CHUNK_MODES="clean:1 dup:1 inv_other:1 inv_bad:8 hdr:1 wlist:1:read rchunk:3 biglen:1 disc:25"
MODES=$ALL_MODES CHUNK_MODES=$ALL_CHUNK_MODES
if [ $# -gt 0 ]; then
	# Given modes: "chunks/NAME:EVERY" runs in the chunk phase.
	MODES= CHUNK_MODES=
	for m in "$@"; do
		case $m in
		chunks/*) CHUNK_MODES="$CHUNK_MODES ${m#chunks/}" ;;
		*) MODES="$MODES $m" ;;
		esac
	done
fi
STEP_TIMEOUT=30

BIN=/xprs/repo/out/hostile/xprs-hostile
CTL=/run/xprs-hostile.ctl
STATS=/run/xprs-hostile.stats
OUT=/xprs/out
PORT=20050
mnt=/mnt/h
OPTS="proto=rdma,port=$PORT,vers=3,rsize=1024,wsize=1024,mountproto=tcp,nolock,timeo=50,retrans=2"

[ -x "$BIN" ] || fail "no $BIN: run scripts/hostile.sh on the host (make vm-test does)"
guest_setup "$client"
modprobe ib_uverbs
modprobe rdma_ucm
marker="rs-hostile: start"
echo "$marker" > /dev/kmsg

"$BIN" -a "$XPRS_ADDR" -p "$PORT" -n 127.0.0.1 -N 2049 -S 17 -c "$CTL" -s "$STATS" \
	> "$OUT/hostile.log" 2>&1 &
peer=$!
for i in $(seq 50); do [ -f "$STATS" ] && break; sleep 0.2; done
[ -f "$STATS" ] || { cat "$OUT/hostile.log"; fail "the hostile peer did not start"; }

peer_alive() { kill -0 "$peer" 2>/dev/null; }
hctl() {
	peer_alive || fail "the hostile peer died (see hostile.log)"
	timeout 5 bash -c "echo '$*' > $CTL" || fail "the hostile peer does not read its control FIFO"
}
hseq=0
hdump() {
	hseq=$((hseq + 1))
	hctl "dump $hseq"
	for i in $(seq 100); do
		grep -qx "seq $hseq" "$STATS" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "the hostile peer does not answer"
}
# xfield N: mountstats column N of the mount, 0 when there is none.
xfield() { local v; v=$(xprt_field "$mnt" "$1" 2>/dev/null || true); echo "${v:-0}"; }
hval() { awk -v k="$1" -v m="$2" '$1 == k && $2 == m { print $3 }' "$STATS"; }

do_mount() {
	mkdir -p "$mnt"
	timeout 120 mount -t nfs -o "$OPTS" "$XPRS_ADDR:/export/tmp" "$mnt"
}
if ! do_mount; then
	dmesg | tail -40
	cat "$OUT/hostile.log"
	fail "mount through the hostile peer failed"
fi
grep " $mnt " /proc/mounts

# Reference files, written in the clean phase; every mode reads them.
nref=4
for i in $(seq $nref); do head -c $((1000 + 997 * i)) /dev/urandom > "/tmp/ref-$i"; done
head -c 2500 /dev/urandom > /tmp/wsrc
head -c 65536 /dev/urandom > /tmp/clean-src

dropc() { timeout "$STEP_TIMEOUT" sh -c 'echo 3 > /proc/sys/vm/drop_caches'; }

log "clean I/O through the peer with the $(client_name)"
for i in $(seq $nref); do
	timeout "$STEP_TIMEOUT" dd if="/tmp/ref-$i" of="$mnt/ref-$i" bs=1024 conv=fsync status=none ||
		fail "clean write of ref-$i"
done
mkdir -p "$mnt/dir"
for i in $(seq 20); do : > "$mnt/dir/entry-$i"; done
dropc
for i in $(seq $nref); do
	check "clean: ref-$i reads back bit-exact" cmp "/tmp/ref-$i" "$mnt/ref-$i"
done
check "clean: ls lists 20 entries" test "$(ls "$mnt/dir" | wc -l)" = 20
xprt_stats "$mnt"

# bounded SECS CMD...: CMD with a deadline. Its status; 124 if it had to
# be killed; 125, and wedged=1, if even SIGKILL did not end it (a task
# stuck in the kernel): then nothing more can be run on the mount.
wedged=0
alive() { local s; s=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1; [ -n "$s" ] && [ "$s" != Z ]; }
# With PROGRESS=FILE, SECS counts from the last time FILE grew, up to five
# times SECS in all: a slow workload that keeps finishing operations
# (reconnect storms on a loaded host) is no hang.
PROGRESS=
bounded() {
	local secs=$1 pid t=0 all=0 i size=0 now
	shift
	"$@" &
	pid=$!
	while alive "$pid"; do
		if [ -n "$PROGRESS" ]; then
			now=$(stat -c %s "$PROGRESS" 2>/dev/null || echo 0)
			[ "$now" = "$size" ] || { size=$now; t=0; }
		fi
		if [ "$t" -ge $((secs * 5)) ] || [ "$all" -ge $((secs * 25)) ]; then
			kill -9 "$pid" 2>/dev/null || true
			for i in $(seq 50); do alive "$pid" || break; sleep 0.2; done
			if alive "$pid"; then
				wedged=1
				echo "  a task is stuck in the kernel: $(cat "/proc/$pid/wchan" 2>/dev/null)"
				return 125
			fi
			wait "$pid" 2>/dev/null || true
			return 124
		fi
		sleep 0.2
		t=$((t + 1))
		all=$((all + 1))
	done
	wait "$pid"
}

# workload IT DEADLINE: up to ITERS rounds of tests/hostile/workload.py
# (reads compared, stat, listing, write + fsync + read-back), bounded; it
# stops after two once the clock passes DEADLINE (the mode's end). Adds
# its counts to ok/eio/other/corrupt, and a timeout to hang.
ITERS=5
workload() {
	local rc=0 line
	: > /tmp/wl.out
	PROGRESS=/tmp/wl.out bounded $((STEP_TIMEOUT * 2)) python3 /xprs/repo/tests/hostile/workload.py \
		"$mnt" /tmp "$nref" "$ITERS" "$1" "$2" > /tmp/wl.out 2>&1 || rc=$?
	grep '^msg:' /tmp/wl.out | sed 's/^/  /' | head -3 || true
	line=$(grep '^counts' /tmp/wl.out | tail -1 || true)
	if [ -n "$line" ]; then
		set -- $line
		ok=$((ok + $3)) eio=$((eio + $5)) other=$((other + $7)) corrupt=$((corrupt + $9))
	fi
	case $rc in
	0) ;;
	124|125) hang=$((hang + 1)); echo "  hang: the workload made no progress for $((STEP_TIMEOUT * 2)) s" ;;
	*) echo "  workload exited with $rc: $(grep -v -e '^counts' -e '^msg:' /tmp/wl.out | tail -3 | tr '\n' ' ')"
	   other=$((other + 1)) ;;
	esac
}

# clean_check MODE: clean mode, a fresh file must read back bit-exact.
clean_check() {
	local f="$mnt/clean-$1" r=ok
	hctl "mode clean"
	if [ "$wedged" = 1 ]; then
		clean_result="not run (a task is stuck on the mount)"
		return
	fi
	if ! bounded 60 dd if=/tmp/clean-src of="$f" bs=1024 conv=fsync status=none; then
		r="write failed"
	elif ! bounded 30 sh -c 'echo 3 > /proc/sys/vm/drop_caches' || ! bounded 60 cmp /tmp/clean-src "$f"; then
		r="read-back differs"
	fi
	if [ "$r" != ok ] && [ "$wedged" = 0 ]; then
		# Recover for the next mode: a fresh mount.
		echo "  clean check after $1: $r; remounting"
		bounded 60 umount -f "$mnt" || bounded 60 umount -l "$mnt" || true
		if do_mount && bounded 60 dd if=/tmp/clean-src of="$f" bs=1024 conv=fsync status=none &&
			dropc && bounded 60 cmp /tmp/clean-src "$f"; then
			r="$r (ok after remount)"
		else
			r="$r (also after remount)"
		fi
	fi
	[ "$wedged" = 1 ] || bounded 30 rm -f "$f" || true
	clean_result=$r
}

rows=()
total_injected=0
failures=0

# run_modes PHASE MODE:EVERY...: each mode in turn, as described above.
run_modes() {
	local phase=$1 entry mode every filter inj0 bad0 con0 rs0 start it n secs bad con rs
	shift
	for entry in "$@"; do
		if [ "$wedged" = 1 ]; then
			rows+=("| $phase | $entry | | not run: a task is stuck on the mount | | | | | | | | | | | FAIL |")
			failures=$((failures + 1))
			continue
		fi
		IFS=: read -r mode every filter <<< "$entry"
		every=${every:-1}
		hdump
		inj0=$(hval injected "$mode")
		bad0=$(xfield 20)
		con0=$(xfield 3)
		rs0=$(( $(xfield 7) - $(xfield 6) ))
		ok=0 eio=0 other=0 hang=0 corrupt=0
		log "$phase: mode $mode (every $every${filter:+, $filter replies only})"
		if [ "$mode" = setup ]; then
			hctl "setup $every"
		else
			hctl "mode $mode $every $filter"
		fi
		start=$(date +%s)
		it=0
		while :; do
			it=$((it + 1))
			workload "$it" $((start + MODE_SECONDS))
			hdump
			n=$(( $(hval injected "$mode") - inj0 ))
			[ "$mode" = clean ] && [ "$it" -ge 3 ] && break
			[ "$n" -ge "$PER_MODE" ] && break
			[ "$mode" = setup ] && [ "$n" -ge "$every" ] && [ "$it" -ge 2 ] && break
			[ $(( $(date +%s) - start )) -ge "$MODE_SECONDS" ] && break
			[ "$hang" -ge 3 ] && { echo "  three hangs: ending this mode"; break; }
		done
		secs=$(( $(date +%s) - start ))
		bad=$(( $(xfield 20) - bad0 ))
		con=$(( $(xfield 3) - con0 ))
		# Completions beyond transmissions: one RPC completed twice.
		rs=$(( $(xfield 7) - $(xfield 6) - rs0 ))
		clean_check "$mode"
		echo "  $phase $mode: $n injected in $secs s ($it rounds): ok $ok, EIO $eio," \
			"other errors $other, hangs $hang, corrupt $corrupt, bad_reply +$bad," \
			"connects +$con, recvs-sends $rs, clean check: $clean_result"
		xprt_stats "$mnt" || true
		total_injected=$((total_injected + n))
		verdict=pass
		[ "$hang" = 0 ] && [ "$corrupt" = 0 ] && [ "$other" = 0 ] &&
			[ "$clean_result" = ok ] || verdict=FAIL
		[ "$mode" != clean ] || [ "$eio" = 0 ] || verdict=FAIL
		# A mode that never struck proved nothing.
		[ "$mode" = clean ] || [ "$n" -gt 0 ] || verdict=FAIL
		[ "$rs" -le 0 ] || verdict=FAIL
		[ "$verdict" = pass ] || failures=$((failures + 1))
		rows+=("| $phase | $mode${filter:+ ($filter)} | $every | $n | $secs | $ok | $eio | $other | $hang | $corrupt | $bad | $con | $rs | $clean_result | $verdict |")
		peer_alive || fail "the hostile peer died in mode $mode (see hostile.log)"
	done
}

hdump
# shellcheck disable=SC2086
run_modes inline $MODES

# Phase 2: the client's inline receive threshold lowered to 1024, so READ
# replies come by DDP into its write chunks (the peer parses NFSv3 READ
# replies for that) and larger replies through its reply chunk: its MRs
# are registered and invalidated for most replies, and the faults meet
# them (a duplicate while LOCAL_INV runs, Send With Invalidate of another
# XID's rkey, chunks past what was offered).
if [ -n "$CHUNK_MODES" ] && [ "$wedged" = 0 ]; then
	log "chunks: remounting with the client's max_inline_read at 1024"
	bounded 120 umount "$mnt" || fail "umount before the chunk phase"
	case $client in
	rs) echo 1024 > /sys/module/xprtrdma_rs/parameters/max_inline_read ;;
	c) echo 1024 > /proc/sys/sunrpc/rdma_max_inline_read ;;
	esac
	do_mount || fail "remount for the chunk phase"
	# shellcheck disable=SC2086
	run_modes chunks $CHUNK_MODES
	hdump
	grep -E 'ddp_replies|chunk_replies' "$STATS"
	[ "$(hval stat ddp_replies)" -gt 0 ] || { echo "no DDP reply was sent in the chunk phase"; failures=$((failures + 1)); }
fi

hdump
cp "$STATS" "$OUT/hostile.stats"
log "peer counters:"
cat "$STATS"

log "umount"
umount_ok=yes
if [ "$wedged" = 1 ]; then
	umount_ok="no (a task is stuck on the mount; umount -l)"
	bounded 30 umount -l "$mnt" || true
	failures=$((failures + 1))
else
	bounded 120 umount "$mnt" || { umount_ok=no; failures=$((failures + 1)); }
fi
hctl quit
wait "$peer" || true
nfsd_stop
rmmod_ok=n/a unbalanced=n/a
if [ "$client" = rs ] && [ "$wedged" = 0 ]; then
	if unload xprtrdma_rs; then rmmod_ok=yes; else rmmod_ok=no; failures=$((failures + 1)); fi
	u=$(destroy_unbalanced "$marker")
	if [ -z "$u" ]; then unbalanced=no; else unbalanced=yes; echo "$u"; failures=$((failures + 1)); fi
	echo "destroy lines: $(destroy_count "$marker")"
fi
rpcerr=$(dmesg | sed -n "/$marker/,\$p" | grep -c 'RPC call returned error' || true)

{
	echo "# rs-hostile: $(client_name)"
	echo
	echo "PER_MODE=$PER_MODE, MODE_SECONDS=$MODE_SECONDS; $total_injected malformed or hostile messages in all."
	echo "Columns: injected = malformed messages (or faults) the peer sent; ok/EIO/other ="
	echo "workload operations (reads compared, stat, listing, write + fsync + read-back) that"
	echo "succeeded, failed with EIO, failed with another errno (a reply decoded as garbage);"
	echo "hang = workload runs killed after $((STEP_TIMEOUT * 2)) s without progress; corrupt = operations that"
	echo "succeeded with wrong bytes; bad_reply and connects = mountstats deltas; recv-send ="
	echo "the change of (recvs - sends) in mountstats, above 0 when RPCs completed more often"
	echo "than they were sent (a duplicate Reply completed one twice); clean = a 64 KiB file"
	echo "written and read back in clean mode afterwards."
	echo
	echo "| phase | mode | every | injected | s | ok | EIO | other | hang | corrupt | bad_reply | connects | recv-send | clean | verdict |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	printf '%s\n' "${rows[@]}"
	echo
	echo "umount clean: $umount_ok; rmmod clean: $rmmod_ok; unbalanced pool accounting: $unbalanced;"
	echo "'RPC call returned error' lines in dmesg: $rpcerr; modes with a failure: $failures."
} | tee "$OUT/rs-hostile-summary.md"

[ "$failures" = 0 ] || fail "$failures mode(s) or end checks failed against the $(client_name)"
log "rs-hostile passed with the $(client_name)"
