/* Image loaders, one file per format. A loader validates the whole file
 * before it writes a byte of guest memory, and returns the entry point
 * and mode for the vCPU layer to apply. Errors name the file and the
 * problem and carry KVMINI_E_USAGE. */
#ifndef KVMINI_LOADER_H
#define KVMINI_LOADER_H

#include "memory.h"
#include "arch/x86/cpu_mode.h"
#include "loaders/elf_reader.h"

struct load_result {
	enum kvmini_mode mode;
	gpa_t entry;          /* guest-physical entry point */
	gpa_t low, high;      /* guest-physical extent written: [low, high) */
	/* Set by the boot-protocol loaders (bzImage, PVH, Multiboot); zero otherwise. */
	enum x86_boot_abi abi;
	uint64_t rax, rsi, rbx;  /* argument registers: Multiboot's magic, the zero
				  * page, the start info or Multiboot information */
	gpa_t stack;          /* initial stack pointer; 0: the machine's default */
	gpa_t cmdline;        /* the kernel's NUL-terminated command line; 0: none */
};

/* Raw bytes at img->load_addr (default: 0x7c00 in real mode, 1 MiB
 * otherwise); entry = img->entry or the load address. Mode defaults to
 * real. */
int load_flat(const struct guest_memory *mem, const struct kvmini_image *img,
	      struct load_result *out, struct kvmini_error *err);

/* ELF32 (EM_386, protected mode) or ELF64 (EM_X86_64, long mode)
 * executable: every PT_LOAD segment at its physical address, BSS zeroed,
 * entry from the header unless img->entry_set. */
int load_elf(const struct guest_memory *mem, const struct kvmini_image *img,
	     struct load_result *out, struct kvmini_error *err);

/* True when the bytes start with the ELF magic. */
int image_is_elf(const uint8_t *data, uint64_t size);

/* Everything load_elf() checks, without writing guest memory: on success
 * *out is what load_elf() would return. */
int elf_validate(const struct guest_memory *mem, const struct kvmini_image *img,
		 struct load_result *out, struct kvmini_error *err);

/* Read img as an ELF file (elf_reader.h, ELF32 or ELF64) and apply the
 * image loader's own checks: an executable (ET_EXEC), its class matching
 * --mode, no --load-addr. For a loader that needs more of the file than
 * its segments (the PVH note: elf_find_note()). */
int elf_image_read(const struct kvmini_image *img, struct elf_file *f,
		   struct kvmini_error *err);

/* A Linux kernel (KVMINI_FORMAT_LINUX): a PVH vmlinux when the file is
 * ELF, a bzImage otherwise (src/loaders/linux_boot.h). rsdp is the ACPI
 * RSDP's address to pass on, 0 for none. */
int load_linux(const struct guest_memory *mem, const struct kvmini_image *img,
	       gpa_t rsdp, struct load_result *out, struct kvmini_error *err);

/* load_linux() for a Linux kernel (bzImage or PVH, not Multiboot) that
 * is also told of the board's devices: `devices` (command-line words,
 * such as virtio_mmio.device=...; NULL or "" for none) go before the
 * command line. */
int load_linux_devices(const struct guest_memory *mem, const struct kvmini_image *img,
		       gpa_t rsdp, const char *devices, struct load_result *out,
		       struct kvmini_error *err);

/* Helpers shared by the loaders (defined in flat.c). */

/* The name errors use for an image: its path, or "image" without one. */
const char *loader_image_name(const struct kvmini_image *img);

/* Check that the non-empty range [gpa, gpa+len) does not wrap, lies in
 * one RAM region, and stays clear of the structures entering `mode`
 * writes and of the ranges reserved in mem (the firmware tables, when
 * the VM gets them: guest_memory_reserve()). `what` names the range in the message ("image", "segment 2"). */
int loader_check_placement(const struct guest_memory *mem,
			   const struct kvmini_image *img, enum kvmini_mode mode,
			   const char *what, gpa_t gpa, uint64_t len,
			   struct kvmini_error *err);

/* Check that an entry point is in RAM and reachable from `mode`'s start
 * state: below 1 MiB in real mode (cs:ip), below 4 GiB in protected mode. */
int loader_check_entry(const struct guest_memory *mem,
		       const struct kvmini_image *img, enum kvmini_mode mode,
		       gpa_t entry, struct kvmini_error *err);

#endif
