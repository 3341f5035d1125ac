/* Unit tests that create a VM need /dev/kvm. On a host without it they
 * skip, with the reason, and count as skipped: never as passed. */
#ifndef KVMINI_TEST_KVM_SKIP_H
#define KVMINI_TEST_KVM_SKIP_H

#include <stdlib.h>
#include <unistd.h>
#include <criterion/criterion.h>

static inline const char *test_kvm_device(void)
{
	const char *dev = getenv("KVMINI_DEV");
	return dev && *dev ? dev : "/dev/kvm";
}

/* Call first in a test (not in a fixture's init) that runs a guest. */
#define skip_without_kvm()                                                          \
	do {                                                                        \
		if (access(test_kvm_device(), R_OK | W_OK) != 0)                    \
			cr_skip_test("no usable %s on this host: this test runs a " \
				     "guest", test_kvm_device());                  \
	} while (0)

#endif
