#!/usr/bin/env bats
# QEMU's PC devices as a guest written for QEMU sees them (issue 15):
# fw_cfg by DMA, the HPET's counter and a comparator interrupt in legacy
# replacement mode, the CMOS RTC's periodic interrupt and UIP, and with
# --testdev pc-testdev's ISA line ports. pci-testdev waits for PCI. The guest
# (guests/testdevs.c) checks each and prints one line per part; any
# mismatch ends it with status 5. Unit tests of the same devices without
# KVM: tests/unit/test_fw_cfg.c, test_hpet.c, test_rtc.c.
bats_require_minimum_version 1.5.0
load helpers

WANT="fw_cfg: dma ok, 1 file
hpet: counter runs, comparator interrupt on IRQ 0
rtc: 32 periodic interrupts on IRQ 8
rtc: update in progress toggles"

@test "fw_cfg DMA, HPET and RTC interrupts as a guest sees them (kernel irqchip)" {
	needs_kvm
	kvmini run --irqchip kernel --timeout 60 "$GUESTS/testdevs.elf"
	assert_status 1
	assert_stdout "$WANT"
}

@test "fw_cfg DMA, HPET and RTC interrupts as a guest sees them (split irqchip)" {
	needs_kvm
	kvmini run --irqchip split --timeout 60 "$GUESTS/testdevs.elf"
	assert_status 1
	assert_stdout "$WANT"
}

@test "--testdev: ports 0x2000+n raise and lower each ISA line, one interrupt per edge" {
	needs_kvm
	for chip in kernel split; do
		kvmini run --irqchip $chip --testdev --timeout 60 "$GUESTS/testdevs.elf"
		assert_status 1
		assert_stdout "$WANT
testdev: 15 ISA lines raised and lowered"
	done
}

@test "after --on-reset restart the surviving RTC interrupts the new boot" {
	needs_kvm
	for chip in kernel split; do
		kvmini run --irqchip $chip --on-reset restart --timeout 60 \
			"$GUESTS/testdevs_restart.elf"
		assert_status 1
		assert_stdout "second boot
$WANT"
	done
}
