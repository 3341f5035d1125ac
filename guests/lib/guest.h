/* The tiny freestanding runtime of kvmini's C guests: port I/O, a
 * polling COM1 writer and the debug-exit door. */
#ifndef KVMINI_GUEST_H
#define KVMINI_GUEST_H

#include <stdint.h>

#define COM1 0x3f8
#define DEBUG_EXIT_PORT 0xf4

static inline void outb(uint16_t port, uint8_t value)
{
	__asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t value;
	__asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
	return value;
}

static inline void outw(uint16_t port, uint16_t value)
{
	__asm__ volatile("outw %0, %1" : : "a"(value), "Nd"(port));
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t value;
	__asm__ volatile("inw %1, %0" : "=a"(value) : "Nd"(port));
	return value;
}

static inline void outl(uint16_t port, uint32_t value)
{
	__asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port));
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t value;
	__asm__ volatile("inl %1, %0" : "=a"(value) : "Nd"(port));
	return value;
}

/* PCI configuration mechanism #1, bus 0, function 0 of SLOT. */
static inline uint32_t cf8_read(unsigned slot, unsigned reg)
{
	outl(0xcf8, 0x80000000u | slot << 11 | (reg & 0xfc));
	return inl(0xcfc);
}

static inline void cf8_write(unsigned slot, unsigned reg, uint32_t v)
{
	outl(0xcf8, 0x80000000u | slot << 11 | (reg & 0xfc));
	outl(0xcfc, v);
}

/* The value of a hex digit, or -1 (guests parse their command lines). */
static inline int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void serial_putc(char c);
void serial_puts(const char *s);
void serial_put_hex(uint64_t value);
/* unsigned long: 64 bits in long mode, 32 in the 32-bit guests, which
 * have no libgcc for 64-bit division. */
void serial_put_dec(unsigned long value);
/* Ends the VM: kvmini exits with status (code << 1) | 1. */
__attribute__((noreturn)) void guest_exit(uint32_t code);

#endif
