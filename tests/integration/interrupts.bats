#!/usr/bin/env bats
# Interrupt controllers, timers and SMP with KVM's in-kernel irqchip.
bats_require_minimum_version 1.5.0
load helpers

@test "PIT timer interrupts through the 8259 PIC reach an IDT handler" {
	kvmini run --irqchip kernel --timeout 60 "$GUESTS/timer_pit.elf"
	assert_status 1
	assert_stdout "pit: 50 interrupts"
}

@test "local APIC timer interrupts in periodic mode" {
	kvmini run --irqchip kernel --timeout 60 "$GUESTS/timer_lapic.elf"
	assert_status 1
	assert_stdout "lapic timer: 50 interrupts"
}

@test "interrupt-driven UART echo: IRQ 4 on received data" {
	run --separate-stderr "$KVMINI" run --irqchip kernel --timeout 60 "$GUESTS/uart_irq.elf" \
		< <(printf 'typed by the host\n')
	assert_status 1
	assert_stdout "typed by the host
uart irq: echoed by interrupt"
}

@test "without an irqchip the timer guest never gets an interrupt" {
	kvmini run --irqchip none --timeout 1 "$GUESTS/timer_pit.elf"
	# hlt with no irqchip ends the VM at the first wait
	assert_status 0
	assert_stdout ""
}

smp_run() {
	kvmini run --irqchip kernel --cpus "$1" --timeout 120 "$GUESTS/smp.elf"
	assert_status 1
	assert_stdout "smp: $1 of $1 cpus checked in, apic id mask $2"
}

@test "SMP: 1 vCPU" {
	smp_run 1 0x0000000000000001
}

@test "SMP: 2 vCPUs start through INIT/SIPI and check in by APIC ID" {
	smp_run 2 0x0000000000000003
}

@test "SMP: 4 vCPUs start through INIT/SIPI and check in by APIC ID" {
	smp_run 4 0x000000000000000f
}

@test "more than one vCPU without an irqchip is refused" {
	kvmini run --cpus 2
	assert_status 2
	assert_stderr_has "2 vCPUs need an interrupt controller: add --irqchip kernel"
	assert_one_line_error
}

@test "more vCPUs than KVM allows is refused" {
	kvmini run --irqchip kernel --cpus 4096
	assert_status 2
	assert_stderr_has "4096 vCPUs requested; this host's KVM allows 1 to"
}

@test "--irqchip with a bad value" {
	kvmini run --irqchip split
	assert_status 2
	assert_stderr_has "invalid value 'split' for --irqchip: expected kernel or none"
}

@test "stress: 50 consecutive runs of the 4-vCPU guest, none hangs" {
	for i in $(seq 50); do
		run --separate-stderr timeout 120 "$KVMINI" run --irqchip kernel --cpus 4 --timeout 60 \
			"$GUESTS/smp.elf" </dev/null
		if [ "$status" -ne 1 ] || [ "$output" != "smp: 4 of 4 cpus checked in, apic id mask 0x000000000000000f" ]; then
			echo "run $i: status $status, stdout: $output, stderr: $stderr"
			return 1
		fi
	done
}

@test "a non-boot vCPU ends the VM while the BSP spins" {
	SECONDS=0
	kvmini run --irqchip kernel --cpus 4 --timeout 60 "$GUESTS/smp_ap_exit.elf"
	assert_status 15
	[ "$SECONDS" -lt 30 ]
}
