#include "arch/x86/e820.h"

static void add_range(struct x86_e820_entry *map, unsigned *n, uint64_t start, uint64_t end,
		      uint32_t type)
{
	if (end > start && *n < X86_E820_MAX)
		map[(*n)++] = (struct x86_e820_entry){ .addr = start, .size = end - start,
						       .type = type };
}

unsigned x86_e820_map(uint64_t ram_below_4g, uint64_t ram_above_4g,
		      struct x86_e820_entry map[X86_E820_MAX])
{
	uint64_t low_end = ram_below_4g < X86_E820_LOW_RAM_END ? ram_below_4g
							       : X86_E820_LOW_RAM_END;
	unsigned n = 0;

	add_range(map, &n, 0, low_end, X86_E820_RAM);
	add_range(map, &n, X86_E820_LOW_RAM_END, X86_E820_BIOS_END, X86_E820_RESERVED);
	add_range(map, &n, X86_E820_BIOS_END, ram_below_4g, X86_E820_RAM);
	add_range(map, &n, X86_E820_HIGH_RAM, X86_E820_HIGH_RAM + ram_above_4g, X86_E820_RAM);
	return n;
}
