#include <errno.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>
#include "kvm.h"
#include "arch/x86/irqchip.h"
#include "arch/x86/firmware.h"

const char *x86_irqchip_name(enum kvmini_irqchip model)
{
	switch (model) {
	case KVMINI_IRQCHIP_NONE: return "none";
	case KVMINI_IRQCHIP_KERNEL: return "kernel";
	case KVMINI_IRQCHIP_SPLIT: return "split";
	}
	return "unknown";
}

/* On a PC, and in kvmini's MP and ACPI tables, IRQ 0 is wired to IOAPIC
 * pin 2; pin 2 carries no IRQ 2, which is the 8259 cascade. */
int x86_isa_ioapic_pin(unsigned line)
{
	if (line == 2 || line >= X86_IOAPIC_PINS)
		return -1;
	return line == 0 ? (int)X86_IRQ0_IOAPIC_PIN : (int)line;
}

bool x86_isa_pic_input(unsigned line)
{
	return line < 16 && line != 2;
}

/* KVM's default routing sends GSI 0 (where its PIT raises IRQ 0) to
 * IOAPIC pin 0, so route GSIs 0-15 to the 8259s and the IOAPIC as
 * x86_isa_ioapic_pin() and x86_isa_pic_input() wire them, and 16-23 to
 * the IOAPIC only. Fills `table` (room for X86_ISA_ROUTES entries). */
void x86_irqchip_isa_routes(struct kvm_irq_routing_entry *table, unsigned *count)
{
	unsigned n = 0;
	for (unsigned gsi = 0; gsi < X86_IOAPIC_PINS; gsi++) {
		if (x86_isa_pic_input(gsi))
			table[n++] = (struct kvm_irq_routing_entry){
				.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
				.u.irqchip = { .irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
								  : KVM_IRQCHIP_PIC_SLAVE,
					       .pin = gsi % 8 },
			};
		int pin = x86_isa_ioapic_pin(gsi);
		if (pin >= 0)
			table[n++] = (struct kvm_irq_routing_entry){
				.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
				.u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = (unsigned)pin },
			};
	}
	*count = n;
}

static int route_isa_irqs(struct kvm_gsi_routes *routes, struct kvmini_error *err)
{
	struct kvm_irq_routing_entry entries[X86_ISA_ROUTES];
	unsigned n;
	x86_irqchip_isa_routes(entries, &n);
	return kvm_gsi_routes_update(routes, entries, n, err);
}

/* Only the local APICs in KVM; the first X86_IOAPIC_PINS GSI routes are
 * kept for the IOAPIC's pins. No PIT: kvmini's own counts. */
static int create_split(int vm_fd, struct kvmini_error *err)
{
	if (!kvm_cap_value(vm_fd, KVM_CAP_SPLIT_IRQCHIP))
		return kvmini_fail(err, KVMINI_E_HOST,
				   "KVM lacks KVM_CAP_SPLIT_IRQCHIP (needed by --irqchip split): use --irqchip kernel");
	struct kvm_enable_cap cap = { .cap = KVM_CAP_SPLIT_IRQCHIP, .args = { X86_IOAPIC_PINS } };
	return KVM_IOCTL(vm_fd, KVM_ENABLE_CAP, &cap, err) < 0 ? -1 : 0;
}

int x86_irqchip_create(int vm_fd, enum kvmini_irqchip model, struct kvm_gsi_routes *routes,
		       struct kvmini_error *err)
{
	if (model == KVMINI_IRQCHIP_NONE)
		return 0;
	if (model == KVMINI_IRQCHIP_SPLIT)
		return create_split(vm_fd, err);
	if (!kvm_cap_value(vm_fd, KVM_CAP_IRQCHIP) || !kvm_cap_value(vm_fd, KVM_CAP_PIT2))
		return kvmini_fail(err, KVMINI_E_HOST,
				   "KVM lacks KVM_CAP_IRQCHIP or KVM_CAP_PIT2 (needed by --irqchip kernel): use --irqchip none");
	/* The PIT's speaker port (0x61) is left to KVM's dummy model. */
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	if (KVM_IOCTL(vm_fd, KVM_CREATE_IRQCHIP, (void *)0, err) < 0 ||
	    route_isa_irqs(routes, err) < 0 ||
	    KVM_IOCTL(vm_fd, KVM_CREATE_PIT2, &pit, err) < 0)
		return -1;
	return 0;
}

/* KVM's IOAPIC state carries the ID as a number (its ID register reads
 * it back in bits 24-27): read the whole state, change the ID only. */
int x86_irqchip_set_ioapic_id(int vm_fd, uint8_t id, struct kvmini_error *err)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
	if (KVM_IOCTL(vm_fd, KVM_GET_IRQCHIP, &chip, err) < 0)
		return -1;
	chip.chip.ioapic.id = id;
	return KVM_IOCTL(vm_fd, KVM_SET_IRQCHIP, &chip, err) < 0 ? -1 : 0;
}

int x86_irqchip_set_line(int vm_fd, unsigned gsi, bool level)
{
	struct kvm_irq_level line = { .irq = gsi, .level = level };
	int r;
	do
		r = ioctl(vm_fd, KVM_IRQ_LINE, &line);
	while (r < 0 && errno == EINTR);
	return r;
}

int x86_irqchip_route_msis(struct kvm_gsi_routes *routes, const struct x86_msi *msgs,
			   unsigned n, struct kvmini_error *err)
{
	struct kvm_irq_routing_entry entries[X86_IOAPIC_PINS];
	if (n > X86_IOAPIC_PINS)
		n = X86_IOAPIC_PINS;
	for (unsigned gsi = 0; gsi < n; gsi++)
		entries[gsi] = (struct kvm_irq_routing_entry){
			.gsi = gsi, .type = KVM_IRQ_ROUTING_MSI,
			.u.msi = { .address_lo = (uint32_t)msgs[gsi].address,
				   .address_hi = (uint32_t)(msgs[gsi].address >> 32),
				   .data = msgs[gsi].data },
		};
	return kvm_gsi_routes_update(routes, entries, n, err);
}

int x86_irqchip_inject_extint(int vcpu_fd, uint8_t vector, struct kvmini_error *err)
{
	struct kvm_interrupt irq = { .irq = vector };
	return KVM_IOCTL(vcpu_fd, KVM_INTERRUPT, &irq, err) < 0 ? -1 : 0;
}
