/* Unit tests of the bzImage loader (64-bit boot protocol). A bzImage is
 * built in memory from <asm/bootparam.h>'s struct setup_header, then
 * broken one field at a time. Guest RAM is filled with a pattern first,
 * so every rejection also proves that no byte of guest memory was
 * written. */
#include <asm/bootparam.h>
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "loaders/linux_boot.h"

#define RAM_SIZE (32ULL << 20)
#define RAM_PATTERN 0xcc
#define PATH "bzImage"
#define INITRD_PATH "initrd.img"

#define SETUP_SECTS 4
#define SETUP_SIZE ((SETUP_SECTS + 1) * 512)
#define KERNEL_SIZE 0x1000
#define PREF 0x1000000ULL            /* 16 MiB */
#define ALIGN 0x200000ULL            /* 2 MiB */
#define INIT_SIZE 0x100000u          /* 1 MiB */
#define CMDLINE_SIZE 255u
#define HDR_AT 0x1f1
#define HDR(t) ((struct setup_header *)((t)->bytes + HDR_AT))

struct test_bz {
	uint8_t bytes[SETUP_SIZE + KERNEL_SIZE + 512];
	uint64_t size;
};

struct fixture {
	struct guest_memory mem;
	struct kvmini_error err;
	struct load_result res;
};

static void fixture_init_size(struct fixture *f, uint64_t ram, int pattern)
{
	memset(f, 0, sizeof(*f));
	cr_assert_eq(guest_memory_init(&f->mem, ram, 0, &f->err), 0, "%s", f->err.msg);
	if (pattern)
		memset(guest_ptr(&f->mem, 0, ram), RAM_PATTERN, ram);
}

static void fixture_init(struct fixture *f)
{
	fixture_init_size(f, RAM_SIZE, 1);
}

static void fixture_fini(struct fixture *f)
{
	guest_memory_free(&f->mem);
}

static uint8_t kernel_byte(uint64_t i)
{
	return (uint8_t)(i * 7 + 3);
}

/* A valid bzImage: SETUP_SECTS setup sectors, then KERNEL_SIZE bytes. */
static void build(struct test_bz *t)
{
	struct setup_header *h = HDR(t);

	memset(t, 0, sizeof(*t));
	h->setup_sects = SETUP_SECTS;
	h->syssize = KERNEL_SIZE / 16;
	h->vid_mode = 0xffff;
	h->root_dev = 0x0801;
	h->boot_flag = 0xaa55;
	h->jump = 0xeb | (0x26c - 0x202) << 8;
	h->header = 0x53726448;
	h->version = 0x020f;
	h->kernel_version = 0x1234;
	h->loadflags = LOADED_HIGH;
	h->initrd_addr_max = 0x7fffffff;
	h->kernel_alignment = ALIGN;
	h->relocatable_kernel = 1;
	h->min_alignment = 21;
	h->xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G;
	h->cmdline_size = CMDLINE_SIZE;
	h->pref_address = PREF;
	h->init_size = INIT_SIZE;
	for (uint64_t i = 0; i < KERNEL_SIZE; i++)
		t->bytes[SETUP_SIZE + i] = kernel_byte(i);
	t->size = SETUP_SIZE + KERNEL_SIZE;
}

static struct kvmini_image image(const struct test_bz *t)
{
	return (struct kvmini_image){
		.format = KVMINI_FORMAT_LINUX, .path = PATH, .data = t->bytes, .size = t->size,
	};
}

static int bytes_equal(const uint8_t *p, uint8_t value, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		if (p[i] != value)
			return 0;
	return 1;
}

static const struct boot_params *zero_page(const struct fixture *f)
{
	return guest_ptr(&f->mem, BOOT_PARAMS_ADDR, sizeof(struct boot_params));
}

static const char *cmdline(const struct fixture *f)
{
	return guest_ptr(&f->mem, BOOT_CMDLINE_ADDR, 1);
}

static void load_ok(struct fixture *f, const struct kvmini_image *img)
{
	cr_assert_eq(load_linux(&f->mem, img, 0, &f->res, &f->err), 0, "%s", f->err.msg);
}

/* ---- loading ---- */

Test(bzimage, loads_the_kernel_at_pref_address_and_enters_at_0x200)
{
	struct fixture f;
	struct test_bz t;
	struct kvmini_image img;

	fixture_init(&f);
	build(&t);
	img = image(&t);
	load_ok(&f, &img);
	cr_assert_eq(f.res.mode, KVMINI_MODE_LONG);
	cr_assert_eq(f.res.abi, X86_ABI_LINUX64);
	cr_assert_eq(f.res.entry, PREF + 0x200);
	cr_assert_eq(f.res.rsi, BOOT_PARAMS_ADDR);
	cr_assert_eq(f.res.rbx, 0);
	cr_assert_eq(f.res.stack, BOOT_STACK_TOP);
	cr_assert_eq(f.res.low, PREF);
	cr_assert_eq(f.res.high, PREF + KERNEL_SIZE);
	cr_assert_eq(memcmp(guest_ptr(&f.mem, PREF, KERNEL_SIZE), t.bytes + SETUP_SIZE,
			    KERNEL_SIZE), 0);
	/* Nothing else of the kernel's init_size area was written. */
	cr_assert(bytes_equal(guest_ptr(&f.mem, PREF + KERNEL_SIZE, INIT_SIZE - KERNEL_SIZE),
			      RAM_PATTERN, INIT_SIZE - KERNEL_SIZE));
	fixture_fini(&f);
}

Test(bzimage, fills_the_zero_page)
{
	struct fixture f;
	struct test_bz t;
	struct kvmini_image img;

	fixture_init(&f);
	build(&t);
	img = image(&t);
	cr_assert_eq(load_linux(&f.mem, &img, 0xe0000, &f.res, &f.err), 0, "%s", f.err.msg);
	const struct boot_params *bp = zero_page(&f);
	const struct setup_header *h = &bp->hdr;
	cr_assert_eq(h->type_of_loader, 0xff);
	cr_assert_eq(h->loadflags, LOADED_HIGH | CAN_USE_HEAP);
	cr_assert_eq(h->heap_end_ptr, 0xde00);
	cr_assert_eq(h->cmd_line_ptr, BOOT_CMDLINE_ADDR);
	cr_assert_eq(h->code32_start, PREF);
	cr_assert_eq(h->ramdisk_image, 0);
	cr_assert_eq(h->ramdisk_size, 0);
	cr_assert_eq(bp->acpi_rsdp_addr, 0xe0000);
	/* Copied from the file as it was. */
	cr_assert_eq(h->kernel_version, 0x1234);
	cr_assert_eq(h->root_dev, 0x0801);
	cr_assert_eq(h->vid_mode, 0xffff);
	cr_assert_eq(h->pref_address, PREF);
	cr_assert_eq(h->init_size, INIT_SIZE);
	cr_assert_eq(h->min_alignment, 21);
	cr_assert_eq(h->jump, 0x6aeb);
	/* A clean zero page: what precedes the header is zero, but for the
	 * RSDP (0x70) and the number of map entries (0x1e8). */
	const uint8_t *raw = (const uint8_t *)bp;
	cr_assert(bytes_equal(raw, 0, 0x70));
	cr_assert(bytes_equal(raw + 0x78, 0, 0x1e8 - 0x78));
	cr_assert(bytes_equal(raw + 0x1e9, 0, HDR_AT - 0x1e9));
	cr_assert_eq(bp->sentinel, 0);
	fixture_fini(&f);
}

Test(bzimage, zero_page_memory_map_matches_ram)
{
	struct fixture f;
	struct test_bz t;
	struct kvmini_image img;

	fixture_init(&f);
	build(&t);
	img = image(&t);
	load_ok(&f, &img);
	const struct boot_params *bp = zero_page(&f);
	cr_assert_eq(bp->e820_entries, 3);
	cr_assert_eq(bp->e820_table[0].addr, 0);
	cr_assert_eq(bp->e820_table[0].size, 0x9fc00);
	cr_assert_eq(bp->e820_table[0].type, 1);
	cr_assert_eq(bp->e820_table[1].addr, 0x9fc00);
	cr_assert_eq(bp->e820_table[1].size, 0x100000 - 0x9fc00);
	cr_assert_eq(bp->e820_table[1].type, 2);
	cr_assert_eq(bp->e820_table[2].addr, 0x100000);
	cr_assert_eq(bp->e820_table[2].size, RAM_SIZE - 0x100000);
	cr_assert_eq(bp->e820_table[2].type, 1);
	cr_assert_eq(bp->e820_table[3].size, 0);
	fixture_fini(&f);
}

/* More than 3 GiB: the rest of RAM appears above 4 GiB. The memory is
 * mapped but only the pages the loader writes are touched. */
Test(bzimage, memory_map_above_4_gib)
{
	struct fixture f;
	struct test_bz t;
	struct kvmini_image img;
	struct x86_e820_entry map[BOOT_MAP_MAX];

	fixture_init_size(&f, 5ULL << 30, 0);
	build(&t);
	img = image(&t);
	load_ok(&f, &img);
	const struct boot_params *bp = zero_page(&f);
	cr_assert_eq(bp->e820_entries, 4);
	cr_assert_eq(bp->e820_table[2].addr, 0x100000);
	cr_assert_eq(bp->e820_table[2].size, (3ULL << 30) - 0x100000);
	cr_assert_eq(bp->e820_table[3].addr, 4ULL << 30);
	cr_assert_eq(bp->e820_table[3].size, 2ULL << 30);
	cr_assert_eq(bp->e820_table[3].type, 1);
	cr_assert_eq(boot_memory_map(&f.mem, map), 4);
	fixture_fini(&f);
}

Test(bzimage, setup_sects_zero_means_four)
{
	struct fixture f;
	struct test_bz t;
	struct kvmini_image img;

	fixture_init(&f);
	build(&t);
	HDR(&t)->setup_sects = 0;
	img = image(&t);
	load_ok(&f, &img);
	cr_assert_eq(memcmp(guest_ptr(&f.mem, PREF, KERNEL_SIZE), t.bytes + SETUP_SIZE,
			    KERNEL_SIZE), 0);
	cr_assert_eq(zero_page(&f)->hdr.setup_sects, 0, "the header is copied as it is");
	fixture_fini(&f);
}

/* pref_address does not fit in 16 MiB: the lowest 2 MiB-aligned address
 * from 1 MiB up does. */
Test(bzimage, relocatable_kernel_moves_below_pref_address_when_ram_is_small)
{
	struct fixture f;
	struct test_bz t;
	struct kvmini_image img;

	fixture_init_size(&f, 16ULL << 20, 1);
	build(&t);
	img = image(&t);
	load_ok(&f, &img);
	cr_assert_eq(f.res.low, ALIGN);
	cr_assert_eq(f.res.entry, ALIGN + 0x200);
	cr_assert_eq(zero_page(&f)->hdr.code32_start, ALIGN);
	fixture_fini(&f);
}

Test(bzimage, pref_address_zero_means_1_mib)
{
	struct fixture f;
	struct test_bz t;
	struct kvmini_image img;

	fixture_init(&f);
	build(&t);
	HDR(&t)->pref_address = 0;
	HDR(&t)->relocatable_kernel = 0;
	img = image(&t);
	load_ok(&f, &img);
	cr_assert_eq(f.res.low, 0x100000);
	fixture_fini(&f);
}

/* ---- command line ---- */

Test(bzimage, default_command_line)
{
	struct fixture f;
	struct test_bz t;
	struct kvmini_image img;

	fixture_init(&f);
	build(&t);
	img = image(&t);
	load_ok(&f, &img);
	cr_assert_str_eq(cmdline(&f), KVMINI_LINUX_CMDLINE);
	fixture_fini(&f);
}

Test(bzimage, command_line_replaced_and_appended)
{
	struct fixture f;
	struct test_bz t;
	struct kvmini_image img;

	fixture_init(&f);
	build(&t);
	img = image(&t);
	img.cmdline = "root=/dev/vda";
	img.cmdline_append = "quiet";
	load_ok(&f, &img);
	cr_assert_str_eq(cmdline(&f), "root=/dev/vda quiet");
	fixture_fini(&f);

	fixture_init(&f);
	img.cmdline = NULL;
	load_ok(&f, &img);
	cr_assert_str_eq(cmdline(&f), KVMINI_LINUX_CMDLINE " quiet");
	fixture_fini(&f);

	fixture_init(&f);
	img.cmdline = "";
	load_ok(&f, &img);
	cr_assert_str_eq(cmdline(&f), "quiet", "no space after an empty command line");
	fixture_fini(&f);

	fixture_init(&f);
	img.cmdline_append = NULL;
	load_ok(&f, &img);
	cr_assert_str_eq(cmdline(&f), "");
	fixture_fini(&f);
}

static char long_line[CMDLINE_SIZE + 2];

static const char *line_of(unsigned len)
{
	memset(long_line, 'x', len);
	long_line[len] = '\0';
	return long_line;
}

Test(bzimage, command_line_of_exactly_cmdline_size_fits)
{
	struct fixture f;
	struct test_bz t;
	struct kvmini_image img;

	fixture_init(&f);
	build(&t);
	img = image(&t);
	img.cmdline = line_of(CMDLINE_SIZE);
	load_ok(&f, &img);
	cr_assert_eq(strlen(cmdline(&f)), CMDLINE_SIZE);
	fixture_fini(&f);
}

/* ---- initrd ---- */

static uint8_t initrd_bytes[5000];

static void add_initrd(struct kvmini_image *img, uint64_t size)
{
	for (uint64_t i = 0; i < sizeof(initrd_bytes); i++)
		initrd_bytes[i] = (uint8_t)(i ^ 0x5a);
	img->initrd = initrd_bytes;
	img->initrd_size = size;
	img->initrd_path = INITRD_PATH;
}

Test(bzimage, initrd_at_the_top_of_ram_page_aligned)
{
	struct fixture f;
	struct test_bz t;
	struct kvmini_image img;
	uint64_t want = (RAM_SIZE - sizeof(initrd_bytes)) & ~0xfffULL;

	fixture_init(&f);
	build(&t);
	img = image(&t);
	add_initrd(&img, sizeof(initrd_bytes));
	load_ok(&f, &img);
	const struct setup_header *h = &zero_page(&f)->hdr;
	cr_assert_eq(h->ramdisk_image, want);
	cr_assert_eq(h->ramdisk_size, sizeof(initrd_bytes));
	cr_assert_eq(memcmp(guest_ptr(&f.mem, want, sizeof(initrd_bytes)), initrd_bytes,
			    sizeof(initrd_bytes)), 0);
	fixture_fini(&f);
}

Test(bzimage, initrd_stays_below_initrd_addr_max)
{
	struct fixture f;
	struct test_bz t;
	struct kvmini_image img;

	fixture_init(&f);
	build(&t);
	HDR(&t)->initrd_addr_max = 0x17fffff;   /* last byte at 24 MiB - 1 */
	img = image(&t);
	add_initrd(&img, sizeof(initrd_bytes));
	load_ok(&f, &img);
	cr_assert_eq(zero_page(&f)->hdr.ramdisk_image,
		     (0x1800000 - sizeof(initrd_bytes)) & ~0xfffULL);
	fixture_fini(&f);
}

/* ---- rejections ---- */

static void assert_rejected(struct fixture *f, int rc, const char *name, const char *fragment)
{
	size_t len = strlen(name);

	cr_assert_eq(rc, -1, "accepted; expected '%s'", fragment);
	cr_assert_eq(f->err.code, KVMINI_E_USAGE, "code %d: %s", f->err.code, f->err.msg);
	cr_assert(strncmp(f->err.msg, name, len) == 0 && f->err.msg[len] == ':',
		  "message does not name the file: %s", f->err.msg);
	cr_assert(strstr(f->err.msg, fragment), "message '%s' lacks '%s'", f->err.msg, fragment);
	cr_assert_null(strchr(f->err.msg, '\n'), "message is not one line: %s", f->err.msg);
	cr_assert(bytes_equal(guest_ptr(&f->mem, 0, f->mem.ram_size), RAM_PATTERN,
			      f->mem.ram_size), "a rejected kernel wrote guest memory");
}

static void expect_rejected_in(uint64_t ram, const struct kvmini_image *img, const char *name,
			       const char *fragment)
{
	struct fixture f;

	fixture_init_size(&f, ram, 1);
	assert_rejected(&f, load_linux(&f.mem, img, 0, &f.res, &f.err), name, fragment);
	fixture_fini(&f);
}

static void expect_rejected(const struct test_bz *t, const char *fragment)
{
	struct kvmini_image img = image(t);

	expect_rejected_in(RAM_SIZE, &img, PATH, fragment);
}

Test(bzimage, rejects_a_file_without_hdrs)
{
	struct test_bz t;

	build(&t);
	HDR(&t)->header = 0x12345678;
	expect_rejected(&t, "not a bzImage: no \"HdrS\" magic at offset 0x202");
}

Test(bzimage, rejects_a_file_too_short_for_a_header)
{
	struct test_bz t;

	build(&t);
	t.size = 0x100;
	expect_rejected(&t, "not a bzImage: 256 bytes is too short for a setup header");
}

Test(bzimage, rejects_a_bad_boot_flag)
{
	struct test_bz t;

	build(&t);
	HDR(&t)->boot_flag = 0x1234;
	expect_rejected(&t, "boot flag 0x1234 at offset 0x1fe, need 0xaa55");
}

Test(bzimage, rejects_an_old_protocol)
{
	struct test_bz t;

	build(&t);
	HDR(&t)->version = 0x0209;
	expect_rejected(&t, "boot protocol 2.09 is too old: kvmini needs 2.10 or later");
}

Test(bzimage, rejects_a_protocol_without_xloadflags)
{
	struct test_bz t;

	build(&t);
	HDR(&t)->version = 0x020b;
	expect_rejected(&t, "no 64-bit entry point: boot protocol 2.11 predates xloadflags");
}

Test(bzimage, rejects_a_kernel_without_64_bit_entry)
{
	struct test_bz t;

	build(&t);
	HDR(&t)->xloadflags = XLF_CAN_BE_LOADED_ABOVE_4G;
	expect_rejected(&t, "no 64-bit entry point (XLF_KERNEL_64 clear in xloadflags 0x0002)");
}

Test(bzimage, rejects_a_zimage)
{
	struct test_bz t;

	build(&t);
	HDR(&t)->loadflags = 0;
	expect_rejected(&t, "a zImage (LOADED_HIGH clear in loadflags)");
}

Test(bzimage, rejects_a_truncated_header)
{
	struct test_bz t;

	build(&t);
	t.size = 0x240;
	expect_rejected(&t, "truncated setup header: 576 bytes, the header needs 0x264");
}

Test(bzimage, rejects_a_header_without_its_jump)
{
	struct test_bz t;

	build(&t);
	t.bytes[0x200] = 0x90;
	expect_rejected(&t, "no jump over the setup header at offset 0x200 (byte 0x90, need 0xeb)");
}

Test(bzimage, rejects_a_header_that_ends_before_init_size)
{
	struct test_bz t;

	build(&t);
	t.bytes[0x201] = 0x40;
	expect_rejected(&t, "the setup header ends at offset 0x242, before init_size");
}

Test(bzimage, rejects_setup_sects_beyond_the_file)
{
	struct test_bz t;

	build(&t);
	HDR(&t)->setup_sects = 40;
	expect_rejected(&t, "truncated: setup_sects 40 puts the kernel at offset 0x5200,"
			" at or past the end of the file (6656 bytes)");
}

Test(bzimage, rejects_a_kernel_too_short_for_the_64_bit_entry)
{
	struct test_bz t;

	build(&t);
	HDR(&t)->syssize = 0;
	t.size = SETUP_SIZE + 0x200;
	expect_rejected(&t, "truncated: the protected-mode kernel is 512 bytes, too short"
			" for the 64-bit entry at 0x200");
}

Test(bzimage, rejects_a_kernel_shorter_than_syssize)
{
	struct test_bz t;

	build(&t);
	t.size -= 0x100;
	expect_rejected(&t, "truncated: the protected-mode kernel is 3840 bytes, syssize says 4096");
}

Test(bzimage, rejects_a_payload_beyond_the_kernel)
{
	struct test_bz t;

	build(&t);
	HDR(&t)->payload_offset = 0x800;
	HDR(&t)->payload_length = 0x900;
	expect_rejected(&t, "truncated: the payload (2304 bytes at 0x800) extends past the"
			" protected-mode kernel (4096 bytes)");
}

Test(bzimage, rejects_a_kernel_larger_than_ram)
{
	struct test_bz t;

	build(&t);
	HDR(&t)->init_size = 0x2000000;
	expect_rejected(&t, "the kernel needs 33554432 bytes (init_size) from a 0x200000-aligned"
			" address, more than the RAM from 1 MiB to 0x2000000; raise --mem");
}

Test(bzimage, rejects_a_fixed_kernel_that_does_not_fit_at_pref_address)
{
	struct test_bz t;
	struct kvmini_image img;

	build(&t);
	HDR(&t)->relocatable_kernel = 0;
	img = image(&t);
	expect_rejected_in(16ULL << 20, &img, PATH,
			   "the kernel is not relocatable and needs [0x1000000, 0x1100000)");
}

Test(bzimage, rejects_a_kernel_alignment_that_is_not_a_power_of_two)
{
	struct test_bz t;
	struct kvmini_image img;

	build(&t);
	HDR(&t)->kernel_alignment = 0x300000;
	img = image(&t);
	expect_rejected_in(16ULL << 20, &img, PATH, "kernel_alignment 0x300000 is not a power of two");
}

Test(bzimage, rejects_a_command_line_longer_than_cmdline_size)
{
	struct test_bz t;
	struct kvmini_image img;

	build(&t);
	img = image(&t);
	img.cmdline = line_of(CMDLINE_SIZE - 5);
	img.cmdline_append = "abcde";   /* one more with the space */
	expect_rejected_in(RAM_SIZE, &img, PATH, "the command line is 256 bytes, longer than"
			   " the kernel's cmdline_size (255 bytes)");
}

Test(bzimage, rejects_an_initrd_that_does_not_fit_below_initrd_addr_max)
{
	struct test_bz t;
	struct kvmini_image img;

	build(&t);
	HDR(&t)->initrd_addr_max = 0x1100fff;   /* 4 KiB above the kernel's end */
	img = image(&t);
	add_initrd(&img, sizeof(initrd_bytes));
	expect_rejected_in(RAM_SIZE, &img, INITRD_PATH,
			   "the initrd (5000 bytes) does not fit between the kernel's end 0x1100000"
			   " and 0x1101000 (the kernel's initrd_addr_max); raise --mem");
}

Test(bzimage, rejects_an_initrd_larger_than_the_ram_above_the_kernel)
{
	struct test_bz t;
	struct kvmini_image img;
	uint8_t *big = calloc(1, RAM_SIZE / 2);

	cr_assert_not_null(big);
	build(&t);
	img = image(&t);
	img.initrd = big;
	img.initrd_size = RAM_SIZE / 2;
	img.initrd_path = INITRD_PATH;
	expect_rejected_in(RAM_SIZE, &img, INITRD_PATH,
			   "does not fit between the kernel's end 0x1100000 and 0x2000000"
			   " (the end of the RAM below 4 GiB)");
	free(big);
}

Test(bzimage, rejects_an_empty_initrd)
{
	struct test_bz t;
	struct kvmini_image img;

	build(&t);
	img = image(&t);
	add_initrd(&img, 0);
	expect_rejected_in(RAM_SIZE, &img, INITRD_PATH, "empty initrd");
}

Test(bzimage, rejects_a_mode_or_entry_for_a_linux_kernel)
{
	struct test_bz t;
	struct kvmini_image img;

	build(&t);
	img = image(&t);
	img.entry_set = true;
	img.entry = 0x100000;
	expect_rejected_in(RAM_SIZE, &img, PATH,
			   "a Linux kernel sets its own mode, load address and entry");
}

/* The board's device words (virtio_mmio.device=...) go first, so that a
 * "--" in the command line or in --append cannot hand them to init. */
Test(bzimage, device_words_go_before_the_command_line)
{
	static const char words[] = "virtio_mmio.device=4K@0xd0000000:16";
	struct fixture f;
	struct test_bz t;
	fixture_init(&f);
	build(&t);
	struct kvmini_image img = image(&t);
	img.cmdline = "root=/dev/vda --";
	img.cmdline_append = "init-arg";
	cr_assert_eq(load_linux_devices(&f.mem, &img, 0, words, &f.res, &f.err), 0, "%s",
		     f.err.msg);
	cr_assert_str_eq(cmdline(&f), "virtio_mmio.device=4K@0xd0000000:16 root=/dev/vda -- init-arg");
	fixture_fini(&f);

	fixture_init(&f);
	img.cmdline = "";
	img.cmdline_append = NULL;
	cr_assert_eq(load_linux_devices(&f.mem, &img, 0, words, &f.res, &f.err), 0, "%s",
		     f.err.msg);
	cr_assert_str_eq(cmdline(&f), words, "a space after the words of an empty command line");
	fixture_fini(&f);

	fixture_init(&f);
	img.cmdline = NULL;
	cr_assert_eq(load_linux_devices(&f.mem, &img, 0, "", &f.res, &f.err), 0, "%s", f.err.msg);
	cr_assert_str_eq(cmdline(&f), KVMINI_LINUX_CMDLINE, "no devices, nothing added");
	fixture_fini(&f);

	/* The kernel's cmdline_size counts the words too. */
	fixture_init(&f);
	char many[CMDLINE_SIZE];
	memset(many, 'x', sizeof(many) - 1);
	many[sizeof(many) - 1] = '\0';
	cr_assert_eq(load_linux_devices(&f.mem, &img, 0, many, &f.res, &f.err), -1);
	cr_assert(strstr(f.err.msg, "cmdline_size"), "%s", f.err.msg);
	fixture_fini(&f);
}
