/* Layer 1: the /dev/kvm handle. API version, capability checks by name,
 * and an ioctl wrapper that turns errno into a message naming the ioctl.
 * Knows nothing of memory, devices or guests. */
#ifndef KVMINI_KVM_H
#define KVMINI_KVM_H

#include "error.h"

struct kvm {
	int fd;
	int vcpu_mmap_size;
};

struct kvm_cap_desc {
	long cap;
	const char *name;
	const char *purpose;   /* what kvmini needs it for */
};

/* Capabilities every kvmini VM needs. */
extern const struct kvm_cap_desc kvm_required_caps[];
extern const unsigned kvm_required_caps_count;
/* Further capabilities `kvmini info` reports, used by some features. */
extern const struct kvm_cap_desc kvm_optional_caps[];
extern const unsigned kvm_optional_caps_count;

/* Open /dev/kvm (or $KVMINI_DEV when set, for tests), check the API
 * version and every required capability. */
int kvm_open(struct kvm *kvm, struct kvmini_error *err);
void kvm_close(struct kvm *kvm);
/* KVM_CHECK_EXTENSION on a system or VM fd; 0 when absent. */
int kvm_cap_value(int fd, long cap);

/* ioctl() that retries on EINTR and reports failures as
 * "NAME failed: strerror". Use through KVM_IOCTL to name the request. */
int kvm_ioctl_named(int fd, unsigned long request, void *arg, const char *name,
		    struct kvmini_error *err);
#define KVM_IOCTL(fd, req, arg, err) kvm_ioctl_named((fd), (req), (arg), #req, (err))

#endif
