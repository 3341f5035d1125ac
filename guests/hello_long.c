/* Hello in 64-bit long mode: an ELF64 executable written in C. */
#include "guest.h"

int main(void)
{
	serial_puts("Hello from long mode!\n");
	for (;;)
		__asm__ volatile("hlt");   /* a halt ends the VM with status 0 */
}
