#include "arch/x86/paging.h"
#include <asm/processor-flags.h>
#include "arch/x86/regs.h"

static int read_entry64(const struct guest_memory *mem, gpa_t table, unsigned index,
			uint64_t *entry)
{
	return guest_read(mem, (table & PTE_ADDR) + index * 8ULL, entry, 8);
}

static void found(gva_t linear, gpa_t frame, unsigned page_shift,
		  gpa_t *gpa, uint64_t *span)
{
	uint64_t page_mask = (1ULL << page_shift) - 1;
	*gpa = (frame & ~page_mask) + (linear & page_mask);
	*span = page_mask + 1 - (linear & page_mask);
}

/* 4- or 5-level long-mode paging, and 3-level PAE paging, share the
 * entry format; they differ in the top of the walk only. */
static int walk64(const struct guest_memory *mem, gpa_t table, unsigned levels,
		  gva_t linear, gpa_t *gpa, uint64_t *span)
{
	for (unsigned level = levels; level >= 1; level--) {
		unsigned shift = 12 + 9 * (level - 1);
		unsigned index = (unsigned)(linear >> shift) & 0x1ff;
		uint64_t entry;
		if (read_entry64(mem, table, index, &entry) < 0 || !(entry & PTE_P))
			return -1;
		/* Large pages: 1 GiB at level 3, 2 MiB at level 2. */
		if (level == 1 || ((level == 2 || level == 3) && (entry & PTE_PS))) {
			found(linear, entry & PTE_ADDR, shift, gpa, span);
			return 0;
		}
		table = entry;
	}
	return -1;
}

static bool canonical(gva_t linear, unsigned bits)
{
	int64_t shifted = (int64_t)(linear << (64 - bits)) >> (64 - bits);
	return (uint64_t)shifted == linear;
}

static int walk_long(const struct guest_memory *mem, const struct x86_paging *p,
		     gva_t linear, gpa_t *gpa, uint64_t *span)
{
	unsigned levels = (p->cr4 & X86_CR4_LA57) ? 5 : 4;
	if (!canonical(linear, 12 + 9 * levels))
		return -1;
	return walk64(mem, p->cr3, levels, linear, gpa, span);
}

/* PAE: four page-directory-pointer entries at CR3 (32-byte aligned). */
static int walk_pae(const struct guest_memory *mem, const struct x86_paging *p,
		    uint32_t linear, gpa_t *gpa, uint64_t *span)
{
	uint64_t pdpte;
	if (guest_read(mem, (p->cr3 & 0xffffffe0ULL) + (linear >> 30) * 8ULL, &pdpte, 8) < 0 ||
	    !(pdpte & PTE_P))
		return -1;
	return walk64(mem, pdpte, 2, linear, gpa, span);
}

/* Classic 32-bit paging, with 4 MiB pages under CR4.PSE (PSE-36 puts
 * physical bits 39:32 in entry bits 20:13). */
static int walk_32(const struct guest_memory *mem, const struct x86_paging *p,
		   uint32_t linear, gpa_t *gpa, uint64_t *span)
{
	uint32_t pde, pte;
	if (guest_read(mem, (p->cr3 & 0xfffff000ULL) + (linear >> 22) * 4ULL, &pde, 4) < 0 ||
	    !(pde & PTE_P))
		return -1;
	if ((pde & PTE_PS) && (p->cr4 & X86_CR4_PSE)) {
		gpa_t frame = (pde & 0xffc00000ULL) | ((uint64_t)(pde >> 13) & 0xff) << 32;
		found(linear, frame, 22, gpa, span);
		return 0;
	}
	if (guest_read(mem, (pde & 0xfffff000ULL) + ((linear >> 12) & 0x3ff) * 4ULL, &pte, 4) < 0 ||
	    !(pte & PTE_P))
		return -1;
	found(linear, pte & 0xfffff000ULL, 12, gpa, span);
	return 0;
}

int x86_translate(const struct guest_memory *mem, const struct x86_paging *paging,
		  gva_t linear, gpa_t *gpa, uint64_t *span)
{
	if (!(paging->cr0 & X86_CR0_PG)) {
		linear &= 0xffffffffULL;
		found(linear, linear, 12, gpa, span);
		return 0;
	}
	if (paging->efer & EFER_LMA)
		return walk_long(mem, paging, linear, gpa, span);
	if (linear > 0xffffffffULL)
		return -1;
	if (paging->cr4 & X86_CR4_PAE)
		return walk_pae(mem, paging, (uint32_t)linear, gpa, span);
	return walk_32(mem, paging, (uint32_t)linear, gpa, span);
}
