/* The VMM's side of the guest: GDT, TSS, IDT, the CPL0 stub and the
 * kernel half's page tables, and the vCPU's entry state (64-bit mode,
 * CPL3, syscall wired to the stub).
 *
 * Guest kernel mode does as little as possible, because on PVM every
 * CPL0 instruction is emulated: a system call is `syscall` -> `out` ->
 * `sysretq`, and the host reads and writes the registers through
 * kvm_run's synchronised register block while the vCPU is out. An
 * exception is the CPU's delivery through the IDT -> `out` to the port
 * of its vector; the host reads the CPU's frame from the exception stack
 * and ends the run. */
#include <asm/processor-flags.h>
#include <string.h>
#include "sandbox/sandbox.h"
#include "arch/x86/gdt.h"
#include "arch/x86/msr.h"
#include "arch/x86/regs.h"

/* RFLAGS bits syscall clears: TF, IF, DF, IOPL, NT, AC. */
#define SYSCALL_RFLAGS_MASK 0x47700ULL

#define KTABLE (PTE_P | PTE_W | PTE_U | PTE_A)   /* the leaves decide */

#define TSS_OFFSET 0x100   /* the TSS sits in the GDT's page */
#define TSS_LIMIT 0x67
#define GDT_BYTES 80       /* eight slots (one unused) and the 16-byte TSS descriptor */
#define GDT_SEGMENTS 6     /* code and data at 0x08-0x30 */
#define IDT_VECTORS 32

static gva_t kva(gpa_t gpa)
{
	return SB_KERNEL_VA + gpa;
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* The segments the GDT describes: Linux's layout (sandbox.h). Those the
 * vCPU runs on are loaded from the same values (set_sregs()). */
static void gdt_segments(struct kvm_segment segs[GDT_SEGMENTS])
{
	segs[0] = x86_flat_segment(0x08, X86_SEGMENT_CODE32, 0);    /* unused */
	segs[1] = x86_flat_segment(SB_SEL_KCODE, X86_SEGMENT_CODE64, 0);
	segs[2] = x86_flat_segment(SB_SEL_KDATA, X86_SEGMENT_DATA, 0);
	segs[3] = x86_flat_segment(SB_SEL_UBASE, X86_SEGMENT_CODE32, 3);   /* sysret's base; unused */
	segs[4] = x86_flat_segment(SB_SEL_UDATA, X86_SEGMENT_DATA, 3);
	segs[5] = x86_flat_segment(SB_SEL_UCODE, X86_SEGMENT_CODE64, 3);
}

static struct kvm_segment tss_segment(void)
{
	return (struct kvm_segment){
		.base = kva(SB_GDT_GPA + TSS_OFFSET), .limit = TSS_LIMIT,
		.selector = SB_SEL_TSS, .type = 0xb, .present = 1,   /* busy 64-bit TSS */
	};
}

static int write_gdt_tss(const struct guest_memory *mem)
{
	uint8_t *gdt = guest_ptr(mem, SB_GDT_GPA, SB_PAGE);
	if (!gdt)
		return -1;
	struct kvm_segment segs[GDT_SEGMENTS], tss = tss_segment();
	uint64_t tss_desc[2];
	memset(gdt, 0, SB_PAGE);
	gdt_segments(segs);
	for (unsigned i = 0; i < GDT_SEGMENTS; i++)
		put64(gdt + (segs[i].selector & ~7), x86_gdt_descriptor(&segs[i]));
	x86_gdt_system_descriptor(&tss, tss_desc);
	memcpy(gdt + SB_SEL_TSS, tss_desc, sizeof(tss_desc));
	/* 64-bit TSS: RSP0 at 4, IST1 at 36, I/O map base at 102. The map
	 * base lies past the limit: no port is open to CPL3. */
	uint8_t *t = gdt + TSS_OFFSET;
	put64(t + 4, kva(SB_IST_TOP_GPA));
	put64(t + 36, kva(SB_IST_TOP_GPA));
	uint16_t iomap = TSS_LIMIT + 1;
	memcpy(t + 102, &iomap, 2);
	return 0;
}

static int write_idt(const struct guest_memory *mem)
{
	uint8_t *idt = guest_ptr(mem, SB_IDT_GPA, SB_PAGE);
	if (!idt)
		return -1;
	memset(idt, 0, SB_PAGE);
	for (unsigned v = 0; v < IDT_VECTORS; v++) {
		gva_t handler = kva(SB_STUB_GPA + SB_STUB_EXC + 8 * v);
		/* int3 and into are allowed from CPL3, as on Linux. */
		uint64_t dpl = (v == 3 || v == 4) ? 3 : 0;
		uint64_t low = (handler & 0xffff) | ((uint64_t)SB_SEL_KCODE << 16) |
			       (1ULL << 32) /* IST1 */ | ((0x8eULL | dpl << 5) << 40) |
			       ((handler >> 16 & 0xffff) << 48);
		put64(idt + 16 * v, low);
		put64(idt + 16 * v + 8, handler >> 32);
	}
	return 0;
}

/* The door. With hardware virtualization `syscall` enters CPL0 at
 * SB_STUB_SYSCALL, whose `out` exits to the host and whose `sysretq`
 * returns. PVM instead runs a non-PVM guest's syscall target in user
 * mode: there the `out` raises #GP, which the IDT takes to the #GP door
 * below, and the host recognises a system call by the faulting address
 * (run.c). So the page is user-executable, and every exception door ends
 * in `iretq` for that one case; the others never return. */
static int write_stub(const struct guest_memory *mem)
{
	static const uint8_t pop_error_iretq[] = {
		0x48, 0x83, 0xc4, 0x08,       /* add $8, %rsp: drop the error code */
		0x48, 0xcf,                   /* iretq */
	};
	uint8_t *s = guest_ptr(mem, SB_STUB_GPA, SB_PAGE);
	if (!s)
		return -1;
	memset(s, 0xf4, SB_PAGE);   /* hlt everywhere else */
	static const uint8_t door[] = {
		0xe6, SB_PORT_SYSCALL,        /* out %al, $SB_PORT_SYSCALL */
		0x48, 0x0f, 0x07,             /* sysretq */
	};
	memcpy(s + SB_STUB_SYSCALL, door, sizeof(door));
	for (unsigned v = 0; v < IDT_VECTORS; v++) {
		uint8_t *h = s + SB_STUB_EXC + 8 * v;
		h[0] = 0xe6;                  /* out %al, $(SB_PORT_EXC + v) */
		h[1] = (uint8_t)(SB_PORT_EXC + v);
		if (sb_vector_has_error_code(v))
			memcpy(h + 2, pop_error_iretq, sizeof(pop_error_iretq));
		else
			memcpy(h + 2, pop_error_iretq + 4, 2);
	}
	return 0;
}

/* The kernel half: SB_KERNEL_VA + gpa for the VMM's pages, supervisor-only. */
static int write_kernel_tables(const struct guest_memory *mem)
{
	uint64_t *pml4 = guest_ptr(mem, SB_PML4_GPA, SB_PAGE);
	uint64_t *pdpt = guest_ptr(mem, SB_KPDPT_GPA, SB_PAGE);
	uint64_t *pd = guest_ptr(mem, SB_KPD_GPA, SB_PAGE);
	uint64_t *pt = guest_ptr(mem, SB_KPT_GPA, SB_PAGE);
	if (!pml4 || !pdpt || !pd || !pt)
		return -1;
	memset(pml4, 0, SB_PAGE);
	memset(pdpt, 0, SB_PAGE);
	memset(pd, 0, SB_PAGE);
	memset(pt, 0, SB_PAGE);
	pml4[(SB_KERNEL_VA >> 39) & 511] = SB_KPDPT_GPA | KTABLE;
	pdpt[(SB_KERNEL_VA >> 30) & 511] = SB_KPD_GPA | KTABLE;
	pd[(SB_KERNEL_VA >> 21) & 511] = SB_KPT_GPA | KTABLE;
	const uint64_t leaf = PTE_P | PTE_A | PTE_D;
	pt[SB_GDT_GPA / SB_PAGE] = SB_GDT_GPA | leaf | PTE_W | PTE_NX;
	pt[SB_IDT_GPA / SB_PAGE] = SB_IDT_GPA | leaf | PTE_NX;
	/* The stub page is also user-executable: see write_stub(). */
	pt[SB_STUB_GPA / SB_PAGE] = SB_STUB_GPA | leaf | PTE_U;
	for (gpa_t g = SB_IST_GPA; g < SB_IST_TOP_GPA; g += SB_PAGE)
		pt[g / SB_PAGE] = g | leaf | PTE_W | PTE_NX;
	return 0;
}

int sb_cpu_write_tables(sandbox_t *sb, struct kvmini_error *err)
{
	const struct guest_memory *mem = &sb->vm.mem;
	if (write_gdt_tss(mem) < 0 || write_idt(mem) < 0 || write_stub(mem) < 0 ||
	    write_kernel_tables(mem) < 0)
		return kvmini_fail(err, KVMINI_E_USAGE, "sandbox memory is too small");
	return 0;
}

/* The XCR0 bits we enable when the host's KVM offers XSAVE: x87, SSE,
 * AVX and the AVX-512 states, so libc picks the same code paths as on
 * the host. */
#define XCR0_WANTED 0xe7ULL

static uint64_t supported_xcr0(const struct x86_cpuid *cpuid)
{
	bool xsave = false;
	uint64_t xcr0 = 0;
	for (unsigned i = 0; i < cpuid->table->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &cpuid->table->entries[i];
		if (e->function == 1)
			xsave = (e->ecx >> 26) & 1;
		if (e->function == 0xd && e->index == 0)
			xcr0 = ((uint64_t)e->edx << 32 | e->eax) & XCR0_WANTED;
	}
	return xsave && (xcr0 & 3) == 3 ? xcr0 : 0;
}

static int set_sregs(sandbox_t *sb, bool osxsave, struct kvmini_error *err)
{
	struct kvm_sregs s;
	if (vcpu_get_sregs(sb->vcpu, &s, err) < 0)
		return -1;
	s.cs = x86_flat_segment(SB_SEL_UCODE, X86_SEGMENT_CODE64, 3);
	s.ss = s.ds = s.es = s.fs = s.gs = x86_flat_segment(SB_SEL_UDATA, X86_SEGMENT_DATA, 3);
	s.tr = tss_segment();
	s.ldt = (struct kvm_segment){ .type = 2, .present = 1, .unusable = 1 };
	s.gdt.base = kva(SB_GDT_GPA);
	s.gdt.limit = GDT_BYTES - 1;
	s.idt.base = kva(SB_IDT_GPA);
	s.idt.limit = IDT_VECTORS * 16 - 1;
	s.cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE | X86_CR0_WP | X86_CR0_PG;
	s.cr3 = SB_PML4_GPA;
	s.cr4 = X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT | (osxsave ? X86_CR4_OSXSAVE : 0);
	s.efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
	return vcpu_set_sregs(sb->vcpu, &s, err);
}

static int set_msrs(sandbox_t *sb, struct kvmini_error *err)
{
	static const uint32_t index[] = {
		MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SYSCALL_MASK,
		MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE,
	};
	uint64_t door = kva(SB_STUB_GPA + SB_STUB_SYSCALL);
	const uint64_t value[] = {
		(uint64_t)SB_SEL_UBASE << 48 | (uint64_t)SB_SEL_KCODE << 32,
		door, door, SYSCALL_RFLAGS_MASK, 0, 0, 0,
	};
	struct kvm_msr_entry e[7];
	memset(e, 0, sizeof(e));
	for (unsigned i = 0; i < 7; i++) {
		e[i].index = index[i];
		e[i].data = value[i];
	}
	return vcpu_set_msrs(sb->vcpu, e, 7, err);
}

int sb_cpu_setup(sandbox_t *sb, gva_t entry, gva_t sp, struct kvmini_error *err)
{
	if (x86_cpuid_apply(&sb->cpuid, sb->vcpu->fd, 0, 1, err) < 0)
		return -1;
	uint64_t xcr0 = supported_xcr0(&sb->cpuid);
	if (set_sregs(sb, xcr0 != 0, err) < 0)
		return -1;
	if (xcr0) {
		struct kvm_xcrs x = { .nr_xcrs = 1, .xcrs = { { .xcr = 0, .value = xcr0 } } };
		if (vcpu_set_xcrs(sb->vcpu, &x, err) < 0)
			return -1;
	}
	if (set_msrs(sb, err) < 0)
		return -1;
	/* The System V ABI entry state: rsp at argc, rdx 0 (no atexit hook). */
	struct kvm_regs r = { .rip = entry, .rsp = sp, .rflags = 0x202 };
	return vcpu_set_regs(sb->vcpu, &r, err);
}
