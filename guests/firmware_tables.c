/* Finds the firmware tables the way an OS does, with no help from the
 * VMM: scans for the MP floating pointer and the ACPI RSDP, checks every
 * checksum on the way, and reports the CPUs and the IOAPIC each table
 * describes. Then it believes the tables: it routes ISA IRQ 0 through
 * the IOAPIC pin they name (the 8259s masked) and counts PIT interrupts
 * there, and on every other pin. Needs --irqchip kernel; without tables
 * it says so and ends with main() = 2 (status 5). */
#include "guest.h"
#include "intr.h"

#define TICKS_WANTED 10
#define VECTOR_IRQ0  0x30
#define VECTOR_OTHER 0x31

struct found {
	unsigned cpus;
	uint32_t ioapic;
	unsigned ioapic_id;
	unsigned irq0_pin;     /* IOAPIC input of ISA IRQ 0 */
	int ok;
};

/* A physical address as a pointer (identity-mapped); the empty asm keeps
 * GCC from reasoning about small constant addresses. */
static const uint8_t *phys(uint64_t addr)
{
	__asm__("" : "+r"(addr));
	return (const uint8_t *)addr;
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

static uint8_t sum(const uint8_t *p, uint32_t len)
{
	uint8_t s = 0;
	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

static int same(const uint8_t *p, const char *sig, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (p[i] != (uint8_t)sig[i])
			return 0;
	return 1;
}

static void put_hex32(uint32_t v)
{
	static const char digits[] = "0123456789abcdef";
	serial_puts("0x");
	for (int shift = 28; shift >= 0; shift -= 4)
		serial_putc(digits[(v >> shift) & 0xf]);
}

static void report(const char *who, const struct found *f)
{
	serial_puts(who);
	serial_put_dec(f->cpus);
	serial_puts(" cpus, ioapic ");
	put_hex32(f->ioapic);
	serial_puts(" id ");
	serial_put_dec(f->ioapic_id);
	serial_putc('\n');
}

/* The EBDA's segment is at 0x40e in the BIOS data area (0: none). */
static uint64_t ebda(void)
{
	return (uint64_t)get16(phys(0x40e)) << 4;
}

/* ---- MPS 1.4 ---- */

static const uint8_t *mp_scan(uint64_t start, uint64_t len)
{
	for (uint64_t a = start; a + 16 <= start + len; a += 16) {
		const uint8_t *p = phys(a);
		if (same(p, "_MP_", 4) && p[8] >= 1 && sum(p, p[8] * 16u) == 0)
			return p;
	}
	return 0;
}

/* Where the MP spec says to look: the EBDA's first KiB, the last KiB of
 * base memory, the BIOS ROM area. */
static const uint8_t *mp_find(void)
{
	uint64_t base_kib = get16(phys(0x413));
	uint64_t top = (base_kib ? base_kib : 640) * 1024;
	const uint8_t *fp = ebda() ? mp_scan(ebda(), 1024) : 0;
	if (!fp)
		fp = mp_scan(top - 1024, 1024);
	if (!fp)
		fp = mp_scan(0xf0000, 0x10000);
	return fp;
}

static void mp_parse(const uint8_t *t, struct found *f)
{
	uint16_t count = get16(t + 34);
	const uint8_t *e = t + 44, *end = t + get16(t + 4);
	for (uint16_t i = 0; i < count && e < end; i++) {
		if (e[0] == 0 && (e[3] & 1))                       /* enabled processor */
			f->cpus++;
		if (e[0] == 2 && (e[3] & 1)) {                     /* enabled IOAPIC */
			f->ioapic = get32(e + 4);
			f->ioapic_id = e[1];
		}
		if (e[0] == 3 && e[1] == 0 && e[4] == 0 && e[5] == 0)  /* ISA IRQ 0, INT */
			f->irq0_pin = e[7];
		e += e[0] == 0 ? 20 : 8;
	}
}

static void mp_check(struct found *f)
{
	const uint8_t *fp = mp_find();
	if (!fp) {
		serial_puts("mp: no floating pointer\n");
		return;
	}
	const uint8_t *t = phys(get32(fp + 4));
	if (!same(t, "PCMP", 4) || sum(t, get16(t + 4)) != 0) {
		serial_puts("mp: bad configuration table\n");
		return;
	}
	mp_parse(t, f);
	f->ok = 1;
	report("mp: ", f);
}

/* ---- ACPI ---- */

static const uint8_t *rsdp_scan(uint64_t start, uint64_t len)
{
	for (uint64_t a = start; a + 36 <= start + len; a += 16) {
		const uint8_t *p = phys(a);
		if (same(p, "RSD PTR ", 8) && sum(p, 20) == 0 &&
		    (p[15] < 2 || sum(p, get32(p + 20)) == 0))
			return p;
	}
	return 0;
}

/* A table's header, after checking its checksum (0 when bad). */
static const uint8_t *acpi_table(uint64_t addr, const char *name)
{
	const uint8_t *t = phys(addr);
	if (sum(t, get32(t + 4)) != 0) {
		serial_puts("acpi: bad checksum in ");
		serial_puts(name);
		serial_putc('\n');
		return 0;
	}
	return t;
}

static void madt_parse(const uint8_t *t, struct found *f)
{
	const uint8_t *e = t + 44, *end = t + get32(t + 4);
	while (e + 2 <= end && e[1] >= 2) {
		if (e[0] == 0 && (get32(e + 4) & 1))     /* processor local APIC, enabled */
			f->cpus++;
		if (e[0] == 9 && (get32(e + 8) & 1))     /* processor local x2APIC, enabled */
			f->cpus++;
		if (e[0] == 1) {                         /* IOAPIC */
			f->ioapic = get32(e + 4);
			f->ioapic_id = e[2];
		}
		if (e[0] == 2 && e[2] == 0 && e[3] == 0) /* override of ISA IRQ 0 */
			f->irq0_pin = get32(e + 4);
		e += e[1];
	}
}

/* The FADT leads to the DSDT: check that checksum too. */
static int fadt_check(const uint8_t *fadt)
{
	uint64_t dsdt = get32(fadt + 4) >= 148 ? get64(fadt + 140) : 0;
	if (!dsdt)
		dsdt = get32(fadt + 40);
	const uint8_t *t = acpi_table(dsdt, "DSDT");
	return t && same(t, "DSDT", 4);
}

static void acpi_check(struct found *f)
{
	const uint8_t *rsdp = ebda() ? rsdp_scan(ebda(), 1024) : 0;
	if (!rsdp)
		rsdp = rsdp_scan(0xe0000, 0x20000);
	if (!rsdp) {
		serial_puts("acpi: no rsdp\n");
		return;
	}
	int xsdt = rsdp[15] >= 2 && get64(rsdp + 24);
	const uint8_t *sdt = acpi_table(xsdt ? get64(rsdp + 24) : get32(rsdp + 16),
					xsdt ? "XSDT" : "RSDT");
	if (!sdt)
		return;
	unsigned width = xsdt ? 8 : 4;
	int madt = 0, fadt_ok = 0;
	f->irq0_pin = 0;   /* no override: IRQ 0 is GSI 0 */
	for (uint32_t off = 36; off + width <= get32(sdt + 4); off += width) {
		uint64_t addr = xsdt ? get64(sdt + off) : get32(sdt + off);
		const uint8_t *t = acpi_table(addr, "a table of the XSDT");
		if (t && same(t, "APIC", 4)) {
			madt_parse(t, f);
			madt = 1;
		}
		if (t && same(t, "FACP", 4))
			fadt_ok = fadt_check(t);
	}
	if (!madt || !fadt_ok) {
		serial_puts(madt ? "acpi: no valid FADT and DSDT\n" : "acpi: no MADT\n");
		return;
	}
	f->ok = 1;
	report("acpi: ", f);
}

/* ---- IRQ 0 through the IOAPIC, where the tables say ---- */

static volatile unsigned irq0_ticks, other_ticks;

/* Counted up to TICKS_WANTED: one more may arrive between the loop's
 * last check and its cli on a slow host, and says nothing new. */
__attribute__((interrupt)) static void on_irq0(struct interrupt_frame *frame)
{
	(void)frame;
	if (irq0_ticks < TICKS_WANTED)
		irq0_ticks++;
	lapic_write(LAPIC_EOI, 0);
}

__attribute__((interrupt)) static void on_other(struct interrupt_frame *frame)
{
	(void)frame;
	other_ticks++;
	lapic_write(LAPIC_EOI, 0);
}

static void ioapic_write(uint32_t base, unsigned reg, uint32_t value)
{
	*(volatile uint32_t *)(uint64_t)base = reg;
	*(volatile uint32_t *)(uint64_t)(base + 0x10) = value;
}

static uint32_t ioapic_read(uint32_t base, unsigned reg)
{
	*(volatile uint32_t *)(uint64_t)base = reg;
	return *(volatile uint32_t *)(uint64_t)(base + 0x10);
}

/* The IOAPIC's own ID register (bits 24-27; the split chip keeps 8)
 * against the ID both tables give it. */
static int ioapic_id_check(const struct found *f)
{
	unsigned id = ioapic_read(f->ioapic, 0) >> 24;
	serial_puts("ioapic: id register ");
	serial_put_dec(id);
	serial_putc('\n');
	return id == f->ioapic_id;
}

/* Every pin to this CPU (physical APIC ID 0), edge, active high:
 * IRQ 0's pin to one vector, all others to another. */
static void route_pins(uint32_t ioapic, unsigned irq0_pin, int masked)
{
	for (unsigned pin = 0; pin < 24; pin++) {
		uint32_t vector = pin == irq0_pin ? VECTOR_IRQ0 : VECTOR_OTHER;
		ioapic_write(ioapic, 0x10 + 2 * pin, vector | (masked ? 1u << 16 : 0));
		ioapic_write(ioapic, 0x11 + 2 * pin, 0);
	}
}

static void timer_check(const struct found *f)
{
	idt_set(VECTOR_IRQ0, on_irq0);
	idt_set(VECTOR_OTHER, on_other);
	pic_init();                          /* masks every 8259 input */
	lapic_write(LAPIC_SVR, 0x1ff);
	route_pins(f->ioapic, f->irq0_pin, 0);
	pit_start(1000);
	while (irq0_ticks < TICKS_WANTED && other_ticks < TICKS_WANTED)
		sti_hlt();
	cli();
	route_pins(f->ioapic, f->irq0_pin, 1);
	serial_puts("timer: irq 0 at ioapic pin ");
	serial_put_dec(f->irq0_pin);
	serial_puts(": ");
	serial_put_dec(irq0_ticks);
	serial_puts(" interrupts, ");
	serial_put_dec(other_ticks);
	serial_puts(" on other pins\n");
}

int main(void)
{
	struct found mp = { 0 }, acpi = { 0 };
	mp_check(&mp);
	acpi_check(&acpi);
	if (!mp.ok || !acpi.ok)
		return 2;
	if (mp.irq0_pin != acpi.irq0_pin || mp.ioapic != acpi.ioapic ||
	    mp.ioapic_id != acpi.ioapic_id) {
		serial_puts("the MP and ACPI tables disagree about IRQ 0 or the IOAPIC\n");
		return 3;
	}
	if (!ioapic_id_check(&acpi)) {
		serial_puts("the IOAPIC's ID register disagrees with the tables\n");
		return 4;
	}
	timer_check(&acpi);
	return 0;
}
