/* CPUID for each vCPU: what the host's KVM supports, with the vCPU's own
 * APIC ID. Without KVM_SET_CPUID2 a vCPU reports no features at all and
 * KVM refuses long mode (EFER.LME needs the LM bit). */
#ifndef KVMINI_X86_CPUID_H
#define KVMINI_X86_CPUID_H

#include <linux/kvm.h>
#include "error.h"

struct x86_cpuid {
	struct kvm_cpuid2 *table;   /* KVM_GET_SUPPORTED_CPUID result */
};

int x86_cpuid_init(struct x86_cpuid *cpuid, int kvm_fd, struct kvmini_error *err);
void x86_cpuid_free(struct x86_cpuid *cpuid);
/* Give vCPU `apic_id` of `ncpus` its CPUID: the table patched with its
 * APIC ID and a topology of one package with ncpus single-thread cores. */
int x86_cpuid_apply(const struct x86_cpuid *cpuid, int vcpu_fd, unsigned apic_id,
		    unsigned ncpus, struct kvmini_error *err);

#endif
