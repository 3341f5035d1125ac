/* MMIO exits: a read of an address in the device hole where nothing is
 * mapped must return all-ones; then a write there (ignored unless
 * --strict-io). Long mode, ELF64. */
#include "guest.h"

#define UNCLAIMED_MMIO 0xd0000000UL

int main(void)
{
	volatile uint32_t *reg = (volatile uint32_t *)UNCLAIMED_MMIO;
	uint32_t value = *reg;
	serial_puts("mmio read ");
	serial_put_hex(value);
	serial_putc('\n');
	*reg = 0x12345678;
	serial_puts("mmio write done\n");
	return value == 0xffffffffu ? 0 : 1;
}
