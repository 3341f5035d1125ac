#!/usr/bin/env bats
# The PCI host bridge as a guest finds it (--transport pci): bus 0 through
# 0xcf8/0xcfc and ECAM agreeing, the host bridge at slot 0, a virtio
# function at slot 1 with its BAR, capabilities and common configuration;
# no bridge without a virtio device or with --transport mmio.
bats_require_minimum_version 1.5.0
load helpers

@test "--transport pci without virtio devices has no host bridge: every slot reads all-ones" {
	needs_kvm
	kvmini run --transport pci --irqchip kernel --timeout 60 "$GUESTS/pci_enum.elf"
	assert_status 1
	assert_stdout "pci done"
}

@test "--transport pci: a virtio device is a function with its BAR and capabilities" {
	needs_kvm
	kvmini run --transport pci --rng --irqchip kernel --timeout 60 "$GUESTS/pci_enum.elf"
	assert_status 1
	assert_stdout "pci 00:00.0 1b36:0008 class 060000
pci 00:01.0 1af4:1044 class ff0000
bar0 size 0x8000
caps 4 msix
virtio queues 1
pci done"
}

@test "--transport mmio has no host bridge: every slot reads all-ones" {
	needs_kvm
	kvmini run --transport mmio --rng --irqchip kernel --timeout 60 "$GUESTS/pci_enum.elf"
	assert_status 1
	assert_stdout "pci done"
}

@test "--transport pci: a Linux kernel's default command line leaves out pci=off" {
	needs_kvm
	expect="bootconf.mem=0x4000000 bootconf.end"
	kvmini run --transport pci --rng --timeout 60 --mem 64M --kernel "$GUESTS/bootconf.bzImage" \
		--append "$expect"
	assert_status 1
	grep -qxF -- "bootconf: cmdline: console=ttyS0 earlyprintk=serial,ttyS0,115200 reboot=k panic=-1 $expect" \
		<<<"$output" || { echo "$output"; return 1; }
}
