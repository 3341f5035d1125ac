/* The guest of the gdb tests (tests/integration/gdb.bats): a loop that
 * calls a function with a local variable and prints each result on COM1.
 * Globals give gdb handles: change `scale` and the output changes, set
 * `spin` and the guest loops until gdb clears it (to interrupt it),
 * watch `counter` (written once per call). Built with -g like every C
 * guest; the volatile qualifiers keep each value in memory, where gdb can
 * see it even at -O2. */
#include "guest.h"

volatile int iterations = 3;
volatile int scale = 10;
volatile int spin;
volatile long counter;

static void put_decimal(unsigned long value)
{
	char digits[24];
	int n = 0;
	do {
		digits[n++] = (char)('0' + value % 10);
		value /= 10;
	} while (value);
	while (n > 0)
		serial_putc(digits[--n]);
}

__attribute__((noinline)) int compute(int n)
{
	volatile int local = n * scale + 1;
	counter = counter + 1;
	return local;
}

__attribute__((noinline)) void wait_while_spinning(void)
{
	/* Announce the loop, so a test knows gdb has let the guest run. */
	if (spin)
		serial_puts("gdb_target: spinning\n");
	while (spin)
		;
}

int main(void)
{
	serial_puts("gdb_target: start\n");
	for (int i = 0; i < iterations; i++) {
		wait_while_spinning();
		int value = compute(i);
		serial_puts("value ");
		put_decimal((unsigned long)value);
		serial_putc('\n');
	}
	serial_puts("gdb_target: done\n");
	return 0;
}
