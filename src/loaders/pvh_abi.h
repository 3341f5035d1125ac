/* The PVH boot ABI's structures, defined here from Xen's public ABI
 * (xen/include/public/arch-x86/hvm/start_info.h and docs/misc/pvh.pandoc;
 * no uapi header carries them): the start-of-day information a PVH
 * kernel finds in EBX, version 1. Plain <stdint.h> types and natural
 * alignment, so the 32-bit conformance guest (guests/bootconf) includes
 * this header too and sees the same layout. */
#ifndef KVMINI_LOADERS_PVH_ABI_H
#define KVMINI_LOADERS_PVH_ABI_H

#include <stddef.h>
#include <stdint.h>

#define XEN_ELFNOTE_PHYS32_ENTRY  18          /* note type; the note's name is "Xen" */
#define XEN_HVM_START_MAGIC_VALUE 0x336ec578u  /* "xEn3" with the 0x80 bit of 'E' set */
#define XEN_HVM_START_VERSION     1u           /* adds the memory map */

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;            /* SIF_*: none for an unprivileged guest */
	uint32_t nr_modules;
	uint64_t modlist_paddr;    /* array of struct hvm_modlist_entry */
	uint64_t cmdline_paddr;    /* NUL-terminated */
	uint64_t rsdp_paddr;       /* 0: none */
	uint64_t memmap_paddr;     /* array of struct hvm_memmap_table_entry */
	uint32_t memmap_entries;
	uint32_t reserved;         /* zero */
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;    /* 0: none */
	uint64_t reserved;
};

/* Types as in the e820 map: 1 RAM, 2 reserved, 3 ACPI, 4 NVS, ... */
struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info is 56 bytes");
_Static_assert(offsetof(struct hvm_start_info, memmap_paddr) == 40, "memmap_paddr at 40");
_Static_assert(offsetof(struct hvm_start_info, memmap_entries) == 48, "memmap_entries at 48");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry is 32 bytes");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm_memmap_table_entry is 24 bytes");

#endif
