#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the guest kernel: Debian's linux-source-6.12 + patches/ +
# .config.fragment, cached under $XPRS_CACHE/kernel-<hash of the inputs>.
#
#   scripts/kernel.sh             build (a no-op when the cache is warm)
#   scripts/kernel.sh --kdir      print the build tree's path, build nothing
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
	make -s -j"$JOBS" RUSTC="$HOST_RUSTC" BINDGEN="$BINDGEN" "$@"
}

apply_series() {	# $1: a directory of *.patch, applied in order
	local p
	for p in "$1"/*.patch; do
		log "applying $(basename "$p")"
		patch -p1 -s --no-backup-if-mismatch < "$p" || return 1
	done
}

# A finished build with the same base differs only in its series: copy it,
# take its series off, put ours on, and let make rebuild what changed.
seed=
for d in $(ls -dt "$XPRS_CACHE"/kernel-*/ 2>/dev/null); do
	d=${d%/}
	[ -f "$d/.done" ] && [ "$(cat "$d/base" 2>/dev/null)" = "$BASE" ] && { seed=$d; break; }
done
if [ -n "$seed" ]; then
	log "seeding from $seed (only the series differs)"
	cp -a "$seed/linux" "$KDIR/linux"
	cd "$KDIR/linux"
	for p in $(ls -r "$seed"/series/*.patch 2>/dev/null); do
		patch -R -p1 -s --no-backup-if-mismatch < "$p" || { seed=; break; }
	done
	[ -n "$seed" ] && apply_series "$XPRS_TOP/patches" || seed=
	[ -n "$seed" ] || { log "series did not swap cleanly; building from scratch"; cd /; rm -rf "$KDIR/linux"; }
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

if [ -z "$seed" ]; then
kmake rustavailable >/dev/null || die "rustc/bindgen/rust-src are not usable"
kmake defconfig >/dev/null
kmake kvm_guest.config >/dev/null
scripts/kconfig/merge_config.sh -m .config "$XPRS_TOP/.config.fragment" >/dev/null
kmake olddefconfig >/dev/null
# Every line of the fragment must have survived olddefconfig.
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*) grep -qx "$line" .config || { log "not applied: $line"; bad=1; } ;;
	"# CONFIG_"*" is not set")
		opt=${line#"# "}; opt=${opt%% *}
		grep -q "^$opt=" .config && { log "not applied: $line"; bad=1; } ;;
	esac
done < "$XPRS_TOP/.config.fragment"
[ $bad = 0 ] || die ".config.fragment did not apply; see above"
fi

log "building (log: $KDIR/build.log)"
kmake bzImage modules > "$KDIR/build.log" 2>&1 || { tail -40 "$KDIR/build.log"; die "kernel build failed"; }
rm -rf "$KDIR/modroot"
kmake INSTALL_MOD_PATH="$KDIR/modroot" INSTALL_MOD_STRIP=1 modules_install >/dev/null
date -u +%FT%TZ > "$KDIR/.done"
log "kernel built in $(( $(date +%s) - start )) s: $KDIR"

# Keep the three newest finished trees (seeds for the next series change).
ls -dt "$XPRS_CACHE"/kernel-*/ | tail -n +4 | xargs -r rm -rf
