/* Reads the MSRs kvmini sets at boot that are not 0 on a PC:
 * IA32_MISC_ENABLE's fast-strings bit and IA32_MTRR_DEF_TYPE. */
#include "guest.h"

static uint64_t rdmsr(uint32_t index)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(index));
	return (uint64_t)hi << 32 | lo;
}

int main(void)
{
	serial_puts("misc_enable.fast_strings=");
	serial_putc(rdmsr(0x1a0) & 1 ? '1' : '0');
	serial_puts(" mtrr_def_type=");
	serial_put_hex(rdmsr(0x2ff));
	serial_putc('\n');
	return 0;
}
