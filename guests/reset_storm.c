/* The reset storm (issue 14, run with --on-reset restart): counts its
 * boots in CMOS byte 0x41 (which outlives a restart, as battery-backed
 * CMOS does) and resets the machine again through the next path in
 * turn -- port 0xcf9, the i8042's 0xfe, a triple fault, port 0x92's
 * fast reset, and the FADT's reset register -- each time with every
 * timer running flat out and interrupts on, so kvmini tears a busy VM
 * down. Each boot checks that RAM came back fresh. After STORM_BOOTS
 * boots it ends with debug-exit STORM_BOOTS (status 2 * 40 + 1 = 81). */
#include "guest.h"
#include "intr.h"
#include "cmos.h"

#define BOOT_COUNTER 0x41
#define STORM_BOOTS  40
/* Above the image and far below the stack; no image byte lands here. */
#define RAM_MARKER ((volatile uint32_t *)0x300000)
#define HPET 0xfed00000UL
#define IOAPIC 0xfec00000UL

static volatile unsigned long interrupts;

struct interrupt_frame;

__attribute__((interrupt)) static void on_interrupt(struct interrupt_frame *f)
{
	(void)f;
	interrupts++;
	outb(0xa0, 0x20);
	outb(0x20, 0x20);
	lapic_write(LAPIC_EOI, 0);
}

static void ioapic_route(unsigned gsi, uint32_t low)
{
	*(volatile uint32_t *)IOAPIC = 0x10 + 2 * gsi;
	*(volatile uint32_t *)(IOAPIC + 0x10) = low;
}

/* Every timer at its fastest, every line open: the reset lands in the
 * middle of interrupt delivery. */
static void timers_start(void)
{
	for (unsigned v = 0x20; v < 0x100; v++)
		idt_set((uint8_t)v, on_interrupt);
	pic_init();
	outb(0x21, 0xfa);                        /* PIT and cascade */
	outb(0xa1, 0xfe);                        /* RTC */
	lapic_write(LAPIC_SVR, 0x1ff);
	for (unsigned gsi = 0; gsi < 24; gsi++)
		ioapic_route(gsi, 0x30 + gsi);
	outb(0x43, 0x34);
	outb(0x40, 2);
	outb(0x40, 0);
	outb(0x70, 0x0a);
	outb(0x71, 0x23);                        /* RTC: 8192 Hz */
	outb(0x70, 0x0b);
	outb(0x71, 0x40 | 0x10 | 0x02);
	lapic_write(LAPIC_TIMER_DIVIDE, 0xb);    /* divide by 1 */
	lapic_write(LAPIC_LVT_TIMER, 0x20000 | 0xe0);   /* periodic */
	lapic_write(LAPIC_TIMER_INIT, 1000);
	*(volatile uint64_t *)(HPET + 0x10) = 0;
	for (unsigned t = 0; t < 3; t++) {
		volatile uint64_t *timer = (volatile uint64_t *)(HPET + 0x100 + 0x20 * t);
		timer[0] = (1u << 2) | (1u << 3) | (1u << 6) | ((uint64_t)(t + 5) << 9);
		timer[1] = 100;
		timer[1] = 100;
	}
	*(volatile uint64_t *)(HPET + 0x10) = 1;
	sti();
	/* Until the storm is well under way (bounded: a timer that never
	 * fires is not what this guest tests). */
	for (unsigned long spin = 0; spin < 10000000UL && interrupts < 50; spin++)
		__asm__ volatile("pause");
}

static int same(uint64_t a, const char *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (*(volatile uint8_t *)(a + i) != (uint8_t)b[i])
			return 0;
	return 1;
}

static uint32_t read32(uint64_t a)
{
	return *(volatile uint32_t *)a;
}

/* The FADT through the XSDT (8-byte entries; kvmini's RSDP has no
 * RSDT) or the RSDT (4-byte entries), or 0. */
static uint64_t fadt_find(void)
{
	for (uint64_t p = 0xe0000; p < 0x100000; p += 16) {
		if (!same(p, "RSD PTR ", 8))
			continue;
		uint64_t xsdt = *(volatile uint8_t *)(p + 15) >= 2 ? read32(p + 24) : 0;
		uint64_t sdt = xsdt ? xsdt : read32(p + 16);
		unsigned entry = xsdt ? 8 : 4;
		uint32_t len = sdt ? read32(sdt + 4) : 0;
		for (uint32_t off = 36; off + entry <= len && off < 4096; off += entry)
			if (same(read32(sdt + off), "FACP", 4))
				return read32(sdt + off);   /* below 4 GiB: kvmini's are */
	}
	return 0;
}

/* The FADT's reset register (an I/O port on kvmini), if it has one. */
static void reset_acpi(void)
{
	uint64_t fadt = fadt_find();
	if (!fadt || !(read32(fadt + 112) & (1u << 10))) {
		serial_puts("no ACPI reset register\n");
		return;
	}
	volatile uint8_t *gas = (volatile uint8_t *)(fadt + 116);
	uint64_t addr = read32(fadt + 120) | (uint64_t)read32(fadt + 124) << 32;
	if (gas[0] != 1 || addr > 0xffff) {
		serial_puts("ACPI reset register not an I/O port\n");
		return;
	}
	outb((uint16_t)addr, *(volatile uint8_t *)(fadt + 128));
}

/* With no IDT the #UD cannot be delivered, nor what follows: shutdown. */
static void triple_fault(void)
{
	static const struct { uint16_t limit; uint64_t base; } __attribute__((packed)) no_idt;
	__asm__ volatile("lidt %0\n\tud2" : : "m"(no_idt));
}

static void reset_through(unsigned path)
{
	static const char *const names[] = {
		"port 0xcf9", "the i8042", "a triple fault", "port 0x92", "the ACPI reset register",
	};
	serial_puts("resetting through ");
	serial_puts(names[path]);
	serial_putc('\n');
	timers_start();
	switch (path) {
	case 0:
		outb(0xcf9, 0x02);
		outb(0xcf9, 0x06);
		break;
	case 1:
		while (inb(0x64) & 0x02)
			;
		outb(0x64, 0xfe);
		break;
	case 2:
		triple_fault();
		break;
	case 3:
		outb(0x92, inb(0x92) & (uint8_t)~1);
		outb(0x92, inb(0x92) | 1);
		break;
	default:
		reset_acpi();
		break;
	}
}

int main(void)
{
	uint8_t boot = (uint8_t)(cmos_read(BOOT_COUNTER) + 1);
	cmos_write(BOOT_COUNTER, boot);
	serial_puts("boot ");
	serial_put_dec(boot);
	if (*RAM_MARKER) {
		serial_puts(": RAM kept from the last boot\n");
		return 100;
	}
	serial_puts(": RAM fresh\n");
	if (boot >= STORM_BOOTS)
		return boot;
	*RAM_MARKER = 0x600dd00d;
	reset_through(boot % 5);
	cli();
	serial_puts("the reset did not happen\n");
	return 101;
}
