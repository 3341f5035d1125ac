/* `kvmini info`: what this host's KVM offers. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include "kvm.h"

/* vmx/svm in /proc/cpuinfo means hardware virtualization; without them
 * KVM is a paravirtual flavour (such as PVM) that emulates guest kernel
 * code, which matters for what to expect from speed. */
static const char *virtualization_flag(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return "unknown";
	char line[4096];
	const char *found = "none (KVM runs guest kernel code by emulation, e.g. PVM)";
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		if (strstr(line, " vmx"))
			found = "vmx (Intel VT-x)";
		else if (strstr(line, " svm"))
			found = "svm (AMD-V)";
		break;
	}
	fclose(f);
	return found;
}

/* Whether KVM here runs guest kernel code through its emulator, which
 * stops at instructions it lacks: then kvmini completes them
 * (src/completion.c). PVM announces itself as a module; a host with
 * neither PVM nor vmx/svm cannot run KVM natively either. */
static const char *completion_need(void)
{
	if (access("/sys/module/kvm_pvm", F_OK) == 0)
		return "needed (PVM: KVM emulates guest kernel code; kvmini completes what it cannot)";
	if (strncmp(virtualization_flag(), "none", 4) == 0)
		return "likely needed (no vmx/svm: KVM emulates guest kernel code)";
	return "rarely needed (hardware virtualization; real mode and MMIO only)";
}

static void print_cap(int fd, int kvm_fd, const struct kvm_cap_desc *c, const char *note)
{
	dprintf(fd, "%-32s %-8d %s%s\n", c->name, kvm_cap_value(kvm_fd, c->cap), c->purpose, note);
}

int kvmini_info(int fd, struct kvmini_error *err)
{
	struct kvm kvm;
	if (kvm_open(&kvm, err) < 0)
		return -1;
	dprintf(fd, "kvmini %s\n", KVMINI_VERSION);
	dprintf(fd, "KVM API version: %d\n", ioctl(kvm.fd, KVM_GET_API_VERSION, 0));
	dprintf(fd, "vCPU run area: %d bytes\n", kvm.vcpu_mmap_size);
	dprintf(fd, "hardware virtualization flag: %s\n", virtualization_flag());
	dprintf(fd, "instruction completion: %s\n", completion_need());
	dprintf(fd, "\n%-32s %-8s %s\n", "capability", "value", "used for");
	for (unsigned i = 0; i < kvm_required_caps_count; i++)
		print_cap(fd, kvm.fd, &kvm_required_caps[i], " (required)");
	for (unsigned i = 0; i < kvm_optional_caps_count; i++)
		print_cap(fd, kvm.fd, &kvm_optional_caps[i], "");
	kvm_close(&kvm);
	return 0;
}
