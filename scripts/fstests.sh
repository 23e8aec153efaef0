#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build fstests (xfstests) on the host for the guest (both are Debian 12).
# The built tree (34 MiB; fstests runs from its build tree) is cached
# outside the repo, keyed by the source's contents and this script.
#
#   scripts/fstests.sh          build (a no-op when cached), print nothing
#   scripts/fstests.sh --path   print the cache dir (its xfstests/ is the tree,
#                               xfstests.tar the same as one file)
#
# FSTESTS_SRC is an fstests tree or a tarball of one (`git archive` form,
# one top directory). Unset, it is the snapshot in ../shared/fstests/.
. "$(dirname "$0")/lib.sh"

DEFAULT_SRC=$XPRS_TOP/../shared/fstests/xfstests-63a29724.tar.gz
SRC=${FSTESTS_SRC:-}
if [ -z "$SRC" ]; then
	[ -f "$DEFAULT_SRC" ] ||
		die "no fstests source: pass FSTESTS_SRC=/path/to/fstests (a tree or a tarball); there is no network to clone it"
	SRC=$DEFAULT_SRC
fi
[ -e "$SRC" ] || die "FSTESTS_SRC=$SRC does not exist"
SRC=$(realpath "$SRC")

# The source's identity: a tarball's bytes, or a tree's files (a git tree
# by its HEAD plus its uncommitted changes).
src_hash() {
	if [ -f "$SRC" ]; then
		sha256sum < "$SRC"
	elif [ -d "$SRC/.git" ]; then
		{ git -C "$SRC" rev-parse HEAD; git -C "$SRC" diff HEAD; git -C "$SRC" status --porcelain; } | sha256sum
	elif [ -d "$SRC" ]; then
		(cd "$SRC" && find . -type f ! -path './.git/*' -print0 | sort -z |
			xargs -0 sha256sum) | sha256sum
	else
		die "FSTESTS_SRC=$SRC is neither a tree nor a tarball"
	fi
}

DIR=$XPRS_CACHE/fstests-$(inputs_hash "$(src_hash)" "$XPRS_TOP/scripts/fstests.sh")
if [ "${1:-}" = --path ]; then echo "$DIR"; exit 0; fi
[ -f "$DIR/.done" ] && { log "fstests cached: $DIR"; exit 0; }

"$XPRS_TOP/scripts/deps.sh"
start=$(date +%s)
rm -rf "$DIR"
mkdir -p "$DIR/build"
if [ -f "$SRC" ]; then
	tar -xf "$SRC" -C "$DIR/build"
	tree=$(find "$DIR/build" -mindepth 1 -maxdepth 1 -type d)
	[ "$(echo "$tree" | wc -l)" = 1 ] && [ -f "$tree/check" ] ||
		die "$SRC does not hold one fstests tree (no */check)"
else
	[ -f "$SRC/check" ] || die "$SRC is no fstests tree (no ./check)"
	tree=$DIR/build/xfstests
	rsync -a --exclude .git "$SRC/" "$tree/"
	make -C "$tree" -s realclean >/dev/null 2>&1 || true
fi
log "building fstests from $SRC (log: $DIR/build.log)"
make -C "$tree" -j"$JOBS" > "$DIR/build.log" 2>&1 ||
	{ tail -30 "$DIR/build.log"; die "fstests build failed"; }
[ -x "$tree/ltp/fsx" ] && [ -x "$tree/ltp/fsstress" ] || die "fstests built no ltp/fsx, ltp/fsstress"
mv "$tree" "$DIR/xfstests"
rm -rf "$DIR/build"
# The guest unpacks this one file: copying the tree's 5000 files over 9p
# took 180 s under TCG.
tar -cf "$DIR/xfstests.tar" -C "$DIR" xfstests
echo "$SRC" > "$DIR/SOURCE"
touch "$DIR/.done"
log "fstests built in $(( $(date +%s) - start )) s: $DIR"
# Keep the three newest builds.
ls -dt "$XPRS_CACHE"/fstests-*/ | tail -n +4 | xargs -r rm -rf
