# SPDX-License-Identifier: GPL-2.0
# Repeated faults: rs-soak.sh [rs|c|both] [FLAPS] [MOUNTS]
#
# Per client, on NFSv3 over RDMA:
#   1. FLAPS link flaps (`rdma link delete rxe0`, then add it back) at
#      varied intervals, some right after the add, while the transport is
#      setting up its connection, under fio 4 KiB O_DIRECT random writes
#      at QD 8 with crc32c verification: every fio run must end with
#      err=0 and no verify error. A connect failure whose errno sunrpc
#      does not retry reached the application as EINVAL (issue 16).
#   2. nfsd restarted, and the exported ext4 unmounted and mounted again,
#      under the same fio load.
#   3. MOUNTS mount/write/read/umount cycles, mixing v3, v4.0 and v4.2,
#      with slab (per cache, /proc/slabinfo) measured before and after.
# `both` runs C, then ours, in one boot and compares their slab growth.
# The default counts are the short variant of `make check`; `make soak`
# runs 100 flaps and 1000 mounts.
. /xprs/repo/tests/vm/lib.sh

which=${1:-rs}
FLAPS=${2:-10}
MOUNTS=${3:-30}
case $which in both) clients="c rs" ;; c|rs) clients=$which ;; *) fail "usage: rs-soak.sh rs|c|both [FLAPS] [MOUNTS]" ;; esac
summary=/xprs/out/rs-soak-summary.md

# slab_bytes: "cache bytes" for every slab cache (active objects x size).
slab_bytes() {
	awk 'NR > 2 { print $1, $2 * $4 }' /proc/slabinfo | sort
}

# kernel_mem: "field KiB" for the kernel's own memory outside the page
# cache: unreclaimable slab, per-CPU areas, vmalloc (module text and data
# included).
kernel_mem() {
	awk '/^(SUnreclaim|Percpu|VmallocUsed):/ { sub(":", "", $1); print $1, $2 }' /proc/meminfo | sort
}

# sunrpc_objects: "name count" for what sunrpc keeps after a umount: its
# clients and transports (the directories under debugfs sunrpc/rpc_clnt
# and rpc_xprt, two debugfs inodes each, from inode_cache), and
# inode_cache's objects. nfsd keeps an RDMA backchannel transport of
# svcrdma's for every third mount cycle with either client
# (Documentation/soak.md), which is inode_cache's growth. Their `info`
# files are not read: once rpcrdma.ko has been unloaded, reading one
# oopses on address strings in the unloaded module.
sunrpc_objects() {
	local d=/sys/kernel/debug/sunrpc
	mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
	echo "inode_cache $(awk '$1 == "inode_cache" { print $2 }' /proc/slabinfo)"
	echo "rpc_clnt $(find $d/rpc_clnt -mindepth 1 -maxdepth 1 | wc -l)"
	echo "rpc_xprt $(find $d/rpc_xprt -mindepth 1 -maxdepth 1 | wc -l)"
}

# fio_loop FILE LOG: back-to-back fio write+verify runs until /tmp/stop
# exists; each run's status goes to LOG.
fio_loop() {
	local n=0
	while ! [ -e /tmp/stop ]; do
		n=$((n + 1))
		fio --name=soak --filename="$1" --rw=randwrite --bs=4k --direct=1 \
			--ioengine=libaio --iodepth=8 --size=16M --verify=crc32c \
			--verify_fatal=1 --do_verify=1 --output="/tmp/fio-$n.out" > /dev/null 2>&1
		local rc=$?
		# fio has been seen to exit 0 after an io_u error: its job
		# summary (err=N) decides too.
		if [ "$rc" = 0 ] && grep -qE 'err= ?[1-9]' "/tmp/fio-$n.out"; then rc=1; fi
		echo "run $n rc $rc" >> "$2"
		grep -h -E 'err=|verify' "/tmp/fio-$n.out" | head -3 | sed "s/^/run $n: /" >> "$2"
	done
}

# under_load MNT WHAT COMMAND...: runs COMMAND while fio_loop writes
# with verification on MNT; fails unless every fio run passed.
under_load() {
	local mnt=$1 what=$2; shift 2
	local flog=/tmp/fio-$what.log
	rm -f /tmp/stop "$flog"
	fio_loop "$mnt/soak-$what" "$flog" &
	local fpid=$!
	sleep 5
	"$@"
	touch /tmp/stop
	# The last run finishes once the connection is back.
	if ! timeout 600 tail --pid=$fpid -f /dev/null; then
		fail "$what: fio did not finish within 600 s after the faults"
	fi
	local runs bad
	runs=$(grep -c '^run [0-9]* rc' "$flog" || true)
	echo "$runs" > "/tmp/runs-$what"
	bad=$(grep '^run [0-9]* rc' "$flog" | grep -vc ' rc 0$' || true)
	grep -h 'err=' /tmp/fio-*.out | grep -v 'err= 0' | head -5 || true
	echo "$what: $runs fio runs, $bad failed"
	[ "$bad" = 0 ] || { grep -v ' rc 0$' "$flog" | head -10; fail "$what: $bad of $runs fio runs failed (I/O or verify error)"; }
	[ "$runs" -gt 0 ] || fail "$what: no fio run finished"
}

# The statuses sunrpc's call_connect_status() retries (x86 numbers), and
# EPROTONOSUPPORT, our one definitive failure (no FRWR).
retried='(107|110|111|113|101|100|71|105|103|104|11|32|98|93)'

flaps() {
	local i hold up
	for i in $(seq "$FLAPS"); do
		# Down for 0.5 to 3 s; up for 0.3 s (inside connection setup)
		# on every third flap, else for 3 to 8 s.
		hold=$(awk -v i="$i" 'BEGIN { printf "%.1f", 0.5 + (i * 7 % 26) / 10 }')
		if [ $((i % 3)) = 0 ]; then up=0.3; else up=$((3 + i * 5 % 6)); fi
		rdma link delete rxe0 || fail "flap $i: rdma link delete"
		sleep "$hold"
		rdma link add rxe0 type rxe netdev eth0 || fail "flap $i: rdma link add"
		sleep "$up"
	done
	# Let the last flap's connection come up before fio is stopped.
	sleep 5
}

restart_server() {
	nfsd_stop
	sleep 1
	exportfs -ua
	umount /export/disk || { fuser -vm /export/disk; fail "the export's filesystem is busy"; }
	mount /dev/vdb /export/disk
	exportfs -ra
	nfsd_start
	sleep 5
	nfsd_stop
	sleep 2
	nfsd_start
	sleep 5
}

mount_cycles() {
	local i vers mnt=/mnt/cycle
	head -c 65536 /dev/urandom > /tmp/cycle.src
	for i in $(seq "$MOUNTS"); do
		case $((i % 3)) in 0) vers=3 ;; 1) vers=4.0 ;; 2) vers=4.2 ;; esac
		timeout 120 bash -c ". /xprs/repo/tests/vm/lib.sh; nfs_mount $vers tmp $mnt" ||
			fail "mount cycle $i (v$vers): mount failed"
		cp /tmp/cycle.src "$mnt/cycle-$i"
		cmp /tmp/cycle.src "$mnt/cycle-$i" || fail "mount cycle $i (v$vers): read-back differs"
		rm "$mnt/cycle-$i"
		timeout 120 umount "$mnt" || fail "mount cycle $i (v$vers): umount failed"
	done
}

run_client() {
	local c=$1 mnt=/mnt/soak
	log "soak with the $(client_name): $FLAPS flaps, $MOUNTS mount cycles"
	local marker="xprs-soak: $c start"
	echo "$marker" > /dev/kmsg
	timeout 100 bash -c ". /xprs/repo/tests/vm/lib.sh; nfs_mount 3 disk $mnt" || fail "$c: mount failed"
	local c0 t0 flap_runs restart_runs c1 t1
	c0=$(xprt_field "$mnt" 3)
	t0=$(date +%s)
	under_load "$mnt" flaps flaps
	flap_runs=$(cat /tmp/runs-flaps)
	t1=$(date +%s)
	c1=$(xprt_field "$mnt" 3)
	echo "$c: $FLAPS flaps in $((t1 - t0)) s: $((c1 - c0)) reconnects, $flap_runs fio runs, 0 I/O or verify errors"
	xprt_stats "$mnt"
	under_load "$mnt" restart restart_server
	restart_runs=$(cat /tmp/runs-restart)
	echo "$c: nfsd restart and export remount: $restart_runs fio runs, 0 errors"
	timeout 120 umount "$mnt" || fail "$c: umount after the faults"

	# Settle, then measure slab around the mount cycles.
	drop_caches; sleep 2
	slab_bytes > "/tmp/slab-$c.before"
	kernel_mem > "/tmp/mem-$c.before"
	sunrpc_objects > "/tmp/objs-$c.before"
	t0=$(date +%s)
	mount_cycles
	t1=$(date +%s)
	drop_caches; sleep 5
	slab_bytes > "/tmp/slab-$c.after"
	kernel_mem > "/tmp/mem-$c.after"
	sunrpc_objects > "/tmp/objs-$c.after"
	join "/tmp/mem-$c.before" "/tmp/mem-$c.after" |
		awk -v c="$c" '{ printf "%s: %s %d -> %d KiB (%+d)\n", c, $1, $2, $3, $3 - $2 }' > "/tmp/mem-$c.growth"
	cat "/tmp/mem-$c.growth"
	join "/tmp/objs-$c.before" "/tmp/objs-$c.after" |
		awk -v c="$c" '{ printf "%s: %s %d -> %d (%+d)\n", c, $1, $2, $3, $3 - $2 }'
	join "/tmp/slab-$c.before" "/tmp/slab-$c.after" |
		awk '{ print $1, $3 - $2 }' | sort > "/tmp/slab-$c.growth"
	local total
	total=$(awk '{ s += $2 } END { print s + 0 }' "/tmp/slab-$c.growth")
	echo "$c: $MOUNTS mount cycles in $((t1 - t0)) s, slab growth $((total / 1024)) KiB"
	sort -k2 -n -r "/tmp/slab-$c.growth" | head -8 | sed "s/^/$c: slab growth: /"
	printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$c" "$FLAPS" "$((c1 - c0))" "$flap_runs" \
		"$restart_runs" "$MOUNTS ($((t1 - t0)) s)" "$((total / 1024))" >> "$summary"
	if [ "$c" = rs ]; then
		nfsd_stop
		check "rmmod xprtrdma_rs is clean" unload xprtrdma_rs
		local bad
		bad=$(destroy_unbalanced "$marker")
		[ -z "$bad" ] || { echo "$bad"; fail "pool accounting unbalanced"; }
		local failures
		failures=$(dmesg | sed -n "/$marker/,\$p" | grep 'xprtrdma_rs: connect failed' || true)
		echo "connect failures by step and status: $(grep -c . <<< "$failures" || true)"
		[ -z "$failures" ] || sed 's/^\[[^]]*\] //' <<< "$failures" | sort | uniq -c | sort -rn | head -12
		local unretried
		unretried=$(grep -vE "tasks see -$retried\)" <<< "$failures" | grep . || true)
		[ -z "$unretried" ] || { echo "$unretried" | head; fail "a connect failure reached tasks as a status sunrpc does not retry"; }
		echo "ok: every connect failure reached tasks as a status sunrpc retries"
	fi
}

net_up
rxe_up
exports_up
{
	echo "| client | flaps | reconnects | fio runs under flaps | fio runs under server restart | mount cycles | slab growth (KiB) |"
	echo "|---|---|---|---|---|---|---|"
} > "$summary"
first=1
for c in $clients; do
	if [ $first = 1 ]; then client_load "$c"; nfsd_start; first=0; else client_switch "$c"; fi
	run_client "$c"
done
if [ "$which" = both ]; then
	# Caches that grew more with ours than with C, by more than 64 KiB.
	join /tmp/slab-c.growth /tmp/slab-rs.growth |
		awk '$3 - $2 > 65536 { printf "%s: C %d KiB, ours %d KiB\n", $1, $2 / 1024, $3 / 1024 }' > /tmp/slab-more
	echo "caches that grew more with ours than with C (by > 64 KiB):"
	cat /tmp/slab-more
	{ echo; echo "Caches that grew more with ours than with C (by more than 64 KiB):"; echo
	  sed 's/^/- /' /tmp/slab-more; } >> "$summary"
fi
cat "$summary"
echo "rs-soak: all passed ($which)"
