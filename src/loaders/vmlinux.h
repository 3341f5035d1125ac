/* The decompressed payload of a bzImage: vmlinux, an ELF64 x86-64
 * executable whose PT_LOAD segments carry physical addresses (p_paddr)
 * and whose entry is startup_64's physical address. Some linkers leave
 * kernel virtual addresses (__START_KERNEL_map + physical) there; those
 * are turned back into physical ones. The whole header is checked
 * against the file before anything is used. */
#ifndef KVMINI_LOADERS_VMLINUX_H
#define KVMINI_LOADERS_VMLINUX_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "memory.h"

#define VMLINUX_MAX_SEGMENTS 16
#define START_KERNEL_MAP     0xffffffff80000000ULL   /* x86-64's __START_KERNEL_map */

struct vmlinux_segment {
	uint64_t offset, filesz, memsz;   /* bytes [offset, offset + filesz) of the file */
	gpa_t paddr;                      /* physical address at link time */
};

struct vmlinux {
	struct vmlinux_segment seg[VMLINUX_MAX_SEGMENTS];
	unsigned nseg;
	gpa_t low, high;      /* physical span [low, high) of the segments */
	gpa_t entry;          /* physical entry point, inside the span */
};

/* Parse and check the ELF file; `name` starts every error message
 * (KVMINI_E_USAGE). */
int vmlinux_parse(const char *name, const uint8_t *data, size_t size, struct vmlinux *out,
		  struct kvmini_error *err);

#endif
