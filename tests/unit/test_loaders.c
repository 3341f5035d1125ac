/* Unit tests of the flat and ELF loaders. ELF files are built in memory
 * from the <elf.h> structures, then broken one field at a time. Guest
 * RAM is filled with a pattern first, so every rejection can also prove
 * that not a byte of guest memory was written. */
#include <criterion/criterion.h>
#include <elf.h>
#include <string.h>
#include "loaders/loader.h"

#define RAM_SIZE (2ULL << 20)
#define RAM_PATTERN 0xcc
#define ELF_PATH "guest.elf"
#define FLAT_PATH "guest.bin"

/* Test ELF layout: headers, then each segment's file bytes. */
#define SEG_BASE 0x100000ULL      /* paddr of segment 0 */
#define SEG_STRIDE 0x1000ULL      /* paddr distance between segments */
#define SEG_DATA_OFF 0x400ULL     /* file offset of segment 0's bytes */
#define SEG_FILESZ 0x40ULL
#define SEG_MEMSZ 0x80ULL         /* the second half is BSS */
#define MAX_SEGS 8

struct test_elf {
	_Alignas(8) uint8_t bytes[SEG_DATA_OFF + MAX_SEGS * SEG_FILESZ];
	uint64_t size;
	unsigned nsegs;
};

struct fixture {
	struct guest_memory mem;
	struct kvmini_error err;
	struct load_result res;
};

/* ---- guest memory with a known pattern ---- */

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	cr_assert_eq(guest_memory_init(&f->mem, RAM_SIZE, 0, &f->err), 0, "%s", f->err.msg);
	memset(guest_ptr(&f->mem, 0, RAM_SIZE), RAM_PATTERN, RAM_SIZE);
}

static void fixture_fini(struct fixture *f)
{
	guest_memory_free(&f->mem);
}

static int bytes_equal(const uint8_t *p, uint8_t value, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		if (p[i] != value)
			return 0;
	return 1;
}

static void assert_ram_untouched(const struct fixture *f)
{
	cr_assert(bytes_equal(guest_ptr(&f->mem, 0, RAM_SIZE), RAM_PATTERN, RAM_SIZE),
		  "a rejected image wrote guest memory");
}

/* The rest of RAM outside [low, high) still holds the pattern. */
static void assert_ram_untouched_outside(const struct fixture *f, uint64_t low, uint64_t high)
{
	cr_assert(bytes_equal(guest_ptr(&f->mem, 0, low), RAM_PATTERN, low));
	cr_assert(bytes_equal(guest_ptr(&f->mem, high, RAM_SIZE - high), RAM_PATTERN,
			      RAM_SIZE - high));
}

/* ---- ELF construction ---- */

static uint8_t segment_byte(unsigned index)
{
	return (uint8_t)(0xa0 + index);
}

static Elf64_Ehdr *ehdr64(struct test_elf *t) { return (Elf64_Ehdr *)t->bytes; }
static Elf32_Ehdr *ehdr32(struct test_elf *t) { return (Elf32_Ehdr *)t->bytes; }

static Elf64_Phdr *phdr64(struct test_elf *t, unsigned i)
{
	return (Elf64_Phdr *)(t->bytes + sizeof(Elf64_Ehdr)) + i;
}

static Elf32_Phdr *phdr32(struct test_elf *t, unsigned i)
{
	return (Elf32_Phdr *)(t->bytes + sizeof(Elf32_Ehdr)) + i;
}

static void fill_ident(struct test_elf *t, unsigned char elf_class)
{
	memcpy(t->bytes, ELFMAG, SELFMAG);
	t->bytes[EI_CLASS] = elf_class;
	t->bytes[EI_DATA] = ELFDATA2LSB;
	t->bytes[EI_VERSION] = EV_CURRENT;
}

static void fill_segment_data(struct test_elf *t, unsigned nsegs)
{
	for (unsigned i = 0; i < nsegs; i++)
		memset(t->bytes + SEG_DATA_OFF + i * SEG_FILESZ, segment_byte(i), SEG_FILESZ);
	t->size = SEG_DATA_OFF + nsegs * SEG_FILESZ;
	t->nsegs = nsegs;
}

/* A valid ELF64 executable: nsegs PT_LOADs at SEG_BASE + i * SEG_STRIDE,
 * entry at the start of segment 0. */
static void build_elf64(struct test_elf *t, unsigned nsegs)
{
	memset(t, 0, sizeof(*t));
	*ehdr64(t) = (Elf64_Ehdr){
		.e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
		.e_entry = SEG_BASE, .e_phoff = sizeof(Elf64_Ehdr),
		.e_ehsize = sizeof(Elf64_Ehdr), .e_phentsize = sizeof(Elf64_Phdr),
		.e_phnum = (uint16_t)nsegs,
	};
	fill_ident(t, ELFCLASS64);
	for (unsigned i = 0; i < nsegs; i++)
		*phdr64(t, i) = (Elf64_Phdr){
			.p_type = PT_LOAD, .p_flags = PF_R | PF_W | PF_X,
			.p_offset = SEG_DATA_OFF + i * SEG_FILESZ,
			.p_vaddr = SEG_BASE + i * SEG_STRIDE, .p_paddr = SEG_BASE + i * SEG_STRIDE,
			.p_filesz = SEG_FILESZ, .p_memsz = SEG_MEMSZ, .p_align = 0x1000,
		};
	fill_segment_data(t, nsegs);
}

static void build_elf32(struct test_elf *t, unsigned nsegs)
{
	memset(t, 0, sizeof(*t));
	*ehdr32(t) = (Elf32_Ehdr){
		.e_type = ET_EXEC, .e_machine = EM_386, .e_version = EV_CURRENT,
		.e_entry = SEG_BASE, .e_phoff = sizeof(Elf32_Ehdr),
		.e_ehsize = sizeof(Elf32_Ehdr), .e_phentsize = sizeof(Elf32_Phdr),
		.e_phnum = (uint16_t)nsegs,
	};
	fill_ident(t, ELFCLASS32);
	for (unsigned i = 0; i < nsegs; i++)
		*phdr32(t, i) = (Elf32_Phdr){
			.p_type = PT_LOAD, .p_flags = PF_R | PF_W | PF_X,
			.p_offset = (Elf32_Off)(SEG_DATA_OFF + i * SEG_FILESZ),
			.p_vaddr = (Elf32_Addr)(SEG_BASE + i * SEG_STRIDE),
			.p_paddr = (Elf32_Addr)(SEG_BASE + i * SEG_STRIDE),
			.p_filesz = SEG_FILESZ, .p_memsz = SEG_MEMSZ, .p_align = 0x1000,
		};
	fill_segment_data(t, nsegs);
}

static struct kvmini_image elf_image(const struct test_elf *t)
{
	return (struct kvmini_image){
		.format = KVMINI_FORMAT_ELF, .path = ELF_PATH,
		.data = t->bytes, .size = t->size,
	};
}

/* ---- expectations ---- */

static void assert_rejected(struct fixture *f, int rc, const char *path, const char *fragment)
{
	size_t path_len = strlen(path);

	cr_assert_eq(rc, -1, "image accepted; expected '%s'", fragment);
	cr_assert_eq(f->err.code, KVMINI_E_USAGE, "code %d: %s", f->err.code, f->err.msg);
	cr_assert(strncmp(f->err.msg, path, path_len) == 0 && f->err.msg[path_len] == ':',
		  "message does not name the file: %s", f->err.msg);
	cr_assert(strstr(f->err.msg, fragment), "message '%s' lacks '%s'", f->err.msg, fragment);
	cr_assert_null(strchr(f->err.msg, '\n'), "message is not one line: %s", f->err.msg);
	assert_ram_untouched(f);
}

static void expect_elf_image_rejected(const struct kvmini_image *img, const char *fragment)
{
	struct fixture f;

	fixture_init(&f);
	assert_rejected(&f, load_elf(&f.mem, img, &f.res, &f.err), ELF_PATH, fragment);
	fixture_fini(&f);
}

static void expect_elf_rejected(const struct test_elf *t, const char *fragment)
{
	struct kvmini_image img = elf_image(t);

	expect_elf_image_rejected(&img, fragment);
}

static void expect_flat_rejected(const struct kvmini_image *img, const char *fragment)
{
	struct fixture f;

	fixture_init(&f);
	assert_rejected(&f, load_flat(&f.mem, img, &f.res, &f.err), FLAT_PATH, fragment);
	fixture_fini(&f);
}

/* Segment i holds its byte for SEG_FILESZ, zeros up to SEG_MEMSZ. */
static void assert_segments_loaded(const struct fixture *f, unsigned nsegs)
{
	for (unsigned i = 0; i < nsegs; i++) {
		const uint8_t *p = guest_ptr(&f->mem, SEG_BASE + i * SEG_STRIDE, SEG_MEMSZ);

		cr_assert(bytes_equal(p, segment_byte(i), SEG_FILESZ), "segment %u data", i);
		cr_assert(bytes_equal(p + SEG_FILESZ, 0, SEG_MEMSZ - SEG_FILESZ),
			  "segment %u BSS not zeroed", i);
		cr_assert_eq(p[SEG_MEMSZ], RAM_PATTERN, "wrote past segment %u", i);
	}
	cr_assert(bytes_equal(guest_ptr(&f->mem, 0, SEG_BASE), RAM_PATTERN, SEG_BASE));
}

/* ==== image_is_elf ==== */

Test(image_is_elf, recognises_the_magic)
{
	static const uint8_t elf[] = { 0x7f, 'E', 'L', 'F' };
	static const uint8_t not_elf[] = { 0x7f, 'E', 'L', 'G', 0, 0 };

	cr_assert(image_is_elf(elf, sizeof(elf)));
	cr_assert_not(image_is_elf(elf, 3), "3 bytes cannot hold the magic");
	cr_assert_not(image_is_elf(not_elf, sizeof(not_elf)));
	cr_assert_not(image_is_elf(elf, 0));
	cr_assert_not(image_is_elf(NULL, 0));
}

/* ==== valid ELF ==== */

Test(load_elf, valid_elf64_loads_segments_in_long_mode)
{
	struct test_elf t;
	struct fixture f;
	struct kvmini_image img;

	build_elf64(&t, 3);
	ehdr64(&t)->e_entry = SEG_BASE + SEG_STRIDE + 0x10;
	img = elf_image(&t);
	fixture_init(&f);
	cr_assert_eq(load_elf(&f.mem, &img, &f.res, &f.err), 0, "%s", f.err.msg);
	cr_assert_eq(f.res.mode, KVMINI_MODE_LONG);
	cr_assert_eq(f.res.entry, SEG_BASE + SEG_STRIDE + 0x10);
	cr_assert_eq(f.res.low, SEG_BASE);
	cr_assert_eq(f.res.high, SEG_BASE + 2 * SEG_STRIDE + SEG_MEMSZ);
	assert_segments_loaded(&f, 3);
	fixture_fini(&f);
}

Test(load_elf, valid_elf32_loads_segments_in_protected_mode)
{
	struct test_elf t;
	struct fixture f;
	struct kvmini_image img;

	build_elf32(&t, 2);
	img = elf_image(&t);
	fixture_init(&f);
	cr_assert_eq(load_elf(&f.mem, &img, &f.res, &f.err), 0, "%s", f.err.msg);
	cr_assert_eq(f.res.mode, KVMINI_MODE_PROTECTED);
	cr_assert_eq(f.res.entry, SEG_BASE);
	cr_assert_eq(f.res.low, SEG_BASE);
	cr_assert_eq(f.res.high, SEG_BASE + SEG_STRIDE + SEG_MEMSZ);
	assert_segments_loaded(&f, 2);
	fixture_fini(&f);
}

Test(load_elf, segments_in_any_order_and_pure_bss)
{
	struct test_elf t;
	struct fixture f;
	struct kvmini_image img;

	build_elf64(&t, 2);
	/* Segment 0 above segment 1, and segment 1 all BSS. */
	phdr64(&t, 0)->p_paddr = SEG_BASE + 4 * SEG_STRIDE;
	phdr64(&t, 1)->p_paddr = SEG_BASE;
	phdr64(&t, 1)->p_filesz = 0;
	ehdr64(&t)->e_entry = SEG_BASE + 4 * SEG_STRIDE;
	img = elf_image(&t);
	fixture_init(&f);
	cr_assert_eq(load_elf(&f.mem, &img, &f.res, &f.err), 0, "%s", f.err.msg);
	cr_assert_eq(f.res.low, SEG_BASE);
	cr_assert_eq(f.res.high, SEG_BASE + 4 * SEG_STRIDE + SEG_MEMSZ);
	cr_assert(bytes_equal(guest_ptr(&f.mem, SEG_BASE, SEG_MEMSZ), 0, SEG_MEMSZ));
	cr_assert(bytes_equal(guest_ptr(&f.mem, SEG_BASE + 4 * SEG_STRIDE, SEG_FILESZ),
			      segment_byte(0), SEG_FILESZ));
	fixture_fini(&f);
}

Test(load_elf, adjacent_segments_are_not_overlapping)
{
	struct test_elf t;
	struct fixture f;
	struct kvmini_image img;

	build_elf64(&t, 2);
	phdr64(&t, 1)->p_paddr = SEG_BASE + SEG_MEMSZ;
	img = elf_image(&t);
	fixture_init(&f);
	cr_assert_eq(load_elf(&f.mem, &img, &f.res, &f.err), 0, "%s", f.err.msg);
	cr_assert_eq(f.res.high, SEG_BASE + 2 * SEG_MEMSZ);
	fixture_fini(&f);
}

Test(load_elf, ignores_other_program_headers_and_empty_loads)
{
	struct test_elf t;
	struct fixture f;
	struct kvmini_image img;

	build_elf64(&t, 3);
	/* Garbage in a PT_NOTE and an empty PT_LOAD is never looked at. */
	*phdr64(&t, 1) = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = UINT64_MAX,
				       .p_paddr = UINT64_MAX, .p_filesz = UINT64_MAX,
				       .p_memsz = UINT64_MAX };
	*phdr64(&t, 2) = (Elf64_Phdr){ .p_type = PT_LOAD, .p_paddr = 0x1000 };
	img = elf_image(&t);
	fixture_init(&f);
	cr_assert_eq(load_elf(&f.mem, &img, &f.res, &f.err), 0, "%s", f.err.msg);
	assert_segments_loaded(&f, 1);
	assert_ram_untouched_outside(&f, SEG_BASE, SEG_BASE + SEG_MEMSZ);
	fixture_fini(&f);
}

Test(load_elf, explicit_matching_mode_is_accepted)
{
	struct test_elf t;
	struct fixture f;
	struct kvmini_image img;

	build_elf32(&t, 1);
	img = elf_image(&t);
	img.mode_set = true;
	img.mode = KVMINI_MODE_PROTECTED;
	fixture_init(&f);
	cr_assert_eq(load_elf(&f.mem, &img, &f.res, &f.err), 0, "%s", f.err.msg);
	cr_assert_eq(f.res.mode, KVMINI_MODE_PROTECTED);
	fixture_fini(&f);
}

Test(load_elf, entry_override_may_point_anywhere_in_ram)
{
	struct test_elf t;
	struct fixture f;
	struct kvmini_image img;

	build_elf64(&t, 1);
	ehdr64(&t)->e_entry = 0xdead0000;   /* ignored when overridden */
	img = elf_image(&t);
	img.entry_set = true;
	img.entry = 0x9000;
	fixture_init(&f);
	cr_assert_eq(load_elf(&f.mem, &img, &f.res, &f.err), 0, "%s", f.err.msg);
	cr_assert_eq(f.res.entry, 0x9000);
	fixture_fini(&f);
}

Test(load_elf, elf32_may_use_memory_after_the_gdt)
{
	struct test_elf t;
	struct fixture f;
	struct kvmini_image img;

	/* Protected mode reserves only the GDT page; page-table pages are free. */
	build_elf32(&t, 1);
	phdr32(&t, 0)->p_paddr = 0x2000;
	ehdr32(&t)->e_entry = 0x2000;
	img = elf_image(&t);
	fixture_init(&f);
	cr_assert_eq(load_elf(&f.mem, &img, &f.res, &f.err), 0, "%s", f.err.msg);
	fixture_fini(&f);
}

/* ==== rejected ELF headers ==== */

Test(load_elf_rejects, bad_magic)
{
	struct test_elf t;

	build_elf64(&t, 1);
	t.bytes[EI_MAG3] = 'G';
	expect_elf_rejected(&t, "not an ELF file");
}

Test(load_elf_rejects, file_shorter_than_the_magic)
{
	struct test_elf t;

	build_elf64(&t, 1);
	t.size = 3;
	expect_elf_rejected(&t, "not an ELF file");
}

Test(load_elf_rejects, empty_file)
{
	struct test_elf t;

	build_elf64(&t, 1);
	t.size = 0;
	expect_elf_rejected(&t, "not an ELF file");
}

Test(load_elf_rejects, wrong_class)
{
	struct test_elf t;

	build_elf64(&t, 1);
	t.bytes[EI_CLASS] = ELFCLASSNONE;
	expect_elf_rejected(&t, "unsupported ELF class 0");
	t.bytes[EI_CLASS] = 3;
	expect_elf_rejected(&t, "unsupported ELF class 3");
}

Test(load_elf_rejects, elf64_for_another_machine)
{
	struct test_elf t;

	build_elf64(&t, 1);
	ehdr64(&t)->e_machine = EM_AARCH64;
	expect_elf_rejected(&t, "ELF64 image for machine 183, need EM_X86_64");
	ehdr64(&t)->e_machine = EM_386;
	expect_elf_rejected(&t, "need EM_X86_64");
}

Test(load_elf_rejects, elf32_for_another_machine)
{
	struct test_elf t;

	build_elf32(&t, 1);
	ehdr32(&t)->e_machine = EM_X86_64;   /* x32 is not a mode we start */
	expect_elf_rejected(&t, "ELF32 image for machine 62, need EM_386");
}

Test(load_elf_rejects, big_endian)
{
	struct test_elf t;

	build_elf64(&t, 1);
	t.bytes[EI_DATA] = ELFDATA2MSB;
	expect_elf_rejected(&t, "not little-endian");
}

Test(load_elf_rejects, unknown_version)
{
	struct test_elf t;

	build_elf64(&t, 1);
	t.bytes[EI_VERSION] = 2;
	expect_elf_rejected(&t, "ELF version");
	build_elf64(&t, 1);
	ehdr64(&t)->e_version = EV_NONE;
	expect_elf_rejected(&t, "ELF version");
}

Test(load_elf_rejects, position_independent_executable)
{
	struct test_elf t;

	build_elf64(&t, 1);
	ehdr64(&t)->e_type = ET_DYN;
	expect_elf_rejected(&t, "ET_DYN");
}

Test(load_elf_rejects, relocatable_object_and_core)
{
	struct test_elf t;

	build_elf32(&t, 1);
	ehdr32(&t)->e_type = ET_REL;
	expect_elf_rejected(&t, "ET_REL");
	ehdr32(&t)->e_type = ET_CORE;
	expect_elf_rejected(&t, "ELF type 4 is not an executable");
}

Test(load_elf_rejects, truncated_elf64_header)
{
	struct test_elf t;

	build_elf64(&t, 1);
	t.size = 12;
	expect_elf_rejected(&t, "truncated ELF header (12 bytes, need 64)");
	t.size = sizeof(Elf64_Ehdr) - 1;
	expect_elf_rejected(&t, "truncated ELF header (63 bytes, need 64)");
}

Test(load_elf_rejects, truncated_elf32_header)
{
	struct test_elf t;

	build_elf32(&t, 1);
	t.size = sizeof(Elf32_Ehdr) - 1;
	expect_elf_rejected(&t, "truncated ELF header (51 bytes, need 52)");
	t.size = 4;   /* magic but no class byte */
	expect_elf_rejected(&t, "truncated ELF header (4 bytes, need 52)");
}

Test(load_elf_rejects, mode_mismatch)
{
	struct test_elf t;
	struct kvmini_image img;

	build_elf64(&t, 1);
	img = elf_image(&t);
	img.mode_set = true;
	img.mode = KVMINI_MODE_PROTECTED;
	expect_elf_image_rejected(&img, "ELF64 image needs --mode long (got --mode protected)");
	img.mode = KVMINI_MODE_REAL;
	expect_elf_image_rejected(&img, "ELF64 image needs --mode long (got --mode real)");

	build_elf32(&t, 1);
	img = elf_image(&t);
	img.mode_set = true;
	img.mode = KVMINI_MODE_LONG;
	expect_elf_image_rejected(&img, "ELF32 image needs --mode protected (got --mode long)");
}

Test(load_elf_rejects, load_address_option)
{
	struct test_elf t;
	struct kvmini_image img;

	build_elf64(&t, 1);
	img = elf_image(&t);
	img.load_addr_set = true;
	img.load_addr = 0x200000;
	expect_elf_image_rejected(&img, "load address applies only to raw images");
}

/* ==== rejected program header tables ==== */

Test(load_elf_rejects, no_program_headers)
{
	struct test_elf t;

	build_elf64(&t, 1);
	ehdr64(&t)->e_phnum = 0;
	expect_elf_rejected(&t, "no program headers");
}

Test(load_elf_rejects, wrong_program_header_size)
{
	struct test_elf t;

	build_elf64(&t, 1);
	ehdr64(&t)->e_phentsize = sizeof(Elf32_Phdr);
	expect_elf_rejected(&t, "program header size 32, need 56 for ELF64");
	build_elf32(&t, 1);
	ehdr32(&t)->e_phentsize = sizeof(Elf64_Phdr);
	expect_elf_rejected(&t, "program header size 56, need 32 for ELF32");
	ehdr32(&t)->e_phentsize = 0;
	expect_elf_rejected(&t, "program header size 0");
}

Test(load_elf_rejects, program_headers_past_the_end_of_the_file)
{
	struct test_elf t;

	build_elf64(&t, 1);
	ehdr64(&t)->e_phoff = t.size - sizeof(Elf64_Phdr) + 1;
	expect_elf_rejected(&t, "program header table");
	ehdr64(&t)->e_phoff = t.size + 0x1000;
	expect_elf_rejected(&t, "extends past the end of the file");
}

Test(load_elf_rejects, program_header_table_cut_short)
{
	struct test_elf t;

	build_elf64(&t, 2);
	t.size = sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + 8;   /* half of entry 1 */
	expect_elf_rejected(&t, "extends past the end of the file");
}

Test(load_elf_rejects, huge_phnum_and_phoff_do_not_wrap)
{
	struct test_elf t;

	build_elf64(&t, 1);
	/* phoff + phnum * phentsize wraps past 2^64 back into the file. */
	ehdr64(&t)->e_phnum = 0xfffe;
	ehdr64(&t)->e_phoff = UINT64_MAX - 0xfffeULL * sizeof(Elf64_Phdr) + 0x41;
	expect_elf_rejected(&t, "extends past the end of the file");
	ehdr64(&t)->e_phoff = UINT64_MAX;
	ehdr64(&t)->e_phnum = 1;
	expect_elf_rejected(&t, "extends past the end of the file");
	ehdr64(&t)->e_phoff = sizeof(Elf64_Ehdr);
	ehdr64(&t)->e_phnum = 0xfffe;   /* 3.6 MB of headers in a small file */
	expect_elf_rejected(&t, "extends past the end of the file");
}

Test(load_elf_rejects, extended_program_header_numbering)
{
	struct test_elf t;

	build_elf64(&t, 1);
	ehdr64(&t)->e_phnum = PN_XNUM;
	expect_elf_rejected(&t, "PN_XNUM");
}

Test(load_elf_rejects, no_loadable_segment)
{
	struct test_elf t;

	build_elf64(&t, 2);
	phdr64(&t, 0)->p_type = PT_NOTE;
	phdr64(&t, 1)->p_type = PT_GNU_STACK;
	expect_elf_rejected(&t, "no loadable segment (PT_LOAD)");
}

Test(load_elf_rejects, only_empty_loadable_segments)
{
	struct test_elf t;
	struct kvmini_image img;

	build_elf64(&t, 1);
	phdr64(&t, 0)->p_filesz = 0;
	phdr64(&t, 0)->p_memsz = 0;
	img = elf_image(&t);
	img.entry_set = true;
	img.entry = SEG_BASE;
	expect_elf_image_rejected(&img, "every loadable segment (PT_LOAD) is empty");
}

/* ==== rejected segments ==== */

Test(load_elf_rejects, file_size_above_memory_size)
{
	struct test_elf t;

	build_elf64(&t, 2);
	phdr64(&t, 1)->p_filesz = SEG_MEMSZ + 1;
	expect_elf_rejected(&t, "segment 1 file size 0x81 exceeds its memory size 0x80");
}

Test(load_elf_rejects, segment_data_past_the_end_of_the_file)
{
	struct test_elf t;

	build_elf64(&t, 2);
	t.size -= 1;   /* the last byte of segment 1 is missing */
	expect_elf_rejected(&t, "segment 1 data");
}

Test(load_elf_rejects, segment_offset_wraps)
{
	struct test_elf t;

	build_elf64(&t, 1);
	phdr64(&t, 0)->p_offset = UINT64_MAX - 0x10;   /* + filesz wraps to 0x2f */
	expect_elf_rejected(&t, "extends past the end of the file");
	phdr64(&t, 0)->p_offset = t.size + 1;
	phdr64(&t, 0)->p_filesz = 0;
	expect_elf_rejected(&t, "extends past the end of the file");
}

Test(load_elf_rejects, elf32_segment_data_past_the_end_of_the_file)
{
	struct test_elf t;

	build_elf32(&t, 1);
	phdr32(&t, 0)->p_offset = UINT32_MAX;
	expect_elf_rejected(&t, "segment 0 data");
}

Test(load_elf_rejects, segment_outside_ram)
{
	struct test_elf t;

	build_elf64(&t, 2);
	phdr64(&t, 1)->p_paddr = RAM_SIZE;
	expect_elf_rejected(&t, "segment 1 [0x200000, 0x200080) is outside guest RAM");
}

Test(load_elf_rejects, segment_straddling_the_end_of_ram)
{
	struct test_elf t;

	build_elf32(&t, 1);
	phdr32(&t, 0)->p_paddr = (Elf32_Addr)(RAM_SIZE - SEG_MEMSZ + 1);
	ehdr32(&t)->e_entry = phdr32(&t, 0)->p_paddr;
	expect_elf_rejected(&t, "is outside guest RAM");
}

Test(load_elf_rejects, segment_ending_exactly_at_the_end_of_ram_is_fine)
{
	struct test_elf t;
	struct fixture f;
	struct kvmini_image img;

	build_elf64(&t, 1);
	phdr64(&t, 0)->p_paddr = RAM_SIZE - SEG_MEMSZ;
	ehdr64(&t)->e_entry = RAM_SIZE - SEG_MEMSZ;
	img = elf_image(&t);
	fixture_init(&f);
	cr_assert_eq(load_elf(&f.mem, &img, &f.res, &f.err), 0, "%s", f.err.msg);
	cr_assert_eq(f.res.high, RAM_SIZE);
	fixture_fini(&f);
}

Test(load_elf_rejects, segment_address_wraps)
{
	struct test_elf t;

	build_elf64(&t, 1);
	phdr64(&t, 0)->p_paddr = UINT64_MAX - 0x3f;   /* + memsz 0x80 wraps to 0x40 */
	expect_elf_rejected(&t, "wraps past the end of the address space");
	build_elf64(&t, 1);
	phdr64(&t, 0)->p_paddr = SEG_BASE;
	phdr64(&t, 0)->p_memsz = UINT64_MAX;
	expect_elf_rejected(&t, "wraps past the end of the address space");
}

Test(load_elf_rejects, overlapping_segments)
{
	struct test_elf t;

	build_elf64(&t, 2);
	phdr64(&t, 1)->p_paddr = SEG_BASE + SEG_MEMSZ - 1;
	expect_elf_rejected(&t, "segment 1 [0x10007f, 0x1000ff) overlaps segment 0 [0x100000, 0x100080)");
}

Test(load_elf_rejects, segment_at_the_same_address)
{
	struct test_elf t;

	build_elf32(&t, 2);
	phdr32(&t, 1)->p_paddr = (Elf32_Addr)SEG_BASE;
	expect_elf_rejected(&t, "overlaps segment");
}

Test(load_elf_rejects, segment_inside_another_not_next_in_the_file)
{
	struct test_elf t;

	/* Segment 0 spans segments 1 and 2; segment 3 sits inside segment 0. */
	build_elf64(&t, 4);
	phdr64(&t, 0)->p_memsz = 4 * SEG_STRIDE;
	phdr64(&t, 1)->p_paddr = SEG_BASE + 5 * SEG_STRIDE;
	phdr64(&t, 2)->p_paddr = SEG_BASE + 6 * SEG_STRIDE;
	phdr64(&t, 3)->p_paddr = SEG_BASE + 3 * SEG_STRIDE;
	expect_elf_rejected(&t, "segment 3 [0x103000, 0x103080) overlaps segment 0");
}

Test(load_elf_rejects, elf64_segment_over_the_page_tables)
{
	struct test_elf t;

	build_elf64(&t, 2);
	phdr64(&t, 1)->p_paddr = 0x5000;
	expect_elf_rejected(&t, "segment 1 [0x5000, 0x5080) overlaps the VMM's GDT and page tables"
			    " [0x1000, 0x8000)");
	phdr64(&t, 1)->p_paddr = 0x1000 - SEG_MEMSZ + 1;
	expect_elf_rejected(&t, "overlaps the VMM's");
}

Test(load_elf_rejects, elf32_segment_over_the_gdt)
{
	struct test_elf t;

	build_elf32(&t, 1);
	phdr32(&t, 0)->p_paddr = 0x1800;
	ehdr32(&t)->e_entry = 0x1800;
	expect_elf_rejected(&t, "segment 0 [0x1800, 0x1880) overlaps the VMM's GDT [0x1000, 0x2000)");
}

Test(load_elf_rejects, entry_outside_every_segment)
{
	struct test_elf t;

	build_elf64(&t, 2);
	ehdr64(&t)->e_entry = SEG_BASE + SEG_MEMSZ;   /* one past segment 0, in the gap */
	expect_elf_rejected(&t, "entry point 0x100080 is not inside any loaded segment");
	ehdr64(&t)->e_entry = 0;
	expect_elf_rejected(&t, "entry point 0x0 is not inside any loaded segment");
}

Test(load_elf_rejects, entry_override_outside_ram)
{
	struct test_elf t;
	struct kvmini_image img;

	build_elf64(&t, 1);
	img = elf_image(&t);
	img.entry_set = true;
	img.entry = RAM_SIZE;
	expect_elf_image_rejected(&img, "entry point 0x200000 is outside guest RAM");
}

Test(load_elf_rejects, elf32_entry_override_above_4_gib)
{
	struct test_elf t;
	struct kvmini_image img;

	build_elf32(&t, 1);
	img = elf_image(&t);
	img.entry_set = true;
	img.entry = 0x100000000ULL;
	expect_elf_image_rejected(&img, "not below 4 GiB");
}

Test(load_elf_rejects, message_without_a_path)
{
	struct test_elf t;
	struct fixture f;
	struct kvmini_image img;

	build_elf64(&t, 1);
	t.bytes[0] = 0;
	img = elf_image(&t);
	img.path = NULL;
	fixture_init(&f);
	cr_assert_eq(load_elf(&f.mem, &img, &f.res, &f.err), -1);
	cr_assert_str_eq(f.err.msg, "image: not an ELF file (bad magic)");
	fixture_fini(&f);
}

/* ==== flat images ==== */

static const uint8_t flat_code[] = { 0xb0, 0x34, 0xe6, 0xe9, 0xf4 };

static struct kvmini_image flat_image(bool mode_set, enum kvmini_mode mode)
{
	return (struct kvmini_image){
		.format = KVMINI_FORMAT_RAW, .path = FLAT_PATH,
		.data = flat_code, .size = sizeof(flat_code),
		.mode_set = mode_set, .mode = mode,
	};
}

static void assert_flat_loaded(const struct kvmini_image *img, enum kvmini_mode mode,
			       uint64_t addr, uint64_t entry)
{
	struct fixture f;

	fixture_init(&f);
	cr_assert_eq(load_flat(&f.mem, img, &f.res, &f.err), 0, "%s", f.err.msg);
	cr_assert_eq(f.res.mode, mode);
	cr_assert_eq(f.res.entry, entry);
	cr_assert_eq(f.res.low, addr);
	cr_assert_eq(f.res.high, addr + img->size);
	cr_assert_arr_eq(guest_ptr(&f.mem, addr, img->size), img->data, img->size);
	assert_ram_untouched_outside(&f, addr, addr + img->size);
	fixture_fini(&f);
}

Test(load_flat, defaults_to_real_mode_at_0x7c00)
{
	struct kvmini_image img = flat_image(false, KVMINI_MODE_REAL);

	assert_flat_loaded(&img, KVMINI_MODE_REAL, 0x7c00, 0x7c00);
	img.mode_set = true;
	assert_flat_loaded(&img, KVMINI_MODE_REAL, 0x7c00, 0x7c00);
}

Test(load_flat, protected_and_long_mode_default_to_1_mib)
{
	struct kvmini_image img = flat_image(true, KVMINI_MODE_PROTECTED);

	assert_flat_loaded(&img, KVMINI_MODE_PROTECTED, 0x100000, 0x100000);
	img.mode = KVMINI_MODE_LONG;
	assert_flat_loaded(&img, KVMINI_MODE_LONG, 0x100000, 0x100000);
}

Test(load_flat, load_address_and_entry_overrides)
{
	struct kvmini_image img = flat_image(true, KVMINI_MODE_LONG);

	img.load_addr_set = true;
	img.load_addr = 0x20000;
	assert_flat_loaded(&img, KVMINI_MODE_LONG, 0x20000, 0x20000);
	img.entry_set = true;
	img.entry = 0x20003;
	assert_flat_loaded(&img, KVMINI_MODE_LONG, 0x20000, 0x20003);
	img.entry = 0x1f0000;   /* any address in RAM */
	assert_flat_loaded(&img, KVMINI_MODE_LONG, 0x20000, 0x1f0000);
}

Test(load_flat, real_mode_may_use_low_memory)
{
	struct kvmini_image img = flat_image(false, KVMINI_MODE_REAL);

	img.load_addr_set = true;
	img.load_addr = 0x1000;   /* real mode writes no tables */
	assert_flat_loaded(&img, KVMINI_MODE_REAL, 0x1000, 0x1000);
}

Test(load_flat, image_ending_at_the_end_of_ram)
{
	struct kvmini_image img = flat_image(true, KVMINI_MODE_PROTECTED);

	img.load_addr_set = true;
	img.load_addr = RAM_SIZE - sizeof(flat_code);
	assert_flat_loaded(&img, KVMINI_MODE_PROTECTED, img.load_addr, img.load_addr);
}

Test(load_flat_rejects, empty_image)
{
	struct kvmini_image img = flat_image(false, KVMINI_MODE_REAL);

	img.size = 0;
	expect_flat_rejected(&img, "empty image");
}

Test(load_flat_rejects, image_that_does_not_fit)
{
	struct kvmini_image img = flat_image(true, KVMINI_MODE_LONG);

	img.load_addr_set = true;
	img.load_addr = RAM_SIZE - sizeof(flat_code) + 1;
	expect_flat_rejected(&img, "image [0x1ffffc, 0x200001) is outside guest RAM"
			     " (RAM ends at 0x200000)");
	img.load_addr = 0x40000000;
	expect_flat_rejected(&img, "is outside guest RAM");
}

Test(load_flat_rejects, load_address_plus_size_wraps)
{
	struct kvmini_image img = flat_image(false, KVMINI_MODE_REAL);

	img.load_addr_set = true;
	img.load_addr = UINT64_MAX - 1;
	expect_flat_rejected(&img, "wraps past the end of the address space");
}

Test(load_flat_rejects, overlap_with_the_long_mode_tables)
{
	struct kvmini_image img = flat_image(true, KVMINI_MODE_LONG);

	img.load_addr_set = true;
	img.load_addr = 0x7ffc;   /* the last bytes of the page directories */
	expect_flat_rejected(&img, "image [0x7ffc, 0x8001) overlaps the VMM's GDT and page tables"
			     " [0x1000, 0x8000)");
	img.load_addr = 0x1000 - sizeof(flat_code) + 1;
	expect_flat_rejected(&img, "overlaps the VMM's");
}

Test(load_flat_rejects, overlap_with_the_protected_mode_gdt)
{
	struct kvmini_image img = flat_image(true, KVMINI_MODE_PROTECTED);

	img.load_addr_set = true;
	img.load_addr = 0x1ffe;
	expect_flat_rejected(&img, "overlaps the VMM's GDT [0x1000, 0x2000)");
}

Test(load_flat_rejects, real_mode_entry_at_or_above_1_mib)
{
	struct kvmini_image img = flat_image(false, KVMINI_MODE_REAL);

	img.entry_set = true;
	img.entry = 0x100000;
	expect_flat_rejected(&img, "entry point 0x100000 is not below 1 MiB");
	img.entry_set = false;
	img.load_addr_set = true;
	img.load_addr = 0x100000;   /* the entry defaults to the load address */
	expect_flat_rejected(&img, "not below 1 MiB");
}

Test(load_flat_rejects, entry_outside_ram)
{
	struct kvmini_image img = flat_image(true, KVMINI_MODE_LONG);

	img.entry_set = true;
	img.entry = RAM_SIZE;
	expect_flat_rejected(&img, "entry point 0x200000 is outside guest RAM");
	img.entry = UINT64_MAX;
	expect_flat_rejected(&img, "is outside guest RAM");
}

Test(load_flat_rejects, protected_mode_entry_above_4_gib)
{
	struct kvmini_image img = flat_image(true, KVMINI_MODE_PROTECTED);

	img.entry_set = true;
	img.entry = 0x100000000ULL;
	expect_flat_rejected(&img, "not below 4 GiB");
}

/* ==== the common bare-metal layout: `ld -Ttext=0x100000` ==== */

#include "arch/x86/firmware.h"

#define LD_HEADERS_ADDR 0xff000ULL   /* 1 MiB less a page: the ELF headers' segment */

/* What GNU ld makes of -Ttext=0x100000: a first read-only PT_LOAD at
 * 0xff000 holding the ELF and program headers (file offset 0), then
 * the code at 1 MiB. */
static void build_ld_layout(struct test_elf *t, unsigned char elf_class)
{
	if (elf_class == ELFCLASS64) {
		build_elf64(t, 2);
		uint64_t headers = sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr);
		*phdr64(t, 0) = (Elf64_Phdr){
			.p_type = PT_LOAD, .p_flags = PF_R, .p_offset = 0,
			.p_vaddr = LD_HEADERS_ADDR, .p_paddr = LD_HEADERS_ADDR,
			.p_filesz = headers, .p_memsz = headers, .p_align = 0x1000,
		};
		ehdr64(t)->e_entry = SEG_BASE + SEG_STRIDE;
	} else {
		build_elf32(t, 2);
		uint32_t headers = sizeof(Elf32_Ehdr) + 2 * sizeof(Elf32_Phdr);
		*phdr32(t, 0) = (Elf32_Phdr){
			.p_type = PT_LOAD, .p_flags = PF_R, .p_offset = 0,
			.p_vaddr = LD_HEADERS_ADDR, .p_paddr = LD_HEADERS_ADDR,
			.p_filesz = headers, .p_memsz = headers, .p_align = 0x1000,
		};
		ehdr32(t)->e_entry = (Elf32_Addr)(SEG_BASE + SEG_STRIDE);
	}
}

/* Loads with or without the firmware tables' reservations (a VM with an
 * irqchip, in the kernel or split, or none), headers where ld put them. */
static void expect_ld_layout_loads(unsigned char elf_class, bool tables)
{
	struct test_elf t;
	struct fixture f;
	build_ld_layout(&t, elf_class);
	struct kvmini_image img = elf_image(&t);
	fixture_init(&f);
	if (tables)
		cr_assert_eq(x86_firmware_reserve(&f.mem), 0);
	cr_assert_eq(load_elf(&f.mem, &img, &f.res, &f.err), 0, "%s", f.err.msg);
	cr_assert_eq(f.res.low, LD_HEADERS_ADDR);
	cr_assert_eq(f.res.entry, SEG_BASE + SEG_STRIDE);
	cr_assert_eq(memcmp(guest_ptr(&f.mem, LD_HEADERS_ADDR, 64), t.bytes, 64), 0,
		     "the ELF header at 0xff000");
	cr_assert_eq(*(uint8_t *)guest_ptr(&f.mem, X86_MP_POINTER_ADDR, 1), RAM_PATTERN);
	fixture_fini(&f);
}

Test(ld_layout, elf64_loads_without_tables) { expect_ld_layout_loads(ELFCLASS64, false); }
Test(ld_layout, elf64_loads_with_tables) { expect_ld_layout_loads(ELFCLASS64, true); }
Test(ld_layout, elf32_loads_without_tables) { expect_ld_layout_loads(ELFCLASS32, false); }
Test(ld_layout, elf32_loads_with_tables) { expect_ld_layout_loads(ELFCLASS32, true); }

/* One ELF64 segment at `addr`: refused over a reserved table, with the
 * table's name and range, and loaded when no table is reserved. */
static void expect_segment_at(uint64_t addr, const char *fragment)
{
	struct test_elf t;
	build_elf64(&t, 1);
	phdr64(&t, 0)->p_paddr = phdr64(&t, 0)->p_vaddr = addr;
	ehdr64(&t)->e_entry = addr;
	struct kvmini_image img = elf_image(&t);
	struct fixture f;
	fixture_init(&f);
	cr_assert_eq(x86_firmware_reserve(&f.mem), 0);
	assert_rejected(&f, load_elf(&f.mem, &img, &f.res, &f.err), ELF_PATH, fragment);
	fixture_fini(&f);

	fixture_init(&f);
	cr_assert_eq(load_elf(&f.mem, &img, &f.res, &f.err), 0, "no tables: %s", f.err.msg);
	fixture_fini(&f);
}

Test(ld_layout, only_what_the_tables_occupy_is_reserved)
{
	expect_segment_at(0xe0000, "segment 0 [0xe0000, 0xe0080) overlaps the ACPI and MP tables"
			  " [0xe0000, 0xe6000)");
	expect_segment_at(0xe5f80, "overlaps the ACPI and MP tables [0xe0000, 0xe6000)");
	expect_segment_at(0xeff90, "segment 0 [0xeff90, 0xf0010) overlaps the MP floating pointer"
			  " [0xf0000, 0xf0010)");
	/* Between and after the reserved ranges, images are welcome. */
	expect_ld_layout_loads(ELFCLASS64, true);
	struct test_elf t;
	build_elf64(&t, 1);
	phdr64(&t, 0)->p_paddr = phdr64(&t, 0)->p_vaddr = 0xe6000;
	ehdr64(&t)->e_entry = 0xe6000;
	struct kvmini_image img = elf_image(&t);
	struct fixture f;
	fixture_init(&f);
	cr_assert_eq(x86_firmware_reserve(&f.mem), 0);
	cr_assert_eq(load_elf(&f.mem, &img, &f.res, &f.err), 0, "%s", f.err.msg);
	fixture_fini(&f);
}
