/* The user window: its page tables and the per-page bookkeeping behind
 * mmap, munmap, mprotect and brk. See sandbox.h for the layout. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "sandbox/sandbox.h"
#include "arch/x86/regs.h"

/* Upper levels allow everything; the leaf decides. A and D are preset so
 * the CPU (or KVM's page walker) never writes to the tables. */
#define PTE_TABLE (PTE_P | PTE_W | PTE_U | PTE_A)

/* The top of the lower canonical half: user addresses stay below it. */
#define USER_VA_END 0x0000800000000000ULL

struct table_counts {
	uint64_t pdpt, pd, pt;
};

/* Tables needed to map [base, base+size) with 4 KiB pages. */
static struct table_counts count_tables(uint64_t base, uint64_t size)
{
	uint64_t last = base + size - 1;
	return (struct table_counts){
		.pdpt = (last >> 39) - (base >> 39) + 1,
		.pd = (last >> 30) - (base >> 30) + 1,
		.pt = (last >> 21) - (base >> 21) + 1,
	};
}

static uint64_t table_pages(struct table_counts c)
{
	return c.pdpt + c.pd + c.pt;
}

/* Link PML4 -> PDPTs -> PDs -> PTs for the window; all PTEs start empty.
 * Each level's pages are reached as one range through guest_ptr(). */
static int link_tables(struct sb_mm *mm, struct table_counts c)
{
	gva_t base = mm->base;
	gpa_t pdpt_gpa = SB_KERNEL_END;
	gpa_t pd_gpa = pdpt_gpa + c.pdpt * SB_PAGE;
	gpa_t pt_gpa = pd_gpa + c.pd * SB_PAGE;
	uint8_t *tables = guest_ptr(mm->mem, pdpt_gpa, table_pages(c) * SB_PAGE);
	uint64_t *pml4 = guest_ptr(mm->mem, SB_PML4_GPA, SB_PAGE);
	uint64_t *pdpt = guest_ptr(mm->mem, pdpt_gpa, c.pdpt * SB_PAGE);
	uint64_t *pd = guest_ptr(mm->mem, pd_gpa, c.pd * SB_PAGE);
	if (!tables || !pml4 || !pdpt || !pd)
		return -1;
	memset(tables, 0, table_pages(c) * SB_PAGE);
	for (uint64_t i = 0; i < c.pdpt; i++)
		pml4[((base >> 39) + i) & 511] = (pdpt_gpa + i * SB_PAGE) | PTE_TABLE;
	/* Entries of consecutive 1 GiB (2 MiB) chunks are consecutive in the
	 * tables below because each level's pages are allocated in order. */
	uint64_t pd_first = (base >> 30) & ~511ULL;
	for (uint64_t i = 0; i < c.pd; i++)
		pdpt[(base >> 30) + i - pd_first] = (pd_gpa + i * SB_PAGE) | PTE_TABLE;
	uint64_t pt_first = (base >> 21) & ~511ULL;
	for (uint64_t i = 0; i < c.pt; i++)
		pd[(base >> 21) + i - pt_first] = (pt_gpa + i * SB_PAGE) | PTE_TABLE;
	mm->pt_gpa = pt_gpa;
	mm->pte_va0 = (base >> 21) << 21;
	return 0;
}

int sb_mm_init(struct sb_mm *mm, const struct guest_memory *mem, gva_t base,
	       struct kvmini_error *err)
{
	memset(mm, 0, sizeof(*mm));
	if (mem->nregions != 1)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "sandbox memory must lie below 3 GiB (use --mem 3G or less)");
	uint64_t ram = mem->ram_size;
	if (ram < SB_KERNEL_END + 64 * SB_PAGE || base % SB_PAGE)
		return kvmini_fail(err, KVMINI_E_USAGE, "sandbox memory is too small");
	uint64_t size = ram - SB_KERNEL_END;
	struct table_counts c = count_tables(base, size);
	/* Fewer bytes never need more tables, so one step settles the size. */
	size -= table_pages(c) * SB_PAGE;
	c = count_tables(base, size);
	if (base == 0 || base > USER_VA_END || size > USER_VA_END - base)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "the program's addresses (from 0x%llx) do not fit in the user half",
				   (unsigned long long)base);
	mm->mem = mem;
	mm->base = base;
	mm->size = size;
	mm->gpa = ram - size;
	mm->npages = size / SB_PAGE;
	mm->pg = calloc(mm->npages, 1);
	if (!mm->pg)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for the page map");
	if (link_tables(mm, c) < 0)
		return kvmini_fail(err, KVMINI_E_USAGE, "sandbox memory is too small");
	return 0;
}

void sb_mm_free(struct sb_mm *mm)
{
	free(mm->pg);
	mm->pg = NULL;
}

bool sb_mm_contains(const struct sb_mm *mm, gva_t va, uint64_t len)
{
	return va >= mm->base && va - mm->base <= mm->size && len <= mm->size - (va - mm->base);
}

gpa_t sb_mm_gpa(const struct sb_mm *mm, gva_t va)
{
	return mm->gpa + (va - mm->base);
}

void *sb_mm_host(const struct sb_mm *mm, gva_t va, uint64_t len)
{
	if (!sb_mm_contains(mm, va, len))
		return NULL;
	return guest_ptr(mm->mem, sb_mm_gpa(mm, va), len);
}

void sb_mm_mark_dirty(struct sb_mm *mm, gpa_t gpa, uint64_t len)
{
	if (!mm->host_dirty || len == 0)
		return;
	for (uint64_t p = gpa / SB_PAGE; p <= (gpa + len - 1) / SB_PAGE; p++)
		mm->host_dirty[p / 64] |= 1ULL << (p % 64);
}

static uint64_t page_index(const struct sb_mm *mm, gva_t va)
{
	return (va - mm->base) / SB_PAGE;
}

/* Where the leaf PTE of window address va lives in guest RAM. */
static gpa_t pte_gpa(const struct sb_mm *mm, gva_t va)
{
	return mm->pt_gpa + (va - mm->pte_va0) / SB_PAGE * 8;
}

static uint64_t pte_value(const struct sb_mm *mm, gva_t va, unsigned flags)
{
	if (!(flags & SB_PG_MAPPED) || !(flags & SB_PG_PROT))
		return 0;
	uint64_t pte = sb_mm_gpa(mm, va) | PTE_P | PTE_U | PTE_A | PTE_D;
	if (flags & SB_PG_W)
		pte |= PTE_W;
	if (!(flags & SB_PG_X))
		pte |= PTE_NX;
	return pte;
}

/* Set the flags of [va, va+len) and rewrite its PTEs. The PTEs lie in
 * the tables sb_mm_init() checked, so the writes cannot miss RAM. */
static void set_pages(struct sb_mm *mm, gva_t va, uint64_t len, unsigned flags)
{
	for (gva_t a = va; a < va + len; a += SB_PAGE) {
		uint64_t i = page_index(mm, a);
		mm->pg[i] = (uint8_t)((mm->pg[i] & SB_PG_GUARD) | flags);
		uint64_t pte = pte_value(mm, a, mm->pg[i]);
		guest_write(mm->mem, pte_gpa(mm, a), &pte, sizeof(pte));
	}
	sb_mm_mark_dirty(mm, pte_gpa(mm, va), len / SB_PAGE * 8);
}

/* Zero [va, va+len) and make KVM forget it. MADV_DONTNEED on private
 * anonymous memory reads back as zeros, gives the pages back to the host,
 * and through the MMU notifier drops KVM's translations of them: the
 * shadow entries under PVM, the EPT/NPT entries and with them every
 * cached guest translation on hardware. The host's writes to the guest's
 * page tables are not seen by KVM, so this is what makes an unmapped page
 * fault at once. */
void sb_mm_zero(struct sb_mm *mm, gva_t va, uint64_t len)
{
	uint8_t *p = sb_mm_host(mm, va, len);
	if (!p)
		return;
	if (madvise(p, len, MADV_DONTNEED) < 0)
		memset(p, 0, len);
	sb_mm_mark_dirty(mm, sb_mm_gpa(mm, va), len);
}

/* The same forgetting for pages that keep their contents but lose
 * rights: changing the host protection also calls the MMU notifier. */
void sb_mm_forget(struct sb_mm *mm, gva_t va, uint64_t len)
{
	uint8_t *p = sb_mm_host(mm, va, len);
	if (p && mprotect(p, len, PROT_READ) == 0)
		mprotect(p, len, PROT_READ | PROT_WRITE);
}

static unsigned normalise_prot(unsigned prot)
{
	/* x86 pages cannot be write- or execute-only. */
	return (prot & (SB_PG_W | SB_PG_X)) ? (prot | SB_PG_R) : prot;
}

void sb_mm_map(struct sb_mm *mm, gva_t va, uint64_t len, unsigned prot, bool zero)
{
	if (len == 0)
		return;
	/* Unmapped window pages are always zero and unknown to KVM, so only
	 * a mapping that replaces another needs work. */
	bool replaces = !sb_mm_none_mapped(mm, va, len);
	set_pages(mm, va, len, SB_PG_MAPPED | normalise_prot(prot));
	if (replaces && zero)
		sb_mm_zero(mm, va, len);
	else if (replaces)
		sb_mm_forget(mm, va, len);
}

void sb_mm_unmap(struct sb_mm *mm, gva_t va, uint64_t len)
{
	if (len == 0)
		return;
	set_pages(mm, va, len, 0);
	sb_mm_zero(mm, va, len);
	if (va + len > mm->mmap_next && va + len <= mm->mmap_top)
		mm->mmap_next = va + len;   /* reuse freed space first */
}

void sb_mm_protect(struct sb_mm *mm, gva_t va, uint64_t len, unsigned prot)
{
	prot = normalise_prot(prot);
	bool loses = false;
	for (uint64_t a = va; a < va + len && !loses; a += SB_PAGE)
		loses = (mm->pg[page_index(mm, a)] & SB_PG_PROT & ~prot) != 0;
	set_pages(mm, va, len, SB_PG_MAPPED | prot);
	if (loses)
		sb_mm_forget(mm, va, len);
}

bool sb_mm_all_mapped(const struct sb_mm *mm, gva_t va, uint64_t len)
{
	for (uint64_t a = va; a < va + len; a += SB_PAGE)
		if (!(mm->pg[page_index(mm, a)] & SB_PG_MAPPED))
			return false;
	return true;
}

bool sb_mm_none_mapped(const struct sb_mm *mm, gva_t va, uint64_t len)
{
	for (uint64_t a = va; a < va + len; a += SB_PAGE)
		if (mm->pg[page_index(mm, a)] & SB_PG_MAPPED)
			return false;
	return true;
}

/* Top-down next-fit: scan down from mmap_next, then from the top. */
static gva_t scan_down(const struct sb_mm *mm, uint64_t from, uint64_t lo, uint64_t want)
{
	uint64_t run = 0;
	for (uint64_t i = from; i > lo; i--) {
		run = mm->pg[i - 1] ? 0 : run + 1;
		if (run == want)
			return mm->base + (i - 1) * SB_PAGE;
	}
	return 0;
}

gva_t sb_mm_find_free(struct sb_mm *mm, uint64_t len)
{
	uint64_t want = len / SB_PAGE;
	uint64_t lo = page_index(mm, SB_PAGE_UP(mm->brk));
	uint64_t top = page_index(mm, mm->mmap_top);
	uint64_t next = mm->mmap_next ? page_index(mm, mm->mmap_next) : top;
	gva_t va = next > lo ? scan_down(mm, next, lo, want) : 0;
	if (!va)
		va = scan_down(mm, top, lo, want);
	if (va)
		mm->mmap_next = va;
	return va;
}
