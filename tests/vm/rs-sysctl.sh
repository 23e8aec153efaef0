# SPDX-License-Identifier: GPL-2.0
# The C client's sysctls sunrpc.rdma_* served by xprtrdma_rs: rs-sysctl.sh.
#
# With our client loaded the six files of 6.12's xr_tunables_table exist
# with C's defaults; values outside C's ranges are refused and leave the
# value as it was; the module parameters and the sysctls are one variable
# each, whichever is written. A value set through sysctl takes effect on
# the next mount: with rdma_max_inline_write=1024 a 2000-byte WRITE (a
# Call over 1024 bytes, under 4096) goes with a read chunk and a SETACL
# of about 2700 bytes as RDMA_NOMSG, both of which the default sends
# inline; with
# rdma_slot_table_entries=32 the transport has 32 + 4 + 16 reqs (slots,
# one signaling batch of slack, the backchannel) where the default has
# 160. Then the collisions: beside rpcrdma client=1, whose own sysctls
# exist, our insmod fails with EEXIST and leaves them alone; with ours
# loaded, rpcrdma client=1 cannot load. See Documentation/tunables.md.
. /xprs/repo/tests/vm/lib.sh

guest_setup rs
check "rpcrdma left the client class free" grep -qx N /sys/module/rpcrdma/parameters/client
check "xprtrdma_rs is loaded" test -d /sys/module/xprtrdma_rs
sys=/proc/sys/sunrpc
params=/sys/module/xprtrdma_rs/parameters

# name default: C's defaults (transport.c, include/linux/sunrpc/xprtrdma.h).
defaults="rdma_slot_table_entries:128 rdma_max_inline_read:4096 rdma_max_inline_write:4096
	rdma_inline_write_padding:0 rdma_memreg_strategy:5 rdma_pad_optimize:0"
for d in $defaults; do
	check "sunrpc.${d%%:*} exists with C's default ${d#*:}" test "$(cat "$sys/${d%%:*}")" = "${d#*:}"
done
check "sysctl(8) reads them" sh -c "sysctl sunrpc.rdma_max_inline_write | grep -qx 'sunrpc.rdma_max_inline_write = 4096'"

# refused NAME VALUE: the write fails and the value stays.
refused() {
	local before
	before=$(cat "$sys/$1")
	if sh -c "echo '$2' > $sys/$1" 2> /dev/null; then
		fail "sunrpc.$1=$2 was accepted (now $(cat "$sys/$1"))"
	fi
	test "$(cat "$sys/$1")" = "$before" || fail "sunrpc.$1=$2 was refused but changed the value to $(cat "$sys/$1")"
	echo "ok: sunrpc.$1=$2 refused, still $before"
}
# C's ranges: slots 4..16384, inline 1024..65536, padding 0..PAGE_SIZE,
# memreg 0..RPCRDMA_LAST-1 (6).
for bad in "rdma_slot_table_entries 1" "rdma_slot_table_entries 3" \
	"rdma_slot_table_entries 16385" "rdma_slot_table_entries 100000" \
	"rdma_slot_table_entries -1" "rdma_max_inline_write 0" \
	"rdma_max_inline_write 1023" "rdma_max_inline_write 65537" \
	"rdma_max_inline_read 0" "rdma_max_inline_read 65537" \
	"rdma_max_inline_read junk" "rdma_inline_write_padding $(( $(getconf PAGESIZE) + 1 ))" \
	"rdma_inline_write_padding -1" "rdma_memreg_strategy 7" "rdma_memreg_strategy -1"; do
	refused $bad
done
check "sysctl -w of an out-of-range value fails" sh -c '! sysctl -q -w sunrpc.rdma_max_inline_write=100000 2> /dev/null'
check "... and leaves 4096" test "$(cat $sys/rdma_max_inline_write)" = 4096

# accepted NAME VALUE: the bounds themselves are in range.
accepted() {
	sh -c "echo '$2' > $sys/$1" || fail "sunrpc.$1=$2 was refused"
	test "$(cat "$sys/$1")" = "$2" || fail "sunrpc.$1=$2 reads back as $(cat "$sys/$1")"
	echo "ok: sunrpc.$1=$2 accepted"
}
for good in "rdma_slot_table_entries 4" "rdma_slot_table_entries 16384" \
	"rdma_max_inline_read 1024" "rdma_max_inline_read 65536" \
	"rdma_max_inline_write 1024" "rdma_max_inline_write 65536" \
	"rdma_inline_write_padding $(getconf PAGESIZE)" "rdma_memreg_strategy 0" \
	"rdma_memreg_strategy 6" "rdma_pad_optimize 1"; do
	accepted $good
done
for d in $defaults; do echo "${d#*:}" > "$sys/${d%%:*}"; done

# One variable each: a write through either shows in both.
for p in slot_table_entries:64 max_inline_read:2048 max_inline_write:8192; do
	name=${p%%:*} v=${p#*:}
	echo "$v" > "$params/$name"
	check "module parameter $name=$v shows as sunrpc.rdma_$name" test "$(cat "$sys/rdma_$name")" = "$v"
	sysctl -q -w "sunrpc.rdma_$name=$((v / 2))"
	check "sysctl sunrpc.rdma_$name=$((v / 2)) shows as the module parameter" \
		test "$(cat "$params/$name")" = "$((v / 2))"
done
for d in $defaults; do echo "${d#*:}" > "$sys/${d%%:*}"; done

# write_and_setacl MNT TAG: a 2000-byte O_DIRECT write (one WRITE Call of
# about 2150 bytes, its payload DDP-eligible: XDRBUF_WRITE) and a
# 200-entry POSIX ACL set over NFSv3 (a SETACL Call of about 2700 bytes
# with no DDP payload; SYMLINK would not do, it is flagged XDRBUF_WRITE
# too and goes with a read chunk, in C as in ours); prints the read-chunk
# and RDMA_NOMSG counts (mountstats columns 11 and 21) before and after
# each, as "rc_before rc_write nomsg_before nomsg_write nomsg_setacl".
head -c 2000 /dev/urandom > /tmp/src-2000
spec=$(seq 1000 1199 | sed 's/^/u:/; s/$/:rw/' | paste -sd,)
write_and_setacl() {
	local mnt=$1 rc0 rc1 nm0 nm1 nm2
	rc0=$(xprt_field "$mnt" 11) nm0=$(xprt_field "$mnt" 21)
	dd if=/tmp/src-2000 of="$mnt/f-$2" bs=2000 count=1 oflag=direct status=none
	rc1=$(xprt_field "$mnt" 11) nm1=$(xprt_field "$mnt" 21)
	timeout 60 setfacl -m "$spec" "$mnt/f-$2" || fail "$2: setfacl of 200 entries"
	nm2=$(xprt_field "$mnt" 21)
	drop_caches
	cmp /tmp/src-2000 "$mnt/f-$2" || fail "$2: the 2000-byte file does not read back"
	test "$(getfacl -n "/export/disk/f-$2" 2> /dev/null | grep -c '^user:1[0-9]*:rw-')" = 200 ||
		fail "$2: the server does not have the 200-entry ACL"
	echo "$rc0 $rc1 $nm0 $nm1 $nm2"
}
# umount_destroyed MNT MARKER: unmount, then wait for the transport's
# destroy line (sunrpc destroys it asynchronously).
umount_destroyed() {
	local n i
	n=$(destroy_count "$2")
	timeout 60 umount "$1" || fail "umount $1"
	for i in $(seq 100); do
		[ "$(destroy_count "$2")" -gt "$n" ] && return 0
		sleep 0.2
	done
	fail "no destroy line after umount $1"
}

log "v3 with C's defaults"
marker="xprs-sysctl: defaults"
echo "$marker" > /dev/kmsg
mnt=/mnt/v3
timeout 100 bash -c ". /xprs/repo/tests/vm/lib.sh; nfs_mount 3 disk $mnt" || fail "v3 mount failed"
write_and_setacl "$mnt" default > /tmp/counts || { cat /tmp/counts; exit 1; }
set -- $(cat /tmp/counts)
xprt_stats "$mnt"
check "4096: the 2000-byte WRITE went inline (no read chunk)" test "$2" = "$1"
check "4096: the 200-entry SETACL went inline (no RDMA_NOMSG)" test "$5" = "$3"
umount_destroyed "$mnt" "$marker"
dmesg | sed -n "/$marker/,\$p" | grep 'xprtrdma_rs: destroy:'
check "128 slots: every transport had 128 + 16 + 16 reqs" \
	test -z "$(dmesg | sed -n "/$marker/,\$p" | grep 'xprtrdma_rs: destroy:' | grep -v 'reqs home 160/160')"

log "v3 after sysctl -w sunrpc.rdma_max_inline_write=1024 sunrpc.rdma_slot_table_entries=32"
sysctl -w sunrpc.rdma_max_inline_write=1024 sunrpc.rdma_slot_table_entries=32
check "the module parameter max_inline_write follows" test "$(cat $params/max_inline_write)" = 1024
marker="xprs-sysctl: tuned"
echo "$marker" > /dev/kmsg
timeout 100 bash -c ". /xprs/repo/tests/vm/lib.sh; nfs_mount 3 disk $mnt" || fail "tuned v3 mount failed"
write_and_setacl "$mnt" tuned > /tmp/counts || { cat /tmp/counts; exit 1; }
set -- $(cat /tmp/counts)
xprt_stats "$mnt"
check "1024: the 2000-byte WRITE went with a read chunk" test "$2" -gt "$1"
check "1024: ... not as RDMA_NOMSG" test "$4" = "$3"
check "1024: the 200-entry SETACL went as RDMA_NOMSG" test "$5" -gt "$4"
check "no bad replies" test "$(xprt_field "$mnt" 20)" = 0
umount_destroyed "$mnt" "$marker"
dmesg | sed -n "/$marker/,\$p" | grep 'xprtrdma_rs: destroy:'
check "32 slots: every transport had 32 + 4 + 16 reqs" \
	test -z "$(dmesg | sed -n "/$marker/,\$p" | grep 'xprtrdma_rs: destroy:' | grep -v 'reqs home 52/52')"
check "pool accounting balanced" test -z "$(destroy_unbalanced "xprs-sysctl: defaults")"
for d in $defaults; do echo "${d#*:}" > "$sys/${d%%:*}"; done

log "collisions with rpcrdma client=1"
nfsd_stop
check "rmmod xprtrdma_rs is clean" unload xprtrdma_rs
check "its sysctls went with it" test ! -e $sys/rdma_slot_table_entries
check "insmod with max_inline_write=2048 shows in the sysctl" \
	sh -c "insmod $XPRS_KO max_inline_write=2048 && test \$(cat $sys/rdma_max_inline_write) = 2048"
check "rmmod xprtrdma_rs" unload xprtrdma_rs
unload rpcrdma || fail "rmmod rpcrdma"
modprobe rpcrdma
if [ -e $sys/rdma_slot_table_entries ]; then
	echo 64 > $sys/rdma_slot_table_entries
	if insmod "$XPRS_KO" 2> /tmp/insmod.err; then
		fail "xprtrdma_rs loaded beside rpcrdma client=1"
	fi
	cat /tmp/insmod.err
	check "insmod beside rpcrdma client=1 fails with EEXIST" grep -q "File exists" /tmp/insmod.err
	check "it said why" sh -c 'dmesg | grep -q "xprtrdma_rs: cannot register the sunrpc.rdma_\* sysctls"'
	check "rpcrdma's own sysctls are untouched" test "$(cat $sys/rdma_slot_table_entries)" = 64
else
	# A kernel without CONFIG_SUNRPC_DEBUG: C has no sysctls, the class
	# is what collides.
	if insmod "$XPRS_KO" 2> /tmp/insmod.err; then
		fail "xprtrdma_rs loaded beside rpcrdma client=1"
	fi
	check "insmod beside rpcrdma client=1 fails with EEXIST" grep -q "File exists" /tmp/insmod.err
fi
unload rpcrdma || fail "rmmod rpcrdma"
check "xprtrdma_rs loads alone" insmod "$XPRS_KO"
echo 2048 > $sys/rdma_max_inline_read
# insmod, not modprobe: modprobe takes EEXIST from a module's init for
# "already loaded" and exits 0. rpcrdma's dependencies are still loaded.
if insmod "$(modinfo -n rpcrdma)" 2> /tmp/insmod.err; then
	fail "rpcrdma client=1 loaded beside xprtrdma_rs"
fi
cat /tmp/insmod.err
check "rpcrdma client=1 beside ours fails with EEXIST" grep -q "File exists" /tmp/insmod.err
check "rpcrdma is not loaded" test ! -d /sys/module/rpcrdma
check "our sysctls are untouched" test "$(cat $sys/rdma_max_inline_read)" = 2048
check "rmmod xprtrdma_rs is clean at the end" unload xprtrdma_rs
check "no sysctls are left" test ! -e $sys/rdma_max_inline_read
log "sysctl test passed"
