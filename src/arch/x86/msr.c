/* Boot MSRs: what firmware leaves behind. A freshly created KVM vCPU has
 * most of these at 0 already; writing them makes the state explicit and
 * the same on every host, and sets the two that are not 0 on a PC:
 * fast strings in IA32_MISC_ENABLE and MTRRs enabled with write-back. */
#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include "kvm.h"
#include "arch/x86/msr.h"

static const struct { uint32_t index; uint64_t value; } boot_msrs[X86_BOOT_MSRS_MAX] = {
	{ MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 }, { MSR_IA32_SYSENTER_EIP, 0 },
	{ MSR_STAR, 0 }, { MSR_LSTAR, 0 }, { MSR_CSTAR, 0 }, { MSR_SYSCALL_MASK, 0 },
	{ MSR_KERNEL_GS_BASE, 0 },
	/* 0 written by the VMM also tells KVM to keep the vCPUs' TSCs in sync */
	{ MSR_IA32_TSC, 0 },
	{ MSR_IA32_MISC_ENABLE, 0 },   /* value from KVM's, see x86_boot_msrs() */
	{ MSR_MTRR_DEF_TYPE, MTRR_DEF_TYPE_BOOT },
};

static bool listed(const uint32_t *supported, unsigned n, uint32_t index)
{
	for (unsigned i = 0; i < n; i++)
		if (supported[i] == index)
			return true;
	return false;
}

unsigned x86_boot_msrs(const uint32_t *supported, unsigned nsupported, bool has_mtrr,
		       uint64_t misc_enable, struct kvm_msr_entry out[X86_BOOT_MSRS_MAX])
{
	unsigned n = 0;
	for (unsigned i = 0; i < X86_BOOT_MSRS_MAX; i++) {
		uint32_t index = boot_msrs[i].index;
		bool accepted = index == MSR_MTRR_DEF_TYPE ? has_mtrr
							   : listed(supported, nsupported, index);
		if (!accepted)
			continue;
		uint64_t value = index == MSR_IA32_MISC_ENABLE
			? misc_enable | MISC_ENABLE_FAST_STRINGS : boot_msrs[i].value;
		out[n++] = (struct kvm_msr_entry){ .index = index, .data = value };
	}
	return n;
}

/* KVM_GET_MSR_INDEX_LIST: the MSRs KVM saves and restores for a vCPU. */
struct kvm_msr_list *x86_msr_index_list(int kvm_fd, struct kvmini_error *err)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG) {
		kvmini_fail_errno(err, KVMINI_E_HOST, errno, "KVM_GET_MSR_INDEX_LIST failed");
		return NULL;
	}
	struct kvm_msr_list *list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
	if (!list) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for the MSR list");
		return NULL;
	}
	list->nmsrs = probe.nmsrs;
	if (KVM_IOCTL(kvm_fd, KVM_GET_MSR_INDEX_LIST, list, err) < 0) {
		free(list);
		return NULL;
	}
	return list;
}

struct msr_batch {
	struct kvm_msrs head;
	struct kvm_msr_entry entries[X86_BOOT_MSRS_MAX];
};

static int current_misc_enable(int vcpu_fd, uint64_t *value, struct kvmini_error *err)
{
	struct msr_batch get = { .head.nmsrs = 1, .entries[0].index = MSR_IA32_MISC_ENABLE };
	int r = KVM_IOCTL(vcpu_fd, KVM_GET_MSRS, &get, err);
	if (r < 0)
		return -1;
	if (r != 1)
		return kvmini_fail(err, KVMINI_E_HOST, "KVM cannot read IA32_MISC_ENABLE");
	*value = get.entries[0].data;
	return 0;
}

int x86_boot_msrs_set(int kvm_fd, int vcpu_fd, bool has_mtrr, struct kvmini_error *err)
{
	struct kvm_msr_list *list = x86_msr_index_list(kvm_fd, err);
	if (!list)
		return -1;
	uint64_t misc = 0;
	bool has_misc = listed(list->indices, list->nmsrs, MSR_IA32_MISC_ENABLE);
	struct msr_batch set = { 0 };
	int r = has_misc ? current_misc_enable(vcpu_fd, &misc, err) : 0;
	if (r == 0) {
		set.head.nmsrs = x86_boot_msrs(list->indices, list->nmsrs, has_mtrr, misc,
					       set.entries);
		r = KVM_IOCTL(vcpu_fd, KVM_SET_MSRS, &set, err);
	}
	free(list);
	if (r < 0)
		return -1;
	/* KVM_SET_MSRS stops at the first MSR it refuses. */
	if ((unsigned)r != set.head.nmsrs)
		return kvmini_fail(err, KVMINI_E_HOST, "KVM refused boot MSR 0x%x",
				   set.entries[r].index);
	return 0;
}
