/* Resets the machine through one path, chosen when it is built:
 * RESET_VIA_i8042 (command 0xfe at port 0x64), RESET_VIA_port92 (a rising
 * edge of bit 0 at port 0x92) or RESET_VIA_cf9 (bit 2 at port 0xcf9). */
#include "guest.h"

#define I8042_STATUS 0x64
#define I8042_INPUT_FULL 0x02

int main(void)
{
#if defined(RESET_VIA_i8042)
	serial_puts("resetting through the i8042\n");
	while (inb(I8042_STATUS) & I8042_INPUT_FULL)
		;
	outb(I8042_STATUS, 0xfe);
#elif defined(RESET_VIA_port92)
	uint8_t value = inb(0x92);
	serial_puts(value & 0x02 ? "resetting through port 0x92 (A20 on)\n"
				 : "resetting through port 0x92 (A20 off)\n");
	outb(0x92, value & (uint8_t)~0x01);
	outb(0x92, value | 0x01);
#elif defined(RESET_VIA_cf9)
	serial_puts("resetting through port 0xcf9\n");
	outb(0xcf9, 0x02);   /* choose a hard reset, then start it */
	outb(0xcf9, 0x06);
#else
#error "build with -DRESET_VIA_i8042, -DRESET_VIA_port92 or -DRESET_VIA_cf9"
#endif
	serial_puts("the reset did not happen\n");
	return 1;
}
