/* Unit tests of the one ELF reader (src/loaders/elf_reader.c): a valid
 * ELF64 and ELF32 file read and iterated, then one field broken at a
 * time; each rejection names the file and the fault. */
#include <criterion/criterion.h>
#include <elf.h>
#include <stdint.h>
#include <string.h>
#include "loaders/elf_reader.h"

#define LABEL "test.elf"
#define DATA_OFF 0x200u
#define SEG_SIZE 0x40u
#define NOTE_OFF 0x100u

static const struct elf_rules any_class = { .classes = ELF_ACCEPT_32 | ELF_ACCEPT_64 };
static const struct elf_rules only64 = { .classes = ELF_ACCEPT_64, .max_phnum = 4 };

/* Headers, three program headers (PT_LOAD, PT_NOTE, PT_LOAD), a note
 * and two segments' bytes. */
struct file64 {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[3];
	uint8_t rest[DATA_OFF + 2 * SEG_SIZE - sizeof(Elf64_Ehdr) - 3 * sizeof(Elf64_Phdr)];
};

struct file32 {
	Elf32_Ehdr eh;
	Elf32_Phdr ph[1];
	uint8_t rest[DATA_OFF + SEG_SIZE - sizeof(Elf32_Ehdr) - sizeof(Elf32_Phdr)];
};

static void ident(unsigned char *id, unsigned char elf_class)
{
	memcpy(id, ELFMAG, SELFMAG);
	id[EI_CLASS] = elf_class;
	id[EI_DATA] = ELFDATA2LSB;
	id[EI_VERSION] = EV_CURRENT;
}

/* The "Xen" note of type 18 with a 4-byte descriptor, at NOTE_OFF. */
static uint64_t put_note(uint8_t *file)
{
	const uint32_t words[3] = { 4, 4, 18 };
	const uint32_t desc = 0x1000000;
	memcpy(file + NOTE_OFF, words, sizeof(words));
	memcpy(file + NOTE_OFF + 12, "Xen", 4);
	memcpy(file + NOTE_OFF + 16, &desc, 4);
	return 20;
}

static void build64(struct file64 *f)
{
	memset(f, 0, sizeof(*f));
	ident(f->eh.e_ident, ELFCLASS64);
	f->eh.e_type = ET_EXEC;
	f->eh.e_machine = EM_X86_64;
	f->eh.e_version = EV_CURRENT;
	f->eh.e_entry = 0x100000;
	f->eh.e_phoff = sizeof(Elf64_Ehdr);
	f->eh.e_ehsize = sizeof(Elf64_Ehdr);
	f->eh.e_phentsize = sizeof(Elf64_Phdr);
	f->eh.e_phnum = 3;
	f->ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = DATA_OFF,
		.p_vaddr = 0x100000, .p_paddr = 0x100000, .p_filesz = SEG_SIZE,
		.p_memsz = 2 * SEG_SIZE, .p_align = 0x1000 };
	uint64_t note = put_note((uint8_t *)f);
	f->ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = NOTE_OFF, .p_filesz = note,
		.p_align = 4 };
	f->ph[2] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_W,
		.p_offset = DATA_OFF + SEG_SIZE, .p_vaddr = 0x200000, .p_paddr = 0x200000,
		.p_filesz = SEG_SIZE, .p_memsz = SEG_SIZE, .p_align = 0x1000 };
}

static void build32(struct file32 *f)
{
	memset(f, 0, sizeof(*f));
	ident(f->eh.e_ident, ELFCLASS32);
	f->eh.e_type = ET_EXEC;
	f->eh.e_machine = EM_386;
	f->eh.e_version = EV_CURRENT;
	f->eh.e_entry = 0x100010;
	f->eh.e_phoff = sizeof(Elf32_Ehdr);
	f->eh.e_ehsize = sizeof(Elf32_Ehdr);
	f->eh.e_phentsize = sizeof(Elf32_Phdr);
	f->eh.e_phnum = 1;
	f->ph[0] = (Elf32_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = DATA_OFF,
		.p_vaddr = 0xc0100000, .p_paddr = 0x100000, .p_filesz = SEG_SIZE,
		.p_memsz = SEG_SIZE, .p_align = 4 };
}

static void expect_rejected(const void *data, uint64_t size, const struct elf_rules *rules,
			    const char *message)
{
	struct elf_file f;
	struct kvmini_error err;

	cr_assert_eq(elf_read(&f, data, size, LABEL, rules, &err), -1, "accepted; wanted: %s",
		     message);
	cr_assert_eq(err.code, KVMINI_E_USAGE);
	cr_assert_str_eq(err.msg, message);
}

Test(elf_reader, reads_an_elf64_file_and_its_loads)
{
	struct file64 f;
	struct elf_file e;
	struct elf_segment s;
	struct kvmini_error err;
	unsigned i = 0;

	build64(&f);
	cr_assert_eq(elf_read(&e, (const uint8_t *)&f, sizeof(f), LABEL, &only64, &err), 0,
		     "%s", err.msg);
	cr_assert_eq(e.elf_class, ELFCLASS64);
	cr_assert_eq(e.type, ET_EXEC);
	cr_assert_eq(e.entry, 0x100000);
	cr_assert_eq(e.phnum, 3);
	cr_assert(elf_next_load(&e, &i, &s));
	cr_assert_eq(s.index, 0);
	cr_assert_eq(s.offset, DATA_OFF);
	cr_assert_eq(s.paddr, 0x100000);
	cr_assert_eq(s.filesz, SEG_SIZE);
	cr_assert_eq(s.memsz, 2 * SEG_SIZE);
	cr_assert_eq(s.flags, PF_R | PF_X);
	cr_assert(elf_next_load(&e, &i, &s), "the note is skipped, the second load found");
	cr_assert_eq(s.index, 2);
	cr_assert_eq(s.vaddr, 0x200000);
	cr_assert_not(elf_next_load(&e, &i, &s));
	elf_segment_at(&e, 1, &s);
	cr_assert_eq(s.type, PT_NOTE);
}

Test(elf_reader, widens_an_elf32_file)
{
	struct file32 f;
	struct elf_file e;
	struct elf_segment s;
	struct kvmini_error err;
	unsigned i = 0;

	build32(&f);
	cr_assert_eq(elf_read(&e, (const uint8_t *)&f, sizeof(f), LABEL, &any_class, &err), 0,
		     "%s", err.msg);
	cr_assert_eq(e.elf_class, ELFCLASS32);
	cr_assert_eq(e.entry, 0x100010);
	cr_assert(elf_next_load(&e, &i, &s));
	cr_assert_eq(s.vaddr, 0xc0100000);
	cr_assert_eq(s.paddr, 0x100000);
	cr_assert_eq(s.align, 4);
}

Test(elf_reader, rejects_a_class_the_caller_does_not_take)
{
	struct file32 f32;
	struct file64 f64;

	build32(&f32);
	expect_rejected(&f32, sizeof(f32), &only64,
			"test.elf: unsupported ELF class 1 (need ELFCLASS64)");
	build64(&f64);
	f64.eh.e_ident[EI_CLASS] = 7;
	expect_rejected(&f64, sizeof(f64), &any_class,
			"test.elf: unsupported ELF class 7 (need ELFCLASS32 or ELFCLASS64)");
	f64.eh.e_ident[EI_MAG3] = 'f';
	expect_rejected(&f64, sizeof(f64), &any_class, "test.elf: not an ELF file (bad magic)");
}

Test(elf_reader, rejects_a_truncated_header)
{
	struct file64 f;

	build64(&f);
	expect_rejected(&f, 4, &any_class, "test.elf: truncated ELF header (4 bytes, need 52)");
	expect_rejected(&f, sizeof(Elf64_Ehdr) - 1, &any_class,
			"test.elf: truncated ELF header (63 bytes, need 64)");
}

Test(elf_reader, rejects_the_wrong_machine_encoding_or_version)
{
	struct file64 f;
	struct file32 f32;

	build64(&f);
	f.eh.e_machine = EM_AARCH64;
	expect_rejected(&f, sizeof(f), &any_class,
			"test.elf: ELF64 image for machine 183, need EM_X86_64 (62)");
	build32(&f32);
	f32.eh.e_machine = EM_X86_64;
	expect_rejected(&f32, sizeof(f32), &any_class,
			"test.elf: ELF32 image for machine 62, need EM_386 (3)");
	build64(&f);
	f.eh.e_ident[EI_DATA] = ELFDATA2MSB;
	expect_rejected(&f, sizeof(f), &any_class,
			"test.elf: ELF data encoding 2 is not little-endian (need ELFDATA2LSB)");
	build64(&f);
	f.eh.e_version = 2;
	expect_rejected(&f, sizeof(f), &any_class,
			"test.elf: unsupported ELF version (need EV_CURRENT)");
}

Test(elf_reader, rejects_bad_program_header_tables)
{
	struct file64 f;

	build64(&f);
	f.eh.e_phnum = 0;
	expect_rejected(&f, sizeof(f), &any_class, "test.elf: no program headers");
	build64(&f);
	f.eh.e_phentsize = sizeof(Elf32_Phdr);
	expect_rejected(&f, sizeof(f), &any_class,
			"test.elf: program header size 32, need 56 for ELF64");
	build64(&f);
	f.eh.e_phnum = PN_XNUM;
	expect_rejected(&f, sizeof(f), &any_class,
			"test.elf: extended program header numbering (PN_XNUM) is not supported");
	build64(&f);
	f.eh.e_phnum = 5;
	expect_rejected(&f, sizeof(f), &only64,
			"test.elf: 5 program headers, more than the 4 read here");
}

Test(elf_reader, rejects_a_table_past_the_file_without_wrapping)
{
	struct file64 f;

	build64(&f);
	f.eh.e_phoff = sizeof(f) - sizeof(Elf64_Phdr);   /* 3 entries from here pass the end */
	expect_rejected(&f, sizeof(f), &any_class,
			"test.elf: program header table (3 entries at offset 0x248) extends past"
			" the end of the file (640 bytes)");
	/* phoff + phnum * phentsize wraps to a small number. */
	f.eh.e_phoff = UINT64_MAX - 3 * sizeof(Elf64_Phdr) + 0x41;
	expect_rejected(&f, sizeof(f), &any_class,
			"test.elf: program header table (3 entries at offset 0xffffffffffffff98)"
			" extends past the end of the file (640 bytes)");
}

Test(elf_reader, rejects_bad_loadable_segments)
{
	struct file64 f;

	build64(&f);
	f.ph[2].p_filesz = SEG_SIZE + 1;
	expect_rejected(&f, sizeof(f), &any_class,
			"test.elf: segment 2 file size 0x41 exceeds its memory size 0x40");
	build64(&f);
	f.ph[2].p_offset = sizeof(f) - SEG_SIZE + 1;
	expect_rejected(&f, sizeof(f), &any_class,
			"test.elf: segment 2 data (0x40 bytes at offset 0x241) extends past the"
			" end of the file (640 bytes)");
	build64(&f);
	f.ph[0].p_offset = UINT64_MAX - 8;   /* offset + filesz wraps */
	expect_rejected(&f, sizeof(f), &any_class,
			"test.elf: segment 0 data (0x40 bytes at offset 0xfffffffffffffff7)"
			" extends past the end of the file (640 bytes)");
	build64(&f);
	f.ph[0].p_align = 0x1800;
	expect_rejected(&f, sizeof(f), &any_class,
			"test.elf: segment 0 alignment 0x1800 is not a power of two");
}

Test(elf_reader, needs_a_non_empty_load_and_ignores_empty_ones)
{
	struct file64 f;
	struct elf_file e;
	struct kvmini_error err;

	build64(&f);
	f.ph[0].p_type = PT_NULL;
	f.ph[2].p_type = PT_NULL;
	expect_rejected(&f, sizeof(f), &any_class, "test.elf: no loadable segment (PT_LOAD)");
	build64(&f);
	f.ph[0].p_memsz = f.ph[0].p_filesz = 0;
	f.ph[2].p_memsz = f.ph[2].p_filesz = 0;
	expect_rejected(&f, sizeof(f), &any_class,
			"test.elf: every loadable segment (PT_LOAD) is empty");
	/* An empty load loads nothing, so its (absurd) offset is not checked. */
	build64(&f);
	f.ph[0].p_memsz = f.ph[0].p_filesz = 0;
	f.ph[0].p_offset = UINT64_MAX;
	cr_assert_eq(elf_read(&e, (const uint8_t *)&f, sizeof(f), LABEL, &any_class, &err), 0,
		     "%s", err.msg);
}

Test(elf_reader, finds_a_note_and_rejects_one_past_the_file)
{
	struct file64 f;
	struct elf_file e;
	struct kvmini_error err;
	const uint8_t *desc;
	uint64_t descsz = 0;
	uint32_t value;

	build64(&f);
	cr_assert_eq(elf_read(&e, (const uint8_t *)&f, sizeof(f), LABEL, &any_class, &err), 0);
	cr_assert_eq(elf_find_note(&e, "Xen", 18, &desc, &descsz, &err), 1);
	cr_assert_eq(descsz, 4);
	memcpy(&value, desc, 4);
	cr_assert_eq(value, 0x1000000);
	cr_assert_eq(elf_find_note(&e, "Xen", 17, &desc, &descsz, &err), 0);
	cr_assert_eq(elf_find_note(&e, "GNU", 18, &desc, &descsz, &err), 0);
	f.ph[1].p_offset = sizeof(f) - 8;
	cr_assert_eq(elf_find_note(&e, "Xen", 18, &desc, &descsz, &err), -1);
	cr_assert_str_eq(err.msg, "test.elf: note segment 1 (0x14 bytes at offset 0x278) extends"
			 " past the end of the file (640 bytes)");
	build64(&f);
	f.ph[1].p_filesz = 18;   /* the descriptor is cut */
	cr_assert_eq(elf_find_note(&e, "Xen", 18, &desc, &descsz, &err), -1);
	cr_assert_str_eq(err.msg, "test.elf: note at offset 0x0 of segment 1 extends past the"
			 " segment (0x12 bytes)");
}
