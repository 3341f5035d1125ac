/* Multiboot (version 1) kernels. The header is a 4-byte aligned
 * {magic 0x1BADB002, flags, checksum} in the first 8 KiB whose three
 * words sum to zero. The kernel is an ELF32 loaded by its program
 * headers, or, with flag 16 (the "a.out kludge"), the file bytes the
 * header's address fields name, whatever the format. The CPU starts in
 * flat 32-bit protected mode, paging off, interrupts off, with
 * EAX = 0x2BADB002 and EBX the address of the information structure.
 *
 * Flags honoured: 0 (modules page aligned: kvmini always aligns them),
 * 1 (memory information: always given), 16 (the kludge). Flag 2 (a video
 * mode) is accepted and ignored: kvmini has no display, and the guest
 * sees no video fields in the information. Any other bit below 16 is a
 * requirement kvmini does not know, so the kernel is refused.
 *
 * What the kernel gets, all in the boot area below 1 MiB (linux_boot.h):
 *   0x50000  the information structure (flags 0, 2, 3, 6, 9)
 *   0x50080  the memory map, the e820 map the Linux loaders pass
 *   0x50100  the module list
 *   0x51000  strings: the command line "KERNEL-PATH ARGS" (as QEMU
 *            passes it), the boot loader name, each module's string
 * Modules follow the kernel's end, each on a 4 KiB boundary, below the
 * end of the RAM under 4 GiB. --initrd is module 0, as in QEMU. */
#include <elf.h>
#include <inttypes.h>
#include <string.h>
#include "linux_boot.h"
#include "multiboot.h"
#include "multiboot_abi.h"

#define MB_INFO_ADDR     BOOT_PARAMS_ADDR
#define MB_MMAP_ADDR     (BOOT_PARAMS_ADDR + 0x80)
#define MB_MODLIST_ADDR  (BOOT_PARAMS_ADDR + 0x100)
#define MB_STRINGS_ADDR  BOOT_CMDLINE_ADDR
#define MB_MODULE_ALIGN  0x1000ULL
#define MB_LOADER_NAME   "kvmini"
#define MB_KNOWN_REQUIRED (MULTIBOOT_PAGE_ALIGN | MULTIBOOT_MEMORY_INFO | MULTIBOOT_VIDEO_MODE)

_Static_assert(MB_MMAP_ADDR >= MB_INFO_ADDR + sizeof(struct multiboot_info),
	       "memory map after the information structure");
_Static_assert(MB_MODLIST_ADDR >= MB_MMAP_ADDR + BOOT_MAP_MAX * sizeof(struct multiboot_mmap_entry),
	       "module list after the memory map");
_Static_assert(MB_MODLIST_ADDR + MULTIBOOT_MODULES_MAX * sizeof(struct multiboot_module)
	       <= MB_STRINGS_ADDR, "module list before the strings");

/* Everything load_multiboot() decided before writing a byte. */
struct mb_plan {
	struct multiboot_header hdr;
	uint32_t hdr_off;
	bool kludge;
	uint64_t file_off, file_len;     /* kludge: the bytes to load */
	gpa_t low, high, entry;          /* the kernel's extent, BSS included */
	unsigned nmods;
	gpa_t mods[MULTIBOOT_MODULES_MAX];
};

static uint32_t read32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));   /* little-endian, like the host */
	return v;
}

static int bad(const struct kvmini_image *img, struct kvmini_error *err, const char *what)
{
	return kvmini_fail(err, KVMINI_E_USAGE, "%s: %s", loader_image_name(img), what);
}

int multiboot_find_header(const uint8_t *data, uint64_t size, uint32_t *offset)
{
	uint64_t end = size < MULTIBOOT_SEARCH_BYTES ? size : MULTIBOOT_SEARCH_BYTES;

	for (uint64_t off = 0; off + MULTIBOOT_HEADER_BASE_SIZE <= end; off += MULTIBOOT_HEADER_ALIGN) {
		const uint8_t *p = data + off;
		if (read32(p) == MULTIBOOT_HEADER_MAGIC &&
		    (uint32_t)(read32(p) + read32(p + 4) + read32(p + 8)) == 0) {
			*offset = (uint32_t)off;
			return 1;
		}
	}
	return 0;
}

/* The header, its flags checked, with as many fields as its flags use
 * (they must be inside the file). */
static int read_header(const struct kvmini_image *img, struct mb_plan *p,
		       struct kvmini_error *err)
{
	uint64_t need = MULTIBOOT_HEADER_BASE_SIZE;
	uint32_t unknown;

	if (!multiboot_find_header(img->data, img->size, &p->hdr_off))
		return bad(img, err, "no Multiboot header (magic 0x1BADB002 with a matching"
			   " checksum) in the first 8 KiB");
	memset(&p->hdr, 0, sizeof(p->hdr));
	memcpy(&p->hdr, img->data + p->hdr_off, MULTIBOOT_HEADER_BASE_SIZE);
	unknown = p->hdr.flags & 0xffffu & ~MB_KNOWN_REQUIRED;
	if (unknown)
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: the Multiboot header requires"
				   " features kvmini does not have (flags 0x%" PRIx32 ")",
				   loader_image_name(img), unknown);
	p->kludge = p->hdr.flags & MULTIBOOT_AOUT_KLUDGE;
	if (p->kludge)
		need = MULTIBOOT_HEADER_AOUT_SIZE;
	if (img->size - p->hdr_off < need)
		return bad(img, err, "the Multiboot header's address fields (flag 16) run past"
			   " the end of the file");
	memcpy(&p->hdr, img->data + p->hdr_off, need);
	return 0;
}

/* Flag 16: the file from the header's position back to load_addr, up to
 * load_end_addr (0: the end of the file), BSS up to bss_end_addr (0:
 * none). */
static int plan_kludge(const struct guest_memory *mem, const struct kvmini_image *img,
		       struct mb_plan *p, struct kvmini_error *err)
{
	const struct multiboot_header *h = &p->hdr;
	uint64_t before = (uint64_t)h->header_addr - h->load_addr;

	if (h->header_addr < h->load_addr || before > p->hdr_off)
		return bad(img, err, "Multiboot header_addr and load_addr put the load start"
			   " before the file's first byte");
	p->file_off = p->hdr_off - before;
	if (h->load_end_addr == 0)
		p->file_len = img->size - p->file_off;
	else if (h->load_end_addr <= h->load_addr ||
		 h->load_end_addr - h->load_addr > img->size - p->file_off)
		return bad(img, err, "Multiboot load_end_addr is not after load_addr within"
			   " the file");
	else
		p->file_len = h->load_end_addr - h->load_addr;
	p->low = h->load_addr;
	p->high = p->low + p->file_len;
	if (h->bss_end_addr) {
		if (h->bss_end_addr < p->high)
			return bad(img, err, "Multiboot bss_end_addr is before the loaded bytes' end");
		p->high = h->bss_end_addr;
	}
	p->entry = h->entry_addr;
	if (p->high == p->low)
		return bad(img, err, "the Multiboot header loads nothing");
	return loader_check_placement(mem, img, KVMINI_MODE_PROTECTED, "kernel", p->low,
				      p->high - p->low, err);
}

/* Without flag 16: an ELF32 executable, loaded by its program headers. */
static int plan_elf(const struct guest_memory *mem, const struct kvmini_image *img,
		    struct mb_plan *p, struct kvmini_error *err)
{
	struct load_result plan;
	struct elf_file f;

	if (!image_is_elf(img->data, img->size))
		return bad(img, err, "a Multiboot kernel that is not ELF needs the header's"
			   " address fields (flag 16)");
	if (elf_image_read(img, &f, err))
		return -1;
	if (f.elf_class != ELFCLASS32)
		return bad(img, err, "a Multiboot kernel is entered in 32-bit mode: give an"
			   " ELF32 (this is ELF64)");
	if (elf_validate(mem, img, &plan, err))
		return -1;
	p->low = plan.low;
	p->high = plan.high;
	p->entry = plan.entry;
	return 0;
}

/* The kernel: below 1 MiB are kvmini's boot structures, and all of it
 * must be reachable from 32-bit code and leave room for the modules. */
static int check_kernel(const struct guest_memory *mem, const struct kvmini_image *img,
			const struct mb_plan *p, struct kvmini_error *err)
{
	const char *name = loader_image_name(img);

	if (p->low < BOOT_KERNEL_MIN)
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: the kernel starts at 0x%" PRIx64
				   ", below 1 MiB, where kvmini keeps its boot structures",
				   name, p->low);
	if (p->high > boot_low_ram_end(mem))
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: the kernel reaches 0x%" PRIx64
				   ", past the RAM below 4 GiB (ends at 0x%" PRIx64 ")",
				   name, p->high, boot_low_ram_end(mem));
	if (p->entry < p->low || p->entry >= p->high)
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: the Multiboot entry 0x%" PRIx64
				   " is outside the kernel [0x%" PRIx64 ", 0x%" PRIx64 ")",
				   name, p->entry, p->low, p->high);
	return 0;
}

static unsigned module_count(const struct kvmini_image *img)
{
	return (img->initrd ? 1 : 0) + img->nmodules;
}

/* Module i: the initrd first (its string is its path), then img->modules. */
static struct kvmini_module module_at(const struct kvmini_image *img, unsigned i)
{
	struct kvmini_module m;

	if (img->initrd && i == 0)
		return (struct kvmini_module){ .path = boot_initrd_name(img),
			.cmdline = boot_initrd_name(img), .data = img->initrd,
			.size = img->initrd_size };
	m = img->modules[i - (img->initrd ? 1 : 0)];
	if (!m.cmdline)
		m.cmdline = m.path ? m.path : "module";
	if (!m.path)
		m.path = "module";
	return m;
}

/* Each module on the next 4 KiB boundary after the kernel and the module
 * before it, all below the end of the RAM under 4 GiB. */
static int plan_modules(const struct guest_memory *mem, const struct kvmini_image *img,
			struct mb_plan *p, struct kvmini_error *err)
{
	gpa_t at = p->high, top = boot_low_ram_end(mem);

	p->nmods = module_count(img);
	if (p->nmods > MULTIBOOT_MODULES_MAX)
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: %u modules, more than kvmini's %u",
				   loader_image_name(img), p->nmods, MULTIBOOT_MODULES_MAX);
	for (unsigned i = 0; i < p->nmods; i++) {
		struct kvmini_module m = module_at(img, i);
		at = (at + MB_MODULE_ALIGN - 1) & ~(MB_MODULE_ALIGN - 1);
		if (at > top || m.size > top - at)
			return kvmini_fail(err, KVMINI_E_USAGE, "%s: module %u (%s, %" PRIu64
					   " bytes) does not fit between the kernel's end 0x%"
					   PRIx64 " and 0x%" PRIx64 "; raise --mem",
					   loader_image_name(img), i, m.path, m.size, p->high, top);
		p->mods[i] = at;
		at += m.size;
	}
	return 0;
}

/* The kernel's command line as QEMU builds it: "PATH ARGS", ARGS being
 * --cmdline (default empty) and --append after a space. */
static uint64_t cmdline_length(const struct kvmini_image *img)
{
	uint64_t len = strlen(loader_image_name(img)) + 1;

	if (img->cmdline)
		len += strlen(img->cmdline);
	if (img->cmdline_append)
		len += (img->cmdline && *img->cmdline ? 1 : 0) + strlen(img->cmdline_append);
	return len;
}

static uint64_t strings_size(const struct kvmini_image *img, unsigned nmods)
{
	uint64_t size = cmdline_length(img) + 1 + sizeof(MB_LOADER_NAME);

	for (unsigned i = 0; i < nmods; i++)
		size += strlen(module_at(img, i).cmdline) + 1;
	return size;
}

static int validate(const struct guest_memory *mem, const struct kvmini_image *img,
		       struct mb_plan *p, struct kvmini_error *err)
{
	memset(p, 0, sizeof(*p));
	if (read_header(img, p, err) ||
	    (p->kludge ? plan_kludge(mem, img, p, err) : plan_elf(mem, img, p, err)) ||
	    check_kernel(mem, img, p, err) || plan_modules(mem, img, p, err))
		return -1;
	if (strings_size(img, p->nmods) > BOOT_AREA_END - MB_STRINGS_ADDR)
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: the command line and module strings"
				   " take more than kvmini's %llu bytes for them",
				   loader_image_name(img), BOOT_AREA_END - MB_STRINGS_ADDR);
	return 0;
}

/* ---- writing, after everything was checked ---- */

static int write_kernel(const struct guest_memory *mem, const struct kvmini_image *img,
			const struct mb_plan *p, struct kvmini_error *err)
{
	struct load_result loaded;
	uint8_t *bss;

	if (!p->kludge)
		return load_elf(mem, img, &loaded, err);
	bss = guest_ptr(mem, p->low + p->file_len, p->high - p->low - p->file_len);
	if (guest_write(mem, p->low, img->data + p->file_off, p->file_len) < 0 || !bss)
		return bad(img, err, "cannot write the kernel to guest RAM");
	memset(bss, 0, p->high - p->low - p->file_len);
	return 0;
}

/* Append a NUL-terminated string at *at; returns its address. */
static uint32_t put_string(const struct guest_memory *mem, gpa_t *at, const char *s)
{
	gpa_t addr = *at;

	guest_write(mem, addr, s, strlen(s) + 1);   /* room checked by validate() */
	*at += strlen(s) + 1;
	return (uint32_t)addr;
}

static uint32_t put_cmdline(const struct guest_memory *mem, gpa_t *at,
			    const struct kvmini_image *img)
{
	gpa_t addr = *at;
	const char *name = loader_image_name(img);
	const char *args = img->cmdline ? img->cmdline : "";

	guest_write(mem, *at, name, strlen(name));
	*at += strlen(name);
	guest_write(mem, (*at)++, " ", 1);
	guest_write(mem, *at, args, strlen(args));
	*at += strlen(args);
	if (img->cmdline_append) {
		if (*args)
			guest_write(mem, (*at)++, " ", 1);
		put_string(mem, at, img->cmdline_append);
	} else {
		guest_write(mem, (*at)++, "", 1);
	}
	return (uint32_t)addr;
}

static void write_memory_map(const struct guest_memory *mem, struct multiboot_info *info)
{
	struct x86_e820_entry map[BOOT_MAP_MAX];
	unsigned n = boot_memory_map(mem, map);
	gpa_t low = boot_low_ram_end(mem);

	for (unsigned i = 0; i < n; i++) {
		struct multiboot_mmap_entry e = {
			.size = sizeof(e) - sizeof(e.size), .addr = map[i].addr,
			.len = map[i].size, .type = map[i].type,
		};
		guest_write(mem, MB_MMAP_ADDR + i * sizeof(e), &e, sizeof(e));
	}
	info->mmap_addr = MB_MMAP_ADDR;
	info->mmap_length = n * sizeof(struct multiboot_mmap_entry);
	info->mem_lower = (uint32_t)((low < BOOT_LOW_RAM_END ? low : BOOT_LOW_RAM_END) >> 10);
	info->mem_upper = (uint32_t)((low - BOOT_BIOS_END) >> 10);
}

static int write_info(const struct guest_memory *mem, const struct kvmini_image *img,
		      const struct mb_plan *p, struct kvmini_error *err)
{
	struct multiboot_info info = {
		.flags = MULTIBOOT_INFO_MEMORY | MULTIBOOT_INFO_CMDLINE | MULTIBOOT_INFO_MODS |
			 MULTIBOOT_INFO_MEM_MAP | MULTIBOOT_INFO_LOADER_NAME,
		.mods_count = p->nmods, .mods_addr = MB_MODLIST_ADDR,
	};
	gpa_t at = MB_STRINGS_ADDR;

	info.cmdline = put_cmdline(mem, &at, img);
	info.boot_loader_name = put_string(mem, &at, MB_LOADER_NAME);
	for (unsigned i = 0; i < p->nmods; i++) {
		struct kvmini_module m = module_at(img, i);
		struct multiboot_module entry = {
			.mod_start = (uint32_t)p->mods[i], .mod_end = (uint32_t)(p->mods[i] + m.size),
			.string = put_string(mem, &at, m.cmdline),
		};
		if ((m.size && guest_write(mem, p->mods[i], m.data, m.size) < 0) ||
		    guest_write(mem, MB_MODLIST_ADDR + i * sizeof(entry), &entry, sizeof(entry)) < 0)
			return bad(img, err, "cannot write a module to guest RAM");
	}
	write_memory_map(mem, &info);
	if (guest_write(mem, MB_INFO_ADDR, &info, sizeof(info)) < 0)
		return bad(img, err, "cannot write the Multiboot information to guest RAM");
	return 0;
}

int load_multiboot(const struct guest_memory *mem, const struct kvmini_image *img,
		   struct load_result *out, struct kvmini_error *err)
{
	struct mb_plan p;

	if (!guest_ptr(mem, BOOT_PARAMS_ADDR, BOOT_AREA_END - BOOT_PARAMS_ADDR))
		return bad(img, err, "guest RAM too small for the Multiboot information");
	if (validate(mem, img, &p, err) || write_kernel(mem, img, &p, err) ||
	    write_info(mem, img, &p, err))
		return -1;
	*out = (struct load_result){
		.mode = KVMINI_MODE_PROTECTED, .entry = p.entry, .low = p.low, .high = p.high,
		.rax = MULTIBOOT_BOOT_MAGIC, .rbx = MB_INFO_ADDR, .stack = BOOT_STACK_TOP,
		.cmdline = MB_STRINGS_ADDR,   /* put_cmdline() writes it first there */
	};
	return 0;
}
