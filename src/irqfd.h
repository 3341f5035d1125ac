/* Layer 5, beside vm.h: an interrupt doorbell, i.e. an eventfd that
 * raises one of the VM's interrupt lines each time it is written (by a
 * device on the event loop, a worker thread, or KVM's ioeventfd). How
 * it reaches the guest depends on the interrupt controller:
 *
 *   --irqchip kernel: KVM_IRQFD on GSI `line`, which KVM routes to the
 *     8259 input and the IOAPIC pin of the ISA wiring (IRQ 0 at pin 2),
 *     as KVM_IRQ_LINE would: no thread of kvmini's is involved. With a
 *     resample fd the line is level-triggered (KVM_IRQFD_FLAG_RESAMPLE):
 *     asserted until the guest's EOI, then lowered and the resample fd
 *     signalled, so the device re-asserts if its condition holds.
 *   --irqchip split: KVM's irqfd reaches only KVM's routes, and the
 *     IOAPIC here is kvmini's own (its pins are MSI routes, GSI = pin,
 *     programmed from the redirection entries). An irqfd on such a route
 *     would bypass the IOAPIC's mask bit, remote IRR and the 8259, so
 *     instead the event loop reads the eventfd and pulses the line
 *     through vm_irq_line(): kvmini's 8259 and IOAPIC decide, and the
 *     IOAPIC sends its MSI through KVM as for any device's line. One hop
 *     through the loop's thread. Level-triggered (resample) lines are
 *     not offered here: KVM cannot resample without its own IOAPIC.
 *   --irqchip none: no interrupt to raise; attaching fails.
 *
 * An MSI needs none of this: a GSI from kvm_gsi_alloc() routed with
 * kvm_gsi_route_msi() takes KVM_IRQFD directly under both chips, as
 * KVM's local APICs receive MSIs in both. */
#ifndef KVMINI_IRQFD_H
#define KVMINI_IRQFD_H

#include "error.h"
#include "event_loop.h"
#include "vm.h"

struct irqfd;

/* efd stays the caller's (close it after irqfd_detach()). resample_fd:
 * -1 for an edge. loop: the VM's event loop (used with split). */
struct irqfd *irqfd_attach(struct vm *vm, struct event_loop *loop, int efd, unsigned line,
			   int resample_fd, struct kvmini_error *err);
/* No interrupt is raised through it after this returns. NULL is fine.
 * Before vm_destroy(). */
void irqfd_detach(struct irqfd *irqfd);

#endif
