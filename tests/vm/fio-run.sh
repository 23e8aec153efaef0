# SPDX-License-Identifier: GPL-2.0
# `make run`: mount the tmpfs export over RDMA with the chosen client
# (c or rs) and run two short fio jobs with crc32c verification: 4 KiB
# random read/write and 1 MiB sequential writes. Ends with a summary
# (client, NFS version, transport, IOPS, MB/s, the verify verdict and the
# labeled transport counters), also left in the out share as summary.txt,
# which scripts/vm prints again on the host.
. /xprs/repo/tests/vm/lib.sh

client=${1:-c}
secs=15
guest_setup "$client"
nfs_mount 3 tmp /mnt

# run_fio NAME FIO-ARGS...: one verified job (fio_job in lib.sh) on /mnt.
# verify_backlog makes a time-based job check what it wrote while it runs,
# not only after a full pass it may never finish.
run_fio() {
	log "fio $1, ${secs} s, over NFSv3/RDMA with the $(client_name)"
	fio_job /mnt "$1" "$secs" "${@:2}"
}

# verified NAME RC: fio exited 0, left one terse line with err=0, read
# back some data, and reported no verify error.
verified() {
	local f=/tmp/fio-$1.terse
	[ "$2" = 0 ] && [ "$(wc -l < "$f")" = 1 ] && [ "$(terse "$f" 5)" = 0 ] &&
		[ "$(terse "$f" 6)" -gt 0 ] &&
		! grep -qiE 'verify(: | failed)' "/tmp/fio-$1.err" "/tmp/fio-$1.out"
}

rc4k=0 rc1m=0
run_fio randrw-4k --rw=randrw --bs=4k --size=64M --iodepth=32 \
	--verify_backlog=256 --serialize_overlap=1 || rc4k=$?
run_fio seq-1m --rw=write --bs=1M --size=128M --iodepth=8 --verify_backlog=16 || rc1m=$?
echo
xprt_stats /mnt

failed=
verified randrw-4k "$rc4k" || failed="$failed randrw-4k (fio status $rc4k)"
verified seq-1m "$rc1m" || failed="$failed seq-1m (fio status $rc1m)"
verdict=${failed:+FAILED:$failed, see the fio output above}
verdict=${verdict:-OK (crc32c, both jobs)}
opts=$(awk '$2 == "/mnt" { print $4; exit }' /proc/mounts)
opt() { echo "$opts" | tr ',' '\n' | sed -n "s/^$1=//p"; }
iops() {	# iops FIELD: a terse IOPS field of the 4 KiB job, rounded
	terse /tmp/fio-randrw-4k.terse "$1" | awk '{ printf "%.0f", $1 }'
}
{
	echo "=== make run: summary"
	echo "client:     $(client_name)"
	echo "NFS:        version $(opt vers), $(awk '$2 == "/mnt" { print $1; exit }' /proc/mounts)"
	echo "transport:  proto=$(opt proto), port $(opt port), mountstats \"xprt: $(xprt_stats /mnt | awk '{ print $2 }')\""
	if [ -s /tmp/fio-randrw-4k.terse ]; then
		echo "4 KiB:      $(( $(iops 8) + $(iops 49) )) IOPS (read $(iops 8) with the verify reads, write $(iops 49); randrw, iodepth 32, O_DIRECT, ${secs} s)"
	fi
	if [ -s /tmp/fio-seq-1m.terse ]; then
		echo "1 MiB:      $(terse /tmp/fio-seq-1m.terse 48 | awk '{ printf "%.1f", $1 * 1024 / 1e6 }') MB/s (sequential write, iodepth 8, O_DIRECT, ${secs} s, read back and verified every 16 MiB)"
	fi
	echo "verify:     $verdict"
	echo "transport counters (mountstats xprt: rdma, in column order):"
	xprt_labeled /mnt
} | tee /xprs/out/summary.txt
rm -f /mnt/fio-randrw-4k /mnt/fio-seq-1m
umount /mnt
log "fio run done with the $(client_name)"
[ -z "$failed" ]
