/* vmlinux ELF64 parsing for host-side decompression (vmlinux.h). */
#include <elf.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "vmlinux.h"
#include "loaders/elf_reader.h"

#define VMLINUX_MAX_PHDRS 64
/* Physical addresses a 4-level x86-64 guest can reach. */
#define PHYS_LIMIT        (1ULL << 46)

static const struct elf_rules vmlinux_rules = {
	.classes = ELF_ACCEPT_64, .max_phnum = VMLINUX_MAX_PHDRS,
};

/* label: "<name>: the decompressed payload is not a usable vmlinux". */
static int bad_elf(const char *label, struct kvmini_error *err, const char *what)
{
	return kvmini_fail(err, KVMINI_E_USAGE, "%s: %s", label, what);
}

/* A kernel virtual address (__START_KERNEL_map + physical) to physical. */
static gpa_t physical(uint64_t addr)
{
	return addr >= START_KERNEL_MAP ? addr - START_KERNEL_MAP : addr;
}

static int add_segment(const char *label, const struct elf_segment *ph, struct vmlinux *v,
		       struct kvmini_error *err)
{
	gpa_t paddr = physical(ph->paddr);

	if (v->nseg == VMLINUX_MAX_SEGMENTS)
		return bad_elf(label, err, "more than 16 loadable segments");
	if (paddr >= PHYS_LIMIT || ph->memsz > PHYS_LIMIT - paddr)
		return bad_elf(label, err, "a segment's physical address is out of range");
	v->seg[v->nseg++] = (struct vmlinux_segment){
		.offset = ph->offset, .filesz = ph->filesz, .memsz = ph->memsz,
		.paddr = paddr,
	};
	if (v->nseg == 1 || paddr < v->low)
		v->low = paddr;
	if (v->nseg == 1 || paddr + ph->memsz > v->high)
		v->high = paddr + ph->memsz;
	return 0;
}

int vmlinux_parse(const char *name, const uint8_t *data, size_t size, struct vmlinux *out,
		  struct kvmini_error *err)
{
	char label[sizeof(err->msg)];
	struct elf_file f;
	struct elf_segment ph;

	memset(out, 0, sizeof(*out));
	snprintf(label, sizeof(label), "%s: the decompressed payload is not a usable vmlinux",
		 name);
	if (elf_read(&f, data, size, label, &vmlinux_rules, err))
		return -1;
	for (unsigned i = 0; elf_next_load(&f, &i, &ph);)
		if (add_segment(label, &ph, out, err))
			return -1;
	out->entry = physical(f.entry);
	if (out->entry < out->low || out->entry >= out->high)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: the vmlinux entry 0x%" PRIx64 " is outside its segments"
				   " [0x%" PRIx64 ", 0x%" PRIx64 ")", name, out->entry, out->low,
				   out->high);
	return 0;
}
