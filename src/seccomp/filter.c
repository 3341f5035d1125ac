/* A role's lists (policy.c) turned into a libseccomp filter, loaded on
 * the calling thread only. */
#include <errno.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "seccomp/policy.h"
#include "seccomp/sigsys.h"

#define NR_LIMIT 512   /* above every x86-64 system call number */

/* The sanitizer runtimes' own calls (LSan's leak check at exit) join the
 * roles of threads that start others (the main thread's) in their
 * build; every other role is the same as in the release build, so the
 * tests run the filters users get. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD true
#else
#define SANITIZER_BUILD false
#endif

static void mark_group(bool listed[NR_LIMIT], const int *group)
{
	for (const int *s = group; *s >= 0; s++)
		if (*s < NR_LIMIT)
			listed[*s] = true;
}

static void mark_policy(bool listed[NR_LIMIT], const struct seccomp_policy *p)
{
	for (unsigned g = 0; g < SECCOMP_POLICY_GROUPS && p->sys[g]; g++)
		mark_group(listed, p->sys[g]);
	if (SANITIZER_BUILD && p->spawns_threads)
		mark_group(listed, seccomp_policy_sanitizer());
}

/* An argument comparison with every field set (libseccomp's SCMP_A*
 * macros leave datum_b out, which clang's -Wextra refuses). */
static struct scmp_arg_cmp arg_cmp(unsigned arg, enum scmp_compare op, scmp_datum_t a,
				   scmp_datum_t b)
{
	return (struct scmp_arg_cmp){ .arg = arg, .op = op, .datum_a = a, .datum_b = b };
}

/* libseccomp reports a rule it already holds as EEXIST: not an error. */
static int rule(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned n,
		const struct scmp_arg_cmp *cmp)
{
	int r = seccomp_rule_add_array(ctx, action, nr, n, cmp);
	return r == -EEXIST ? 0 : r;
}

/* Only the 32 bits the kernel reads of an ioctl request are compared:
 * a caller's int sign-extended to 64 bits is the same request. */
static int add_ioctls(scmp_filter_ctx ctx, const struct seccomp_policy *p)
{
	for (unsigned g = 0; g < SECCOMP_POLICY_GROUPS && p->ioctl[g]; g++)
		for (const unsigned long *req = p->ioctl[g]; *req; req++) {
			struct scmp_arg_cmp c = arg_cmp(1, SCMP_CMP_MASKED_EQ, 0xffffffffu, *req);
			int r = rule(ctx, SCMP_ACT_ALLOW, SYS_ioctl, 1, &c);
			if (r < 0)
				return r;
		}
	return 0;
}

static int add_prctls(scmp_filter_ctx ctx)
{
	static const int options[] = { PR_SET_NAME, PR_GET_NAME, PR_SET_NO_NEW_PRIVS,
				       PR_GET_NO_NEW_PRIVS, PR_GET_SECCOMP, PR_SET_SECCOMP };
	for (unsigned i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
		struct scmp_arg_cmp c = arg_cmp(0, SCMP_CMP_EQ, (scmp_datum_t)options[i], 0);
		int r = rule(ctx, SCMP_ACT_ALLOW, SYS_prctl, 1, &c);
		if (r < 0)
			return r;
	}
	return 0;
}

/* One listed system call, with its argument rule if it has one. */
static int add_call(scmp_filter_ctx ctx, const struct seccomp_policy *p, int nr)
{
	struct scmp_arg_cmp c;
	switch (nr) {
	case SYS_mmap:
	case SYS_mprotect:
		c = arg_cmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
		return rule(ctx, SCMP_ACT_ALLOW, nr, 1, &c);
	case SYS_ioctl:
		return add_ioctls(ctx, p);
	case SYS_clone:
		if (SANITIZER_BUILD)   /* LSan's stop-the-world helper is no thread */
			break;   /* (only spawning roles list clone) */
		c = arg_cmp(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
		return rule(ctx, SCMP_ACT_ALLOW, nr, 1, &c);
	case SYS_clone3:   /* its flags sit behind a pointer: make glibc use clone */
		return rule(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0, NULL);
	case SYS_tgkill:
		c = arg_cmp(0, SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0);
		return rule(ctx, SCMP_ACT_ALLOW, nr, 1, &c);
	case SYS_rt_sigaction:   /* LSan's helper sets handlers for faults */
		if (!p->sets_signals && !(SANITIZER_BUILD && p->spawns_threads))
			return 0;
		c = arg_cmp(0, SCMP_CMP_NE, SIGSYS, 0);
		return rule(ctx, SCMP_ACT_ALLOW, nr, 1, &c);
	case SYS_prctl:
		if (!SANITIZER_BUILD || !p->spawns_threads)
			return add_prctls(ctx);
		break;
	}
	return rule(ctx, SCMP_ACT_ALLOW, nr, 0, NULL);
}

/* glibc's malloc opens /proc/sys/vm/overcommit_memory the first time
 * any thread trims an arena of its own: a role that opens nothing is
 * refused (EACCES, and glibc does without) instead of killed for it.
 * The file still never opens. */
static int refuse_opens(scmp_filter_ctx ctx, const bool listed[NR_LIMIT])
{
	static const int opens[] = { SYS_open, SYS_openat };
	for (unsigned i = 0; i < sizeof(opens) / sizeof(opens[0]); i++) {
		int r = listed[opens[i]] ? 0 : rule(ctx, SCMP_ACT_ERRNO(EACCES), opens[i], 0, NULL);
		if (r < 0)
			return r;
	}
	return 0;
}

static int build(scmp_filter_ctx ctx, const struct seccomp_policy *p)
{
	bool listed[NR_LIMIT] = { false };
	mark_policy(listed, p);
	if (p->spawns_threads)
		listed[SYS_clone3] = true;
	/* A call from another ABI (int 0x80, x32) is never legitimate here. */
	int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	for (int nr = 0; r == 0 && nr < NR_LIMIT; nr++)
		if (listed[nr])
			r = add_call(ctx, p, nr);
	return r == 0 ? refuse_opens(ctx, listed) : r;
}

static int load(const struct seccomp_policy *p, uint32_t default_action,
		struct kvmini_error *err)
{
	scmp_filter_ctx ctx = seccomp_init(default_action);
	if (!ctx)
		return kvmini_fail(err, KVMINI_E_HOST, "seccomp: cannot start the %s filter",
				   p->name);
	int r = build(ctx, p);
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, -r,
					 "seccomp: cannot install the %s thread's filter", p->name);
	return 0;
}

int seccomp_role_install(enum seccomp_role role, enum kvmini_seccomp mode,
			 struct kvmini_error *err)
{
	const struct seccomp_policy *p = seccomp_policy_of(role);
	if (mode == KVMINI_SECCOMP_OFF)
		return 0;
	if (!p)
		return kvmini_fail(err, KVMINI_E_HOST, "seccomp: no thread role %d", (int)role);
	/* A filter may only be installed without privileges once the
	 * thread can never gain any: and that must hold before, not after. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "seccomp: cannot set no_new_privs");
	if (mode == KVMINI_SECCOMP_LOG)
		return load(p, SCMP_ACT_LOG, err);
	if (sigsys_prepare(p->name, err) < 0)
		return -1;
	return load(p, SCMP_ACT_TRAP, err);
}
