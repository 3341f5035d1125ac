#!/usr/bin/env bash
# Install what kvmini's tests (or benchmarks) need, from Debian's
# packages, only when something is missing. Usage: install-deps.sh test|bench|fuzz
set -euo pipefail

want=()
need() {   # need PACKAGE CHECK-COMMAND...
	local pkg=$1; shift
	"$@" >/dev/null 2>&1 || want+=("$pkg")
}

case "${1:-test}" in
test)
	need libcriterion-dev test -e /usr/include/criterion/criterion.h
	need bats command -v bats
	need valgrind command -v valgrind
	# sandbox mode: musl-gcc builds test programs, busybox-static is run
	need musl-tools command -v musl-gcc
	need busybox-static sh -c 'file -b /bin/busybox | grep -q static'
	need file command -v file
	need acpica-tools command -v iasl      # validates the ACPI tables
	need gdb command -v gdb                # tests/integration/gdb.bats
	;;
fuzz)
	need clang command -v clang            # make fuzz-gdb (libFuzzer)
	;;
bench)
	need qemu-system-x86 command -v qemu-system-x86_64
	need qemu-user command -v qemu-x86_64   # sandbox bench: user-mode emulation
	need bc command -v bc                   # sandbox bench: arithmetic on timings
	;;
*)
	echo "usage: $0 test|bench|fuzz" >&2
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
