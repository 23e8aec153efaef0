# SPDX-License-Identifier: GPL-2.0
# The module's transport class: with rpcrdma client=0, xprtrdma_rs registers
# "rdma" and rmmod is clean. Next to rpcrdma client=1 it must refuse to load
# with EEXIST. (Data movement is tests/vm/rs-inline.sh.)
. /xprs/repo/tests/vm/lib.sh

guest_setup rs
check "rpcrdma left the client class free" grep -qx N /sys/module/rpcrdma/parameters/client
check "xprtrdma_rs is loaded" test -d /sys/module/xprtrdma_rs
check "it logged its registration" sh -c 'dmesg | grep -q "xprtrdma_rs: registered transport class \"rdma\""'

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
