# SPDX-License-Identifier: GPL-2.0
# The server guest of scripts/bench -2 (scripts/vm2 bench):
#   bench-server.sh ROUNDS RUNTIME_SECONDS ...
# (tests/vm/bench.sh's arguments, of which it uses RUNTIME_SECONDS).
#
# nfsd over svcrdma (rpcrdma.ko) on rxe0/eth1 at 10.9.0.1, exporting what
# the one-guest benchmark's nfsd exports (exports_up: the tmpfs the clients
# mount, /export/tmp), and perftest's three servers for the raw ceiling,
# each on its own port and waiting again after every run of the client
# guest's. Then it writes $OUT/ready and waits for the host's $OUT/stop.
. /xprs/repo/tests/vm2/lib.sh

runtime=${2:?usage: bench-server.sh ROUNDS RUNTIME_SECONDS ...}
link_up server
exports_up
modprobe rpcrdma
nfsd_start
log "nfsd up: $(cat /proc/fs/nfsd/portlist | tr '\n' ' ')"

loops=()
for t in ib_read_bw ib_write_bw ib_send_lat; do
	# A server that fails at once is retried a second later, not spun on.
	( while ! [ -e "$OUT/stop" ]; do
		perftest "$t" "$runtime" >> "$OUT/perftest-$t.log" 2>&1 || sleep 1
	done ) &
	loops+=($!)
done
echo 1 > "$OUT/ready"

until [ -e "$OUT/stop" ]; do sleep 0.5; done
log "stop: perftest's servers and nfsd down"
# Each loop sees the stop file once its waiting server is gone.
for p in "${loops[@]}"; do
	pkill -P "$p" || true
	wait "$p" || true
done
nfsd_stop
log "benchmark server done"
