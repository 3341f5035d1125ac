#!/usr/bin/env bats
# kvmini's own test kernel (scripts/build-test-kernel.sh: Debian's
# linux-source-6.1, tinyconfig + tests/kernel/config.fragment, the
# syscall patch PVM hosts need, a busybox initramfs) boots to /init,
# runs the commands given in kvmini_run= and powers off with status 0,
# under both interrupt-controller models, with 1 and 2 vCPUs.
#
# The kernel is built on first use and cached outside the clone (about
# 16 minutes on 2 cores the first time); on a host without KVM every
# test skips before anything is built.
bats_require_minimum_version 1.5.0
load helpers

setup_file() {
	test_kernel_find
}

CMDLINE='console=ttyS0 panic=-1'
SCRIPT='echo hello from busybox; echo cpus $(grep -c ^processor /proc/cpuinfo); uname -sr'

# Boot the test kernel as a PVH ELF: boot_test_kernel IRQCHIP CPUS.
boot_test_kernel() {
	kvmini_boot --verbose --timeout 150 --irqchip "$1" --cpus "$2" --mem 256M \
		--kernel "$TEST_KERNEL/vmlinux" --initrd "$TEST_KERNEL/initramfs.cpio.gz" \
		--cmdline "$CMDLINE kvmini_run=\"$SCRIPT\""
	log=$(tr -d '\r' <<<"$output" | sed -E 's/^\[ *[0-9]+\.[0-9]+\] //')
}

has_line() {
	grep -qxF -- "$1" <<<"$log" || { echo "missing line: $1"; echo "$log" | tail -n 40; return 1; }
}

# /init ran the script with its output, then a clean power-off: the
# kernel's own "reboot: Power down" (a panic with panic=-1 would reset).
assert_clean_run() {
	assert_status 0
	has_line "kvmini-init: start"
	has_line "hello from busybox"
	has_line "cpus $1"
	grep -qE '^Linux 6\.1\.' <<<"$log" || { echo "no uname line"; return 1; }
	has_line "kvmini-init: status 0"
	has_line "reboot: Power down"
	assert_stderr_has "guest powered off (ACPI S5)"
}

@test "test kernel: /init and power-off, --irqchip kernel, 1 vCPU" {
	needs_kvm
	boot_test_kernel kernel 1
	assert_clean_run 1
}

@test "test kernel: /init and power-off, --irqchip split, 1 vCPU" {
	needs_kvm
	boot_test_kernel split 1
	assert_clean_run 1
}

@test "test kernel: /init and power-off, --irqchip kernel, 2 vCPUs" {
	needs_kvm
	boot_test_kernel kernel 2
	assert_clean_run 2
}

@test "test kernel: /init and power-off, --irqchip split, 2 vCPUs" {
	needs_kvm
	boot_test_kernel split 2
	assert_clean_run 2
}
