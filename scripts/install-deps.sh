#!/usr/bin/env bash
# Install what kvmini's tests (or benchmarks) need, from Debian's
# packages, only when something is missing. Usage: install-deps.sh test|bench|fuzz|build|kernel
set -euo pipefail

want=()
need() {   # need PACKAGE CHECK-COMMAND...
	local pkg=$1; shift
	"$@" >/dev/null 2>&1 || want+=("$pkg")
}

# Libraries --decompress is built with when their headers are there
# (the Makefile checks): `make test` and `make bench` install them.
build_deps() {
	need zlib1g-dev test -e /usr/include/zlib.h
	need liblzma-dev test -e /usr/include/lzma.h
	need libzstd-dev test -e /usr/include/zstd.h
	need liblz4-dev test -e /usr/include/lz4.h
	need xz-utils command -v xz   # the xz-packed conformance kernel
	need libcjson-dev test -e /usr/include/cjson/cJSON.h   # the control API's JSON
	need libseccomp-dev test -e /usr/include/seccomp.h     # the seccomp filters' unit test (reference)
	need libzydis-dev test -e /usr/include/Zydis/Zydis.h  # instruction completion's decoder
	need pkg-config command -v pkg-config
	need libvncserver-dev test -e /usr/include/rfb/rfb.h   # --vnc (src/display/vnc.c)
	need libpng-dev test -e /usr/include/png.h             # screenshots
	need liburing-dev test -e /usr/include/liburing.h      # virtio-blk's I/O
	need libslirp-dev test -e /usr/include/slirp/libslirp.h   # virtio-net's user-mode backend
}
# Debian's stock kernel and what its initramfs is built from
# (scripts/linux-guest.sh, tests/integration/linux.bats, the Linux bench).
linux_deps() {
	need linux-image-amd64 sh -c 'ls /boot/vmlinuz-* >/dev/null'
	need busybox-static sh -c 'file -b /bin/busybox | grep -q static'
	need cpio command -v cpio
	need file command -v file
}

# kvmini's test kernel (scripts/build-test-kernel.sh, make test-kernel):
# the source, kbuild's tools, and the initramfs's busybox.
kernel_deps() {
	need linux-source-6.1 test -e /usr/src/linux-source-6.1.tar.xz
	need build-essential command -v gcc
	need flex command -v flex
	need bison command -v bison
	need bc command -v bc
	need libelf-dev test -e /usr/include/libelf.h
	need libssl-dev test -e /usr/include/openssl/ssl.h
	need xz-utils command -v xz
	need cpio command -v cpio
	need file command -v file
	need patch command -v patch
	need busybox-static sh -c 'file -b /bin/busybox | grep -q static'
}

case "${1:-test}" in
build)
	build_deps
	;;
test)
	build_deps
	linux_deps
	need libcriterion-dev test -e /usr/include/criterion/criterion.h
	need bats command -v bats
	need valgrind command -v valgrind
	# sandbox mode: musl-gcc builds test programs, busybox-static is run
	need musl-tools command -v musl-gcc
	need busybox-static sh -c 'file -b /bin/busybox | grep -q static'
	need file command -v file
	need acpica-tools command -v iasl      # validates the ACPI tables
	need gdb command -v gdb                # tests/integration/gdb.bats
	need clang command -v clang            # the fuzz targets' short runs
	need curl command -v curl              # tests/integration/api.bats
	need socat command -v socat            # api.bats: malformed and half requests
	need gvncviewer command -v gvnccapture # display.bats: a real VNC client captures
	need dmsetup command -v dmsetup        # linux_faults.bats: a disk whose reads fail (dm error)
	# tests/integration/multiboot.bats: the Multiboot guest under QEMU (TCG);
	# scripts/nested-kvm.sh: a VM with kvm_amd where /dev/kvm is missing,
	# which also runs the test kernel (kernel_deps build it)
	need qemu-system-x86 command -v qemu-system-x86_64
	need kmod command -v modprobe
	need cpio command -v cpio
	kernel_deps
	;;
fuzz)
	build_deps
	need clang command -v clang            # make fuzz (libFuzzer)
	;;
kernel)
	kernel_deps
	;;
bench)
	build_deps
	linux_deps
	need qemu-system-x86 command -v qemu-system-x86_64
	need qemu-user command -v qemu-x86_64   # sandbox bench: user-mode emulation
	need bc command -v bc                   # sandbox bench: arithmetic on timings
	;;
*)
	echo "usage: $0 test|bench|fuzz|build|kernel" >&2
	exit 2
	;;
esac

[ ${#want[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${want[*]}; run: sudo apt-get install ${want[*]}" >&2
	exit 1
fi
echo "install-deps: installing ${want[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${want[@]}"
