/* An ACPI S3 round trip as an OS makes it: find the FACS through the
 * RSDP, XSDT (or RSDT) and FADT, write a real-mode waking vector there (the stub
 * of guests/acpi_s3_wake.S, copied to 0x8000), arm the RTC alarm two
 * seconds ahead with its interrupt enabled, set RTC_EN in PM1_EN and
 * write SLP_TYP 3 (\_S3) with SLP_EN to PM1_CNT, at the ports the FADT
 * names. After the wake it reports the CS it woke with, WAK_STS and
 * RTC_STS, and whether a value in RAM survived, then ends through
 * debug-exit: status 1 when all is as ACPI says, 5 otherwise. Built with
 * -DNO_WAKE it leaves RTC_EN clear, so nothing may wake it. */
#include "guest.h"
#include "cmos.h"

#define WAKE_VECTOR 0x8000
#define MAGIC 0x5ee95eed5ee95eedULL
#define PM1_STS_RTC (1u << 10)
#define PM1_STS_WAK (1u << 15)
#define PM1_CNT_SLP_EN (1u << 13)
#define SLP_TYP_S3 3u

extern const uint8_t s3_wake[], s3_wake_end[], s3_woke_cs[];

static volatile uint64_t magic;
static uint16_t pm1_evt, pm1_cnt;

static int same(const void *a, const char *b, unsigned n)
{
	const uint8_t *p = a;
	for (unsigned i = 0; i < n; i++)
		if (p[i] != (uint8_t)b[i])
			return 0;
	return 1;
}

static uint32_t read32(uint64_t addr)
{
	return *(const volatile uint32_t *)addr;
}

/* The RSDP on a 16-byte boundary in the BIOS area (kvmini puts it there). */
static uint64_t rsdp_find(void)
{
	for (uint64_t p = 0xe0000; p < 0x100000; p += 16)
		if (same((const void *)p, "RSD PTR ", 8))
			return p;
	return 0;
}

/* The FADT through the XSDT (ACPI 2.0 and later: 8-byte entries) or
 * the RSDT (4-byte entries); 0 when missing. */
static uint64_t fadt_find(void)
{
	uint64_t rsdp = rsdp_find();
	if (!rsdp)
		return 0;
	uint8_t revision = *(const volatile uint8_t *)(rsdp + 15);
	uint64_t xsdt = revision >= 2 ? read32(rsdp + 24) | (uint64_t)read32(rsdp + 28) << 32 : 0;
	uint64_t sdt = xsdt ? xsdt : read32(rsdp + 16);
	unsigned entry = xsdt ? 8 : 4;
	if (!sdt)
		return 0;
	uint32_t len = read32(sdt + 4);
	for (uint32_t off = 36; off + entry <= len; off += entry) {
		uint64_t table = read32(sdt + off);   /* below 4 GiB: kvmini's are */
		if (same((const void *)table, "FACP", 4))
			return table;
	}
	return 0;
}

static void put_hex4(uint16_t v)
{
	static const char digits[] = "0123456789abcdef";
	for (int shift = 12; shift >= 0; shift -= 4)
		serial_putc(digits[(v >> shift) & 0xf]);
}

/* Alarm two seconds ahead (binary, 24-hour), any minute and hour:
 * it fires within two seconds. Status C is read to clear old flags. */
static void alarm_arm(void)
{
	cmos_write(0x0b, 0x06);               /* binary, 24-hour, no interrupts */
	(void)cmos_read(0x0c);
	uint8_t now = cmos_read(0x00);
	cmos_write(0x01, (uint8_t)((now + 2) % 60));
	cmos_write(0x03, 0xff);               /* any minute */
	cmos_write(0x05, 0xff);               /* any hour */
	cmos_write(0x0b, 0x06 | 0x20);        /* AIE */
}

void s3_after_wake(void);
void s3_after_wake(void)
{
	uint16_t sts = inw(pm1_evt);
	uint16_t cs = *(const volatile uint16_t *)(WAKE_VECTOR + (s3_woke_cs - s3_wake));
	serial_puts("woke at ");
	put_hex4(cs);
	serial_puts(":0000\n");
	serial_puts("PM1_STS: WAK_STS ");
	serial_putc(sts & PM1_STS_WAK ? '1' : '0');
	serial_puts(", RTC_STS ");
	serial_putc(sts & PM1_STS_RTC ? '1' : '0');
	serial_putc('\n');
	serial_puts(magic == MAGIC ? "RAM kept: magic ok\n" : "RAM lost: magic changed\n");
	(void)cmos_read(0x0c);                /* lower IRQ 8 */
	int ok = cs == WAKE_VECTOR >> 4 && (sts & PM1_STS_WAK) && (sts & PM1_STS_RTC) &&
		 magic == MAGIC;
	guest_exit(ok ? 0 : 2);
}

int main(void)
{
	uint64_t fadt = fadt_find();
	if (!fadt) {
		serial_puts("no FADT\n");
		return 2;
	}
	uint64_t facs = read32(fadt + 36);    /* FIRMWARE_CTRL */
	pm1_evt = (uint16_t)read32(fadt + 56);
	pm1_cnt = (uint16_t)read32(fadt + 64);
	if (!same((const void *)facs, "FACS", 4)) {
		serial_puts("no FACS\n");
		return 2;
	}
	magic = MAGIC;
	uint8_t *stub = (uint8_t *)WAKE_VECTOR;
	for (const uint8_t *p = s3_wake; p < s3_wake_end; p++)
		*stub++ = *p;
	*(volatile uint32_t *)(facs + 12) = WAKE_VECTOR;   /* Firmware_Waking_Vector */
	outw(pm1_evt, 0xffff);                /* clear every status bit */
	alarm_arm();
#ifndef NO_WAKE
	outw((uint16_t)(pm1_evt + 2), PM1_STS_RTC);   /* RTC_EN */
#endif
	serial_puts("entering S3\n");
	outw(pm1_cnt, (uint16_t)(SLP_TYP_S3 << 10 | PM1_CNT_SLP_EN));
	serial_puts("still running after S3\n");
	return 2;
}
