# SPDX-License-Identifier: GPL-2.0
# The client guest of scripts/vm2: client.sh SCENARIO c|rs
#
# Mounts the server guest's export (10.9.0.1) over RDMA with the chosen
# client, starts the scenario's load, writes phase "writing" and carries
# on while the host does its fault. Every successful probe I/O appends a
# line to $OUT/probe.log; the host times the recovery by it. The host
# writes $OUT/server-up when the server (or the link) is back.
#
#   powercut   NFSv3, hard: fio writes 32 MiB O_DIRECT at 2 MiB/s with
#              crc32c verification, dd writes a 16 MiB random pattern
#              buffered, 1 MiB every 0.5 s; the host kills the server's
#              QEMU mid-write and boots it again 20 s later. Both writers
#              must finish, fio verify and the pattern compare after
#              drop_caches.
#   partition  the same, while the relay drops every frame for 60 s.
#   reboot     NFSv4.1, hard: tests/vm2/holder.py keeps 4 files open (one
#              locked) and writes, fsyncs and reads them every 0.5 s while
#              the server reboots itself; the data, read back through the
#              held descriptors, and the lock must survive.
#   soft       NFSv3, soft,timeo=50,retrans=2: 1 MiB O_DIRECT writes until
#              the server's power is cut; a write must then fail with EIO
#              or ETIMEDOUT within 300 s, and the mount must unmount.
. /xprs/repo/tests/vm2/lib.sh

scenario=${1:?usage: client.sh powercut|partition|reboot|soft c|rs}
c=${2:?usage: client.sh SCENARIO c|rs}
mnt=/mnt/vm2
# How long the load may take to finish after the host's fault before the
# test calls it a hang.
LIMIT=${VM2_LIMIT:-420}

link_up client
: > "$OUT/probe.log"
statd_up
client_load "$c"
marker="xprs-vm2: $scenario $c start"
echo "$marker" > /dev/kmsg

case $scenario in
powercut|partition) vers=3 opts=hard ;;
reboot) vers=4.1 opts=hard ;;
soft) vers=3 opts=soft,timeo=50,retrans=2 ;;
*) fail "unknown scenario $scenario" ;;
esac
path=/export/disk
[ "$vers" = 3 ] || path=/disk
mkdir -p "$mnt"
timeout 120 mount -t nfs -o "proto=rdma,port=$NFS_PORT,vers=$vers,$opts" "$VM2_SERVER:$path" "$mnt" ||
	fail "mount v$vers $opts failed"
log "mounted: $(grep " $mnt " /proc/mounts)"

# wait_pid PID SECONDS: wait for PID to end; 1 if it is still running.
wait_pid() {
	local i
	for i in $(seq $(($2 * 5))); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.2
	done
	return 1
}

hang() {
	log "HANG: $*"
	dump_stuck
	dmesg | tail -60
	result verdict "hang: $*"
	fail "$*"
}

probe_loop() {
	local n=0
	while ! [ -e /tmp/stop ]; do
		if dd if=/dev/zero of="$mnt/probe" bs=4k count=1 oflag=direct conv=notrunc status=none 2>/dev/null; then
			n=$((n + 1))
			probe_ok "$n"
		fi
		sleep 0.5
	done
}

# The rs client's pools must balance once the mount is gone (rmmod).
# SECONDS (10) bounds the wait for the transports' destroy: with the server
# dead, destroy first waits for the connect worker, whose attempt ends when
# the CM gives up on its REQ or our 60 s connect timeout fires.
rs_unload() {
	[ "$c" = rs ] || return 0
	local t0=$SECONDS
	check "rmmod xprtrdma_rs is clean" unload xprtrdma_rs "${1:-10}"
	echo "rmmod took $((SECONDS - t0)) s"
	local bad
	bad=$(destroy_unbalanced "$marker")
	[ -z "$bad" ] || { echo "$bad"; fail "pool accounting unbalanced"; }
	echo "ok: pool accounting balanced ($(destroy_count "$marker") transports destroyed)"
}

hard_writers() {
	head -c 16M /dev/urandom > /tmp/pattern
	probe_loop &
	local ppid=$!
	fio --name=vm2 --filename="$mnt/fio.dat" --rw=write --bs=64k --size=32M --rate=,2m \
		--direct=1 --ioengine=psync --verify=crc32c --verify_fatal=1 --do_verify=1 \
		--output="$OUT/fio.out" > /dev/null 2>&1 &
	local fpid=$!
	(
		for i in $(seq 0 15); do
			dd if=/tmp/pattern of="$mnt/pattern.dat" bs=1M skip="$i" seek="$i" count=1 \
				conv=notrunc status=none || exit 1
			sleep 0.5
		done
		sync "$mnt/pattern.dat"
	) > /tmp/dd.log 2>&1 &
	local dpid=$!
	sleep 2
	phase writing
	wait_pid "$fpid" "$LIMIT" || hang "fio did not finish within $LIMIT s"
	local frc=0; wait "$fpid" || frc=$?
	wait_pid "$dpid" 120 || hang "the pattern writer did not finish"
	local drc=0; wait "$dpid" || drc=$?
	touch /tmp/stop
	wait_pid "$ppid" 60 || hang "the probe did not finish"
	grep -E 'err=|verify|WRITE:|READ:' "$OUT/fio.out" | sed 's/^/fio: /' || true
	[ "$frc" = 0 ] && ! grep -qE 'err= ?[1-9]' "$OUT/fio.out" || { result verdict "fio failed (rc $frc)"; fail "fio write+verify failed (rc $frc)"; }
	echo "ok: fio wrote 32 MiB through the fault and verified it (crc32c)"
	[ "$drc" = 0 ] || { cat /tmp/dd.log; result verdict "pattern write failed"; fail "the pattern writer failed"; }
	drop_caches
	cmp /tmp/pattern "$mnt/pattern.dat" || { result verdict "pattern differs"; fail "the 16 MiB pattern reads back different"; }
	echo "ok: the 16 MiB pattern reads back bit-exact after drop_caches"
	xprt_stats "$mnt" | sed 's/^/mountstats: /'
	result note "fio 32 MiB crc32c and 16 MiB pattern verified, $(xprt_field "$mnt" 3) connects"
	timeout 120 umount "$mnt" || hang "umount"
	rs_unload
	result verdict pass
}

reboot_holder() {
	python3 /xprs/repo/tests/vm2/holder.py "$mnt" 4 "$OUT/probe.log" /tmp/stop > "$OUT/holder.log" 2>&1 &
	local hpid=$! i
	for i in $(seq 600); do
		[ "$(wc -l < "$OUT/probe.log")" -ge 4 ] && break
		if [ "$i" = 100 ]; then
			log "the holder has done $(wc -l < "$OUT/probe.log") iterations in 20 s; its stacks:"
			cat /proc/"$hpid"/task/*/stack || true
			cat "$OUT/holder.log"
		fi
		sleep 0.2
	done
	log "the holder's first 4 iterations took $(awk 'NR == 4 { print $3 }' "$OUT/probe.log") s of uptime"
	phase writing
	wait_host server-up "$LIMIT" || hang "the host never said the server was back"
	local n0
	n0=$(wc -l < "$OUT/probe.log")
	log "the server is back; waiting for 10 more iterations"
	for i in $(seq $((LIMIT * 5))); do
		[ "$(wc -l < "$OUT/probe.log")" -ge $((n0 + 10)) ] && break
		kill -0 "$hpid" 2>/dev/null || break
		sleep 0.2
	done
	[ "$(wc -l < "$OUT/probe.log")" -ge $((n0 + 10)) ] || { cat "$OUT/holder.log"; kill -0 "$hpid" 2>/dev/null && hang "the held files did not come back within $LIMIT s"; }
	touch /tmp/stop
	wait_pid "$hpid" 180 || hang "holder did not finish"
	local hrc=0; wait "$hpid" || hrc=$?
	cat "$OUT/holder.log"
	[ "$hrc" = 0 ] || { result verdict "holder failed"; fail "the held files or their lock did not survive the reboot"; }
	echo "ok: 4 files held open across the reboot: data and lock survived"
	head -c 1M /dev/urandom > /tmp/fresh
	cp /tmp/fresh "$mnt/fresh" && drop_caches && cmp /tmp/fresh "$mnt/fresh" ||
		{ result verdict "fresh file"; fail "a new file after the reboot"; }
	echo "ok: a new 1 MiB file after the reboot reads back bit-exact"
	xprt_stats "$mnt" | sed 's/^/mountstats: /'
	result note "$(grep -o '[0-9]* iterations' "$OUT/holder.log") of 4 held files and a lock verified, $(xprt_field "$mnt" 3) connects"
	timeout 120 umount "$mnt" || hang "umount"
	rs_unload
	result verdict pass
}

soft_cut() {
	head -c 16M /dev/urandom > /tmp/pattern
	(
		i=0
		while :; do
			if ! dd if=/tmp/pattern of="$mnt/soft.dat" bs=1M skip=$((i % 16)) seek=$((i % 16)) count=1 \
				oflag=direct conv=notrunc status=none 2> /tmp/dd.err; then
				echo "$(cut -d' ' -f1 /proc/uptime)" > "$OUT/eio"
				exit 0
			fi
			i=$((i + 1))
			probe_ok "$i"
			[ "$i" = 3 ] && echo writing > "$OUT/phase"
			sleep 0.2
		done
	) &
	local wpid=$!
	wait_pid "$wpid" "$LIMIT" || hang "soft mount: no write failed within $LIMIT s of the power cut"
	local err
	err=$(cat /tmp/dd.err)
	log "the write failed: $err"
	result error "$(echo "$err" | sed 's/.*: //')"
	case $err in
	*"Input/output error"*|*"Connection timed out"*|*"timed out"*) echo "ok: the write failed cleanly: $err" ;;
	*) result verdict "wrong error"; fail "the write failed with an unexpected error: $err" ;;
	esac
	local t0 t1
	t0=$(date +%s.%N)
	timeout 120 umount "$mnt" || {
		log "umount failed or hung; trying umount -f"
		timeout 60 umount -f "$mnt" || true
		hang "umount of the soft mount with its server dead"
	}
	t1=$(date +%s.%N)
	result umount_s "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')"
	mountpoint -q "$mnt" && fail "still mounted"
	echo "ok: the soft mount unmounted with its server dead"
	rs_unload 90
	result verdict pass
}

case $scenario in
powercut|partition) hard_writers ;;
reboot) reboot_holder ;;
soft) soft_cut ;;
esac
echo "vm2 $scenario $c: passed"
