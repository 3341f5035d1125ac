/* The page walker's permission checks and accessed/dirty bits
 * (x86_walk(), src/arch/x86/paging.c) in long mode, PAE and 32-bit
 * paging, on plain guest memory without KVM. */
#include <criterion/criterion.h>
#include <asm/processor-flags.h>
#include "arch/x86/paging.h"
#include "arch/x86/regs.h"

static struct guest_memory mem;

static void setup(void)
{
	struct kvmini_error err;
	cr_assert_eq(guest_memory_init(&mem, 4ULL << 20, 0, &err), 0, "%s", err.msg);
}

static void teardown(void)
{
	guest_memory_free(&mem);
}

TestSuite(walk, .init = setup, .fini = teardown);

static void put(gpa_t at, uint64_t v, unsigned size)
{
	cr_assert_eq(guest_write(&mem, at, &v, size), 0);
}

static uint64_t get(gpa_t at)
{
	uint64_t v = 0;
	cr_assert_eq(guest_read(&mem, at, &v, 8), 0);
	return v;
}

static const struct x86_access kread = { .kind = X86_ACCESS_READ };
static const struct x86_access kwrite = { .kind = X86_ACCESS_WRITE };
static const struct x86_access uread = { .kind = X86_ACCESS_READ, .user = true };
static const struct x86_access uwrite = { .kind = X86_ACCESS_WRITE, .user = true };
static const struct x86_access ufetch = { .kind = X86_ACCESS_FETCH, .user = true };
static const struct x86_access kfetch = { .kind = X86_ACCESS_FETCH };

static enum x86_walk_result walk(const struct x86_paging *p, gva_t va, const struct x86_access *a,
				 uint32_t *code)
{
	gpa_t gpa;
	uint64_t span;
	return x86_walk(&mem, p, va, a, &gpa, &span, code);
}

/* Long mode: PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> PT 0x4000;
 * page 0x5000 user read-only, page 0x6000 user writable. */
static const struct x86_paging lm = {
	.cr0 = X86_CR0_PG | X86_CR0_PE | X86_CR0_WP, .cr3 = 0x1000, .cr4 = X86_CR4_PAE,
	.efer = EFER_LME | EFER_LMA | EFER_NXE,
};

static void long_tables(void)
{
	put(0x1000, 0x2000 | PTE_P | PTE_W | PTE_U, 8);
	put(0x2000, 0x3000 | PTE_P | PTE_W | PTE_U, 8);
	put(0x3000, 0x4000 | PTE_P | PTE_W | PTE_U, 8);
	put(0x4000 + 5 * 8, 0x5000 | PTE_P | PTE_U, 8);
	put(0x4000 + 6 * 8, 0x6000 | PTE_P | PTE_W | PTE_U, 8);
}

Test(walk, accessed_and_dirty_bits)
{
	uint32_t code;
	long_tables();
	cr_assert_eq(walk(&lm, 0x6010, &uread, &code), X86_WALK_OK);
	cr_assert(get(0x1000) & PTE_A);
	cr_assert(get(0x4000 + 6 * 8) & PTE_A);
	cr_assert(!(get(0x4000 + 6 * 8) & PTE_D), "a read does not dirty");
	cr_assert_eq(walk(&lm, 0x6010, &uwrite, &code), X86_WALK_OK);
	cr_assert(get(0x4000 + 6 * 8) & PTE_D, "a write dirties the leaf");
	cr_assert(!(get(0x3000) & PTE_D), "and only the leaf");

	gpa_t gpa;
	uint64_t span;
	put(0x4000 + 5 * 8, 0x5000 | PTE_P | PTE_U, 8);
	cr_assert_eq(x86_translate(&mem, &lm, 0x5000, &gpa, &span), 0);
	cr_assert(!(get(0x4000 + 5 * 8) & PTE_A), "the debugger's walk leaves the bits");
}

Test(walk, user_supervisor_and_write_protect)
{
	uint32_t code;
	long_tables();
	cr_assert_eq(walk(&lm, 0x5000, &uwrite, &code), X86_WALK_FAULT);
	cr_assert_eq(code, X86_PF_PROT | X86_PF_WRITE | X86_PF_USER);
	cr_assert_eq(walk(&lm, 0x5000, &kwrite, &code), X86_WALK_FAULT, "CR0.WP");
	cr_assert_eq(code, X86_PF_PROT | X86_PF_WRITE);
	struct x86_paging nowp = lm;
	nowp.cr0 &= ~(uint64_t)X86_CR0_WP;
	cr_assert_eq(walk(&nowp, 0x5000, &kwrite, &code), X86_WALK_OK, "no WP: kernel writes");
	/* A supervisor page at any level refuses user mode. */
	put(0x3000, 0x4000 | PTE_P | PTE_W, 8);
	cr_assert_eq(walk(&lm, 0x6000, &uread, &code), X86_WALK_FAULT);
	cr_assert_eq(code, X86_PF_PROT | X86_PF_USER);
	cr_assert_eq(walk(&lm, 0x7000, &uread, &code), X86_WALK_FAULT, "not present");
	cr_assert_eq(code, X86_PF_USER);
}

Test(walk, nx_smep_smap)
{
	uint32_t code;
	long_tables();
	put(0x4000 + 5 * 8, 0x5000 | PTE_P | PTE_U | PTE_NX, 8);
	cr_assert_eq(walk(&lm, 0x5000, &ufetch, &code), X86_WALK_FAULT);
	cr_assert_eq(code, X86_PF_PROT | X86_PF_USER | X86_PF_INSTR);
	struct x86_paging p = lm;
	p.cr4 |= X86_CR4_SMEP | X86_CR4_SMAP;
	cr_assert_eq(walk(&p, 0x6000, &kfetch, &code), X86_WALK_FAULT, "SMEP");
	cr_assert_eq(code, X86_PF_PROT | X86_PF_INSTR);
	cr_assert_eq(walk(&p, 0x6000, &kread, &code), X86_WALK_FAULT, "SMAP");
	struct x86_access ac = { .kind = X86_ACCESS_READ, .ac = true };
	cr_assert_eq(walk(&p, 0x6000, &ac, &code), X86_WALK_OK, "SMAP with AC");
	ac.implicit = true;
	cr_assert_eq(walk(&p, 0x6000, &ac, &code), X86_WALK_FAULT, "implicit: AC does not help");
	/* Without NXE bit 63 is reserved. */
	struct x86_paging nonx = lm;
	nonx.efer &= ~EFER_NXE;
	cr_assert_eq(walk(&nonx, 0x5000, &uread, &code), X86_WALK_FAULT);
	cr_assert_eq(code, X86_PF_PROT | X86_PF_USER | X86_PF_RSVD);
	cr_assert_eq(walk(&lm, 0x0000800000000000ULL, &kread, &code), X86_WALK_NONCANONICAL);
}

Test(walk, pae_and_32_bit_paging)
{
	uint32_t code;
	/* PAE: PDPT at 0x1000 (no permissions), PD 0x2000, PT 0x3000. */
	struct x86_paging pae = { .cr0 = X86_CR0_PG | X86_CR0_PE | X86_CR0_WP, .cr3 = 0x1000,
				  .cr4 = X86_CR4_PAE, .efer = EFER_NXE };
	put(0x1000, 0x2000 | PTE_P, 8);
	put(0x2000, 0x3000 | PTE_P | PTE_W | PTE_U, 8);
	put(0x3000 + 5 * 8, 0x5000 | PTE_P | PTE_U, 8);
	cr_assert_eq(walk(&pae, 0x5000, &uread, &code), X86_WALK_OK);
	cr_assert_eq(walk(&pae, 0x5000, &uwrite, &code), X86_WALK_FAULT);
	cr_assert_eq(code, X86_PF_PROT | X86_PF_WRITE | X86_PF_USER);

	/* 32-bit: PD at 0x8000, PT 0x9000, 4-byte entries. */
	struct x86_paging p32 = { .cr0 = X86_CR0_PG | X86_CR0_PE, .cr3 = 0x8000 };
	put(0x8000, 0x9000 | PTE_P | PTE_W | PTE_U, 4);
	put(0x9000 + 5 * 4, 0x5000 | PTE_P | PTE_U, 4);
	cr_assert_eq(walk(&p32, 0x5000, &kwrite, &code), X86_WALK_OK, "no WP: kernel writes");
	cr_assert_eq(walk(&p32, 0x5000, &uwrite, &code), X86_WALK_FAULT);
	cr_assert_eq(walk(&p32, 0x5000, &ufetch, &code), X86_WALK_OK, "no NX in 32-bit paging");
	cr_assert(get(0x9000 + 5 * 4) & PTE_A);
	cr_assert_eq(walk(&p32, 0x100000000ULL, &kread, &code), X86_WALK_NONCANONICAL);
}
