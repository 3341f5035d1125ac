/* The message a forbidden system call leaves before kvmini dies
 * (private to src/seccomp/). */
#ifndef KVMINI_SECCOMP_SIGSYS_H
#define KVMINI_SECCOMP_SIGSYS_H

#include "error.h"

/* Install the SIGSYS handler (once per process), unblock SIGSYS on the
 * calling thread and remember its name and role for the message. */
int sigsys_prepare(const char *role, struct kvmini_error *err);

#endif
