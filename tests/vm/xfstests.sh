# SPDX-License-Identifier: GPL-2.0
# fstests (xfstests) over NFS/RDMA (soft-RoCE), per client and NFS version,
# in one boot. Started by scripts/xfstests (make xfstests), which shares the
# built fstests tree as 9p tag "fstests" and adds two disks: vdc for TEST,
# vdd for SCRATCH, each an ext4 exported under the NFSv4 pseudo-root.
#
#   tests/vm/xfstests.sh clients="c rs" vers="3 4.2" tests="generic/001 ..." \
#                        group=quick exclude="generic/476 generic/650" \
#                        list=FILE baseline=FILE
#
# Lists take spaces or commas (a make VM_SUITE entry has no spaces). list=
# names a file in the repo with one test a line (# comments), optionally
# followed by the NFS versions it is limited to. With
# baseline= (a repo file of "VERS TEST STATUS" lines, the C client's), the
# run fails if ours fails a test the baseline passes, or on a kernel warning
# (tools/xfstests-report.py decides; results.md lands in the out share).
#
# Per client and version, fstests' results (check.log, check.time,
# result.xml, every .out.bad, .full, .dmesg) go to results/<client>-v<vers>/
# in the out share, its output to check-<client>-v<vers>.out; what served
# the mounts (lsmod, rpcrdma's client parameter, the mountstats xprt line
# before and after) to proof-<client>-v<vers>.txt. The script fails only if
# the setup fails or check could not run; test verdicts are scripts/xfstests'
# business.
. /xprs/repo/tests/vm/lib.sh

clients=rs vers=3 tests= group= exclude= list= baseline=
for a in "$@"; do
	case $a in
	clients=*|vers=*|tests=*|group=*|exclude=*|list=*|baseline=*)
		printf -v "${a%%=*}" '%s' "${a#*=}" ;;
	*) fail "unknown argument '$a'" ;;
	esac
done
clients=${clients//,/ } vers=${vers//,/ } tests=${tests//,/ } exclude=${exclude//,/ }
[ -z "$list" ] || [ -f "/xprs/repo/$list" ] || fail "no such list: $list"
# list_for VERS: the list's tests for NFS version VERS. A line is "TEST
# [VERS...]": a test that names versions runs only on those.
list_for() {
	[ -n "$list" ] || return 0
	sed 's/#.*//' "/xprs/repo/$list" |
		awk -v v="$1" 'NF == 1 { print $1 } NF > 1 { for (i = 2; i <= NF; i++) if ($i == v) print $1 }' | xargs
}
[ -n "$tests$group$list" ] || fail "give tests=\"...\", group=NAME or list=FILE"
OUT=/xprs/out
FST=/var/lib/xfstests

net_up
rxe_up

# Exports: TEST and SCRATCH on their own ext4 disks under the pseudo-root.
mkdir -p /export
mount -t tmpfs -o size=16M,mode=0755 pseudo /export
mkdir -p /export/test /export/scratch
for d in test:vdc scratch:vdd; do
	[ -b "/dev/${d#*:}" ] || fail "no /dev/${d#*:} (scripts/vm -d SIZE adds it)"
	mkfs.ext4 -q -F "/dev/${d#*:}"
	mount "/dev/${d#*:}" "/export/${d%%:*}"
	chmod 0777 "/export/${d%%:*}"
done
cat > /etc/exports <<EOT
/export         *(rw,no_root_squash,no_subtree_check,insecure,fsid=0)
/export/test    *(rw,no_root_squash,no_subtree_check,insecure,fsid=10)
/export/scratch *(rw,no_root_squash,no_subtree_check,insecure,fsid=11)
EOT
mkdir -p /var/lib/nfs/v4recovery /run/rpcbind
rpcbind -w
exportfs -ra
df -h /export/test /export/scratch

# fstests runs from a writable copy of the host's build.
mkdir -p /xprs/fstests "$FST"
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 fstests /xprs/fstests ||
	fail "no fstests share (tag fstests)"
tar -xf /xprs/fstests/xfstests.tar -C "$(dirname "$FST")"
# check reads its exclude list through a process substitution, /dev/fd/N,
# and the guest's devtmpfs has no /dev/fd (no udev).
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
cat /xprs/fstests/SOURCE 2>/dev/null | sed 's/^/fstests source: /'

exclude_file=/tmp/xfstests.exclude
: > "$exclude_file"
for t in $exclude; do echo "$t" >> "$exclude_file"; done

first=1
for client in $clients; do
	if [ $first = 1 ]; then client_load "$client"; nfsd_start; first=0
	else
		umount -a -t nfs,nfs4 || true
		# sunrpc destroys transports asynchronously: unload retries.
		if [ -d /sys/module/xprtrdma_rs ]; then unload xprtrdma_rs || fail "rmmod xprtrdma_rs"; fi
		client_switch "$client"
	fi
	for v in $vers; do
		tag=$client-v$v
		set -- $tests $(list_for "$v")
		[ -n "$group" ] && set -- -g "$group" "$@"
		[ $# -gt 0 ] || fail "$tag: the list has no test for NFS v$v"
		path=/export
		case $v in 4*) path= ;; esac
		opts="-o proto=rdma,port=$NFS_PORT,vers=$v"
		mkdir -p /mnt/test /mnt/scratch "$OUT/results/$tag"
		cat > "$FST/local.config" <<EOT
export FSTYP=nfs
export TEST_DEV=$XPRS_ADDR:$path/test
export TEST_DIR=/mnt/test
export SCRATCH_DEV=$XPRS_ADDR:$path/scratch
export SCRATCH_MNT=/mnt/scratch
export TEST_FS_MOUNT_OPTS="$opts"
export MOUNT_OPTIONS="$opts"
export RESULT_BASE=$OUT/results/$tag
EOT
		proof=$OUT/proof-$tag.txt
		# TEST is mounted here, so the proof covers the mount check uses.
		mount -t nfs $opts "$XPRS_ADDR:$path/test" /mnt/test ||
			fail "$tag: mount of TEST over RDMA failed"
		{
			echo "client: $(client_name)"
			echo "rpcrdma client=$(cat /sys/module/rpcrdma/parameters/client 2>/dev/null || echo '(no parameter)')"
			lsmod | grep -E '^(xprtrdma_rs|rpcrdma|nfsd|nfs|nfsv3|nfsv4) '
			grep -E ' /mnt/(test|scratch) ' /proc/mounts
			echo "before: $(xprt_stats /mnt/test)"
		} > "$proof"
		cat "$proof"
		grep -q ' /mnt/test nfs.*proto=rdma.*' /proc/mounts || fail "$tag: TEST is not on proto=rdma"
		test "$(xprt_stats /mnt/test | awk '{print $2}')" = rdma || fail "$tag: mountstats shows no xprt: rdma"
		log "xfstests: $tag: $(client_name), NFS v$v over RDMA: ./check $* (exclude: ${exclude:-none})"
		echo "xprs-xfstests: section $tag" > /dev/kmsg
		# check unmounts TEST when it ends: the proof of what served the
		# run is the last mountstats line seen while it ran (sampled).
		( while sleep 10; do
			for m in /mnt/test /mnt/scratch; do
				x=$(xprt_stats $m) && [ -n "$x" ] && echo "$x" > /tmp/last-xprt-${m##*/}
			done
		done ) &
		sampler=$!
		rc=0
		(cd "$FST" && ./check -R xunit-quiet -E "$exclude_file" "$@") 2>&1 |
			tee "$OUT/check-$tag.out" || rc=$?
		kill $sampler; wait $sampler 2>/dev/null || true
		echo "$rc" > "$OUT/check-$tag.rc"
		for m in test scratch; do
			echo "last $m sample: $(cat /tmp/last-xprt-$m 2>/dev/null || echo '(none)')"
			rm -f /tmp/last-xprt-$m
		done >> "$proof"
		tail -2 "$proof"
		umount -a -t nfs,nfs4 || true
		grep -q '^Ran:\|^Passed all\|^Not run:' "$OUT/check-$tag.out" ||
			fail "$tag: check did not run to its summary (exit $rc)"
	done
done
umount -a -t nfs,nfs4 || true
nfsd_stop
if [ -d /sys/module/xprtrdma_rs ]; then
	sleep 1
	check "rmmod xprtrdma_rs is clean" unload xprtrdma_rs
fi
bad=$(destroy_unbalanced 'xprs: running')
[ -z "$bad" ] || { echo "$bad"; fail "unbalanced xprtrdma_rs: destroy: accounting"; }
echo "xprtrdma_rs destroy lines: $(destroy_count 'xprs: running'), all balanced"
if [ -n "$baseline" ]; then
	dmesg > /tmp/dmesg.txt
	check "no new failures against $baseline, no kernel warnings" \
		python3 /xprs/repo/tools/xfstests-report.py "$OUT" --dmesg /tmp/dmesg.txt \
			--baseline "/xprs/repo/$baseline"
	cat "$OUT/results.md"
fi
log "xfstests: done"
