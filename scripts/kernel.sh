#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the guest kernel: Debian's linux-source-6.12 + patches/ +
# .config.fragment, cached under $XPRS_CACHE/kernel-<hash of the inputs>.
#
#   scripts/kernel.sh             build (a no-op when the cache is warm)
#   scripts/kernel.sh --kdir      print the build tree's path, build nothing
#
# XPRS_FLAVOR=debug builds the debug kernel instead: LLVM=1, and
# .config.debug merged over the fragment (see lib.sh).
. "$(dirname "$0")/lib.sh"

KDIR=$(kernel_dir)
if [ "${1:-}" = --kdir ]; then echo "$KDIR/linux"; exit 0; fi
if [ -f "$KDIR/.done" ]; then
	log "kernel cached: $KDIR"
	exit 0
fi

"$XPRS_TOP/scripts/deps.sh"
rm -rf "$KDIR"
mkdir -p "$KDIR"
start=$(date +%s)
BASE=$(kernel_base_hash)

kmake() {
	make -s -j"$JOBS" $(kernel_cc_flags) RUSTC="$HOST_RUSTC" BINDGEN="$BINDGEN" "$@"
}
FRAGMENTS=("$XPRS_TOP/.config.fragment")
[ "$XPRS_FLAVOR" = debug ] && FRAGMENTS+=("$XPRS_TOP/.config.debug")

apply_series() {	# $1: a directory of *.patch, applied in order
	local p
	for p in "$1"/*.patch; do
		log "applying $(basename "$p")"
		patch -p1 -s --no-backup-if-mismatch < "$p" || return 1
	done
}

# Seed from a finished tree of this flavour rather than build from nothing:
# copy it, take its series off and put ours on. When only the series differs
# (the same base), its config stands; otherwise the config is made again
# over the copy. Either way make rebuilds only what the differences touch.
seed= same_base=
for d in $(kernel_trees); do
	[ "$d" = "$KDIR" ] || ! [ -f "$d/.done" ] && continue
	if [ "$(cat "$d/base" 2>/dev/null)" = "$BASE" ]; then seed=$d same_base=1; break; fi
	[ -n "$seed" ] || seed=$d
done
if [ -n "$seed" ]; then
	log "seeding from $seed ($([ -n "$same_base" ] && echo "only the series differs" || echo "config made again"))"
	cp -a "$seed/linux" "$KDIR/linux"
	cd "$KDIR/linux"
	for p in $(ls -r "$seed"/series/*.patch 2>/dev/null); do
		patch -R -p1 -s --no-backup-if-mismatch < "$p" || { seed=; break; }
	done
	[ -n "$seed" ] && apply_series "$XPRS_TOP/patches" || seed=
	[ -n "$seed" ] || { log "series did not swap cleanly; building from scratch"; cd /; rm -rf "$KDIR/linux"; same_base=; }
fi
if [ -z "$seed" ]; then
	log "unpacking $KERNEL_SRC_TARBALL"
	tar -C "$KDIR" -xf "$KERNEL_SRC_TARBALL"
	mv "$KDIR"/linux-source-6.12 "$KDIR/linux"
	cd "$KDIR/linux"
	apply_series "$XPRS_TOP/patches" || die "patches/ does not apply"
fi
mkdir -p "$KDIR/series"
cp "$XPRS_TOP"/patches/*.patch "$KDIR/series/"
echo "$BASE" > "$KDIR/base"

if [ -z "$same_base" ]; then
kmake rustavailable >/dev/null || die "rustc/bindgen/rust-src are not usable"
kmake defconfig >/dev/null
kmake kvm_guest.config >/dev/null
scripts/kconfig/merge_config.sh -m .config "${FRAGMENTS[@]}" >/dev/null
kmake olddefconfig >/dev/null
# Every line of the fragments must have survived olddefconfig; a line the
# debug fragment repeats or overrides is checked against the last word.
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*) grep -qx "$line" .config || { log "not applied: $line"; bad=1; } ;;
	"# CONFIG_"*" is not set")
		opt=${line#"# "}; opt=${opt%% *}
		grep -q "^$opt=" .config && { log "not applied: $line"; bad=1; } ;;
	esac
done < <(cat "${FRAGMENTS[@]}" | awk '
	/^CONFIG_/ { o = $0; sub(/=.*/, "", o) }
	/^# CONFIG_.* is not set/ { o = $2 }
	o != "" { last[o] = $0; order[++n] = o; o = "" }
	END { for (i = 1; i <= n; i++) if (!seen[order[i]]++) print last[order[i]] }')
[ $bad = 0 ] || die "the config fragments did not apply; see above"
fi

log "building (log: $KDIR/build.log)"
kmake bzImage modules > "$KDIR/build.log" 2>&1 || { tail -40 "$KDIR/build.log"; die "kernel build failed"; }
rm -rf "$KDIR/modroot"
kmake INSTALL_MOD_PATH="$KDIR/modroot" INSTALL_MOD_STRIP=1 modules_install >/dev/null
date -u +%FT%TZ > "$KDIR/.done"
echo "$(( $(date +%s) - start ))" > "$KDIR/build-seconds"
log "$XPRS_FLAVOR kernel built in $(( $(date +%s) - start )) s: $KDIR"

# Keep this flavour's three newest trees (seeds for the next series change).
kernel_trees | tail -n +4 | xargs -r rm -rf
