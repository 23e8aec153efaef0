# SPDX-License-Identifier: GPL-2.0
# Guest-side helpers of the two-VM tests (scripts/vm2). Source it from a
# tests/vm2 script; it sources tests/vm/lib.sh for nfsd_start, client_load
# and friends.
#
# The two guests share one link (their second NIC, eth1, joined by the
# host's relay); nothing else is reachable. The server is 10.9.0.1, the
# client 10.9.0.2, each with rxe0 on eth1. eth0 (user networking with no
# way out, as in scripts/vm) stays down.
. /xprs/repo/tests/vm/lib.sh

VM2_SERVER=10.9.0.1
VM2_CLIENT=10.9.0.2
OUT=/xprs/out
# nfs_mount (tests/vm/lib.sh) mounts from XPRS_ADDR.
XPRS_ADDR=$VM2_SERVER

# link_up server|client: the address on eth1, and rxe0 on it.
link_up() {
	local addr
	case $1 in server) addr=$VM2_SERVER ;; client) addr=$VM2_CLIENT ;; *) fail "link_up: $1" ;; esac
	hostname "xprs-$1"
	printf '127.0.0.1\tlocalhost\n%s\txprs-server\n%s\txprs-client\n' \
		"$VM2_SERVER" "$VM2_CLIENT" > /etc/hosts
	: > /etc/resolv.conf
	ip link set lo up
	ip addr add "$addr/24" dev eth1
	ip link set eth1 up
	modprobe rdma_rxe
	rdma link add rxe0 type rxe netdev eth1
	local i
	for i in $(seq 50); do
		rdma link show rxe0/1 2>/dev/null | grep -q 'state ACTIVE' && { log "link up: $addr on eth1, rxe0 ACTIVE"; return 0; }
		sleep 0.2
	done
	rdma link show
	fail "rxe0 did not become ACTIVE"
}

# statd_up: rpcbind and statd; mount.nfs refuses an NFSv3 mount with
# locking without them (on the server, nfsd_start starts them).
statd_up() {
	mkdir -p /run/rpcbind
	rpcbind -w
	rpc.statd
}

# phase NAME: tell the host where this guest is (it polls $OUT/phase).
phase() {
	log "phase: $1"
	echo "$1" > "$OUT/phase"
}

# wait_host FILE SECONDS: wait for the host to create $OUT/FILE.
wait_host() {
	local i
	for i in $(seq $(($2 * 5))); do
		[ -e "$OUT/$1" ] && return 0
		sleep 0.2
	done
	return 1
}

# result KEY VALUE: one line of the result the host puts in its table.
result() {
	echo "$1=$2" >> "$OUT/result"
	log "result: $1=$2"
}

# probe_ok N: one successful probe I/O; the host times recovery by the
# first line that appears after the server is back.
probe_ok() {
	echo "io $1 $(cut -d' ' -f1 /proc/uptime)" >> "$OUT/probe.log"
}

# dump_stuck: what is blocked, for a hang's diagnosis.
dump_stuck() {
	echo w > /proc/sysrq-trigger
	ps -eo pid,stat,wchan:32,etime,cmd | grep -v ' [SI]  ' | head -40 || true
}
