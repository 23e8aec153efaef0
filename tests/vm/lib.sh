# SPDX-License-Identifier: GPL-2.0
# Guest-side helpers shared by every VM test. Source it from a test script.
# The guest's only NIC has no way out; all NFS/RDMA traffic goes to its own
# address.
set -euo pipefail

XPRS_ADDR=10.0.2.15
# The guest's IPv6 address (ipv6_up), for proto=rdma6 mounts.
XPRS_ADDR6=fd00::15
# The RDMA provider guest_setup brings up on eth0: rxe (soft-RoCE) or siw
# (soft-iWARP).
XPRS_PROVIDER=${XPRS_PROVIDER:-rxe}
# scripts/vm exports the module built for the kernel it booted.
XPRS_KO=${XPRS_KO:-/xprs/repo/xprtrdma_rs.ko}
# A baseline build of ours, for `client_load base` (scripts/bench -b sets it
# through tests/vm/bench.sh); empty unless a test asks for it.
XPRS_BASE_KO=${XPRS_BASE_KO:-}
XPRS_FLAVOR=${XPRS_FLAVOR:-prod}
NFS_PORT=20049

log() { echo "== [$(cut -d' ' -f1 /proc/uptime)] $*"; }
fail() { echo "FAIL: $*"; exit 1; }
check() { local what=$1; shift; if "$@"; then echo "ok: $what"; else fail "$what"; fi; }

net_up() {
	# No DNS can be reached: names resolve from /etc/hosts only (rpc.mountd
	# looks up its clients' addresses).
	printf '127.0.0.1\tlocalhost\n%s\txprs-guest\n' "$XPRS_ADDR" > /etc/hosts
	: > /etc/resolv.conf
	ip link set lo up
	ip addr add "$XPRS_ADDR/24" dev eth0
	ip link set eth0 up
}

# rdma_link_up NAME TYPE: the software RDMA device NAME of TYPE (rxe or
# siw) on eth0, ACTIVE.
rdma_link_up() {
	modprobe "$([ "$2" = rxe ] && echo rdma_rxe || echo siw)"
	rdma link add "$1" type "$2" netdev eth0
	local i
	for i in $(seq 50); do
		rdma link show "$1/1" 2>/dev/null | grep -q 'state ACTIVE' && return 0
		sleep 0.2
	done
	rdma link show
	fail "$1 did not become ACTIVE"
}

rxe_up() { rdma_link_up rxe0 rxe; }

# provider_up: the RDMA device of XPRS_PROVIDER on eth0.
provider_up() {
	case $XPRS_PROVIDER in
	rxe)	rxe_up ;;
	siw)	rdma_link_up siw0 siw ;;
	*)	fail "XPRS_PROVIDER must be rxe or siw, not '$XPRS_PROVIDER'" ;;
	esac
	log "RDMA provider: $XPRS_PROVIDER ($(rdma link show | head -1))"
}

# ipv6_up: XPRS_ADDR6 on eth0, usable at once (no duplicate detection).
# nfsd's "rdma" listener binds IPv6 beside IPv4 (__write_ports_addxprt).
ipv6_up() {
	ip -6 addr add "$XPRS_ADDR6/64" dev eth0 nodad
	printf '%s\txprs-guest6\n' "$XPRS_ADDR6" >> /etc/hosts
}

# Exports: a tmpfs and an ext4 on the second virtio disk, under the NFSv4
# pseudo-root /export (fsid=0). NFSv3 mounts /export/<name>, NFSv4 /<name>.
# Each child is exported on its own, so the root needs no crossmnt.
exports_up() {
	mkdir -p /export
	mount -t tmpfs -o size=16M,mode=0755 pseudo /export
	mkdir -p /export/tmp /export/disk
	mount -t tmpfs -o size=1200M,mode=0777 xprs-tmp /export/tmp
	mkfs.ext4 -q -F /dev/vdb
	mount /dev/vdb /export/disk
	chmod 0777 /export/disk
	cat > /etc/exports <<EOT
/export      *(rw,no_root_squash,no_subtree_check,insecure,fsid=0)
/export/tmp  *(rw,no_root_squash,no_subtree_check,insecure,fsid=1)
/export/disk *(rw,no_root_squash,no_subtree_check,insecure,fsid=2)
EOT
	mkdir -p /var/lib/nfs/v4recovery /run/rpcbind
	pgrep -x rpcbind >/dev/null || rpcbind -w
	exportfs -ra
}

nfsd_start() {
	modprobe nfsd
	mountpoint -q /proc/fs/nfsd || mount -t nfsd nfsd /proc/fs/nfsd
	# Short lease and grace, so NFSv4 opens are not refused for 90 s.
	echo 10 > /proc/fs/nfsd/nfsv4leasetime
	echo 10 > /proc/fs/nfsd/nfsv4gracetime
	pgrep -x rpc.mountd >/dev/null || rpc.mountd
	pgrep -x rpc.statd >/dev/null || rpc.statd
	# lockd's grace period (50 s by default) counts for delegations too
	# (locks_in_grace()): as short as nfsd's.
	modprobe lockd
	echo 10 > /proc/sys/fs/nfs/nlm_grace_period
	rpc.nfsd 4
	cut -d. -f1 /proc/uptime > /run/xprs-nfsd-started
	echo "rdma $NFS_PORT" > /proc/fs/nfsd/portlist
	pgrep -x rpc.mountd >/dev/null || fail "rpc.mountd is not running"
	grep -q "^rdma $NFS_PORT" /proc/fs/nfsd/portlist || fail "nfsd is not listening on rdma $NFS_PORT"
}

# fail_sunrpc_setup: debugfs mounted and sunrpc's fault injection set to
# disconnect clients only, silently; the caller sets interval, times and
# probability. Prints the attribute directory.
fail_sunrpc_setup() {
	local fs=/sys/kernel/debug/fail_sunrpc
	mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
	[ -d "$fs" ] &&
		echo Y > "$fs/ignore-server-disconnect" &&
		echo Y > "$fs/ignore-cache-wait" &&
		echo N > "$fs/ignore-client-disconnect" &&
		echo 0 > "$fs/verbose" &&
		echo "$fs"
}

# nfsd_wait_grace: wait until the grace periods of nfsd and lockd (10 s
# each, nfsd_start) are over: nfsd grants no delegation during them.
nfsd_wait_grace() {
	local until=$(( $(cat /run/xprs-nfsd-started) + 12 ))
	while [ "$(cut -d. -f1 /proc/uptime)" -lt "$until" ]; do sleep 1; done
}

nfsd_stop() {
	rpc.nfsd 0
}

# client_load c|rs|base: the in-tree C client, or ours beside rpcrdma's
# server side; base is ours too, the baseline build XPRS_BASE_KO (the same
# module name, xprtrdma_rs, so it unloads as rs does).
client_load() {
	case $1 in
	c)	modprobe rpcrdma ;;
	rs)	modprobe rpcrdma client=0
		insmod "$XPRS_KO" ;;
	base)	[ -n "$XPRS_BASE_KO" ] || fail "client_load base: no baseline module (XPRS_BASE_KO is empty)"
		modprobe rpcrdma client=0
		insmod "$XPRS_BASE_KO" ;;
	*)	fail "client_load: unknown client '$1'" ;;
	esac
	XPRS_CLIENT=$1
	log "client: $(client_name)"
}

client_name() {
	case ${XPRS_CLIENT:-} in
	c)	echo "in-tree C client (rpcrdma client=1)" ;;
	rs)	echo "xprtrdma_rs (rpcrdma client=0)" ;;
	base)	echo "xprtrdma_rs baseline ($XPRS_BASE_KO, rpcrdma client=0)" ;;
	esac
}

# unload MODULE [SECONDS]: rmmod, retried for SECONDS (10) while transports
# are still being destroyed (sunrpc does that asynchronously after umount).
unload() {
	local i
	for i in $(seq $(( ${2:-10} * 5 ))); do
		[ -d "/sys/module/$1" ] || return 0
		rmmod "$1" 2> /tmp/rmmod.err && return 0
		sleep 0.2
	done
	cat /tmp/rmmod.err
	return 1
}

# destroy_unbalanced MARKER: prints every "xprtrdma_rs: destroy:" line
# logged since the kmsg line MARKER whose pool accounting is malformed or
# unbalanced ("reqs home N/N, reps home M/M, mrs home K/K", each pair
# equal); prints nothing if all are balanced.
destroy_unbalanced() {
	dmesg | sed -n "/$1/,\$p" | { grep 'xprtrdma_rs: destroy:' || true; } | awk '
		{
			s = $0
			sub(/.*xprtrdma_rs: destroy: /, "", s)
			if (s !~ /^reqs home [0-9]+\/[0-9]+, reps home [0-9]+\/[0-9]+, mrs home [0-9]+\/[0-9]+[ \t]*$/) {
				print "malformed: " $0
				next
			}
			split(s, w, /[ ,\/]+/)
			if (w[3] != w[4] || w[7] != w[8] || w[11] != w[12])
				print "unbalanced: " $0
		}'
}

# destroy_count MARKER: how many destroy lines were logged since MARKER.
destroy_count() {
	dmesg | sed -n "/$1/,\$p" | grep -c 'xprtrdma_rs: destroy:' || true
}

client_unload() {
	if [ -d /sys/module/xprtrdma_rs ]; then rmmod xprtrdma_rs; fi
	if [ -d /sys/module/rpcrdma ]; then rmmod rpcrdma; fi
}

# client_switch c|rs|base: unmount, stop nfsd, reload the transports, restart.
client_switch() {
	umount -a -t nfs,nfs4 || true
	nfsd_stop
	client_unload
	client_load "$1"
	nfsd_start
}

# guest_reset: undo guest_setup and what a test may have left, so that the
# next test of a suite (tests/vm/suite.sh) starts as from a fresh boot:
# no swap, NFS mount, nfsd, client module, RDMA link, export or address,
# and fault injection off.
guest_reset() {
	local d
	swapoff -a || true
	pkill -x fio || true
	umount -a -t nfs,nfs4 || umount -a -l -t nfs,nfs4 || true
	nfsd_stop || true
	exportfs -ua || true
	for d in fail_sunrpc failslab fail_page_alloc; do
		[ -d "/sys/kernel/debug/$d" ] || continue
		echo 0 > "/sys/kernel/debug/$d/probability"
		echo 1 > "/sys/kernel/debug/$d/times"
	done
	unload xprtrdma_rs || return 1
	unload rpcrdma || return 1
	rdma link delete rxe0 2>/dev/null || true
	rdma link delete siw0 2>/dev/null || true
	umount -R /export 2>/dev/null || umount -R -l /export || true
	ip addr flush dev eth0
	ip link set eth0 down
	log "guest reset"
}

# The whole shared setup: network, rxe, exports, the chosen client, nfsd.
guest_setup() {
	net_up
	provider_up
	exports_up
	client_load "$1"
	nfsd_start
}

# nfs_mount VERS EXPORT MNT [OPTS]: mount /export/EXPORT over RDMA.
# With NFS_PROTO=rdma6 the mount goes to XPRS_ADDR6 over IPv6.
nfs_mount() {
	local vers=$1 exp=$2 mnt=$3 opts=${4:-} server=$XPRS_ADDR
	local path=/export/$exp
	case $vers in 4*) path=/$exp ;; esac
	[ "${NFS_PROTO:-rdma}" = rdma6 ] && server="[$XPRS_ADDR6]"
	mkdir -p "$mnt"
	mount -t nfs -o "proto=${NFS_PROTO:-rdma},port=$NFS_PORT,vers=$vers${opts:+,$opts}" \
		"$server:$path" "$mnt"
}

# terse FILE FIELD: one field of a fio terse (version 3) line: 5 error,
# 6 read KiB, 8 read IOPS, 48 write KiB/s, 49 write IOPS.
terse() { cut -d';' -f"$2" "$1"; }

# fio_job DIR NAME SECONDS FIO-ARGS...: one time-based O_DIRECT libaio job
# on DIR/fio-NAME with crc32c verification; its normal output goes to the
# log and /tmp/fio-NAME.out, its stderr to /tmp/fio-NAME.err, its terse
# line to /tmp/fio-NAME.terse. Returns fio's status.
fio_job() {
	local dir=$1 name=$2 secs=$3 rc=0; shift 3
	# fio writes nothing to the working directory with verify_state_save=0;
	# /tmp anyway, the repo share is read-only.
	(cd /tmp && fio --name="$name" --directory="$dir" --filename="fio-$name" \
		--ioengine=libaio --direct=1 --runtime="$secs" --time_based \
		--verify=crc32c --verify_fatal=1 --verify_state_save=0 \
		--output-format=normal,terse --output="/tmp/fio-$name.out" "$@") \
		2> "/tmp/fio-$name.err" || rc=$?
	grep -v '^3;' "/tmp/fio-$name.out" || true
	cat "/tmp/fio-$name.err"
	grep '^3;' "/tmp/fio-$name.out" > "/tmp/fio-$name.terse" || true
	return $rc
}

# perftest TOOL SECONDS [SERVER]: one run of a raw-ceiling tool of the
# benchmark on rxe0, as its server (no SERVER: it waits for one client) or
# as the client of SERVER: ib_read_bw and ib_write_bw with 64 x SECONDS
# messages of 1 MiB (about SECONDS at rxe's rate under TCG), ib_send_lat
# with 2000 messages of 4 KiB. Each tool has a port of its own, so that a
# server guest can wait for all three at once (tests/vm2/bench-server.sh).
# ib_read_bw waits for completions on CQ events (-e), not
# by polling: a polling tool spends instructions while it waits, and under
# instruction counting (make bench MODE=icount) that time is the guest's,
# so a polled ceiling came out below NFS's own rate (46 MB/s against 71;
# 75 with events). perftest has no duration mode with events, hence the
# message count, and no events for RDMA Write: ib_write_bw still polls,
# as ib_send_lat does (with -e it never finished under icount, twice).
perftest() {
	local t=$1 secs=$2
	shift 2
	case $t in
	ib_read_bw)	set -- -s 1048576 -n $((64 * secs)) -e -p 18515 "$@" ;;
	ib_write_bw)	set -- -s 1048576 -n $((64 * secs)) -p 18516 "$@" ;;
	ib_send_lat)	set -- -s 4096 -n 2000 -p 18517 "$@" ;;
	*)	fail "perftest: unknown tool $t" ;;
	esac
	"$t" -d rxe0 -F "$@"
}

drop_caches() {
	sync
	echo 3 > /proc/sys/vm/drop_caches
}

# xprt_stats MNT: the "xprt:" line of MNT in /proc/self/mountstats.
xprt_stats() {
	awk -v m="$1" '
		$1 == "device" { cur = ($5 == m) }
		cur && $1 == "xprt:" { print; exit }' /proc/self/mountstats
}

# xprt_lines MNT: every "xprt:" line of MNT, one per transport of its RPC
# client (rpc_clnt_show_stats() prints each of the client's switch):
# with nconnect=N, N of them.
xprt_lines() {
	awk -v m="$1" '
		$1 == "device" { cur = ($5 == m) }
		cur && $1 == "xprt:" { print }' /proc/self/mountstats
}

# xprt_field MNT N: column N (1-based, after "xprt: rdma") of that line.
xprt_field() {
	xprt_stats "$1" | awk -v n="$2" '{ print $(n + 2) }'
}

# The columns of the "xprt: rdma" line, in xprt_rdma_print_stats()'s order
# (net/sunrpc/xprtrdma/transport.c; ours: rust/transport/stats.rs): the
# first ten are sunrpc's, the rest the transport's. xprt_field N is the
# Nth of these.
XPRT_RDMA_COLUMNS="port bind_count connect_count connect_time idle_time sends
	recvs bad_xids req_u bklog_u read_chunk_count write_chunk_count
	reply_chunk_count total_rdma_request total_rdma_reply pullup_copy_count
	fixup_copy_count hardway_register_count failed_marshal_count
	bad_reply_count nomsg_call_count mrs_recycled mrs_orphaned mrs_allocated
	local_inv_needed empty_sendctx_q reply_waits_for_send"

# xprt_labeled MNT: MNT's transport counters, each with its name, three to
# a line.
xprt_labeled() {
	xprt_stats "$1" | awk -v names="$XPRT_RDMA_COLUMNS" '
		$2 != "rdma" { print "  (not an rdma transport: " $0 ")"; exit }
		{
			n = split(names, name, /[ \t\n]+/)
			for (i = 1; i <= n; i++) {
				printf "  %-22s %9s", name[i], $(i + 2)
				if (i % 3 == 0 || i == n) printf "\n"
			}
		}'
}
