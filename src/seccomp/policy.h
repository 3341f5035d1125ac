/* The roles' lists, private to src/seccomp/ (policy.c writes them,
 * filter.c turns them into a filter). */
#ifndef KVMINI_SECCOMP_POLICY_H
#define KVMINI_SECCOMP_POLICY_H

#include <stdbool.h>
#include "seccomp/seccomp.h"

#define SECCOMP_POLICY_GROUPS 8

struct seccomp_policy {
	const char *name;
	/* Groups of system call numbers, each ending with -1; NULL ends. */
	const int *sys[SECCOMP_POLICY_GROUPS];
	/* Groups of ioctl request numbers, each ending with 0; NULL ends. */
	const unsigned long *ioctl[SECCOMP_POLICY_GROUPS];
	bool spawns_threads;   /* clone for threads; clone3 answered ENOSYS */
	bool sets_signals;     /* rt_sigaction, except for SIGSYS */
};

const struct seccomp_policy *seccomp_policy_of(enum seccomp_role role);
/* What the sanitizer runtimes call (added to every role in their build). */
const int *seccomp_policy_sanitizer(void);

#endif
