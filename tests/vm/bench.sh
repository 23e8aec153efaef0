# SPDX-License-Identifier: GPL-2.0
# `make bench` guest side: one boot, one tmpfs export, the clients in
# $BENCH_CLIENTS alternated for $BENCH_ROUNDS rounds (in ABBA order), each
# round running the same workloads after measuring the raw rxe ceiling. Results go
# to /xprs/out/bench/ as fio JSON and key=value files for scripts/bench.
#
# Args: ROUNDS RUNTIME_SECONDS "CLIENTS" META_FILES PERF(0|1) FIO_FILE_SIZE
#       ["WORKLOADS"]   workload names (below); default the seven of $workloads
#       [one|two]       the topology (one by default)
#       [BASE_KO]       the guest path of a baseline build of ours, for the
#                       client "base" (scripts/bench -b); empty: none
#       ["NCONNECT"]    mount once per N of this list with nconnect=N, and
#                       name the results r<round>-<client>-nc<N>-...
#                       (scripts/bench -n); empty: one mount, no nconnect
#
# one: nfsd, its export, the clients and both ends of rxe in this guest.
# two (scripts/bench -2, booted by scripts/vm2 bench): this is the client
# guest of a pair; the server guest (tests/vm2/bench-server.sh, 10.9.0.1)
# runs nfsd with the same export and perftest's servers, and nothing of
# it is counted here.
topology=${8:-one}
case $topology in
one)	. /xprs/repo/tests/vm/lib.sh ;;
two)	. /xprs/repo/tests/vm2/lib.sh ;;	# XPRS_ADDR is the server guest
*)	echo "FAIL: the topology is one or two, not '$topology'"; exit 1 ;;
esac

# "base" is ours too, a baseline build: everything below that is ours'
# (the module name, its symbols in the profiles) holds for it.
XPRS_BASE_KO=${9:-}
nconnects=${10:-}
rounds=${1:-3} runtime=${2:-20} clients=${3:-c} meta_files=${4:-10000} perf=${5:-0} size=${6:-128M}
workloads=${7:-randread-4k-qd1 randwrite-4k-qd1 randread-4k-qd32 randwrite-4k-qd32 read-1m-qd8 write-1m-qd8 meta}
res=/xprs/out/bench
mkdir -p "$res"
MNT=/mnt/bench

# snap FILE: the whole guest's counters now, as key=value lines: idle and
# iowait time (one guest: client, server and rxe all run here; two: the
# client and its end of rxe), the time, context switches, interrupts, and every
# counter of rxe0's port (packets, retries, RNR and sequence errors; in one
# guest both ends of every connection are here). A script, so that fio can
# run it too.
#
# With a second argument, on or off, it also switches the profile that
# with_perf records (if any): on before the counters are read, off after,
# so that the profile covers the window and little outside it (not fio's
# start-up, not the file's layout), and a slow start of perf never lands
# in the window.
SNAP=/tmp/xprs-snap
PERF_CTL=/tmp/xprs-perf-ctl
cat > "$SNAP" <<'SNAP_EOF'
#!/bin/sh
[ "${2:-}" != on ] || /tmp/xprs-perf-ctl enable
{
	# Idle and iowait, unlike the busy fields, are not sampled at ticks:
	# with NO_HZ the kernel measures them on the clock from idle entry to
	# exit (get_idle_time() in fs/proc/stat.c), interrupts excluded, and
	# /proc/stat only rounds them to USER_HZ.
	awk '$1 == "cpu" { print "idle=" $5 + $6 }
	     $1 == "ctxt" || $1 == "intr" { print $1 "=" $2 }' /proc/stat
	echo "time=$(date +%s.%N)"
	rdma statistic show link rxe0/1 |
		awk '{ for (i = 1; i < NF; i++) if ($(i + 1) ~ /^[0-9]+$/) print "rxe_" $i "=" $(i + 1) }'
} > "$1"
[ "${2:-}" != off ] || /tmp/xprs-perf-ctl disable
SNAP_EOF
chmod +x "$SNAP"

# xprs-perf-ctl enable|disable: the profile with_perf records, started
# disabled, switched through perf's control fifo (perf record --control);
# waits for perf's ack, so that the switch has happened when it returns.
# Nothing to do when no profile is being recorded.
cat > "$PERF_CTL" <<'CTL_EOF'
#!/bin/sh
ctl=/tmp/xprs-perf.ctl ack=/tmp/xprs-perf.ack
[ -p "$ctl" ] || exit 0
timeout 30 sh -c "echo $1 > $ctl && read -r _ < $ack" ||
	echo "xprs-perf-ctl: perf did not acknowledge '$1' within 30 s" >&2
CTL_EOF
chmod +x "$PERF_CTL"

# window NAME: turn NAME.before and NAME.after into NAME.cpu: the CPU time
# (ms) and wall time of the window, and how much each event count grew.
# The CPU time is the window's wall time on every online CPU less the idle
# and iowait time: measured on the guest clock (under icount, instructions),
# where summing the busy fields counted the ticks that happened to land in
# them.
window() {
	awk -F= -v hz="$(getconf CLK_TCK)" -v cpus="$(nproc)" '
		FNR == NR { b[$1] = $2; next }
		$1 == "idle" { idle_ms = ($2 - b[$1]) * 1000 / hz; next }
		$1 == "time" { wall_s = $2 - b[$1]; printf "wall_s=%.3f\n", wall_s; next }
		($1 in b) { print $1 "=" $2 - b[$1] }
		END { ms = cpus * wall_s * 1000 - idle_ms; printf "cpu_ms=%d\n", (ms > 0 ? ms : 0) }' \
		"$1.before" "$1.after" > "$1.cpu"
	rm -f "$1.before" "$1.after"
}

# run_timed NAME CMD...: the window is CMD's whole run.
run_timed() {
	local name=$1; shift
	"$SNAP" "$name.before" on
	"$@"
	"$SNAP" "$name.after" off
	window "$name"
}

fio_job() {	# fio_job OUTNAME RW BS IODEPTH
	local out=$1 rw=$2 bs=$3 qd=$4
	local args=(--directory="$MNT" --name="$rw-$bs-qd$qd" --filename=bench.dat
		--size="$size" --ioengine=libaio --direct=1 --numjobs=1)
	# Lay the file out first, and take the window from fio's own hooks
	# around the I/O, so that the CPU time and event counts are the
	# workload's, not fio's start-up and exit (seconds under TCG).
	fio "${args[@]}" --rw=write --bs=1M --create_only=1 > /dev/null
	# (fio writes each hook's output, here none, to a file in its cwd.)
	(cd /tmp && fio "${args[@]}" --rw="$rw" --bs="$bs" --iodepth="$qd" \
		--exec_prerun="$SNAP $out.before on" --exec_postrun="$SNAP $out.after off" \
		--runtime="$runtime" --time_based --output-format=json --output="$out.json")
	window "$out"
	rm -f "$MNT/bench.dat"
}

meta_job() {	# create, stat and unlink META_FILES small files
	local out=$1 d=$MNT/meta.$$
	mkdir "$d"
	run_timed "$out-create" sh -c "cd '$d' && seq $meta_files | xargs touch"
	run_timed "$out-stat" sh -c "cd '$d' && drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }; drop; seq $meta_files | xargs stat -c %s > /dev/null"
	run_timed "$out-unlink" sh -c "cd '$d' && seq $meta_files | xargs rm -f"
	rmdir "$d"
	echo "ops=$meta_files" > "$out.meta"
}

# The profile's sampling period: cpu-clock's hrtimer, in ns of the guest's
# clock (under icount, guest instructions), perf's default rate (4 kHz).
PERF_PERIOD=250000

with_perf() {	# with_perf OUT CMD...: the whole guest's profile during CMD's windows
	[ "$perf" = 1 ] || { "${@:2}"; return; }
	# perf.data stays on the guest's tmpfs: writing it over 9p would
	# show up in the profile. perf starts with its events disabled (-D -1);
	# the windows' snapshots switch them on and off through the control
	# fifo (xprs-perf-ctl), so the profile covers what the CPU and event
	# counts cover: the I/O between fio's hooks, the metadata phases.
	# No call graphs: the flat profile below does not use them, and each
	# sample costs less without them.
	local pp data=/tmp/perf.data ctl=/tmp/xprs-perf.ctl ack=/tmp/xprs-perf.ack
	rm -f "$ctl" "$ack"
	mkfifo "$ctl" "$ack"
	perf record -a -e cpu-clock -c "$PERF_PERIOD" -D -1 --control "fifo:$ctl,$ack" \
		-o "$data" > /tmp/perf.log 2>&1 & pp=$!
	sleep 1
	kill -0 "$pp" 2> /dev/null || { rm -f "$ctl" "$ack"; cat /tmp/perf.log; fail "perf record did not start"; }
	"${@:2}"
	rm -f "$ctl" "$ack"
	kill -INT "$pp"; wait "$pp" || true
	# A flat profile of every symbol: share, samples and summed period
	# (samples x PERF_PERIOD, in ns of guest time). perf files module
	# symbols under [kernel.kallsyms]; which module each is in comes
	# from OUT's mount's .syms (below). perf reports once, into a file.
	{
		echo "# xprs-profile: event=cpu-clock period_ns=$PERF_PERIOD"
		perf report -i "$data" --stdio --no-children --sort sym -g none -n --show-total-period 2> /dev/null |
			{ grep -E '^ +[0-9.]+%|^# (Samples|Event count)' || true; }
	} > "$1.perf.txt"
	rm -f "$data"
}

# module_syms OUT: the symbols of the two client transports' modules
# (/proc/kallsyms: "NAME [MODULE]"), while the client of this mount is
# loaded, for the report to tell each profile's symbols by module (a
# Rust generic instantiated in ours need not carry our crate's name).
module_syms() {
	[ "$perf" = 1 ] || return 0
	awk '$4 == "[xprtrdma_rs]" || $4 == "[rpcrdma]" { print $3, $4 }' /proc/kallsyms > "$1.syms"
}

# raw_ceiling ROUND: the raw ceiling of rxe0 (perftest), measured in every
# round next to the clients' runs, since the host's speed drifts within a boot.
# In one guest each tool's server runs here too; with two, the server
# guest's waits for it.
raw_ceiling() {
	local t srv
	log "round $1: raw rxe ceiling (perftest)"
	for t in ib_read_bw ib_write_bw ib_send_lat; do
		srv=
		if [ "$topology" = one ]; then
			perftest $t "$runtime" > /dev/null 2>&1 & srv=$!
			sleep 1
		fi
		perftest $t "$runtime" "$XPRS_ADDR" > "$res/r$1-raw-$t.txt" 2>&1
		[ -z "$srv" ] || wait $srv || true
	done
}

# bench_switch c|rs|base: the other client. One guest: client_switch, which stops
# and starts nfsd around the reload (svcrdma is rpcrdma's). Two: no nfsd
# here, only the transports reloaded; unload waits out the destroy of the
# last mount's transport, which sunrpc does after the umount.
bench_switch() {
	if [ "$topology" = one ]; then
		client_switch "$1"
		return
	fi
	unload xprtrdma_rs && unload rpcrdma || fail "the transports did not unload"
	client_load "$1"
}

# The workloads: 4 KiB random read or write at any queue depth
# (randread-4k-qdN, randwrite-4k-qdN: the scaling set of scripts/bench -S
# is QD 1, 8, 32 and 128), 1 MiB sequential read and write at QD 8, and
# the metadata workload. Checked before the first round, not in the middle.
for w in $workloads; do
	[[ $w =~ ^rand(read|write)-4k-qd[1-9][0-9]*$ ]] ||
		case $w in read-1m-qd8|write-1m-qd8|meta) ;; *) fail "unknown workload $w" ;; esac
done

# bench_client ROUND CLIENT [N]: mount (with nconnect=N if given), run
# every workload, unmount.
bench_client() {
	local p=$res/r$1-$2 n=${3:-} w got
	if [ -n "$n" ]; then
		log "round $1: $2, nconnect=$n"
		p=$p-nc$n
	fi
	nfs_mount 3 tmp "$MNT" ${n:+"nconnect=$n"}
	# An nfs_client is shared by the mounts of one server and reused
	# whatever their nconnect (nfs_match_client()): a mount that got
	# another number of transports than asked would be measured under
	# the wrong label.
	if [ -n "$n" ]; then
		got=$(xprt_lines "$MNT" | wc -l)
		[ "$got" = "$n" ] ||
			fail "nconnect=$n: $MNT has $got transport(s) in /proc/self/mountstats, not $n"
	fi
	module_syms "$p"
	for w in $workloads; do
		case $w in
		rand*-4k-qd*) with_perf "$p-$w" fio_job "$p-$w" "${w%%-*}" 4k "${w##*-qd}" ;;
		read-1m-qd8) with_perf "$p-$w" fio_job "$p-$w" read 1M 8 ;;
		write-1m-qd8) with_perf "$p-$w" fio_job "$p-$w" write 1M 8 ;;
		meta) with_perf "$p-$w" meta_job "$p-$w" ;;
		esac
	done
	xprt_lines "$MNT" > "$p.xprt"
	# Whether each transport carried its share: the sends column of each.
	[ -z "$n" ] || log "nconnect=$n: RPC sends per transport:$(awk '{ printf " %s", $8 }' "$p.xprt")"
	umount "$MNT"
}

loaded=${clients%% *}
if [ "$topology" = one ]; then
	guest_setup "$loaded"
else
	link_up client
	statd_up
	client_load "$loaded"
	# The host (scripts/vm2) waits for a phase: the benchmark has begun.
	phase bench
fi

for round in $(seq "$rounds"); do
	raw_ceiling "$round"
	# ABBA: every other round runs the clients in reverse order, so that
	# a drift of the host's speed within the boot favours neither; the
	# nconnect values too, so that the sequence of (client, N) is ABBA.
	order=$clients ncs=$nconnects
	[ $((round % 2)) = 1 ] || order=$(printf '%s\n' $clients | tac | xargs) ncs=$(printf '%s\n' $nconnects | tac | xargs)
	for c in $order; do
		log "round $round: $c"
		[ "$c" = "$loaded" ] || { bench_switch "$c"; loaded=$c; }
		if [ -z "$nconnects" ]; then
			bench_client "$round" "$c"
		else
			for n in $ncs; do bench_client "$round" "$c" "$n"; done
		fi
	done
done
uname -r > "$res/kernel.txt"
for c in $clients; do
	case $c in
	rs)	modinfo "$XPRS_KO" | awk '/^(version|srcversion|vermagic):/' > "$res/module.txt" ;;
	base)	modinfo "$XPRS_BASE_KO" | awk '/^(version|srcversion|vermagic):/' > "$res/module-base.txt" ;;
	esac
done
log "benchmark done"
