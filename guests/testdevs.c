/* What a kernel written for QEMU's PC finds (issue 15), checked from
 * inside: fw_cfg read by DMA (the ID, the signature, the file directory
 * naming etc/e820, a hostile descriptor answered with ERROR), the HPET
 * (its capabilities, a running counter, a comparator in legacy
 * replacement mode interrupting on IRQ 0), and the CMOS RTC (its
 * periodic interrupt on IRQ 8 at no more than its rate, measured on the
 * HPET, and UIP going up and down once a second); with --testdev,
 * pc-testdev's ports 0x2000+n raising and lowering every ISA line but
 * the cascade, each counted once by its own handler through the 8259s.
 * Each part prints one line; any mismatch prints why and ends with
 * status 5 (debug-exit 2).
 * Needs an irqchip (--irqchip kernel or split): the 8259s deliver.
 * Built with RESET_FIRST (testdevs_restart.elf) it first resets the
 * machine once, marking CMOS byte 0x41 (which survives): under
 * --on-reset restart the second boot's checks prove that the RTC, which
 * outlives the reset, raises the new boot's IRQ 8. */
#include "guest.h"
#include "intr.h"
#include "cmos.h"

#define HPET ((volatile uint64_t *)0xfed00000UL)
#define HPET_CAP     (0x000 / 8)
#define HPET_CONFIG  (0x010 / 8)
#define HPET_COUNTER (0x0f0 / 8)
#define HPET_T0_CONF (0x100 / 8)
#define HPET_T0_CMP  (0x108 / 8)
#define HPET_TICKS_PER_MS 100000ULL   /* 10 ns a tick, as the capabilities say */
#define SECOND (1000 * HPET_TICKS_PER_MS)

#define FW_CFG_SEL 0x510
#define FW_CFG_DMA_HI 0x514
#define FW_CFG_DMA_LO 0x518

#define RTC_RATE_256HZ 0x28   /* divider 32.768 kHz, rate 8 */
#define RTC_PERIODS 32

static volatile unsigned hpet_irqs, rtc_irqs;
static volatile uint64_t rtc_first, rtc_last;

__attribute__((noreturn)) static void fail(const char *why)
{
	serial_puts("FAIL: ");
	serial_puts(why);
	serial_puts("\n");
	guest_exit(2);
}

static uint32_t bswap32(uint32_t v)
{
	return __builtin_bswap32(v);
}

/* ---- fw_cfg by DMA ---- */

struct dma_access {
	uint32_t control, length;
	uint64_t address;
} __attribute__((packed));

static struct dma_access desc __attribute__((aligned(16)));
static uint8_t buf[4 + 64 * 8];

/* One descriptor, big-endian, kicked by the two address halves; returns
 * the control word the device wrote back. */
static uint32_t dma(uint32_t control, uint32_t length, uint64_t address)
{
	desc.control = bswap32(control);
	desc.length = bswap32(length);
	desc.address = __builtin_bswap64(address);
	uint64_t at = (uint64_t)&desc;
	/* The device reads and writes memory behind the compiler's back. */
	__asm__ volatile("" ::: "memory");
	outl(FW_CFG_DMA_HI, bswap32((uint32_t)(at >> 32)));
	outl(FW_CFG_DMA_LO, bswap32((uint32_t)at));
	__asm__ volatile("" ::: "memory");
	return bswap32(*(volatile uint32_t *)&desc.control);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int same(const uint8_t *a, const char *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (a[i] != (uint8_t)b[i])
			return 0;
	return 1;
}

static void check_fw_cfg(void)
{
	uint8_t id[4];
	if (dma(0x01u << 16 | 0x08 | 0x02, 4, (uint64_t)id) != 0 || !(id[0] & 2))
		fail("fw_cfg: the ID does not offer DMA");
	if (dma(0x00u << 16 | 0x08 | 0x02, 4, (uint64_t)buf) != 0 || !same(buf, "QEMU", 4))
		fail("fw_cfg: no QEMU signature by DMA");
	if (dma(0x19u << 16 | 0x08 | 0x02, sizeof(buf), (uint64_t)buf) != 0)
		fail("fw_cfg: the file directory");
	uint32_t files = be32(buf);
	int e820 = 0;
	for (uint32_t i = 0; i < files && i < 8; i++)
		e820 |= same(buf + 4 + i * 64 + 8, "etc/e820", 9);
	if (!e820)
		fail("fw_cfg: etc/e820 is not in the directory");
	if (dma(0x08 | 0x02, 16, 0xfed00000ULL - 8) != 1)   /* not RAM: ERROR */
		fail("fw_cfg: a buffer outside RAM was not refused");
	if (dma(0x10, 4, (uint64_t)buf) != 1)
		fail("fw_cfg: a write was not refused");
	serial_puts("fw_cfg: dma ok, ");
	serial_put_dec(files);
	serial_puts(" file\n");
}

/* ---- HPET ---- */

__attribute__((interrupt)) static void on_irq0(struct interrupt_frame *frame)
{
	(void)frame;
	hpet_irqs++;
	pic_eoi(0);
}

static void check_hpet(void)
{
	uint64_t cap = HPET[HPET_CAP];
	if ((cap >> 32) != 10000000u || !(cap & (1u << 15)) || ((cap >> 8) & 0x1f) != 2)
		fail("hpet: capabilities");
	HPET[HPET_CONFIG] = 1;                          /* ENABLE */
	uint64_t c0 = HPET[HPET_COUNTER];
	while (HPET[HPET_COUNTER] == c0)
		;
	HPET[HPET_CONFIG] = 3;                          /* ENABLE | LEG_RT: timer 0 is IRQ 0 */
	HPET[HPET_T0_CONF] = 1u << 2;                   /* one-shot, edge, interrupt on */
	HPET[HPET_T0_CMP] = HPET[HPET_COUNTER] + HPET_TICKS_PER_MS;
	pic_unmask(0);
	while (!hpet_irqs)
		sti_hlt();
	cli();
	if (HPET[HPET_COUNTER] < HPET[HPET_T0_CMP])
		fail("hpet: the interrupt came before the counter reached the comparator");
	HPET[HPET_T0_CONF] = 0;
	HPET[HPET_CONFIG] = 1;   /* legacy replacement off: IRQ 8 is the RTC's again */
	serial_puts("hpet: counter runs, comparator interrupt on IRQ 0\n");
}

/* ---- RTC ---- */

__attribute__((interrupt)) static void on_irq8(struct interrupt_frame *frame)
{
	(void)frame;
	if (cmos_read(0x0c) & 0x40) {                   /* PF; reading C ends the interrupt */
		uint64_t now = HPET[HPET_COUNTER];
		if (!rtc_irqs)
			rtc_first = now;
		rtc_last = now;
		rtc_irqs++;
	}
	pic_eoi(8);
}

static void check_rtc_periodic(void)
{
	cmos_write(0x0a, RTC_RATE_256HZ);
	cmos_read(0x0c);
	cmos_write(0x0b, cmos_read(0x0b) | 0x40);        /* PIE */
	pic_unmask(8);
	while (rtc_irqs < RTC_PERIODS)
		sti_hlt();
	cli();
	cmos_write(0x0b, cmos_read(0x0b) & ~0x40);
	/* 31 periods of 1/256 s between the first and the last: at least
	 * three quarters of that, so a first interrupt delivered late on a
	 * loaded host passes while twice the rate (512 Hz) still fails. */
	if (rtc_last - rtc_first < (RTC_PERIODS - 1) * SECOND / 256 * 3 / 4)
		fail("rtc: periodic interrupts came faster than the rate");
	serial_puts("rtc: ");
	serial_put_dec(RTC_PERIODS);
	serial_puts(" periodic interrupts on IRQ 8\n");
}

/* UIP rises then falls within ten seconds of the HPET. UIP shows for
 * only 244 us a second, so each sample is one exit: register A stays
 * selected and is read with one inb; the HPET is read every 64 samples.
 * Ten chances, not one: where exits are slow and the host is busy (the
 * nested KVM VM) a second's window can fall between two samples. */
static void check_rtc_uip(void)
{
	uint64_t end = HPET[HPET_COUNTER] + 10 * SECOND;
	int rose = 0, fell = 0;
	outb(CMOS_INDEX, 0x0a);
	for (unsigned i = 0; !fell; i++) {
		if ((i & 63) == 0 && HPET[HPET_COUNTER] >= end)
			break;
		if (inb(CMOS_DATA) & 0x80)
			rose = 1;
		else if (rose)
			fell = 1;
	}
	if (!fell)
		fail("rtc: UIP did not toggle");
	serial_puts("rtc: update in progress toggles\n");
}

/* ---- pc-testdev's ISA lines (only with --testdev) ---- */

static volatile unsigned line_irqs[16];

#define LINE_HANDLER(n)                                                        \
	__attribute__((interrupt)) static void on_line##n(struct interrupt_frame *f) \
	{                                                                      \
		(void)f;                                                       \
		line_irqs[n]++;                                                \
		pic_eoi(n);                                                    \
	}
LINE_HANDLER(0) LINE_HANDLER(1) LINE_HANDLER(3) LINE_HANDLER(4) LINE_HANDLER(5)
LINE_HANDLER(6) LINE_HANDLER(7) LINE_HANDLER(8) LINE_HANDLER(9) LINE_HANDLER(10)
LINE_HANDLER(11) LINE_HANDLER(12) LINE_HANDLER(13) LINE_HANDLER(14) LINE_HANDLER(15)

static interrupt_handler *const line_handlers[16] = {
	on_line0, on_line1, 0, on_line3, on_line4, on_line5, on_line6, on_line7,
	on_line8, on_line9, on_line10, on_line11, on_line12, on_line13, on_line14, on_line15,
};

static int testdev_present(void)
{
	outl(0xe0, 0x5a5aa5a5);
	return inl(0xe0) == 0x5a5aa5a5;
}

/* Raise line n, wait (on the HPET, at most a second) for its handler,
 * lower it: one interrupt per edge. */
static void check_testdev_lines(void)
{
	unsigned lines = 0;
	for (unsigned n = 0; n < 16; n++) {
		if (!line_handlers[n])
			continue;   /* IRQ 2: the cascade */
		idt_set(PIC_VECTOR_BASE + n, line_handlers[n]);
		pic_unmask(n);
	}
	for (unsigned n = 0; n < 16; n++) {
		if (!line_handlers[n])
			continue;
		uint64_t end = HPET[HPET_COUNTER] + SECOND;
		outb(0x2000 + n, 1);
		while (!line_irqs[n] && HPET[HPET_COUNTER] < end)
			sti_hlt();
		cli();
		outb(0x2000 + n, 0);
		if (line_irqs[n] != 1)
			fail("testdev: a line's handler did not count exactly one interrupt");
		lines++;
	}
	serial_puts("testdev: ");
	serial_put_dec(lines);
	serial_puts(" ISA lines raised and lowered\n");
}

#ifdef RESET_FIRST
#define RESET_MARK_REG 0x41
#define RESET_MARK 0x5a

/* The first boot marks the CMOS and resets through port 0xcf9. */
static void reset_once(void)
{
	if (cmos_read(RESET_MARK_REG) == RESET_MARK) {
		serial_puts("second boot\n");
		return;
	}
	cmos_write(RESET_MARK_REG, RESET_MARK);
	outb(0xcf9, 0x06);
	fail("the reset did not happen");
}
#endif

int main(void)
{
#ifdef RESET_FIRST
	reset_once();
#endif
	idt_set(PIC_VECTOR_BASE + 0, on_irq0);
	idt_set(PIC_VECTOR_BASE + 8, on_irq8);
	pic_init();
	check_fw_cfg();
	check_hpet();
	check_rtc_periodic();
	check_rtc_uip();
	if (testdev_present())
		check_testdev_lines();
	return 0;
}
