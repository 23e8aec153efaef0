# SPDX-License-Identifier: GPL-2.0
# The module's transport class: with rpcrdma client=0, xprtrdma_rs registers
# "rdma", proto=rdma resolves to it, and rmmod is clean. Next to rpcrdma
# client=1 it must refuse to load with EEXIST.
. /xprs/repo/tests/vm/lib.sh

guest_setup rs
check "rpcrdma left the client class free" grep -qx N /sys/module/rpcrdma/parameters/client
check "xprtrdma_rs is loaded" test -d /sys/module/xprtrdma_rs
check "it logged its registration" sh -c 'dmesg | grep -q "xprtrdma_rs: registered transport class \"rdma\""'

# The transport is not there yet: the mount must fail, clearly, through us.
if timeout 120 mount -t nfs -o proto=rdma,port=$NFS_PORT,vers=3,retry=0 \
	"$XPRS_ADDR:/export/tmp" /mnt 2> /tmp/mount.err; then
	fail "a proto=rdma mount succeeded without a transport"
fi
cat /tmp/mount.err
check "proto=rdma reached xprtrdma_rs's setup" sh -c 'dmesg | grep -q "xprtrdma_rs: transport setup is not implemented yet"'
check "the mount failed with EPROTONOSUPPORT" grep -qi "protocol not supported" /tmp/mount.err

nfsd_stop
check "rmmod xprtrdma_rs is clean" rmmod xprtrdma_rs
check "xprtrdma_rs is gone" test ! -d /sys/module/xprtrdma_rs
rmmod rpcrdma

modprobe rpcrdma
if insmod "$XPRS_KO" 2> /tmp/insmod.err; then
	fail "xprtrdma_rs loaded although rpcrdma owns the rdma class"
fi
cat /tmp/insmod.err
check "insmod beside rpcrdma client=1 fails with EEXIST" grep -q "File exists" /tmp/insmod.err
rmmod rpcrdma
log "module test passed"
