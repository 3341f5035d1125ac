/* Interrupt controllers. `kernel`: KVM emulates the 8259 PIC pair, the
 * IOAPIC, every local APIC and the 8254 PIT. `none`: no controller, for
 * bare guests that poll. Takes only the VM fd, so the VM layer can set
 * the chip up between creating the VM and its vCPUs, as KVM requires. */
#ifndef KVMINI_X86_IRQCHIP_H
#define KVMINI_X86_IRQCHIP_H

#include <stdbool.h>
#include <linux/kvm.h>
#include "error.h"

int x86_irqchip_create(int vm_fd, enum kvmini_irqchip model, struct kvmini_error *err);

/* The in-kernel chip's GSI routing: ISA IRQ 0 to IOAPIC pin 2, every
 * other ISA IRQ n to pin n and to its 8259 input, GSIs 16-23 to pins
 * 16-23 (what the MP and ACPI tables of firmware.h describe). */
#define X86_IOAPIC_PINS 24
#define X86_ISA_ROUTES (15 * 2 + 8)
void x86_irqchip_isa_routes(struct kvm_irq_routing_entry *table, unsigned *count);

/* Drive ISA/GSI line `gsi` of the in-kernel chip to `level`. */
int x86_irqchip_set_line(int vm_fd, unsigned gsi, bool level);

const char *x86_irqchip_name(enum kvmini_irqchip model);

#endif
