/* The split irqchip's user-space half (--irqchip split): KVM keeps the
 * local APICs (KVM_CAP_SPLIT_IRQCHIP, set up by vm_create()), and this
 * module builds the rest of a PC's interrupt hardware from kvmini's own
 * devices and wires it to KVM through the VM's line router and an exit
 * hook of the run loop:
 *
 *   ISA IRQ n (a device's irq_line)  -> 8259 input n and IOAPIC pin
 *       x86_isa_ioapic_pin(n) (IRQ 0 at pin 2), the one place both
 *       models' wiring comes from (src/arch/x86/irqchip.c);
 *   IOAPIC pin -> its redirection entry as an MSI route in KVM (GSI =
 *       pin) -> KVM_IRQ_LINE; a local APIC's EOI of a level-triggered
 *       vector -> KVM_EXIT_IOAPIC_EOI -> ioapic_eoi();
 *   8259 INT -> vCPU 0 is kicked; before its next KVM_RUN the pre-run
 *       hook acknowledges the 8259 and injects the vector as ExtINT on
 *       LINT0 (KVM_INTERRUPT) when kvm_run says the vCPU can take it,
 *       or else sets request_interrupt_window and waits for
 *       KVM_EXIT_IRQ_WINDOW_OPEN;
 *   8254 channel 0 -> ISA IRQ 0, driven by a timer (timerfd) on the
 *       machine's event loop (src/event_loop.h).
 *
 * It lives in board/, not arch/x86/: it wires devices to KVM through
 * the VM and vCPU layers, above which arch/x86 (raw fds only) sits.
 *
 * Ports and addresses: docs/entry-state.md. */
#ifndef KVMINI_SPLIT_IRQCHIP_H
#define KVMINI_SPLIT_IRQCHIP_H

#include "error.h"
#include "event_loop.h"
#include "vm.h"

struct split_irqchip;

/* For a VM created with KVMINI_IRQCHIP_SPLIT, before its vCPUs run:
 * creates the devices, registers them on the VM's buses, puts the PIT's
 * timer on `loop` (which may or may not run yet), adds its exit hooks
 * and installs the VM's line router. */
struct split_irqchip *split_irqchip_create(struct vm *vm, struct event_loop *loop,
					   struct kvmini_error *err);
/* After the vCPUs have stopped and before vm_destroy(): takes the PIT's
 * timer off the loop (no tick runs after), removes the router and the
 * hooks, frees the devices. NULL is fine. */
void split_irqchip_destroy(struct split_irqchip *chip);

#endif
