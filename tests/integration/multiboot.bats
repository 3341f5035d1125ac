#!/usr/bin/env bats
# Multiboot kernels: guests/multiboot checks every field of the
# information structure against the expectations on its own command line
# (keys in guests/multiboot/check.c), reads the CPU count and RAM size
# through fw_cfg, and ends through debug-exit with its failure count
# (status 1: all passed). The same kernel under QEMU (TCG) proves the
# guest itself right, and kvmini's answers QEMU's.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	MB=$GUESTS/multiboot.elf
	MBK=$GUESTS/multiboot_kludge.bin
	M0=$BATS_TEST_TMPDIR/mod0
	M1=$BATS_TEST_TMPDIR/mod1
	printf 'module zero\n' >"$M0"
	head -c 5000 /dev/urandom >"$M1"
}

# "SIZE:CKSUM" of a file, in hex, for mb.modI.
sum_of() {
	printf '0x%x:0x%x' "$(stat -c %s "$1")" "$(cksum <"$1" | cut -d' ' -f1)"
}

# The expectations for KERNEL, 64 MiB, CPUS vCPUs, mem_upper UPPER (KiB,
# hex), module 0 = $M0 without arguments and module 1 = $M1 "arg=1".
# `expect KERNEL CPUS UPPER [EXTRA]`
expect() {
	printf 'mb.kernel=%s mb.mem=0x4000000 mb.mem_lower=0x27f mb.mem_upper=%s mb.cpus=%s' \
		"$1" "$3" "$2"
	printf ' mb.mods=2 mb.mod0=%s:%s mb.mod1=%s:%s:arg=1 %s mb.end' \
		"$(sum_of "$M0")" "$M0" "$(sum_of "$M1")" "$M1" "${4:-}"
}

# Every check ran and passed: debug-exit 0 is status 1.
assert_all_passed() {
	# The failed checks first: they are what a reader of the log needs.
	if [[ "$output" == *FAIL* ]]; then
		echo "failed checks (status $status):"; grep FAIL <<<"$output"
		return 1
	fi
	assert_status 1
	[ "$(tail -n 1 <<<"$output")" = "multiboot: $1 checks, 0 failed" ] || {
		echo "last line: $(tail -n 1 <<<"$output"), want $1 checks"
		return 1
	}
}

assert_line_present() {
	grep -qxF -- "$1" <<<"$output" || { echo "missing line: $1"; echo "$output"; return 1; }
}

# kvmini: the initrd is module 0, --module FILE,ARGS module 1 ("FILE ARGS").
run_kvmini() {   # run_kvmini KERNEL CPUS IRQCHIP
	needs_kvm
	kvmini run --timeout 60 --mem 64M --cpus "$2" --irqchip "$3" --kernel "$1" \
		--initrd "$M0" --module "$M1,arg=1" --append "$(expect "$1" "$2" 0xfc00 mb.map=kvmini)"
}

@test "kvmini: ELF Multiboot kernel, 1 vCPU, kernel irqchip" {
	run_kvmini "$MB" 1 kernel
	assert_all_passed 30
	assert_line_present "multiboot: ok memory map is kvmini's e820 map for mb.mem"
	assert_line_present "multiboot: module 1: $M1 arg=1"
	assert_line_present "multiboot: boot loader: kvmini"
}

@test "kvmini: ELF Multiboot kernel, 4 vCPUs, kernel irqchip" {
	run_kvmini "$MB" 4 kernel
	assert_all_passed 30
}

@test "kvmini: ELF Multiboot kernel, 1 vCPU, split irqchip" {
	run_kvmini "$MB" 1 split
	assert_all_passed 30
}

@test "kvmini: ELF Multiboot kernel, 4 vCPUs, split irqchip" {
	run_kvmini "$MB" 4 split
	assert_all_passed 30
}

@test "kvmini: flat Multiboot kernel loaded by the header's address fields" {
	run_kvmini "$MBK" 1 kernel
	assert_all_passed 30
}

@test "kvmini: --testdev's latch and MMIO read back (pc-testdev)" {
	needs_kvm
	kvmini run --timeout 60 --testdev --kernel "$MB" --append "mb.testdev mb.end"
	assert_all_passed 17
	assert_line_present "multiboot: ok testdev MMIO at 0xff00fffc reads back"
}

@test "kvmini: fw_cfg's command-line items hold the kernel's command line" {
	needs_kvm
	kvmini run --timeout 60 --kernel "$MB" --append "mb.fwcfg_cmdline mb.end"
	assert_all_passed 14
	assert_line_present "multiboot: ok fw_cfg command-line bytes are the Multiboot command line"
}

# The same polled checks pass under QEMU below (its devices are the model).
@test "kvmini: fw_cfg by DMA, the HPET and the RTC's flags as the guest polls them" {
	needs_kvm
	for chip in kernel split; do
		kvmini run --irqchip $chip --timeout 60 --kernel "$MB" --append "mb.pcdev mb.end"
		assert_all_passed 28
		assert_line_present "multiboot: ok hpet comparator sets its status bit"
	done
}

@test "kvmini: a header requiring an unknown feature is refused in one line" {
	needs_kvm
	f=$BATS_TEST_TMPDIR/bad
	# magic, flags 0x10008 (bit 3: unknown requirement), checksum
	printf '\x02\xb0\xad\x1b\x08\x00\x01\x00\xf6\x4f\x51\xe4' >"$f"
	head -c 64 /dev/zero >>"$f"
	kvmini run --kernel "$f"
	assert_status 2
	assert_one_line_error
	assert_stderr_has "$f: the Multiboot header requires features kvmini does not have (flags 0x8)"
}

@test "--module needs --kernel" {
	kvmini run --module "$M0" "$MB"
	assert_status 2
	assert_one_line_error
	assert_stderr_has "kvmini: --module needs --kernel"
}

@test "a missing module file is named, before any VM" {
	kvmini run --kernel "$MB" --module "/nonexistent/mod,args"
	assert_status 2
	assert_one_line_error
	assert_stderr_has "kvmini: cannot open module '/nonexistent/mod': No such file or directory"
}

# ---- the same kernel under QEMU (TCG): this runs without /dev/kvm ----

needs_qemu() {
	command -v qemu-system-x86_64 >/dev/null ||
		skip "qemu-system-x86_64 missing (scripts/install-deps.sh test installs it)"
}

# QEMU's -initrd 'FILE ARGS,FILE' gives the same two modules as kvmini's
# --initrd and --module. Its memory map is SeaBIOS's (RAM to 64 MiB less
# 128 KiB), so mem_upper differs and the exact-map check is off.
run_qemu() {   # run_qemu KERNEL CPUS
	needs_qemu
	run timeout 60 qemu-system-x86_64 -machine pc -accel tcg -m 64M -smp "$2" \
		-display none -monitor none -serial stdio -no-reboot \
		-device isa-debug-exit,iobase=0xf4,iosize=4 \
		-kernel "$1" -initrd "$M0,$M1 arg=1" -append "$(expect "$1" "$2" 0xfb80)"
}

@test "QEMU: the ELF Multiboot kernel's checks pass (1 vCPU)" {
	run_qemu "$MB" 1
	assert_all_passed 29
	assert_line_present "multiboot: module 1: $M1 arg=1"
	assert_line_present "multiboot: boot loader: qemu"
}

@test "QEMU: the ELF Multiboot kernel's checks pass (4 vCPUs)" {
	run_qemu "$MB" 4
	assert_all_passed 29
}

@test "QEMU: the flat Multiboot kernel (address fields) passes too" {
	run_qemu "$MBK" 1
	assert_all_passed 29
}

@test "QEMU: pc-testdev's latch and MMIO read back as the guest expects" {
	needs_qemu
	run timeout 60 qemu-system-x86_64 -machine pc -accel tcg -m 64M -display none \
		-monitor none -serial stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=4 \
		-device pc-testdev -kernel "$MB" -append "mb.testdev mb.end"
	assert_all_passed 17
	assert_line_present "multiboot: ok testdev latch: 16-bit write reads back"
}

@test "QEMU: fw_cfg by DMA, the HPET and the RTC's flags pass the same polled checks" {
	needs_qemu
	run timeout 60 qemu-system-x86_64 -machine pc -accel tcg -m 64M -display none \
		-monitor none -serial stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=4 \
		-kernel "$MB" -append "mb.pcdev mb.end"
	assert_all_passed 28
	assert_line_present "multiboot: ok fw_cfg directory by DMA names etc/e820"
	assert_line_present "multiboot: ok rtc periodic flag within a second"
}

@test "QEMU: a wrong expectation fails the guest (the checks can fail)" {
	needs_qemu
	run timeout 60 qemu-system-x86_64 -machine pc -accel tcg -m 64M -display none \
		-monitor none -serial stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=4 \
		-kernel "$MB" -append "mb.mem=0x8000000 mb.cpus=2 mb.mods=1 mb.end"
	assert_status 7   # debug-exit 3: RAM size, CPU count, module count
	assert_line_present "multiboot: FAIL fw_cfg CPU count: got 0x0000000000000001, want 0x0000000000000002"
	assert_line_present "multiboot: 14 checks, 3 failed"
}
