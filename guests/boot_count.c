/* Counts its boots in CMOS byte 0x40, which survives a reset. On its
 * first boot it marks RAM and resets through the i8042 (built with
 * -DRESET_BY_TRIPLE_FAULT: by a triple fault); on the second it checks
 * that RAM came back fresh and ends with status (2 << 1) | 1 = 5.
 * Run with --on-reset restart. */
#include "guest.h"
#include "intr.h"
#include "cmos.h"

#define BOOT_COUNTER 0x40
/* Above the image and far below the stack; no image byte lands here. */
#define RAM_MARKER ((volatile uint32_t *)0x300000)

#ifdef RESET_BY_TRIPLE_FAULT
/* With no IDT the #UD cannot be delivered, nor the #GP or #DF that
 * follow: the CPU shuts down, which resets a PC. */
static void triple_fault(void)
{
	static const struct { uint16_t limit; uint64_t base; } __attribute__((packed)) no_idt;
	__asm__ volatile("lidt %0\n\tud2" : : "m"(no_idt));
}
#endif

int main(void)
{
	uint8_t boot = (uint8_t)(cmos_read(BOOT_COUNTER) + 1);
	cmos_write(BOOT_COUNTER, boot);
	serial_puts("boot ");
	serial_put_dec(boot);
	serial_puts(*RAM_MARKER ? ": RAM kept from the last boot\n" : ": RAM fresh\n");
	if (boot == 1) {
		*RAM_MARKER = 0x600dd00d;
#ifdef RESET_BY_TRIPLE_FAULT
		serial_puts("triple-faulting\n");
		triple_fault();
#else
		serial_puts("asking for a reset\n");
		outb(0x64, 0xfe);
#endif
		serial_puts("the reset did not happen\n");
		return 100;
	}
	return boot;
}
