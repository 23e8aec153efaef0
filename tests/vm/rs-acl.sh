# SPDX-License-Identifier: GPL-2.0
# ACLs over RPC-over-RDMA: rs-acl.sh [rs|c].
#
# NFSv3 GETACL/SETACL (the NFSACL side protocol, which nfsd serves with
# CONFIG_NFSD_V3_ACL) and the NFSv4 ACL attribute, with a 1-entry ACL
# (an inline reply) and a 250-entry ACL, whose reply is larger than the
# inline threshold and comes back through the reply chunk. NFSv3 GETACL
# receives into a sparse page array (XDRBUF_SPARSE_PAGES): the transport
# must fill it before it registers the reply chunk (issue 17, finding 1:
# ours mapped the NULL pages, the server's RDMA Write failed with a remote
# access error, and the mount reconnected forever). Every step is bounded
# by a timeout, so that failure mode is a test failure, not a hang.
. /xprs/repo/tests/vm/lib.sh

client=${1:-rs}
guest_setup "$client"
if [ "$client" = rs ]; then
	check "xprtrdma_rs is loaded" test -d /sys/module/xprtrdma_rs
	check "rpcrdma left the client class free" grep -qx N /sys/module/rpcrdma/parameters/client
fi
marker="xprs-acl: start"
echo "$marker" > /dev/kmsg

# Server side: ACLs set on the ext4 export directly.
srv=/export/disk
: > "$srv/small"
setfacl -m u:1000:rw "$srv/small"
: > "$srv/big"
spec=$(seq 1000 1249 | sed 's/^/u:/; s/$/:rw/' | paste -sd,)
setfacl -m "$spec" "$srv/big"
mkdir -p "$srv/dir"
setfacl -d -m "$spec" "$srv/dir"
# The reference listing, without the "# file:" line that names the path.
# Connect count, reply chunks and bad replies are mountstats columns 3, 13
# and 20 after "xprt: rdma".
acl_of() { getfacl -n "$1" 2>/dev/null | grep -v '^# file:'; }
acl_of "$srv/big" > /tmp/big.ref
acl_of "$srv/small" > /tmp/small.ref
check "the server holds a 250-entry ACL" test "$(grep -c '^user:1[0-9]*:rw-' /tmp/big.ref)" = 250

log "NFSv3 with the $(client_name)"
mnt=/mnt/v3
timeout 100 bash -c ". /xprs/repo/tests/vm/lib.sh; nfs_mount 3 disk $mnt" || fail "v3 mount failed"
grep " $mnt " /proc/mounts
connects_before=$(xprt_field "$mnt" 3)
check "v3: the 1-entry ACL reads back (GETACL, inline reply)" \
	bash -c "timeout 60 getfacl -n $mnt/small 2>/dev/null | grep -v '^# file:' | cmp - /tmp/small.ref"
rc_before=$(xprt_field "$mnt" 13)
check "v3: the 250-entry ACL reads back whole (GETACL, reply chunk)" \
	bash -c "timeout 60 getfacl -n $mnt/big 2>/dev/null | grep -v '^# file:' | cmp - /tmp/big.ref"
check "v3: the 250-entry default ACL of a directory reads back" \
	test "$(timeout 60 getfacl -n -d "$mnt/dir" | grep -c '^user:1[0-9]*:rw-')" = 250
check "v3: ls -l marks both ACL files with +" \
	test "$(timeout 60 ls -l "$mnt/big" "$mnt/small" | grep -c '^-[rwx-]\{9\}+')" = 2
# SETACL of a large ACL from the client, checked on the server.
: > "$mnt/set"
check "v3: setfacl of 250 entries over the mount (SETACL)" timeout 60 setfacl -m "$spec" "$mnt/set"
check "v3: the server has the ACL the client set" \
	test "$(acl_of "$srv/set" | grep -c '^user:1[0-9]*:rw-')" = 250
check "v3: setfacl -b removes it again" timeout 60 setfacl -b "$mnt/set"
check "v3: the server sees it removed" test "$(acl_of "$srv/set" | grep -c '^user:1')" = 0
drop_caches
check "v3: after drop_caches the 250-entry ACL still reads back whole" \
	bash -c "timeout 60 getfacl -n $mnt/big 2>/dev/null | grep -v '^# file:' | cmp - /tmp/big.ref"
xprt_stats "$mnt"
check "v3: GETACL used the reply chunk (reply chunk count moved)" \
	test "$(xprt_field "$mnt" 13)" -gt "$rc_before"
check "v3: no reconnect while doing it" test "$(xprt_field "$mnt" 3)" = "$connects_before"
check "v3: no bad replies" test "$(xprt_field "$mnt" 20)" = 0
timeout 60 umount "$mnt" || fail "v3 umount"

for vers in 4.0 4.2; do
	log "NFSv$vers with the $(client_name)"
	mnt=/mnt/v$vers
	timeout 100 bash -c ". /xprs/repo/tests/vm/lib.sh; nfs_mount $vers disk $mnt" || fail "v$vers mount failed"
	grep " $mnt " /proc/mounts
	connects_before=$(xprt_field "$mnt" 3)
	# nfsd maps the POSIX ACL to an NFSv4 ACL: a GETATTR of the acl
	# attribute, whose reply is as large as the ACL.
	timeout 60 getfattr --only-values -n system.nfs4_acl "$mnt/big" > /tmp/v4acl.bin ||
		fail "v$vers: reading the NFSv4 ACL of the 250-entry file"
	# The xattr is the XDR nfsace4 array: count, then type, flag, mask, who<>.
	python3 - /tmp/v4acl.bin > /tmp/v4acl.txt <<'EOF' || fail "v$vers: the NFSv4 ACL does not decode"
import struct, sys
b = open(sys.argv[1], 'rb').read()
n, = struct.unpack_from('>I', b, 0)
off = 4
for _ in range(n):
    t, f, m, l = struct.unpack_from('>IIII', b, off)
    off += 16
    who = b[off:off + l].decode()
    off += (l + 3) & ~3
    print(t, f, m, who)
assert off == len(b), (off, len(b))
EOF
	echo "v$vers: NFSv4 ACL of $(wc -l < /tmp/v4acl.txt) ACEs, $(wc -c < /tmp/v4acl.bin) bytes"
	check "v$vers: the NFSv4 ACL names all 250 users" test "$(awk '{ print $4 }' /tmp/v4acl.txt | grep -E '^1(0[0-9]{2}|1[0-9]{2}|2[0-4][0-9])(@|$)' | sort -u | wc -l)" = 250
	check "v$vers: ls -l works on the ACL files" bash -c "timeout 60 ls -l $mnt/big $mnt/small >/dev/null"
	check "v$vers: getfacl works on the ACL files" bash -c "timeout 60 getfacl $mnt/big >/dev/null 2>&1"
	xprt_stats "$mnt"
	check "v$vers: no reconnect while doing it" test "$(xprt_field "$mnt" 3)" = "$connects_before"
	check "v$vers: no bad replies" test "$(xprt_field "$mnt" 20)" = 0
	timeout 60 umount "$mnt" || fail "v$vers umount"
done

if [ "$client" = rs ]; then
	nfsd_stop
	check "rmmod xprtrdma_rs is clean" unload xprtrdma_rs
	bad=$(destroy_unbalanced "$marker")
	[ -z "$bad" ] || { echo "$bad"; fail "pool accounting unbalanced"; }
	check "every transport logged its accounting" test "$(destroy_count "$marker")" -ge 3
fi
echo "rs-acl: all passed ($client)"
