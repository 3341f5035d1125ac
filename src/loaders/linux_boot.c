/* The boot area, memory map, command line and initrd placement that the
 * bzImage and PVH loaders share (linux_boot.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "linux_boot.h"
#include "multiboot.h"

/* Long mode's page directories grow with RAM (one page per GiB mapped);
 * even at the largest RAM kvmini accepts they, and a 16 KiB stack under
 * the boot area, must end below it. */
_Static_assert(X86_PD_ADDR + ((GUEST_MEM_MAX + GUEST_MMIO_HOLE_END - GUEST_MMIO_HOLE_START) >> 30)
	       * 0x1000 + 0x4000 <= BOOT_STACK_TOP,
	       "the page tables of the largest RAM reach the boot area");
_Static_assert(BOOT_AREA_END <= BOOT_LOW_RAM_END, "the boot area is in the RAM below the EBDA");

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

gpa_t boot_low_ram_end(const struct guest_memory *mem)
{
	for (unsigned i = 0; i < mem->nregions; i++)
		if (mem->regions[i].gpa == 0)
			return mem->regions[i].size;
	return 0;
}

unsigned boot_memory_map(const struct guest_memory *mem, struct x86_e820_entry map[BOOT_MAP_MAX])
{
	uint64_t above_4g = 0;

	for (unsigned i = 0; i < mem->nregions; i++)
		if (mem->regions[i].gpa >= GUEST_MMIO_HOLE_END && !mem->regions[i].device)
			above_4g += mem->regions[i].size;
	return x86_e820_map(boot_low_ram_end(mem), above_4g, map);
}

static const char *cmdline_base(const struct kvmini_image *img)
{
	return img->cmdline ? img->cmdline : KVMINI_LINUX_CMDLINE;
}

/* The separator between the base and the appended part: none when the
 * base is empty, so --cmdline "" --append X gives exactly X. */
static const char *cmdline_separator(const struct kvmini_image *img)
{
	return img->cmdline_append && *cmdline_base(img) ? " " : "";
}

uint64_t boot_cmdline_length(const struct kvmini_image *img)
{
	uint64_t len = strlen(cmdline_base(img));

	if (img->cmdline_append)
		len += strlen(cmdline_separator(img)) + strlen(img->cmdline_append);
	return len;
}

int boot_check_cmdline(const struct kvmini_image *img, uint64_t max_len, const char *limit,
		       struct kvmini_error *err)
{
	uint64_t len = boot_cmdline_length(img);

	if (len > max_len)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: the command line is %" PRIu64 " bytes, longer than %s"
				   " (%" PRIu64 " bytes)", loader_image_name(img), len, limit, max_len);
	return 0;
}

int boot_write_cmdline(const struct guest_memory *mem, const struct kvmini_image *img,
		       struct kvmini_error *err)
{
	uint64_t len = boot_cmdline_length(img);
	char *dst = guest_ptr(mem, BOOT_CMDLINE_ADDR, len + 1);
	const char *base = cmdline_base(img), *sep = cmdline_separator(img);

	if (len > BOOT_CMDLINE_MAX || !dst)
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: cannot write the command line"
				   " to guest RAM", loader_image_name(img));
	memcpy(dst, base, strlen(base));
	dst += strlen(base);
	if (img->cmdline_append) {
		memcpy(dst, sep, strlen(sep));
		dst += strlen(sep);
		memcpy(dst, img->cmdline_append, strlen(img->cmdline_append));
		dst += strlen(img->cmdline_append);
	}
	*dst = '\0';
	return 0;
}

const char *boot_initrd_name(const struct kvmini_image *img)
{
	return img->initrd_path ? img->initrd_path : "initrd";
}

int boot_place_initrd(const struct guest_memory *mem, const struct kvmini_image *img,
		      gpa_t kernel_end, gpa_t limit, const char *limit_name,
		      gpa_t *addr, struct kvmini_error *err)
{
	gpa_t low = boot_low_ram_end(mem), top = min_u64(limit, low);
	uint64_t size = img->initrd_size;

	*addr = 0;
	if (!img->initrd)
		return 0;
	if (size == 0)
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: empty initrd", boot_initrd_name(img));
	if (top == low)
		limit_name = "the end of the RAM below 4 GiB";
	if (size > top || ((top - size) & ~(BOOT_INITRD_ALIGN - 1)) < kernel_end)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: the initrd (%" PRIu64 " bytes) does not fit between the"
				   " kernel's end 0x%" PRIx64 " and 0x%" PRIx64 " (%s); raise --mem",
				   boot_initrd_name(img), size, kernel_end, top, limit_name);
	*addr = (top - size) & ~(BOOT_INITRD_ALIGN - 1);
	return 0;
}

int boot_write_initrd(const struct guest_memory *mem, const struct kvmini_image *img,
		      gpa_t addr, struct kvmini_error *err)
{
	if (!img->initrd)
		return 0;
	if (guest_write(mem, addr, img->initrd, img->initrd_size) < 0)
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: cannot write the initrd to guest RAM",
				   boot_initrd_name(img));
	return 0;
}

static bool is_bzimage(const struct kvmini_image *img)
{
	uint32_t magic;

	if (img->size < LINUX_HDRS_OFFSET + sizeof(magic))
		return false;
	memcpy(&magic, img->data + LINUX_HDRS_OFFSET, sizeof(magic));
	return magic == LINUX_HDRS_MAGIC;
}

/* Which protocol a --kernel file speaks: a bzImage ("HdrS") first, then
 * an ELF with a PVH note, then any file with a Multiboot header; a
 * Linux kernel carries no Multiboot header, but a Multiboot kernel may
 * well be an ELF, so the Linux protocols are asked first. */
static bool is_multiboot(const struct kvmini_image *img)
{
	uint32_t offset;

	return !is_bzimage(img) && multiboot_find_header(img->data, img->size, &offset) &&
	       !(image_is_elf(img->data, img->size) && pvh_has_entry(img));
}

int load_linux(const struct guest_memory *mem, const struct kvmini_image *img,
	       gpa_t rsdp, struct load_result *out, struct kvmini_error *err)
{
	if (img->mode_set || img->load_addr_set || img->entry_set)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: a Linux kernel sets its own mode, load address and entry",
				   loader_image_name(img));
	if (is_multiboot(img)) {
		if (img->decompress)
			return kvmini_fail(err, KVMINI_E_USAGE, "%s: --decompress applies to a"
					   " bzImage; this is a Multiboot kernel",
					   loader_image_name(img));
		return load_multiboot(mem, img, out, err);
	}
	if (img->nmodules)
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: --module needs a Multiboot kernel",
				   loader_image_name(img));
	if (image_is_elf(img->data, img->size)) {
		if (img->decompress)
			return kvmini_fail(err, KVMINI_E_USAGE, "%s: --decompress applies to a"
					   " bzImage; this is an ELF vmlinux, already uncompressed",
					   loader_image_name(img));
		return load_pvh(mem, img, rsdp, out, err);
	}
	return load_bzimage(mem, img, rsdp, out, err);
}

/* The devices' words go first, before the base command line: anything
 * after a "--" in it or in --append goes to init, not to the kernel. */
int load_linux_devices(const struct guest_memory *mem, const struct kvmini_image *img,
		       gpa_t rsdp, const char *devices, struct load_result *out,
		       struct kvmini_error *err)
{
	if (!devices || !*devices || is_multiboot(img))
		return load_linux(mem, img, rsdp, out, err);
	const char *base = cmdline_base(img);
	size_t len = strlen(devices) + 1 + strlen(base) + 1;
	char *cmdline = malloc(len);
	if (!cmdline)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for the command line");
	snprintf(cmdline, len, "%s%s%s", devices, *base ? " " : "", base);
	struct kvmini_image with = *img;
	with.cmdline = cmdline;
	int r = load_linux(mem, &with, rsdp, out, err);
	free(cmdline);
	return r;
}
