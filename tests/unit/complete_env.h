/* A plain long-mode machine for the instruction-completion tests and the
 * fuzz target, without KVM: guest RAM with page tables, a vCPU state in
 * 64-bit kernel mode, and the host's own CPUID as the guest's.
 *
 * Guest-physical layout (identity-mapped, 4 KiB pages below 2 MiB):
 *   0x1000 PML4, 0x2000 PDPT, 0x3000 PD, 0x4000 PT (first 2 MiB)
 *   0x5000 IDT (256 gates), 0x10000 code (user), 0x20000 data (supervisor),
 *   0x30000 data (user), 0x40000 read-only, 0x50000 no-execute,
 *   0x60000 not present, 0x70000 mapped to 0xfec00000 (not RAM);
 *   2 MiB..8 MiB in 2 MiB pages. */
#ifndef KVMINI_TEST_COMPLETE_ENV_H
#define KVMINI_TEST_COMPLETE_ENV_H

#include <cpuid.h>
#include <stdlib.h>
#include <string.h>
#include "arch/x86/emulate/complete.h"
#include "arch/x86/paging.h"
#include "arch/x86/regs.h"

#define ENV_RAM (8ULL << 20)
#define ENV_PML4 0x1000ULL
#define ENV_IDT 0x5000ULL
#define ENV_CODE 0x10000ULL
#define ENV_DATA 0x20000ULL
#define ENV_USER 0x30000ULL
#define ENV_RO 0x40000ULL
#define ENV_NX 0x50000ULL
#define ENV_ABSENT 0x60000ULL
#define ENV_DEVICE 0x70000ULL      /* mapped to the IOAPIC's page: not RAM */

struct complete_env {
	struct guest_memory mem;
	struct x86_cpuid cpuid;
	struct x86_cpu cpu;
	struct x86_guest guest;
};

static inline void env_put64(struct complete_env *e, gpa_t at, uint64_t v)
{
	if (guest_write(&e->mem, at, &v, 8) < 0)
		abort();
}

/* Every page of the first 2 MiB mapped to itself, writable, supervisor;
 * the special pages as their names say. */
static inline void env_map(struct complete_env *e)
{
	env_put64(e, ENV_PML4, 0x2000 | PTE_P | PTE_W | PTE_U);
	env_put64(e, 0x2000, 0x3000 | PTE_P | PTE_W | PTE_U);
	env_put64(e, 0x3000, 0x4000 | PTE_P | PTE_W | PTE_U);
	for (uint64_t pd = 1; pd < 4; pd++)
		env_put64(e, 0x3000 + pd * 8, (pd << 21) | PTE_P | PTE_W | PTE_PS);
	for (uint64_t page = 0; page < 512; page++)
		env_put64(e, 0x4000 + page * 8, (page << 12) | PTE_P | PTE_W);
	env_put64(e, 0x4000 + (ENV_USER >> 12) * 8, ENV_USER | PTE_P | PTE_W | PTE_U);
	/* The code page is user too, so CPL 3 runs the same bytes. */
	env_put64(e, 0x4000 + (ENV_CODE >> 12) * 8, ENV_CODE | PTE_P | PTE_W | PTE_U);
	env_put64(e, 0x4000 + (ENV_RO >> 12) * 8, ENV_RO | PTE_P);
	env_put64(e, 0x4000 + (ENV_NX >> 12) * 8, ENV_NX | PTE_P | PTE_W | PTE_NX);
	env_put64(e, 0x4000 + (ENV_ABSENT >> 12) * 8, 0);
	env_put64(e, 0x4000 + (ENV_DEVICE >> 12) * 8, 0xfec00000ULL | PTE_P | PTE_W);
}

/* Gate `vector` of the IDT: present, interrupt gate, DPL dpl. */
static inline void env_gate(struct complete_env *e, unsigned vector, unsigned dpl, bool present)
{
	uint8_t gate[16] = { 0x00, 0x10, 0x08, 0x00, 0x00, 0x8e, 0x01, 0x00 };
	gate[5] = (uint8_t)((present ? 0x80 : 0) | dpl << 5 | 0xe);
	if (guest_write(&e->mem, ENV_IDT + vector * 16ULL, gate, 16) < 0)
		abort();
}

/* The host's CPUID leaves the executor asks about, as KVM would list them. */
static inline struct kvm_cpuid2 *env_host_cpuid(void)
{
	static const struct { uint32_t fn, index, flags; } leaves[] = {
		{ 1, 0, 0 }, { 7, 0, KVM_CPUID_FLAG_SIGNIFCANT_INDEX },
		{ 0x80000001, 0, 0 },
	};
	unsigned n = sizeof(leaves) / sizeof(leaves[0]), xsave = 19;
	struct kvm_cpuid2 *t = calloc(1, sizeof(*t) + (n + xsave) * sizeof(t->entries[0]));
	if (!t)
		abort();
	for (unsigned i = 0; i < n + xsave; i++) {
		struct kvm_cpuid_entry2 *e = &t->entries[i];
		e->function = i < n ? leaves[i].fn : 0xd;
		e->index = i < n ? leaves[i].index : i - n;
		e->flags = i < n ? leaves[i].flags : KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
		__cpuid_count(e->function, e->index, e->eax, e->ebx, e->ecx, e->edx);
	}
	t->nent = n + xsave;
	return t;
}

/* Whether the host's kernel turned XSAVE on (CPUID.1:ECX.OSXSAVE):
 * without it xgetbv and xsave raise #UD in this process. */
static inline bool env_host_osxsave(void)
{
	unsigned a, b, c, d;
	__cpuid(1, a, b, c, d);
	return (c >> 27) & 1;
}

static inline uint64_t env_host_xcr0(void)
{
	uint32_t lo, hi;
	if (!env_host_osxsave())
		return 0;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return lo | (uint64_t)hi << 32;
}

/* The host's extended state, in KVM_GET_XSAVE's standard form. */
static inline void env_host_xsave(struct kvm_xsave *out)
{
	static uint8_t area[4096] __attribute__((aligned(64)));
	memset(area, 0, sizeof(area));
	if (env_host_osxsave())
		__asm__ volatile("xsave64 %0" : "+m"(area) : "a"(-1), "d"(-1) : "memory");
	memcpy(out->region, area, sizeof(area));
}

/* 64-bit kernel mode, paging with WP, PAE, OSFXSR, OSXSAVE, NXE. */
static inline void env_reset_cpu(struct complete_env *e)
{
	struct x86_cpu *c = &e->cpu;
	struct kvm_segment code = { .selector = 0x10, .type = 0xb, .present = 1, .s = 1, .l = 1,
				    .g = 1, .limit = 0xffffffff };
	struct kvm_segment data = { .selector = 0x18, .type = 0x3, .present = 1, .s = 1,
				    .db = 1, .g = 1, .limit = 0xffffffff };
	memset(&c->regs, 0, sizeof(c->regs));
	memset(&c->sregs, 0, sizeof(c->sregs));
	c->regs.rip = ENV_CODE;
	c->regs.rflags = 0x2;
	c->regs.rsp = 0x7ff000;
	c->sregs.cs = code;
	c->sregs.ds = c->sregs.es = c->sregs.fs = c->sregs.gs = c->sregs.ss = data;
	c->sregs.idt.base = ENV_IDT;
	c->sregs.idt.limit = 256 * 16 - 1;
	c->sregs.cr0 = 0x80050033;   /* PG, WP, NE, ET, MP, PE */
	c->sregs.cr3 = ENV_PML4;
	c->sregs.cr4 = 0x40620;      /* OSXSAVE, OSXMMEXCPT, OSFXSR, PAE */
	c->sregs.efer = EFER_LME | EFER_LMA | EFER_NXE | EFER_SCE;
	c->xcr0 = env_host_xcr0();
	c->xss = 0;
}

/* User mode (CPL 3) with the same paging. */
static inline void env_user_mode(struct complete_env *e)
{
	e->cpu.sregs.cs.dpl = e->cpu.sregs.ss.dpl = 3;
	e->cpu.sregs.cs.selector |= 3;
	e->cpu.sregs.ss.selector |= 3;
}

static inline int env_init(struct complete_env *e, struct kvmini_error *err)
{
	memset(e, 0, sizeof(*e));
	if (guest_memory_init(&e->mem, ENV_RAM, 0, err) < 0)
		return -1;
	e->cpuid.table = env_host_cpuid();
	e->guest = (struct x86_guest){ .mem = &e->mem, .cpuid = &e->cpuid };
	env_map(e);
	for (unsigned v = 0; v < 256; v++)
		env_gate(e, v, v == 3 || v == 0x80 ? 3 : 0, true);
	env_reset_cpu(e);
	env_host_xsave(&e->cpu.xsave);
	return 0;
}

static inline void env_free(struct complete_env *e)
{
	free(e->cpuid.table);
	guest_memory_free(&e->mem);
}

/* Put `len` bytes of code at CS:RIP (ENV_CODE) and complete them. */
static inline enum x86_outcome env_run(struct complete_env *e, const void *code, size_t len,
				       struct x86_completion *out)
{
	if (guest_write(&e->mem, e->cpu.regs.rip, code, len) < 0)
		abort();
	return x86_complete(&e->cpu, &e->guest, out);
}

#endif
