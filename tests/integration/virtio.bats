#!/usr/bin/env bats
# virtio on the board: virtio-rng behind virtio-mmio, found and driven by
# a bare-metal driver (guests/virtio_rng.c) at the first window,
# 0xd0000000, under each interrupt controller; and the options.
bats_require_minimum_version 1.5.0
load helpers

# "virtio-rng: 16 bytes, isr 1 then 0: " and 16 bytes in hex.
rng_line='^virtio-rng: 16 bytes, isr 1 then 0:( [0-9a-f]{2}){16}$'

rng_run() {
	needs_kvm
	kvmini run --rng --irqchip "$1" --timeout 60 "$GUESTS/virtio_rng.elf"
	assert_status 1
	[[ "$output" =~ $rng_line ]] || { echo "stdout: $output"; echo "stderr: $stderr"; return 1; }
}

@test "virtio-rng over virtio-mmio: a bare-metal driver reads entropy (no irqchip)" {
	rng_run none
}

@test "virtio-rng over virtio-mmio with --irqchip kernel (a level line through irqfd)" {
	rng_run kernel
}

@test "virtio-rng over virtio-mmio with --irqchip split (an edge through the split IOAPIC)" {
	rng_run split
}

@test "virtio-rng: two runs read different bytes" {
	rng_run none
	first=$output
	rng_run none
	[ "$output" != "$first" ]
}

@test "virtio-rng with a rate limit still answers the driver" {
	needs_kvm
	kvmini run --rng=160 --timeout 60 "$GUESTS/virtio_rng.elf"
	assert_status 1
	[[ "$output" =~ $rng_line ]] || { echo "stdout: $output"; return 1; }
}

@test "without --rng the driver finds no device at 0xd0000000" {
	needs_kvm
	kvmini run --timeout 60 "$GUESTS/virtio_rng.elf"
	assert_status 3
	assert_stdout "virtio-rng: no virtio-rng at 0xd0000000"
}

@test "--rng=0 and --transport usb are usage errors" {
	kvmini run --rng=0 "$GUESTS/virtio_rng.elf"
	assert_status 2
	assert_stderr_has "invalid value '0' for --rng: expected bytes per second"
	assert_one_line_error
	kvmini run --rng --transport usb "$GUESTS/virtio_rng.elf"
	assert_status 2
	assert_stderr_has "invalid value 'usb' for --transport: expected mmio or pci"
}

