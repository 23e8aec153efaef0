#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install every prerequisite of the project, idempotently. Package mirrors come
# from the host's own apt configuration.
. "$(dirname "$0")/lib.sh"

PKGS=(linux-source-6.12 rustc-web rust-web-src libclang-dev clang lld llvm bc
      flex bison libelf-dev libssl-dev cpio qemu-system-x86 debootstrap
      e2fsprogs kmod rsync xz-utils gnuplot-nox gcc make
      # fstests' build (scripts/fstests.sh)
      xfslibs-dev uuid-dev libtool-bin automake autoconf libattr1-dev libacl1-dev
      libaio-dev libgdbm-dev libgdbm-compat-dev libcap-dev liburing-dev)

install_packages "${PKGS[@]}"

if ! [ -x "$BINDGEN" ] || ! "$BINDGEN" --version | grep -q "$BINDGEN_VERSION"; then
	command -v cargo >/dev/null || die "cargo is needed to install bindgen-cli"
	log "installing bindgen-cli $BINDGEN_VERSION into $BINDGEN_ROOT"
	cargo install --locked --quiet --root "$BINDGEN_ROOT" \
		bindgen-cli --version "$BINDGEN_VERSION"
fi
