/* Interrupt controllers. `kernel`: KVM emulates the 8259 PIC pair, the
 * IOAPIC, every local APIC and the 8254 PIT. `none`: no controller, for
 * bare guests that poll. Takes only the VM fd, so the VM layer can set
 * the chip up between creating the VM and its vCPUs, as KVM requires. */
#ifndef KVMINI_X86_IRQCHIP_H
#define KVMINI_X86_IRQCHIP_H

#include <stdbool.h>
#include "error.h"

int x86_irqchip_create(int vm_fd, enum kvmini_irqchip model, struct kvmini_error *err);

/* Drive ISA/GSI line `gsi` of the in-kernel chip to `level`. */
int x86_irqchip_set_line(int vm_fd, unsigned gsi, bool level);

const char *x86_irqchip_name(enum kvmini_irqchip model);

#endif
