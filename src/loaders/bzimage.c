/* bzImage kernels, booted by the Linux x86 64-bit boot protocol
 * (Documentation/arch/x86/boot.rst): the setup header is read from the
 * file and checked, the protected-mode kernel copied to its load
 * address, a zero page (struct boot_params) filled, and the CPU entered
 * in long mode at the kernel's 64-bit entry (load address + 0x200) with
 * RSI pointing at the zero page. The real-mode setup code is not run:
 * kvmini fills in what it would have found (the memory map). As with
 * every loader, the whole file is checked before guest memory is
 * written.
 *
 * With --decompress (img->decompress) kvmini does the kernel's own
 * decompressor's work on the host: the payload (payload_offset and
 * payload_length, protocol 2.08+) is decompressed (decompress.h), and
 * the vmlinux ELF inside has its segments placed as the decompressor
 * would, at load address + (p_paddr - LOAD_PHYSICAL_ADDR), the link
 * base the header gives as pref_address; the CPU enters at startup_64
 * (the ELF entry, moved the same way) with the same zero page. */
#include <asm/bootparam.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include "decompress.h"
#include "linux_boot.h"
#include "vmlinux.h"

#define HDR_OFFSET        0x1f1u   /* the setup header's place in file and zero page */
#define HDR_FILE(field)   (HDR_OFFSET + offsetof(struct setup_header, field))
#define HDRS_MAGIC        0x53726448u   /* "HdrS" */
#define BOOT_FLAG         0xaa55u
#define JUMP_OPCODE       0xebu    /* the short jmp at 0x200 over the header */
#define PROTOCOL_MIN      0x020au  /* 2.10: pref_address and init_size */
#define PROTOCOL_XLF      0x020cu  /* 2.12: xloadflags */
#define SECTOR            512u
#define DEFAULT_SETUP_SECTS 4u     /* what setup_sects = 0 means */
#define ENTRY_64_OFFSET   0x200u
#define LOADER_TYPE_UNDEFINED 0xffu
/* The heap end of the protocol's sample layout (0xe000 into the real-mode
 * segment), minus 0x200 as heap_end_ptr wants. Nothing runs the setup
 * code, but CAN_USE_HEAP promises a valid value. */
#define HEAP_END_PTR      (0xe000u - 0x200u)
#define FOUR_GIB          0x100000000ULL

/* The header the file must hold: through init_size (protocol 2.10). */
#define HDR_MIN_END       (HDR_FILE(init_size) + sizeof(uint32_t))
#define HDR_MAX_END       (HDR_OFFSET + sizeof(struct setup_header))

struct bzimage {
	struct setup_header hdr;   /* the file's header; bytes past its end are zero */
	uint64_t hdr_end;          /* file offset one past the header (0x202 + jump offset) */
	uint64_t kernel_offset;    /* (setup_sects + 1) * 512 */
	uint64_t kernel_size;      /* protected-mode bytes in the file */
	uint64_t need;             /* bytes from the load address: max(init_size, kernel_size) */
	gpa_t load;
	gpa_t initrd;              /* 0: none */
	/* --decompress: the decompressed payload (malloc'd) and its segments. */
	uint8_t *vmlinux;
	size_t vmlinux_size;
	struct vmlinux elf;
};

static int bad(const struct kvmini_image *img, struct kvmini_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Every message starts with the file's name. */
static int bad(const struct kvmini_image *img, struct kvmini_error *err, const char *fmt, ...)
{
	char text[sizeof(err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return kvmini_fail(err, KVMINI_E_USAGE, "%s: %s", loader_image_name(img), text);
}

static uint16_t read16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t read32(const uint8_t *p)
{
	return (uint32_t)read16(p) | (uint32_t)read16(p + 2) << 16;
}

/* Magic, boot flag and version: is this a bzImage kvmini can boot? */
static int check_identity(const struct kvmini_image *img, struct kvmini_error *err)
{
	const uint8_t *d = img->data;
	uint16_t version;

	if (img->size < HDR_FILE(version) + 2)
		return bad(img, err, "not a bzImage: %" PRIu64 " bytes is too short for a"
			   " setup header", img->size);
	if (read32(d + HDR_FILE(header)) != HDRS_MAGIC)
		return bad(img, err, "not a bzImage: no \"HdrS\" magic at offset 0x%zx",
			   HDR_FILE(header));
	if (read16(d + HDR_FILE(boot_flag)) != BOOT_FLAG)
		return bad(img, err, "not a bzImage: boot flag 0x%04x at offset 0x%zx, need 0xaa55",
			   read16(d + HDR_FILE(boot_flag)), HDR_FILE(boot_flag));
	version = read16(d + HDR_FILE(version));
	if (version < PROTOCOL_MIN)
		return bad(img, err, "boot protocol %u.%02u is too old: kvmini needs 2.10 or later",
			   version >> 8, version & 0xff);
	if (img->size < HDR_MIN_END)
		return bad(img, err, "truncated setup header: %" PRIu64 " bytes, the header"
			   " needs 0x%zx", img->size, HDR_MIN_END);
	return 0;
}

/* The header's length comes from the jump over it at 0x200. */
static int read_header(const struct kvmini_image *img, struct bzimage *bz,
		       struct kvmini_error *err)
{
	const uint8_t *d = img->data;
	uint64_t end, copy;

	if (d[HDR_FILE(jump)] != JUMP_OPCODE)
		return bad(img, err, "no jump over the setup header at offset 0x%zx"
			   " (byte 0x%02x, need 0xeb)", HDR_FILE(jump), d[HDR_FILE(jump)]);
	end = HDR_FILE(jump) + 2 + (uint64_t)(int64_t)(int8_t)d[HDR_FILE(jump) + 1];
	if (end < HDR_MIN_END)
		return bad(img, err, "the setup header ends at offset 0x%" PRIx64 ", before"
			   " init_size (it needs 0x%zx bytes)", end, HDR_MIN_END);
	/* A newer protocol's longer header: kvmini uses the fields it knows. */
	copy = end < HDR_MAX_END ? end : HDR_MAX_END;
	if (copy > img->size)
		return bad(img, err, "truncated setup header: it ends at offset 0x%" PRIx64
			   ", the file has %" PRIu64 " bytes", copy, img->size);
	memset(&bz->hdr, 0, sizeof(bz->hdr));
	memcpy(&bz->hdr, d + HDR_OFFSET, copy - HDR_OFFSET);
	bz->hdr_end = copy;
	return 0;
}

static int check_kind(const struct kvmini_image *img, const struct setup_header *hdr,
		      struct kvmini_error *err)
{
	if (!(hdr->loadflags & LOADED_HIGH))
		return bad(img, err, "a zImage (LOADED_HIGH clear in loadflags):"
			   " kvmini boots bzImages only");
	if (hdr->version < PROTOCOL_XLF)
		return bad(img, err, "no 64-bit entry point: boot protocol %u.%02u predates"
			   " xloadflags (2.12)", hdr->version >> 8, hdr->version & 0xff);
	if (!(hdr->xloadflags & XLF_KERNEL_64))
		return bad(img, err, "no 64-bit entry point (XLF_KERNEL_64 clear in xloadflags"
			   " 0x%04x)", hdr->xloadflags);
	return 0;
}

/* Setup sectors, the protected-mode kernel behind them, and the sizes
 * the header claims for it. */
static int check_layout(const struct kvmini_image *img, struct bzimage *bz,
			struct kvmini_error *err)
{
	const struct setup_header *hdr = &bz->hdr;
	unsigned sects = hdr->setup_sects ? hdr->setup_sects : DEFAULT_SETUP_SECTS;

	bz->kernel_offset = (uint64_t)(sects + 1) * SECTOR;
	/* At least 2 sectors: always past the header (which ends by 0x290). */
	if (bz->kernel_offset >= img->size)
		return bad(img, err, "truncated: setup_sects %u puts the kernel at offset 0x%" PRIx64
			   ", at or past the end of the file (%" PRIu64 " bytes)",
			   hdr->setup_sects, bz->kernel_offset, img->size);
	bz->kernel_size = img->size - bz->kernel_offset;
	if (bz->kernel_size <= ENTRY_64_OFFSET)
		return bad(img, err, "truncated: the protected-mode kernel is %" PRIu64 " bytes,"
			   " too short for the 64-bit entry at 0x%x", bz->kernel_size,
			   ENTRY_64_OFFSET);
	if ((uint64_t)hdr->syssize * 16 > bz->kernel_size)
		return bad(img, err, "truncated: the protected-mode kernel is %" PRIu64 " bytes,"
			   " syssize says %" PRIu64, bz->kernel_size, (uint64_t)hdr->syssize * 16);
	if ((uint64_t)hdr->payload_offset + hdr->payload_length > bz->kernel_size)
		return bad(img, err, "truncated: the payload (%u bytes at 0x%x) extends past the"
			   " protected-mode kernel (%" PRIu64 " bytes)", hdr->payload_length,
			   hdr->payload_offset, bz->kernel_size);
	bz->need = hdr->init_size > bz->kernel_size ? hdr->init_size : bz->kernel_size;
	return 0;
}

static int is_power_of_two(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* [addr, addr + need) inside the RAM from 1 MiB to the device hole. */
static int fits(const struct guest_memory *mem, gpa_t addr, uint64_t need)
{
	gpa_t low = boot_low_ram_end(mem);

	return addr >= BOOT_KERNEL_MIN && addr <= low && need <= low - addr;
}

/* pref_address when the kernel fits there; else, for a relocatable
 * kernel, the lowest kernel_alignment-aligned address from 1 MiB up,
 * which leaves the most room above it for the initrd. */
static int place_kernel(const struct guest_memory *mem, const struct kvmini_image *img,
			struct bzimage *bz, struct kvmini_error *err)
{
	const struct setup_header *hdr = &bz->hdr;
	gpa_t pref = hdr->pref_address ? hdr->pref_address : BOOT_KERNEL_MIN;
	uint64_t align = hdr->kernel_alignment, low = boot_low_ram_end(mem), lowest;

	if (fits(mem, pref, bz->need)) {
		bz->load = pref;
		return 0;
	}
	if (!hdr->relocatable_kernel)
		return bad(img, err, "the kernel is not relocatable and needs [0x%" PRIx64
			   ", 0x%" PRIx64 ") (pref_address, init_size), beyond the RAM from"
			   " 1 MiB to 0x%" PRIx64 "; raise --mem", pref, pref + bz->need, low);
	if (!is_power_of_two(align))
		return bad(img, err, "kernel_alignment 0x%x is not a power of two",
			   hdr->kernel_alignment);
	lowest = (BOOT_KERNEL_MIN + align - 1) & ~(align - 1);
	if (!fits(mem, lowest, bz->need))
		return bad(img, err, "the kernel needs %" PRIu64 " bytes (init_size) from a"
			   " 0x%" PRIx64 "-aligned address, more than the RAM from 1 MiB to 0x%"
			   PRIx64 "; raise --mem", bz->need, align, low);
	bz->load = lowest;
	return 0;
}

/* The command line is bounded by the kernel's cmdline_size and by
 * kvmini's buffer, the smaller counting. */
static int check_cmdline(const struct kvmini_image *img, const struct setup_header *hdr,
			 struct kvmini_error *err)
{
	if (hdr->cmdline_size < BOOT_CMDLINE_MAX)
		return boot_check_cmdline(img, hdr->cmdline_size, "the kernel's cmdline_size", err);
	return boot_check_cmdline(img, BOOT_CMDLINE_MAX, "kvmini's command-line buffer", err);
}

/* The initrd's last byte may be at initrd_addr_max, and it must stay
 * below 4 GiB: ramdisk_image is 32 bits. */
static int place_initrd(const struct guest_memory *mem, const struct kvmini_image *img,
			struct bzimage *bz, struct kvmini_error *err)
{
	gpa_t limit = (gpa_t)bz->hdr.initrd_addr_max + 1;

	if (limit > FOUR_GIB)
		limit = FOUR_GIB;
	return boot_place_initrd(mem, img, bz->load + bz->need, limit,
				 "the kernel's initrd_addr_max", &bz->initrd, err);
}

/* Where vmlinux's physical addresses start: LOAD_PHYSICAL_ADDR, which
 * the header carries as pref_address. */
static gpa_t link_base(const struct setup_header *hdr)
{
	return hdr->pref_address ? hdr->pref_address : BOOT_KERNEL_MIN;
}

/* --decompress: the payload becomes vmlinux, which then needs its
 * segments' span from the load address (or init_size, if larger). */
static int unpack_payload(const struct guest_memory *mem, const struct kvmini_image *img,
			  struct bzimage *bz, struct kvmini_error *err)
{
	const struct setup_header *hdr = &bz->hdr;
	const char *name = loader_image_name(img);
	gpa_t base = link_base(hdr);

	if (hdr->payload_length == 0)
		return bad(img, err, "--decompress: the header locates no payload"
			   " (payload_length is 0)");
	if (payload_decompress(name, img->data + bz->kernel_offset + hdr->payload_offset,
			       hdr->payload_length, boot_low_ram_end(mem),
			       "the guest's RAM below 3 GiB; raise --mem", &bz->vmlinux,
			       &bz->vmlinux_size, err) ||
	    vmlinux_parse(name, bz->vmlinux, bz->vmlinux_size, &bz->elf, err))
		return -1;
	if (bz->elf.low < base)
		return bad(img, err, "a vmlinux segment starts at 0x%" PRIx64 ", below the link"
			   " base pref_address 0x%" PRIx64, bz->elf.low, base);
	bz->need = hdr->init_size > bz->elf.high - base ? hdr->init_size : bz->elf.high - base;
	return 0;
}

static int validate(const struct guest_memory *mem, const struct kvmini_image *img,
		    struct bzimage *bz, struct kvmini_error *err)
{
	if (check_identity(img, err) || read_header(img, bz, err) ||
	    check_kind(img, &bz->hdr, err) || check_layout(img, bz, err) ||
	    (img->decompress && unpack_payload(mem, img, bz, err)) ||
	    place_kernel(mem, img, bz, err) || check_cmdline(img, &bz->hdr, err))
		return -1;
	return place_initrd(mem, img, bz, err);
}

static void fill_memory_map(const struct guest_memory *mem, struct boot_params *zp)
{
	struct x86_e820_entry map[BOOT_MAP_MAX];
	unsigned n = boot_memory_map(mem, map);

	for (unsigned i = 0; i < n; i++)
		zp->e820_table[i] = (struct boot_e820_entry){
			.addr = map[i].addr, .size = map[i].size, .type = map[i].type,
		};
	zp->e820_entries = (uint8_t)n;
}

/* A clean zero page with the file's setup header and what a boot
 * loader must write (boot.rst, "The Real-Mode Kernel Header"). */
static void fill_zero_page(const struct guest_memory *mem, const struct kvmini_image *img,
			   const struct bzimage *bz, gpa_t rsdp, struct boot_params *zp)
{
	struct setup_header *hdr = &zp->hdr;

	memset(zp, 0, sizeof(*zp));
	memcpy((uint8_t *)zp + HDR_OFFSET, img->data + HDR_OFFSET, bz->hdr_end - HDR_OFFSET);
	hdr->type_of_loader = LOADER_TYPE_UNDEFINED;
	hdr->loadflags |= CAN_USE_HEAP;
	hdr->heap_end_ptr = HEAP_END_PTR;
	hdr->code32_start = (uint32_t)bz->load;   /* where the loaded kernel starts */
	hdr->cmd_line_ptr = (uint32_t)BOOT_CMDLINE_ADDR;
	hdr->ramdisk_image = (uint32_t)bz->initrd;
	hdr->ramdisk_size = img->initrd ? (uint32_t)img->initrd_size : 0;
	zp->acpi_rsdp_addr = rsdp;
	fill_memory_map(mem, zp);
}

/* vmlinux's segments, moved with the load address as the kernel's own
 * decompressor moves them; the rest of each segment's memory zeroed. */
static int write_vmlinux(const struct guest_memory *mem, const struct bzimage *bz)
{
	gpa_t base = link_base(&bz->hdr);

	for (unsigned i = 0; i < bz->elf.nseg; i++) {
		const struct vmlinux_segment *seg = &bz->elf.seg[i];
		uint8_t *dst = guest_ptr(mem, bz->load + (seg->paddr - base), seg->memsz);
		if (!dst)
			return -1;
		memcpy(dst, bz->vmlinux + seg->offset, seg->filesz);
		memset(dst + seg->filesz, 0, seg->memsz - seg->filesz);
	}
	return 0;
}

static int write_kernel(const struct guest_memory *mem, const struct kvmini_image *img,
			const struct bzimage *bz)
{
	if (bz->vmlinux)
		return write_vmlinux(mem, bz);
	return guest_write(mem, bz->load, img->data + bz->kernel_offset, bz->kernel_size);
}

static int write_all(const struct guest_memory *mem, const struct kvmini_image *img,
		     const struct bzimage *bz, gpa_t rsdp, struct kvmini_error *err)
{
	struct boot_params zp;

	fill_zero_page(mem, img, bz, rsdp, &zp);
	if (write_kernel(mem, img, bz) < 0 ||
	    guest_write(mem, BOOT_PARAMS_ADDR, &zp, sizeof(zp)) < 0)
		return bad(img, err, "cannot write the kernel to guest RAM");
	if (boot_write_cmdline(mem, img, err) || boot_write_initrd(mem, img, bz->initrd, err))
		return -1;
	return 0;
}

int load_bzimage(const struct guest_memory *mem, const struct kvmini_image *img,
		 gpa_t rsdp, struct load_result *out, struct kvmini_error *err)
{
	struct bzimage bz = { .load = 0 };
	int failed = validate(mem, img, &bz, err) || write_all(mem, img, &bz, rsdp, err);

	if (!failed)
		*out = (struct load_result){
			.mode = KVMINI_MODE_LONG, .abi = X86_ABI_LINUX64,
			.entry = bz.vmlinux ? bz.load + (bz.elf.entry - link_base(&bz.hdr))
					    : bz.load + ENTRY_64_OFFSET,
			.low = bz.load,
			.high = bz.load + (bz.vmlinux ? bz.elf.high - link_base(&bz.hdr)
						      : bz.kernel_size),
			.rsi = BOOT_PARAMS_ADDR, .stack = BOOT_STACK_TOP,
			.cmdline = BOOT_CMDLINE_ADDR,
		};
	free(bz.vmlinux);
	return failed ? -1 : 0;
}
