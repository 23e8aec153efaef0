# SPDX-License-Identifier: GPL-2.0
# `make run`: mount the tmpfs export over RDMA with the chosen client
# (c or rs) and run a short fio workload; print which client ran.
. /xprs/repo/tests/vm/lib.sh

client=${1:-c}
guest_setup "$client"
cd /tmp	# fio writes its verify state file to the working directory
nfs_mount 3 tmp /mnt
log "running fio over NFSv3/RDMA with the $(client_name)"
fio --directory=/mnt --name=randrw-4k --rw=randrw --bs=4k --size=64M \
	--ioengine=libaio --iodepth=32 --direct=1 --runtime=15 --time_based \
	--verify=crc32c --group_reporting
fio --directory=/mnt --name=seq-1m --rw=write --bs=1M --size=128M \
	--ioengine=libaio --iodepth=8 --direct=1 --runtime=15 --time_based \
	--group_reporting
echo
xprt_stats /mnt
umount /mnt
log "fio run done with the $(client_name)"
