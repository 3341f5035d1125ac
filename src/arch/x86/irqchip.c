#include <errno.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>
#include "kvm.h"
#include "arch/x86/irqchip.h"

const char *x86_irqchip_name(enum kvmini_irqchip model)
{
	switch (model) {
	case KVMINI_IRQCHIP_NONE: return "none";
	case KVMINI_IRQCHIP_KERNEL: return "kernel";
	}
	return "unknown";
}

int x86_irqchip_create(int vm_fd, enum kvmini_irqchip model, struct kvmini_error *err)
{
	if (model == KVMINI_IRQCHIP_NONE)
		return 0;
	if (!kvm_cap_value(vm_fd, KVM_CAP_IRQCHIP) || !kvm_cap_value(vm_fd, KVM_CAP_PIT2))
		return kvmini_fail(err, KVMINI_E_HOST,
				   "KVM lacks KVM_CAP_IRQCHIP or KVM_CAP_PIT2 (needed by --irqchip kernel): use --irqchip none");
	/* The PIT's speaker port (0x61) is left to KVM's dummy model. */
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	if (KVM_IOCTL(vm_fd, KVM_CREATE_IRQCHIP, (void *)0, err) < 0 ||
	    KVM_IOCTL(vm_fd, KVM_CREATE_PIT2, &pit, err) < 0)
		return -1;
	return 0;
}

int x86_irqchip_set_line(int vm_fd, unsigned gsi, bool level)
{
	struct kvm_irq_level line = { .irq = gsi, .level = level };
	int r;
	do
		r = ioctl(vm_fd, KVM_IRQ_LINE, &line);
	while (r < 0 && errno == EINTR);
	return r;
}
