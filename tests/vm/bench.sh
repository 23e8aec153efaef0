# SPDX-License-Identifier: GPL-2.0
# `make bench` guest side: one boot, one tmpfs export, the clients in
# $BENCH_CLIENTS alternated for $BENCH_ROUNDS rounds, each round running the
# same workloads; the raw rxe ceiling measured in the same boot. Results go
# to /xprs/out/bench/ as fio JSON and key=value files for scripts/bench.
#
# Args: ROUNDS RUNTIME_SECONDS "CLIENTS" META_FILES PERF(0|1) FIO_FILE_SIZE
. /xprs/repo/tests/vm/lib.sh

rounds=${1:-3} runtime=${2:-20} clients=${3:-c} meta_files=${4:-10000} perf=${5:-0} size=${6:-128M}
res=/xprs/out/bench
mkdir -p "$res"
MNT=/mnt/bench

# Busy jiffies of the whole guest (client, server and rxe all run here).
busy_jiffies() {
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat
}

# run_timed NAME CMD...: run CMD, record the CPU time (ms) and wall time it took.
run_timed() {
	local name=$1; shift
	local j0 t0 j1 t1
	j0=$(busy_jiffies); t0=$(date +%s.%N)
	"$@"
	j1=$(busy_jiffies); t1=$(date +%s.%N)
	echo "cpu_ms=$(( (j1 - j0) * 1000 / $(getconf CLK_TCK) ))" > "$name.cpu"
	echo "wall_s=$(echo "$t1 $t0" | awk '{ printf "%.3f", $1 - $2 }')" >> "$name.cpu"
}

fio_job() {	# fio_job OUTNAME RW BS IODEPTH
	local out=$1 rw=$2 bs=$3 qd=$4
	local args=(--directory="$MNT" --name="$rw-$bs-qd$qd" --filename=bench.dat
		--size="$size" --ioengine=libaio --direct=1 --numjobs=1)
	# Lay the file out first, so the timed run (and its CPU time) is
	# the workload only.
	fio "${args[@]}" --rw=write --bs=1M --create_only=1 > /dev/null
	run_timed "$out" fio "${args[@]}" --rw="$rw" --bs="$bs" --iodepth="$qd" \
		--runtime="$runtime" --time_based --output-format=json --output="$out.json"
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

with_perf() {	# with_perf OUT CMD...: the whole guest's profile during CMD
	[ "$perf" = 1 ] || { "${@:2}"; return; }
	# perf.data stays on the guest's tmpfs: writing it over 9p would
	# show up in the profile.
	local pp data=/tmp/perf.data
	perf record -a -g -e cpu-clock -o "$data" > /dev/null 2>&1 & pp=$!
	sleep 1
	"${@:2}"
	kill -INT "$pp"; wait "$pp" || true
	# A flat profile: the top 80 symbols, then every symbol of the two
	# client transports wherever it ranks (by name: perf files module
	# symbols under [kernel.kallsyms]), so the clients' own costs can be
	# compared line by line.
	{
		# (sed, not head: under pipefail an early exit would SIGPIPE perf)
		perf report -i "$data" --stdio --no-children --sort sym -g none 2> /dev/null |
			{ grep -E '^ +[0-9.]+%' || true; } | sed -n 1,80p
		echo "# transport modules:"
		perf report -i "$data" --stdio --no-children --sort sym -g none 2> /dev/null |
			{ grep -E '^ +[0-9.]+% .*(xprtrdma_rs|xprs_|rpcrdma_|frwr_|xprt_rdma_)' || true; }
	} > "$1.perf.txt"
	rm -f "$data"
}

first=${clients%% *}
guest_setup "$first"

# The raw ceiling of rxe0, in this boot.
log "raw rxe ceiling (perftest)"
for t in ib_read_bw ib_write_bw; do
	$t -d rxe0 -F -s 1048576 -D "$runtime" > /dev/null 2>&1 & srv=$!
	sleep 1
	$t -d rxe0 -F -s 1048576 -D "$runtime" "$XPRS_ADDR" > "$res/raw-$t.txt" 2>&1
	wait $srv || true
done
ib_send_lat -d rxe0 -F -s 4096 -n 2000 > /dev/null 2>&1 & srv=$!
sleep 1
ib_send_lat -d rxe0 -F -s 4096 -n 2000 "$XPRS_ADDR" > "$res/raw-ib_send_lat.txt" 2>&1
wait $srv || true

for round in $(seq "$rounds"); do
	for c in $clients; do
		log "round $round: $c"
		[ "$round-$c" = "1-$first" ] || client_switch "$c"
		nfs_mount 3 tmp "$MNT"
		p=$res/r$round-$c
		with_perf "$p-randread-4k-qd1" fio_job "$p-randread-4k-qd1" randread 4k 1
		fio_job "$p-randwrite-4k-qd1" randwrite 4k 1
		fio_job "$p-randread-4k-qd32" randread 4k 32
		fio_job "$p-randwrite-4k-qd32" randwrite 4k 32
		with_perf "$p-read-1m-qd8" fio_job "$p-read-1m-qd8" read 1M 8
		with_perf "$p-write-1m-qd8" fio_job "$p-write-1m-qd8" write 1M 8
		with_perf "$p-meta" meta_job "$p-meta"
		xprt_stats "$MNT" > "$p.xprt"
		umount "$MNT"
	done
done
uname -r > "$res/kernel.txt"
for c in $clients; do
	case $c in rs) modinfo "$XPRS_KO" | awk '/^(version|srcversion|vermagic):/' > "$res/module.txt" ;; esac
done
log "benchmark done"
