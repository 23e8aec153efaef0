# SPDX-License-Identifier: GPL-2.0
# xprtrdma_rs under connection faults, with data verified throughout.
#
# 1. Disconnect injection: sunrpc's fail_sunrpc (debugfs) calls our
#    ->inject_disconnect every 300th transmission while fio writes and
#    verifies (crc32c) on NFSv3, and while a 32 MiB file is copied in and
#    read back. Every disconnect must be recovered from (connect_count
#    grows) with no verify error, no mismatch and no bad reply.
# 2. Device removal: `rdma link delete rxe0` under a running writer must
#    return promptly, because our ib_client tells the connection and waits
#    for it to let go of the device. Once rxe0 is back, the transport
#    reconnects and the writer's data reads back bit-exact.
# Then umount, rmmod, and balanced pool accounting for every transport.
. /xprs/repo/tests/vm/lib.sh

# With "c" as the second argument, the same faults hit the in-tree client,
# for reference.
FIO_SECONDS=${1:-20}
client=${2:-rs}
guest_setup "$client"
marker="rs-faults: start"
echo "$marker" > /dev/kmsg
mnt=/mnt/v3

if ! timeout 100 bash -c ". /xprs/repo/tests/vm/lib.sh; nfs_mount 3 tmp $mnt"; then
	dmesg | tail -40
	fail "v3: mount over xprtrdma_rs failed"
fi

log "1. disconnect injection during fio with crc32c verify"
fs=$(fail_sunrpc_setup) || fail "fail_sunrpc is not available"
echo "ok: fail_sunrpc is available"
echo 300 > "$fs/interval"
echo -1 > "$fs/times"
connects=$(xprt_field "$mnt" 3)
echo 100 > "$fs/probability"
# diagnose: what the RPC layer and the transport were doing.
diagnose() {
	xprt_stats "$mnt" || true
	cat /sys/kernel/debug/sunrpc/rpc_xprt/*/info 2>/dev/null || true
	cat /sys/kernel/debug/sunrpc/rpc_clnt/*/tasks 2>/dev/null | head -40 || true
	echo w > /proc/sysrq-trigger
	dmesg | tail -80
}
# If the I/O hangs, say what was stuck while it still is.
(sleep $((FIO_SECONDS + 420)); echo "I/O under injection still runs: diagnosing"; diagnose) &
watchdog=$!
rc=0
fio --name=inject --directory="$mnt" --size=64M --rw=randwrite --bs=4k \
	--ioengine=libaio --iodepth=16 --direct=1 --time_based \
	--runtime="$FIO_SECONDS" --verify=crc32c --verify_backlog=1024 \
	--verify_fatal=1 --verify_state_save=0 --output=/tmp/fio-inject.txt || rc=$?
sed -n '/inject:/,/^$/p' /tmp/fio-inject.txt | grep -E 'err=|IOPS|verify' || true
check "fio under disconnect injection finished without error" test "$rc" = 0
check "fio reported no verify error" sh -c '! grep -qi "verify:" /tmp/fio-inject.txt'
# A plain copy under injection, read back after drop_caches, still
# under injection.
head -c $((32 * 1024 * 1024)) /dev/urandom > /tmp/src-inject
check "a 32 MiB copy under injection succeeds" cp /tmp/src-inject "$mnt/copy"
drop_caches
check "the copy reads back bit-exact under injection" cmp /tmp/src-inject "$mnt/copy"
# Three injections need about 900 transmissions. On a slow guest (the
# debug kernel, fio at 15 IOPS) the window above may carry fewer, so go on
# writing 4 KiB O_DIRECT blocks of the same data, still under injection,
# until three reconnects were seen or 180 s have passed; then read the
# blocks back.
deadline=$(( $(date +%s) + 180 ))
blocks=0
while [ $(( $(xprt_field "$mnt" 3) - connects )) -lt 3 ] && [ "$(date +%s)" -lt $deadline ] &&
	[ $blocks -lt 8192 ]; do
	dd if=/tmp/src-inject of="$mnt/extra" bs=4k count=1 skip=$blocks seek=$blocks \
		oflag=direct conv=notrunc status=none || fail "a 4 KiB O_DIRECT write under injection failed (block $blocks)"
	blocks=$((blocks + 1))
done
if [ $blocks -gt 0 ]; then
	echo "extra 4 KiB writes under injection: $blocks"
	drop_caches
	check "the extra blocks read back bit-exact under injection" \
		cmp -n $((blocks * 4096)) /tmp/src-inject "$mnt/extra"
fi
echo 0 > "$fs/probability"
# Its sleep too: a live sleep holds the test's output open, and run.sh
# waits for it (130 s past the end of the test on the debug kernel).
pkill -P "$watchdog" 2>/dev/null || true
kill "$watchdog" 2>/dev/null || true
xprt_stats "$mnt"
injected=$(($(xprt_field "$mnt" 3) - connects))
echo "reconnects during injection: $injected"
check "injected disconnects were recovered from (reconnects >= 3)" test "$injected" -ge 3
check "no bad replies" test "$(xprt_field "$mnt" 20)" = 0
rm -f "$mnt"/inject.* "$mnt/copy" "$mnt/extra"

log "2. rxe0 removed under a writer"
head -c $((48 * 1024 * 1024)) /dev/urandom > /tmp/src-removal
connects=$(xprt_field "$mnt" 3)
dd if=/tmp/src-removal of="$mnt/removal" bs=1M conv=fsync status=none &
writer=$!
sleep 2
start=$(date +%s%N)
check "rdma link delete rxe0 returns" timeout 60 rdma link delete rxe0
ms=$((($(date +%s%N) - start) / 1000000))
echo "rdma link delete took $ms ms"
[ "$client" = c ] || check "our ib_client closed the connection" sh -c "dmesg | sed -n '/$marker/,\$p' | grep -q 'xprtrdma_rs: device removal: closing the connection'"
sleep 3
rxe_up
# nfsd listens on the wildcard address; rdma_cm listens on the new device.
grep "^rdma" /proc/fs/nfsd/portlist
for i in $(seq 300); do
	kill -0 "$writer" 2>/dev/null || break
	sleep 1
done
check "the writer finished after rxe0 came back" wait "$writer"
drop_caches
check "the data written across the removal reads back bit-exact" cmp /tmp/src-removal "$mnt/removal"
xprt_stats "$mnt"
check "the transport reconnected on the new device" test "$(xprt_field "$mnt" 3)" -gt "$connects"
check "no bad replies" test "$(xprt_field "$mnt" 20)" = 0
rm -f "$mnt/removal"
check "umount" umount "$mnt"

nfsd_stop
if [ "$client" = c ]; then
	log "rs-faults checks passed with the $(client_name)"
	exit 0
fi
check "rmmod xprtrdma_rs is clean" unload xprtrdma_rs
dmesg | grep 'xprtrdma_rs: destroy:' || true
check "transports logged their accounting" test "$(destroy_count "$marker")" -ge 1
bad=$(destroy_unbalanced "$marker")
[ -z "$bad" ] || printf '%s\n' "$bad"
check "every req, rep and MR came home" test -z "$bad"
log "rs-faults test passed"
