#!/usr/bin/env bash
# Linux boot figures (issue 4): time from process start to the guest's
# first serial byte, for kvmini with and without host-side decompression
# (--decompress) and for QEMU's microvm machine booting the same kernel
# in the same run. Run from the repository root after `make all`.
# Usage: bench/linux_bench.sh [BUILD_DIR]
#   LINUX_BENCH_CAP=SECONDS   how long to wait for a byte (default 60)
set -euo pipefail
B=${1:-build}
K=$B/kvmini
G=$B/guests
CAP=${LINUX_BENCH_CAP:-60}
for f in "$K" "$G/bootconf.bzImage" "$G/bootconf_gzip.bzImage" "$G/bootconf_xz.bzImage" \
	"$G/bootconf_pvh.elf"; do   # the xz one: `make all` with xz-utils installed
	[ -e "$f" ] || { echo "linux_bench: $f missing: run make all" >&2; exit 2; }
done
FB=$B/bench/first_byte
mkdir -p "$B/bench"
${CC:-gcc} -std=gnu11 -Wall -Wextra -Werror -O2 -o "$FB" bench/tools/first_byte.c

if grep -qwE 'vmx|svm' /proc/cpuinfo; then
	echo "host: hardware virtualization (vmx/svm)"
else
	echo "host: no vmx/svm (PVM): guest kernel code is emulated, ~1.5M instructions/s"
fi

# best_of N CMD...: the lowest first-byte time of N runs, in ms ("-": none in CAP s).
best_of() {
	local n=$1 best=- t
	shift
	for _ in $(seq "$n"); do
		t=$("$FB" "$CAP" "" "$@" | cut -d' ' -f1)
		[ "$t" = - ] && continue
		if [ "$best" = - ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then
			best=$t
		fi
	done
	echo "$best"
}

row() {   # row LABEL MS
	if [ "$2" = - ]; then
		printf '  %-64s %12s\n' "$1" "> ${CAP} s"
	else
		printf '  %-64s %9s ms\n' "$1" "$2"
	fi
}

QEMU=(qemu-system-x86_64 -M microvm -enable-kvm -nodefaults -no-user-config -nographic
	-serial stdio)
have_qemu() { command -v qemu-system-x86_64 >/dev/null; }

echo "== conformance kernel (guests/bootconf): process start to first serial byte, best of 5"
BC_LINE="bootconf.mem=0x4000000 bootconf.end"
row "kvmini bootconf.bzImage (flat kernel, 64-bit entry)" \
	"$(best_of 5 "$K" run --mem 64M --kernel "$G/bootconf.bzImage" --append "$BC_LINE")"
row "kvmini --decompress bootconf_gzip.bzImage (vmlinux)" \
	"$(best_of 5 "$K" run --mem 64M --kernel "$G/bootconf_gzip.bzImage" --decompress --append "$BC_LINE")"
row "kvmini --decompress bootconf_xz.bzImage (vmlinux)" \
	"$(best_of 5 "$K" run --mem 64M --kernel "$G/bootconf_xz.bzImage" --decompress --append "$BC_LINE")"
row "kvmini bootconf_pvh.elf (PVH)" \
	"$(best_of 5 "$K" run --mem 64M --kernel "$G/bootconf_pvh.elf" --append "$BC_LINE")"
if have_qemu; then
	row "qemu microvm bootconf_pvh.elf (PVH; no setup code for a bzImage)" \
		"$(best_of 5 "${QEMU[@]}" -m 64M -kernel "$G/bootconf_pvh.elf" -append "$BC_LINE")"
else
	echo "  qemu-system-x86_64 not installed (scripts/install-deps.sh bench)"
fi

KERNEL=$(scripts/linux-guest.sh kernel 2>/dev/null) || KERNEL=
if [ -z "$KERNEL" ]; then
	echo "== Debian's kernel: none in /boot (scripts/install-deps.sh bench installs linux-image-amd64)"
	exit 0
fi
# One command line for all: kvmini's default, and edd=off so QEMU's run
# of the real-mode setup code prints nothing before the kernel does.
CMDLINE="console=ttyS0 earlyprintk=serial,ttyS0,115200 reboot=k panic=-1 pci=off edd=off"
echo "== Debian's kernel $(basename "$KERNEL"): process start to first serial byte (the banner), 256M, one run"
# The host's share: reading the file and decompressing the payload, up
# to the command-line check that then fails on purpose.
LONG=$(head -c 4096 /dev/zero | tr '\0' x)
t0=$(date +%s%N)
"$K" run --mem 256M --kernel "$KERNEL" --decompress --cmdline "$LONG" 2>/dev/null || true
t1=$(date +%s%N)
"$K" run --mem 256M --kernel "$KERNEL" --cmdline "$LONG" 2>/dev/null || true
t2=$(date +%s%N)
printf '  %-64s %9s ms\n' "kvmini: host-side decompression of the payload" \
	"$(( (t1 - t0 - (t2 - t1)) / 1000000 ))"
row "kvmini --decompress" "$(best_of 1 "$K" run --mem 256M --kernel "$KERNEL" --decompress --cmdline "$CMDLINE")"
row "kvmini (the kernel decompresses itself)" \
	"$(best_of 1 "$K" run --mem 256M --kernel "$KERNEL" --cmdline "$CMDLINE")"
if have_qemu; then
	row "qemu microvm -enable-kvm" \
		"$(best_of 1 "${QEMU[@]}" -m 256M -kernel "$KERNEL" -append "$CMDLINE")"
	row "qemu microvm, TCG (no KVM), for reference" \
		"$(best_of 1 qemu-system-x86_64 -M microvm -nodefaults -no-user-config -nographic \
			-serial stdio -m 256M -kernel "$KERNEL" -append "$CMDLINE")"
fi
