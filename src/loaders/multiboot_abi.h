/* The Multiboot (version 1) structures kvmini reads and writes, in the
 * specification's layout (every field little-endian, 4-byte words). No
 * uapi header describes them. guests/multiboot.c includes this file too,
 * so the loader and the guest that checks it agree by construction. */
#ifndef KVMINI_LOADERS_MULTIBOOT_ABI_H
#define KVMINI_LOADERS_MULTIBOOT_ABI_H

#include <stdint.h>

#define MULTIBOOT_HEADER_MAGIC  0x1BADB002u   /* in the kernel's header */
#define MULTIBOOT_BOOT_MAGIC    0x2BADB002u   /* in EAX at the entry */
#define MULTIBOOT_SEARCH_BYTES  8192u         /* the header is in the first 8 KiB */
#define MULTIBOOT_HEADER_ALIGN  4u

/* Header flags. Bits 0-15 are requirements: a loader must refuse a
 * kernel that sets one it does not know. Bits 16-31 are optional. */
#define MULTIBOOT_PAGE_ALIGN    (1u << 0)     /* modules on 4 KiB boundaries */
#define MULTIBOOT_MEMORY_INFO   (1u << 1)     /* mem_* and the memory map wanted */
#define MULTIBOOT_VIDEO_MODE    (1u << 2)     /* a video mode wanted */
#define MULTIBOOT_AOUT_KLUDGE   (1u << 16)    /* load by the header's address fields */

/* The header; the address fields count only with MULTIBOOT_AOUT_KLUDGE,
 * the video fields only with MULTIBOOT_VIDEO_MODE. */
struct multiboot_header {
	uint32_t magic, flags, checksum;
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
	uint32_t mode_type, width, height, depth;
};
#define MULTIBOOT_HEADER_BASE_SIZE  12u
#define MULTIBOOT_HEADER_AOUT_SIZE  32u

/* Information structure flags: which fields are valid. */
#define MULTIBOOT_INFO_MEMORY       (1u << 0)
#define MULTIBOOT_INFO_CMDLINE      (1u << 2)
#define MULTIBOOT_INFO_MODS         (1u << 3)
#define MULTIBOOT_INFO_MEM_MAP      (1u << 6)
#define MULTIBOOT_INFO_LOADER_NAME  (1u << 9)

struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper;      /* KiB below 640 KiB; KiB from 1 MiB to the first hole */
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
	uint32_t drives_length, drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;
	uint32_t apm_table;
	uint32_t vbe_control_info, vbe_mode_info;
	uint16_t vbe_mode, vbe_interface_seg, vbe_interface_off, vbe_interface_len;
};
_Static_assert(sizeof(struct multiboot_info) == 88, "multiboot_info is 88 bytes");

struct multiboot_module {
	uint32_t mod_start, mod_end;   /* [start, end) */
	uint32_t string;               /* the module's command line */
	uint32_t reserved;
};

/* A memory map entry; `size` counts the bytes after itself (20), so the
 * entries are 24 bytes apart. */
struct multiboot_mmap_entry {
	uint32_t size;
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));
_Static_assert(sizeof(struct multiboot_mmap_entry) == 24, "multiboot mmap entry is 24 bytes");

#endif
