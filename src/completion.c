#include <stdio.h>
#include <string.h>
#include <asm/processor-flags.h>
#include "arch/x86/emulate/complete.h"
#include "arch/x86/msr.h"
#include "completion.h"
#include "vcpu.h"

static int state_get(struct vcpu *vcpu, struct x86_cpu *cpu, struct kvmini_error *err)
{
	struct kvm_xcrs xcrs = { 0 };
	memset(cpu, 0, sizeof(*cpu));
	if (vcpu_get_regs(vcpu, &cpu->regs, err) < 0 || vcpu_get_sregs(vcpu, &cpu->sregs, err) < 0 ||
	    vcpu_get_xsave(vcpu, &cpu->xsave, err) < 0)
		return -1;
	/* A host without XSAVE has no XCRs: XCR0 stays 0 and xsave #UDs. */
	if (vcpu_get_xcrs(vcpu, &xcrs, NULL) == 0) {
		for (unsigned i = 0; i < xcrs.nr_xcrs && i < KVM_MAX_XCRS; i++)
			if (xcrs.xcrs[i].xcr == 0)
				cpu->xcr0 = xcrs.xcrs[i].value;
	}
	if (vcpu_get_msr(vcpu, MSR_IA32_XSS, &cpu->xss, NULL) < 0)
		cpu->xss = 0;
	return 0;
}

/* INVPCID's flush: KVM drops the vCPU's cached translations when CR4.PGE
 * changes, as a CPU does, so set it flipped and then back. */
static int flush_tlb(struct vcpu *vcpu, const struct kvm_sregs *sregs, struct kvmini_error *err)
{
	struct kvm_sregs flipped = *sregs;
	flipped.cr4 ^= X86_CR4_PGE;
	return vcpu_set_sregs(vcpu, &flipped, err);
}

/* Exceptions go in as exceptions; int n for n >= 32 (and int 2: KVM
 * refuses both as exceptions) as an interrupt, which the IDT delivers
 * the same way once the privilege check (done by the executor) has
 * passed. RIP is already past a trap's instruction. */
void completion_event(const struct x86_exception *e, struct kvm_vcpu_events *ev)
{
	if (e->soft && (e->vector >= 32 || e->vector == 2)) {
		ev->interrupt.injected = 1;
		ev->interrupt.nr = e->vector;
		ev->interrupt.soft = 0;
	} else {
		ev->exception.injected = 1;
		ev->exception.nr = e->vector;
		ev->exception.has_error_code = e->has_error;
		ev->exception.error_code = e->error;
	}
}

static int inject(struct vcpu *vcpu, const struct x86_exception *e, struct kvmini_error *err)
{
	struct kvm_vcpu_events ev;
	if (vcpu_get_events(vcpu, &ev, err) < 0)
		return -1;
	completion_event(e, &ev);
	return vcpu_set_events(vcpu, &ev, err);
}

static int state_put(struct vcpu *vcpu, const struct x86_cpu *cpu, struct kvmini_error *err)
{
	if (vcpu_set_regs(vcpu, &cpu->regs, err) < 0)
		return -1;
	if (cpu->flush_tlb && flush_tlb(vcpu, &cpu->sregs, err) < 0)
		return -1;
	if ((cpu->sregs_changed || cpu->flush_tlb) && vcpu_set_sregs(vcpu, &cpu->sregs, err) < 0)
		return -1;
	if (cpu->xsave_changed && vcpu_set_xsave(vcpu, &cpu->xsave, err) < 0)
		return -1;
	if (cpu->exception.raised && inject(vcpu, &cpu->exception, err) < 0)
		return -1;
	return 0;
}

static void describe_failure(const struct x86_completion *c, enum x86_outcome outcome,
			     uint64_t rip, char *why, size_t why_size)
{
	int n = snprintf(why, why_size, "%s at rip 0x%llx: %s (bytes",
			 outcome == X86_UNKNOWN ? "instruction kvmini does not complete"
						: "instruction completion failed",
			 (unsigned long long)rip, c->text);
	for (unsigned i = 0; i < c->length && n > 0 && (size_t)n < why_size; i++)
		n += snprintf(why + n, why_size - (size_t)n, " %02x", c->bytes[i]);
	if (n > 0 && (size_t)n < why_size)
		snprintf(why + n, why_size - (size_t)n, ")");
}

static int msr_read(void *opaque, uint32_t index, uint64_t *value)
{
	return vcpu_get_msr(opaque, index, value, NULL);
}

bool completion_run(struct vcpu *vcpu, char *why, size_t why_size)
{
	static __thread struct x86_cpu cpu;   /* 4 KiB of xsave area: off the stack */
	struct vm *vm = vcpu->vm;
	struct x86_guest guest = { .mem = &vm->mem, .mmio = &vm->mmio, .cpuid = &vm->cpuid,
				   .msr_read = msr_read, .msr_opaque = vcpu };
	struct x86_completion done;
	struct kvmini_error err;
	if (state_get(vcpu, &cpu, &err) < 0) {
		snprintf(why, why_size, "cannot read the vCPU's state to complete an instruction: %s",
			 err.msg);
		return false;
	}
	uint64_t rip = cpu.regs.rip;
	enum x86_outcome outcome = x86_complete(&cpu, &guest, &done);
	if (outcome != X86_COMPLETED) {
		describe_failure(&done, outcome, rip, why, why_size);
		return false;
	}
	if (state_put(vcpu, &cpu, &err) < 0) {
		snprintf(why, why_size, "cannot write back a completed %s: %s",
			 x86_kind_name(done.kind), err.msg);
		return false;
	}
	__atomic_fetch_add(&vm->completions[done.kind], 1, __ATOMIC_RELAXED);
	return true;
}

void completion_report(struct vm *vm)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "kvmini: instructions completed in user space:");
	bool any = false;
	for (unsigned k = 0; k < X86_KIND_COUNT && n > 0 && (size_t)n < sizeof(line); k++) {
		uint64_t count = __atomic_load_n(&vm->completions[k], __ATOMIC_RELAXED);
		if (!count)
			continue;
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%s %s %llu", any ? "," : "",
			      x86_kind_name(k), (unsigned long long)count);
		any = true;
	}
	if (any)
		vm_log(vm, "%s\n", line);
}
