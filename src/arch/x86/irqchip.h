/* Interrupt controllers. `kernel`: KVM emulates the 8259 PIC pair, the
 * IOAPIC, every local APIC and the 8254 PIT. `split`: KVM emulates the
 * local APICs only (KVM_CAP_SPLIT_IRQCHIP), kvmini the rest
 * (src/split_irqchip.c), with the calls below. `none`: no controller,
 * for bare guests that poll. Takes only raw fds, so the VM layer can set
 * the chip up between creating the VM and its vCPUs, as KVM requires. */
#ifndef KVMINI_X86_IRQCHIP_H
#define KVMINI_X86_IRQCHIP_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>
#include "error.h"
#include "kvm_doorbell.h"

/* With `kernel`, the ISA routes go into the VM's GSI table. */
int x86_irqchip_create(int vm_fd, enum kvmini_irqchip model, struct kvm_gsi_routes *routes,
		       struct kvmini_error *err);

/* `kernel`: give KVM's IOAPIC the ID the MP and ACPI tables announce
 * (x86_ioapic_id()); KVM creates it with ID 0. */
int x86_irqchip_set_ioapic_id(int vm_fd, uint8_t id, struct kvmini_error *err);

/* The in-kernel chip's GSI routing: ISA IRQ 0 to IOAPIC pin 2, every
 * other ISA IRQ n to pin n and to its 8259 input, GSIs 16-23 to pins
 * 16-23 (what the MP and ACPI tables of firmware.h describe). */
#define X86_IOAPIC_PINS 24
#define X86_ISA_ROUTES (15 * 2 + 8)
void x86_irqchip_isa_routes(struct kvm_irq_routing_entry *table, unsigned *count);

/* Drive ISA/GSI line `gsi` of the in-kernel chip to `level`; with the
 * split chip, level 1 sends the MSI routed to `gsi`. */
int x86_irqchip_set_line(int vm_fd, unsigned gsi, bool level);

/* The PC's ISA wiring, for both models: ISA IRQ / GSI `line` enters
 * IOAPIC pin 2 for IRQ 0, no pin for IRQ 2 (the 8259 cascade), pin n
 * otherwise (-1: none, or beyond the pins); and an 8259 input for ISA
 * IRQs 0-15 except 2. */
int x86_isa_ioapic_pin(unsigned line);
bool x86_isa_pic_input(unsigned line);

/* Split chip: the IOAPIC's messages as KVM's GSI routes, pin n as GSI
 * n, so KVM sends pin n's MSI on KVM_IRQ_LINE(n) and reports the EOI of
 * a level-triggered one as KVM_EXIT_IOAPIC_EOI. Only GSIs 0..n-1 of the
 * VM's table change; allocated MSI routes stay. */
struct x86_msi {
	uint64_t address;
	uint32_t data;
};
int x86_irqchip_route_msis(struct kvm_gsi_routes *routes, const struct x86_msi *msgs,
			   unsigned n, struct kvmini_error *err);

/* Split chip: hand the 8259's vector to a vCPU's LINT0 (KVM_INTERRUPT),
 * when kvm_run's ready_for_interrupt_injection says it can take one. */
int x86_irqchip_inject_extint(int vcpu_fd, uint8_t vector, struct kvmini_error *err);

const char *x86_irqchip_name(enum kvmini_irqchip model);

#endif
