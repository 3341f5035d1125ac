/* Layer 5: instruction completion's glue to a vCPU. On an emulation
 * failure (KVM_EXIT_INTERNAL_ERROR, KVM_INTERNAL_ERROR_EMULATION) the run
 * loop calls completion_run(): it reads the vCPU's state with
 * KVM_GET_REGS/SREGS/XCRS/XSAVE (and IA32_XSS), lets the pure executor
 * (arch/x86/emulate/complete.h) finish the instruction, writes back what
 * changed and injects the exception it raised (KVM_SET_VCPU_EVENTS), and
 * counts the completion by kind for --verbose. */
#ifndef KVMINI_COMPLETION_H
#define KVMINI_COMPLETION_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/kvm.h>
#include "arch/x86/emulate/complete.h"

struct vcpu;
struct vm;

/* True when the instruction was completed (or its exception injected)
 * and the vCPU may run on; false with a one-line reason naming the
 * decoded instruction when the guest must end. */
bool completion_run(struct vcpu *vcpu, char *why, size_t why_size);

/* Put the executor's exception into the events KVM_GET_VCPU_EVENTS
 * returned, for KVM_SET_VCPU_EVENTS: an exception, or for int n with
 * n >= 32 or n = 2 (vectors KVM refuses as exceptions) an interrupt. */
void completion_event(const struct x86_exception *e, struct kvm_vcpu_events *ev);

/* Under --verbose: one line with the completions of each kind so far,
 * when there were any. */
void completion_report(struct vm *vm);

#endif
