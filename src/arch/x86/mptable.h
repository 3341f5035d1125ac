/* The Intel MultiProcessor Specification (MPS 1.4) table: how an OS
 * without ACPI finds the processors, the IOAPIC and the ISA interrupt
 * wiring. A floating pointer structure, found by scanning the BIOS area,
 * points to the configuration table. Structures are laid out from the
 * specification's chapter 4 (MP configuration table); all little-endian. */
#ifndef KVMINI_X86_MPTABLE_H
#define KVMINI_X86_MPTABLE_H

#include <stdint.h>
#include "memory.h"
#include "arch/x86/firmware.h"

/* Where the table goes, inside the firmware area (firmware.h): the
 * floating pointer where the OS scans, the configuration table (which
 * may be anywhere) right after the ACPI tables, clear of 0xf0000-0xfffff
 * where images linked at 1 MiB put their ELF headers. */
#define MP_FLOATING_ADDR X86_MP_POINTER_ADDR  /* 16-byte aligned, in the scanned 0xf0000-0xfffff */
#define MP_CONFIG_ADDR   0xe4000ULL           /* ACPI_TABLES_END */
#define MP_CONFIG_MAX    (X86_TABLES_END - MP_CONFIG_ADDR)  /* 254 vCPUs need 0x149c */

struct mp_floating_pointer {
	char signature[4];            /* "_MP_" */
	uint32_t config_addr;         /* physical address of the configuration table */
	uint8_t length;               /* in 16-byte paragraphs: 1 */
	uint8_t spec_rev;             /* 4 for MPS 1.4 */
	uint8_t checksum;             /* all 16 bytes sum to 0 */
	uint8_t feature[5];           /* [0] = 0: a configuration table exists;
				       * [1] bit 7 (IMCRP) = 0: virtual-wire mode, no IMCR */
} __attribute__((packed));
_Static_assert(sizeof(struct mp_floating_pointer) == 16, "floating pointer: 16 bytes");

struct mp_config_header {
	char signature[4];            /* "PCMP" */
	uint16_t base_length;         /* header plus every base entry */
	uint8_t spec_rev;             /* 4 */
	uint8_t checksum;             /* the base table sums to 0 */
	char oem_id[8];
	char product_id[12];
	uint32_t oem_table_addr;      /* 0: none */
	uint16_t oem_table_size;
	uint16_t entry_count;
	uint32_t lapic_addr;
	uint16_t ext_length;          /* 0: no extended entries */
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct mp_config_header) == 44, "configuration table header: 44 bytes");

enum mp_entry_type {
	MP_PROCESSOR = 0, MP_BUS = 1, MP_IOAPIC = 2, MP_IO_INTERRUPT = 3, MP_LOCAL_INTERRUPT = 4,
};

#define MP_CPU_ENABLED 0x01
#define MP_CPU_BSP     0x02
#define MP_IOAPIC_ENABLED 0x01

struct mp_processor {
	uint8_t type;                 /* MP_PROCESSOR */
	uint8_t lapic_id;
	uint8_t lapic_version;
	uint8_t cpu_flags;            /* MP_CPU_ENABLED, MP_CPU_BSP */
	uint32_t cpu_signature;       /* 0: the OS reads CPUID itself */
	uint32_t feature_flags;
	uint32_t reserved[2];
} __attribute__((packed));
_Static_assert(sizeof(struct mp_processor) == 20, "processor entry: 20 bytes");

struct mp_bus {
	uint8_t type;                 /* MP_BUS */
	uint8_t bus_id;
	char bus_type[6];             /* "ISA   " */
} __attribute__((packed));
_Static_assert(sizeof(struct mp_bus) == 8, "bus entry: 8 bytes");

struct mp_ioapic {
	uint8_t type;                 /* MP_IOAPIC */
	uint8_t ioapic_id;
	uint8_t ioapic_version;
	uint8_t flags;                /* MP_IOAPIC_ENABLED */
	uint32_t addr;
} __attribute__((packed));
_Static_assert(sizeof(struct mp_ioapic) == 8, "I/O APIC entry: 8 bytes");

enum mp_interrupt_type { MP_INT = 0, MP_NMI = 1, MP_SMI = 2, MP_EXTINT = 3 };

/* I/O (type 3) and local (type 4) interrupt assignments share a layout;
 * `dest_id` is an IOAPIC ID or a local APIC ID (0xff: every CPU), and
 * `dest_pin` an IOAPIC INTIN# or a LINTIN#. */
struct mp_interrupt {
	uint8_t type;                 /* MP_IO_INTERRUPT or MP_LOCAL_INTERRUPT */
	uint8_t interrupt_type;       /* enum mp_interrupt_type */
	uint16_t flags;               /* polarity (bits 0-1), trigger (2-3); 0: as the bus says */
	uint8_t source_bus;
	uint8_t source_irq;
	uint8_t dest_id;
	uint8_t dest_pin;
} __attribute__((packed));
_Static_assert(sizeof(struct mp_interrupt) == 8, "interrupt assignment entries: 8 bytes");

/* mp_interrupt flags: as the bus says (ISA: edge, active high), or
 * level-triggered and active high (polarity 01, trigger 11). */
#define MP_FLAGS_CONFORMS   0x0
#define MP_FLAGS_LEVEL_HIGH 0xd
#define MP_FLAGS_LEVEL_LOW  0xf   /* PCI INTx: polarity 11, trigger 11 */

#define MP_ISA_BUS_ID 0
#define MP_PCI_BUS_ID 1           /* with desc->pci: PCI bus 0 */
#define MP_ALL_LAPICS 0xff

/* Write the floating pointer and a configuration table for desc->ncpus
 * vCPUs (APIC IDs 0..ncpus-1, vCPU 0 the BSP), the IOAPIC (ID ncpus),
 * the ISA IRQs desc's devices declare and, with desc->pci, the PCI bus
 * with the IOAPIC pin of each slot's INTA-INTD (as the DSDT's _PRT, for
 * a kernel without ACPI). Fails, writing nothing, when
 * ncpus is outside 1..X86_FIRMWARE_MAX_CPUS or the table does not fit in
 * guest RAM. */
int mptable_write(const struct guest_memory *mem, const struct x86_firmware_desc *desc,
		  struct kvmini_error *err);

/* Bytes of the configuration table for desc (for tests and the docs). */
uint64_t mptable_config_size(const struct x86_firmware_desc *desc);

#endif
