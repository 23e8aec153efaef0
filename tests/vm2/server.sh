# SPDX-License-Identifier: GPL-2.0
# The server guest of scripts/vm2: server.sh BOOT
#
# nfsd over svcrdma (rpcrdma.ko) on rxe0/eth1 at 10.9.0.1, exporting an
# ext4 on the persistent disk /dev/vdb, which the host keeps for the whole
# run: the first boot makes the filesystem, later boots (after a power cut
# or a reboot) check it with e2fsck and mount it again. /var/lib/nfs lives
# on that disk too (/persist/nfs, bind-mounted), so the NFSv4 client
# records (v4recovery) and statd's list survive and clients can reclaim.
#
# Exports, as in tests/vm/lib.sh: /export (the NFSv4 pseudo-root, a
# tmpfs, fsid=0) and /export/disk (the persistent data, fsid=2): NFSv3
# mounts /export/disk, NFSv4 /disk.
#
# Then it writes $OUT/ready and waits for the host: $OUT/stop stops nfsd
# and ends the test (status 0); $OUT/reboot stops nfsd, unmounts the
# export and reboots the guest (QEMU runs with -no-reboot, so it exits and
# the host boots the next one); a power cut is the host killing QEMU.
. /xprs/repo/tests/vm2/lib.sh

BOOT=${1:?usage: server.sh BOOT}
log "server boot $BOOT"
link_up server

mkdir -p /persist
if [ "$BOOT" = 1 ]; then
	mkfs.ext4 -q -F /dev/vdb
	mount /dev/vdb /persist
	mkdir -p /persist/data /persist/nfs
	cp -a /var/lib/nfs/. /persist/nfs/
	mkdir -p /persist/nfs/v4recovery
	chmod 0777 /persist/data
else
	# What a server's boot does with a filesystem that lost its power:
	# e2fsck -p replays the journal and repairs what it safely can
	# (0: clean, 1: errors fixed).
	rc=0
	e2fsck -p /dev/vdb > /tmp/fsck.log 2>&1 || rc=$?
	sed 's/^/e2fsck: /' /tmp/fsck.log
	log "e2fsck -p exit $rc"
	[ $rc -le 1 ] || fail "the export's ext4 needs manual repair (e2fsck -p exit $rc)"
	mount /dev/vdb /persist
	log "files on the export: $(find /persist/data -type f | wc -l), $(du -sm /persist/data | cut -f1) MiB"
fi
mount --bind /persist/nfs /var/lib/nfs
log "v4recovery: $(ls /var/lib/nfs/v4recovery | wc -l) client record(s)"

mkdir -p /export
mount -t tmpfs -o size=16M,mode=0755 pseudo /export
mkdir -p /export/disk
mount --bind /persist/data /export/disk
cat > /etc/exports <<EOT
/export      *(rw,no_root_squash,no_subtree_check,insecure,fsid=0)
/export/disk *(rw,no_root_squash,no_subtree_check,insecure,fsid=2)
EOT
mkdir -p /run/rpcbind
rpcbind -w
exportfs -ra
modprobe rpcrdma
nfsd_start
log "nfsd up (boot $BOOT): $(cat /proc/fs/nfsd/portlist | tr '\n' ' ')"
# The first boot has no state to recover: the client is let in only
# once its 10 s grace period is over, so that the load's first opens and
# locks are not refused with NFS4ERR_GRACE. Later boots say ready as soon
# as nfsd listens; the recovery the host times includes their grace.
[ "$BOOT" = 1 ] && sleep 11
echo "$BOOT" > "$OUT/ready"

# statd and mountd keep /var/lib/nfs busy.
daemons_stop() {
	local p
	for p in $(pidof rpc.statd rpc.mountd); do kill "$p"; done
	sleep 0.5
}

while :; do
	if [ -e "$OUT/stop" ]; then
		log "stop: nfsd down, export unmounted"
		nfsd_stop
		exportfs -ua
		daemons_stop
		umount /export/disk
		umount /var/lib/nfs
		umount /persist
		log "server boot $BOOT done"
		exit 0
	fi
	if [ -e "$OUT/reboot" ]; then
		log "reboot: nfsd down, export unmounted, then sysrq b"
		nfsd_stop
		exportfs -ua
		daemons_stop
		sync
		umount /export/disk || log "umount /export/disk failed"
		umount /var/lib/nfs || log "umount /var/lib/nfs failed"
		umount /persist || log "umount /persist failed"
		echo "xprs: server boot $BOOT reboots itself" > /dev/kmsg
		dmesg > "$OUT/dmesg.txt"
		echo rebooted > "$OUT/status"
		sync
		echo b > /proc/sysrq-trigger
		sleep 60
	fi
	sleep 0.2
done
