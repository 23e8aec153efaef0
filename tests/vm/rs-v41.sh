# SPDX-License-Identifier: GPL-2.0
# NFSv4.1 and NFSv4.2 over xprtrdma_rs: sessions, and the backchannel that
# carries the server's callbacks on the forward connection.
#
# For each version: the mount works and data round-trips bit-exact; nfsd
# reports the client's callback channel UP (its CB_NULL probe was answered
# through our backchannel); nfsd grants a read delegation on an open file;
# a conflicting write on the server's side breaks it well within the lease
# break time, because CB_RECALL reached the client and it answered with
# DELEGRETURN (counted in mountstats). Then umount, rmmod, and balanced
# pool accounting, backchannel reqs included.
. /xprs/repo/tests/vm/lib.sh

guest_setup rs
marker="rs-v41: start"
echo "$marker" > /dev/kmsg
# Without a working callback, the write below would wait this long.
echo 60 > /proc/sys/fs/lease-break-time

head -c $((1024 * 1024 + 7)) /dev/urandom > /tmp/src-big
head -c 4097 /dev/urandom > /tmp/src-small

# nfsd_client_info KEY: the value of KEY in the (single) client's info.
nfsd_client_info() {
	cat /proc/fs/nfsd/clients/*/info 2>/dev/null | sed -n "s/^$1: //p" | head -1
}

# op_count MNT OP: how many OP calls the mount has made (mountstats).
op_count() {
	awk -v m="$1" -v op="$2:" '
		$1 == "device" { cur = ($5 == m) }
		cur && $1 == op { print $2; exit }' /proc/self/mountstats
}

mounts=0
for vers in 4.1 4.2; do
	mnt=/mnt/v$vers
	log "NFS v$vers over RDMA with the $(client_name)"
	if ! timeout 100 bash -c ". /xprs/repo/tests/vm/lib.sh; nfs_mount $vers tmp $mnt"; then
		dmesg | tail -40
		fail "v$vers: mount over xprtrdma_rs failed"
	fi
	mounts=$((mounts + 1))
	grep " $mnt " /proc/mounts
	check "v$vers: mounted with proto=rdma,vers=$vers" \
		grep -q " $mnt nfs4 .*vers=$vers,.*proto=rdma" /proc/mounts

	cp /tmp/src-big "$mnt/big"
	cp /tmp/src-small "$mnt/small"
	drop_caches
	check "v$vers: 1 MiB + 7 bytes read back bit-exact" cmp /tmp/src-big "$mnt/big"
	check "v$vers: 4097 bytes read back bit-exact" cmp /tmp/src-small "$mnt/small"

	state=
	for i in $(seq 100); do
		state=$(nfsd_client_info "callback state")
		[ "$state" = UP ] && break
		sleep 0.2
	done
	echo "nfsd: callback state: $state"
	check "v$vers: nfsd's callback probe was answered (callback state UP)" test "$state" = UP

	echo "delegated" > "$mnt/deleg"
	drop_caches
	exec 3< "$mnt/deleg"
	read -r line <&3
	check "v$vers: the file reads back through the open" test "$line" = delegated
	granted=no
	for i in $(seq 50); do
		grep -q "type: deleg" /proc/fs/nfsd/clients/*/states && { granted=yes; break; }
		sleep 0.2
	done
	cat /proc/fs/nfsd/clients/*/states
	check "v$vers: nfsd granted a delegation" test "$granted" = yes
	returns=$(op_count "$mnt" DELEGRETURN)

	# A local open for write breaks the delegation: nfsd sends CB_RECALL
	# over the backchannel and the open waits until the client returns it.
	start=$(date +%s%N)
	timeout 90 sh -c 'echo conflict >> /export/tmp/deleg'
	ms=$((($(date +%s%N) - start) / 1000000))
	echo "v$vers: the conflicting local write took $ms ms"
	check "v$vers: the delegation was recalled in under 15 s" test "$ms" -lt 15000
	exec 3<&-
	after=$(op_count "$mnt" DELEGRETURN)
	echo "v$vers: DELEGRETURN calls: $returns before, $after after the recall"
	check "v$vers: the client returned the delegation (DELEGRETURN)" test "$after" -gt "$returns"
	check "v$vers: the delegation is gone" sh -c '! grep -q "type: deleg" /proc/fs/nfsd/clients/*/states'
	drop_caches
	check "v$vers: the client sees the server-side write" \
		test "$(cat "$mnt/deleg")" = "$(printf 'delegated\nconflict')"

	xprt_stats "$mnt"
	check "v$vers: no bad replies" test "$(xprt_field "$mnt" 20)" = 0
	rm -f "$mnt/big" "$mnt/small" "$mnt/deleg"
	check "v$vers: umount" umount "$mnt"
done

nfsd_stop
check "rmmod xprtrdma_rs is clean" unload xprtrdma_rs
dmesg | grep 'xprtrdma_rs: destroy:' || true
check "a destroy line per mount" test "$(destroy_count "$marker")" -ge "$mounts"
bad=$(destroy_unbalanced "$marker")
[ -z "$bad" ] || printf '%s\n' "$bad"
check "every req (backchannel included), rep and MR came home" test -z "$bad"
log "rs-v41 test passed"
