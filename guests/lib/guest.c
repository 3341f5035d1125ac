#include "guest.h"

void serial_putc(char c)
{
	while (!(inb(COM1 + 5) & 0x20))   /* wait for THR empty */
		;
	outb(COM1, (uint8_t)c);
}

void serial_puts(const char *s)
{
	while (*s)
		serial_putc(*s++);
}

void serial_put_hex(uint64_t value)
{
	static const char digits[] = "0123456789abcdef";
	serial_puts("0x");
	for (int shift = 60; shift >= 0; shift -= 4)
		serial_putc(digits[(value >> shift) & 0xf]);
}

void serial_put_dec(unsigned long value)
{
	char digits[20];
	int n = 0;
	do {
		digits[n++] = (char)('0' + value % 10);
		value /= 10;
	} while (value);
	while (n)
		serial_putc(digits[--n]);
}

void guest_exit(uint32_t code)
{
	__asm__ volatile("outl %0, %1" : : "a"(code), "Nd"((uint16_t)DEBUG_EXIT_PORT));
	for (;;)
		__asm__ volatile("hlt");
}
