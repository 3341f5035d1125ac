#include <asm/processor-flags.h>
#include <string.h>
#include <sys/ioctl.h>
#include "kvm.h"
#include "arch/x86/cpu_mode.h"
#include "arch/x86/gdt.h"
#include "arch/x86/regs.h"

#define GIB (1ULL << 30)
#define GDT_ENTRIES 4

const char *x86_mode_name(enum kvmini_mode mode)
{
	switch (mode) {
	case KVMINI_MODE_REAL: return "real";
	case KVMINI_MODE_PROTECTED: return "protected";
	case KVMINI_MODE_LONG: return "long";
	}
	return "unknown";
}

/* Long mode maps at least the first 4 GiB (RAM plus the device hole
 * below 4 GiB) and all RAM above it, with 2 MiB pages. */
static uint64_t mapped_gib(uint64_t ram_end)
{
	uint64_t end = ram_end > 4 * GIB ? ram_end : 4 * GIB;
	return (end + GIB - 1) / GIB;
}

void x86_reserved_range(enum kvmini_mode mode, gpa_t ram_end,
			gpa_t *start, gpa_t *end)
{
	switch (mode) {
	case KVMINI_MODE_REAL:
		*start = *end = 0;
		return;
	case KVMINI_MODE_PROTECTED:
		*start = X86_GDT_ADDR;
		*end = X86_GDT_ADDR + 0x1000;
		return;
	case KVMINI_MODE_LONG:
		*start = X86_GDT_ADDR;
		*end = X86_PD_ADDR + mapped_gib(ram_end) * 0x1000;
		return;
	}
}

/* The flat segments of an entry: CS and the data segment, at kvmini's
 * selectors or the Linux boot protocol's. */
static void entry_segments(bool long_mode, enum x86_boot_abi abi,
			   struct kvm_segment *code, struct kvm_segment *data)
{
	bool linux64 = abi == X86_ABI_LINUX64;
	uint16_t cs = linux64 ? X86_SEL_BOOT_CS : long_mode ? X86_SEL_CODE64 : X86_SEL_CODE32;
	*code = x86_flat_segment(cs, long_mode ? X86_SEGMENT_CODE64 : X86_SEGMENT_CODE32, 0);
	*data = x86_flat_segment(linux64 ? X86_SEL_BOOT_DS : X86_SEL_DATA, X86_SEGMENT_DATA, 0);
}

/* kvmini's GDT holds 32-bit code, data and 64-bit code, so a guest can
 * switch modes with the selectors it knows (docs/entry-state.md); the
 * Linux boot protocol's holds only __BOOT_CS and __BOOT_DS. */
static int write_gdt(const struct guest_memory *mem, enum x86_boot_abi abi,
		     struct kvmini_error *err)
{
	uint64_t gdt[GDT_ENTRIES] = { 0 };
	struct kvm_segment segs[3];
	unsigned n = 2;
	entry_segments(true, abi, &segs[0], &segs[1]);
	if (abi != X86_ABI_LINUX64)
		entry_segments(false, abi, &segs[n++], &segs[1]);
	for (unsigned i = 0; i < n; i++)
		gdt[segs[i].selector >> 3] = x86_gdt_descriptor(&segs[i]);
	if (guest_write(mem, X86_GDT_ADDR, gdt, sizeof(gdt)) < 0)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "guest RAM too small for the GDT at 0x%llx",
				   X86_GDT_ADDR);
	return 0;
}

static int write_page_tables(const struct guest_memory *mem, struct kvmini_error *err)
{
	uint64_t gib = mapped_gib(guest_ram_end(mem));
	uint64_t *pml4 = guest_ptr(mem, X86_PML4_ADDR, 0x1000);
	uint64_t *pdpt = guest_ptr(mem, X86_PDPT_ADDR, 0x1000);
	uint64_t *pd = guest_ptr(mem, X86_PD_ADDR, gib * 0x1000);
	if (!pml4 || !pdpt || !pd)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "guest RAM too small for long-mode page tables (need up to 0x%llx)",
				   (unsigned long long)(X86_PD_ADDR + gib * 0x1000));
	memset(pml4, 0, 0x1000);
	memset(pdpt, 0, 0x1000);
	pml4[0] = X86_PDPT_ADDR | PTE_P | PTE_W;
	for (uint64_t g = 0; g < gib; g++) {
		pdpt[g] = (X86_PD_ADDR + g * 0x1000) | PTE_P | PTE_W;
		for (uint64_t i = 0; i < 512; i++)
			pd[g * 512 + i] = (g * GIB + (i << 21)) | PTE_P | PTE_W | PTE_PS;
	}
	return 0;
}

static void set_real_segments(struct kvm_sregs *s, uint16_t segment)
{
	struct kvm_segment *segs[] = { &s->cs, &s->ds, &s->es, &s->fs, &s->gs, &s->ss };
	for (unsigned i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
		segs[i]->selector = segment;
		segs[i]->base = (uint64_t)segment << 4;
	}
}

static void set_flat_segments(struct kvm_sregs *s, bool long_mode, enum x86_boot_abi abi)
{
	struct kvm_segment data;
	entry_segments(long_mode, abi, &s->cs, &data);
	s->ds = s->es = s->fs = s->gs = s->ss = data;
	s->gdt.base = X86_GDT_ADDR;
	s->gdt.limit = GDT_ENTRIES * 8 - 1;
}

/* PVH: CR0 = PE (ET reads as 1 on every CPU since the 486), CR4 = 0,
 * and TR a busy 32-bit TSS with base 0 and limit 0x67. */
static void set_pvh_state(struct kvm_sregs *s)
{
	s->cr0 = X86_CR0_PE | X86_CR0_ET;
	s->cr4 = 0;
	s->tr = (struct kvm_segment){ .base = 0, .limit = 0x67, .type = 0xb, .present = 1 };
}

int x86_enter(const struct guest_memory *mem, int vcpu_fd,
	      const struct x86_entry *entry, struct kvmini_error *err)
{
	struct kvm_sregs sregs;
	if (KVM_IOCTL(vcpu_fd, KVM_GET_SREGS, &sregs, err) < 0)
		return -1;
	struct kvm_regs regs = entry->regs;
	regs.rflags |= 2;   /* bit 1 is reserved and always set */

	switch (entry->mode) {
	case KVMINI_MODE_REAL: {
		/* cs:ip with ip in the low 16 bits; every segment equals cs. */
		uint16_t segment = (uint16_t)((regs.rip & 0xf0000) >> 4);
		set_real_segments(&sregs, segment);
		regs.rip &= 0xffff;
		regs.rsp &= 0xffff;
		break;
	}
	case KVMINI_MODE_PROTECTED:
		if (write_gdt(mem, entry->abi, err) < 0)
			return -1;
		set_flat_segments(&sregs, false, entry->abi);
		sregs.cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE;
		sregs.cr4 = X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
		sregs.efer = 0;
		if (entry->abi == X86_ABI_PVH)
			set_pvh_state(&sregs);
		break;
	case KVMINI_MODE_LONG:
		if (write_gdt(mem, entry->abi, err) < 0 || write_page_tables(mem, err) < 0)
			return -1;
		set_flat_segments(&sregs, true, entry->abi);
		sregs.cr3 = X86_PML4_ADDR;
		sregs.cr4 = X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
		sregs.cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE | X86_CR0_WP | X86_CR0_PG;
		sregs.efer = EFER_LME | EFER_LMA;
		break;
	}
	if (KVM_IOCTL(vcpu_fd, KVM_SET_SREGS, &sregs, err) < 0 ||
	    KVM_IOCTL(vcpu_fd, KVM_SET_REGS, &regs, err) < 0)
		return -1;
	return 0;
}

/* Real-mode segments as the processor's reset leaves them: the
 * selector's base, a 64 KiB limit, present, read/write data or
 * execute/read code (accessed). */
static struct kvm_segment reset_segment(uint16_t selector, uint8_t type)
{
	return (struct kvm_segment){
		.base = (uint64_t)selector << 4, .limit = 0xffff, .selector = selector,
		.type = type, .present = 1, .s = 1,
	};
}

int x86_enter_reset(int vcpu_fd, uint16_t segment, uint16_t ip, struct kvmini_error *err)
{
	struct kvm_sregs s;
	if (KVM_IOCTL(vcpu_fd, KVM_GET_SREGS, &s, err) < 0)
		return -1;
	s.cs = reset_segment(segment, 0xb);
	s.ds = s.es = s.fs = s.gs = s.ss = reset_segment(segment, 0x3);
	s.ldt = (struct kvm_segment){ .limit = 0xffff, .type = 0x2, .present = 1 };
	s.tr = (struct kvm_segment){ .limit = 0xffff, .type = 0xb, .present = 1 };
	s.gdt = (struct kvm_dtable){ .base = 0, .limit = 0xffff };
	s.idt = s.gdt;
	s.cr0 = X86_CR0_ET;   /* caches on: firmware enabled them before the vector */
	s.cr2 = s.cr3 = s.cr4 = s.cr8 = 0;
	s.efer = 0;
	memset(s.interrupt_bitmap, 0, sizeof(s.interrupt_bitmap));
	struct kvm_regs regs = { .rip = ip, .rflags = 2 };
	if (KVM_IOCTL(vcpu_fd, KVM_SET_SREGS, &s, err) < 0 ||
	    KVM_IOCTL(vcpu_fd, KVM_SET_REGS, &regs, err) < 0)
		return -1;
	return 0;
}
