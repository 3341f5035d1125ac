/* Instruction completion: finish in user space an instruction the
 * host's KVM could not emulate (KVM_EXIT_INTERNAL_ERROR, suberror
 * EMULATION), so the guest goes on. On a PVM host KVM emulates all guest
 * kernel code and lacks, among others, int3, fwait, cmpxchg16b and the
 * xsave family; on VT-x the same can happen in real mode and on MMIO.
 *
 * x86_complete() is a pure function of a copy of the vCPU's state (the
 * KVM_GET_* structures) and guest memory: it fetches the instruction at
 * CS:RIP through the guest's own page tables, decodes it (Zydis), checks
 * what the CPU checks (CPUID, CPL, CR0/CR4 bits, alignment, paging
 * permissions), and either performs it (memory through guest_ptr() or
 * the MMIO bus, RIP advanced) or records the exception it raises, exactly
 * as hardware would: the caller (the run loop's glue, src/completion.c)
 * writes the state back and injects the exception. Nothing here calls
 * KVM, so tests run it against a plain struct. */
#ifndef KVMINI_X86_COMPLETE_H
#define KVMINI_X86_COMPLETE_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>
#include "bus.h"
#include "memory.h"
#include "arch/x86/cpuid.h"

/* What was completed, for --verbose's counts. */
enum x86_kind {
	X86_KIND_INT3, X86_KIND_INT, X86_KIND_FWAIT, X86_KIND_POPCNT, X86_KIND_CMPXCHG,
	X86_KIND_XGETBV, X86_KIND_XSAVE, X86_KIND_XRSTOR, X86_KIND_INVPCID,
	X86_KIND_CACHE_LINE, X86_KIND_SMAP, X86_KIND_MOVBE, X86_KIND_RDTSCP,
	X86_KIND_COUNT
};
const char *x86_kind_name(enum x86_kind kind);

/* An exception (or a software interrupt, `soft`) the instruction raised. */
struct x86_exception {
	bool raised;
	bool soft;          /* int n: deliver as an interrupt, not an exception */
	uint8_t vector;
	bool has_error;
	uint32_t error;
};

/* A vCPU's state as KVM reports it; changed in place. */
struct x86_cpu {
	struct kvm_regs regs;
	struct kvm_sregs sregs;   /* a #PF sets cr2 */
	uint64_t xcr0;
	uint64_t xss;             /* IA32_XSS, for xsaves/xrstors */
	struct kvm_xsave xsave;   /* KVM_GET_XSAVE's standard-format area */
	/* Out: what to write back and inject. */
	struct x86_exception exception;
	bool sregs_changed, xsave_changed;
	bool flush_tlb;           /* invpcid: the guest's TLB must be flushed */
};

/* What the instruction may touch, and what the guest's CPUID offers. */
struct x86_guest {
	const struct guest_memory *mem;
	struct bus *mmio;                 /* NULL: no MMIO */
	const struct x86_cpuid *cpuid;
	/* The few MSRs an instruction reads (rdtscp: the TSC and TSC_AUX),
	 * asked for only then; 0, or -1 when unavailable. NULL: none. */
	int (*msr_read)(void *opaque, uint32_t index, uint64_t *value);
	void *msr_opaque;
};

enum x86_outcome {
	X86_COMPLETED,   /* performed, or an exception recorded in cpu->exception */
	X86_UNKNOWN,     /* not an instruction kvmini completes: out->text names it */
	X86_FAILED,      /* cannot be completed (out->text says why) */
};

struct x86_completion {
	enum x86_kind kind;
	uint8_t bytes[15];
	unsigned length;         /* bytes fetched (the instruction's length once decoded) */
	char text[160];          /* X86_UNKNOWN, X86_FAILED: the decoded
				  * instruction, and why it failed */
};

enum x86_outcome x86_complete(struct x86_cpu *cpu, const struct x86_guest *guest,
			      struct x86_completion *out);

#endif
