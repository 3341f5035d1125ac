/* Multiboot (version 1) kernels for --kernel (multiboot.c explains the
 * protocol and where kvmini puts what). */
#ifndef KVMINI_LOADERS_MULTIBOOT_H
#define KVMINI_LOADERS_MULTIBOOT_H

#include "loader.h"

/* Modules kvmini passes at most (--initrd and every --module). */
#define MULTIBOOT_MODULES_MAX 16u

/* 1 with *offset when a valid header (magic, checksum) is in the first
 * 8 KiB at a 4-byte boundary, 0 otherwise. */
int multiboot_find_header(const uint8_t *data, uint64_t size, uint32_t *offset);

/* Validate the header, the kernel's placement, the modules and the
 * strings, then write the kernel, the modules and the information
 * structure; the entry state in *out (protected mode, EAX, EBX). */
int load_multiboot(const struct guest_memory *mem, const struct kvmini_image *img,
		   struct load_result *out, struct kvmini_error *err);

#endif
