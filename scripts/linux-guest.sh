#!/usr/bin/env bash
# Debian's stock kernel and a busybox initramfs, for tests/integration/
# linux.bats and bench/linux_bench.sh. The packages (linux-image-amd64,
# busybox-static, cpio) come from scripts/install-deps.sh test|bench.
#
#   linux-guest.sh kernel                  print the newest /boot/vmlinuz-*
#   linux-guest.sh initramfs OUT MARKER    write a gzip'd newc cpio to OUT whose
#                                          /init prints MARKER, then `poweroff -f`
set -euo pipefail

die() {
	echo "linux-guest: $*" >&2
	exit 2
}

kernel() {
	local k
	k=$(ls -1v /boot/vmlinuz-* 2>/dev/null | tail -n 1)
	[ -n "$k" ] && [ -r "$k" ] ||
		die "no readable /boot/vmlinuz-*: run scripts/install-deps.sh test (linux-image-amd64)"
	echo "$k"
}

# /init runs with no console open: the kernel finds no /dev/console in
# the archive (building it needs no root), so /init mounts devtmpfs and
# opens the console itself.
initramfs() {
	local out=$1 marker=$2 busybox=/bin/busybox dir
	file -b "$busybox" 2>/dev/null | grep -q 'statically linked' ||
		die "$busybox is not Debian's busybox-static: run scripts/install-deps.sh test"
	command -v cpio >/dev/null || die "cpio missing: run scripts/install-deps.sh test"
	dir=$(mktemp -d)
	mkdir -p "$dir/bin" "$dir/dev" "$dir/proc"
	cp "$busybox" "$dir/bin/busybox"
	ln -s busybox "$dir/bin/sh"
	cat >"$dir/init" <<-EOF
	#!/bin/sh
	/bin/busybox mount -t devtmpfs devtmpfs /dev
	exec </dev/console >/dev/console 2>&1
	echo "$marker"
	/bin/busybox poweroff -f
	EOF
	chmod 755 "$dir/init"
	(cd "$dir" && find . | LC_ALL=C sort | cpio --quiet -o -H newc --owner=0:0) | gzip -9 -n >"$out"
	rm -rf "$dir"
}

case "${1:-}" in
kernel) kernel ;;
initramfs)
	[ $# -eq 3 ] || die "usage: $0 initramfs OUT MARKER"
	initramfs "$2" "$3"
	;;
*)
	echo "usage: $0 kernel | initramfs OUT MARKER" >&2
	exit 2
	;;
esac
