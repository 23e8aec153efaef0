# SPDX-License-Identifier: GPL-2.0
# Data integrity and throughput over proto=rdma, chunks included:
#
#   rs-data.sh c|rs|both [FIO_SECONDS] [rxe|siw] [BIG_MIB] [VERSIONS]
#
# c is the in-tree C client (rpcrdma client=1), rs ours (xprtrdma_rs beside
# rpcrdma client=0), both runs the whole sequence for c, then for rs, in one
# boot, over soft-RoCE (rxe, the default) or soft-iWARP (siw), whose device
# limits differ: one RDMA Read SGE, few send SGEs, no inline data. For each
# client, on each NFS version of VERSIONS ("3+4.0", the default, or one of
# them; tmpfs export): files of
# 0, 1, 4095, 4096, 4097 bytes, 1 MiB + 7 and BIG_MIB (256) MiB of random data are
# written (dd conv=fsync), caches dropped, and read back bit-exact, buffered
# and O_DIRECT; a directory of 5000 entries with 40-character names lists
# completely with ls and ls -l. On NFSv3 only, fio with crc32c verification:
# 4 KiB randrw at iodepth 32 and 1 MiB sequential writes at iodepth 8, each
# for FIO_SECONDS (60). After the workloads on a mount, mountstats must show
# read, write and reply chunks and no bad replies. For rs, the mount must be
# served by xprtrdma_rs, rmmod must be clean, and every transport destroyed
# must have logged "xprtrdma_rs: destroy: reqs home N/N, reps home M/M,
# mrs home K/K" with each pair equal.
#
# A side-by-side summary (markdown) ends the log and goes to
# /xprs/out/rs-data-summary.md. Missing chunks or destroy accounting are
# reported and the client's run goes on, so its figures are complete; the
# run still fails. Anything else (corrupt data, a verify error, a short
# listing) stops that client's run at once.
. /xprs/repo/tests/vm/lib.sh

which=${1:-both}
fio_secs=${2:-60}
export XPRS_PROVIDER=${3:-rxe}
big_mib=${4:-256}
versions=${5:-3+4.0}
case $which in
c|rs)	clients=$which ;;
both)	clients="c rs" ;;
*)	fail "usage: rs-data.sh c|rs|both [FIO_SECONDS] [rxe|siw] [BIG_MIB] [VERSIONS]" ;;
esac
case $versions in
3|4.0|3+4.0)	versions=${versions/+/ } ;;
*)	fail "VERSIONS must be 3, 4.0 or 3+4.0, not '$versions'" ;;
esac
case $fio_secs in ''|*[!0-9]*) fail "FIO_SECONDS must be a number, not '$fio_secs'" ;; esac
case $big_mib in ''|0|*[!0-9]*) fail "BIG_MIB must be a positive number, not '$big_mib'" ;; esac

RES=/tmp/rs-data
SUMMARY=/xprs/out/rs-data-summary.md
BIG=$((big_mib * 1024 * 1024))
SMALL="0 1 4095 4096 4097 $((1024 * 1024 + 7))"
NENTRIES=5000

client_module() {
	case $1 in c) echo rpcrdma ;; rs) echo xprtrdma_rs ;; esac
}

# metric NAME VALUE: a figure of the running client, for the summary.
metric() {
	echo "$2" > "$RES/$XPRS_CLIENT/$1"
	echo "metric: $1 = $2"
}

# expect WHAT CMD...: like check, but a miss is recorded and the client's run
# goes on; it fails at its end.
expect() {
	local what=$1; shift
	if "$@"; then
		echo "ok: $what"
	else
		echo "FAIL: $what (going on)"
		echo "$what" >> "$RES/$XPRS_CLIENT/missed"
	fi
}

# timed VAR CMD...: run CMD, set VAR to its wall time in seconds, return
# CMD's status.
timed() {
	local _var=$1 _t0 _rc=0; shift
	_t0=$(date +%s.%N)
	"$@" || _rc=$?
	printf -v "$_var" %s "$(awk -v a="$_t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')"
	return $_rc
}

# mbps BYTES SECONDS: MB/s (10^6 bytes a second), one decimal.
mbps() {
	awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0 ? b / s / 1e6 : 0) }'
}

# modrefs MODULE: its use count, empty when it is not loaded.
modrefs() {
	awk -v m="$1" '$1 == m { print $3 }' /proc/modules
}

mount_rdma() {	# mount_rdma VERS MNT
	local vers=$1 mnt=$2 mod refs
	if ! timeout 100 bash -c ". /xprs/repo/tests/vm/lib.sh; nfs_mount $vers tmp $mnt"; then
		dmesg | tail -60
		fail "v$vers: mount over proto=rdma failed"
	fi
	check "v$vers: mounted with proto=rdma" grep -q " $mnt nfs.* .*proto=rdma" /proc/mounts
	grep " $mnt " /proc/mounts
	mod=$(client_module "$XPRS_CLIENT")
	refs=$(modrefs "$mod")
	echo "$mod use count while mounted: ${refs:-not loaded}"
	check "v$vers: $mod is in use while mounted" test "${refs:-0}" -gt 0
	if [ "$XPRS_CLIENT" = rs ]; then
		check "v$vers: rpcrdma still leaves the client class to us" \
			grep -qx N /sys/module/rpcrdma/parameters/client
	fi
}

# Files of every size written, read back buffered and O_DIRECT.
data_checks() {	# data_checks VERS MNT
	local vers=$1 mnt=$2 d=$2/data-$XPRS_CLIENT n t got
	mkdir "$d"
	for n in $SMALL; do
		dd if="/tmp/src-$n" of="$d/f-$n" bs=1M conv=fsync status=none
	done
	check "v$vers: $big_mib MiB written (dd conv=fsync)" \
		timed t dd if="/tmp/src-$BIG" of="$d/f-$BIG" bs=1M conv=fsync status=none
	metric "v$vers-write-mbps" "$(mbps "$BIG" "$t")"

	drop_caches
	for n in $SMALL; do
		check "v$vers: $n bytes, buffered read-back is bit-exact" cmp "/tmp/src-$n" "$d/f-$n"
	done
	check "v$vers: $big_mib MiB, buffered read-back is bit-exact" timed t cmp "/tmp/src-$BIG" "$d/f-$BIG"
	metric "v$vers-read-mbps" "$(mbps "$BIG" "$t")"

	drop_caches
	for n in $SMALL; do
		dd if="$d/f-$n" of="/tmp/back-$n" bs=1M iflag=direct status=none
		check "v$vers: $n bytes, O_DIRECT read-back is bit-exact" cmp "/tmp/src-$n" "/tmp/back-$n"
	done
	timed t dd if="$d/f-$BIG" of="/tmp/back-$BIG" bs=1M iflag=direct status=none
	metric "v$vers-dread-mbps" "$(mbps "$BIG" "$t")"
	got=$(sha256sum < "/tmp/back-$BIG" | cut -d' ' -f1)
	check "v$vers: $big_mib MiB, O_DIRECT read-back matches ($got)" test "$got" = "$BIG_SHA"
	rm -f /tmp/back-*
	rm -rf "$d"
}

# A directory of NENTRIES entries, listed whole after dropping caches.
dir_checks() {	# dir_checks VERS MNT
	local vers=$1 mnt=$2 d=$2/dir-$XPRS_CLIENT t
	mkdir "$d"
	check "v$vers: $NENTRIES entries created" \
		timed t sh -c "cd '$d' && xargs touch < /tmp/names"
	metric "v$vers-create-s" "$t"
	drop_caches
	check "v$vers: ls ran" timed t sh -c "LC_ALL=C ls '$d' > /tmp/ls.out"
	metric "v$vers-ls-s" "$t"
	echo "ls: $(wc -l < /tmp/ls.out) entries"
	check "v$vers: ls lists exactly the $NENTRIES entries" cmp /tmp/names /tmp/ls.out
	drop_caches
	check "v$vers: ls -l ran" timed t sh -c "LC_ALL=C ls -l '$d' > /tmp/ls.out"
	metric "v$vers-lsl-s" "$t"
	# The guest has no /dev/fd, so no process substitution.
	awk 'NR > 1 { print $NF }' /tmp/ls.out > /tmp/lsl.names
	echo "ls -l: $(wc -l < /tmp/lsl.names) entries"
	check "v$vers: ls -l lists exactly the $NENTRIES entries" cmp /tmp/names /tmp/lsl.names
	rm -rf "$d"
}

# run_fio MNT NAME FIO-ARGS...: one verified fio job; its terse line is left
# in /tmp/fio-NAME.terse.
run_fio() {
	local mnt=$1 name=$2 rc=0; shift 2
	log "fio $name, ${fio_secs}s"
	fio_job "$mnt" "$name" "$fio_secs" "$@" || rc=$?
	check "fio $name exited with status 0" test "$rc" = 0
	check "fio $name left a terse result" test "$(wc -l < "/tmp/fio-$name.terse")" = 1
	check "fio $name: err=0" test "$(terse "/tmp/fio-$name.terse" 5)" = 0
	# Verify failures are reported on stderr ("verify: bad magic header",
	# "crc32c: verify failed at file ...").
	check "fio $name: no verify errors" \
		sh -c "! grep -qiE 'verify(: | failed)' '/tmp/fio-$name.err' '/tmp/fio-$name.out'"
	rm -f "$mnt/fio-$name"
}

fio_checks() {	# fio_checks MNT
	local mnt=$1 f
	# Mixed random I/O; verify_backlog makes fio read back and check what
	# it wrote while the job runs, not only after a full pass (a time-based
	# job may never finish one). serialize_overlap keeps a verify read from
	# overtaking the write it checks.
	run_fio "$mnt" randrw-4k --rw=randrw --bs=4k --size=64M --iodepth=32 \
		--verify_backlog=256 --serialize_overlap=1
	f=/tmp/fio-randrw-4k.terse
	# Terse v3: 8 read IOPS, 49 write IOPS (the reads include fio's verify reads).
	metric fio-randrw-read-iops "$(terse "$f" 8 | awk '{ printf "%.0f", $1 }')"
	metric fio-randrw-write-iops "$(terse "$f" 49 | awk '{ printf "%.0f", $1 }')"

	# Sequential 1 MiB writes, every 16 MiB read back and verified.
	run_fio "$mnt" seq-1m --rw=write --bs=1M --size=256M --iodepth=8 \
		--verify_backlog=16
	f=/tmp/fio-seq-1m.terse
	check "fio seq-1m read back what it wrote (verify reads)" test "$(terse "$f" 6)" -gt 0
	# 48 write KiB/s; 6 KiB read by the verify and 50 the job's runtime in
	# ms (fio's own read bandwidth of backlog verifies is meaningless).
	metric fio-seq-write-mbps "$(terse "$f" 48 | awk '{ printf "%.1f", $1 * 1024 / 1e6 }')"
	metric fio-seq-verify-mbps "$(awk -F';' '{ printf "%.1f", ($50 > 0 ? $6 * 1.024 / $50 : 0) }' "$f")"
}

xprt_checks() {	# xprt_checks VERS MNT
	local vers=$1 mnt=$2 stats
	stats=$(xprt_stats "$mnt")
	echo "$stats"
	check "v$vers: mountstats shows xprt: rdma" test "$(echo "$stats" | awk '{print $2}')" = rdma
	check "v$vers: 27 xprt columns" test "$(echo "$stats" | awk '{print NF - 2}')" = 27
	# Columns after "xprt: rdma" (xprt_rdma_print_stats): 11 read_chunk_count
	# (NFS WRITE), 12 write_chunk_count (READ), 13 reply_chunk_count
	# (READDIR), 20 bad_reply_count.
	check "v$vers: no bad replies" test "$(xprt_field "$mnt" 20)" = 0
	metric "v$vers-chunks" "$(xprt_field "$mnt" 11)/$(xprt_field "$mnt" 12)/$(xprt_field "$mnt" 13)"
	expect "v$vers: read chunks were sent" test "$(xprt_field "$mnt" 11)" -gt 0
	expect "v$vers: write chunks were sent" test "$(xprt_field "$mnt" 12)" -gt 0
	expect "v$vers: reply chunks were sent" test "$(xprt_field "$mnt" 13)" -gt 0
}

# Every transport destroyed since this client's run began logged balanced
# accounting: each pair of "reqs home N/N, reps home M/M, mrs home K/K" equal.
destroy_checks() {	# destroy_checks MOUNTS
	local mounts=$1 lines bad
	lines=$(dmesg | sed -n "/rs-data: start of the rs run/,\$p" | grep 'xprtrdma_rs: destroy:' || true)
	[ -z "$lines" ] || printf '%s\n' "$lines"
	expect "rs: transports logged their destroy accounting" test -n "$lines"
	expect "rs: at least one destroy line per mount ($mounts)" \
		test "$(printf '%s' "$lines" | grep -c 'xprtrdma_rs: destroy:')" -ge "$mounts"
	bad=$(destroy_unbalanced 'rs-data: start of the rs run')
	[ -z "$bad" ] || printf '%s\n' "$bad"
	expect "rs: every destroy line is well-formed with each pair equal" test -z "$bad"
}

# The whole sequence for the loaded client ($XPRS_CLIENT).
run_client() {
	local c=$XPRS_CLIENT mod vers mnt
	mod=$(client_module "$c")
	log "rs-data with the $(client_name)"
	echo "rs-data: start of the $c run" > /dev/kmsg
	case $c in
	c)	check "rpcrdma registered its client class" grep -qx Y /sys/module/rpcrdma/parameters/client
		check "xprtrdma_rs is not loaded" test ! -d /sys/module/xprtrdma_rs ;;
	rs)	check "rpcrdma left the client class free" grep -qx N /sys/module/rpcrdma/parameters/client
		check "xprtrdma_rs is loaded" test -d /sys/module/xprtrdma_rs ;;
	esac

	for vers in $versions; do
		log "NFS v$vers over RDMA with the $(client_name)"
		mnt=/mnt/v$vers
		mount_rdma "$vers" "$mnt"
		data_checks "$vers" "$mnt"
		dir_checks "$vers" "$mnt"
		if [ "$vers" = 3 ]; then
			fio_checks "$mnt"
		fi
		xprt_checks "$vers" "$mnt"
		check "v$vers: umount" umount "$mnt"
	done

	nfsd_stop
	check "rmmod $mod is clean" unload "$mod"
	if [ "$c" = rs ]; then
		destroy_checks "$(wc -w <<< "$versions")"
	fi
	if [ -s "$RES/$c/missed" ]; then
		echo "missed with the $(client_name):"
		sed 's/^/  /' "$RES/$c/missed"
		fail "$(wc -l < "$RES/$c/missed") check(s) missed, first: $(head -1 "$RES/$c/missed")"
	fi
	log "rs-data passed with the $(client_name)"
}

# The summary: one row per figure, one column per client.
summary() {
	local c row key what
	{
		echo "## rs-data: $which over $XPRS_PROVIDER, NFS v${versions// /, v}, fio ${fio_secs}s, kernel $(uname -r)"
		echo
		printf '| metric |'
		for c in $clients; do
			case $c in
			c)	printf ' C (rpcrdma) |' ;;
			rs)	printf ' rs (xprtrdma_rs) |' ;;
			esac
		done
		printf '\n|---|'
		for c in $clients; do printf -- '---|'; done
		echo
		for row in \
			"result:result" \
			"elapsed-s:run time, s" \
			"v3-write-mbps:v3 $big_mib MiB write (conv=fsync), MB/s" \
			"v3-read-mbps:v3 $big_mib MiB buffered read, MB/s" \
			"v3-dread-mbps:v3 $big_mib MiB O_DIRECT read, MB/s" \
			"v4.0-write-mbps:v4.0 $big_mib MiB write (conv=fsync), MB/s" \
			"v4.0-read-mbps:v4.0 $big_mib MiB buffered read, MB/s" \
			"v4.0-dread-mbps:v4.0 $big_mib MiB O_DIRECT read, MB/s" \
			"fio-randrw-read-iops:fio 4 KiB randrw QD32, read IOPS (with verify reads)" \
			"fio-randrw-write-iops:fio 4 KiB randrw QD32, write IOPS" \
			"fio-seq-write-mbps:fio 1 MiB seq write QD8, MB/s" \
			"fio-seq-verify-mbps:fio 1 MiB seq verify reads, MB/s" \
			"v3-create-s:v3 create $NENTRIES entries, s" \
			"v3-ls-s:v3 ls of $NENTRIES entries, s" \
			"v3-lsl-s:v3 ls -l of $NENTRIES entries, s" \
			"v4.0-create-s:v4.0 create $NENTRIES entries, s" \
			"v4.0-ls-s:v4.0 ls of $NENTRIES entries, s" \
			"v4.0-lsl-s:v4.0 ls -l of $NENTRIES entries, s" \
			"v3-chunks:v3 read/write/reply chunks" \
			"v4.0-chunks:v4.0 read/write/reply chunks"; do
			key=${row%%:*} what=${row#*:}
			printf '| %s |' "$what"
			for c in $clients; do
				printf ' %s |' "$(cat "$RES/$c/$key" 2>/dev/null || echo -)"
			done
			echo
		done
	} > /tmp/summary.md
	echo
	cat /tmp/summary.md
	cp /tmp/summary.md "$SUMMARY"
}

mkdir -p "$RES"
log "random sources: $SMALL and $BIG bytes"
for n in $SMALL $BIG; do
	head -c "$n" /dev/urandom > "/tmp/src-$n"
done
BIG_SHA=$(sha256sum < "/tmp/src-$BIG" | cut -d' ' -f1)
echo "$big_mib MiB source: sha256 $BIG_SHA"
# 40-character names, so READDIR replies are large; in ls (C locale) order.
seq -f 'rs-data-directory-entry-%016.0f' "$NENTRIES" > /tmp/names

failed=
first=1
for c in $clients; do
	mkdir -p "$RES/$c"
	if [ $first = 1 ]; then
		guest_setup "$c"
		first=0
	else
		client_switch "$c"
	fi
	start=$SECONDS
	set +e
	(set -e; run_client) 2>&1 | tee "$RES/$c/log"
	rc=${PIPESTATUS[0]}
	set -e
	echo $((SECONDS - start)) > "$RES/$c/elapsed-s"
	if [ "$rc" = 0 ]; then
		echo PASS > "$RES/$c/result"
	else
		# A hard failure ends the run; missed checks are summed up last.
		msg=$(grep '^FAIL: ' "$RES/$c/log" | tail -1 | sed 's/^FAIL: //; s/|/\\|/g' || true)
		echo "FAIL: ${msg:-exit status $rc}" > "$RES/$c/result"
		failed="$failed $c"
		# Leave the next client a clean slate.
		umount -a -t nfs,nfs4 || true
		nfsd_stop || true
		unload xprtrdma_rs || true
		unload rpcrdma || true
	fi
done

summary
[ -z "$failed" ] || fail "rs-data failed with:$failed"
log "rs-data test passed ($which)"
