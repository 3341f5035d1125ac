/* The PC's memory map as kvmini describes it to every guest that asks:
 * the Linux boot protocols (e820 table, PVH memmap), Multiboot's memory
 * map and fw_cfg's etc/e820 file all come from x86_e820_map(), so they
 * cannot disagree. A pure function of the RAM's layout: RAM from 0 up
 * to the device hole, and RAM from 4 GiB on. */
#ifndef KVMINI_ARCH_X86_E820_H
#define KVMINI_ARCH_X86_E820_H

#include <stdint.h>

#define X86_E820_LOW_RAM_END 0x9fc00ULL   /* 639 KiB: an EBDA would start here */
#define X86_E820_BIOS_END    0x100000ULL
#define X86_E820_HIGH_RAM    0x100000000ULL   /* where RAM above the hole starts */
#define X86_E820_RAM         1            /* E820_TYPE_RAM, XEN_HVM_MEMMAP_TYPE_RAM */
#define X86_E820_RESERVED    2
#define X86_E820_MAX         4

struct x86_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/* RAM below the EBDA, the reserved BIOS area, RAM from 1 MiB to the end
 * of the low RAM, RAM above 4 GiB; returns the number of entries. */
unsigned x86_e820_map(uint64_t ram_below_4g, uint64_t ram_above_4g,
		      struct x86_e820_entry map[X86_E820_MAX]);

#endif
