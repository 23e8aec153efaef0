# SPDX-License-Identifier: GPL-2.0
# NFSv4.1 and NFSv4.2 over xprtrdma_rs: sessions, and the backchannel that
# carries the server's callbacks on the forward connection. Then NFSv4.1
# once more over IPv6 (proto=rdma6, netid "rdma6", to the guest's fd00::15
# on rxe), with the same checks.
#
# For each version: the mount works (the callback service started and the
# session was created with our bc_maxpayload and bc_num_slots); data
# round-trips bit-exact; nfsd reports the client's callback channel UP
# (which proves little: nfsd 6.12 sends no CB_NULL probe on a v4.1+
# session and counts the channel UP once the session exists). The
# backchannel itself is proven by a delegation recall: once nfsd's grace
# period is over, a file the client opens read-only gets a read
# delegation; a write on the server's side breaks it, nfsd sends CB_RECALL
# on the forward connection, and the write returns once the client has
# answered it and returned the delegation. The recall must show in the
# client transport's callback trace event (xprtrdma_rs:xprs_cb_call, or
# rpcrdma:xprtrdma_cb_call for the C client), and the delegation must be
# gone. Then umount, rmmod, and balanced pool accounting, backchannel reqs
# included.
. /xprs/repo/tests/vm/lib.sh

# With "c", the same checks run against the in-tree client, for reference.
client=${1:-rs}
guest_setup "$client"
ipv6_up
marker="rs-v41: start"
echo "$marker" > /dev/kmsg

t=/sys/kernel/tracing
mountpoint -q "$t" || mount -t tracefs nodev "$t"
case $client in
rs)	cb_event=xprtrdma_rs/xprs_cb_call ;;
c)	cb_event=rpcrdma/xprtrdma_cb_call ;;
esac
check "the callback trace event $cb_event exists" test -d "$t/events/$cb_event"

# deleg_count FILE: the delegations nfsd holds on /FILE of the export.
deleg_count() {
	cat /proc/fs/nfsd/clients/*/states 2>/dev/null |
		grep -c "type: deleg.*filename: \"/$1\"" || true
}

head -c $((1024 * 1024 + 7)) /dev/urandom > /tmp/src-big
head -c 4097 /dev/urandom > /tmp/src-small

# nfsd_client_info KEY: the value of KEY in the (single) client's info.
nfsd_client_info() {
	cat /proc/fs/nfsd/clients/*/info 2>/dev/null | sed -n "s/^$1: //p" | head -1
}

mounts=0
for run in 4.1:rdma 4.2:rdma 4.1:rdma6; do
	vers=${run%:*} proto=${run#*:}
	mnt=/mnt/v$vers-$proto
	log "NFS v$vers over RDMA ($proto) with the $(client_name)"
	if ! NFS_PROTO=$proto timeout 100 bash -c ". /xprs/repo/tests/vm/lib.sh; nfs_mount $vers tmp $mnt"; then
		dmesg | tail -40
		fail "v$vers/$proto: mount over $proto failed"
	fi
	mounts=$((mounts + 1))
	grep " $mnt " /proc/mounts
	check "v$vers/$proto: mounted with proto=$proto,vers=$vers" \
		grep -q " $mnt nfs4 .*vers=$vers,.*proto=$proto," /proc/mounts
	if [ "$proto" = rdma6 ]; then
		check "v$vers/$proto: the server address is IPv6 ($XPRS_ADDR6)" \
			grep -q " $mnt nfs4 .*addr=$XPRS_ADDR6" /proc/mounts
	fi

	cp /tmp/src-big "$mnt/big"
	cp /tmp/src-small "$mnt/small"
	drop_caches
	check "v$vers/$proto: 1 MiB + 7 bytes read back bit-exact" cmp /tmp/src-big "$mnt/big"
	check "v$vers/$proto: 4097 bytes read back bit-exact" cmp /tmp/src-small "$mnt/small"

	state=
	for i in $(seq 100); do
		state=$(nfsd_client_info "callback state")
		[ "$state" = UP ] && break
		sleep 0.2
	done
	echo "nfsd: callback state: $state"
	check "v$vers/$proto: nfsd's callback probe was answered (callback state UP)" test "$state" = UP

	# nfsd gave no delegation on a file a local process on the server had
	# just written; one the client wrote itself, then opens to read, gets
	# one (nfsd 6.12.117).
	echo client > "$mnt/deleg"
	nfsd_wait_grace
	: > "$t/trace"
	echo 1 > "$t/events/$cb_event/enable"
	exec 3< "$mnt/deleg"
	cat <&3 > /dev/null
	check "v$vers/$proto: nfsd granted a read delegation on the file" test "$(deleg_count deleg)" = 1
	check "v$vers/$proto: a write on the server returns (the delegation recalled)" \
		timeout 60 sh -c 'echo server >> /export/tmp/deleg'
	exec 3<&-
	echo 0 > "$t/events/$cb_event/enable"
	grep "${cb_event#*/}:" "$t/trace" | head -3 || true
	check "v$vers/$proto: the recall came in on the backchannel ($cb_event)" \
		grep -q "${cb_event#*/}:" "$t/trace"
	check "v$vers/$proto: the delegation was returned" test "$(deleg_count deleg)" = 0
	rm -f /export/tmp/deleg

	xprt_stats "$mnt"
	check "v$vers/$proto: no bad replies" test "$(xprt_field "$mnt" 20)" = 0
	rm -f "$mnt/big" "$mnt/small"
	check "v$vers/$proto: umount" umount "$mnt"
done

nfsd_stop
if [ "$client" = c ]; then
	log "rs-v41 checks passed with the $(client_name)"
	exit 0
fi
check "rmmod xprtrdma_rs is clean" unload xprtrdma_rs
dmesg | grep 'xprtrdma_rs: destroy:' || true
check "a destroy line per mount" test "$(destroy_count "$marker")" -ge "$mounts"
bad=$(destroy_unbalanced "$marker")
[ -z "$bad" ] || printf '%s\n' "$bad"
check "every req (backchannel included), rep and MR came home" test -z "$bad"
log "rs-v41 test passed"
