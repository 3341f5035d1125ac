/* A filter's trap: SIGSYS on the thread that made the forbidden call.
 * The handler writes one line with write(2) alone, then makes the very
 * same call again: the filter traps it again, and because SIGSYS is now
 * blocked (we are in its handler) with its default action restored
 * (SA_RESETHAND), the kernel kills the whole process with SIGSYS. The
 * forbidden call itself never runs. No filter lets a thread change
 * SIGSYS's action (src/seccomp/policy.c), so code running in a filtered
 * thread cannot turn the kill into a mere error. */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>
#include "seccomp/seccomp.h"
#include "seccomp/sigsys.h"

/* SYS_SECCOMP, si_code of a filter's SIGSYS: defined only in
 * <asm-generic/siginfo.h>, which cannot be included beside glibc's
 * <signal.h> (both define siginfo_t). */
#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1
#endif

/* Generated from <asm/unistd_64.h> by the Makefile: [__NR_x] = "x". */
static const char *const syscall_names[] = {
#include "syscall_names.h"
};

const char *seccomp_syscall_name(long nr)
{
	size_t n = sizeof(syscall_names) / sizeof(syscall_names[0]);
	if (nr < 0 || (size_t)nr >= n || !syscall_names[nr])
		return "?";
	return syscall_names[nr];
}

/* Per thread, written before the filter exists, read only by the
 * handler on the same thread: what signal handling forces. */
static __thread char violation_thread[17];
static __thread const char *violation_role;

struct line {
	char text[256];
	size_t len;
};

static void put(struct line *l, const char *s)
{
	while (*s && l->len < sizeof(l->text) - 1)
		l->text[l->len++] = *s++;
}

static void put_number(struct line *l, long v)
{
	char digits[24];
	int n = 0;
	unsigned long u = v < 0 ? (unsigned long)-v : (unsigned long)v;
	do
		digits[n++] = (char)('0' + u % 10);
	while ((u /= 10) && n < (int)sizeof(digits));
	if (v < 0)
		put(l, "-");
	while (n > 0) {
		char c[2] = { digits[--n], 0 };
		put(l, c);
	}
}

static void put_hex(struct line *l, unsigned long v)
{
	char digits[17];
	int n = 0;
	do
		digits[n++] = "0123456789abcdef"[v & 15];
	while ((v >>= 4) && n < (int)sizeof(digits));
	put(l, "0x");
	while (n > 0) {
		char c[2] = { digits[--n], 0 };
		put(l, c);
	}
}

/* An ioctl is named with its request number: the filter lists those. */
static void write_message(int nr, unsigned long arg1)
{
	struct line l = { .len = 0 };
	put(&l, "kvmini: seccomp: thread ");
	put(&l, violation_thread[0] ? violation_thread : "?");
	put(&l, " (role ");
	put(&l, violation_role ? violation_role : "?");
	put(&l, ") made a forbidden system call: ");
	put(&l, seccomp_syscall_name(nr));
	put(&l, " (");
	put_number(&l, nr);
	if (nr == SYS_ioctl) {
		put(&l, ", request ");
		put_hex(&l, arg1 & 0xffffffffu);
	}
	put(&l, "); killing kvmini\n");
	ssize_t w = write(STDERR_FILENO, l.text, l.len);
	(void)w;
}

static void on_sigsys(int sig, siginfo_t *info, void *uctx)
{
	(void)sig;
	if (info->si_code != SYS_SECCOMP) {
		raise(SIGSYS);   /* blocked until we return, then the default kills */
		return;
	}
	const greg_t *r = ((ucontext_t *)uctx)->uc_mcontext.gregs;
	write_message(info->si_syscall, (unsigned long)r[REG_RSI]);
	syscall(info->si_syscall, r[REG_RDI], r[REG_RSI], r[REG_RDX], r[REG_R10], r[REG_R8],
		r[REG_R9]);
	syscall(SYS_exit_group, 128 + SIGSYS);   /* not reached: the retry kills */
}

/* Set once, under pthread_once (whose function takes no argument). */
static int install_error;

static void install_handler(void)
{
	struct sigaction sa = { .sa_sigaction = on_sigsys,
				.sa_flags = SA_SIGINFO | SA_RESETHAND };
	sigemptyset(&sa.sa_mask);
	install_error = sigaction(SIGSYS, &sa, NULL) < 0;
}

int sigsys_prepare(const char *role, struct kvmini_error *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, install_handler);
	if (install_error)
		return kvmini_fail(err, KVMINI_E_HOST, "seccomp: cannot install the SIGSYS handler");
	sigset_t sys;
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
	memset(violation_thread, 0, sizeof(violation_thread));
	prctl(PR_GET_NAME, violation_thread, 0, 0, 0);
	violation_role = role;
	return 0;
}
