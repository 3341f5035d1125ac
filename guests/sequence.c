/* A long deterministic sequence for the snapshot tests: "ready", then
 * the lines "0", "1", "2", ... for ever, each computed from the last
 * (an LCG, so the state lives in registers and memory the snapshot must
 * carry). A run cut by a snapshot and continued from it must print
 * exactly what an uninterrupted run prints. */
#include "guest.h"

int main(void)
{
	serial_puts("ready\n");
	unsigned long x = 1;
	for (unsigned long n = 0;; n++) {
		x = x * 6364136223846793005ul + 1442695040888963407ul;
		serial_put_dec(n);
		serial_putc(' ');
		serial_put_dec(x >> 48);
		serial_putc('\n');
	}
}
