/* QEMU's pci-testdev (1b36:0005) as kvm-unit-tests drives it, run with
 * --testdev: find it on bus 0 through configuration mechanism #1, size
 * and decode its BARs (0 memory, 1 I/O), turn decoding on, and through
 * each BAR run every test it lists: select it, read its header (count
 * 0, width, offset, data, name), write once a value that is not its
 * data, then its data 16 times at its offset, and read the count (the
 * wildcard test counts the stray write too). One line per test and per
 * BAR; a mismatch prints why and ends with status 5 (debug-exit 2).
 * Long mode, ELF64 (the hole below 4 GiB is identity-mapped). */
#include <stdbool.h>
#include "guest.h"

#define TESTDEV_ID 0x00051b36u
#define WRITES     16
#define MAX_TESTS  8


__attribute__((noreturn)) static void fail(const char *why)
{
	serial_puts("FAIL: ");
	serial_puts(why);
	serial_putc('\n');
	guest_exit(2);
}

/* One BAR, by port or memory: byte reads, and writes of 1, 2 or 4. */
struct bar {
	bool io;
	uint64_t base;
};

static uint8_t bar_read8(const struct bar *b, unsigned off)
{
	if (b->io)
		return inb((uint16_t)(b->base + off));
	return *(volatile uint8_t *)(b->base + off);
}

static uint32_t bar_read32(const struct bar *b, unsigned off)
{
	if (b->io)
		return inl((uint16_t)(b->base + off));
	return *(volatile uint32_t *)(b->base + off);
}

static void bar_write(const struct bar *b, unsigned off, uint32_t v, unsigned width)
{
	uint16_t port = (uint16_t)(b->base + off);
	if (b->io) {
		if (width == 1)
			outb(port, (uint8_t)v);
		else if (width == 2)
			outw(port, (uint16_t)v);
		else
			outl(port, v);
		return;
	}
	if (width == 1)
		*(volatile uint8_t *)(b->base + off) = (uint8_t)v;
	else if (width == 2)
		*(volatile uint16_t *)(b->base + off) = (uint16_t)v;
	else
		*(volatile uint32_t *)(b->base + off) = v;
}

/* Size a BAR the PCI way: all-ones in, the size mask out, value back. */
static uint32_t bar_size(unsigned slot, unsigned reg, uint32_t low_bits)
{
	uint32_t v = cf8_read(slot, reg);
	cf8_write(slot, reg, 0xffffffffu);
	uint32_t mask = cf8_read(slot, reg) & ~low_bits;
	cf8_write(slot, reg, v);
	return ~mask + 1;
}

/* Test `nr` of the BAR; false when the BAR lists no such test. */
static bool test_run(const struct bar *b, unsigned nr, uint32_t size)
{
	bar_write(b, 0, nr, 1);
	unsigned width = bar_read8(b, 1);
	if (width == 0)
		return false;
	if (bar_read8(b, 0) != nr)
		fail("test number");
	if (bar_read32(b, 12) != 0)
		fail("count not 0 at the start");
	if (width != 1 && width != 2 && width != 4)
		fail("width");
	uint32_t off = bar_read32(b, 4), data = bar_read32(b, 8);
	if (off < 64 || off + width > size)
		fail("offset outside the BAR");
	char name[32];
	unsigned n = 0;
	while (n < sizeof(name) - 1 && (name[n] = (char)bar_read8(b, 16 + n)))
		n++;
	name[n] = 0;
	bar_write(b, off, data ^ 1, width);
	for (unsigned i = 0; i < WRITES; i++)
		bar_write(b, off, data, width);
	serial_puts(name);
	serial_puts(": width ");
	serial_put_dec(width);
	serial_puts(", data ");
	serial_put_dec(data);
	serial_puts(", count ");
	serial_put_dec(bar_read32(b, 12));
	serial_putc('\n');
	return true;
}

static void bar_run(const struct bar *b, const char *what, uint32_t size)
{
	unsigned n = 0;
	while (n < MAX_TESTS && test_run(b, n, size))
		n++;
	serial_puts(what);
	serial_puts(": ");
	serial_put_dec(n);
	serial_puts(" tests\n");
}

int main(void)
{
	unsigned slot = 0;
	while (slot < 32 && cf8_read(slot, 0) != TESTDEV_ID)
		slot++;
	if (slot == 32)
		fail("no 1b36:0005 on bus 0");
	if (cf8_read(slot, 0x3c) >> 8 & 0xff)
		fail("an interrupt pin");
	uint32_t bar0 = cf8_read(slot, 0x10), bar1 = cf8_read(slot, 0x14);
	if ((bar0 & 1) || !(bar1 & 1))
		fail("BAR 0 memory, BAR 1 I/O");
	uint32_t size0 = bar_size(slot, 0x10, 0xf), size1 = bar_size(slot, 0x14, 0x3);
	serial_puts("pci-testdev: mmio ");
	serial_put_dec(size0);
	serial_puts(" bytes, portio ");
	serial_put_dec(size1);
	serial_puts(" ports\n");
	cf8_write(slot, 0x04, 0x3);   /* I/O and memory decode */
	struct bar mem = { false, bar0 & ~0xfu }, io = { true, bar1 & ~0x3u };
	bar_run(&mem, "mmio", size0);
	bar_run(&io, "portio", size1);
	return 0;
}
