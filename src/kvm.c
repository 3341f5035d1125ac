#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "kvm.h"

#define CAP(c, why) { KVM_CAP_##c, "KVM_CAP_" #c, why }

const struct kvm_cap_desc kvm_required_caps[] = {
	CAP(USER_MEMORY, "map guest RAM from host memory"),
	CAP(EXT_CPUID, "give vCPUs the host's supported CPUID"),
	CAP(IMMEDIATE_EXIT, "stop a running vCPU from another thread"),
	CAP(SET_TSS_ADDR, "real and protected mode on Intel hosts"),
};
const unsigned kvm_required_caps_count =
	sizeof(kvm_required_caps) / sizeof(kvm_required_caps[0]);

const struct kvm_cap_desc kvm_optional_caps[] = {
	CAP(NR_VCPUS, "recommended vCPUs per VM"),
	CAP(MAX_VCPUS, "maximum vCPUs per VM"),
	CAP(NR_MEMSLOTS, "memory slots per VM"),
	CAP(IRQCHIP, "in-kernel PIC, IOAPIC and local APIC"),
	CAP(SPLIT_IRQCHIP, "in-kernel local APIC only"),
	CAP(PIT2, "in-kernel 8254 timer"),
	CAP(IRQ_ROUTING, "interrupt routing table"),
	CAP(SIGNAL_MSI, "inject MSIs"),
	CAP(IRQFD, "interrupts from eventfds"),
	CAP(IOEVENTFD, "doorbells as eventfds"),
	CAP(SET_IDENTITY_MAP_ADDR, "place the EPT identity map"),
	CAP(TSC_DEADLINE_TIMER, "TSC-deadline local APIC timer"),
	CAP(SET_GUEST_DEBUG, "breakpoints and single-step (gdb)"),
	CAP(X86_ROBUST_SINGLESTEP, "reliable single-step"),
	CAP(MP_STATE, "application-processor start-up state"),
	CAP(ADJUST_CLOCK, "guest kvmclock control"),
	CAP(SYNC_REGS, "registers shared through kvm_run"),
};
const unsigned kvm_optional_caps_count =
	sizeof(kvm_optional_caps) / sizeof(kvm_optional_caps[0]);

int kvm_cap_value(int fd, long cap)
{
	int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);
	return r < 0 ? 0 : r;
}

int kvm_ioctl_named(int fd, unsigned long request, void *arg, const char *name,
		    struct kvmini_error *err)
{
	int r;
	do
		r = ioctl(fd, request, arg);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "%s failed", name);
	return r;
}

static int open_failure(const char *path, int e, struct kvmini_error *err)
{
	switch (e) {
	case ENOENT:
		return kvmini_fail(err, KVMINI_E_HOST,
				   "%s does not exist: enable virtualization and load the KVM module (modprobe kvm_intel or kvm_amd)",
				   path);
	case EACCES:
	case EPERM:
		return kvmini_fail(err, KVMINI_E_HOST,
				   "permission denied opening %s: add your user to the 'kvm' group (usermod -aG kvm USER) and log in again",
				   path);
	default:
		return kvmini_fail_errno(err, KVMINI_E_HOST, e, "cannot open %s", path);
	}
}

int kvm_open(struct kvm *kvm, struct kvmini_error *err)
{
	const char *path = getenv("KVMINI_DEV");
	if (!path || !*path)
		path = "/dev/kvm";
	kvm->fd = open(path, O_RDWR | O_CLOEXEC);
	if (kvm->fd < 0)
		return open_failure(path, errno, err);
	int version = ioctl(kvm->fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		kvm_close(kvm);
		if (version < 0)
			return kvmini_fail(err, KVMINI_E_HOST,
					   "%s is not a KVM device (KVM_GET_API_VERSION failed)", path);
		return kvmini_fail(err, KVMINI_E_HOST,
				   "%s speaks KVM API version %d, kvmini needs %d: use a kernel with a standard KVM",
				   path, version, KVM_API_VERSION);
	}
	for (unsigned i = 0; i < kvm_required_caps_count; i++) {
		const struct kvm_cap_desc *c = &kvm_required_caps[i];
		if (!kvm_cap_value(kvm->fd, c->cap)) {
			kvm_close(kvm);
			return kvmini_fail(err, KVMINI_E_HOST,
					   "KVM lacks %s (needed to %s): use a newer host kernel",
					   c->name, c->purpose);
		}
	}
	kvm->vcpu_mmap_size = ioctl(kvm->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (kvm->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
		kvm_close(kvm);
		return kvmini_fail(err, KVMINI_E_HOST, "KVM_GET_VCPU_MMAP_SIZE returned an unusable size");
	}
	return 0;
}

void kvm_close(struct kvm *kvm)
{
	if (kvm->fd >= 0)
		close(kvm->fd);
	kvm->fd = -1;
}
