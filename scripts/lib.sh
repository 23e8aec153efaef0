# SPDX-License-Identifier: GPL-2.0
# Shared settings for the xprtrdma-rs scripts. Source it; do not run it.

set -euo pipefail

XPRS_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
XPRS_CACHE=${XPRS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/xprtrdma-rs}
mkdir -p "$XPRS_CACHE"

# Pinned tool versions. Changing one changes every cache key that depends on it.
BINDGEN_VERSION=0.69.5
KERNEL_SRC_TARBALL=/usr/src/linux-source-6.12.tar.xz
HOST_RUSTC=/usr/bin/rustc	# Debian's rustc-web; its rust-src is rust-web-src
BINDGEN_ROOT=$XPRS_CACHE/bindgen-$BINDGEN_VERSION
BINDGEN=$BINDGEN_ROOT/bin/bindgen

JOBS=${JOBS:-$(nproc)}

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Hash of files' contents and of strings, for cache keys. Paths stay out of
# it, so every clone of the same inputs finds the same cache.
inputs_hash() {
	local f
	for f in "$@"; do
		if [ -f "$f" ]; then sha256sum < "$f"; else printf '%s\n' "$f"; fi
	done | sha256sum | cut -c1-16
}

kernel_version_of_tarball() {
	dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || echo unknown
}

# The kernel flavour: prod (gcc, the fragment only) or debug (LLVM=1, the
# fragment plus .config.debug: KASAN, lockdep, kmemleak, ...). Each has its
# own cache key, tree, image and module build.
XPRS_FLAVOR=${XPRS_FLAVOR:-prod}
case $XPRS_FLAVOR in
prod|debug) ;;
*) echo "XPRS_FLAVOR must be prod or debug, not '$XPRS_FLAVOR'" >&2; exit 2 ;;
esac

# make flags that select the flavour's compilers.
kernel_cc_flags() { [ "$XPRS_FLAVOR" = debug ] && echo LLVM=1 || true; }

# The kernel build's inputs other than the series: source package, config,
# build script and compilers. Builds that share it differ only in patches/.
kernel_base_hash() {
	if [ "$XPRS_FLAVOR" = debug ]; then
		inputs_hash "$(kernel_version_of_tarball)" "$(clang --version | head -1)" \
			"$(ld.lld --version | head -1)" "$("$HOST_RUSTC" --version)" \
			"bindgen $BINDGEN_VERSION" "$XPRS_TOP/.config.fragment" \
			"$XPRS_TOP/.config.debug" "$XPRS_TOP/scripts/kernel.sh" "flavour debug"
	else
		inputs_hash "$(kernel_version_of_tarball)" "$(gcc --version | head -1)" \
			"$("$HOST_RUSTC" --version)" "bindgen $BINDGEN_VERSION" \
			"$XPRS_TOP/.config.fragment" "$XPRS_TOP/scripts/kernel.sh"
	fi
}

# The cache key of the kernel build: the base plus the series.
kernel_hash() {
	inputs_hash "$(kernel_base_hash)" "$XPRS_TOP"/patches/*.patch
}

# kernel-<hash> for prod (the name every earlier cache has), kernel-debug-<hash>.
kernel_prefix() { [ "$XPRS_FLAVOR" = debug ] && echo kernel-debug- || echo kernel-; }
kernel_dir() { echo "$XPRS_CACHE/$(kernel_prefix)$(kernel_hash)"; }

# This flavour's finished and unfinished trees, newest first.
kernel_trees() {
	local d
	for d in $(ls -dt "$XPRS_CACHE"/kernel-*/ 2>/dev/null); do
		d=${d%/}
		case ${d##*/} in
		kernel-debug-*) [ "$XPRS_FLAVOR" = debug ] && echo "$d" ;;
		*) [ "$XPRS_FLAVOR" = prod ] && echo "$d" ;;
		esac
	done
	return 0
}

# Where the module is built for this flavour: the source tree itself for
# prod, a copy under out/ for debug (kbuild writes its objects beside the
# sources of an external module).
module_dir() { [ "$XPRS_FLAVOR" = debug ] && echo "$XPRS_TOP/out/module-debug" || echo "$XPRS_TOP"; }

# install_packages PKG...: apt-get install those not installed yet, from
# the host's own apt sources (idempotent).
install_packages() {
	local p missing=() SUDO=
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	log "installing: ${missing[*]}"
	[ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
}
