/* Unit tests of the Multiboot loader on a plain guest_memory: crafted
 * kernels (a flat one described by the header's address fields, an
 * ELF32), the exact information structure they get, and every refusal.
 * Guest RAM holds a pattern first, so refusals also prove nothing was
 * written. */
#include <criterion/criterion.h>
#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include "loaders/linux_boot.h"
#include "loaders/multiboot.h"
#include "loaders/multiboot_abi.h"

#define RAM_SIZE (32ULL << 20)
#define RAM_PATTERN 0xcc
#define PATH "/boot/kernel.bin"

/* The flat kernel: loaded at 2 MiB, header 0x40 bytes in, BSS to +0x3000. */
#define FLAT_ADDR 0x200000u
#define FLAT_HDR_OFF 0x40u
#define FLAT_SIZE 0x1000u
#define FLAT_BSS_END (FLAT_ADDR + 0x3000u)
#define FLAT_ENTRY (FLAT_ADDR + 0x100u)

/* The ELF32 kernel: one PT_LOAD at 1 MiB from file offset 0x1000. */
#define ELF_SEG_OFF 0x1000u
#define ELF_ADDR 0x100000u
#define ELF_FILESZ 0x800u
#define ELF_MEMSZ 0x2800u
#define ELF_ENTRY (ELF_ADDR + 0x20u)

#define INFO_FLAGS (MULTIBOOT_INFO_MEMORY | MULTIBOOT_INFO_CMDLINE | MULTIBOOT_INFO_MODS | \
		    MULTIBOOT_INFO_MEM_MAP | MULTIBOOT_INFO_LOADER_NAME)

struct kernel {
	_Alignas(8) uint8_t bytes[ELF_SEG_OFF + ELF_FILESZ];
	uint64_t size;
};

struct fixture {
	struct guest_memory mem;
	struct kvmini_error err;
	struct load_result res;
};

static void fixture_init(struct fixture *f, uint64_t ram)
{
	memset(f, 0, sizeof(*f));
	cr_assert_eq(guest_memory_init(&f->mem, ram, 0, &f->err), 0, "%s", f->err.msg);
	memset(guest_ptr(&f->mem, 0, ram), RAM_PATTERN, ram);
}

static void put_header(struct kernel *k, uint32_t off, uint32_t flags)
{
	uint32_t words[3] = { MULTIBOOT_HEADER_MAGIC, flags, -(MULTIBOOT_HEADER_MAGIC + flags) };

	memcpy(k->bytes + off, words, sizeof(words));
}

/* A flat kernel: recognisable bytes, the header with its address fields. */
static void build_flat(struct kernel *k)
{
	struct multiboot_header h = {
		.header_addr = FLAT_ADDR + FLAT_HDR_OFF, .load_addr = FLAT_ADDR,
		.load_end_addr = 0, .bss_end_addr = FLAT_BSS_END, .entry_addr = FLAT_ENTRY,
	};

	memset(k, 0, sizeof(*k));
	for (unsigned i = 0; i < FLAT_SIZE; i++)
		k->bytes[i] = (uint8_t)(i * 7 + 1);
	k->size = FLAT_SIZE;
	memcpy(k->bytes + FLAT_HDR_OFF, &h, MULTIBOOT_HEADER_AOUT_SIZE);
	put_header(k, FLAT_HDR_OFF, MULTIBOOT_AOUT_KLUDGE | MULTIBOOT_PAGE_ALIGN);
}

static void set_kludge(struct kernel *k, uint32_t field_index, uint32_t value)
{
	memcpy(k->bytes + FLAT_HDR_OFF + 4 * field_index, &value, 4);
}

static void build_elf(struct kernel *k)
{
	Elf32_Ehdr *eh = (Elf32_Ehdr *)k->bytes;
	Elf32_Phdr *ph = (Elf32_Phdr *)(k->bytes + sizeof(*eh));

	memset(k, 0, sizeof(*k));
	*eh = (Elf32_Ehdr){
		.e_type = ET_EXEC, .e_machine = EM_386, .e_version = EV_CURRENT,
		.e_entry = ELF_ENTRY, .e_phoff = sizeof(*eh), .e_ehsize = sizeof(*eh),
		.e_phentsize = sizeof(*ph), .e_phnum = 1,
	};
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS32;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	*ph = (Elf32_Phdr){
		.p_type = PT_LOAD, .p_offset = ELF_SEG_OFF, .p_vaddr = ELF_ADDR,
		.p_paddr = ELF_ADDR, .p_filesz = ELF_FILESZ, .p_memsz = ELF_MEMSZ,
		.p_flags = PF_R | PF_X, .p_align = 0x1000,
	};
	for (unsigned i = 0; i < ELF_FILESZ; i++)
		k->bytes[ELF_SEG_OFF + i] = (uint8_t)(i * 3 + 5);
	put_header(k, ELF_SEG_OFF, MULTIBOOT_PAGE_ALIGN | MULTIBOOT_MEMORY_INFO);
	k->size = ELF_SEG_OFF + ELF_FILESZ;
}

static struct kvmini_image image(const struct kernel *k)
{
	return (struct kvmini_image){
		.format = KVMINI_FORMAT_LINUX, .path = PATH, .data = k->bytes, .size = k->size,
	};
}

static const struct multiboot_info *info(const struct fixture *f)
{
	return guest_ptr(&f->mem, f->res.rbx, sizeof(struct multiboot_info));
}

static const char *guest_string(const struct fixture *f, uint32_t addr)
{
	return guest_ptr(&f->mem, addr, 1);
}

static void load_ok(struct fixture *f, const struct kvmini_image *img)
{
	cr_assert_eq(load_linux(&f->mem, img, 0, &f->res, &f->err), 0, "%s", f->err.msg);
}

static int bytes_equal(const uint8_t *p, uint8_t value, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		if (p[i] != value)
			return 0;
	return 1;
}

/* A refusal: status 2, the message, and no byte of RAM written. */
static void expect_refused(const struct kvmini_image *img, uint64_t ram, const char *msg)
{
	struct fixture f;

	fixture_init(&f, ram);
	cr_assert_eq(load_linux(&f.mem, img, 0, &f.res, &f.err), -1);
	cr_assert_eq(f.err.code, KVMINI_E_USAGE);
	cr_assert_str_eq(f.err.msg, msg);
	cr_assert(bytes_equal(guest_ptr(&f.mem, 0, ram), RAM_PATTERN, ram),
		  "a refused kernel wrote guest RAM");
	guest_memory_free(&f.mem);
}

Test(multiboot, flat_kernel_gets_the_exact_information_structure)
{
	struct kernel k;
	struct fixture f;
	struct kvmini_image img;

	build_flat(&k);
	img = image(&k);
	img.cmdline = "a b";
	fixture_init(&f, RAM_SIZE);
	load_ok(&f, &img);

	cr_assert_eq(f.res.mode, KVMINI_MODE_PROTECTED);
	cr_assert_eq(f.res.entry, FLAT_ENTRY);
	cr_assert_eq(f.res.rax, MULTIBOOT_BOOT_MAGIC);
	cr_assert_eq(f.res.rbx, BOOT_PARAMS_ADDR);
	cr_assert_eq(f.res.low, FLAT_ADDR);
	cr_assert_eq(f.res.high, FLAT_BSS_END);
	cr_assert_eq(memcmp(guest_ptr(&f.mem, FLAT_ADDR, FLAT_SIZE), k.bytes, FLAT_SIZE), 0);
	cr_assert(bytes_equal(guest_ptr(&f.mem, FLAT_ADDR + FLAT_SIZE, FLAT_BSS_END - FLAT_ADDR
					- FLAT_SIZE), 0, FLAT_BSS_END - FLAT_ADDR - FLAT_SIZE));

	const struct multiboot_info *mbi = info(&f);
	struct multiboot_info want = {
		.flags = INFO_FLAGS, .mem_lower = 639, .mem_upper = (RAM_SIZE >> 10) - 1024,
		.cmdline = 0x51000, .mods_count = 0, .mods_addr = 0x50100,
		.mmap_length = 3 * 24, .mmap_addr = 0x50080,
		.boot_loader_name = 0x51000 + sizeof(PATH " a b"),
	};
	cr_assert_eq(memcmp(mbi, &want, sizeof(want)), 0, "information structure differs");
	cr_assert_str_eq(guest_string(&f, mbi->cmdline), PATH " a b");
	cr_assert_str_eq(guest_string(&f, mbi->boot_loader_name), "kvmini");

	const struct multiboot_mmap_entry *e = guest_ptr(&f.mem, mbi->mmap_addr, 3 * 24);
	struct multiboot_mmap_entry map[3] = {
		{ 20, 0, 0x9fc00, 1 }, { 20, 0x9fc00, 0x100000 - 0x9fc00, 2 },
		{ 20, 0x100000, RAM_SIZE - 0x100000, 1 },
	};
	cr_assert_eq(memcmp(e, map, sizeof(map)), 0, "memory map differs");
	guest_memory_free(&f.mem);
}

Test(multiboot, memory_map_is_the_e820_map_of_the_linux_loaders)
{
	struct kernel k;
	struct fixture f;
	struct kvmini_image img;
	struct x86_e820_entry map[BOOT_MAP_MAX];
	unsigned n;

	build_flat(&k);
	img = image(&k);
	fixture_init(&f, RAM_SIZE);
	load_ok(&f, &img);
	n = boot_memory_map(&f.mem, map);
	cr_assert_eq(info(&f)->mmap_length, n * 24);
	for (unsigned i = 0; i < n; i++) {
		const struct multiboot_mmap_entry *e =
			guest_ptr(&f.mem, info(&f)->mmap_addr + i * 24, 24);
		cr_assert_eq(e->addr, map[i].addr);
		cr_assert_eq(e->len, map[i].size);
		cr_assert_eq(e->type, map[i].type);
	}
	guest_memory_free(&f.mem);
}

static void expect_cmdline(const char *cmdline, const char *append, const char *want)
{
	struct kernel k;
	struct fixture f;
	struct kvmini_image img;

	build_flat(&k);
	img = image(&k);
	img.cmdline = cmdline;
	img.cmdline_append = append;
	fixture_init(&f, RAM_SIZE);
	load_ok(&f, &img);
	cr_assert_str_eq(guest_string(&f, info(&f)->cmdline), want);
	guest_memory_free(&f.mem);
}

Test(multiboot, command_line_is_the_path_and_the_arguments_as_qemu_passes_it)
{
	expect_cmdline(NULL, NULL, PATH " ");
	expect_cmdline("", NULL, PATH " ");
	expect_cmdline(NULL, "x=1", PATH " x=1");
	expect_cmdline("a", "x=1", PATH " a x=1");
}

Test(multiboot, elf_kernel_with_initrd_and_modules)
{
	static const uint8_t initrd[5000] = { 1, 2, 3 };
	static const uint8_t m1[3] = { 7, 8, 9 };
	static const uint8_t m2[0x1001] = { 4 };
	const struct kvmini_module mods[2] = {
		{ .path = "m1", .cmdline = "m1 arg=1", .data = m1, .size = sizeof(m1) },
		{ .path = "m2", .data = m2, .size = sizeof(m2) },
	};
	struct kernel k;
	struct fixture f;
	struct kvmini_image img;

	build_elf(&k);
	img = image(&k);
	img.initrd = initrd;
	img.initrd_size = sizeof(initrd);
	img.initrd_path = "initrd.img";
	img.modules = mods;
	img.nmodules = 2;
	fixture_init(&f, RAM_SIZE);
	load_ok(&f, &img);

	cr_assert_eq(f.res.entry, ELF_ENTRY);
	cr_assert_eq(f.res.low, ELF_ADDR);
	cr_assert_eq(f.res.high, ELF_ADDR + ELF_MEMSZ);
	cr_assert_eq(memcmp(guest_ptr(&f.mem, ELF_ADDR, ELF_FILESZ), k.bytes + ELF_SEG_OFF,
			    ELF_FILESZ), 0);
	const struct multiboot_info *mbi = info(&f);
	cr_assert_eq(mbi->mods_count, 3);
	const struct multiboot_module *list = guest_ptr(&f.mem, mbi->mods_addr, 3 * 16);
	/* Each on the next page after the kernel's end and the module before. */
	const uint32_t start[3] = { 0x103000, 0x105000, 0x106000 };
	const uint64_t size[3] = { sizeof(initrd), sizeof(m1), sizeof(m2) };
	const uint8_t *data[3] = { initrd, m1, m2 };
	const char *str[3] = { "initrd.img", "m1 arg=1", "m2" };
	for (unsigned i = 0; i < 3; i++) {
		cr_assert_eq(list[i].mod_start, start[i], "module %u at 0x%x", i, list[i].mod_start);
		cr_assert_eq(list[i].mod_end, start[i] + size[i]);
		cr_assert_eq(list[i].reserved, 0);
		cr_assert_str_eq(guest_string(&f, list[i].string), str[i]);
		cr_assert_eq(memcmp(guest_ptr(&f.mem, start[i], size[i]), data[i], size[i]), 0);
	}
	guest_memory_free(&f.mem);
}

Test(multiboot, finds_the_header_only_aligned_in_the_first_8_kib)
{
	static uint8_t buf[MULTIBOOT_SEARCH_BYTES + 64];
	struct kernel *k = (struct kernel *)buf;   /* only put_header's bytes are used */
	uint32_t off;

	memset(buf, 0, sizeof(buf));
	put_header(k, MULTIBOOT_SEARCH_BYTES - 12, 0);
	cr_assert_eq(multiboot_find_header(buf, sizeof(buf), &off), 1);
	cr_assert_eq(off, MULTIBOOT_SEARCH_BYTES - 12);
	memset(buf, 0, sizeof(buf));
	put_header(k, MULTIBOOT_SEARCH_BYTES - 8, 0);   /* its checksum past 8 KiB */
	cr_assert_eq(multiboot_find_header(buf, sizeof(buf), &off), 0);
	memset(buf, 0, sizeof(buf));
	put_header(k, 2, 0);                               /* unaligned */
	cr_assert_eq(multiboot_find_header(buf, sizeof(buf), &off), 0);
	cr_assert_eq(multiboot_find_header(buf, 0, &off), 0);
}

#define REFUSED(what) PATH ": " what

Test(multiboot, refuses_malformed_headers)
{
	struct kernel k;
	struct kvmini_image img;

	build_flat(&k);
	put_header(&k, FLAT_HDR_OFF, MULTIBOOT_AOUT_KLUDGE | (1u << 3));
	img = image(&k);
	expect_refused(&img, RAM_SIZE, REFUSED("the Multiboot header requires features kvmini"
					       " does not have (flags 0x8)"));

	build_flat(&k);
	k.size = FLAT_HDR_OFF + 20;   /* the address fields cut off */
	img = image(&k);
	expect_refused(&img, RAM_SIZE, REFUSED("the Multiboot header's address fields (flag 16)"
					       " run past the end of the file"));

	build_flat(&k);
	set_kludge(&k, 3, FLAT_ADDR + 0x1000);   /* header_addr far past the file's start */
	img = image(&k);
	expect_refused(&img, RAM_SIZE, REFUSED("Multiboot header_addr and load_addr put the load"
					       " start before the file's first byte"));

	build_flat(&k);
	set_kludge(&k, 5, FLAT_ADDR + FLAT_SIZE + 1);   /* load_end_addr past the file */
	img = image(&k);
	expect_refused(&img, RAM_SIZE, REFUSED("Multiboot load_end_addr is not after load_addr"
					       " within the file"));

	build_flat(&k);
	set_kludge(&k, 6, FLAT_ADDR + 0x10);   /* bss_end_addr inside the loaded bytes */
	img = image(&k);
	expect_refused(&img, RAM_SIZE, REFUSED("Multiboot bss_end_addr is before the loaded"
					       " bytes' end"));
}

Test(multiboot, refuses_a_file_without_a_valid_header)
{
	struct kernel k;
	struct kvmini_image img;

	build_flat(&k);
	k.bytes[FLAT_HDR_OFF + 8] ^= 1;   /* checksum */
	img = image(&k);
	/* Without a Multiboot header the file is taken for a bzImage. */
	cr_assert_eq(multiboot_find_header(k.bytes, k.size, &(uint32_t){ 0 }), 0);
	struct fixture f;
	fixture_init(&f, RAM_SIZE);
	cr_assert_eq(load_multiboot(&f.mem, &img, &f.res, &f.err), -1);
	cr_assert_str_eq(f.err.msg, REFUSED("no Multiboot header (magic 0x1BADB002 with a matching"
					    " checksum) in the first 8 KiB"));
	guest_memory_free(&f.mem);
}

Test(multiboot, refuses_kernels_that_do_not_fit)
{
	struct kernel k;
	struct kvmini_image img;

	build_flat(&k);
	set_kludge(&k, 3, 0x80000 + FLAT_HDR_OFF);
	set_kludge(&k, 4, 0x80000);
	set_kludge(&k, 6, 0);
	set_kludge(&k, 7, 0x80000);
	img = image(&k);
	expect_refused(&img, RAM_SIZE, REFUSED("the kernel starts at 0x80000, below 1 MiB, where"
					       " kvmini keeps its boot structures"));

	build_flat(&k);
	set_kludge(&k, 7, FLAT_BSS_END);   /* entry at the end */
	img = image(&k);
	expect_refused(&img, RAM_SIZE, REFUSED("the Multiboot entry 0x203000 is outside the kernel"
					       " [0x200000, 0x203000)"));

	build_flat(&k);
	set_kludge(&k, 6, 0x7000000);   /* BSS past 32 MiB of RAM */
	img = image(&k);
	expect_refused(&img, RAM_SIZE, REFUSED("kernel [0x200000, 0x7000000) is outside guest RAM"
					       " (RAM ends at 0x2000000)"));

	build_elf(&k);
	put_header(&k, ELF_SEG_OFF, 0);
	k.bytes[0] = 0;   /* not ELF any more, and no address fields */
	img = image(&k);
	expect_refused(&img, RAM_SIZE, REFUSED("a Multiboot kernel that is not ELF needs the"
					       " header's address fields (flag 16)"));
}

/* The same kernel as ELF64: a Multiboot entry is 32-bit. */
static void build_elf64(struct kernel *k)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)k->bytes;
	Elf64_Phdr *ph = (Elf64_Phdr *)(k->bytes + sizeof(*eh));

	build_elf(k);
	memset(k->bytes, 0, sizeof(*eh) + sizeof(*ph));
	*eh = (Elf64_Ehdr){
		.e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
		.e_entry = ELF_ENTRY, .e_phoff = sizeof(*eh), .e_ehsize = sizeof(*eh),
		.e_phentsize = sizeof(*ph), .e_phnum = 1,
	};
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	*ph = (Elf64_Phdr){
		.p_type = PT_LOAD, .p_offset = ELF_SEG_OFF, .p_vaddr = ELF_ADDR,
		.p_paddr = ELF_ADDR, .p_filesz = ELF_FILESZ, .p_memsz = ELF_MEMSZ,
		.p_flags = PF_R | PF_X, .p_align = 0x1000,
	};
}

Test(multiboot, refuses_an_elf64_kernel)
{
	struct kernel k;
	struct kvmini_image img;

	build_elf64(&k);
	img = image(&k);
	expect_refused(&img, RAM_SIZE, REFUSED("a Multiboot kernel is entered in 32-bit mode: give"
					       " an ELF32 (this is ELF64)"));
}

Test(multiboot, refuses_modules_that_do_not_fit)
{
	static const uint8_t big[0x100000] = { 0 };
	struct kvmini_module mods[MULTIBOOT_MODULES_MAX + 1];
	struct kernel k;
	struct kvmini_image img;

	for (unsigned i = 0; i <= MULTIBOOT_MODULES_MAX; i++)
		mods[i] = (struct kvmini_module){ .path = "big", .data = big, .size = sizeof(big) };
	build_flat(&k);
	img = image(&k);
	img.modules = mods;
	img.nmodules = 2;
	/* 4 MiB of RAM: the kernel ends at 0x203000, a 1 MiB module fits, two do not. */
	expect_refused(&img, 4ULL << 20, REFUSED("module 1 (big, 1048576 bytes) does not fit"
						 " between the kernel's end 0x203000 and 0x400000;"
						 " raise --mem"));
	img.nmodules = MULTIBOOT_MODULES_MAX + 1;
	expect_refused(&img, RAM_SIZE, REFUSED("17 modules, more than kvmini's 16"));
}

Test(multiboot, refuses_strings_longer_than_their_area)
{
	static char longline[0x10000];
	struct kernel k;
	struct kvmini_image img;

	memset(longline, 'x', sizeof(longline) - 1);
	build_flat(&k);
	img = image(&k);
	img.cmdline = longline;
	expect_refused(&img, RAM_SIZE, REFUSED("the command line and module strings take more"
					       " than kvmini's 61440 bytes for them"));
}

Test(multiboot, module_option_needs_a_multiboot_kernel)
{
	static const uint8_t m[1] = { 0 };
	const struct kvmini_module mod = { .path = "m", .data = m, .size = 1 };
	uint8_t notakernel[0x400] = { 0 };
	struct kvmini_image img = {
		.format = KVMINI_FORMAT_LINUX, .path = "bz", .data = notakernel,
		.size = sizeof(notakernel), .modules = &mod, .nmodules = 1,
	};

	expect_refused(&img, RAM_SIZE, "bz: --module needs a Multiboot kernel");
}

/* The in-repo conformance kernel (guests/multiboot), as built: the ELF
 * and the flat binary with address fields load the same bytes (BSS
 * zeroed in both) and enter at the same place. */
#include "read_file.h"

static void load_built(struct fixture *f, const char *path, uint8_t **data)
{
	size_t size;
	struct kvmini_image img = { .format = KVMINI_FORMAT_LINUX, .path = path };

	*data = test_read_file(path, &size);
	img.data = *data;
	img.size = size;
	fixture_init(f, RAM_SIZE);
	load_ok(f, &img);
}

Test(multiboot, the_built_guest_loads_alike_as_elf_and_as_flat_binary)
{
	struct fixture elf, flat;
	uint8_t *elf_data, *flat_data;

	load_built(&elf, "build/guests/multiboot.elf", &elf_data);
	load_built(&flat, "build/guests/multiboot_kludge.bin", &flat_data);
	cr_assert_eq(elf.res.rax, MULTIBOOT_BOOT_MAGIC);
	cr_assert_eq(flat.res.rax, MULTIBOOT_BOOT_MAGIC);
	cr_assert_eq(elf.res.low, 0x100000);
	cr_assert_eq(flat.res.low, 0x100000);
	cr_assert_eq(elf.res.high, flat.res.high);
	cr_assert_eq(elf.res.entry, flat.res.entry);
	/* All alike after the header's flags and checksum (0x100004-0x10000b). */
	cr_assert_eq(memcmp(guest_ptr(&elf.mem, 0x10000c, elf.res.high - 0x10000c),
			    guest_ptr(&flat.mem, 0x10000c, flat.res.high - 0x10000c),
			    elf.res.high - 0x10000c), 0, "the two builds loaded different bytes");
	guest_memory_free(&elf.mem);
	guest_memory_free(&flat.mem);
	free(elf_data);
	free(flat_data);
}
