#!/usr/bin/env bats
# QEMU's PC devices as a guest written for QEMU sees them (issue 15):
# fw_cfg by DMA, the HPET's counter and a comparator interrupt in legacy
# replacement mode, the CMOS RTC's periodic interrupt and UIP, and with
# --testdev pc-testdev's ISA line ports. The guest (guests/testdevs.c)
# checks each and prints one line per part; any mismatch ends it with
# status 5. With --testdev also pci-testdev (guests/pci_testdev.c): every
# test through both BARs, the ioeventfd ones counted from KVM's eventfd. Unit tests of the same devices without
# KVM: tests/unit/test_fw_cfg.c, test_hpet.c, test_rtc.c, test_pci_testdev.c.
bats_require_minimum_version 1.5.0
load helpers

WANT="fw_cfg: dma ok, 1 file
hpet: counter runs, comparator interrupt on IRQ 0
rtc: 32 periodic interrupts on IRQ 8
rtc: update in progress toggles"

@test "fw_cfg DMA, HPET and RTC interrupts as a guest sees them (kernel irqchip)" {
	needs_kvm
	kvmini_boot --irqchip kernel --timeout 60 "$GUESTS/testdevs.elf"
	assert_status 1
	assert_stdout "$WANT"
}

@test "fw_cfg DMA, HPET and RTC interrupts as a guest sees them (split irqchip)" {
	needs_kvm
	kvmini_boot --irqchip split --timeout 60 "$GUESTS/testdevs.elf"
	assert_status 1
	assert_stdout "$WANT"
}

@test "--testdev: ports 0x2000+n raise and lower each ISA line, one interrupt per edge" {
	needs_kvm
	for chip in kernel split; do
		kvmini_boot --irqchip $chip --testdev --timeout 60 "$GUESTS/testdevs.elf"
		assert_status 1
		assert_stdout "$WANT
testdev: 15 ISA lines raised and lowered"
	done
}

@test "after --on-reset restart the surviving RTC interrupts the new boot" {
	needs_kvm
	for chip in kernel split; do
		kvmini_boot --irqchip $chip --on-reset restart --timeout 60 \
			"$GUESTS/testdevs_restart.elf"
		assert_status 1
		assert_stdout "second boot
$WANT"
	done
}

PCI_TESTDEV_WANT="pci-testdev: mmio 4096 bytes, portio 256 ports
mmio-no-eventfd: width 1, data 250, count 16
mmio-wildcard-eventfd: width 1, data 206, count 17
mmio-datamatch-eventfd: width 1, data 250, count 16
mmio: 3 tests
portio-no-eventfd: width 1, data 250, count 16
portio-wildcard-eventfd: width 1, data 206, count 17
portio-datamatch-eventfd: width 1, data 250, count 16
portio: 3 tests"

# The stray write of other data counts only for the wildcard test (17);
# no line on stderr says KVM refused a doorbell.
@test "--testdev: pci-testdev's tests through both BARs, with KVM's ioeventfds" {
	needs_kvm
	for chip in kernel split; do
		kvmini run --irqchip $chip --testdev --timeout 60 "$GUESTS/pci_testdev.elf"
		assert_status 1
		assert_stdout "$PCI_TESTDEV_WANT"
		[[ "$stderr" != *"pci-testdev"* ]] || { echo "stderr: $stderr"; false; }
	done
}

@test "--testdev with virtio-pci: pci-testdev at slot 31 beside virtio's slot 1" {
	needs_kvm
	kvmini run --irqchip kernel --testdev --transport pci --rng --timeout 60 \
		"$GUESTS/pci_testdev.elf"
	assert_status 1
	assert_stdout "$PCI_TESTDEV_WANT"
}

@test "without --testdev there is no pci-testdev" {
	needs_kvm
	kvmini run --irqchip kernel --transport pci --rng --timeout 60 "$GUESTS/pci_testdev.elf"
	assert_status 5
	assert_stdout "FAIL: no 1b36:0005 on bus 0"
}
