#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include "kvm.h"
#include "arch/x86/cpuid.h"

static struct kvm_cpuid2 *cpuid_alloc(unsigned nent)
{
	struct kvm_cpuid2 *t = calloc(1, sizeof(*t) + nent * sizeof(t->entries[0]));
	if (t)
		t->nent = nent;
	return t;
}

int x86_cpuid_init(struct x86_cpuid *cpuid, int kvm_fd, struct kvmini_error *err)
{
	/* KVM says E2BIG until the table is large enough. */
	for (unsigned nent = 64; nent <= 4096; nent *= 2) {
		cpuid->table = cpuid_alloc(nent);
		if (!cpuid->table)
			return kvmini_fail(err, KVMINI_E_HOST, "out of memory for CPUID");
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid->table) == 0)
			return 0;
		int e = errno;
		x86_cpuid_free(cpuid);
		if (e != E2BIG)
			return kvmini_fail_errno(err, KVMINI_E_HOST, e, "KVM_GET_SUPPORTED_CPUID failed");
	}
	return kvmini_fail(err, KVMINI_E_HOST, "KVM_GET_SUPPORTED_CPUID: table too large");
}

void x86_cpuid_free(struct x86_cpuid *cpuid)
{
	free(cpuid->table);
	cpuid->table = NULL;
}

static void set_apic_id(struct kvm_cpuid_entry2 *e, unsigned apic_id)
{
	if (e->function == 1)
		e->ebx = (e->ebx & 0x00ffffffu) | (apic_id << 24);
	else if (e->function == 0xb || e->function == 0x1f)
		e->edx = apic_id;
}

int x86_cpuid_apply(const struct x86_cpuid *cpuid, int vcpu_fd, unsigned apic_id,
		    struct kvmini_error *err)
{
	size_t bytes = sizeof(*cpuid->table) + cpuid->table->nent * sizeof(cpuid->table->entries[0]);
	struct kvm_cpuid2 *t = malloc(bytes);
	if (!t)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for CPUID");
	memcpy(t, cpuid->table, bytes);
	for (unsigned i = 0; i < t->nent; i++)
		set_apic_id(&t->entries[i], apic_id);
	int r = KVM_IOCTL(vcpu_fd, KVM_SET_CPUID2, t, err);
	free(t);
	return r < 0 ? -1 : 0;
}
