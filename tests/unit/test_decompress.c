/* Unit tests of host-side decompression (src/loaders/decompress.c,
 * vmlinux.c and the --decompress path of bzimage.c). Every compressed
 * buffer is made here by the library itself: zlib (gzip wrapper),
 * liblzma (xz), libzstd and liblz4 (blocks framed in the legacy format
 * by hand, as the kernel's build frames them). Then the buffers are cut
 * short, corrupted, mislabelled and made to decompress beyond the bound,
 * and each must fail with its own message and nothing allocated. */
#include <asm/bootparam.h>
#include <criterion/criterion.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "decompress_config.h"
#include "loaders/decompress.h"
#include "loaders/linux_boot.h"
#include "loaders/vmlinux.h"
#include <zlib.h>
#if KVMINI_HAVE_LZMA
#include <lzma.h>
#endif
#if KVMINI_HAVE_ZSTD
#include <zstd.h>
#endif
#if KVMINI_HAVE_LZ4
#include <lz4.h>
#endif

#define NAME "bzImage"
#define PLAIN_SIZE 100000u

/* A compressible but not trivial input: bytes a CRC would notice moving. */
static uint8_t *plain_bytes(size_t n)
{
	uint8_t *p = malloc(n);

	cr_assert(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 31) ^ (i >> 7));
	return p;
}

struct buf {
	uint8_t *data;
	size_t size;
};

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* kbuild's size_append: the decompressed size, le32, after the stream. */
static void append_size(struct buf *b, size_t plain_size)
{
	b->data = realloc(b->data, b->size + 4);
	cr_assert(b->data);
	put_le32(b->data + b->size, (uint32_t)plain_size);
	b->size += 4;
}

static struct buf make_gzip(const uint8_t *in, size_t n)
{
	z_stream s;
	struct buf b;

	memset(&s, 0, sizeof(s));
	cr_assert_eq(deflateInit2(&s, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
	b.size = deflateBound(&s, n) + 32;
	b.data = malloc(b.size);
	s.next_in = (Bytef *)in;
	s.avail_in = (uInt)n;
	s.next_out = b.data;
	s.avail_out = (uInt)b.size;
	cr_assert_eq(deflate(&s, Z_FINISH), Z_STREAM_END);
	b.size = s.total_out;
	deflateEnd(&s);
	return b;
}

#if KVMINI_HAVE_LZMA
static struct buf make_xz(const uint8_t *in, size_t n)
{
	struct buf b = { malloc(lzma_stream_buffer_bound(n)), 0 };

	cr_assert_eq(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, in, n, b.data, &b.size,
					     lzma_stream_buffer_bound(n)), LZMA_OK);
	append_size(&b, n);
	return b;
}
#endif

#if KVMINI_HAVE_ZSTD
static struct buf make_zstd(const uint8_t *in, size_t n)
{
	struct buf b = { malloc(ZSTD_compressBound(n)), 0 };

	b.size = ZSTD_compress(b.data, ZSTD_compressBound(n), in, n, 19);
	cr_assert(!ZSTD_isError(b.size));
	append_size(&b, n);
	return b;
}
#endif

#if KVMINI_HAVE_LZ4
/* The legacy frame: magic, then blocks of le32 size + data. */
static struct buf make_lz4(const uint8_t *in, size_t n, size_t block)
{
	size_t blocks = (n + block - 1) / block;
	struct buf b = { malloc(4 + blocks * (4 + (size_t)LZ4_compressBound((int)block))), 4 };

	put_le32(b.data, 0x184c2102);
	for (size_t done = 0; done < n; done += block) {
		size_t len = n - done < block ? n - done : block;
		int c = LZ4_compress_default((const char *)in + done, (char *)b.data + b.size + 4,
					     (int)len, LZ4_compressBound((int)len));
		cr_assert_gt(c, 0);
		put_le32(b.data + b.size, (uint32_t)c);
		b.size += 4 + (size_t)c;
	}
	append_size(&b, n);
	return b;
}
#endif

struct result {
	int rc;
	uint8_t *out;
	size_t size;
	struct kvmini_error err;
};

static struct result run(const struct buf *b, size_t max_out)
{
	struct result r;

	memset(&r, 0, sizeof(r));
	r.rc = payload_decompress(NAME, b->data, b->size, max_out, "the test's bound", &r.out,
				  &r.size, &r.err);
	return r;
}

static void expect_round_trip(struct buf b, const char *format)
{
	uint8_t *plain = plain_bytes(PLAIN_SIZE);
	struct result r = run(&b, 1u << 20);

	cr_assert_eq(r.rc, 0, "%s: %s", format, r.err.msg);
	cr_assert_eq(r.size, PLAIN_SIZE, "%s: %zu bytes", format, r.size);
	cr_assert_eq(memcmp(r.out, plain, PLAIN_SIZE), 0, "%s: bytes differ", format);
	free(r.out);
	free(plain);
	free(b.data);
}

static void expect_failure(struct buf b, size_t max_out, enum kvmini_status code,
			   const char *fragment)
{
	struct result r = run(&b, max_out);

	cr_assert_eq(r.rc, -1, "accepted; wanted: %s", fragment);
	cr_assert_null(r.out);
	cr_assert_eq(r.size, 0);
	cr_assert_eq(r.err.code, code, "code %d: %s", r.err.code, r.err.msg);
	cr_assert(strstr(r.err.msg, fragment), "message: %s; wanted: %s", r.err.msg, fragment);
	cr_assert(strncmp(r.err.msg, NAME ": ", strlen(NAME) + 2) == 0, "%s", r.err.msg);
	cr_assert_null(strchr(r.err.msg, '\n'));
	free(b.data);
}

/* Each format's compressed copy of plain_bytes(PLAIN_SIZE). */
static struct buf compressed(enum payload_format f)
{
	uint8_t *plain = plain_bytes(PLAIN_SIZE);
	struct buf b = { NULL, 0 };

	switch (f) {
	case PAYLOAD_GZIP: b = make_gzip(plain, PLAIN_SIZE); break;
#if KVMINI_HAVE_LZMA
	case PAYLOAD_XZ: b = make_xz(plain, PLAIN_SIZE); break;
#endif
#if KVMINI_HAVE_ZSTD
	case PAYLOAD_ZSTD: b = make_zstd(plain, PLAIN_SIZE); break;
#endif
#if KVMINI_HAVE_LZ4
	case PAYLOAD_LZ4: b = make_lz4(plain, PLAIN_SIZE, 30000); break;
#endif
	default: cr_assert_fail("no compressor for %s in this build", payload_format_name(f));
	}
	free(plain);
	return b;
}

static const enum payload_format all_formats[] = {
	PAYLOAD_GZIP, PAYLOAD_XZ, PAYLOAD_ZSTD, PAYLOAD_LZ4,
};
#define NFORMATS (sizeof(all_formats) / sizeof(all_formats[0]))

/* The library this test needs, as the Makefile found it. */
static int built_with(enum payload_format f)
{
	switch (f) {
	case PAYLOAD_GZIP: return KVMINI_HAVE_ZLIB;
	case PAYLOAD_XZ: return KVMINI_HAVE_LZMA;
	case PAYLOAD_ZSTD: return KVMINI_HAVE_ZSTD;
	default: return KVMINI_HAVE_LZ4;
	}
}

Test(decompress, detects_each_format_by_its_magic)
{
	static const struct { uint8_t bytes[6]; size_t len; enum payload_format f; } cases[] = {
		{ { 0x1f, 0x8b, 0x08 }, 3, PAYLOAD_GZIP },
		{ { 0xfd, '7', 'z', 'X', 'Z', 0 }, 6, PAYLOAD_XZ },
		{ { 0x28, 0xb5, 0x2f, 0xfd }, 4, PAYLOAD_ZSTD },
		{ { 0x02, 0x21, 0x4c, 0x18 }, 4, PAYLOAD_LZ4 },
		{ { 'B', 'Z', 'h', '9' }, 4, PAYLOAD_BZIP2 },
		{ { 0x5d, 0, 0, 0x80 }, 4, PAYLOAD_LZMA },
		{ { 0x89, 'L', 'Z', 'O' }, 4, PAYLOAD_LZO },
		{ { 0x7f, 'E', 'L', 'F' }, 4, PAYLOAD_ELF },
		{ { 0xfd, '7', 'z', 'X', 'Z', 1 }, 6, PAYLOAD_UNKNOWN },
		{ { 0x1f }, 1, PAYLOAD_UNKNOWN },
		{ { 0 }, 0, PAYLOAD_UNKNOWN },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_assert_eq(payload_detect(cases[i].bytes, cases[i].len), cases[i].f, "case %zu", i);
	cr_assert_str_eq(payload_format_name(PAYLOAD_XZ), "xz");
	cr_assert_str_eq(payload_format_name(PAYLOAD_UNKNOWN), "unknown");
}

Test(decompress, round_trips_every_format_built_in)
{
	for (size_t i = 0; i < NFORMATS; i++) {
		if (!built_with(all_formats[i])) {
			cr_log_warn("kvmini built without %s", payload_format_name(all_formats[i]));
			continue;
		}
		cr_assert(payload_supported(all_formats[i]));
		expect_round_trip(compressed(all_formats[i]), payload_format_name(all_formats[i]));
	}
}

Test(decompress, a_format_built_without_its_library_names_the_package)
{
	for (size_t i = 0; i < NFORMATS; i++) {
		if (built_with(all_formats[i]))
			continue;
		static const uint8_t magic[][8] = {
			{ 0x1f, 0x8b, 8 }, { 0xfd, '7', 'z', 'X', 'Z', 0 }, { 0x28, 0xb5, 0x2f, 0xfd },
			{ 0x02, 0x21, 0x4c, 0x18 },
		};
		struct buf b = { malloc(8), 8 };
		memcpy(b.data, magic[i], 8);
		expect_failure(b, 1u << 20, KVMINI_E_HOST, "install-deps.sh build");
	}
}

Test(decompress, lz4_legacy_frame_of_several_blocks_and_concatenated_frames)
{
#if KVMINI_HAVE_LZ4
	uint8_t *plain = plain_bytes(PLAIN_SIZE);
	struct buf a = make_lz4(plain, PLAIN_SIZE / 2, 10000);
	struct buf b = make_lz4(plain + PLAIN_SIZE / 2, PLAIN_SIZE / 2, 7000);
	/* Two frames back to back (the first one's size trailer dropped). */
	struct buf both = { malloc(a.size + b.size), 0 };
	memcpy(both.data, a.data, a.size - 4);
	memcpy(both.data + a.size - 4, b.data, b.size);
	both.size = a.size - 4 + b.size;
	free(a.data);
	free(b.data);
	free(plain);
	expect_round_trip(both, "lz4, two frames");
#else
	cr_skip_test("kvmini built without liblz4");
#endif
}

Test(decompress, an_uncompressed_elf_payload_is_copied)
{
	struct buf b = { plain_bytes(PLAIN_SIZE), PLAIN_SIZE };
	memcpy(b.data, ELFMAG, SELFMAG);
	struct result r = run(&b, PLAIN_SIZE);
	cr_assert_eq(r.rc, 0, "%s", r.err.msg);
	cr_assert_eq(r.size, PLAIN_SIZE);
	cr_assert_eq(memcmp(r.out, b.data, PLAIN_SIZE), 0);
	free(r.out);
	free(b.data);
}

Test(decompress, truncated_streams_are_refused)
{
	for (size_t i = 0; i < NFORMATS; i++) {
		if (!built_with(all_formats[i]))
			continue;
		struct buf b = compressed(all_formats[i]);
		b.size /= 2;
		expect_failure(b, 1u << 20, KVMINI_E_USAGE, "truncated");
	}
}

Test(decompress, a_stream_cut_to_its_magic_is_truncated)
{
	for (size_t i = 0; i < NFORMATS; i++) {
		if (!built_with(all_formats[i]))
			continue;
		struct buf b = compressed(all_formats[i]);
		b.size = all_formats[i] == PAYLOAD_XZ ? 6 : all_formats[i] == PAYLOAD_GZIP ? 2 : 4;
		struct result r = run(&b, 1u << 20);
		cr_assert_eq(r.rc, -1, "%s", payload_format_name(all_formats[i]));
		cr_assert_null(r.out);
		cr_assert_eq(r.err.code, KVMINI_E_USAGE, "%s", r.err.msg);
		free(b.data);
	}
}

Test(decompress, corrupt_data_is_refused)
{
	for (size_t i = 0; i < NFORMATS; i++) {
		if (!built_with(all_formats[i]))
			continue;
		struct buf b = compressed(all_formats[i]);
		/* Past the headers, before the end: the data or its checksum breaks. */
		for (size_t at = 16; at < b.size - 16; at += 7)
			b.data[at] ^= 0x55;
		struct result r = run(&b, 1u << 20);
		cr_assert_eq(r.rc, -1, "%s: corrupt data accepted", payload_format_name(all_formats[i]));
		cr_assert_null(r.out);
		cr_assert_eq(r.err.code, KVMINI_E_USAGE, "%s", r.err.msg);
		cr_assert(strstr(r.err.msg, "corrupt") || strstr(r.err.msg, "truncated") ||
			  strstr(r.err.msg, "more than"), "%s", r.err.msg);
		free(b.data);
	}
}

Test(decompress, output_beyond_the_bound_is_refused_in_every_format)
{
	for (size_t i = 0; i < NFORMATS; i++) {
		if (!built_with(all_formats[i]))
			continue;
		expect_failure(compressed(all_formats[i]), PLAIN_SIZE - 1, KVMINI_E_USAGE,
			       "decompresses to more than 99999 bytes (the test's bound)");
	}
}

Test(decompress, output_of_exactly_the_bound_fits)
{
	for (size_t i = 0; i < NFORMATS; i++) {
		if (!built_with(all_formats[i]))
			continue;
		struct buf b = compressed(all_formats[i]);
		struct result r = run(&b, PLAIN_SIZE);
		cr_assert_eq(r.rc, 0, "%s", r.err.msg);
		cr_assert_eq(r.size, PLAIN_SIZE);
		free(r.out);
		free(b.data);
	}
}

/* A size trailer claiming 4 GiB: the first buffer is still the bound's. */
Test(decompress, a_lying_size_trailer_changes_nothing)
{
	for (size_t i = 0; i < NFORMATS; i++) {
		if (!built_with(all_formats[i]) || all_formats[i] == PAYLOAD_GZIP)
			continue;
		struct buf b = compressed(all_formats[i]);
		put_le32(b.data + b.size - 4, 0xffffffffu);
		struct result r = run(&b, PLAIN_SIZE);
		cr_assert_eq(r.rc, 0, "%s: %s", payload_format_name(all_formats[i]), r.err.msg);
		cr_assert_eq(r.size, PLAIN_SIZE);
		free(r.out);
		free(b.data);
	}
}

Test(decompress, unknown_magic_is_refused_with_its_bytes)
{
	struct buf b = { malloc(16), 16 };
	memset(b.data, 0xab, 16);
	expect_failure(b, 1u << 20, KVMINI_E_USAGE, "starts with ab ab ab ab: not gzip, xz, zstd or lz4");
}

Test(decompress, bzip2_lzma_and_lzo_are_refused_by_name)
{
	static const char *magic[] = { "BZh91AY", "\x5d\x00\x00\x80\x00\x00\x00", "\x89LZO\x00\r\n" };
	static const char *name[] = { "bzip2", "lzma", "lzo" };
	for (int i = 0; i < 3; i++) {
		struct buf b = { malloc(8), 8 };
		memcpy(b.data, magic[i], 8);
		char want[64];
		snprintf(want, sizeof(want), "the payload is %s-compressed", name[i]);
		expect_failure(b, 1u << 20, KVMINI_E_USAGE, want);
	}
}

/* ---- vmlinux ELF parsing ---- */

#define VM_BASE 0x1000000ULL
#define VM_TEXT 0x3000u      /* file bytes of the text segment */
#define VM_BSS 0x5000u       /* its memory size beyond those */
#define VM_DATA 0x1000u

struct test_elf {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[3];
	uint8_t pad[0x1000 - sizeof(Elf64_Ehdr) - 3 * sizeof(Elf64_Phdr)];
	uint8_t text[VM_TEXT];
	uint8_t data[VM_DATA];
};

/* text at VM_BASE (+ BSS), data above it given as a kernel virtual
 * address (as p_paddr must be turned back), a note ignored. */
static void build_elf(struct test_elf *e)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->eh.e_ident, ELFMAG, SELFMAG);
	e->eh.e_ident[EI_CLASS] = ELFCLASS64;
	e->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	e->eh.e_ident[EI_VERSION] = EV_CURRENT;
	e->eh.e_type = ET_EXEC;
	e->eh.e_machine = EM_X86_64;
	e->eh.e_version = EV_CURRENT;
	e->eh.e_entry = VM_BASE + 0x200;
	e->eh.e_phoff = offsetof(struct test_elf, ph);
	e->eh.e_ehsize = sizeof(Elf64_Ehdr);
	e->eh.e_phentsize = sizeof(Elf64_Phdr);
	e->eh.e_phnum = 3;
	e->ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X,
		.p_offset = offsetof(struct test_elf, text), .p_vaddr = START_KERNEL_MAP + VM_BASE,
		.p_paddr = VM_BASE, .p_filesz = VM_TEXT, .p_memsz = VM_TEXT + VM_BSS };
	e->ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = 0, .p_filesz = 16 };
	e->ph[2] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_W,
		.p_offset = offsetof(struct test_elf, data),
		.p_paddr = START_KERNEL_MAP + VM_BASE + 0x10000, .p_filesz = VM_DATA,
		.p_memsz = VM_DATA };
	for (unsigned i = 0; i < VM_TEXT; i++)
		e->text[i] = (uint8_t)(i * 13 + 1);
	memset(e->data, 0xd7, VM_DATA);
}

static int parse(const struct test_elf *e, size_t size, struct vmlinux *v, struct kvmini_error *err)
{
	return vmlinux_parse(NAME, (const uint8_t *)e, size, v, err);
}

Test(vmlinux, parses_segments_and_turns_kernel_addresses_physical)
{
	struct test_elf e;
	struct vmlinux v;
	struct kvmini_error err;

	build_elf(&e);
	cr_assert_eq(parse(&e, sizeof(e), &v, &err), 0, "%s", err.msg);
	cr_assert_eq(v.nseg, 2);
	cr_assert_eq(v.seg[0].paddr, VM_BASE);
	cr_assert_eq(v.seg[1].paddr, VM_BASE + 0x10000);
	cr_assert_eq(v.low, VM_BASE);
	cr_assert_eq(v.high, VM_BASE + 0x10000 + VM_DATA);
	cr_assert_eq(v.entry, VM_BASE + 0x200);
}

static void expect_bad_elf(struct test_elf *e, size_t size, const char *fragment)
{
	struct vmlinux v;
	struct kvmini_error err;

	cr_assert_eq(parse(e, size, &v, &err), -1, "accepted; wanted: %s", fragment);
	cr_assert_eq(err.code, KVMINI_E_USAGE);
	cr_assert(strstr(err.msg, fragment), "message: %s; wanted: %s", err.msg, fragment);
}

Test(vmlinux, rejects_malformed_headers)
{
	struct test_elf e;

	build_elf(&e);
	expect_bad_elf(&e, 10, "not a usable vmlinux: truncated ELF header (10 bytes, need 64)");
	build_elf(&e);
	e.eh.e_ident[EI_CLASS] = ELFCLASS32;
	expect_bad_elf(&e, sizeof(e), "unsupported ELF class 1 (need ELFCLASS64)");
	build_elf(&e);
	e.eh.e_machine = EM_386;
	expect_bad_elf(&e, sizeof(e), "ELF64 image for machine 3, need EM_X86_64");
	build_elf(&e);
	e.eh.e_phnum = 0;
	expect_bad_elf(&e, sizeof(e), "no program headers");
	build_elf(&e);
	e.eh.e_phnum = 65;
	expect_bad_elf(&e, sizeof(e), "65 program headers, more than the 64 read here");
	build_elf(&e);
	e.eh.e_phoff = sizeof(e) - 8;
	expect_bad_elf(&e, sizeof(e), "program header table (3 entries at offset");
	build_elf(&e);
	e.eh.e_phoff = UINT64_MAX - 8;
	expect_bad_elf(&e, sizeof(e), "not a usable vmlinux: program header table");
}

Test(vmlinux, rejects_bad_segments_and_entries)
{
	struct test_elf e;

	build_elf(&e);
	e.ph[0].p_filesz = e.ph[0].p_memsz + 1;
	expect_bad_elf(&e, sizeof(e), "segment 0 file size 0x");
	build_elf(&e);
	e.ph[2].p_offset = sizeof(e) - 16;
	expect_bad_elf(&e, sizeof(e), "extends past the end of the file");
	build_elf(&e);
	e.ph[2].p_offset = UINT64_MAX;
	expect_bad_elf(&e, sizeof(e), "extends past the end of the file");
	build_elf(&e);
	e.ph[2].p_paddr = 1ULL << 50;
	expect_bad_elf(&e, sizeof(e), "physical address is out of range");
	build_elf(&e);
	e.ph[0].p_type = PT_NULL;
	e.ph[2].p_type = PT_NULL;
	expect_bad_elf(&e, sizeof(e), "no loadable segment");
	build_elf(&e);
	e.eh.e_entry = VM_BASE - 1;
	expect_bad_elf(&e, sizeof(e), "entry 0xffffff is outside its segments");
	/* The whole file is only the headers: a segment's bytes are past it. */
	build_elf(&e);
	expect_bad_elf(&e, offsetof(struct test_elf, text) + 1, "extends past the end of the file");
}

/* ---- the bzImage --decompress path ---- */

#define RAM (64ULL << 20)
#define SETUP_SECTS 4
#define SETUP_SIZE ((SETUP_SECTS + 1) * 512)
#define FLAT_SIZE 0x400u       /* the bzImage's own (flat) protected-mode part */
#define INIT_SIZE 0x20000u

/* A bzImage whose payload is gzip(the test ELF), after FLAT_SIZE bytes. */
static struct buf build_packed(const struct buf *payload, uint32_t pref)
{
	struct buf b = { calloc(1, SETUP_SIZE + FLAT_SIZE + payload->size + 16), 0 };
	struct setup_header *h = (struct setup_header *)(b.data + 0x1f1);

	b.size = SETUP_SIZE + FLAT_SIZE + ((payload->size + 15) & ~15ul);
	h->setup_sects = SETUP_SECTS;
	h->syssize = (uint32_t)((b.size - SETUP_SIZE) / 16);
	h->boot_flag = 0xaa55;
	h->jump = 0xeb | (0x26c - 0x202) << 8;
	h->header = 0x53726448;
	h->version = 0x020f;
	h->loadflags = LOADED_HIGH;
	h->initrd_addr_max = 0x7fffffff;
	h->kernel_alignment = 0x200000;
	h->relocatable_kernel = 1;
	h->xloadflags = XLF_KERNEL_64;
	h->cmdline_size = 255;
	h->pref_address = pref;
	h->init_size = INIT_SIZE;
	h->payload_offset = FLAT_SIZE;
	h->payload_length = (uint32_t)payload->size;
	memcpy(b.data + SETUP_SIZE + FLAT_SIZE, payload->data, payload->size);
	return b;
}

struct boot {
	struct guest_memory mem;
	struct load_result res;
	struct kvmini_error err;
	int rc;
};

static void boot_packed(struct boot *bt, const struct buf *bz, uint64_t ram)
{
	struct kvmini_image img = {
		.format = KVMINI_FORMAT_LINUX, .path = NAME, .data = bz->data, .size = bz->size,
		.decompress = true,
	};

	memset(bt, 0, sizeof(*bt));
	cr_assert_eq(guest_memory_init(&bt->mem, ram, 0, &bt->err), 0, "%s", bt->err.msg);
	memset(guest_ptr(&bt->mem, 0, ram), 0xcc, ram);
	bt->rc = load_linux(&bt->mem, &img, 0, &bt->res, &bt->err);
}

static struct buf gzip_of_elf(const struct test_elf *e)
{
	return make_gzip((const uint8_t *)e, sizeof(*e));
}

Test(bzimage_decompress, loads_vmlinux_segments_and_enters_startup_64)
{
	struct test_elf *e = malloc(sizeof(*e));
	build_elf(e);
	struct buf gz = gzip_of_elf(e), bz = build_packed(&gz, VM_BASE);
	struct boot bt;

	boot_packed(&bt, &bz, RAM);
	cr_assert_eq(bt.rc, 0, "%s", bt.err.msg);
	cr_assert_eq(bt.res.entry, VM_BASE + 0x200);
	cr_assert_eq(bt.res.mode, KVMINI_MODE_LONG);
	cr_assert_eq(bt.res.rsi, BOOT_PARAMS_ADDR);
	cr_assert_eq(bt.res.low, VM_BASE);
	cr_assert_eq(bt.res.high, VM_BASE + 0x10000 + VM_DATA);
	const uint8_t *text = guest_ptr(&bt.mem, VM_BASE, VM_TEXT + VM_BSS);
	cr_assert_eq(memcmp(text, e->text, VM_TEXT), 0, "text segment");
	for (unsigned i = 0; i < VM_BSS; i++)
		cr_assert_eq(text[VM_TEXT + i], 0, "BSS byte %u", i);
	const uint8_t *data = guest_ptr(&bt.mem, VM_BASE + 0x10000, VM_DATA);
	cr_assert_eq(memcmp(data, e->data, VM_DATA), 0, "data segment");
	/* The bzImage's own protected-mode part is not loaded. */
	cr_assert_eq(*(const uint8_t *)guest_ptr(&bt.mem, VM_BASE + 0x20000, 1), 0xcc);
	const struct boot_params *zp = guest_ptr(&bt.mem, BOOT_PARAMS_ADDR, sizeof(*zp));
	cr_assert_eq(zp->hdr.code32_start, VM_BASE);
	cr_assert_eq(zp->hdr.payload_length, gz.size, "the file's header is passed on");
	cr_assert_eq(zp->e820_entries, 3);
	guest_memory_free(&bt.mem);
	free(gz.data);
	free(bz.data);
	free(e);
}

Test(bzimage_decompress, small_ram_moves_the_segments_with_the_load_address)
{
	struct test_elf *e = malloc(sizeof(*e));
	build_elf(e);
	struct buf gz = gzip_of_elf(e), bz = build_packed(&gz, VM_BASE);
	struct boot bt;

	boot_packed(&bt, &bz, 8ULL << 20);   /* pref_address 16 MiB is beyond RAM */
	cr_assert_eq(bt.rc, 0, "%s", bt.err.msg);
	cr_assert_eq(bt.res.entry, 0x200000 + 0x200);
	cr_assert_eq(memcmp(guest_ptr(&bt.mem, 0x200000, VM_TEXT), e->text, VM_TEXT), 0);
	cr_assert_eq(memcmp(guest_ptr(&bt.mem, 0x210000, VM_DATA), e->data, VM_DATA), 0);
	guest_memory_free(&bt.mem);
	free(gz.data);
	free(bz.data);
	free(e);
}

static void expect_boot_refused(const struct buf *bz, uint64_t ram, const char *fragment)
{
	struct boot bt;

	boot_packed(&bt, bz, ram);
	cr_assert_eq(bt.rc, -1, "accepted; wanted: %s", fragment);
	cr_assert_eq(bt.err.code, KVMINI_E_USAGE, "%s", bt.err.msg);
	cr_assert(strstr(bt.err.msg, fragment), "message: %s; wanted: %s", bt.err.msg, fragment);
	const uint8_t *ram_bytes = guest_ptr(&bt.mem, 0, ram);
	for (uint64_t i = 0; i < ram; i += 4096)
		cr_assert_eq(ram_bytes[i], 0xcc, "guest RAM written at 0x%lx", (unsigned long)i);
	guest_memory_free(&bt.mem);
}

Test(bzimage_decompress, refusals_write_no_guest_memory)
{
	struct test_elf *e = malloc(sizeof(*e));
	build_elf(e);
	struct buf gz = gzip_of_elf(e), bz;

	bz = build_packed(&gz, VM_BASE);
	((struct setup_header *)(bz.data + 0x1f1))->payload_length = 0;
	expect_boot_refused(&bz, RAM, "the header locates no payload");
	free(bz.data);

	bz = build_packed(&gz, VM_BASE);
	bz.data[SETUP_SIZE + FLAT_SIZE] = 0x00;   /* the gzip magic broken */
	expect_boot_refused(&bz, RAM, "the payload starts with 00 8b");
	free(bz.data);

	struct buf half = { gz.data, gz.size / 2 };
	bz = build_packed(&half, VM_BASE);
	expect_boot_refused(&bz, RAM, "truncated gzip payload");
	free(bz.data);

	bz = build_packed(&gz, VM_BASE + 0x1000);   /* segments below the link base */
	expect_boot_refused(&bz, RAM, "below the link base pref_address");
	free(bz.data);

	e->eh.e_machine = EM_386;
	struct buf gz386 = gzip_of_elf(e);
	bz = build_packed(&gz386, VM_BASE);
	expect_boot_refused(&bz, RAM, "not a usable vmlinux");
	free(bz.data);
	free(gz386.data);
	free(gz.data);
	free(e);
}

/* 8 MiB of zeros compress to a few KiB: beyond 4 MiB of RAM, refused
 * before more than the RAM's size is allocated. */
Test(bzimage_decompress, payload_larger_than_ram_is_refused)
{
	size_t n = 8u << 20;
	uint8_t *zeros = calloc(1, n);
	memcpy(zeros, ELFMAG, SELFMAG);
	struct buf gz = make_gzip(zeros, n), bz = build_packed(&gz, VM_BASE);

	cr_assert_lt(gz.size, 64u << 10);
	expect_boot_refused(&bz, 4ULL << 20, "decompresses to more than 4194304 bytes");
	free(zeros);
	free(gz.data);
	free(bz.data);
}

Test(bzimage_decompress, an_elf_kernel_with_decompress_is_refused)
{
	struct test_elf *e = malloc(sizeof(*e));
	build_elf(e);
	struct buf elf = { (uint8_t *)e, sizeof(*e) };
	expect_boot_refused(&elf, RAM, "--decompress applies to a bzImage");
	free(e);
}
