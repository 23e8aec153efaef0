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

# The kernel build's inputs other than the series: source package, config,
# build script and compilers. Builds that share it differ only in patches/.
kernel_base_hash() {
	inputs_hash "$(kernel_version_of_tarball)" "$(gcc --version | head -1)" \
		"$("$HOST_RUSTC" --version)" "bindgen $BINDGEN_VERSION" \
		"$XPRS_TOP/.config.fragment" "$XPRS_TOP/scripts/kernel.sh"
}

# The cache key of the kernel build: the base plus the series.
kernel_hash() {
	inputs_hash "$(kernel_base_hash)" "$XPRS_TOP"/patches/*.patch
}

kernel_dir() { echo "$XPRS_CACHE/kernel-$(kernel_hash)"; }

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
