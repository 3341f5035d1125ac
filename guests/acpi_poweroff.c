/* Powers the machine off the way an ACPI OS does: SLP_TYP 5 (\_S5) and
 * SLP_EN written to the PM1a control block the FADT names (0x604). */
#include "guest.h"

int main(void)
{
	serial_puts("entering S5\n");
	__asm__ volatile("outw %0, %1" : : "a"((uint16_t)((5 << 10) | (1 << 13))), "Nd"((uint16_t)0x604));
	serial_puts("still running after S5\n");
	return 1;
}
