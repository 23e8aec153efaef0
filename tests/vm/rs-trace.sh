# SPDX-License-Identifier: GPL-2.0
# The xprtrdma_rs trace events (Documentation/tracing.md), through tracefs.
#
# With every event of the xprtrdma_rs system enabled: NFSv3 moves a small
# file (inline) and 1 MiB with O_DIRECT (a read chunk for the WRITE, a
# write chunk for the READ), bit-exact; sunrpc's fail_sunrpc injects
# disconnects, which are recovered from; NFSv4.2 is mounted with 4 slots
# and written by 16 writers at once (backlog waits), and a delegation it
# holds is recalled by a local write (a callback received and replied
# to); rxe0 is removed and brought back under the idle v3 mount. Then the trace buffer (saved
# as out/vm/rs-trace/trace.txt) must show each of those, with sane fields:
# connects with rc 0, a disconnect, a reconnect and an injected
# disconnect, a device removal; marshal events with "read list" and
# "write list" chunk types; Send and Receive completions with status
# SUCCESS (else only WR_FLUSH_ERR), a signaled post_send whose
# cq.id/cid a Send completion has; replies with credits > 0, one with a
# write list of 512 KiB or more; MR maps and unmaps; backlog waits and
# wakes; a callback call and its reply (the recall of a read delegation
# nfsd grants once its grace period is over).
. /xprs/repo/tests/vm/lib.sh

guest_setup rs
marker="rs-trace: start"
echo "$marker" > /dev/kmsg

t=/sys/kernel/tracing
mountpoint -q "$t" || mount -t tracefs nodev "$t"
check "tracefs has the xprtrdma_rs events" test -d "$t/events/xprtrdma_rs"
ls "$t/events/xprtrdma_rs"
echo 0 > "$t/tracing_on"
echo 16384 > "$t/buffer_size_kb"
echo > "$t/trace"
echo 1 > "$t/events/xprtrdma_rs/enable"
echo 1 > "$t/tracing_on"

head -c $((1024 * 1024)) /dev/urandom > /tmp/src-big
head -c 1000 /dev/urandom > /tmp/src-small
mnt=/mnt/v3

log "1. NFSv3: inline and chunked I/O"
check "v3 mount over RDMA" nfs_mount 3 tmp "$mnt"
cp /tmp/src-small "$mnt/small"
dd if=/tmp/src-big of="$mnt/big" bs=1M count=1 oflag=direct status=none
drop_caches
check "1000 bytes read back bit-exact" cmp /tmp/src-small "$mnt/small"
dd if="$mnt/big" of=/tmp/back-big bs=1M count=1 iflag=direct status=none
check "1 MiB written and read with O_DIRECT bit-exact" cmp /tmp/src-big /tmp/back-big

log "2. disconnect injection"
fs=$(fail_sunrpc_setup) || fail "fail_sunrpc is not available"
echo "ok: fail_sunrpc is available"
echo 20 > "$fs/interval"
echo 3 > "$fs/times"
connects=$(xprt_field "$mnt" 3)
echo 100 > "$fs/probability"
for i in $(seq 8); do
	dd if=/tmp/src-big of="$mnt/inj$i" bs=64k oflag=direct status=none ||
		fail "write $i under injection"
done
echo 0 > "$fs/probability"
drop_caches
for i in $(seq 8); do
	cmp /tmp/src-big "$mnt/inj$i" || fail "inj$i differs after injection"
done
echo "ok: 8 files written under injection read back bit-exact"
check "injected disconnects were recovered from" \
	test "$(xprt_field "$mnt" 3)" -gt "$connects"

log "3. NFSv4.2 with 4 slots: backlog and callbacks"
p=/sys/module/xprtrdma_rs/parameters/slot_table_entries
echo 4 > "$p"
check "v4.2 mount over RDMA" nfs_mount 4.2 tmp /mnt/v42
echo 128 > "$p"
for i in $(seq 16); do
	dd if=/tmp/src-big of="/mnt/v42/par$i" bs=64k oflag=direct status=none &
done
wait
drop_caches
for i in $(seq 16); do
	cmp /tmp/src-big "/mnt/v42/par$i" || fail "par$i differs"
done
echo "ok: 16 parallel writers read back bit-exact"
state=
for i in $(seq 100); do
	state=$(cat /proc/fs/nfsd/clients/*/info 2>/dev/null | sed -n 's/^callback state: //p' | head -1)
	[ "$state" = UP ] && break
	sleep 0.2
done
echo "nfsd: callback state: $state"
check "v4.2: the callback channel is up" test "$state" = UP
# nfsd 6.12 sends no CB_NULL on a session's backchannel (it counts it UP
# once the session exists): a callback needs a delegation, recalled here
# by a write on the server's side while the client holds the file open.
# nfsd gave no delegation on a file a local process on the server had
# just written; one the client wrote itself, then opens to read, gets one.
echo client > /mnt/v42/deleg
nfsd_wait_grace
exec 3< /mnt/v42/deleg
cat <&3 > /dev/null
sleep 1
cat /proc/fs/nfsd/clients/*/states 2>/dev/null | grep -B1 -A3 'type: deleg' || true
deleg=$(cat /proc/fs/nfsd/clients/*/states 2>/dev/null | grep -c 'type: deleg.*filename: "/deleg"' || true)
echo "nfsd: delegations held by the client: $deleg"
check "nfsd granted the client a read delegation on the file" test "$deleg" = 1
check "a local write on the server returns (recalling any delegation)" timeout 90 sh -c 'echo more >> /export/tmp/deleg'
exec 3<&-
rm -f /mnt/v42/par*
check "v4.2 umount" umount /mnt/v42

log "4. device removal under the idle v3 mount"
check "rdma link delete rxe0 returns" timeout 60 rdma link delete rxe0
sleep 2
rxe_up
drop_caches
check "v3 reads after rxe0 came back" cmp /tmp/src-small "$mnt/small"
rm -f "$mnt"/inj* "$mnt/big" "$mnt/small"
check "v3 umount" umount "$mnt"

echo 0 > "$t/tracing_on"
tr=/xprs/out/trace.txt
cp "$t/trace" "$tr"
grep -q 'LOST\|lost' "$tr" && echo "note: the trace buffer lost events"

log "5. the trace"
# count EVENT: how many EVENT lines the trace has.
count() { grep -c " $1: " "$tr" || true; }
# lines EVENT: the EVENT lines.
lines() { grep " $1: " "$tr" || true; }
events="xprs_connect xprs_disconnect xprs_reconnect xprs_op_inject_dsc
	xprs_device_removal xprs_marshal xprs_post_send xprs_nomrs_err
	xprs_backlog_wait xprs_backlog_wake xprs_wc_send xprs_wc_receive
	xprs_wc_fastreg xprs_wc_li xprs_wc_li_done xprs_reply xprs_reply_err
	xprs_mr_map xprs_mr_unmap xprs_cb_call xprs_cb_reply"
for e in $events; do
	printf 'events: %-20s %s\n' "$e" "$(count "$e")"
done
for e in $events; do
	lines "$e" | head -2
done

check "connects with rc=0 (v3, v4.2, and reconnects)" \
	test "$(lines xprs_connect | grep -c ' rc=0 ')" -ge 3
lines xprs_connect | grep -v ' rc=0 ' | head -3 || true
check "a disconnect (teardown)" test "$(count xprs_disconnect)" -ge 1
check "an injected disconnect" test "$(count xprs_op_inject_dsc)" -ge 1
check "a reconnect" test "$(count xprs_reconnect)" -ge 1
check "a device removal" test "$(count xprs_device_removal)" -ge 1

check "marshal: inline Calls (pullup)" sh -c "grep ' xprs_marshal: ' '$tr' | grep -q ' pullup/'"
check "marshal: the 1 MiB WRITE went as a read list" \
	sh -c "grep ' xprs_marshal: ' '$tr' | grep -q ' read list/'"
check "marshal: the 1 MiB READ came back through a write list" \
	sh -c "grep ' xprs_marshal: ' '$tr' | grep -q '/write list$'"

# Completion statuses: SUCCESS, or flushes of a connection torn down.
for e in xprs_wc_send xprs_wc_receive; do
	check "$e: completions with status SUCCESS" \
		test "$(lines $e | grep -c 'status=SUCCESS ')" -ge 1
	bad=$(lines $e | grep -v 'status=SUCCESS \|status=WR_FLUSH_ERR ' | head -3 || true)
	[ -z "$bad" ] || printf '%s\n' "$bad"
	check "$e: no status but SUCCESS or WR_FLUSH_ERR" test -z "$bad"
done
check "wc_receive: a successful Receive has received > 0" \
	sh -c "grep ' xprs_wc_receive: ' '$tr' | grep 'status=SUCCESS ' | grep -qv 'received=0$'"

# A signaled Send and its completion share cq.id and cid. Only signaled
# Sends complete successfully (a drain flushes the unsignaled ones too).
{ lines xprs_post_send | grep ' signaled ' || true; } |
	sed -n 's/.* cq\.id=\([0-9]*\) cid=\(-\?[0-9]*\) .*/\1:\2/p' | sort -u > /tmp/posted
{ lines xprs_wc_send | grep 'status=SUCCESS ' || true; } |
	sed -n 's/.* cq\.id=\([0-9]*\) cid=\(-\?[0-9]*\) .*/\1:\2/p' | sort -u > /tmp/completed
echo "signaled Send ids: $(wc -l < /tmp/posted), successful Send completion ids: $(wc -l < /tmp/completed)"
matched=$(comm -12 /tmp/posted /tmp/completed | wc -l)
echo "ids in both: $matched"
check "a signaled post_send's cq.id/cid has a Send completion" test "$matched" -ge 1
unmatched=$(comm -13 /tmp/posted /tmp/completed | head -3)
[ -z "$unmatched" ] || printf 'completed, never posted signaled: %s\n' "$unmatched"
check "every successful Send completion id was posted signaled" test -z "$unmatched"

check "replies: credits > 0 in every one" \
	sh -c "! grep ' xprs_reply: ' '$tr' | grep -q ' credits=0 '"
check "replies: some" test "$(count xprs_reply)" -ge 10
# The 1 MiB read goes as rsize (512 KiB here) READs.
check "replies: a READ's payload of 512 KiB or more in a write list" \
	sh -c "grep ' xprs_reply: ' '$tr' | sed -n 's/.* write=\\([0-9]*\\) .*/\\1/p' | awk '\$1 >= 524288 { f = 1 } END { exit !f }'"
check "MR maps" test "$(count xprs_mr_map)" -ge 2
check "MR unmaps" test "$(count xprs_mr_unmap)" -ge 1
check "MR maps: TO_DEVICE (read list) and FROM_DEVICE (write list)" \
	sh -c "grep ' xprs_mr_map: ' '$tr' | grep -q '(TO_DEVICE)' && grep ' xprs_mr_map: ' '$tr' | grep -q '(FROM_DEVICE)'"
check "backlog waits with 4 slots and 16 writers" test "$(count xprs_backlog_wait)" -ge 1
check "backlog wakes" test "$(count xprs_backlog_wake)" -ge 1
check "a callback received (the recall)" test "$(count xprs_cb_call)" -ge 1
check "a callback replied to" test "$(count xprs_cb_reply)" -ge 1
cb=$(lines xprs_cb_call | sed -n 's/.* xid=\(0x[0-9a-f]*\).*/\1/p' | head -1)
check "the callback's reply has its xid ($cb)" \
	sh -c "grep ' xprs_cb_reply: ' '$tr' | grep -q 'xid=$cb'"

echo 0 > "$t/events/xprtrdma_rs/enable"
nfsd_stop
check "rmmod xprtrdma_rs is clean" unload xprtrdma_rs
bad=$(destroy_unbalanced "$marker")
[ -z "$bad" ] || printf '%s\n' "$bad"
check "every req, rep and MR came home" test -z "$bad"
log "rs-trace test passed"
