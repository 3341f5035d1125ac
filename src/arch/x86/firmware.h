/* The firmware area: where kvmini puts the tables a PC's BIOS would
 * leave behind (the MP table and the ACPI tables), and what they have
 * in common. The area is the BIOS range below 1 MiB, which the OS scans
 * for both tables' anchors. The tables take only its first pages and
 * one paragraph at 0xf0000, so that the common bare-metal layout (`ld
 * -Ttext=0x100000`, ELF headers in a segment at 0xff000) loads; a VM
 * with tables reserves just those ranges (x86_firmware_reserve()), a VM
 * without reserves nothing (docs/entry-state.md). */
#ifndef KVMINI_X86_FIRMWARE_H
#define KVMINI_X86_FIRMWARE_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include "memory.h"
#include "resources.h"

#define X86_FIRMWARE_START 0xe0000ULL
#define X86_FIRMWARE_END   0x100000ULL
/* What the tables occupy: the ACPI tables then the MP configuration
 * table from X86_FIRMWARE_START to X86_TABLES_END (acpi.h, mptable.h),
 * and the MP floating pointer, one paragraph where the OS scans for it
 * (the BIOS ROM area 0xf0000-0xfffff). */
#define X86_TABLES_END       0xe6000ULL
#define X86_MP_POINTER_ADDR  0xf0000ULL
#define X86_MP_POINTER_SIZE  16ULL

/* The machine the tables describe (the in-kernel irqchip's devices). */
#define X86_LAPIC_ADDR   0xfee00000u
#define X86_IOAPIC_ADDR  0xfec00000u
#define X86_LAPIC_VERSION  0x14   /* what KVM's local APIC reports */
#define X86_IOAPIC_VERSION 0x11   /* what KVM's IOAPIC reports */
/* The vCPUs' APIC IDs 0..ncpus-1 must fit an xAPIC ID below the
 * broadcast ID 0xff. */
#define X86_FIRMWARE_MAX_CPUS 254u
/* The IOAPIC's ID, the same in the MP table, the MADT and the chip's ID
 * register (both models): right after the vCPUs' APIC IDs, within the 4
 * bits KVM's IOAPIC keeps (as the 82093AA did). From 15 vCPUs on it
 * stays 15, equal to a local APIC's ID, which 64-bit OSes accept: since
 * the xAPIC, IOAPIC and local APIC IDs are separate name spaces. */
#define X86_IOAPIC_ID_MAX 15u
static inline uint8_t x86_ioapic_id(unsigned ncpus)
{
	return (uint8_t)(ncpus < X86_IOAPIC_ID_MAX ? ncpus : X86_IOAPIC_ID_MAX);
}
/* ISA IRQ 0 (the PIT) is wired to IOAPIC pin 2, as on a PC; pin 2 does
 * not carry IRQ 2 (the 8259 cascade), every other IRQ n uses pin n. */
#define X86_IRQ0_IOAPIC_PIN 2u
/* The ACPI System Control Interrupt: ISA IRQ 9, level, active high. */
#define X86_SCI_IRQ 9u

#define X86_ISA_IRQS 16
#define X86_ISA_CASCADE_IRQ 2   /* the 8259 cascade: no device, no table entry */

/* The PCI host bridge's place in the hole below 4 GiB (docs/virtio.md
 * has the whole map of the hole): BARs go in the 256 MiB from
 * 0xc0000000 (the hole's start), virtio-mmio windows follow at
 * 0xd0000000, ECAM for bus 0 is the 1 MiB at 0xe0000000; the IOAPIC,
 * HPET and local APIC sit higher (0xfec00000-0xfee00fff). I/O BARs go
 * in 0xc000-0xffff. INTA of slot s (pin p) reaches IOAPIC pin 16 +
 * (s + p) % 8: the pins no ISA device uses, level-triggered, active
 * low, as PCI interrupts are. */
#define X86_PCI_ECAM_BASE 0xe0000000ULL
#define X86_PCI_ECAM_SIZE 0x100000ULL
#define X86_PCI_MMIO_BASE 0xc0000000ULL
#define X86_PCI_MMIO_END  0xd0000000ULL
#define X86_PCI_IO_BASE   0xc000ULL
#define X86_PCI_IO_END    0x10000ULL
#define X86_PCI_INTX_GSI  16u
#define X86_PCI_INTX_LINES 8u

/* The PCI host bridge the tables describe (a PC without one: NULL). */
struct x86_pci_desc {
	uint64_t ecam_base;           /* bus 0 */
	uint64_t mmio_base, mmio_end;
	unsigned intx_gsi, intx_lines;
};

/* What the tables describe: the vCPUs, and every device by its declared
 * resources (the board's list). Devices declare; the tables follow. */
struct x86_firmware_desc {
	unsigned ncpus;
	const struct resources *const *devices;
	size_t ndevices;
	const struct x86_pci_desc *pci;
};

/* Keep loaders off what the tables will occupy in mem (memory.h). */
int x86_firmware_reserve(struct guest_memory *mem);

/* The ISA IRQs (below 16, not the cascade) the devices declare, as a
 * mask, and in *level those declared level-triggered. */
uint16_t x86_firmware_isa_irqs(const struct x86_firmware_desc *desc, uint16_t *level);

/* The same for the IOAPIC's pins past the ISA IRQs (GSIs 16-23: bit n
 * is GSI 16 + n), which devices such as virtio-mmio's windows use. */
uint8_t x86_firmware_gsis(const struct x86_firmware_desc *desc, uint8_t *level);

/* The byte that makes `len` bytes (with it in place) sum to zero. */
static inline uint8_t firmware_checksum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)-sum;
}

#endif
