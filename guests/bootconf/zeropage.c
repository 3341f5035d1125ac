/* The conformance kernel entered by the 64-bit boot protocol: check the
 * CPU state at entry and every zero-page field kvmini filled in
 * (Documentation/arch/x86/boot.rst, "64-bit Boot Protocol"). The header
 * values the image was packed with come from the Makefile (-D). */
#include <asm/bootparam.h>
#include "bootconf.h"
#include "guest.h"

#define BOOT_CS 0x10
#define BOOT_DS 0x18
#define RFLAGS_IF (1u << 9)
#define HDRS 0x53726448u
#define HEAP_END_PTR 0xde00u     /* kvmini's: 0xe000 - 0x200 */
#define JUMP ((0x26cu - 0x202u) << 8 | 0xebu)
#define LOW_RAM_TOP 0xc0000000ULL   /* kvmini's device hole starts at 3 GiB */

/* From the linker script: the image's start, end of file bytes, end. */
extern const char startup_32[], _edata[], _end[];

static void check_entry_state(void)
{
	check_eq("zero page address in rsi", entry_state[ENTRY_ARG], BOOTCONF_PARAMS_ADDR);
	check_eq("cs is __BOOT_CS", entry_state[ENTRY_CS], BOOT_CS);
	check_eq("ds is __BOOT_DS", entry_state[ENTRY_DS], BOOT_DS);
	check_eq("es is __BOOT_DS", entry_state[ENTRY_ES], BOOT_DS);
	check_eq("ss is __BOOT_DS", entry_state[ENTRY_SS], BOOT_DS);
	check_segment("GDT __BOOT_CS: flat 64-bit code, readable", BOOT_CS, SEG_CODE64);
	check_segment("GDT __BOOT_DS: flat data, writable", BOOT_DS, SEG_DATA);
	check_true("interrupts disabled", !(entry_state[ENTRY_FLAGS] & RFLAGS_IF),
		   entry_state[ENTRY_FLAGS]);
}

static void check_header(const struct setup_header *hdr, uint64_t load)
{
	uint64_t file_bytes = align_up((uint64_t)(_edata - startup_32), 16);

	check_eq("boot_flag", hdr->boot_flag, 0xaa55);
	check_eq("header \"HdrS\"", hdr->header, HDRS);
	check_eq("jump over the header", hdr->jump, JUMP);
	check_eq("version", hdr->version, BOOTCONF_VERSION);
	check_eq("setup_sects", hdr->setup_sects, BOOTCONF_SETUP_SECTS);
	/* With a payload (bootconf_*.bzImage), it follows the flat kernel. */
	if (hdr->payload_length)
		check_eq("syssize: the flat kernel, then the payload at payload_offset",
			 hdr->syssize * 16ULL, hdr->payload_offset == file_bytes ?
			 align_up(file_bytes + hdr->payload_length, 16) : 0);
	else
		check_eq("syssize", hdr->syssize, file_bytes / 16);
	check_eq("pref_address", hdr->pref_address, BOOTCONF_PREF);
	check_eq("kernel_alignment", hdr->kernel_alignment, BOOTCONF_ALIGN);
	check_eq("relocatable_kernel", hdr->relocatable_kernel, 1);
	check_eq("xloadflags", hdr->xloadflags, BOOTCONF_XLF);
	check_eq("cmdline_size", hdr->cmdline_size, BOOTCONF_CMDLINE_SIZE);
	check_eq("initrd_addr_max", hdr->initrd_addr_max, BOOTCONF_INITRD_MAX);
	check_eq("init_size", hdr->init_size, align_up((uint64_t)(_end - startup_32), 0x1000));
	check_eq("type_of_loader", hdr->type_of_loader, 0xff);
	check_eq("loadflags: LOADED_HIGH | CAN_USE_HEAP", hdr->loadflags,
		 LOADED_HIGH | CAN_USE_HEAP);
	check_eq("heap_end_ptr", hdr->heap_end_ptr, HEAP_END_PTR);
	check_eq("code32_start is the load address", hdr->code32_start, load);
	check_eq("cmd_line_ptr", hdr->cmd_line_ptr, BOOTCONF_CMDLINE_ADDR);
}

/* Beyond the header, only what a loader must write is non-zero. */
static void check_zero_page_rest(const struct boot_params *bp)
{
	check_eq("sentinel", bp->sentinel, 0);
	check_eq("ext_cmd_line_ptr", bp->ext_cmd_line_ptr, 0);
	check_eq("ext_ramdisk_image", bp->ext_ramdisk_image, 0);
	check_eq("ext_ramdisk_size", bp->ext_ramdisk_size, 0);
	check_eq("hardware_subarch (PC)", bp->hdr.hardware_subarch, 0);
}

static void check_load(const char *cmdline, const struct setup_header *hdr, uint64_t load)
{
	uint64_t want;

	info("kernel loaded at", load);
	if (cmdline_value(cmdline, "bootconf.load", &want))
		check_eq("load address", load, want);
	check_true("load address is pref_address or kernel_alignment-aligned",
		   load == hdr->pref_address || !(load & (hdr->kernel_alignment - 1)), load);
	/* [load, load + init_size) must be mapped and RAM: touch its end. */
	volatile uint8_t *last = (volatile uint8_t *)(uintptr_t)(load + hdr->init_size - 1);
	*last = 0x5a;
	check_eq("last byte of init_size writable", *last, 0x5a);
}

static void check_memory(uint64_t mem, const struct boot_params *bp)
{
	struct map_entry map[MAP_MAX], want[MAP_MAX];
	unsigned n = bp->e820_entries < MAP_MAX ? bp->e820_entries : MAP_MAX;

	for (unsigned i = 0; i < n; i++)
		map[i] = (struct map_entry){ bp->e820_table[i].addr, bp->e820_table[i].size,
					     bp->e820_table[i].type };
	check_eq("e820_entries", bp->e820_entries, expected_map(mem, want));
	check_map(map, n, mem);
}

int bzimage_main(const struct boot_params *bp);
int bzimage_main(const struct boot_params *bp)
{
	const struct setup_header *hdr = &bp->hdr;
	uint64_t load = entry_state[ENTRY_LOAD];
	const char *cmdline = (const char *)(uintptr_t)hdr->cmd_line_ptr;

	serial_puts("bootconf: bzImage, 64-bit boot protocol\n");
	check_entry_state();
	check_header(hdr, load);
	check_zero_page_rest(bp);
	check_cmdline(cmdline, hdr->cmdline_size);
	check_load(cmdline, hdr, load);
	uint64_t mem = 0;
	if (!cmdline_value(cmdline, "bootconf.mem", &mem)) {
		check_true("bootconf.mem given", 0, 0);
		return check_summary();
	}
	check_memory(mem, bp);
	/* The initrd ends by initrd_addr_max + 1 and the RAM below 3 GiB. */
	uint64_t limit = (uint64_t)hdr->initrd_addr_max + 1;
	uint64_t low_end = mem < LOW_RAM_TOP ? mem : LOW_RAM_TOP;
	check_initrd(cmdline, hdr->ramdisk_image, hdr->ramdisk_size, load + hdr->init_size,
		     limit < low_end ? limit : low_end);
	check_rsdp(cmdline, bp->acpi_rsdp_addr);
	return check_summary();
}
