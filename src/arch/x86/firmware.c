#include "arch/x86/firmware.h"
#include "arch/x86/acpi.h"
#include "arch/x86/e820.h"
#include "arch/x86/mptable.h"

/* The layout firmware.h promises: the ACPI tables, then the MP
 * configuration table, then nothing up to the floating pointer. */
_Static_assert(ACPI_RSDP_ADDR == X86_FIRMWARE_START, "the ACPI tables start the area");
_Static_assert(ACPI_TABLES_END <= MP_CONFIG_ADDR, "the MP table follows the ACPI tables");
_Static_assert(MP_CONFIG_ADDR + MP_CONFIG_MAX == X86_TABLES_END, "the MP table ends the tables");
_Static_assert(X86_TABLES_END <= X86_MP_POINTER_ADDR &&
	       X86_MP_POINTER_ADDR + X86_MP_POINTER_SIZE <= X86_FIRMWARE_END,
	       "the floating pointer is in the area, after the tables");
/* Every guest's memory map (e820.h) marks the whole area reserved, with
 * or without tables, as a PC's BIOS area is. */
_Static_assert(X86_E820_LOW_RAM_END <= X86_FIRMWARE_START && X86_FIRMWARE_END <= X86_E820_BIOS_END,
	       "the memory map reserves the firmware area");

int x86_firmware_reserve(struct guest_memory *mem)
{
	if (guest_memory_reserve(mem, X86_FIRMWARE_START, X86_TABLES_END,
				 "the ACPI and MP tables") < 0 ||
	    guest_memory_reserve(mem, X86_MP_POINTER_ADDR, X86_MP_POINTER_ADDR + X86_MP_POINTER_SIZE,
				 "the MP floating pointer") < 0)
		return -1;
	return 0;
}

uint16_t x86_firmware_isa_irqs(const struct x86_firmware_desc *desc, uint16_t *level)
{
	uint16_t mask = 0, lvl = 0;
	for (size_t d = 0; d < desc->ndevices; d++) {
		const struct resources *res = desc->devices[d];
		for (unsigned i = 0; i < res->nirqs; i++) {
			unsigned line = res->irqs[i].line;
			if (line >= X86_ISA_IRQS || line == X86_ISA_CASCADE_IRQ)
				continue;
			mask |= (uint16_t)(1u << line);
			if (res->irqs[i].level)
				lvl |= (uint16_t)(1u << line);
		}
	}
	if (level)
		*level = lvl;
	return mask;
}

uint8_t x86_firmware_gsis(const struct x86_firmware_desc *desc, uint8_t *level)
{
	uint8_t mask = 0, lvl = 0;
	for (size_t d = 0; d < desc->ndevices; d++) {
		const struct resources *res = desc->devices[d];
		for (unsigned i = 0; i < res->nirqs; i++) {
			unsigned line = res->irqs[i].line;
			if (line < X86_ISA_IRQS || line >= X86_ISA_IRQS + 8)
				continue;
			mask |= (uint8_t)(1u << (line - X86_ISA_IRQS));
			if (res->irqs[i].level)
				lvl |= (uint8_t)(1u << (line - X86_ISA_IRQS));
		}
	}
	if (level)
		*level = lvl;
	return mask;
}
