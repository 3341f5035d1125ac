/* The BPF program of a role's filter, written without loading it: what
 * seccomp_role_install() loads, and what the unit tests inspect. */
#ifndef KVMINI_SECCOMP_FILTER_H
#define KVMINI_SECCOMP_FILTER_H

#include <linux/filter.h>
#include <stdint.h>
#include "seccomp/policy.h"

/* The main role's program is the longest, a few hundred instructions;
 * the kernel takes up to BPF_MAXINSNS (4096). */
#define SECCOMP_PROGRAM_MAX 1024

struct seccomp_program {
	struct sock_filter insn[SECCOMP_PROGRAM_MAX];
	unsigned len;
};

/* Returns 0, or -E2BIG when the program would outgrow SECCOMP_PROGRAM_MAX
 * or a jump BPF's 8-bit offsets. default_action is SECCOMP_RET_TRAP
 * (kill mode, through src/seccomp/sigsys.c) or SECCOMP_RET_LOG. */
int seccomp_program_write(const struct seccomp_policy *p, uint32_t default_action,
			  struct seccomp_program *prog);

#endif
