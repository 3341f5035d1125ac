/* vmlinux ELF64 parsing for host-side decompression (vmlinux.h). */
#include <elf.h>
#include <inttypes.h>
#include <string.h>
#include "vmlinux.h"

#define VMLINUX_MAX_PHDRS 64
/* Physical addresses a 4-level x86-64 guest can reach. */
#define PHYS_LIMIT        (1ULL << 46)

static int bad_elf(const char *name, struct kvmini_error *err, const char *what)
{
	return kvmini_fail(err, KVMINI_E_USAGE, "%s: the decompressed payload is not a usable"
			   " vmlinux: %s", name, what);
}

static int check_header(const char *name, const uint8_t *data, size_t size, Elf64_Ehdr *eh,
			struct kvmini_error *err)
{
	if (size < sizeof(*eh) || memcmp(data, ELFMAG, SELFMAG) != 0)
		return bad_elf(name, err, "no ELF header");
	memcpy(eh, data, sizeof(*eh));
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64)
		return bad_elf(name, err, "not a little-endian ELF64 for x86-64");
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
	    eh->e_phnum > VMLINUX_MAX_PHDRS)
		return bad_elf(name, err, "bad program header table size");
	if (eh->e_phoff > size || (size - eh->e_phoff) / sizeof(Elf64_Phdr) < eh->e_phnum)
		return bad_elf(name, err, "program headers past the end of the file");
	return 0;
}

/* A kernel virtual address (__START_KERNEL_map + physical) to physical. */
static uint64_t physical(uint64_t addr)
{
	return addr >= START_KERNEL_MAP ? addr - START_KERNEL_MAP : addr;
}

static int add_segment(const char *name, const Elf64_Phdr *ph, size_t size, struct vmlinux *v,
		       struct kvmini_error *err)
{
	uint64_t paddr = physical(ph->p_paddr);

	if (ph->p_memsz == 0)
		return 0;
	if (v->nseg == VMLINUX_MAX_SEGMENTS)
		return bad_elf(name, err, "more than 16 loadable segments");
	if (ph->p_filesz > ph->p_memsz)
		return bad_elf(name, err, "a segment's file size is larger than its memory size");
	if (ph->p_offset > size || ph->p_filesz > size - ph->p_offset)
		return bad_elf(name, err, "a segment extends past the end of the file");
	if (paddr >= PHYS_LIMIT || ph->p_memsz > PHYS_LIMIT - paddr)
		return bad_elf(name, err, "a segment's physical address is out of range");
	v->seg[v->nseg++] = (struct vmlinux_segment){
		.offset = ph->p_offset, .filesz = ph->p_filesz, .memsz = ph->p_memsz,
		.paddr = paddr,
	};
	if (v->nseg == 1 || paddr < v->low)
		v->low = paddr;
	if (v->nseg == 1 || paddr + ph->p_memsz > v->high)
		v->high = paddr + ph->p_memsz;
	return 0;
}

int vmlinux_parse(const char *name, const uint8_t *data, size_t size, struct vmlinux *out,
		  struct kvmini_error *err)
{
	Elf64_Ehdr eh;

	memset(out, 0, sizeof(*out));
	if (check_header(name, data, size, &eh, err))
		return -1;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, data + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD && add_segment(name, &ph, size, out, err))
			return -1;
	}
	if (out->nseg == 0)
		return bad_elf(name, err, "no loadable segment");
	out->entry = physical(eh.e_entry);
	if (out->entry < out->low || out->entry >= out->high)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "%s: the vmlinux entry 0x%" PRIx64 " is outside its segments"
				   " [0x%" PRIx64 ", 0x%" PRIx64 ")", name, out->entry, out->low,
				   out->high);
	return 0;
}
