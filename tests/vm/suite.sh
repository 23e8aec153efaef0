# SPDX-License-Identifier: GPL-2.0
# Several VM tests in one boot, in order:
#
#   suite.sh NAME[,ARG...] ...
#
# runs tests/vm/NAME.sh ARG... for each, and stops at the first that fails.
# Between two tests the guest is reset (guest_reset in lib.sh): mounts,
# nfsd, both client modules, the RDMA links, the exports, the network and
# fault injection go back to how the boot left them. On the debug kernel
# each test but the last is followed by the kmemleak check that run.sh
# makes after the last (scripts/guest/kmemleak-check.sh), so every test is
# still checked for leaks on its own. A boot costs about 30 s of guest time
# on the production kernel and 50 s on the debug one under TCG; make check
# saves those by running its short tests this way.
. /xprs/repo/tests/vm/lib.sh

[ $# -ge 1 ] || fail "usage: suite.sh NAME[,ARG...] ..."
n=0 total=$#
for entry in "$@"; do
	n=$((n + 1))
	IFS=, read -r -a words <<< "$entry"
	name=${words[0]}
	script=/xprs/repo/tests/vm/$name.sh
	[ -f "$script" ] || fail "suite: no such test: tests/vm/$name.sh"
	log "suite: [$n/$total] $name ${words[*]:1}"
	echo "xprs: suite: $name starts" > /dev/kmsg
	start=$SECONDS
	rc=0
	bash "$script" "${words[@]:1}" || rc=$?
	log "suite: [$n/$total] $name exited with status $rc after $((SECONDS - start)) s"
	[ "$rc" = 0 ] || fail "suite: $name failed (status $rc)"
	[ "$n" = "$total" ] && break
	if [ "$XPRS_FLAVOR" = debug ]; then
		bash /xprs/repo/scripts/guest/kmemleak-check.sh "$name" ||
			fail "suite: kmemleak found an object of ours after $name"
	fi
	guest_reset || fail "suite: the guest could not be reset after $name"
done
log "suite: all $total tests passed"
