# SPDX-License-Identifier: GPL-2.0
# xprtrdma_rs basics: NFSv3 and NFSv4.0 over proto=rdma served by our
# module. Files of 0, 1, 4095, 4096, 4097 bytes and 1 MiB + 7 are written,
# caches dropped, and read back bit-exact (buffered and O_DIRECT); a
# directory of a few hundred entries is listed; a long symlink round-trips;
# a server restart is survived; umount and rmmod are clean. The v4.0 mount
# runs with max_inline_write=1024, so large Calls that carry no DDP payload
# (the symlink) go as RDMA_NOMSG in a position-zero read chunk.
. /xprs/repo/tests/vm/lib.sh

guest_setup "${1:-rs}"
if [ "${1:-rs}" = rs ]; then
	check "rpcrdma left the client class free" grep -qx N /sys/module/rpcrdma/parameters/client
	check "xprtrdma_rs is loaded" test -d /sys/module/xprtrdma_rs
fi

sizes="0 1 4095 4096 4097 $((1024 * 1024 + 7))"
for n in $sizes; do
	head -c "$n" /dev/urandom > "/tmp/src-$n"
done

target=$(head -c 3000 /dev/zero | tr '\0' t)
for vers in 3 4.0; do
	log "NFS v$vers over RDMA with the $(client_name)"
	if [ "$vers" = 4.0 ] && [ "${1:-rs}" = rs ]; then
		echo 1024 > /sys/module/xprtrdma_rs/parameters/max_inline_write
	fi
	mnt=/mnt/v$vers
	if ! timeout 100 bash -c ". /xprs/repo/tests/vm/lib.sh; nfs_mount $vers tmp $mnt"; then
		dmesg | tail -60
		fail "v$vers: mount over xprtrdma_rs failed"
	fi
	check "v$vers: mounted with proto=rdma" grep -q " $mnt nfs.* .*proto=rdma" /proc/mounts
	grep " $mnt " /proc/mounts
	for n in $sizes; do
		dd if="/tmp/src-$n" of="$mnt/f-$n" bs=64k conv=fsync status=none
	done
	drop_caches
	for n in $sizes; do
		check "v$vers: $n bytes, buffered read-back is bit-exact" cmp "/tmp/src-$n" "$mnt/f-$n"
	done
	drop_caches
	for n in $sizes; do
		# O_DIRECT reads in 4 KiB units; the last one is short.
		dd if="$mnt/f-$n" of="/tmp/back-$n" bs=4k iflag=direct status=none
		check "v$vers: $n bytes, O_DIRECT read-back is bit-exact" cmp "/tmp/src-$n" "/tmp/back-$n"
	done
	mkdir "$mnt/dir"
	for i in $(seq 300); do : > "$mnt/dir/entry-with-a-longish-name-$i"; done
	drop_caches
	check "v$vers: ls lists all 300 entries" test "$(ls "$mnt/dir" | wc -l)" = 300
	check "v$vers: ls -l lists all 300 entries" test "$(ls -l "$mnt/dir" | grep -c entry-with)" = 300
	ln -s "$target" "$mnt/longlink"
	drop_caches
	check "v$vers: a 3000-byte symlink target round-trips" test "$(readlink "$mnt/longlink")" = "$target"
	rm "$mnt/longlink"
	if [ "$vers" = 4.0 ]; then
		# A 1444-byte NFSv4 ACL: a SETATTR whose page data is no DDP
		# payload, so past the inline threshold it goes RDMA_NOMSG.
		# Whether the server takes this ACL does not matter here.
		: > "$mnt/acl"
		perl -e '$a = pack("N", 60);
			$a .= pack("NNNN", 0, 0, 1, 6) . "OWNER\@\0\0" for 1 .. 60;
			my ($p, $n) = ($ARGV[0], "system.nfs4_acl");
			syscall(188, $p, $n, $a, length($a), 0) == 0
				or print "setxattr: $!\n"' "$mnt/acl"
		rm "$mnt/acl"
	fi
	stats=$(xprt_stats "$mnt")
	echo "$stats"
	check "v$vers: mountstats shows xprt: rdma" test "$(echo "$stats" | awk '{print $2}')" = rdma
	check "v$vers: 27 xprt columns" test "$(echo "$stats" | awk '{print NF - 2}')" = 27
	check "v$vers: no bad replies" test "$(xprt_field "$mnt" 20)" = 0
	if [ "$vers" = 4.0 ] && [ "${1:-rs}" = rs ]; then
		check "v4.0: RDMA_NOMSG Calls were sent" test "$(xprt_field "$mnt" 21)" -gt 0
		echo 4096 > /sys/module/xprtrdma_rs/parameters/max_inline_write
	fi
	if [ "$vers" = 3 ]; then
		# The server drops the connection; the client tears its endpoint
		# down (drain, sendctx ring walk) and reconnects once nfsd is back.
		log "v3: restarting nfsd under the mount"
		nfsd_stop
		sleep 2
		nfsd_start
		drop_caches
		check "v3: read-back after a server restart is bit-exact" \
			cmp "/tmp/src-$((1024 * 1024 + 7))" "$mnt/f-$((1024 * 1024 + 7))"
		xprt_stats "$mnt"
		check "v3: the transport reconnected" test "$(xprt_field "$mnt" 3)" -ge 2
	fi
	rm -rf "$mnt/dir" "$mnt"/f-*
	umount "$mnt"
done

if [ "${1:-rs}" = rs ]; then
	# The largest slot table: rxe's queues (max_qp_wr 16384) cannot hold
	# 16384 credits' work requests. As C's frwr_query_device(), the
	# connection gets fewer credits instead of failing every mount.
	log "v3 with slot_table_entries=16384"
	echo 16384 > /sys/module/xprtrdma_rs/parameters/slot_table_entries
	mnt=/mnt/bigslots
	timeout 200 bash -c ". /xprs/repo/tests/vm/lib.sh; nfs_mount 3 tmp $mnt" ||
		{ dmesg | tail -20; fail "a mount with slot_table_entries=16384 failed"; }
	dd if="/tmp/src-$((1024 * 1024 + 7))" of="$mnt/big" bs=64k conv=fsync status=none
	drop_caches
	check "16384 slots: read-back is bit-exact" cmp "/tmp/src-$((1024 * 1024 + 7))" "$mnt/big"
	dmesg | grep 'credits instead of' | tail -1
	check "16384 slots: the credits were fitted to the device" \
		bash -c "dmesg | grep -q 'xprtrdma_rs: device queues hold .* credits instead of 16384'"
	rm "$mnt/big"
	umount "$mnt"
	echo 128 > /sys/module/xprtrdma_rs/parameters/slot_table_entries
fi

nfsd_stop
check "rmmod xprtrdma_rs is clean" unload xprtrdma_rs
log "rs-inline test passed with the xprtrdma_rs client"
