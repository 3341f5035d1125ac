/* A small writer of ACPI Machine Language (ACPI 6.0 chapter 20) for the
 * DSDT: names, packages with their PkgLength, integers, buffers, and the
 * resource descriptors (chapter 6.4) of ISA devices. Writes into a fixed
 * buffer; running past it sets `overflow` and writes nothing more. */
#ifndef KVMINI_X86_AML_H
#define KVMINI_X86_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t *buf;
	size_t cap, len;
	bool overflow;
};

void aml_byte(struct aml *a, uint8_t b);
void aml_bytes(struct aml *a, const void *bytes, size_t n);
/* A NameSeg: exactly four characters. */
void aml_name_seg(struct aml *a, const char *name);
void aml_dword(struct aml *a, uint32_t v);   /* DWordPrefix + value */
/* An integer in its shortest form: Zero, One, Byte, Word or DWord. */
void aml_integer(struct aml *a, uint32_t v);

/* Open a construct whose length is a PkgLength (Scope, Device, Buffer,
 * Package): returns where it starts; close it when its contents are in. */
size_t aml_pkg_open(struct aml *a);
void aml_pkg_close(struct aml *a, size_t start);

/* The 32-bit compressed EISA ID of a PNP ID such as "PNP0501" (what
 * ASL's EisaId() makes); false when id is not three capitals and four
 * hex digits. */
bool aml_eisa_id(const char *id, uint32_t *out);
/* Whether id is an ACPI ID such as "LNRO0005" (four capitals or
 * digits, four hex digits), which a _HID holds as a string. */
bool aml_acpi_id(const char *id);
/* A String: StringPrefix, the characters, NUL. */
void aml_string(struct aml *a, const char *s);

/* Resource descriptors, for a _CRS buffer. */
void aml_res_io(struct aml *a, uint16_t base, uint8_t len);       /* IO (Decode16, ...) */
void aml_res_memory32(struct aml *a, uint32_t base, uint32_t len); /* Memory32Fixed (ReadWrite) */
void aml_res_irq(struct aml *a, unsigned line, bool level);       /* IRQNoFlags / IRQ (Level, ActiveHigh) */
/* Interrupt (ResourceConsumer, Level or Edge, ActiveHigh, Shared or
 * Exclusive) {gsi}: a line past the ISA IRQs. */
void aml_res_interrupt(struct aml *a, uint32_t gsi, bool level, bool shared);
void aml_res_end(struct aml *a);
/* A PCI root bridge's windows (ResourceProducer, MinFixed, MaxFixed,
 * PosDecode): WordBusNumber, WordIO (EntireRange), DWordMemory
 * (NonCacheable, ReadWrite); [min, max] inclusive. */
void aml_res_bus_numbers(struct aml *a, uint16_t min, uint16_t max);
void aml_res_io_window(struct aml *a, uint16_t min, uint16_t max);
void aml_res_memory_window(struct aml *a, uint32_t min, uint32_t max);


enum {
	AML_ZERO_OP = 0x00, AML_ONE_OP = 0x01, AML_WORD_PREFIX = 0x0b,
	AML_NAME_OP = 0x08, AML_DWORD_PREFIX = 0x0c, AML_BYTE_PREFIX = 0x0a,
	AML_STRING_PREFIX = 0x0d,
	AML_SCOPE_OP = 0x10, AML_BUFFER_OP = 0x11, AML_PACKAGE_OP = 0x12,
	AML_EXT_OP_PREFIX = 0x5b, AML_DEVICE_OP = 0x82,
};

#endif
