# SPDX-License-Identifier: GPL-2.0
# Swap over NFS/RDMA (CONFIG_NFS_SWAP), which the C client supports:
#
#   rs-swap.sh [rs|c] [HOG_MIB] [LIMIT_MIB]
#
# A 512 MiB swapfile on an NFSv4.2 mount (the ext4 export: tmpfs would
# itself need swap) is the guest's only swap. A memory hog then fills
# HOG_MIB (640) with pages that each carry their own index and random
# bytes, so that every page is incompressible and distinct, and reads them
# all back: every page must hold what was written to it after the kernel
# swapped it out to the NFS server and in again.
#
# The hog runs in a memory cgroup whose memory.high is LIMIT_MIB (192):
# above it the kernel reclaims from the hog and throttles it, which swaps
# its pages out over the mount, while the rest of the guest keeps free
# memory. memory.high, not memory.max: under memory.max, a reclaim that
# cannot progress while the injected disconnect holds the swap writeback
# ends in the cgroup's OOM killer (seen once in three runs, 205 MiB in),
# where memory.high only slows the hog down. The server is in the same guest, and under global pressure it
# cannot take the pages swapped out to it: with 1 GiB of guest memory and
# the hog unconfined, nfsd itself invoked the OOM killer with ours (1 MiB
# swapped), and with the C client the guest hung (tasks blocked for more
# than 240 s). A server of its own (scripts/vm2) does not share the
# client's memory.
#
# One disconnect is injected (fail_sunrpc) while the hog swaps, so that
# the transport reconnects while the mount is a swap device (PF_MEMALLOC in
# the connect worker). The test checks that swap was used (SwapTotal -
# SwapFree at its peak), that the mount's WRITE count moved, that the
# reconnect happened, that swapoff reads everything back, and for ours
# that rmmod is clean and the pool accounting balances.
. /xprs/repo/tests/vm/lib.sh

client=${1:-rs}
guest_setup "$client"
marker="rs-swap: start"
echo "$marker" > /dev/kmsg

hog_mib=${2:-640}
limit_mib=${3:-192}
case $hog_mib$limit_mib in *[!0-9]*) fail "HOG_MIB and LIMIT_MIB must be numbers" ;; esac
[ $((hog_mib - limit_mib)) -lt 480 ] || fail "HOG_MIB - LIMIT_MIB must fit the 512 MiB swapfile"
log "the hog takes $hog_mib MiB in a memory cgroup of $limit_mib MiB"
cg=/sys/fs/cgroup
mountpoint -q $cg || mount -t cgroup2 cgroup2 $cg
echo +memory > $cg/cgroup.subtree_control
mkdir -p $cg/hog
echo $((limit_mib * 1024 * 1024)) > $cg/hog/memory.high

mnt=/mnt/swap
if ! timeout 100 bash -c ". /xprs/repo/tests/vm/lib.sh; nfs_mount 4.2 disk $mnt"; then
	dmesg | tail -40
	fail "v4.2: mount over RDMA failed"
fi
check "mounted with proto=rdma,vers=4.2" grep -q " $mnt nfs4 .*vers=4.2,.*proto=rdma," /proc/mounts

# A swapfile must have no holes: write every block.
check "512 MiB swapfile written" \
	dd if=/dev/zero of="$mnt/swapfile" bs=1M count=512 conv=fsync status=none
chmod 600 "$mnt/swapfile"
check "mkswap" mkswap "$mnt/swapfile"
check "swapon over NFS/RDMA" swapon "$mnt/swapfile"
cat /proc/swaps
check "the swapfile is the active swap" grep -q "^$mnt/swapfile " /proc/swaps

writes_before=$(awk -v m="$mnt" '$1 == "device" { cur = ($5 == m) }
	cur && $1 == "WRITE:" { print $2; exit }' /proc/self/mountstats)
connects_before=$(xprt_field "$mnt" 3)

fs=$(fail_sunrpc_setup) || fail "fail_sunrpc is not available"

cat > /tmp/memhog.py <<'EOF'
import os, struct, sys, time

mib = int(sys.argv[1])
PAGE = 4096
base = os.urandom(1 << 20)
peak = 0
armed = False

def swap_used_kib():
    info = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":")
            info[k] = int(v.split()[0])
    return info["SwapTotal"] - info["SwapFree"]

def piece(i):
    b = bytearray(base)
    for p in range(0, len(b), PAGE):
        struct.pack_into("<QQ", b, p, i, p)
    return b

chunks = []
for i in range(mib):
    chunks.append(piece(i))
    used = swap_used_kib()
    peak = max(peak, used)
    # One injected disconnect once swap is in use: the transport must
    # reconnect while the hog holds the memory.
    if not armed and used > 32 * 1024:
        with open("/sys/kernel/debug/fail_sunrpc/times", "w") as f: f.write("1")
        with open("/sys/kernel/debug/fail_sunrpc/interval", "w") as f: f.write("1")
        with open("/sys/kernel/debug/fail_sunrpc/probability", "w") as f: f.write("100")
        armed = True
        print(f"hog: disconnect armed at {i} MiB, swap used {used // 1024} MiB", flush=True)
    if i % 128 == 0:
        print(f"hog: {i} MiB filled, swap used {used // 1024} MiB", flush=True)
print(f"hog: {mib} MiB filled; verifying", flush=True)
bad = 0
for i, c in enumerate(chunks):
    if c != piece(i):
        bad += 1
        print(f"hog: MiB {i} differs", flush=True)
    peak = max(peak, swap_used_kib())
print(f"hog: verified {mib} MiB, {bad} bad; peak swap used {peak // 1024} MiB", flush=True)
with open("/tmp/hog-peak-kib", "w") as f:
    f.write(str(peak))
sys.exit(1 if bad else 0)
EOF

log "memory hog of $hog_mib MiB"
rc=0
timeout 1500 bash -c "echo \$\$ > $cg/hog/cgroup.procs && exec python3 /tmp/memhog.py $hog_mib" || rc=$?
echo "hog cgroup: $(grep -E '^(oom|oom_kill) ' $cg/hog/memory.events | tr '\n' ' ')"

echo 0 > "$fs/probability"
check "the hog read back every page it wrote (exit $rc)" test "$rc" = 0
peak=$(cat /tmp/hog-peak-kib)
check "swap was used: peak $((peak / 1024)) MiB (at least 64)" test "$peak" -ge $((64 * 1024))
writes_after=$(awk -v m="$mnt" '$1 == "device" { cur = ($5 == m) }
	cur && $1 == "WRITE:" { print $2; exit }' /proc/self/mountstats)
echo "WRITE ops on the mount: $writes_before before the hog, $writes_after after"
xprt_stats "$mnt"
check "the swap-out went over the mount (WRITE count moved)" test "$writes_after" -gt "$writes_before"
connects_after=$(xprt_field "$mnt" 3)
check "the injected disconnect made a reconnect under pressure ($connects_before -> $connects_after)" \
	test "$connects_after" -gt "$connects_before"
check "no bad replies" test "$(xprt_field "$mnt" 20)" = 0

rmdir $cg/hog
check "swapoff" timeout 600 swapoff "$mnt/swapfile"
rm -f "$mnt/swapfile"
check "umount" umount "$mnt"
nfsd_stop
if [ "$client" = c ]; then
	log "rs-swap checks passed with the $(client_name)"
	exit 0
fi
check "rmmod xprtrdma_rs is clean" unload xprtrdma_rs
dmesg | grep -E 'xprtrdma_rs: (destroy|mrs):' || true
check "a destroy line for the mount" test "$(destroy_count "$marker")" -ge 1
bad=$(destroy_unbalanced "$marker")
[ -z "$bad" ] || printf '%s\n' "$bad"
check "every req, rep and MR came home" test -z "$bad"
log "rs-swap test passed"
