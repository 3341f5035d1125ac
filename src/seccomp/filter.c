/* A role's lists (policy.c) turned into a classic BPF program, written
 * here and loaded on the calling thread only.
 *
 * Why not libseccomp's compiler: building the four filters of a plain
 * `kvmini run` with it took 5.5 M instructions, seven times the rest of
 * the run's user space (dynamic loading included: 0.8 M), and was the
 * largest part of start-up where instructions are dear (the nested KVM
 * VM, docs/performance.md); writing them here takes 0.09 M. The rules
 * are few and simple, so the program is written directly: the
 * architecture check, a binary search over the listed call numbers,
 * each call's argument rule inline. Its verdicts are libseccomp's for
 * the same rules: tests/unit/test_seccomp_program.c runs both programs
 * over every call number and the arguments around each rule's bounds. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "seccomp/filter.h"
#include "seccomp/policy.h"
#include "seccomp/sigsys.h"

#define NR_LIMIT 512   /* above every x86-64 system call number */
#define X32_SYSCALL_BIT 0x40000000u   /* <asm/unistd.h>'s __X32_SYSCALL_BIT */
#define LEAF_CALLS 8   /* calls compared one by one at the end of a search */

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

/* ---- writing the program ---- */

struct writer {
	struct seccomp_program *prog;
	uint32_t default_action;
	bool too_long;   /* the program or a jump outgrew BPF's limits */
};

static unsigned emit(struct writer *w, uint16_t code, uint32_t k, uint8_t jt, uint8_t jf)
{
	struct seccomp_program *p = w->prog;
	if (p->len == SECCOMP_PROGRAM_MAX) {
		w->too_long = true;
		return p->len;
	}
	p->insn[p->len] = (struct sock_filter){ .code = code, .jt = jt, .jf = jf, .k = k };
	return p->len++;
}

static void ret(struct writer *w, uint32_t action)
{
	emit(w, BPF_RET | BPF_K, action, 0, 0);
}

/* Instructions from just after `from` to the current end: a forward jump. */
static unsigned distance(const struct writer *w, unsigned from)
{
	return w->prog->len - from - 1;
}

static void patch_jf(struct writer *w, unsigned at)
{
	unsigned d = distance(w, at);
	if (d > 255)
		w->too_long = true;
	else if (at < w->prog->len)
		w->prog->insn[at].jf = (uint8_t)d;
}

/* Argument words: seccomp_data is little-endian here (x86-64). */
static void load_arg(struct writer *w, unsigned arg, bool high)
{
	uint32_t off = (uint32_t)(offsetof(struct seccomp_data, args) + 8 * arg + (high ? 4 : 0));
	emit(w, BPF_LD | BPF_W | BPF_ABS, off, 0, 0);
}

/* Allow when the argument's low word has none of `bits` set (with
 * want_set false) or all of them (true); its high word is not looked
 * at: the flags are in the low word (libseccomp's masked compare with a
 * 32-bit mask reads the high word through a zero mask, the same). */
static void allow_bits(struct writer *w, unsigned arg, uint32_t bits, bool want_set)
{
	load_arg(w, arg, false);
	emit(w, BPF_ALU | BPF_AND | BPF_K, bits, 0, 0);
	emit(w, BPF_JMP | BPF_JEQ | BPF_K, want_set ? bits : 0, 0, 1);
	ret(w, SECCOMP_RET_ALLOW);
	ret(w, w->default_action);
}

/* Allow when the whole 64-bit argument is one of values[] (each below
 * 2^32), or when it is none of them with `allow_others`. */
static void allow_values(struct writer *w, unsigned arg, const unsigned long *values,
			 unsigned n, bool low_word_only, bool allow_others)
{
	uint32_t listed = allow_others ? w->default_action : SECCOMP_RET_ALLOW;
	uint32_t others = allow_others ? SECCOMP_RET_ALLOW : w->default_action;
	unsigned high_check = 0;
	if (!low_word_only) {
		load_arg(w, arg, true);
		high_check = emit(w, BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 0);
	}
	load_arg(w, arg, false);
	for (unsigned i = 0; i < n; i++) {
		/* jt lands on the `listed` return after the last compare */
		unsigned to_listed = n - 1 - i + 1;
		emit(w, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)values[i],
		     to_listed > 255 ? 0 : (uint8_t)to_listed, 0);
		if (to_listed > 255)
			w->too_long = true;
	}
	if (!low_word_only)
		patch_jf(w, high_check);   /* a high word set: not a listed value */
	ret(w, others);
	ret(w, listed);
}

/* The role's ioctl requests, each once (the groups overlap). */
static unsigned requests_collect(struct writer *w, const struct seccomp_policy *p,
				 unsigned long *out, unsigned cap)
{
	unsigned n = 0;
	for (unsigned g = 0; g < SECCOMP_POLICY_GROUPS && p->ioctl[g]; g++)
		for (const unsigned long *req = p->ioctl[g]; *req; req++) {
			bool seen = false;
			for (unsigned i = 0; i < n && !seen; i++)
				seen = out[i] == (*req & 0xffffffffu);
			if (!seen && n == cap)
				w->too_long = true;
			else if (!seen)
				out[n++] = *req & 0xffffffffu;
		}
	return n;
}

/* What one listed call may do. Returns false for a call that gets no
 * rule (the default action), as rt_sigaction in a role that sets no
 * handlers. */
static bool call_rule_needed(const struct seccomp_policy *p, int nr)
{
	return nr != SYS_rt_sigaction || p->sets_signals ||
	       (SANITIZER_BUILD && p->spawns_threads);
}

/* The rule of a listed call; A holds the call's number on entry, and
 * every path ends in a return. */
static void write_call(struct writer *w, const struct seccomp_policy *p, int nr)
{
	static const unsigned long options[] = { PR_SET_NAME, PR_GET_NAME, PR_SET_NO_NEW_PRIVS,
						 PR_GET_NO_NEW_PRIVS, PR_GET_SECCOMP,
						 PR_SET_SECCOMP };
	static const unsigned long sigsys[] = { SIGSYS };
	unsigned long values[255];
	switch (nr) {
	case SYS_mmap:
	case SYS_mprotect:
		allow_bits(w, 2, PROT_EXEC, false);
		return;
	case SYS_ioctl:
		/* Only the 32 bits the kernel reads of a request are compared:
		 * a caller's int sign-extended to 64 bits is the same request. */
		allow_values(w, 1, values, requests_collect(w, p, values, 255), true, false);
		return;
	case SYS_clone:
		if (SANITIZER_BUILD)   /* LSan's stop-the-world helper is no thread */
			break;   /* (only spawning roles list clone) */
		allow_bits(w, 0, CLONE_THREAD, true);
		return;
	case SYS_clone3:   /* its flags sit behind a pointer: make glibc use clone */
		ret(w, SECCOMP_RET_ERRNO | ENOSYS);
		return;
	case SYS_tgkill:
		values[0] = (unsigned long)getpid();
		allow_values(w, 0, values, 1, false, false);
		return;
	case SYS_rt_sigaction:   /* anything but SIGSYS (LSan's helper's faults) */
		allow_values(w, 0, sigsys, 1, false, true);
		return;
	case SYS_prctl:
		if (SANITIZER_BUILD && p->spawns_threads)
			break;
		allow_values(w, 0, options, sizeof(options) / sizeof(options[0]), false, false);
		return;
	}
	ret(w, SECCOMP_RET_ALLOW);
}

/* glibc's malloc opens /proc/sys/vm/overcommit_memory the first time
 * any thread trims an arena of its own: a role that opens nothing is
 * refused (EACCES, and glibc does without) instead of killed for it.
 * The file still never opens. */
static bool refused_open(const bool listed[NR_LIMIT], int nr)
{
	return (nr == SYS_open || nr == SYS_openat) && !listed[nr];
}

struct calls {
	int nr[NR_LIMIT];
	unsigned n;
};

/* `if (A == nr) { rule }`, skipped by a forward jump otherwise. A rule
 * that is a plain ALLOW is left out: the compare's true branch is
 * returned for the caller to point at a shared ALLOW. */
static bool write_case(struct writer *w, const struct seccomp_policy *p,
		       const bool listed[NR_LIMIT], int nr, unsigned *test)
{
	struct seccomp_program *prog = w->prog;
	*test = emit(w, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 0);
	if (refused_open(listed, nr))
		ret(w, SECCOMP_RET_ERRNO | EACCES);
	else
		write_call(w, p, nr);
	bool plain = !w->too_long && prog->len == *test + 2 &&
		     prog->insn[*test + 1].code == (BPF_RET | BPF_K) &&
		     prog->insn[*test + 1].k == SECCOMP_RET_ALLOW;
	if (plain)
		prog->len--;
	else
		patch_jf(w, *test);
	return plain;
}

/* Calls [lo, hi) compared one by one, then the default verdict, then
 * the ALLOW the plain cases jump to. */
static void write_leaf(struct writer *w, const struct seccomp_policy *p,
		       const bool listed[NR_LIMIT], const struct calls *c, unsigned lo,
		       unsigned hi)
{
	unsigned plain[LEAF_CALLS], n = 0, test;
	for (unsigned i = lo; i < hi; i++)
		if (write_case(w, p, listed, c->nr[i], &test))
			plain[n++] = test;
	ret(w, w->default_action);
	if (n == 0)
		return;
	for (unsigned i = 0; i < n; i++) {
		unsigned d = distance(w, plain[i]);
		if (d > 255)
			w->too_long = true;
		else if (plain[i] < w->prog->len)
			w->prog->insn[plain[i]].jt = (uint8_t)d;
	}
	ret(w, SECCOMP_RET_ALLOW);
}

/* A binary search over calls [lo, hi) (sorted), so a call costs a few
 * compares whatever its number: on the left of the middle call the
 * lower half, else (a long jump, JA's offset is 32 bits) the upper. */
static void write_search(struct writer *w, const struct seccomp_policy *p,
			 const bool listed[NR_LIMIT], const struct calls *c, unsigned lo,
			 unsigned hi)
{
	if (hi - lo <= LEAF_CALLS) {
		write_leaf(w, p, listed, c, lo, hi);
		return;
	}
	unsigned mid = lo + (hi - lo) / 2;
	emit(w, BPF_JMP | BPF_JGE | BPF_K, (uint32_t)c->nr[mid], 0, 1);
	unsigned to_upper = emit(w, BPF_JMP | BPF_JA, 0, 0, 0);
	write_search(w, p, listed, c, lo, mid);
	if (to_upper < w->prog->len)
		w->prog->insn[to_upper].k = distance(w, to_upper);
	write_search(w, p, listed, c, mid, hi);
}

/* The same check libseccomp makes: another ABI (int 0x80's i386, x32's
 * numbers with bit 30) is never legitimate here and kills the process;
 * nr -1 (a tracer's skipped call) gets the default action. */
static void write_abi_check(struct writer *w)
{
	emit(w, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), 0, 0);
	emit(w, BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
	ret(w, SECCOMP_RET_KILL_PROCESS);
	emit(w, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), 0, 0);
	emit(w, BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 2);
	emit(w, BPF_JMP | BPF_JEQ | BPF_K, 0xffffffffu, 1, 0);
	ret(w, SECCOMP_RET_KILL_PROCESS);
}

int seccomp_program_write(const struct seccomp_policy *p, uint32_t default_action,
			  struct seccomp_program *prog)
{
	bool listed[NR_LIMIT] = { false };
	mark_policy(listed, p);
	if (p->spawns_threads)
		listed[SYS_clone3] = true;
	struct calls c = { .n = 0 };
	for (int nr = 0; nr < NR_LIMIT; nr++)
		if ((listed[nr] && call_rule_needed(p, nr)) || refused_open(listed, nr))
			c.nr[c.n++] = nr;
	struct writer w = { .prog = prog, .default_action = default_action };
	prog->len = 0;
	write_abi_check(&w);
	write_search(&w, p, listed, &c, 0, c.n);
	return w.too_long ? -E2BIG : 0;
}

static int load(const struct seccomp_policy *p, uint32_t default_action,
		struct kvmini_error *err)
{
	struct seccomp_program prog;
	int r = seccomp_program_write(p, default_action, &prog);
	if (r < 0)
		return kvmini_fail(err, KVMINI_E_HOST, "seccomp: the %s filter outgrew BPF's limits",
				   p->name);
	struct sock_fprog fprog = { .len = (unsigned short)prog.len, .filter = prog.insn };
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno,
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
		return load(p, SECCOMP_RET_LOG, err);
	if (sigsys_prepare(p->name, err) < 0)
		return -1;
	return load(p, SECCOMP_RET_TRAP, err);
}
