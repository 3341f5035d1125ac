/* The one reader of ELF files, for every loader that takes one: the ELF
 * image loader (elf.c, and pvh.c through it), the vmlinux inside a
 * bzImage (vmlinux.c) and the sandbox's program (sandbox/loader.c).
 *
 * The file is hostile. elf_read() checks, before a caller sees any
 * field: the magic, the class against what the caller accepts, the
 * header's size, little-endian data, EV_CURRENT, the machine (EM_386
 * for ELF32, EM_X86_64 for ELF64), the program header table (entry size
 * of the class, at least one entry, no PN_XNUM, at most the caller's
 * limit, inside the file without overflow), and every non-empty PT_LOAD
 * segment (file size within memory size, bytes inside the file, a power
 * of two or zero alignment), and that at least one exists. Headers are
 * copied out of the buffer (it may be unaligned) and ELF32 fields are
 * widened, so the callers have one code path for both classes.
 *
 * Messages read "<label>: <problem>", label naming the file (and, for
 * a file inside another, what it is). Errors carry KVMINI_E_USAGE. What
 * a file may be used for (type, addresses, entry) is the caller's to
 * judge: the reader knows only the format. */
#ifndef KVMINI_LOADERS_ELF_READER_H
#define KVMINI_LOADERS_ELF_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"

/* The classes a caller accepts (bits). */
enum { ELF_ACCEPT_32 = 1 << 0, ELF_ACCEPT_64 = 1 << 1 };

struct elf_rules {
	unsigned classes;     /* ELF_ACCEPT_* bits */
	unsigned max_phnum;   /* 0: any number PN_XNUM leaves */
};

/* A checked file: its buffer and the header fields, class-independent. */
struct elf_file {
	const uint8_t *data;
	uint64_t size;
	const char *label;
	unsigned char elf_class;   /* ELFCLASS32 or ELFCLASS64 */
	uint16_t type, machine;
	uint64_t entry, phoff;
	uint16_t phentsize, phnum;
};

/* One program header, widened, with its index for messages. */
struct elf_segment {
	unsigned index;
	uint32_t type, flags;
	uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

/* True when the bytes start with the ELF magic. */
bool elf_has_magic(const uint8_t *data, uint64_t size);

/* Check everything listed above; 0, or -1 with err. `label` must outlive f. */
int elf_read(struct elf_file *f, const uint8_t *data, uint64_t size, const char *label,
	     const struct elf_rules *rules, struct kvmini_error *err);

/* Program header `index` (< f->phnum) of a file elf_read() accepted. */
void elf_segment_at(const struct elf_file *f, unsigned index, struct elf_segment *seg);

/* The next non-empty PT_LOAD at or after *index: fills seg, moves *index
 * past it and returns true; false at the end. Start with *index = 0. */
bool elf_next_load(const struct elf_file *f, unsigned *index, struct elf_segment *seg);

/* The descriptor of note (name, type) in the file's PT_NOTE segments:
 * 1 with *desc (inside f->data) and *descsz, 0 when absent, -1 (with
 * err) when a note segment or a note in it leaves the file. */
int elf_find_note(const struct elf_file *f, const char *name, uint32_t type,
		  const uint8_t **desc, uint64_t *descsz, struct kvmini_error *err);

#endif
