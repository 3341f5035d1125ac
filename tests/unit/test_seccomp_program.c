/* The BPF programs src/seccomp/filter.c writes, checked without loading
 * them: for every role and both default actions, each program must give
 * the very verdict libseccomp's compiler gives the same rules (the way
 * kvmini built its filters before, kept here as the reference), for
 * every system call number, other ABIs, and argument values at and
 * around each rule's boundaries. Both programs run in a small classic
 * BPF interpreter over the same seccomp_data. tests/unit/test_seccomp.c
 * loads the filters for real and makes the calls. */
#include <criterion/criterion.h>

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "seccomp/filter.h"
#include "seccomp/policy.h"

#define NR_LIMIT 512

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD true
#else
#define SANITIZER_BUILD false
#endif

/* ---- a classic BPF interpreter, for the instructions seccomp uses ---- */

static uint32_t data_word(const struct seccomp_data *d, uint32_t off)
{
	uint32_t w;
	cr_assert(off % 4 == 0 && off + 4 <= sizeof(*d), "load at %u", off);
	memcpy(&w, (const char *)d + off, 4);
	return w;
}

/* *search counts the instructions run before the first argument is
 * read or a verdict reached: the cost of finding the call's rule. */
static uint32_t bpf_run(const struct sock_filter *insn, unsigned len,
			const struct seccomp_data *d, unsigned *search)
{
	uint32_t a = 0;
	bool searching = true;
	for (unsigned pc = 0; pc < len; pc++) {
		const struct sock_filter *i = &insn[pc];
		if (i->code == (BPF_RET | BPF_K) ||
		    (i->code == (BPF_LD | BPF_W | BPF_ABS) &&
		     i->k >= offsetof(struct seccomp_data, args)))
			searching = false;
		if (searching && search)
			++*search;
		switch (i->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			a = data_word(d, i->k);
			break;
		case BPF_ALU | BPF_AND | BPF_K:
			a &= i->k;
			break;
		case BPF_JMP | BPF_JA:
			pc += i->k;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
			pc += a == i->k ? i->jt : i->jf;
			break;
		case BPF_JMP | BPF_JGE | BPF_K:
			pc += a >= i->k ? i->jt : i->jf;
			break;
		case BPF_JMP | BPF_JGT | BPF_K:
			pc += a > i->k ? i->jt : i->jf;
			break;
		case BPF_JMP | BPF_JSET | BPF_K:
			pc += (a & i->k) ? i->jt : i->jf;
			break;
		case BPF_RET | BPF_K:
			return i->k;
		default:
			cr_assert_fail("instruction 0x%x at %u not interpreted", i->code, pc);
		}
	}
	cr_assert_fail("ran off the end of a %u-instruction program", len);
	return 0;
}

/* ---- the reference: the same rules through libseccomp ---- */

static struct scmp_arg_cmp arg_cmp(unsigned arg, enum scmp_compare op, scmp_datum_t a,
				   scmp_datum_t b)
{
	return (struct scmp_arg_cmp){ .arg = arg, .op = op, .datum_a = a, .datum_b = b };
}

static void rule(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned n,
		 const struct scmp_arg_cmp *cmp)
{
	int r = seccomp_rule_add_array(ctx, action, nr, n, cmp);
	cr_assert(r == 0 || r == -EEXIST, "libseccomp: rule for %d: %d", nr, r);
}

static void reference_call(scmp_filter_ctx ctx, const struct seccomp_policy *p, int nr)
{
	static const int options[] = { PR_SET_NAME, PR_GET_NAME, PR_SET_NO_NEW_PRIVS,
				       PR_GET_NO_NEW_PRIVS, PR_GET_SECCOMP, PR_SET_SECCOMP };
	struct scmp_arg_cmp c;
	switch (nr) {
	case SYS_mmap:
	case SYS_mprotect:
		c = arg_cmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
		rule(ctx, SCMP_ACT_ALLOW, nr, 1, &c);
		return;
	case SYS_ioctl:
		for (unsigned g = 0; g < SECCOMP_POLICY_GROUPS && p->ioctl[g]; g++)
			for (const unsigned long *req = p->ioctl[g]; *req; req++) {
				c = arg_cmp(1, SCMP_CMP_MASKED_EQ, 0xffffffffu, *req);
				rule(ctx, SCMP_ACT_ALLOW, SYS_ioctl, 1, &c);
			}
		return;
	case SYS_clone:
		if (SANITIZER_BUILD)
			break;
		c = arg_cmp(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
		rule(ctx, SCMP_ACT_ALLOW, nr, 1, &c);
		return;
	case SYS_clone3:
		rule(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0, NULL);
		return;
	case SYS_tgkill:
		c = arg_cmp(0, SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0);
		rule(ctx, SCMP_ACT_ALLOW, nr, 1, &c);
		return;
	case SYS_rt_sigaction:
		if (!p->sets_signals && !(SANITIZER_BUILD && p->spawns_threads))
			return;
		c = arg_cmp(0, SCMP_CMP_NE, SIGSYS, 0);
		rule(ctx, SCMP_ACT_ALLOW, nr, 1, &c);
		return;
	case SYS_prctl:
		if (SANITIZER_BUILD && p->spawns_threads)
			break;
		for (unsigned i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
			c = arg_cmp(0, SCMP_CMP_EQ, (scmp_datum_t)options[i], 0);
			rule(ctx, SCMP_ACT_ALLOW, SYS_prctl, 1, &c);
		}
		return;
	}
	rule(ctx, SCMP_ACT_ALLOW, nr, 0, NULL);
}

static void mark(bool listed[NR_LIMIT], const int *group)
{
	for (const int *s = group; *s >= 0; s++)
		listed[*s] = true;
}

static void reference_program(const struct seccomp_policy *p, uint32_t default_action,
			      struct sock_filter *insn, unsigned cap, unsigned *len)
{
	bool listed[NR_LIMIT] = { false };
	for (unsigned g = 0; g < SECCOMP_POLICY_GROUPS && p->sys[g]; g++)
		mark(listed, p->sys[g]);
	if (SANITIZER_BUILD && p->spawns_threads)
		mark(listed, seccomp_policy_sanitizer());
	if (p->spawns_threads)
		listed[SYS_clone3] = true;
	scmp_filter_ctx ctx = seccomp_init(default_action);
	cr_assert(ctx);
	cr_assert_eq(seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS), 0);
	for (int nr = 0; nr < NR_LIMIT; nr++)
		if (listed[nr])
			reference_call(ctx, p, nr);
	if (!listed[SYS_open])
		rule(ctx, SCMP_ACT_ERRNO(EACCES), SYS_open, 0, NULL);
	if (!listed[SYS_openat])
		rule(ctx, SCMP_ACT_ERRNO(EACCES), SYS_openat, 0, NULL);
	FILE *f = tmpfile();
	cr_assert(f);
	cr_assert_eq(seccomp_export_bpf(ctx, fileno(f)), 0);
	seccomp_release(ctx);
	rewind(f);
	*len = (unsigned)fread(insn, sizeof(*insn), cap, f);
	cr_assert(*len > 0 && *len < cap);
	fclose(f);
}

/* ---- the inputs ---- */

struct values {
	uint64_t v[1024];
	unsigned n;
};

static void add(struct values *s, uint64_t v)
{
	const uint64_t high[] = { 0, 1ull << 32, 0xffffffff00000000ull };
	for (unsigned h = 0; h < 3; h++)
		for (int d = -1; d <= 1; d++)
			if (s->n < sizeof(s->v) / sizeof(s->v[0]))
				s->v[s->n++] = high[h] | (uint32_t)(v + (uint64_t)d);
}

/* Every value a rule compares with, its neighbours, and each with a
 * high word set: requests, prctl options, flag bits, this pid, SIGSYS. */
static void values_fill(struct values *s)
{
	s->n = 0;
	const uint64_t plain[] = { 0, 2, PROT_EXEC, PROT_READ | PROT_EXEC,
				   PROT_READ | PROT_WRITE, CLONE_THREAD,
				   CLONE_THREAD | CLONE_VM | CLONE_SIGHAND, CLONE_VM,
				   (uint64_t)getpid(), SIGSYS, PR_SET_NAME, PR_GET_NAME,
				   PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS, PR_GET_SECCOMP,
				   PR_SET_SECCOMP, PR_SET_DUMPABLE, 0xffffffffu };
	for (unsigned i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		add(s, plain[i]);
	for (int role = 0; role < SECCOMP_ROLES; role++) {
		const struct seccomp_policy *p = seccomp_policy_of(role);
		for (unsigned g = 0; g < SECCOMP_POLICY_GROUPS && p->ioctl[g]; g++)
			for (const unsigned long *req = p->ioctl[g]; *req; req++)
				add(s, *req);
	}
}

static unsigned compare_role(enum seccomp_role role, uint32_t default_action,
			     const struct values *vals)
{
	const struct seccomp_policy *p = seccomp_policy_of(role);
	static struct seccomp_program ours;
	static struct sock_filter ref[4096];
	unsigned ref_len = 0, checked = 0;
	cr_assert_eq(seccomp_program_write(p, default_action, &ours), 0, "role %s", p->name);
	reference_program(p, default_action, ref, 4096, &ref_len);
	const uint32_t arches[] = { AUDIT_ARCH_X86_64, AUDIT_ARCH_I386 };
	const uint32_t extra[] = { 0x40000000u, 0x40000000u + 1, 0x40000000u + 16, 0xfffffffeu,
				   0xffffffffu, NR_LIMIT + 100 };
	for (unsigned a = 0; a < 2; a++)
		for (unsigned n = 0; n < NR_LIMIT + sizeof(extra) / sizeof(extra[0]); n++) {
			struct seccomp_data d = { .arch = arches[a] };
			d.nr = (int)(n < NR_LIMIT ? n : extra[n - NR_LIMIT]);
			for (unsigned v = 0; v < vals->n; v++) {
				for (unsigned k = 0; k < 6; k++)
					d.args[k] = vals->v[v];
				uint32_t want = bpf_run(ref, ref_len, &d, NULL);
				uint32_t got = bpf_run(ours.insn, ours.len, &d, NULL);
				cr_assert_eq(got, want,
					     "role %s, arch 0x%x, call %d, args 0x%llx: 0x%x, "
					     "libseccomp 0x%x", p->name, d.arch, d.nr,
					     (unsigned long long)vals->v[v], got, want);
				checked++;
			}
		}
	return checked;
}

Test(seccomp_program, every_role_gives_libseccomps_verdicts)
{
	static struct values vals;
	values_fill(&vals);
	cr_assert_gt(vals.n, 300);
	unsigned checked = 0;
	for (int role = 0; role < SECCOMP_ROLES; role++) {
		checked += compare_role(role, SECCOMP_RET_TRAP, &vals);
		checked += compare_role(role, SECCOMP_RET_LOG, &vals);
	}
	cr_assert_gt(checked, 1000000u);
}

/* What the kernel requires of a program (kernel/bpf's checks, in
 * short): within BPF_MAXINSNS, every jump forward and inside it, and no
 * path off the end (the last instruction returns). */
Test(seccomp_program, programs_are_within_the_kernels_limits)
{
	static struct seccomp_program prog;
	for (int role = 0; role < SECCOMP_ROLES; role++) {
		cr_assert_eq(seccomp_program_write(seccomp_policy_of(role), SECCOMP_RET_TRAP, &prog),
			     0);
		cr_assert(prog.len > 0 && prog.len <= BPF_MAXINSNS);
		cr_assert_eq(prog.insn[prog.len - 1].code, BPF_RET | BPF_K);
		for (unsigned pc = 0; pc < prog.len; pc++) {
			const struct sock_filter *i = &prog.insn[pc];
			if (BPF_CLASS(i->code) != BPF_JMP)
				continue;
			if (BPF_OP(i->code) == BPF_JA)
				cr_assert_lt(pc + 1 + i->k, prog.len, "JA at %u", pc);
			else
				cr_assert(pc + 1 + i->jt < prog.len && pc + 1 + i->jf < prog.len,
					  "jump at %u", pc);
		}
	}
}

/* A call costs a few compares, not one per listed call: the longest
 * search for any call's rule in the main role's program (the longest
 * list; libseccomp's compared them one by one: over 100). */
Test(seccomp_program, a_call_is_found_by_a_search)
{
	static struct seccomp_program prog;
	cr_assert_eq(seccomp_program_write(seccomp_policy_of(SECCOMP_ROLE_MAIN), SECCOMP_RET_TRAP,
					   &prog), 0);
	unsigned longest = 0;
	for (int nr = 0; nr < NR_LIMIT; nr++) {
		struct seccomp_data d = { .arch = AUDIT_ARCH_X86_64, .nr = nr };
		unsigned search = 0;
		bpf_run(prog.insn, prog.len, &d, &search);
		if (search > longest)
			longest = search;
	}
	cr_assert_lt(longest, 30u, "a call took %u instructions to find", longest);
}
