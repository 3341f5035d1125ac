/* The system-call layer: the table, the dispatcher with --trace and
 * --verbose reporting, and the process, time and signal calls. Files are
 * in sys_file.c and sys_path.c, memory in sys_mem.c.
 *
 * Every handler gets the six raw argument registers and returns the
 * Linux result (a value, or -errno). Nothing in them is trusted: pointers
 * go through uaccess.c, numbers are range-checked. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include "sandbox/sandbox.h"
#include "arch/x86/msr.h"

/* The program's view of its identity: one process, one thread. */
#define SB_PID 2
#define ARCH_SET_GS 0x1001
#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003
#define ARCH_GET_GS 0x1004

void sb_log(sandbox_t *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kvmini_log_v(sb->log_fd, fmt, ap);
	va_end(ap);
}

void sb_finish(sandbox_t *sb, enum kvmini_status status, int exit_status,
	       const char *fmt, ...)
{
	if (sb->finished)
		return;
	sb->finished = true;
	sb->result.status = status;
	sb->result.exit_status = exit_status;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sb->result.message, sizeof(sb->result.message), fmt, ap);
	va_end(ap);
}

/* ---- process ---- */

static long sys_exit_group(sandbox_t *sb, const uint64_t a[6])
{
	int code = (int)(a[0] & 0xff);
	sb_finish(sb, KVMINI_OK, code, "program exited with status %d", code);
	return 0;
}

static int msr_access(sandbox_t *sb, uint32_t index, uint64_t *value, bool set)
{
	if (!set)
		return vcpu_get_msr(sb->vcpu, index, value, NULL);
	const struct kvm_msr_entry e = { .index = index, .data = *value };
	return vcpu_set_msrs(sb->vcpu, &e, 1, NULL);
}

static bool canonical(uint64_t a)
{
	return a < 0x0000800000000000ULL || a >= 0xffff800000000000ULL;
}

static long sys_arch_prctl(sandbox_t *sb, const uint64_t a[6])
{
	uint64_t value = a[1];
	switch (a[0]) {
	case ARCH_SET_FS:
	case ARCH_SET_GS:
		if (!canonical(value) || value >= SB_KERNEL_VA)
			return -EPERM;
		if (msr_access(sb, a[0] == ARCH_SET_FS ? MSR_FS_BASE : MSR_GS_BASE, &value, true) < 0)
			return -EIO;
		sb->sregs_touched = true;
		return 0;
	case ARCH_GET_FS:
	case ARCH_GET_GS:
		if (msr_access(sb, a[0] == ARCH_GET_FS ? MSR_FS_BASE : MSR_GS_BASE, &value, false) < 0)
			return -EIO;
		return sb_copy_out(sb, a[1], &value, sizeof(value));
	}
	return -EINVAL;
}

static long sys_set_tid_address(sandbox_t *sb, const uint64_t a[6])
{
	sb->tid_address = a[0];
	return SB_PID;
}

static long sys_set_robust_list(sandbox_t *sb, const uint64_t a[6])
{
	if (a[1] != 24)   /* sizeof(struct robust_list_head) */
		return -EINVAL;
	sb->robust_list = a[0];
	return 0;
}

static long sys_getpid(sandbox_t *sb, const uint64_t a[6])
{
	(void)sb, (void)a;
	return SB_PID;
}

static long sys_getppid(sandbox_t *sb, const uint64_t a[6])
{
	(void)sb, (void)a;
	return 1;
}

static long sys_getuid(sandbox_t *sb, const uint64_t a[6])
{
	(void)sb, (void)a;
	return getuid();
}

static long sys_geteuid(sandbox_t *sb, const uint64_t a[6])
{
	(void)sb, (void)a;
	return geteuid();
}

static long sys_getgid(sandbox_t *sb, const uint64_t a[6])
{
	(void)sb, (void)a;
	return getgid();
}

static long sys_getegid(sandbox_t *sb, const uint64_t a[6])
{
	(void)sb, (void)a;
	return getegid();
}

static long sys_getpgrp(sandbox_t *sb, const uint64_t a[6])
{
	(void)sb, (void)a;
	return SB_PID;
}

static long sys_umask(sandbox_t *sb, const uint64_t a[6])
{
	(void)sb, (void)a;
	return 022;
}

static long sys_sched_yield(sandbox_t *sb, const uint64_t a[6])
{
	(void)sb, (void)a;
	return 0;
}

/* rseq is reported absent, as on kernels without it; libc copes. */
static long sys_rseq(sandbox_t *sb, const uint64_t a[6])
{
	(void)sb, (void)a;
	return -ENOSYS;
}

static long sys_prctl(sandbox_t *sb, const uint64_t a[6])
{
	switch (a[0]) {
	case 15: {   /* PR_SET_NAME */
		char name[sizeof(sb->comm)];
		long n = sb_copy_string(sb, name, a[1], sizeof(name));
		if (n == -ENAMETOOLONG) {
			if (sb_copy_in(sb, name, a[1], sizeof(name) - 1) < 0)
				return -EFAULT;
			name[sizeof(name) - 1] = 0;
		} else if (n < 0) {
			return n;
		}
		memcpy(sb->comm, name, sizeof(name));
		return 0;
	}
	case 16:     /* PR_GET_NAME */
		return sb_copy_out(sb, a[1], sb->comm, sizeof(sb->comm));
	}
	return -EINVAL;
}

static uint64_t rlimit_value(sandbox_t *sb, unsigned resource)
{
	switch (resource) {
	case RLIMIT_STACK: return sb->mm.stack_top - sb->mm.stack_lo;
	case RLIMIT_NOFILE: return sb->max_files;
	case RLIMIT_AS:
	case RLIMIT_DATA: return sb->mm.size;
	case RLIMIT_NPROC: return 1;
	}
	return RLIM_INFINITY;
}

static long sys_prlimit64(sandbox_t *sb, const uint64_t a[6])
{
	if (a[0] != 0 && a[0] != SB_PID)
		return -ESRCH;
	if (a[1] >= RLIM_NLIMITS)
		return -EINVAL;
	if (a[3]) {
		uint64_t lim[2];
		lim[0] = lim[1] = rlimit_value(sb, (unsigned)a[1]);
		if (sb_copy_out(sb, a[3], lim, sizeof(lim)) < 0)
			return -EFAULT;
	}
	if (a[2]) {   /* setting is accepted and ignored: the host's limits rule */
		uint64_t lim[2];
		if (sb_copy_in(sb, lim, a[2], sizeof(lim)) < 0)
			return -EFAULT;
		if (lim[0] > lim[1])
			return -EINVAL;
	}
	return 0;
}

static long sys_getrlimit(sandbox_t *sb, const uint64_t a[6])
{
	const uint64_t args[6] = { 0, a[0], 0, a[1], 0, 0 };
	return sys_prlimit64(sb, args);
}

static long sys_uname(sandbox_t *sb, const uint64_t a[6])
{
	struct utsname host, u;
	memset(&u, 0, sizeof(u));
	uname(&host);
	/* The host's kernel release and machine, not its name. */
	snprintf(u.sysname, sizeof(u.sysname), "Linux");
	snprintf(u.nodename, sizeof(u.nodename), "sandbox");
	snprintf(u.release, sizeof(u.release), "%s", host.release);
	snprintf(u.version, sizeof(u.version), "%s", host.version);
	snprintf(u.machine, sizeof(u.machine), "x86_64");
	snprintf(u.domainname, sizeof(u.domainname), "(none)");
	return sb_copy_out(sb, a[0], &u, sizeof(u));
}

/* ---- time ---- */

static long sys_clock_gettime(sandbox_t *sb, const uint64_t a[6])
{
	if (a[0] > CLOCK_BOOTTIME)
		return -EINVAL;
	struct timespec ts;
	if (clock_gettime((clockid_t)a[0], &ts) < 0)
		return -errno;
	return sb_copy_out(sb, a[1], &ts, sizeof(ts));
}

static long sys_clock_getres(sandbox_t *sb, const uint64_t a[6])
{
	if (a[0] > CLOCK_BOOTTIME)
		return -EINVAL;
	struct timespec ts;
	if (clock_getres((clockid_t)a[0], &ts) < 0)
		return -errno;
	return a[1] ? sb_copy_out(sb, a[1], &ts, sizeof(ts)) : 0;
}

static long sys_gettimeofday(sandbox_t *sb, const uint64_t a[6])
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (a[0]) {
		int64_t tv[2] = { ts.tv_sec, ts.tv_nsec / 1000 };
		if (sb_copy_out(sb, a[0], tv, sizeof(tv)) < 0)
			return -EFAULT;
	}
	if (a[1]) {
		int32_t tz[2] = { 0, 0 };
		if (sb_copy_out(sb, a[1], tz, sizeof(tz)) < 0)
			return -EFAULT;
	}
	return 0;
}

static long sys_time(sandbox_t *sb, const uint64_t a[6])
{
	int64_t now = (int64_t)time(NULL);
	if (a[0] && sb_copy_out(sb, a[0], &now, sizeof(now)) < 0)
		return -EFAULT;
	return now;
}

/* Sleep on the host, but never past the run's deadline. */
static long sleep_for(sandbox_t *sb, const struct timespec *req)
{
	if (req->tv_sec < 0 || req->tv_nsec < 0 || req->tv_nsec >= 1000000000L)
		return -EINVAL;
	double want = (double)req->tv_sec + (double)req->tv_nsec / 1e9;
	double left = sb_run_seconds_left(sb);
	double take = want < left ? want : left;
	struct timespec t = { (time_t)take, (long)((take - (double)(time_t)take) * 1e9) };
	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &t, &t) == EINTR)
		;
	if (want > left)
		sb_finish(sb, KVMINI_E_TIMEOUT, 124,
			  "program still running after the %g-second timeout", sb->timeout);
	return 0;
}

static long sys_nanosleep(sandbox_t *sb, const uint64_t a[6])
{
	struct timespec req;
	if (sb_copy_in(sb, &req, a[0], sizeof(req)) < 0)
		return -EFAULT;
	return sleep_for(sb, &req);
}

static long sys_clock_nanosleep(sandbox_t *sb, const uint64_t a[6])
{
	struct timespec req, now;
	if (a[0] > CLOCK_BOOTTIME)
		return -EINVAL;
	if (sb_copy_in(sb, &req, a[2], sizeof(req)) < 0)
		return -EFAULT;
	if (a[1] & TIMER_ABSTIME) {
		clock_gettime((clockid_t)a[0], &now);
		int64_t ns = (req.tv_sec - now.tv_sec) * 1000000000LL + (req.tv_nsec - now.tv_nsec);
		if (ns < 0)
			ns = 0;
		req.tv_sec = ns / 1000000000LL;
		req.tv_nsec = ns % 1000000000LL;
	}
	return sleep_for(sb, &req);
}

/* ---- randomness ---- */

#define GETRANDOM_MAX (1 << 20)

static long sys_getrandom(sandbox_t *sb, const uint64_t a[6])
{
	if (a[2] & ~(uint64_t)(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE))
		return -EINVAL;
	uint64_t len = a[1] > GETRANDOM_MAX ? GETRANDOM_MAX : a[1];
	void *p = sb_uptr(sb, a[0], len, SB_ACCESS_WRITE);
	if (!p)
		return -EFAULT;
	ssize_t n = getrandom(p, len, 0);
	return n < 0 ? -errno : n;
}

/* ---- signals: recorded; only default actions are ever delivered ---- */

static void deliver_unblocked(sandbox_t *sb);

static bool signal_kills_by_default(int sig)
{
	return sig != SIGCHLD && sig != SIGURG && sig != SIGWINCH && sig != SIGCONT;
}

static long sys_rt_sigaction(sandbox_t *sb, const uint64_t a[6])
{
	uint64_t sig = a[0];
	if (a[3] != 8 || sig < 1 || sig > 64)
		return -EINVAL;
	struct sb_sigaction *slot = &sb->sigact[sig - 1];
	if (a[2] && sb_copy_out(sb, a[2], slot, sizeof(*slot)) < 0)
		return -EFAULT;
	if (a[1]) {
		struct sb_sigaction act;
		if (sig == SIGKILL || sig == SIGSTOP)
			return -EINVAL;
		if (sb_copy_in(sb, &act, a[1], sizeof(act)) < 0)
			return -EFAULT;
		*slot = act;
	}
	return 0;
}

static long sys_rt_sigprocmask(sandbox_t *sb, const uint64_t a[6])
{
	if (a[3] != 8 || a[0] > 2)
		return -EINVAL;
	uint64_t old = sb->sigmask, set;
	if (a[1]) {
		if (sb_copy_in(sb, &set, a[1], sizeof(set)) < 0)
			return -EFAULT;
		set &= ~((1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)));
		if (a[0] == SIG_BLOCK)
			sb->sigmask |= set;
		else if (a[0] == SIG_UNBLOCK)
			sb->sigmask &= ~set;
		else
			sb->sigmask = set;
	}
	if (a[2] && sb_copy_out(sb, a[2], &old, sizeof(old)) < 0)
		return -EFAULT;
	deliver_unblocked(sb);
	return 0;
}

static long sys_sigaltstack(sandbox_t *sb, const uint64_t a[6])
{
	if (a[1]) {
		struct { uint64_t sp; int32_t flags, pad; uint64_t size; } old = { 0, SS_DISABLE, 0, 0 };
		if (sb_copy_out(sb, a[1], &old, sizeof(old)) < 0)
			return -EFAULT;
	}
	return 0;
}

/* Only a default action can happen here: a handler is never run. */
static void deliver_signal(sandbox_t *sb, int sig)
{
	uint64_t handler = sb->sigact[sig - 1].handler;
	if (sig != SIGKILL && handler != 0 /* SIG_DFL */)
		return;   /* ignored or handled: not delivered */
	if (!signal_kills_by_default(sig))
		return;
	const char *abbrev = sigabbrev_np(sig);
	sb_finish(sb, KVMINI_E_GUEST, 128 + sig, "program killed by SIG%s (raised by itself)",
		  abbrev ? abbrev : "?");
}

/* Pending signals the mask no longer blocks. */
static void deliver_unblocked(sandbox_t *sb)
{
	uint64_t ready = sb->sigpending & ~sb->sigmask;
	for (int sig = 1; ready && sig <= 64; sig++) {
		if (ready & (1ULL << (sig - 1))) {
			sb->sigpending &= ~(1ULL << (sig - 1));
			deliver_signal(sb, sig);
		}
	}
}

/* A signal sent to itself. */
static long raise_signal(sandbox_t *sb, uint64_t sig)
{
	if (sig == 0)
		return 0;
	if (sig > 64)
		return -EINVAL;
	if ((sb->sigmask >> (sig - 1)) & 1 && sig != SIGKILL) {
		sb->sigpending |= 1ULL << (sig - 1);   /* delivered when unblocked */
		return 0;
	}
	deliver_signal(sb, (int)sig);
	return 0;
}

static long sys_kill(sandbox_t *sb, const uint64_t a[6])
{
	if (a[0] != SB_PID && a[0] != 0)
		return -EPERM;
	return raise_signal(sb, a[1]);
}

static long sys_tkill(sandbox_t *sb, const uint64_t a[6])
{
	if (a[0] != SB_PID)
		return -ESRCH;
	return raise_signal(sb, a[1]);
}

static long sys_tgkill(sandbox_t *sb, const uint64_t a[6])
{
	if (a[0] != SB_PID || a[1] != SB_PID)
		return -ESRCH;
	return raise_signal(sb, a[2]);
}

/* ---- futex: one thread, so nothing can ever wake a waiter ---- */

static long sys_futex(sandbox_t *sb, const uint64_t a[6])
{
	int op = (int)(a[1] & FUTEX_CMD_MASK);
	if (op == FUTEX_WAKE || op == FUTEX_WAKE_BITSET)
		return 0;
	if (op != FUTEX_WAIT && op != FUTEX_WAIT_BITSET)
		return -ENOSYS;
	uint32_t value;
	if (a[0] % 4 || sb_copy_in(sb, &value, a[0], sizeof(value)) < 0)
		return -EFAULT;
	if (value != (uint32_t)a[2])
		return -EAGAIN;
	if (a[3])
		return -ETIMEDOUT;
	sb_finish(sb, KVMINI_E_GUEST, KVMINI_E_HOST,
		  "deadlock: the program waits on a futex and has no other thread to wake it");
	return 0;
}

/* ---- serving ---- */

static long sys_serve(sandbox_t *sb, const uint64_t a[6])
{
	if (!sb->serving)
		return -ENOSYS;   /* a plain run: the program may fall back to stdin */
	sb->at_serve = true;
	sb->serve_in = a[0];
	sb->serve_in_cap = a[1];
	sb->serve_out = a[2];
	sb->serve_out_len = a[3];
	return 0;
}

/* ---- the table ---- */

#define SYS(name, fn_, n) [SYS_##name] = { #name, fn_, n }
#define SB_NR_MAX 448

static const struct sb_syscall_desc table[SB_NR_MAX] = {
	SYS(read, sb_sys_read, 3),
	SYS(write, sb_sys_write, 3),
	SYS(open, sb_sys_open, 3),
	SYS(close, sb_sys_close, 1),
	SYS(stat, sb_sys_stat, 2),
	SYS(fstat, sb_sys_fstat, 2),
	SYS(lstat, sb_sys_lstat, 2),
	SYS(lseek, sb_sys_lseek, 3),
	SYS(mmap, sb_sys_mmap, 6),
	SYS(mprotect, sb_sys_mprotect, 3),
	SYS(munmap, sb_sys_munmap, 2),
	SYS(brk, sb_sys_brk, 1),
	SYS(rt_sigaction, sys_rt_sigaction, 4),
	SYS(rt_sigprocmask, sys_rt_sigprocmask, 4),
	SYS(ioctl, sb_sys_ioctl, 3),
	SYS(pread64, sb_sys_pread64, 4),
	SYS(pwrite64, sb_sys_pwrite64, 4),
	SYS(readv, sb_sys_readv, 3),
	SYS(writev, sb_sys_writev, 3),
	SYS(access, sb_sys_access, 2),
	SYS(sched_yield, sys_sched_yield, 0),
	SYS(mremap, sb_sys_mremap, 5),
	SYS(madvise, sb_sys_madvise, 3),
	SYS(dup, sb_sys_dup, 1),
	SYS(dup2, sb_sys_dup2, 2),
	SYS(nanosleep, sys_nanosleep, 2),
	SYS(getpid, sys_getpid, 0),
	SYS(exit, sys_exit_group, 1),
	SYS(kill, sys_kill, 2),
	SYS(uname, sys_uname, 1),
	SYS(fcntl, sb_sys_fcntl, 3),
	SYS(fsync, sb_sys_fsync, 1),
	SYS(fdatasync, sb_sys_fsync, 1),
	SYS(ftruncate, sb_sys_ftruncate, 2),
	SYS(getcwd, sb_sys_getcwd, 2),
	SYS(chdir, sb_sys_chdir, 1),
	SYS(rename, sb_sys_rename, 2),
	SYS(mkdir, sb_sys_mkdir, 2),
	SYS(unlink, sb_sys_unlink, 1),
	SYS(readlink, sb_sys_readlink, 3),
	SYS(umask, sys_umask, 1),
	SYS(gettimeofday, sys_gettimeofday, 2),
	SYS(getrlimit, sys_getrlimit, 2),
	SYS(getuid, sys_getuid, 0),
	SYS(getgid, sys_getgid, 0),
	SYS(geteuid, sys_geteuid, 0),
	SYS(getegid, sys_getegid, 0),
	SYS(getppid, sys_getppid, 0),
	SYS(getpgrp, sys_getpgrp, 0),
	SYS(sigaltstack, sys_sigaltstack, 2),
	SYS(prctl, sys_prctl, 5),
	SYS(arch_prctl, sys_arch_prctl, 2),
	SYS(gettid, sys_getpid, 0),
	SYS(tkill, sys_tkill, 2),
	SYS(time, sys_time, 1),
	SYS(futex, sys_futex, 6),
	SYS(getdents64, sb_sys_getdents64, 3),
	SYS(set_tid_address, sys_set_tid_address, 1),
	SYS(fadvise64, sb_sys_fadvise64, 4),
	SYS(clock_gettime, sys_clock_gettime, 2),
	SYS(clock_getres, sys_clock_getres, 2),
	SYS(clock_nanosleep, sys_clock_nanosleep, 4),
	SYS(exit_group, sys_exit_group, 1),
	SYS(tgkill, sys_tgkill, 3),
	SYS(openat, sb_sys_openat, 4),
	SYS(mkdirat, sb_sys_mkdirat, 3),
	SYS(newfstatat, sb_sys_newfstatat, 4),
	SYS(unlinkat, sb_sys_unlinkat, 3),
	SYS(renameat, sb_sys_renameat, 4),
	SYS(readlinkat, sb_sys_readlinkat, 4),
	SYS(faccessat, sb_sys_faccessat, 3),
	SYS(set_robust_list, sys_set_robust_list, 2),
	SYS(dup3, sb_sys_dup3, 3),
	SYS(prlimit64, sys_prlimit64, 4),
	SYS(getrandom, sys_getrandom, 3),
	SYS(rseq, sys_rseq, 4),
	SYS(faccessat2, sb_sys_faccessat2, 4),
};

static const struct sb_syscall_desc serve_desc = { "kvmini_serve", sys_serve, 4 };

const struct sb_syscall_desc *sb_syscall_lookup(uint64_t nr)
{
	if (nr == (uint64_t)KVMINI_SANDBOX_SYS_SERVE)
		return &serve_desc;
	if (nr >= SB_NR_MAX || !table[nr].fn)
		return NULL;
	return &table[nr];
}

static void trace_call(sandbox_t *sb, uint64_t nr, const struct sb_syscall_desc *d,
		       const uint64_t a[6], long r)
{
	char line[512];
	int n = d ? snprintf(line, sizeof(line), "[sandbox] %s(", d->name)
		  : snprintf(line, sizeof(line), "[sandbox] syscall_%llu(", (unsigned long long)nr);
	unsigned nargs = d ? d->nargs : 6;
	for (unsigned i = 0; i < nargs && n > 0 && (size_t)n < sizeof(line); i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, a[i] < 4096 ? "%s%llu" : "%s0x%llx",
			      i ? ", " : "", (unsigned long long)a[i]);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	if (r < 0 && r > -4096)
		sb_log(sb, "%.*s) = -1 %s (%s)\n", n, line,
		       strerrorname_np((int)-r) ? strerrorname_np((int)-r) : "E?", strerror((int)-r));
	else
		sb_log(sb, r >= 4096 || r < 0 ? "%.*s) = 0x%lx\n" : "%.*s) = %ld\n", n, line, r);
}

void sb_syscall(sandbox_t *sb, struct kvm_regs *regs)
{
	uint64_t nr = regs->rax;
	const uint64_t a[6] = { regs->rdi, regs->rsi, regs->rdx, regs->r10, regs->r8, regs->r9 };
	const struct sb_syscall_desc *d = sb_syscall_lookup(nr);
	long r = d ? d->fn(sb, a) : -ENOSYS;
	sb->stats.syscalls++;
	if (sb->trace)
		trace_call(sb, nr, d, a, r);
	else if (!d && sb->verbose)
		sb_log(sb, "kvmini: unsupported system call %llu (returned ENOSYS)\n",
		       (unsigned long long)nr);
	regs->rax = (uint64_t)r;
}
