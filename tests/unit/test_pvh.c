/* Unit tests of the PVH loader: ELF kernels with the Xen note
 * XEN_ELFNOTE_PHYS32_ENTRY, built in memory (ELF64 as vmlinux is, and
 * ELF32), and the hvm_start_info they get. Guest RAM holds a pattern
 * first, so rejections also prove nothing was written. */
#include <criterion/criterion.h>
#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include "loaders/linux_boot.h"
#include "loaders/pvh_abi.h"

#define RAM_SIZE (32ULL << 20)
#define RAM_PATTERN 0xcc
#define PATH "vmlinux"
#define INITRD_PATH "initrd.img"

#define NOTE_OFF 0x200u
#define SEG_OFF 0x1000u
#define SEG_ADDR 0x1000000ULL      /* 16 MiB, as vmlinux */
#define SEG_FILESZ 0x800u
#define SEG_MEMSZ 0x3000u
#define PVH_ENTRY (SEG_ADDR + 0x100)
#define VIRT_ENTRY 0xffffffff81000000ULL   /* e_entry: not where PVH enters */

struct test_elf {
	_Alignas(8) uint8_t bytes[SEG_OFF + SEG_FILESZ];
	uint64_t size;
	unsigned note_size;
};

struct fixture {
	struct guest_memory mem;
	struct kvmini_error err;
	struct load_result res;
};

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

/* Append a note (4-byte padding) to the note area. */
static void add_note(struct test_elf *t, const char *name, uint32_t type, const void *desc,
		     uint32_t descsz)
{
	uint8_t *at = t->bytes + NOTE_OFF + t->note_size;
	uint32_t namesz = (uint32_t)strlen(name) + 1;
	uint32_t header[3] = { namesz, descsz, type };

	memcpy(at, header, sizeof(header));
	memcpy(at + 12, name, namesz);
	memcpy(at + 12 + ((namesz + 3) & ~3u), desc, descsz);
	t->note_size += 12 + ((namesz + 3) & ~3u) + ((descsz + 3) & ~3u);
}

static void set_note_size64(struct test_elf *t)
{
	Elf64_Phdr *ph = (Elf64_Phdr *)(t->bytes + sizeof(Elf64_Ehdr));
	ph[1].p_filesz = ph[1].p_memsz = t->note_size;
}

/* ELF64 with one PT_LOAD at 16 MiB and a PT_NOTE holding a GNU note
 * and, unless with_entry is 0, the PVH entry note. */
static void build64(struct test_elf *t, int with_entry)
{
	static const uint8_t build_id[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint32_t entry = PVH_ENTRY;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)t->bytes;
	Elf64_Phdr *ph = (Elf64_Phdr *)(t->bytes + sizeof(*eh));

	memset(t, 0, sizeof(*t));
	*eh = (Elf64_Ehdr){
		.e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
		.e_entry = VIRT_ENTRY, .e_phoff = sizeof(*eh), .e_ehsize = sizeof(*eh),
		.e_phentsize = sizeof(*ph), .e_phnum = 2,
	};
	memcpy(t->bytes, ELFMAG, SELFMAG);
	t->bytes[EI_CLASS] = ELFCLASS64;
	t->bytes[EI_DATA] = ELFDATA2LSB;
	t->bytes[EI_VERSION] = EV_CURRENT;
	ph[0] = (Elf64_Phdr){
		.p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = SEG_OFF,
		.p_vaddr = VIRT_ENTRY, .p_paddr = SEG_ADDR, .p_filesz = SEG_FILESZ,
		.p_memsz = SEG_MEMSZ, .p_align = 0x1000,
	};
	ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = NOTE_OFF, .p_align = 4 };
	add_note(t, "GNU", NT_GNU_BUILD_ID, build_id, sizeof(build_id));
	if (with_entry)
		add_note(t, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry, sizeof(entry));
	set_note_size64(t);
	for (unsigned i = 0; i < SEG_FILESZ; i++)
		t->bytes[SEG_OFF + i] = (uint8_t)(i * 13 + 1);
	t->size = sizeof(t->bytes);
}

static void build32(struct test_elf *t)
{
	uint32_t entry = PVH_ENTRY;
	Elf32_Ehdr *eh = (Elf32_Ehdr *)t->bytes;
	Elf32_Phdr *ph = (Elf32_Phdr *)(t->bytes + sizeof(*eh));

	memset(t, 0, sizeof(*t));
	*eh = (Elf32_Ehdr){
		.e_type = ET_EXEC, .e_machine = EM_386, .e_version = EV_CURRENT,
		.e_entry = 0xc1000000, .e_phoff = sizeof(*eh), .e_ehsize = sizeof(*eh),
		.e_phentsize = sizeof(*ph), .e_phnum = 2,
	};
	memcpy(t->bytes, ELFMAG, SELFMAG);
	t->bytes[EI_CLASS] = ELFCLASS32;
	t->bytes[EI_DATA] = ELFDATA2LSB;
	t->bytes[EI_VERSION] = EV_CURRENT;
	ph[0] = (Elf32_Phdr){
		.p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = SEG_OFF,
		.p_vaddr = 0xc1000000, .p_paddr = (Elf32_Addr)SEG_ADDR, .p_filesz = SEG_FILESZ,
		.p_memsz = SEG_MEMSZ, .p_align = 0x1000,
	};
	add_note(t, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry, sizeof(entry));
	ph[1] = (Elf32_Phdr){ .p_type = PT_NOTE, .p_offset = NOTE_OFF, .p_filesz = t->note_size,
			      .p_memsz = t->note_size, .p_align = 4 };
	t->size = sizeof(t->bytes);
}

static struct kvmini_image image(const struct test_elf *t)
{
	return (struct kvmini_image){
		.format = KVMINI_FORMAT_LINUX, .path = PATH, .data = t->bytes, .size = t->size,
	};
}

static const struct hvm_start_info *start_info(const struct fixture *f)
{
	return guest_ptr(&f->mem, f->res.rbx, sizeof(struct hvm_start_info));
}

static void load_ok(struct fixture *f, const struct kvmini_image *img, uint64_t rsdp)
{
	cr_assert_eq(load_linux(&f->mem, img, rsdp, &f->res, &f->err), 0, "%s", f->err.msg);
}

static int bytes_equal(const uint8_t *p, uint8_t value, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		if (p[i] != value)
			return 0;
	return 1;
}

/* ---- loading ---- */

Test(pvh, enters_at_the_note_in_32_bit_protected_mode)
{
	struct fixture f;
	struct test_elf t;
	struct kvmini_image img;

	fixture_init(&f);
	build64(&t, 1);
	img = image(&t);
	load_ok(&f, &img, 0);
	cr_assert_eq(f.res.mode, KVMINI_MODE_PROTECTED);
	cr_assert_eq(f.res.abi, X86_ABI_PVH);
	cr_assert_eq(f.res.entry, PVH_ENTRY);
	cr_assert_eq(f.res.rbx, BOOT_PARAMS_ADDR);
	cr_assert_eq(f.res.rsi, 0);
	cr_assert_eq(f.res.stack, BOOT_STACK_TOP);
	cr_assert_eq(f.res.low, SEG_ADDR);
	cr_assert_eq(f.res.high, SEG_ADDR + SEG_MEMSZ);
	cr_assert_eq(memcmp(guest_ptr(&f.mem, SEG_ADDR, SEG_FILESZ), t.bytes + SEG_OFF,
			    SEG_FILESZ), 0);
	cr_assert(bytes_equal(guest_ptr(&f.mem, SEG_ADDR + SEG_FILESZ, SEG_MEMSZ - SEG_FILESZ),
			      0, SEG_MEMSZ - SEG_FILESZ), "BSS zeroed");
	fixture_fini(&f);
}

Test(pvh, fills_the_start_info)
{
	struct fixture f;
	struct test_elf t;
	struct kvmini_image img;

	fixture_init(&f);
	build64(&t, 1);
	img = image(&t);
	img.cmdline = "console=ttyS0 root=/dev/ram0";
	load_ok(&f, &img, 0xe0000);
	const struct hvm_start_info *si = start_info(&f);
	cr_assert_eq(si->magic, XEN_HVM_START_MAGIC_VALUE);
	cr_assert_eq(si->version, 1);
	cr_assert_eq(si->flags, 0);
	cr_assert_eq(si->nr_modules, 0);
	cr_assert_eq(si->modlist_paddr, 0);
	cr_assert_eq(si->rsdp_paddr, 0xe0000);
	cr_assert_eq(si->reserved, 0);
	cr_assert_eq(si->cmdline_paddr, BOOT_CMDLINE_ADDR);
	cr_assert_str_eq(guest_ptr(&f.mem, si->cmdline_paddr, 1), "console=ttyS0 root=/dev/ram0");
	cr_assert_eq(si->memmap_entries, 3);
	const struct hvm_memmap_table_entry *map =
		guest_ptr(&f.mem, si->memmap_paddr, 3 * sizeof(*map));
	cr_assert_not_null(map);
	cr_assert_eq(map[0].addr, 0);
	cr_assert_eq(map[0].size, 0x9fc00);
	cr_assert_eq(map[0].type, 1);
	cr_assert_eq(map[1].addr, 0x9fc00);
	cr_assert_eq(map[1].size, 0x100000 - 0x9fc00);
	cr_assert_eq(map[1].type, 2);
	cr_assert_eq(map[2].addr, 0x100000);
	cr_assert_eq(map[2].size, RAM_SIZE - 0x100000);
	cr_assert_eq(map[2].type, 1);
	cr_assert_eq(map[0].reserved | map[1].reserved | map[2].reserved, 0);
	fixture_fini(&f);
}

Test(pvh, initrd_is_module_0_at_the_top_of_ram)
{
	struct fixture f;
	struct test_elf t;
	struct kvmini_image img;
	static uint8_t initrd[6000];
	uint64_t want = (RAM_SIZE - sizeof(initrd)) & ~0xfffULL;

	for (unsigned i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i * 31);
	fixture_init(&f);
	build64(&t, 1);
	img = image(&t);
	img.initrd = initrd;
	img.initrd_size = sizeof(initrd);
	load_ok(&f, &img, 0);
	const struct hvm_start_info *si = start_info(&f);
	cr_assert_eq(si->nr_modules, 1);
	const struct hvm_modlist_entry *mod = guest_ptr(&f.mem, si->modlist_paddr, sizeof(*mod));
	cr_assert_not_null(mod);
	cr_assert_eq(mod->paddr, want);
	cr_assert_eq(mod->size, sizeof(initrd));
	cr_assert_eq(mod->cmdline_paddr, 0);
	cr_assert_eq(mod->reserved, 0);
	cr_assert_eq(memcmp(guest_ptr(&f.mem, want, sizeof(initrd)), initrd, sizeof(initrd)), 0);
	fixture_fini(&f);
}

Test(pvh, an_eight_byte_entry_note)
{
	struct fixture f;
	struct test_elf t;
	struct kvmini_image img;
	uint64_t entry = PVH_ENTRY + 0x10;

	fixture_init(&f);
	build64(&t, 0);
	add_note(&t, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry, sizeof(entry));
	set_note_size64(&t);
	img = image(&t);
	load_ok(&f, &img, 0);
	cr_assert_eq(f.res.entry, PVH_ENTRY + 0x10);
	fixture_fini(&f);
}

Test(pvh, an_elf32_kernel)
{
	struct fixture f;
	struct test_elf t;
	struct kvmini_image img;

	fixture_init(&f);
	build32(&t);
	img = image(&t);
	load_ok(&f, &img, 0);
	cr_assert_eq(f.res.mode, KVMINI_MODE_PROTECTED);
	cr_assert_eq(f.res.entry, PVH_ENTRY);
	fixture_fini(&f);
}

/* ---- rejections ---- */

static void expect_rejected(const struct kvmini_image *img, const char *name,
			    const char *fragment)
{
	struct fixture f;
	size_t len = strlen(name);

	fixture_init(&f);
	cr_assert_eq(load_linux(&f.mem, img, 0, &f.res, &f.err), -1, "accepted; expected '%s'",
		     fragment);
	cr_assert_eq(f.err.code, KVMINI_E_USAGE);
	cr_assert(strncmp(f.err.msg, name, len) == 0 && f.err.msg[len] == ':',
		  "message does not name the file: %s", f.err.msg);
	cr_assert(strstr(f.err.msg, fragment), "message '%s' lacks '%s'", f.err.msg, fragment);
	cr_assert_null(strchr(f.err.msg, '\n'));
	cr_assert(bytes_equal(guest_ptr(&f.mem, 0, RAM_SIZE), RAM_PATTERN, RAM_SIZE),
		  "a rejected kernel wrote guest memory");
	fixture_fini(&f);
}

static void expect_elf_rejected(const struct test_elf *t, const char *fragment)
{
	struct kvmini_image img = image(t);

	expect_rejected(&img, PATH, fragment);
}

Test(pvh, rejects_an_elf_without_the_note)
{
	struct test_elf t;

	build64(&t, 0);
	expect_elf_rejected(&t, "ELF kernel without a PVH entry (no \"Xen\" note of type 18,"
			    " XEN_ELFNOTE_PHYS32_ENTRY)");
}

Test(pvh, ignores_other_xen_notes)
{
	struct test_elf t;
	uint32_t value = PVH_ENTRY;

	build64(&t, 0);
	add_note(&t, "Xen", 1, &value, sizeof(value));        /* XEN_ELFNOTE_ENTRY */
	add_note(&t, "Xe", XEN_ELFNOTE_PHYS32_ENTRY, &value, sizeof(value));
	set_note_size64(&t);
	expect_elf_rejected(&t, "ELF kernel without a PVH entry");
}

Test(pvh, rejects_an_entry_note_of_odd_size)
{
	struct test_elf t;
	uint16_t entry = 0x100;

	build64(&t, 0);
	add_note(&t, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry, sizeof(entry));
	set_note_size64(&t);
	expect_elf_rejected(&t, "PVH entry note holds 2 bytes, need 4 or 8");
}

Test(pvh, rejects_an_entry_above_4_gib)
{
	struct test_elf t;
	uint64_t entry = 0x100000000ULL;

	build64(&t, 0);
	add_note(&t, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry, sizeof(entry));
	set_note_size64(&t);
	expect_elf_rejected(&t, "PVH entry 0x100000000 is not a 32-bit address");
}

Test(pvh, rejects_an_entry_outside_the_segments)
{
	struct test_elf t;
	uint32_t entry = SEG_ADDR + SEG_MEMSZ;

	build64(&t, 0);
	add_note(&t, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry, sizeof(entry));
	set_note_size64(&t);
	expect_elf_rejected(&t, "PVH entry 0x1003000 is outside the loaded segments"
			    " [0x1000000, 0x1003000)");
}

Test(pvh, rejects_a_note_that_overruns_its_segment)
{
	struct test_elf t;

	build64(&t, 1);
	/* The Xen note's header and name fit, its descriptor does not. */
	((Elf64_Phdr *)(t.bytes + sizeof(Elf64_Ehdr)))[1].p_filesz = 40;
	expect_elf_rejected(&t, "note at offset 0x18 of segment 1 extends past the segment"
			    " (0x28 bytes)");
}

Test(pvh, rejects_a_note_segment_beyond_the_file)
{
	struct test_elf t;

	build64(&t, 1);
	((Elf64_Phdr *)(t.bytes + sizeof(Elf64_Ehdr)))[1].p_offset = sizeof(t.bytes) - 8;
	expect_elf_rejected(&t, "note segment 1 (0x2c bytes at offset 0x17f8) extends past the"
			    " end of the file");
}

Test(pvh, rejects_segments_below_1_mib)
{
	struct test_elf t;
	uint32_t entry = 0x80100;

	build64(&t, 0);
	add_note(&t, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry, sizeof(entry));
	set_note_size64(&t);
	((Elf64_Phdr *)(t.bytes + sizeof(Elf64_Ehdr)))[0].p_paddr = 0x80000;
	expect_elf_rejected(&t, "a segment starts at 0x80000, below 1 MiB");
}

Test(pvh, rejects_a_malformed_elf_with_the_elf_loader_message)
{
	struct test_elf t;

	build64(&t, 1);
	((Elf64_Ehdr *)t.bytes)->e_type = ET_DYN;
	expect_elf_rejected(&t, "position-independent ELF (ET_DYN) is not supported");
}

Test(pvh, rejects_an_initrd_that_does_not_fit)
{
	struct test_elf t;
	struct kvmini_image img;
	uint8_t *big = calloc(1, 24 << 20);

	cr_assert_not_null(big);
	build64(&t, 1);
	img = image(&t);
	img.initrd = big;
	img.initrd_size = 24 << 20;
	img.initrd_path = INITRD_PATH;
	expect_rejected(&img, INITRD_PATH, "the initrd (25165824 bytes) does not fit between the"
			" kernel's end 0x1003000 and 0x2000000");
	free(big);
}

Test(pvh, rejects_a_command_line_longer_than_the_buffer)
{
	struct test_elf t;
	struct kvmini_image img;
	static char line[BOOT_CMDLINE_MAX + 2];

	memset(line, 'y', BOOT_CMDLINE_MAX + 1);
	build64(&t, 1);
	img = image(&t);
	img.cmdline = line;
	expect_rejected(&img, PATH, "the command line is 61440 bytes, longer than kvmini's"
			" command-line buffer (61439 bytes)");
}
