/* x86 entry states. The VMM can start a vCPU in real mode (cs:ip), flat
 * 32-bit protected mode, or 64-bit long mode with identity-mapped page
 * tables over all of RAM. docs/entry-state.md documents each state. */
#ifndef KVMINI_X86_CPU_MODE_H
#define KVMINI_X86_CPU_MODE_H

#include <linux/kvm.h>
#include "memory.h"

/* Where the VMM puts its own structures in guest-physical memory. */
#define X86_GDT_ADDR   0x1000ULL
#define X86_PML4_ADDR  0x2000ULL
#define X86_PDPT_ADDR  0x3000ULL
#define X86_PD_ADDR    0x4000ULL   /* one page per GiB mapped */

/* GDT selectors of the flat segments. */
#define X86_SEL_CODE32 0x08
#define X86_SEL_DATA   0x10
#define X86_SEL_CODE64 0x18

/* Whose conventions the entry state follows beyond the mode itself.
 * KVMINI: kvmini's GDT and control registers (docs/entry-state.md).
 * LINUX64: the Linux 64-bit boot protocol (Documentation/arch/x86/boot.rst)
 *   wants CS = __BOOT_CS (0x10, here a 64-bit code segment) and DS = ES =
 *   SS = __BOOT_DS (0x18), so the GDT at X86_GDT_ADDR holds those two at
 *   those selectors instead of kvmini's layout; the rest is kvmini's
 *   long mode.
 * PVH: the Xen PVH entry (32-bit protected mode) wants CR0 = PE only,
 *   CR4 = 0 and TR a 32-bit TSS of base 0, limit 0x67; segments flat. */
enum x86_boot_abi { X86_ABI_KVMINI, X86_ABI_LINUX64, X86_ABI_PVH };

/* Selectors of the LINUX64 GDT. */
#define X86_SEL_BOOT_CS 0x10
#define X86_SEL_BOOT_DS 0x18

struct x86_entry {
	enum kvmini_mode mode;
	struct kvm_regs regs;   /* rip, rsp, and any argument registers */
	enum x86_boot_abi abi;  /* zero (KVMINI) unless a boot protocol asks */
};

/* The guest-physical range [*start, *end) that entering `mode` writes
 * (GDT, page tables); empty (start == end) for real mode. Loaders refuse
 * to place an image there. */
void x86_reserved_range(enum kvmini_mode mode, gpa_t ram_end,
			gpa_t *start, gpa_t *end);

/* Build the mode's tables in guest memory and load the vCPU's special
 * and general registers. */
int x86_enter(const struct guest_memory *mem, int vcpu_fd,
	      const struct x86_entry *entry, struct kvmini_error *err);

/* The state firmware leaves a vCPU in when it resumes from ACPI S3
 * (docs/entry-state.md): the processor's power-on registers (real mode,
 * CR0 = ET, CR3 = CR4 = EFER = 0, GDTR and IDTR base 0 limit 0xffff,
 * general registers 0, RFLAGS 2), with CS = DS = ES = FS = GS = SS =
 * `segment` and IP = `ip`. MSRs, the FPU and the local APIC keep their
 * values. */
int x86_enter_reset(int vcpu_fd, uint16_t segment, uint16_t ip, struct kvmini_error *err);

const char *x86_mode_name(enum kvmini_mode mode);

#endif
