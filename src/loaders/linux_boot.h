/* What kvmini's two ways of booting Linux share. The bzImage loader
 * (64-bit boot protocol, Documentation/arch/x86/boot.rst) and the PVH
 * loader (an ELF vmlinux entered in 32-bit protected mode with an
 * hvm_start_info) put their structures in one fixed boot area, describe
 * RAM with the same memory map, and place the command line and the
 * initrd by the same rules. docs/entry-state.md documents the addresses.
 *
 *   [0x1000, <= 0x45000)   kvmini's GDT and page tables (cpu_mode.h)
 *   [.., 0x50000)          scratch stack for the entry (grows down)
 *   [0x50000, 0x51000)     zero page (bzImage) or start info (PVH)
 *   [0x51000, 0x60000)     the command line, NUL-terminated
 *   [0x9fc00, 0x100000)    reserved in the memory map (EBDA, BIOS area,
 *                          the firmware tables at 0xe0000)
 *   [1 MiB, ...)           the kernel; the initrd at the top of the RAM
 *                          below 4 GiB, page aligned, above the kernel */
#ifndef KVMINI_LOADERS_LINUX_BOOT_H
#define KVMINI_LOADERS_LINUX_BOOT_H

#include "loader.h"
#include "arch/x86/e820.h"

#define BOOT_PARAMS_ADDR  0x50000ULL   /* zero page or hvm_start_info */
#define BOOT_CMDLINE_ADDR 0x51000ULL
#define BOOT_AREA_END     0x60000ULL
/* Characters of command line the buffer holds, without the NUL. */
#define BOOT_CMDLINE_MAX  (BOOT_AREA_END - BOOT_CMDLINE_ADDR - 1)
#define BOOT_STACK_TOP    BOOT_PARAMS_ADDR
#define BOOT_KERNEL_MIN   0x100000ULL  /* kernels load at or above 1 MiB */
#define BOOT_INITRD_ALIGN 0x1000ULL

/* The memory map both protocols pass (arch/x86/e820.h): RAM below the
 * EBDA, the reserved BIOS area, RAM from 1 MiB to the device hole, RAM
 * above 4 GiB. */
#define BOOT_LOW_RAM_END  X86_E820_LOW_RAM_END
#define BOOT_BIOS_END     X86_E820_BIOS_END
#define BOOT_MAP_MAX      X86_E820_MAX

/* Fill map[] for this RAM; returns the number of entries. */
unsigned boot_memory_map(const struct guest_memory *mem, struct x86_e820_entry map[BOOT_MAP_MAX]);

/* End of the RAM that starts at address 0 (below the device hole). */
gpa_t boot_low_ram_end(const struct guest_memory *mem);

/* The command line the kernel gets: img->cmdline (or the default), then
 * a space and img->cmdline_append when given. */
uint64_t boot_cmdline_length(const struct kvmini_image *img);
/* Fail unless the command line has at most max_len characters; `limit`
 * names the limit in the message. */
int boot_check_cmdline(const struct kvmini_image *img, uint64_t max_len, const char *limit,
		       struct kvmini_error *err);
/* Write it, NUL-terminated, at BOOT_CMDLINE_ADDR (after the check). */
int boot_write_cmdline(const struct guest_memory *mem, const struct kvmini_image *img,
		       struct kvmini_error *err);

/* Where the initrd goes: the highest page-aligned address at which it
 * ends at or below min(limit, end of low RAM) and starts at or above
 * kernel_end. `limit_name` says what `limit` is, for the message. *addr
 * is 0 without an initrd. */
int boot_place_initrd(const struct guest_memory *mem, const struct kvmini_image *img,
		      gpa_t kernel_end, gpa_t limit, const char *limit_name,
		      gpa_t *addr, struct kvmini_error *err);
int boot_write_initrd(const struct guest_memory *mem, const struct kvmini_image *img,
		      gpa_t addr, struct kvmini_error *err);

/* The name errors use for the initrd. */
const char *boot_initrd_name(const struct kvmini_image *img);

#define LINUX_HDRS_OFFSET 0x202u      /* the setup header's "HdrS" */
#define LINUX_HDRS_MAGIC  0x53726448u

/* True when img is an ELF with a PVH entry note (errors count as no). */
bool pvh_has_entry(const struct kvmini_image *img);

/* The two protocols (bzimage.c, pvh.c); load_linux() picks one of them
 * or Multiboot (multiboot.h). */
int load_bzimage(const struct guest_memory *mem, const struct kvmini_image *img,
		 gpa_t rsdp, struct load_result *out, struct kvmini_error *err);
int load_pvh(const struct guest_memory *mem, const struct kvmini_image *img,
	     gpa_t rsdp, struct load_result *out, struct kvmini_error *err);

#endif
