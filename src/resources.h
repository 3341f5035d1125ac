/* What a device occupies, described once: its bus ranges (with their
 * callbacks), its ISA interrupt lines, and the name firmware gives it.
 * The board registers the ranges on the VM's buses from this, and the
 * firmware tables (src/arch/x86/acpi.c, mptable.c) print the same
 * description, so a device appears in both by declaring it. */
#ifndef KVMINI_RESOURCES_H
#define KVMINI_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bus.h"

#define RESOURCES_MAX_RANGES 4
#define RESOURCES_MAX_IRQS   2

enum resource_space { RESOURCE_SPACE_PORT, RESOURCE_SPACE_MMIO };

/* One bus range; its callbacks get the device as their opaque. */
struct resource_range {
	enum resource_space space;
	uint64_t base, len;
	const struct bus_device_ops *ops;
	const char *name;        /* in the bus's messages */
};

/* An interrupt line: edge-triggered and active high as the ISA bus
 * says, or level-triggered active high (the ACPI SCI). Lines 0-15 are
 * ISA IRQs; 16-23 are the IOAPIC's other pins (GSIs), which only the
 * DSDT describes (the MP table lists ISA lines). */
struct resource_irq {
	unsigned line;
	bool level;
};

/* An HPET's event timer block, for the ACPI HPET table: the low 32 bits
 * of its capabilities register, and the fewest ticks a periodic timer
 * may be set to without losing interrupts. */
struct resource_hpet {
	uint32_t block_id;
	uint16_t min_tick;
};

struct resources {
	struct resource_range ranges[RESOURCES_MAX_RANGES];
	unsigned nranges;
	struct resource_irq irqs[RESOURCES_MAX_IRQS];
	unsigned nirqs;
	bool irqs_shared;        /* other devices use the lines too (GSIs 16-23) */
	/* In the DSDT as Device (acpi_name) with _HID acpi_hid, its port
	 * ranges and lines as _CRS; NULL: not described there. */
	const char *acpi_name;   /* four characters, e.g. "COM1" */
	/* A PNP ID (three letters, four hex digits: an EisaId) or an ACPI
	 * ID (four letters or digits, four hex digits: a string). */
	const char *acpi_hid;
	/* _UID, for devices that share a _HID (the virtio-mmio windows). */
	bool acpi_uid_set;
	uint32_t acpi_uid;
	/* An HPET: also in the ACPI HPET table, at its first MMIO range. */
	const struct resource_hpet *hpet;
};

#endif
