# SPDX-License-Identifier: GPL-2.0
# The module's transport class: with rpcrdma client=0, xprtrdma_rs registers
# "rdma" and rmmod is clean. Next to rpcrdma client=1 it must refuse to load
# with EEXIST. Its parameters take the C client's sysctl ranges. (Data
# movement is tests/vm/rs-inline.sh and tests/vm/rs-data.sh.)
. /xprs/repo/tests/vm/lib.sh

guest_setup rs
check "rpcrdma left the client class free" grep -qx N /sys/module/rpcrdma/parameters/client
check "xprtrdma_rs is loaded" test -d /sys/module/xprtrdma_rs
check "it logged its registration" sh -c 'dmesg | grep -q "xprtrdma_rs: registered transport class \"rdma\""'

params=/sys/module/xprtrdma_rs/parameters
check "slot_table_entries defaults to 128" test "$(cat $params/slot_table_entries)" = 128
check "max_inline_read defaults to 4096" test "$(cat $params/max_inline_read)" = 4096
check "max_inline_write defaults to 4096" test "$(cat $params/max_inline_write)" = 4096
for bad in "slot_table_entries 3" "slot_table_entries 16385" \
	"max_inline_read 1023" "max_inline_write 65537" "max_inline_read junk"; do
	set -- $bad
	if echo "$2" > "$params/$1" 2> /dev/null; then
		fail "$1=$2 was accepted"
	fi
	log "ok: $1=$2 rejected"
done
check "slot_table_entries 16384 is accepted" sh -c "echo 16384 > $params/slot_table_entries"
check "max_inline_write 65536 is accepted" sh -c "echo 65536 > $params/max_inline_write"
echo 128 > $params/slot_table_entries
echo 4096 > $params/max_inline_write

nfsd_stop
check "rmmod xprtrdma_rs is clean" rmmod xprtrdma_rs
if insmod "$XPRS_KO" max_inline_read=512 2> /tmp/insmod.err; then
	fail "insmod took max_inline_read=512"
fi
check "insmod with max_inline_read=512 fails with EINVAL" grep -q "Invalid" /tmp/insmod.err
check "insmod with slot_table_entries=4 works" insmod "$XPRS_KO" slot_table_entries=4
check "rmmod xprtrdma_rs is clean again" rmmod xprtrdma_rs
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
