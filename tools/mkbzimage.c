/* mkbzimage — wrap a flat 64-bit kernel in the bzImage format.
 *
 * The output is what a boot loader following the Linux x86 boot
 * protocol (Documentation/arch/x86/boot.rst) expects: a boot sector and
 * setup sectors carrying the setup header (struct setup_header from
 * <asm/bootparam.h> at offset 0x1f1, "HdrS" at 0x202, the jump over the
 * header at 0x200), then the protected-mode kernel: PAYLOAD, whose
 * 64-bit entry must be at its offset 0x200. The setup sectors hold no
 * real-mode code, so only the 64-bit boot protocol can start the
 * result. kvmini's conformance kernel (guests/bootconf) is built with it.
 * With --payload FILE, FILE (a compressed vmlinux) follows the flat
 * kernel, 16-byte aligned, and payload_offset/payload_length locate it,
 * as a real bzImage locates the payload its decompressor unpacks.
 *
 * usage: mkbzimage [--NAME VALUE]... PAYLOAD OUTPUT  (mkbzimage --help) */
#include <asm/bootparam.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR_OFFSET   0x1f1u
#define HDRS_MAGIC   0x53726448u
#define SECTOR       512u
#define HEADER_END   (HDR_OFFSET + sizeof(struct setup_header))
#define JUMP_AT      0x200u

struct settings {
	unsigned long long setup_sects, version, pref_address, kernel_alignment, init_size,
		cmdline_size, initrd_addr_max, relocatable, xloadflags;
};

struct setting {
	const char *name;
	size_t offset;
	unsigned long long max;
};

#define SETTING(field, max) { #field, offsetof(struct settings, field), max }
static const struct setting setting_table[] = {
	SETTING(setup_sects, 0xff), SETTING(version, 0xffff),
	SETTING(pref_address, UINT64_MAX), SETTING(kernel_alignment, UINT32_MAX),
	SETTING(init_size, UINT32_MAX), SETTING(cmdline_size, UINT32_MAX),
	SETTING(initrd_addr_max, UINT32_MAX), SETTING(relocatable, 1),
	SETTING(xloadflags, 0xffff),
};
#define NSETTINGS (sizeof(setting_table) / sizeof(setting_table[0]))

static void usage(FILE *to)
{
	fputs("usage: mkbzimage [options] PAYLOAD OUTPUT\n"
	      "options (numbers in C notation; underscores or dashes in names):\n"
	      "  --setup-sects N        setup sectors after the boot sector (default 4;\n"
	      "                         0 is written as is and means 4)\n"
	      "  --version V            boot protocol (default 0x020f: 2.15)\n"
	      "  --pref-address A       preferred load address (default 0x1000000)\n"
	      "  --kernel-alignment A   (default 0x200000)\n"
	      "  --init-size N          (default: the payload rounded up to 4 KiB)\n"
	      "  --cmdline-size N       (default 2047)\n"
	      "  --initrd-addr-max A    (default 0x7fffffff)\n"
	      "  --relocatable 0|1      (default 1)\n"
	      "  --xloadflags F         (default 0x3: XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G)\n"
	      "  --payload FILE         append FILE after PAYLOAD and point payload_offset\n"
	      "                         and payload_length at it\n",
	      to);
}

static int fail(const char *fmt, const char *arg)
{
	fputs("mkbzimage: ", stderr);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return 2;
}

/* "--init-size" and "--init_size" both name settings.init_size. */
static const struct setting *find_setting(const char *option)
{
	char name[32];
	size_t i;

	for (i = 0; option[i] && i < sizeof(name) - 1; i++)
		name[i] = option[i] == '-' ? '_' : option[i];
	name[i] = '\0';
	for (size_t s = 0; s < NSETTINGS; s++)
		if (strcmp(setting_table[s].name, name) == 0)
			return &setting_table[s];
	return NULL;
}

static int parse_setting(const char *option, const char *value, struct settings *set)
{
	const struct setting *s = find_setting(option);
	char *end;
	unsigned long long v;

	if (!s)
		return fail("unknown option '--%s' (try --help)", option);
	errno = 0;
	v = strtoull(value, &end, 0);
	if (errno || end == value || *end || *value == '-' || v > s->max)
		return fail("bad value '%s'", value);
	*(unsigned long long *)((char *)set + s->offset) = v;
	return 0;
}

static uint8_t *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	long len;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
		data = malloc((size_t)len);
		if (data && fread(data, 1, (size_t)len, f) != (size_t)len) {
			free(data);
			data = NULL;
		}
		*size = (size_t)len;
	}
	fclose(f);
	return data;
}

/* The setup area: boot flag, the header, the jump over it. */
/* Where the appended payload lies in the protected-mode kernel. */
struct packed {
	size_t offset, length;
};

static void fill_setup(uint8_t *setup, const struct settings *set, size_t kernel_size,
		       const struct packed *packed)
{
	struct setup_header hdr;

	memset(&hdr, 0, sizeof(hdr));
	hdr.setup_sects = (uint8_t)set->setup_sects;
	hdr.syssize = (uint32_t)(kernel_size / 16);
	hdr.vid_mode = 0xffff;                    /* "normal" */
	hdr.boot_flag = 0xaa55;
	hdr.jump = (uint16_t)(0xeb | (HEADER_END - (JUMP_AT + 2)) << 8);
	hdr.header = HDRS_MAGIC;
	hdr.version = (uint16_t)set->version;
	hdr.loadflags = LOADED_HIGH;
	hdr.code32_start = 0x100000;
	hdr.initrd_addr_max = (uint32_t)set->initrd_addr_max;
	hdr.kernel_alignment = (uint32_t)set->kernel_alignment;
	hdr.relocatable_kernel = (uint8_t)set->relocatable;
	hdr.xloadflags = (uint16_t)set->xloadflags;
	hdr.cmdline_size = (uint32_t)set->cmdline_size;
	hdr.pref_address = set->pref_address;
	hdr.init_size = (uint32_t)set->init_size;
	hdr.payload_offset = (uint32_t)packed->offset;
	hdr.payload_length = (uint32_t)packed->length;
	memcpy(setup + HDR_OFFSET, &hdr, sizeof(hdr));
}

static int write_image(const char *path, const uint8_t *setup, size_t setup_size,
		       const uint8_t *kernel, size_t kernel_size)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		return fail("cannot create '%s'", path);
	if (fwrite(setup, 1, setup_size, f) != setup_size ||
	    fwrite(kernel, 1, kernel_size, f) != kernel_size || fclose(f) != 0)
		return fail("cannot write '%s'", path);
	return 0;
}

int main(int argc, char **argv)
{
	struct settings set = {
		.setup_sects = 4, .version = 0x020f, .pref_address = 0x1000000,
		.kernel_alignment = 0x200000, .cmdline_size = 2047,
		.initrd_addr_max = 0x7fffffff, .relocatable = 1,
		.xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G,
	};
	int i = 1;
	const char *packed_path = NULL;

	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2)
		if (strcmp(argv[i], "--payload") == 0)
			packed_path = argv[i + 1];
		else if (parse_setting(argv[i] + 2, argv[i + 1], &set))
			return 2;
	if (argc - i != 2) {
		usage(stderr);
		return 2;
	}
	size_t payload_size = 0;
	uint8_t *payload = read_file(argv[i], &payload_size);
	if (!payload)
		return fail("cannot read a non-empty payload from '%s'", argv[i]);
	if (payload_size <= JUMP_AT)
		return fail("payload '%s' is too short to hold the 64-bit entry at 0x200", argv[i]);
	/* The kernel part is whole 16-byte paragraphs, as syssize counts it. */
	size_t flat_size = (payload_size + 15) & ~(size_t)15;
	struct packed packed = { 0, 0 };
	uint8_t *packed_data = NULL;
	if (packed_path && !(packed_data = read_file(packed_path, &packed.length)))
		return fail("cannot read a non-empty payload from '%s'", packed_path);
	if (packed_data)
		packed.offset = flat_size;
	size_t kernel_size = (flat_size + packed.length + 15) & ~(size_t)15;
	if (!set.init_size)
		set.init_size = (kernel_size + 0xfff) & ~(size_t)0xfff;
	size_t setup_size = ((set.setup_sects ? set.setup_sects : 4) + 1) * SECTOR;
	uint8_t *setup = calloc(1, setup_size), *kernel = calloc(1, kernel_size);
	if (!setup || !kernel)
		return fail("out of memory%s", "");
	memcpy(kernel, payload, payload_size);
	if (packed_data)
		memcpy(kernel + packed.offset, packed_data, packed.length);
	fill_setup(setup, &set, kernel_size, &packed);
	int rc = write_image(argv[i + 1], setup, setup_size, kernel, kernel_size);
	free(setup);
	free(kernel);
	free(payload);
	free(packed_data);
	return rc;
}
