#include <string.h>
#include "arch/x86/aml.h"

void aml_bytes(struct aml *a, const void *bytes, size_t n)
{
	if (a->overflow || n > a->cap - a->len) {
		a->overflow = true;
		return;
	}
	memcpy(a->buf + a->len, bytes, n);
	a->len += n;
}

void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

void aml_name_seg(struct aml *a, const char *name)
{
	aml_bytes(a, name, 4);
}

static void put_le(struct aml *a, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		aml_byte(a, (uint8_t)(v >> (8 * i)));
}

void aml_dword(struct aml *a, uint32_t v)
{
	aml_byte(a, AML_DWORD_PREFIX);
	put_le(a, v, 4);
}

void aml_integer(struct aml *a, uint32_t v)
{
	if (v <= 1) {
		aml_byte(a, v ? AML_ONE_OP : AML_ZERO_OP);
	} else if (v <= 0xff) {
		aml_byte(a, AML_BYTE_PREFIX);
		aml_byte(a, (uint8_t)v);
	} else if (v <= 0xffff) {
		aml_byte(a, AML_WORD_PREFIX);
		put_le(a, v, 2);
	} else {
		aml_dword(a, v);
	}
}

/* The widest PkgLength takes 4 bytes: reserve that, shrink on close. */
#define PKG_LENGTH_MAX_BYTES 4

size_t aml_pkg_open(struct aml *a)
{
	size_t start = a->len;
	put_le(a, 0, PKG_LENGTH_MAX_BYTES);
	return start;
}

/* A PkgLength counts its own bytes too. One byte holds up to 63; longer
 * ones put the byte count in bits 7:6 of the first byte, its low nibble
 * in bits 3:0 and the rest in the following bytes. */
void aml_pkg_close(struct aml *a, size_t start)
{
	if (a->overflow)
		return;
	size_t body = a->len - start - PKG_LENGTH_MAX_BYTES;
	size_t n = body + 1 <= 0x3f ? 1 : body + 2 < (1u << 12) ? 2 : body + 3 < (1u << 20) ? 3 : 4;
	size_t value = body + n;
	uint8_t enc[PKG_LENGTH_MAX_BYTES];
	if (n == 1) {
		enc[0] = (uint8_t)value;
	} else {
		enc[0] = (uint8_t)(((n - 1) << 6) | (value & 0x0f));
		for (size_t i = 1; i < n; i++)
			enc[i] = (uint8_t)(value >> (4 + 8 * (i - 1)));
	}
	memcpy(a->buf + start, enc, n);
	memmove(a->buf + start + n, a->buf + start + PKG_LENGTH_MAX_BYTES, body);
	a->len -= PKG_LENGTH_MAX_BYTES - n;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Three letters in five bits each (A = 1), then four hex digits, stored
 * big-endian: "PNP0501" is 0x41d00501 as a number, bytes 41 d0 05 01. */
bool aml_eisa_id(const char *id, uint32_t *out)
{
	if (!id || strlen(id) != 7)
		return false;
	uint32_t v = 0;
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			return false;
		v = (v << 5) | (uint32_t)(id[i] - 'A' + 1);
	}
	for (int i = 3; i < 7; i++) {
		int d = hex_digit(id[i]);
		if (d < 0)
			return false;
		v = (v << 4) | (uint32_t)d;
	}
	*out = __builtin_bswap32(v);   /* bit 31 stays 0, as it must */
	return true;
}

bool aml_acpi_id(const char *id)
{
	if (!id || strlen(id) != 8)
		return false;
	for (int i = 0; i < 4; i++)
		if (!((id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9')))
			return false;
	for (int i = 4; i < 8; i++)
		if (hex_digit(id[i]) < 0)
			return false;
	return true;
}

void aml_string(struct aml *a, const char *s)
{
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

void aml_res_io(struct aml *a, uint16_t base, uint8_t len)
{
	aml_byte(a, 0x47);          /* small item 0x08 (I/O port), 7 bytes */
	aml_byte(a, 0x01);          /* decodes 16 address bits */
	put_le(a, base, 2);         /* minimum base */
	put_le(a, base, 2);         /* maximum base: fixed */
	aml_byte(a, 1);             /* alignment */
	aml_byte(a, len);
}

void aml_res_memory32(struct aml *a, uint32_t base, uint32_t len)
{
	aml_byte(a, 0x86);          /* large item 0x06 (32-bit fixed memory) */
	put_le(a, 9, 2);            /* length of the rest */
	aml_byte(a, 0x01);          /* read-write */
	put_le(a, base, 4);
	put_le(a, len, 4);
}

/* Edge-triggered active-high is the 2-byte form ASL calls IRQNoFlags;
 * anything else carries a flags byte (0: level, active high). */
void aml_res_irq(struct aml *a, unsigned line, bool level)
{
	aml_byte(a, level ? 0x23 : 0x22);   /* small item 0x04 (IRQ), 3 or 2 bytes */
	put_le(a, 1u << line, 2);
	if (level)
		aml_byte(a, 0x00);
}

void aml_res_interrupt(struct aml *a, uint32_t gsi, bool level, bool shared)
{
	aml_byte(a, 0x89);          /* large item 0x09 (extended interrupt) */
	put_le(a, 6, 2);            /* length of the rest: flags, count, one GSI */
	/* bit 0 consumer, bit 1 edge, bit 2 active low (never), bit 3 shared */
	aml_byte(a, (uint8_t)(0x01 | (level ? 0 : 0x02) | (shared ? 0x08 : 0)));
	aml_byte(a, 1);
	put_le(a, gsi, 4);
}

void aml_res_end(struct aml *a)
{
	aml_byte(a, 0x79);          /* small item 0x0f (end tag), 1 byte */
	aml_byte(a, 0x00);          /* checksum 0: "treat as correct" */
}

/* Address space descriptors (ACPI 6.0 section 6.4.3.5): a producer's
 * window with fixed ends and no translation. */
enum { ADDR_MEMORY = 0, ADDR_IO = 1, ADDR_BUS = 2 };
#define ADDR_FLAGS_FIXED 0x0c        /* _MAF and _MIF set; producer, positive decode */

static void address_word(struct aml *a, uint8_t type, uint8_t type_flags, uint16_t min,
			 uint16_t max)
{
	aml_byte(a, 0x88);          /* large item 0x08 (word address space) */
	put_le(a, 13, 2);
	aml_byte(a, type);
	aml_byte(a, ADDR_FLAGS_FIXED);
	aml_byte(a, type_flags);
	put_le(a, 0, 2);            /* granularity */
	put_le(a, min, 2);
	put_le(a, max, 2);
	put_le(a, 0, 2);            /* translation */
	put_le(a, (uint32_t)max - min + 1, 2);
}

void aml_res_bus_numbers(struct aml *a, uint16_t min, uint16_t max)
{
	address_word(a, ADDR_BUS, 0, min, max);
}

void aml_res_io_window(struct aml *a, uint16_t min, uint16_t max)
{
	address_word(a, ADDR_IO, 0x03, min, max);   /* ISA and non-ISA ranges */
}

void aml_res_memory_window(struct aml *a, uint32_t min, uint32_t max)
{
	aml_byte(a, 0x87);          /* large item 0x07 (dword address space) */
	put_le(a, 23, 2);
	aml_byte(a, ADDR_MEMORY);
	aml_byte(a, ADDR_FLAGS_FIXED);
	aml_byte(a, 0x01);          /* read-write, non-cacheable */
	put_le(a, 0, 4);            /* granularity */
	put_le(a, min, 4);
	put_le(a, max, 4);
	put_le(a, 0, 4);            /* translation */
	put_le(a, (uint64_t)max - min + 1, 4);
}
