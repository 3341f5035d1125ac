#!/usr/bin/env bats
# `make test-long`: Debian's stock kernel (linux-image-amd64) to /init
# with as few workarounds as kvmini can manage: none on the command line
# but the console and power-off ones (instruction completion replaces
# clearcpuid=, noxsave and --cpu-features=-cx16; CPUID leaves 0x15/0x16
# and kvmclock replace tsc_early_khz=). Reports the time of each boot
# milestone on fd 3 (the kernel's own printk stamps, and the wall clock
# of the whole run) for docs/performance.md. Takes minutes on a PVM host.
#
# On a PVM host a stock kernel's user space cannot run (a user-mode
# syscall does not enter the kernel there; docs/completion.md): the test
# then asserts that the kernel started /init, not that /init ran.
bats_require_minimum_version 1.5.0
load ../integration/helpers

MARKER="kvmini: the initramfs's /init ran"
CMDLINE="console=ttyS0 reboot=k panic=-1"

setup_file() {
	local scripts=$BATS_TEST_DIRNAME/../../scripts
	if [ -r "${KVMINI_DEV:-/dev/kvm}" ]; then
		DEBIAN_KERNEL=$("$scripts/linux-guest.sh" kernel)
		DEBIAN_INITRD=$BATS_FILE_TMPDIR/initramfs.gz
		"$scripts/linux-guest.sh" initramfs "$DEBIAN_INITRD" "$MARKER"
		export DEBIAN_KERNEL DEBIAN_INITRD
	fi
}

# The printk stamp of the first line matching a pattern, or "-".
stamp_of() {
	local line
	line=$(tr -d '\r' <<<"$output" | grep -m1 -E "^\[ *[0-9]+\.[0-9]+\] $1") || { echo "-"; return; }
	sed -E 's/^\[ *([0-9]+\.[0-9]+)\].*/\1/' <<<"$line"
}

milestones() {
	local what pattern
	while IFS='|' read -r what pattern; do
		echo "# $what: $(stamp_of "$pattern") s (kernel clock)" >&3
	done <<-EOF2
	banner|Linux version
	memory map|Memory: [0-9]+K/
	SMP up|smp: Brought up
	initcalls done (free init memory)|Freeing unused kernel
	/init started|Run /init as init process
	power-off|reboot: Power down
	EOF2
}

@test "Debian's kernel to /init with no emulation workarounds (--decompress)" {
	needs_kvm
	local t0=$SECONDS
	kvmini run --verbose --mem 256M --timeout 1500 --decompress --kernel "$DEBIAN_KERNEL" \
		--initrd "$DEBIAN_INITRD" --cmdline "$CMDLINE"
	echo "# whole run: $((SECONDS - t0)) s wall clock, exit status $status" >&3
	milestones
	echo "# $(grep -m1 'instructions completed in user space' <<<"$stderr" || echo 'no completions')" >&3
	tr -d '\r' <<<"$output" | grep -qE '\] Run /init as init process' ||
		{ echo "the kernel did not start /init"; tail -n 30 <<<"$output"; return 1; }
	if grep -qwE 'vmx|svm' /proc/cpuinfo; then
		assert_status 0
		[[ "$output" == *"$MARKER"* ]]
	fi
}
