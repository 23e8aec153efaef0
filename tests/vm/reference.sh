# SPDX-License-Identifier: GPL-2.0
# The reference test, with the in-tree C client: NFSv3, v4.0, v4.1 and v4.2
# over proto=rdma; 64 MiB of random data written, caches dropped, read back
# (buffered and O_DIRECT) and compared; mountstats shows "xprt: rdma" with
# nonzero read- and write-chunk counters.
. /xprs/repo/tests/vm/lib.sh

guest_setup c
check "rpcrdma registered its client class" grep -qx Y /sys/module/rpcrdma/parameters/client
check "xprtrdma_rs is not loaded" test ! -d /sys/module/xprtrdma_rs

dd if=/dev/urandom of=/tmp/src bs=1M count=64 status=none
want=$(sha256sum < /tmp/src | cut -d' ' -f1)

for vers in 3 4.0 4.1 4.2; do
	log "NFS v$vers over RDMA"
	mnt=/mnt/v$vers
	nfs_mount "$vers" tmp "$mnt"
	check "v$vers: mounted with proto=rdma" grep -q " $mnt nfs.* .*proto=rdma" /proc/mounts
	dd if=/tmp/src of="$mnt/ref-$vers" bs=1M conv=fsync status=none
	drop_caches
	got=$(sha256sum < "$mnt/ref-$vers" | cut -d' ' -f1)
	check "v$vers: buffered read-back matches ($got)" test "$got" = "$want"
	drop_caches
	got=$(dd if="$mnt/ref-$vers" bs=1M iflag=direct status=none | sha256sum | cut -d' ' -f1)
	check "v$vers: O_DIRECT read-back matches" test "$got" = "$want"
	ls -la "$mnt" > /dev/null
	stats=$(xprt_stats "$mnt")
	echo "$stats"
	check "v$vers: mountstats shows xprt: rdma" test "$(echo "$stats" | awk '{print $2}')" = rdma
	check "v$vers: 27 xprt columns" test "$(echo "$stats" | awk '{print NF - 2}')" = 27
	# Columns 11 and 12: read_chunk_count (NFS WRITE), write_chunk_count (READ).
	check "v$vers: read chunks were sent" test "$(xprt_field "$mnt" 11)" -gt 0
	check "v$vers: write chunks were sent" test "$(xprt_field "$mnt" 12)" -gt 0
	rm -f "$mnt/ref-$vers"
	umount "$mnt"
done
log "reference test passed with the $(client_name)"
