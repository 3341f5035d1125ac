#include "arch/x86/paging.h"
#include <asm/processor-flags.h>
#include "arch/x86/regs.h"

/* What a walk found: the leaf, the permissions every level granted
 * (writable and user only when all levels say so, no-execute when any
 * does), and the entries used, for their accessed and dirty bits. */
struct walk {
	gpa_t frame;
	unsigned shift;
	bool writable, user, nx, reserved;
	gpa_t entry[5];
	unsigned entry_size, nentries;
};

enum walk_stop { WALK_FOUND, WALK_NOT_PRESENT, WALK_NO_TABLE, WALK_NONCANONICAL };

static void walk_start(struct walk *w, unsigned entry_size)
{
	*w = (struct walk){ .writable = true, .user = true, .entry_size = entry_size };
}

/* Read one entry and fold its permissions in; false when outside RAM. */
static bool walk_read(const struct guest_memory *mem, const struct x86_paging *p,
		      struct walk *w, gpa_t at, uint64_t *entry)
{
	*entry = 0;
	if (guest_read(mem, at, entry, w->entry_size) < 0)
		return false;
	w->entry[w->nentries++] = at;
	if (!(*entry & PTE_P))
		return true;
	w->writable &= (*entry & PTE_W) != 0;
	w->user &= (*entry & PTE_U) != 0;
	if (w->entry_size == 8 && (*entry & PTE_NX)) {
		if (p->efer & EFER_NXE)
			w->nx = true;
		else
			w->reserved = true;   /* bit 63 is reserved without NXE */
	}
	return true;
}

/* 4- or 5-level long-mode paging, and 3-level PAE paging, share the
 * entry format; they differ in the top of the walk only. */
static enum walk_stop walk64(const struct guest_memory *mem, const struct x86_paging *p,
			     struct walk *w, gpa_t table, unsigned levels, gva_t linear)
{
	for (unsigned level = levels; level >= 1; level--) {
		unsigned shift = 12 + 9 * (level - 1);
		unsigned index = (unsigned)(linear >> shift) & 0x1ff;
		uint64_t entry;
		if (!walk_read(mem, p, w, (table & PTE_ADDR) + index * 8ULL, &entry))
			return WALK_NO_TABLE;
		if (!(entry & PTE_P))
			return WALK_NOT_PRESENT;
		/* Large pages: 1 GiB at level 3, 2 MiB at level 2. */
		if (level == 1 || ((level == 2 || level == 3) && (entry & PTE_PS))) {
			w->frame = entry & PTE_ADDR;
			w->shift = shift;
			return WALK_FOUND;
		}
		table = entry;
	}
	return WALK_NOT_PRESENT;
}

static bool canonical(gva_t linear, unsigned bits)
{
	int64_t shifted = (int64_t)(linear << (64 - bits)) >> (64 - bits);
	return (uint64_t)shifted == linear;
}

/* PAE: four page-directory-pointer entries at CR3 (32-byte aligned);
 * they carry no permissions. */
static enum walk_stop walk_pae(const struct guest_memory *mem, const struct x86_paging *p,
			       struct walk *w, uint32_t linear)
{
	uint64_t pdpte;
	if (guest_read(mem, (p->cr3 & 0xffffffe0ULL) + (linear >> 30) * 8ULL, &pdpte, 8) < 0)
		return WALK_NO_TABLE;
	if (!(pdpte & PTE_P))
		return WALK_NOT_PRESENT;
	return walk64(mem, p, w, pdpte, 2, linear);
}

/* Classic 32-bit paging, with 4 MiB pages under CR4.PSE (PSE-36 puts
 * physical bits 39:32 in entry bits 20:13). */
static enum walk_stop walk_32(const struct guest_memory *mem, const struct x86_paging *p,
			      struct walk *w, uint32_t linear)
{
	uint64_t pde, pte;
	if (!walk_read(mem, p, w, (p->cr3 & 0xfffff000ULL) + (linear >> 22) * 4ULL, &pde))
		return WALK_NO_TABLE;
	if (!(pde & PTE_P))
		return WALK_NOT_PRESENT;
	if ((pde & PTE_PS) && (p->cr4 & X86_CR4_PSE)) {
		w->frame = (pde & 0xffc00000ULL) | ((pde >> 13) & 0xff) << 32;
		w->shift = 22;
		return WALK_FOUND;
	}
	if (!walk_read(mem, p, w, (pde & 0xfffff000ULL) + ((linear >> 12) & 0x3ff) * 4ULL, &pte))
		return WALK_NO_TABLE;
	if (!(pte & PTE_P))
		return WALK_NOT_PRESENT;
	w->frame = pte & 0xfffff000ULL;
	w->shift = 12;
	return WALK_FOUND;
}

static enum walk_stop walk_any(const struct guest_memory *mem, const struct x86_paging *p,
			       struct walk *w, gva_t linear)
{
	if (p->efer & EFER_LMA) {
		unsigned levels = (p->cr4 & X86_CR4_LA57) ? 5 : 4;
		walk_start(w, 8);
		if (!canonical(linear, 12 + 9 * levels))
			return WALK_NONCANONICAL;
		return walk64(mem, p, w, p->cr3, levels, linear);
	}
	if (linear > 0xffffffffULL)
		return WALK_NONCANONICAL;
	if (p->cr4 & X86_CR4_PAE) {
		walk_start(w, 8);
		return walk_pae(mem, p, w, (uint32_t)linear);
	}
	walk_start(w, 4);
	return walk_32(mem, p, w, (uint32_t)linear);
}

static void found(gva_t linear, gpa_t frame, unsigned page_shift,
		  gpa_t *gpa, uint64_t *span)
{
	uint64_t page_mask = (1ULL << page_shift) - 1;
	*gpa = (frame & ~page_mask) + (linear & page_mask);
	*span = page_mask + 1 - (linear & page_mask);
}

int x86_translate(const struct guest_memory *mem, const struct x86_paging *paging,
		  gva_t linear, gpa_t *gpa, uint64_t *span)
{
	struct walk w;
	if (!(paging->cr0 & X86_CR0_PG)) {
		linear &= 0xffffffffULL;
		found(linear, linear, 12, gpa, span);
		return 0;
	}
	if (walk_any(mem, paging, &w, linear) != WALK_FOUND)
		return -1;
	found(linear, w.frame, w.shift, gpa, span);
	return 0;
}

/* Whether the permissions the walk gathered refuse `a` (SDM vol. 3, 4.6). */
static bool access_refused(const struct x86_paging *p, const struct walk *w,
			   const struct x86_access *a)
{
	bool write = a->kind == X86_ACCESS_WRITE, fetch = a->kind == X86_ACCESS_FETCH;
	if (fetch && w->nx)
		return true;
	if (a->user)
		return !w->user || (write && !w->writable);
	if (write && !w->writable && (p->cr0 & X86_CR0_WP))
		return true;
	if (!w->user)
		return false;
	if (fetch)
		return (p->cr4 & X86_CR4_SMEP) != 0;
	return (p->cr4 & X86_CR4_SMAP) && (a->implicit || !a->ac);
}

static uint32_t fault_code(const struct x86_paging *p, const struct x86_access *a, bool present)
{
	uint32_t code = present ? X86_PF_PROT : 0;
	if (a->kind == X86_ACCESS_WRITE)
		code |= X86_PF_WRITE;
	if (a->user)
		code |= X86_PF_USER;
	if (a->kind == X86_ACCESS_FETCH && ((p->efer & EFER_NXE) || (p->cr4 & X86_CR4_SMEP)))
		code |= X86_PF_INSTR;
	return code;
}

/* The CPU sets the accessed bit of every entry it used and, for a write,
 * the leaf's dirty bit; a guest kernel finds written pages by it. An
 * atomic OR, as other vCPUs and the guest may change the same entries. */
static void mark_used(const struct guest_memory *mem, const struct walk *w, bool write)
{
	for (unsigned i = 0; i < w->nentries; i++) {
		uint32_t bits = PTE_A | (write && i + 1 == w->nentries ? PTE_D : 0);
		uint32_t *entry = guest_ptr(mem, w->entry[i], 4);   /* A and D: low word */
		if (entry)
			__atomic_fetch_or(entry, bits, __ATOMIC_SEQ_CST);
	}
}

enum x86_walk_result x86_walk(const struct guest_memory *mem, const struct x86_paging *paging,
			      gva_t linear, const struct x86_access *access,
			      gpa_t *gpa, uint64_t *span, uint32_t *pf_error)
{
	struct walk w;
	*pf_error = 0;
	if (!(paging->cr0 & X86_CR0_PG)) {
		linear &= 0xffffffffULL;
		found(linear, linear, 12, gpa, span);
		return X86_WALK_OK;
	}
	switch (walk_any(mem, paging, &w, linear)) {
	case WALK_NO_TABLE:
		return X86_WALK_NO_TABLE;
	case WALK_NONCANONICAL:
		return X86_WALK_NONCANONICAL;
	case WALK_NOT_PRESENT:
		*pf_error = fault_code(paging, access, false);
		return X86_WALK_FAULT;
	case WALK_FOUND:
		break;
	}
	if (w.reserved) {
		*pf_error = fault_code(paging, access, true) | X86_PF_RSVD;
		return X86_WALK_FAULT;
	}
	if (access_refused(paging, &w, access)) {
		*pf_error = fault_code(paging, access, true);
		return X86_WALK_FAULT;
	}
	mark_used(mem, &w, access->kind == X86_ACCESS_WRITE);
	found(linear, w.frame, w.shift, gpa, span);
	return X86_WALK_OK;
}
