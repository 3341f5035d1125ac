/* Reads the CMOS clock in BCD mode and in binary mode (the second time
 * with the NMI-disable bit set in every index) and prints each reading
 * as YYYY-MM-DD HH:MM:SS; then the memory sizes that firmware reads. */
#include "guest.h"
#include "intr.h"
#include "cmos.h"

enum { CENTURY, YEAR, MONTH, DAY, HOURS, MINUTES, SECONDS, FIELDS };

static const uint8_t field_register[FIELDS] = { 0x32, 0x09, 0x08, 0x07, 0x04, 0x02, 0x00 };

#define STATUS_A 0x0a
#define STATUS_B 0x0b
#define UIP 0x80
#define BINARY 0x04
#define NMI_DISABLE 0x80

static void read_once(uint8_t index_bits, uint8_t out[FIELDS])
{
	while (cmos_read(STATUS_A | index_bits) & UIP)   /* an update is due: wait */
		;
	for (int i = 0; i < FIELDS; i++)
		out[i] = cmos_read(field_register[i] | index_bits);
}

/* Read until two readings agree: no update fell between two registers. */
static void read_clock(uint8_t index_bits, uint8_t out[FIELDS])
{
	uint8_t again[FIELDS];
	read_once(index_bits, out);
	for (;;) {
		read_once(index_bits, again);
		int same = 1;
		for (int i = 0; i < FIELDS; i++) {
			if (again[i] != out[i])
				same = 0;
			out[i] = again[i];
		}
		if (same)
			return;
	}
}

static unsigned from_bcd(uint8_t v)
{
	return (v >> 4) * 10u + (v & 0x0fu);
}

static void put2(unsigned v)
{
	serial_putc((char)('0' + v / 10 % 10));
	serial_putc((char)('0' + v % 10));
}

static void print_time(const char *label, const uint8_t raw[FIELDS], int bcd)
{
	unsigned v[FIELDS];
	for (int i = 0; i < FIELDS; i++)
		v[i] = bcd ? from_bcd(raw[i]) : raw[i];
	serial_puts(label);
	put2(v[CENTURY]);
	put2(v[YEAR]);
	serial_putc('-');
	put2(v[MONTH]);
	serial_putc('-');
	put2(v[DAY]);
	serial_putc(' ');
	put2(v[HOURS]);
	serial_putc(':');
	put2(v[MINUTES]);
	serial_putc(':');
	put2(v[SECONDS]);
	serial_putc('\n');
}

static unsigned cmos_read16(uint8_t reg)
{
	return cmos_read(reg) | (unsigned)cmos_read(reg + 1) << 8;
}

static void print_memory(void)
{
	unsigned above_4g = cmos_read16(0x5b) | (unsigned)cmos_read(0x5d) << 16;
	serial_puts("memory: base ");
	serial_put_dec(cmos_read16(0x15));
	serial_puts(" KiB, extended ");
	serial_put_dec(cmos_read16(0x17));
	serial_puts(" KiB (");
	serial_put_dec(cmos_read16(0x30));
	serial_puts(" KiB at 0x30), above 16 MiB ");
	serial_put_dec(cmos_read16(0x34));
	serial_puts(" x 64 KiB, above 4 GiB ");
	serial_put_dec(above_4g);
	serial_puts(" x 64 KiB\n");
}

int main(void)
{
	uint8_t raw[FIELDS];
	uint8_t status_b = cmos_read(STATUS_B);
	cmos_write(STATUS_B, status_b & (uint8_t)~BINARY);
	read_clock(0, raw);
	print_time("bcd:    ", raw, 1);
	cmos_write(STATUS_B, status_b | BINARY);
	read_clock(NMI_DISABLE, raw);
	print_time("binary: ", raw, 0);
	cmos_write(STATUS_B, status_b);
	print_memory();
	return 0;
}
