#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the guest root image: a debootstrap'd bookworm (minbase) with the NFS,
# RDMA and benchmark tools, plus the guest kernel's modules, as ext4 made with
# mkfs.ext4 -d. The rootfs is cached by the hash of the package list and this
# script; the image by that plus the kernel's hash.
#
#   scripts/image.sh           build (a no-op when cached)
#   scripts/image.sh --path    print the image's path, build nothing
. "$(dirname "$0")/lib.sh"

SUITE=bookworm
PACKAGES=nfs-kernel-server,nfs-common,rpcbind,iproute2,rdma-core,ibverbs-utils,ibverbs-providers,perftest,fio,kmod,procps,e2fsprogs,xfsprogs,linux-perf,util-linux
# ACL tools (tests/vm/rs-acl.sh), and what fstests needs at run time (its
# README): its binaries link libaio, liburing, libgdbm and libcap.
PACKAGES=$PACKAGES,acl,attr,bc,dbench,dump,gawk,psmisc,python3,quota,sed,uuid-runtime,libaio1,liburing2,libgdbm6,libgdbm-compat4,libcap2,libcap2-bin,libuuid1,libattr1,libacl1

# Bump when the rootfs recipe below changes in a way the package list does not show.
ROOTFS_RECIPE=2
base_hash=$(inputs_hash "$SUITE" "$PACKAGES" "recipe $ROOTFS_RECIPE")
ROOTFS=$XPRS_CACHE/rootfs-$base_hash
KDIR=$(kernel_dir)
IMAGE=$XPRS_CACHE/image-$base_hash-$(basename "$KDIR" | sed 's/^kernel-//')-$(inputs_hash "$XPRS_TOP/scripts/guest/xprs-init" "$XPRS_TOP/scripts/image.sh").ext4

if [ "${1:-}" = --path ]; then echo "$IMAGE"; exit 0; fi
[ -f "$IMAGE" ] && { log "image cached: $IMAGE"; exit 0; }
# The package mirror is whatever the host's apt uses for $SUITE.
mirror() {
	apt-get indextargets --format '$(REPO_URI) $(RELEASE)' |
		awk -v s="$SUITE" '$2 == s { print $1; exit }'
}

if ! [ -f "$ROOTFS/.done" ]; then
	"$XPRS_TOP/scripts/deps.sh"
	m=$(mirror)
	[ -n "$m" ] || die "the host's apt configuration has no $SUITE source"
	start=$(date +%s)
	log "debootstrap $SUITE into $ROOTFS (log: $ROOTFS.log)"
	rm -rf "$ROOTFS"
	debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$m" \
		> "$ROOTFS.log" 2>&1 || { tail -20 "$ROOTFS.log"; die "debootstrap failed"; }
	# Services are started by our init, never by package scripts.
	rm -f "$ROOTFS"/etc/exports
	# fstests' users and group.
	chroot "$ROOTFS" groupadd -f fsgqa
	chroot "$ROOTFS" useradd -m -g fsgqa fsgqa
	chroot "$ROOTFS" useradd -m 123456-fsgqa
	chroot "$ROOTFS" useradd -m fsgqa2
	chroot "$ROOTFS" apt-get clean
	touch "$ROOTFS/.done"
	log "rootfs built in $(( $(date +%s) - start )) s"
fi

[ -f "$KDIR/.done" ] || die "build the kernel first (scripts/kernel.sh)"
stage=$(mktemp -d "$XPRS_CACHE/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp -al "$ROOTFS/." "$stage/"
rm -f "$stage/.done"
rm -rf "$stage/lib/modules"
mkdir -p "$stage/lib/modules"
cp -a "$KDIR/modroot/lib/modules/." "$stage/lib/modules/"
rm -f "$stage/sbin/xprs-init"
install -m 0755 "$XPRS_TOP/scripts/guest/xprs-init" "$stage/sbin/xprs-init"
echo xprs-guest > "$stage/etc/hostname"
# rpc.mountd reads /etc/mtab with getmntent() and segfaults (fgets on a NULL
# stream) when it needs the mount table and minbase has no /etc/mtab.
ln -sfn ../proc/self/mounts "$stage/etc/mtab"
rm -f "$IMAGE.tmp"
mkfs.ext4 -q -F -L xprs-root -d "$stage" "$IMAGE.tmp" 3G
mv "$IMAGE.tmp" "$IMAGE"
log "image: $IMAGE"
# Keep the three newest images of this kernel flavour, and rootfs trees.
ls -t "$XPRS_CACHE"/image-*.ext4 |
	{ if [ "$XPRS_FLAVOR" = debug ]; then grep -e '-debug-'; else grep -ve '-debug-'; fi || true; } |
	tail -n +4 | xargs -r rm -f
ls -dt "$XPRS_CACHE"/rootfs-*/ | tail -n +4 | xargs -r rm -rf
