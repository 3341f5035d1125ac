/* The MPS 1.4 table for kvmini's PC: ncpus processors, one ISA bus (and
 * a PCI bus with a host bridge), the IOAPIC, the pins of the ISA IRQs and
 * GSIs 16-23 the devices declare (and of the PCI slots' INTx), and the
 * local APICs' LINT0/LINT1 wiring. */
#include <string.h>
#include "arch/x86/firmware.h"
#include "arch/x86/irqchip.h"
#include "arch/x86/mptable.h"

#define LOCAL_INTERRUPTS 2
#define PCI_SLOTS 32
#define PCI_PINS 4

uint64_t mptable_config_size(const struct x86_firmware_desc *desc)
{
	unsigned io_interrupts = (unsigned)__builtin_popcount(x86_firmware_isa_irqs(desc, NULL)) +
				 (unsigned)__builtin_popcount(x86_firmware_gsis(desc, NULL));
	unsigned buses = 1;
	if (desc->pci) {
		buses++;
		io_interrupts += (PCI_SLOTS - 1) * PCI_PINS;
	}
	return sizeof(struct mp_config_header) + desc->ncpus * sizeof(struct mp_processor) +
	       buses * sizeof(struct mp_bus) + sizeof(struct mp_ioapic) +
	       (io_interrupts + LOCAL_INTERRUPTS) * sizeof(struct mp_interrupt);
}

/* Appends entries to the configuration table being built in place. */
struct mp_builder {
	uint8_t *next;
	uint16_t count;
};

static void append(struct mp_builder *b, const void *entry, size_t size)
{
	memcpy(b->next, entry, size);
	b->next += size;
	b->count++;
}

static void append_processors(struct mp_builder *b, unsigned ncpus)
{
	for (unsigned i = 0; i < ncpus; i++) {
		struct mp_processor cpu = {
			.type = MP_PROCESSOR, .lapic_id = (uint8_t)i,
			.lapic_version = X86_LAPIC_VERSION,
			.cpu_flags = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0),
		};
		append(b, &cpu, sizeof(cpu));
	}
}

/* One entry per ISA IRQ a device declares: edge-triggered ones conform
 * to the ISA bus, level-triggered ones (the SCI) say so. */
static void append_io_interrupts(struct mp_builder *b, const struct x86_firmware_desc *desc,
				 uint8_t ioapic_id)
{
	uint16_t level;
	uint16_t irqs = x86_firmware_isa_irqs(desc, &level);
	for (unsigned irq = 0; irq < X86_ISA_IRQS; irq++) {
		if (!(irqs & (1u << irq)))
			continue;
		struct mp_interrupt e = {
			.type = MP_IO_INTERRUPT, .interrupt_type = MP_INT,
			.flags = level & (1u << irq) ? MP_FLAGS_LEVEL_HIGH : MP_FLAGS_CONFORMS,
			.source_bus = MP_ISA_BUS_ID, .source_irq = (uint8_t)irq,
			.dest_id = ioapic_id, .dest_pin = (uint8_t)x86_isa_ioapic_pin(irq),
		};
		append(b, &e, sizeof(e));
	}
}

/* PCI slots 1-31, pins INTA-INTD: source IRQ (slot << 2) | pin, at the
 * IOAPIC pin the DSDT's _PRT names, level-triggered, active low. */
static void append_pci_interrupts(struct mp_builder *b, const struct x86_pci_desc *pci,
				  uint8_t ioapic_id)
{
	for (unsigned slot = 1; slot < PCI_SLOTS; slot++) {
		for (unsigned pin = 0; pin < PCI_PINS; pin++) {
			struct mp_interrupt e = {
				.type = MP_IO_INTERRUPT, .interrupt_type = MP_INT,
				.flags = MP_FLAGS_LEVEL_LOW, .source_bus = MP_PCI_BUS_ID,
				.source_irq = (uint8_t)(slot << 2 | pin), .dest_id = ioapic_id,
				.dest_pin = (uint8_t)(pci->intx_gsi + (slot + pin) % pci->intx_lines),
			};
			append(b, &e, sizeof(e));
		}
	}
}

static void append_bus(struct mp_builder *b, uint8_t id, const char type[6])
{
	struct mp_bus bus = { .type = MP_BUS, .bus_id = id };
	memcpy(bus.bus_type, type, sizeof(bus.bus_type));
	append(b, &bus, sizeof(bus));
}

/* The pins past the ISA IRQs that devices use (virtio-mmio), for an OS
 * without ACPI (Linux given virtio_mmio.device=...:IRQ): the ISA bus's
 * IRQ n at pin n, as other VMMs describe them, edge-triggered unless a
 * device says level. */
static void append_gsi_interrupts(struct mp_builder *b, const struct x86_firmware_desc *desc,
				  uint8_t ioapic_id)
{
	uint8_t level;
	uint8_t gsis = x86_firmware_gsis(desc, &level);
	for (unsigned n = 0; n < 8; n++) {
		if (!(gsis & (1u << n)))
			continue;
		struct mp_interrupt e = {
			.type = MP_IO_INTERRUPT, .interrupt_type = MP_INT,
			.flags = level & (1u << n) ? MP_FLAGS_LEVEL_HIGH : MP_FLAGS_CONFORMS,
			.source_bus = MP_ISA_BUS_ID, .source_irq = (uint8_t)(X86_ISA_IRQS + n),
			.dest_id = ioapic_id, .dest_pin = (uint8_t)(X86_ISA_IRQS + n),
		};
		append(b, &e, sizeof(e));
	}
}

/* Virtual-wire mode: the 8259's output reaches every local APIC's
 * LINT0 as ExtINT, and NMI arrives on LINT1. */
static void append_local_interrupts(struct mp_builder *b)
{
	static const uint8_t kinds[LOCAL_INTERRUPTS] = { MP_EXTINT, MP_NMI };
	for (uint8_t lint = 0; lint < LOCAL_INTERRUPTS; lint++) {
		struct mp_interrupt e = {
			.type = MP_LOCAL_INTERRUPT, .interrupt_type = kinds[lint],
			.source_bus = MP_ISA_BUS_ID, .source_irq = 0,
			.dest_id = MP_ALL_LAPICS, .dest_pin = lint,
		};
		append(b, &e, sizeof(e));
	}
}

static void write_config(uint8_t *table, const struct x86_firmware_desc *desc, uint16_t length)
{
	unsigned ncpus = desc->ncpus;
	uint8_t ioapic_id = x86_ioapic_id(ncpus);
	struct mp_builder b = { .next = table + sizeof(struct mp_config_header) };
	append_processors(&b, ncpus);
	append_bus(&b, MP_ISA_BUS_ID, "ISA   ");
	if (desc->pci)
		append_bus(&b, MP_PCI_BUS_ID, "PCI   ");
	struct mp_ioapic ioapic = {
		.type = MP_IOAPIC, .ioapic_id = ioapic_id, .ioapic_version = X86_IOAPIC_VERSION,
		.flags = MP_IOAPIC_ENABLED, .addr = X86_IOAPIC_ADDR,
	};
	append(&b, &ioapic, sizeof(ioapic));
	append_io_interrupts(&b, desc, ioapic_id);
	append_gsi_interrupts(&b, desc, ioapic_id);
	if (desc->pci)
		append_pci_interrupts(&b, desc->pci, ioapic_id);
	append_local_interrupts(&b);

	struct mp_config_header h = {
		.base_length = length, .spec_rev = 4, .entry_count = b.count,
		.lapic_addr = X86_LAPIC_ADDR,
	};
	memcpy(h.signature, "PCMP", 4);
	memcpy(h.oem_id, "KVMINI  ", sizeof(h.oem_id));
	memcpy(h.product_id, "KVMINI PC   ", sizeof(h.product_id));
	memcpy(table, &h, sizeof(h));
	table[offsetof(struct mp_config_header, checksum)] = firmware_checksum(table, length);
}

int mptable_write(const struct guest_memory *mem, const struct x86_firmware_desc *desc,
		  struct kvmini_error *err)
{
	unsigned ncpus = desc->ncpus;
	if (ncpus < 1 || ncpus > X86_FIRMWARE_MAX_CPUS)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%u vCPUs: the MP table describes 1 to %u", ncpus,
				   X86_FIRMWARE_MAX_CPUS);
	uint64_t length = mptable_config_size(desc);
	if (length > MP_CONFIG_MAX)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "the MP table needs %llu bytes, more than its room at 0x%llx",
				   (unsigned long long)length, MP_CONFIG_ADDR);
	struct mp_floating_pointer *fp = guest_ptr(mem, MP_FLOATING_ADDR, sizeof(*fp));
	uint8_t *table = guest_ptr(mem, MP_CONFIG_ADDR, length);
	if (!fp || !table)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "guest RAM too small for the MP table at 0x%llx",
				   MP_FLOATING_ADDR);
	memset(table, 0, length);
	write_config(table, desc, (uint16_t)length);

	struct mp_floating_pointer f = {
		.config_addr = (uint32_t)MP_CONFIG_ADDR, .length = 1, .spec_rev = 4,
	};
	memcpy(f.signature, "_MP_", 4);
	f.checksum = firmware_checksum(&f, sizeof(f));
	memcpy(fp, &f, sizeof(f));
	return 0;
}
