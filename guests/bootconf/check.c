/* The checks both entries share (bootconf.h). Built twice: 64-bit and
 * position-independent for the bzImage, 32-bit for PVH; so no 64-bit
 * division (libgcc is not linked). */
#include "bootconf.h"
#include "guest.h"

#define RAM 1u
#define RESERVED 2u
#define GIB (1ULL << 30)
#define LOW_RAM_END 0x9fc00ULL
#define BIOS_END 0x100000ULL
#define HOLE_START (3 * GIB)
#define FOUR_GIB (4 * GIB)

static unsigned checks, failures;

uint64_t align_down(uint64_t value, uint64_t align)
{
	return value & ~(align - 1);
}

uint64_t align_up(uint64_t value, uint64_t align)
{
	return (value + align - 1) & ~(align - 1);
}

static void report(const char *what, int ok)
{
	checks++;
	if (!ok)
		failures++;
	serial_puts(ok ? "bootconf: ok " : "bootconf: FAIL ");
	serial_puts(what);
}

void check_eq(const char *what, uint64_t got, uint64_t want)
{
	report(what, got == want);
	if (got != want) {
		serial_puts(": got ");
		serial_put_hex(got);
		serial_puts(", want ");
		serial_put_hex(want);
	}
	serial_putc('\n');
}

void check_true(const char *what, int ok, uint64_t detail)
{
	report(what, ok);
	if (!ok) {
		serial_puts(": ");
		serial_put_hex(detail);
	}
	serial_putc('\n');
}

void info(const char *what, uint64_t value)
{
	serial_puts("bootconf: ");
	serial_puts(what);
	serial_putc(' ');
	serial_put_hex(value);
	serial_putc('\n');
}

int check_summary(void)
{
	serial_puts("bootconf: ");
	serial_put_dec(checks);
	serial_puts(" checks, ");
	serial_put_dec(failures);
	serial_puts(" failed\n");
	return (int)failures;
}

/* ---- the command line ---- */

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

/* "KEY=0xHEX" as a whole token; returns 1 and the value when present. */
int cmdline_value(const char *cmdline, const char *key, uint64_t *value)
{
	for (const char *p = cmdline; *p; ) {
		while (is_space(*p))
			p++;
		const char *k = key, *t = p;
		while (*k && *t == *k)
			k++, t++;
		if (!*k && t[0] == '=' && t[1] == '0' && t[2] == 'x') {
			uint64_t v = 0;
			for (t += 3; hex_digit(*t) >= 0; t++)
				v = v << 4 | (uint64_t)hex_digit(*t);
			if (!*t || is_space(*t)) {
				*value = v;
				return 1;
			}
		}
		while (*p && !is_space(*p))
			p++;
	}
	return 0;
}

static uint64_t string_length(const char *s, uint64_t max)
{
	uint64_t n = 0;

	while (n <= max && s[n])
		n++;
	return n;
}

/* Echo the line, then: NUL-terminated within the limit, and whole (its
 * last token is bootconf.end). */
void check_cmdline(const char *cmdline, uint64_t max_len)
{
	static const char end[] = "bootconf.end";
	uint64_t len = string_length(cmdline, max_len);

	serial_puts("bootconf: cmdline: ");
	for (uint64_t i = 0; i < len; i++)
		serial_putc(cmdline[i]);
	serial_putc('\n');
	check_true("command line NUL-terminated within its limit", len <= max_len, len);
	int whole = len >= sizeof(end) - 1;
	for (uint64_t i = 0; whole && i < sizeof(end) - 1; i++)
		whole = cmdline[len - (sizeof(end) - 1) + i] == end[i];
	if (whole && len > sizeof(end) - 1)
		whole = is_space(cmdline[len - sizeof(end)]);
	check_true("command line ends with bootconf.end", whole, len);
}

/* ---- the memory map ---- */

unsigned expected_map(uint64_t mem, struct map_entry map[MAP_MAX])
{
	uint64_t low = mem < HOLE_START ? mem : HOLE_START;
	unsigned n = 0;

	map[n++] = (struct map_entry){ 0, LOW_RAM_END, RAM };
	map[n++] = (struct map_entry){ LOW_RAM_END, BIOS_END - LOW_RAM_END, RESERVED };
	map[n++] = (struct map_entry){ BIOS_END, low - BIOS_END, RAM };
	if (mem > low)
		map[n++] = (struct map_entry){ FOUR_GIB, mem - low, RAM };
	return n;
}

void check_map(const struct map_entry *got, unsigned n, uint64_t mem)
{
	struct map_entry want[MAP_MAX];
	unsigned count = expected_map(mem, want);
	int same = n == count;

	for (unsigned i = 0; same && i < n; i++)
		same = got[i].addr == want[i].addr && got[i].size == want[i].size &&
		       got[i].type == want[i].type;
	for (unsigned i = 0; i < n; i++) {
		serial_puts("bootconf: map ");
		serial_put_hex(got[i].addr);
		serial_putc(' ');
		serial_put_hex(got[i].addr + got[i].size);
		serial_puts(got[i].type == RAM ? " RAM\n" : got[i].type == RESERVED ? " reserved\n"
										 : " other\n");
	}
	check_true("memory map matches --mem", same, n);
}

/* ---- the initrd ---- */

/* POSIX cksum: CRC-32 (polynomial 0x04c11db7, most significant bit
 * first) over the bytes, then over the length, then inverted. */
static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i << 24;
		for (int bit = 0; bit < 8; bit++)
			c = c & 0x80000000u ? c << 1 ^ 0x04c11db7u : c << 1;
		crc_table[i] = c;
	}
}

static uint32_t crc_byte(uint32_t crc, uint8_t byte)
{
	return crc << 8 ^ crc_table[(crc >> 24 ^ byte) & 0xff];
}

static uint32_t posix_cksum(const uint8_t *data, uint64_t size)
{
	uint32_t crc = 0;

	crc_init();
	for (uint64_t i = 0; i < size; i++)
		crc = crc_byte(crc, data[i]);
	for (uint64_t len = size; len; len >>= 8)
		crc = crc_byte(crc, (uint8_t)len);
	return ~crc;
}

/* The initrd kvmini documents: page aligned at the highest address that
 * ends by highest_end, and not below `lowest` (the kernel's end). */
void check_initrd(const char *cmdline, uint64_t addr, uint64_t size, uint64_t lowest,
		  uint64_t highest_end)
{
	uint64_t want_size, want_crc;

	if (!cmdline_value(cmdline, "bootconf.initrd_size", &want_size) ||
	    !cmdline_value(cmdline, "bootconf.initrd_crc", &want_crc)) {
		check_eq("no initrd: address", addr, 0);
		check_eq("no initrd: size", size, 0);
		return;
	}
	info("initrd at", addr);
	check_eq("initrd size", size, want_size);
	check_eq("initrd at the highest page below its limit", addr,
		 align_down(highest_end - want_size, 0x1000));
	check_true("initrd above the kernel", addr >= lowest, lowest);
	if (size == want_size && addr >= lowest && addr + size <= highest_end)
		check_eq("initrd checksum (POSIX cksum)",
			 posix_cksum((const uint8_t *)(uintptr_t)addr, size), want_crc);
	else
		check_true("initrd checksum (POSIX cksum): not read, misplaced", 0, addr);
}

void check_rsdp(const char *cmdline, uint64_t rsdp)
{
	static const char signature[8] = "RSD PTR ";
	uint64_t want;

	if (!cmdline_value(cmdline, "bootconf.rsdp", &want))
		return;
	check_eq("RSDP address", rsdp, want);
	if (rsdp && rsdp == want) {
		const char *p = (const char *)(uintptr_t)rsdp;
		int ok = 1;
		for (int i = 0; i < 8; i++)
			ok = ok && p[i] == signature[i];
		check_true("RSDP signature \"RSD PTR \"", ok, rsdp);
	}
}

/* ---- segments ---- */

static uint64_t descriptor(uint16_t selector)
{
	uint16_t limit;
	uint64_t base = 0;

	__builtin_memcpy(&limit, entry_gdtr, 2);
	__builtin_memcpy(&base, entry_gdtr + 2, sizeof(uintptr_t));
	if ((selector & 4) || selector == 0 || (uint32_t)(selector | 7) > limit)
		return 0;
	return *(const uint64_t *)(uintptr_t)(base + (selector & ~7u));
}

void check_segment(const char *what, uint16_t selector, enum segment_kind kind)
{
	uint64_t d = descriptor(selector);
	uint64_t base = (d >> 16 & 0xffffff) | (d >> 56 & 0xff) << 24;
	uint64_t limit = (d & 0xffff) | (d >> 48 & 0xf) << 16;
	unsigned type = d >> 40 & 0xf;
	int present = d >> 47 & 1, system = !(d >> 44 & 1), gran = d >> 55 & 1;
	int l = d >> 53 & 1, db = d >> 54 & 1;
	int ok = present && !system && base == 0;

	if (kind == SEG_CODE64)
		ok = ok && (type & 0xa) == 0xa && l && !db;
	else if (kind == SEG_CODE32)
		ok = ok && (type & 0xa) == 0xa && !l && db && gran && limit == 0xfffff;
	else
		ok = ok && (type & 0xa) == 0x2 && gran && limit == 0xfffff;
	if (kind == SEG_CODE64)   /* the limit is ignored in 64-bit mode; still flat */
		ok = ok && gran && limit == 0xfffff;
	check_true(what, ok, d);
}
