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

#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "event_loop.h"
#include "state.h"
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

/* The split irqchip's state, for a snapshot of a paused VM (its vCPUs
 * parked): a versioned record of the 8259 pair, the IOAPIC and the
 * 8254 (each model's own record, src/devices/), then the ExtINT vector
 * the boot CPU was given (KVM_INTERRUPT) that KVM holds but has not yet
 * delivered: KVM keeps such a vector outside every state it reports, so
 * a snapshot taken between the injection and the next guest entry would
 * lose it, with the 8259 already saying it is in service. The
 * interrupt-window request needs no saving: pre_run() sets it again from
 * the 8259's output before every KVM_RUN. */
void split_irqchip_save(struct split_irqchip *chip, struct state_writer *w);
/* Check such a record (hostile bytes) without KVM or a VM, by restoring
 * it into models of its own: what machine_snapshot_decode() does before
 * anything is opened. */
int split_irqchip_check_state(const uint8_t *data, size_t len, struct kvmini_error *err);
/* Restore it, after the vCPUs' and the board devices' state (whose
 * lines it then overrides with the saved levels): installs the IOAPIC's
 * routes in KVM, rearms the PIT's timer and injects a pending ExtINT
 * vector into the boot CPU again. */
int split_irqchip_restore(struct split_irqchip *chip, const uint8_t *data, size_t len,
			  struct kvmini_error *err);

#endif
