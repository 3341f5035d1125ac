#!/usr/bin/env bats
# What firmware would leave behind: the MP and ACPI tables (found by the
# guest's own scan), CPUID feature hiding, and the boot MSRs.
bats_require_minimum_version 1.5.0
load helpers

firmware_run() {
	kvmini run --irqchip "${2:-kernel}" --cpus "$1" --timeout 60 "$GUESTS/firmware_tables.elf"
	assert_status 1
	assert_stdout "mp: $1 cpus, ioapic 0xfec00000 id $1
acpi: $1 cpus, ioapic 0xfec00000 id $1
ioapic: id register $1
timer: irq 0 at ioapic pin 2: 10 interrupts, 0 on other pins"
}

@test "firmware tables: 1 vCPU in the MP table and the MADT; IRQ 0 where they say" {
	firmware_run 1
}

@test "firmware tables: 2 vCPUs" {
	firmware_run 2
}

@test "firmware tables: 4 vCPUs" {
	firmware_run 4
}

@test "split irqchip firmware tables: 1 vCPU; IRQ 0 at the pin they name, kvmini's IOAPIC" {
	firmware_run 1 split
}

@test "split irqchip firmware tables: 2 vCPUs" {
	firmware_run 2 split
}

@test "split irqchip firmware tables: 4 vCPUs" {
	firmware_run 4 split
}

@test "firmware tables: none without an interrupt controller" {
	kvmini run --irqchip none --timeout 60 "$GUESTS/firmware_tables.elf"
	assert_status 5
	assert_stdout "mp: no floating pointer
acpi: no rsdp"
}

@test "an image over the firmware tables is refused when the VM gets them" {
	kvmini run --irqchip kernel --load-addr 0xe0000 "$GUESTS/demo.bin"
	assert_status 2
	assert_stderr_has "demo.bin: image [0xe0000, 0xe00"
	assert_stderr_has "overlaps the ACPI and MP tables [0xe0000, 0xe6000)"
	assert_one_line_error
}

@test "without an irqchip there are no tables and the area is the image's" {
	kvmini run --load-addr 0xe0000 "$GUESTS/demo.bin"
	assert_status 0
	assert_stdout "4"
}

ld_layout_run() {
	[ "$(readelf -lW "$GUESTS/firmware_tables_ld.elf" | awk '$1 == "LOAD" { print $3; exit }')" \
		= 0x00000000000ff000 ] || { echo "not the ld -Ttext=0x100000 layout"; false; }
	kvmini run --irqchip "$1" --cpus 2 --timeout 60 "$GUESTS/firmware_tables_ld.elf"
	assert_status 1
	assert_stdout "mp: 2 cpus, ioapic 0xfec00000 id 2
acpi: 2 cpus, ioapic 0xfec00000 id 2
ioapic: id register 2
timer: irq 0 at ioapic pin 2: 10 interrupts, 0 on other pins"
}

@test "ld -Ttext=0x100000 layout (ELF headers at 0xff000) with --irqchip kernel: tables intact" {
	ld_layout_run kernel
}

@test "ld -Ttext=0x100000 layout with --irqchip split: tables intact" {
	ld_layout_run split
}

@test "ld -Ttext=0x100000 layout with --irqchip none: loads, no tables" {
	kvmini run --irqchip none --timeout 60 "$GUESTS/firmware_tables_ld.elf"
	assert_status 5
	assert_stdout "mp: no floating pointer
acpi: no rsdp"
}

# What the guest should see of a feature the host has: 1 or 0.
host_has() {
	grep -qw "$1" /proc/cpuinfo && echo 1 || echo 0
}

hardware_virtualization() {
	grep -qw -e vmx -e svm /proc/cpuinfo
}

@test "cpuid: the guest sees the host's features by default" {
	kvmini run "$GUESTS/cpuid_bits.elf"
	assert_status 1
	assert_stdout "xsave=$(host_has xsave) osxsave=0 avx=$(host_has avx) avx2=$(host_has avx2) cx16=$(host_has cx16) leaf_0xd=$(host_has xsave)"
}

@test "cpuid: --cpu-features=-cx16 hides CMPXCHG16B and nothing else" {
	grep -qw cx16 /proc/cpuinfo || skip "the host has no cx16 to hide"
	kvmini run --cpu-features=-cx16 "$GUESTS/cpuid_bits.elf"
	assert_status 1
	assert_stdout "xsave=$(host_has xsave) osxsave=0 avx=$(host_has avx) avx2=$(host_has avx2) cx16=0 leaf_0xd=$(host_has xsave)"
}

@test "cpuid: -xsave,-cx16 hides XSAVE, what needs it and leaf 0xD, or says the host's KVM cannot" {
	kvmini run --cpu-features=-xsave,-cx16 "$GUESTS/cpuid_bits.elf"
	if hardware_virtualization; then
		assert_status 1
		assert_stdout "xsave=0 osxsave=0 avx=0 avx2=0 cx16=0 leaf_0xd=0"
	else
		# PVM shows a guest every feature its user mode runs natively,
		# whatever the CPUID table says; kvmini reads the table back.
		echo "# no vmx/svm: this KVM (PVM) cannot hide xsave; expecting the refusal" >&3
		assert_status 4
		assert_stderr_has "this host's KVM keeps CPUID feature 'xsave' visible to the guest: it cannot be hidden here"
		assert_one_line_error
	fi
}

@test "cpuid: an unknown feature name is a usage error naming it" {
	kvmini run --cpu-features=-xsave,-sse9 "$GUESTS/cpuid_bits.elf"
	assert_status 2
	assert_stderr_has "invalid value '-xsave,-sse9' for --cpu-features: unknown CPU feature 'sse9'"
	assert_one_line_error
}

@test "cpuid: a feature cannot be added" {
	kvmini run --cpu-features=+avx512f "$GUESTS/cpuid_bits.elf"
	assert_status 2
	assert_stderr_has "features can only be hidden (-name)"
	assert_one_line_error
}

@test "boot MSRs: fast strings on, MTRRs on with write-back default" {
	kvmini run "$GUESTS/boot_msrs.elf"
	assert_status 1
	assert_stdout "misc_enable.fast_strings=1 mtrr_def_type=0x0000000000000806"
}
