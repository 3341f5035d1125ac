#!/usr/bin/env bash
# kvmini's test kernel: Debian's linux-source-6.1 built from tinyconfig
# plus tests/kernel/config.fragment, with tests/kernel/syscall-fault.patch
# (needed on PVM hosts only, see the patch), and a busybox initramfs whose
# /init runs the test's commands and ends with `poweroff -f`.
#
#   build-test-kernel.sh [dir]   build what is missing, print the directory
#                                holding bzImage, vmlinux, initramfs.cpio.gz
#
# The result is cached outside the clone, under
# ${KVMINI_CACHE:-${XDG_CACHE_HOME:-~/.cache}/kvmini}/test-kernel/<hash>,
# where <hash> covers every input (this script, the fragment, the patch,
# the source and busybox package versions): a second run builds nothing.
# The unpacked tree and its objects stay in work/, so a changed fragment
# rebuilds in seconds. Packages come from scripts/install-deps.sh kernel.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
frag=$here/tests/kernel/config.fragment
patch=$here/tests/kernel/syscall-fault.patch
src_tar=/usr/src/linux-source-6.1.tar.xz
cache=${KVMINI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvmini}/test-kernel

die() {
	echo "build-test-kernel: $*" >&2
	exit 2
}

inputs_hash() {
	{
		cat "$0" "$frag" "$patch"
		dpkg-query -W -f='${Version}\n' linux-source-6.1 busybox-static
	} | sha256sum | cut -c1-16
}

# The source unpacked and patched once per source version and patch
# (its diff, not its description: a reworded comment rebuilds nothing).
patch_key() {
	sed -n '/^--- a\//,$p' "$patch" | sha256sum | cut -c1-8
}

prepare_tree() {
	local tree=$1
	[ -e "$tree/.kvmini-patched" ] && return 0
	rm -rf "$tree" && mkdir -p "$tree"
	tar -xJf "$src_tar" -C "$tree" --strip-components=1
	patch -d "$tree" -p1 --quiet <"$patch"
	touch "$tree/.kvmini-patched"
}

build_kernel() {
	local tree=$1 obj=$2 out=$3 jobs
	jobs=$(nproc)
	mkdir -p "$obj"
	make -s -C "$tree" O="$obj" tinyconfig
	"$tree/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$frag" >/dev/null
	make -s -C "$tree" O="$obj" olddefconfig
	check_config "$obj/.config"
	make -s -C "$tree" O="$obj" -j"$jobs" bzImage vmlinux
	cp "$obj/arch/x86/boot/bzImage" "$obj/vmlinux" "$obj/.config" "$out/"
}

# Kconfig drops an option whose dependencies are missing without a word:
# every =y of the fragment must have survived.
check_config() {
	local config=$1 missing
	missing=$(grep '^CONFIG_.*=y$' "$frag" | while read -r line; do
		grep -qx "$line" "$config" || echo "$line"
	done)
	[ -z "$missing" ] || die "options the kernel's Kconfig dropped: $missing"
}

# /init: devtmpfs, proc and sysfs, the console, then the commands of the
# kernel parameter kvmini_run= (it reaches /init as an environment
# variable) or /test.sh (a test may append a cpio holding it: the kernel
# unpacks concatenated archives); the status is printed, then power-off.
build_initramfs() {
	local out=$1 dir
	file -b /bin/busybox | grep -q 'statically linked' || die "/bin/busybox is not busybox-static"
	dir=$(mktemp -d)
	mkdir -p "$dir/bin" "$dir/sbin" "$dir/usr/bin" "$dir/usr/sbin" "$dir/dev" "$dir/proc" \
		"$dir/sys" "$dir/tmp"
	cp /bin/busybox "$dir/bin/busybox"
	ln -s busybox "$dir/bin/sh"
	cat >"$dir/init" <<-'INIT'
	#!/bin/sh
	export PATH=/bin:/sbin:/usr/bin:/usr/sbin
	/bin/busybox mount -t devtmpfs devtmpfs /dev
	exec </dev/console >/dev/console 2>&1
	/bin/busybox --install -s
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	echo "kvmini-init: start"
	status=0
	if [ -n "${kvmini_run:-}" ]; then
		sh -c "$kvmini_run" || status=$?
	elif [ -x /test.sh ]; then
		/test.sh || status=$?
	fi
	echo "kvmini-init: status $status"
	poweroff -f
	INIT
	chmod 755 "$dir/init"
	(cd "$dir" && find . | LC_ALL=C sort | cpio --quiet -o -H newc --owner=0:0) |
		gzip -9 -n >"$out/initramfs.cpio.gz"
	rm -rf "$dir"
}

main() {
	local hash dest tmp tree
	"$here/scripts/install-deps.sh" kernel >&2
	[ -r "$src_tar" ] || die "$src_tar missing: scripts/install-deps.sh kernel installs linux-source-6.1"
	hash=$(inputs_hash)
	dest=${1:-$cache/$hash}
	if [ -e "$dest/.complete" ]; then
		echo "$dest"
		return 0
	fi
	tree=$cache/work/linux-$(dpkg-query -W -f='${Version}' linux-source-6.1)-$(patch_key)
	tmp=$dest.tmp.$$
	# A failed build leaves nothing half-made (expanded now: tmp is local).
	trap "rm -rf '$tmp'" EXIT
	mkdir -p "$tmp"
	prepare_tree "$tree"
	echo "build-test-kernel: building in $cache/work (about 16 min on 2 cores the first time)" >&2
	build_kernel "$tree" "$cache/work/obj" "$tmp" >&2
	build_initramfs "$tmp"
	touch "$tmp/.complete"
	rm -rf "$dest" && mv "$tmp" "$dest"
	echo "$dest"
}

main "$@"
