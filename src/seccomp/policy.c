/* What each thread role may call. A role is a few groups of system
 * calls and of ioctl request numbers; docs/security.md has the same
 * lists with the reasoning, group by group.
 *
 * Rules that take arguments into account (src/seccomp/filter.c):
 * mmap and mprotect never with PROT_EXEC (no role maps code after
 * set-up: dlopen of the decompressors happens while loading, before any
 * filter); ioctl only with the role's request numbers; clone only for a
 * thread (CLONE_THREAD), clone3 answered ENOSYS so glibc falls back to
 * clone, whose flags a filter can read; tgkill only to this process;
 * rt_sigaction never for SIGSYS, so nothing can take the violation
 * handler away; prctl only for names and for installing a filter.
 *
 * Where unsure, a role is generous: a filter too tight kills a real
 * guest on a KVM host, and glibc calls some of these behind the code's
 * back (futex, madvise and munmap when a thread ends, getrandom for
 * malloc, mremap for realloc). Nothing here is a path: which files a
 * thread may open is beyond seccomp (the jail and the sandbox's
 * openat2(RESOLVE_BENEATH) handle that). */
#include <asm/ioctls.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <sys/syscall.h>
#include "seccomp/policy.h"

/* ---- system calls, in groups (each ends with -1) ---- */

/* Every thread: locks, its own end, signals' return, time, memory
 * (no PROT_EXEC), stderr lines (the violation message too), an
 * alternate signal stack (ASan sets one up and takes it down in every
 * thread). setresuid,
 * setresgid and setgroups: glibc applies a privilege drop to every
 * thread by signalling each to make the call itself, so a thread
 * filtered before the drop must be able to; after it no capability is
 * left to regain anything with them. */
static const int sys_base[] = {
	SYS_futex, SYS_exit, SYS_exit_group, SYS_rt_sigreturn, SYS_rt_sigprocmask,
	SYS_restart_syscall, SYS_clock_gettime, SYS_clock_getres, SYS_gettimeofday,
	SYS_clock_nanosleep, SYS_nanosleep, SYS_time, SYS_sched_yield, SYS_getpid, SYS_gettid,
	SYS_tgkill, SYS_brk, SYS_mmap, SYS_munmap, SYS_mremap, SYS_madvise, SYS_mprotect,
	SYS_getrandom, SYS_write, SYS_ioctl, SYS_sigaltstack,
	SYS_setresuid, SYS_setresgid, SYS_setgroups,
	-1
};

/* A machine's vCPU: KVM_RUN (ioctl), guest output (write, or send on a
 * socket, and poll for the bounded wait of src/devices/char_out.c),
 * device reads of eventfds, the PIT's timerfd re-armed by a guest's
 * reprogramming, a device changing an event-loop registration. */
static const int sys_vcpu[] = {
	SYS_read, SYS_writev, SYS_sendto, SYS_poll, SYS_ppoll, SYS_timerfd_settime,
	SYS_timerfd_gettime, SYS_epoll_ctl, SYS_fstat, SYS_newfstatat,
	SYS_io_uring_enter,   /* a guest's device reset waits for virtio-blk's requests */
	SYS_close,            /* ... and drops virtio-vsock's connections */
	-1
};

/* An event loop (the VM's and the control API's): waiting, its eventfds
 * and timerfds, handlers that end (close), console input (read). */
static const int sys_loop[] = {
	SYS_epoll_wait, SYS_epoll_pwait, SYS_epoll_ctl, SYS_read, SYS_writev, SYS_sendto,
	SYS_poll, SYS_ppoll, SYS_timerfd_settime, SYS_timerfd_gettime, SYS_close,
	SYS_io_uring_enter,   /* virtio-blk submits and reaps its requests on kicks (and a
			       * snapshot, on the API's loop, waits for them) */
	-1
};

/* virtio-net's and virtio-vsock's backends, on the event loop: the
 * tap's frames, libslirp's sockets (outbound TCP/UDP, DNS through the
 * host's resolver, whose /etc/resolv.conf it reads and stats), vsock's
 * Unix sockets (a guest's connection to a host port is a connect to
 * PATH_PORT). Generous where unsure: none of it ran here with a guest. */
static const int sys_net[] = {
	SYS_socket, SYS_connect, SYS_accept, SYS_accept4, SYS_bind, SYS_listen, SYS_getsockopt,
	SYS_setsockopt, SYS_getsockname, SYS_getpeername, SYS_sendto, SYS_sendmsg,
	SYS_recvfrom, SYS_recvmsg, SYS_shutdown, SYS_fcntl, SYS_readv, SYS_writev,
	SYS_openat, SYS_open, SYS_fstat, SYS_newfstatat, SYS_lseek, SYS_unlink,
	-1
};

/* virtio-blk's I/O threads: the requests on the image's fd, and the
 * completion eventfd (write, in base). */
static const int sys_blkio[] = {
	SYS_preadv, SYS_pwritev, SYS_pread64, SYS_pwrite64, SYS_fdatasync, SYS_fsync,
	SYS_fallocate,
	-1
};

/* The control API's clients: accepted, read, answered, closed. */
static const int sys_api[] = {
	SYS_accept4, SYS_recvfrom, SYS_shutdown, SYS_fcntl, SYS_fstat, SYS_newfstatat,
	-1
};

/* The control API's files: PUT /logger and /metrics open their output
 * (and metrics lines are written to it), PUT /snapshot/create writes
 * the snapshot beside its name and renames it over it, and the memory
 * file (pwrite, ftruncate to the RAM's size, fdatasync). The paths are
 * the client's: the jail's chroot bounds where they can be. */
static const int sys_api_files[] = {
	SYS_openat, SYS_open, SYS_pwrite64, SYS_ftruncate, SYS_fdatasync, SYS_fsync,
	SYS_rename, SYS_renameat, SYS_unlink, SYS_lseek,
	-1
};

/* The gdb stub: its listening socket and client, its wake eventfd, the
 * Unix socket's path removed when it ends. */
static const int sys_gdb[] = {
	SYS_poll, SYS_ppoll, SYS_accept4, SYS_setsockopt, SYS_recvfrom, SYS_sendto, SYS_read,
	SYS_close, SYS_shutdown, SYS_unlink,
	-1
};

/* The VNC server's thread (libvncserver, src/display/vnc.c): its
 * listening socket and viewers (select, accept, non-blocking reads and
 * writes, TCP_NODELAY, the peer's address for its log, the descriptor
 * limit it checks before taking a viewer). Its one-time set-up that
 * opens files (libgcrypt's, the log's time zone) is done before the
 * filter, on the thread that starts it. */
static const int sys_vnc[] = {
	SYS_select, SYS_pselect6, SYS_poll, SYS_ppoll, SYS_accept, SYS_accept4, SYS_getpeername,
	SYS_getsockname, SYS_fcntl, SYS_setsockopt, SYS_read, SYS_recvfrom, SYS_writev,
	SYS_sendto, SYS_close, SYS_shutdown, SYS_getrlimit, SYS_prlimit64,
	-1
};

/* kvmini exec's vCPU performs the program's calls on the host: on the
 * granted directories (opened with openat2(RESOLVE_BENEATH) only, so no
 * plain open/openat), its descriptors, time and randomness. */
static const int sys_exec[] = {
	SYS_openat2, SYS_read, SYS_pread64, SYS_readv, SYS_pwrite64, SYS_writev, SYS_lseek,
	SYS_close, SYS_fstat, SYS_newfstatat, SYS_statx, SYS_getdents64, SYS_readlinkat,
	SYS_mkdirat, SYS_unlinkat, SYS_renameat, SYS_renameat2, SYS_faccessat,
	SYS_faccessat2, SYS_ftruncate, SYS_fsync, SYS_fdatasync, SYS_fadvise64, SYS_fcntl,
	SYS_uname, SYS_poll, SYS_ppoll,
	SYS_getuid, SYS_geteuid, SYS_getgid, SYS_getegid,   /* the program's ids are kvmini's */
	-1
};

/* What a thread that starts threads needs, in itself and in each new
 * thread until that one installs its own filter (which it does under
 * this one): clone (threads only), the new thread's start in glibc, its
 * name, and the filter installation itself (seccomp() can only add
 * restrictions). */
static const int sys_spawn[] = {
	SYS_clone, SYS_clone3, SYS_set_robust_list, SYS_rseq, SYS_sigaltstack, SYS_prctl,
	SYS_seccomp,
	-1
};

/* The main thread after set-up: a --on-reset restart builds a whole VM
 * again (opens /dev/kvm and /proc/self/fd/N for output, guest RAM,
 * eventfds, timerfds), and teardown closes it all; the console restores
 * the terminal and its signal handlers; the API's socket is removed. */
static const int sys_main[] = {
	SYS_openat, SYS_open, SYS_close, SYS_read, SYS_fstat, SYS_newfstatat, SYS_lseek,
	SYS_fcntl, SYS_dup, SYS_memfd_create, SYS_ftruncate, SYS_fallocate, SYS_eventfd2,
	SYS_timerfd_create, SYS_epoll_create1, SYS_rt_sigaction, SYS_unlink,
	SYS_wait4, SYS_rt_sigtimedwait, SYS_shutdown, SYS_access, SYS_faccessat,
	SYS_io_uring_setup, SYS_io_uring_register, SYS_io_uring_enter, SYS_pread64,
	-1
};

/* What LSan's leak check does at exit, on the main thread (sanitizer
 * builds only, the tests' build): reads /proc/self/maps and the task
 * list, and stops the world with a ptrace-ing helper (not a
 * CLONE_THREAD clone, hence the spawn rule's exception) that sets
 * handlers for the synchronous signals (rt_sigaction, never SIGSYS). ASan's and
 * UBSan's reports in other threads go to stderr; one that needs a log
 * file there finds open refused (EACCES), says so and still exits 222. */
static const int sys_sanitizer[] = {
	SYS_openat, SYS_open, SYS_close, SYS_read, SYS_pread64, SYS_readlink, SYS_readlinkat,
	SYS_getdents64, SYS_getdents, SYS_lseek, SYS_fstat, SYS_newfstatat, SYS_ptrace, SYS_wait4,
	SYS_waitid, SYS_process_vm_readv, SYS_sched_getaffinity, SYS_sigaltstack, SYS_prctl,
	SYS_clone, SYS_getppid, SYS_kill, SYS_pipe2, SYS_dup2, SYS_dup3, SYS_uname,
	SYS_getrlimit, SYS_prlimit64, SYS_rt_sigaction,
	-1
};

/* ---- ioctl request numbers (each group ends with 0) ---- */

/* The terminal: the console's fatal-signal handler restores it from
 * whichever thread takes the signal. */
static const unsigned long ioctl_terminal[] = {
	TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, 0
};

/* A vCPU running and its state (the run loop's register dumps, exit
 * hooks, the gdb stub's registers and breakpoints, the reset of a wake
 * from ACPI S3, which sets the MP state too). */
static const unsigned long ioctl_vcpu[] = {
	KVM_RUN, KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS, KVM_GET_FPU,
	KVM_SET_FPU, KVM_GET_XSAVE, KVM_SET_XSAVE, KVM_GET_XCRS, KVM_SET_XCRS, KVM_GET_MSRS,
	KVM_SET_MSRS, KVM_GET_LAPIC, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS,
	KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, KVM_GET_MP_STATE, KVM_SET_MP_STATE,
	KVM_INTERRUPT, KVM_NMI,
	KVM_SET_GUEST_DEBUG, KVM_TRANSLATE, 0
};

/* Interrupts on the VM fd: lines, routes (kvmini's IOAPIC rewrites
 * them when the guest reprograms it), doorbells bound and unbound as a
 * device moves (PCI BARs). */
/* A tap's offloads follow what the guest's driver negotiated (on the
 * vCPU that writes DRIVER_OK, or the event loop); the main thread opens
 * the tap again at a restart. */
static const unsigned long ioctl_tap[] = {
	TUNSETVNETHDRSZ, TUNSETOFFLOAD, TUNSETIFF, TUNGETIFF, FIONREAD, 0
};

static const unsigned long ioctl_irq[] = {
	KVM_IRQ_LINE, KVM_IRQ_LINE_STATUS, KVM_SET_GSI_ROUTING, KVM_SIGNAL_MSI, KVM_IRQFD,
	KVM_IOEVENTFD, KVM_GET_IRQCHIP, KVM_SET_IRQCHIP, 0
};

/* A snapshot: every vCPU's and the VM's state read (the API thread,
 * while the vCPUs are paused), and written back by a restore. */
static const unsigned long ioctl_snapshot[] = {
	KVM_GET_REGS, KVM_GET_SREGS, KVM_GET_FPU, KVM_GET_XSAVE, KVM_GET_XCRS, KVM_GET_MSRS,
	KVM_GET_LAPIC, KVM_GET_VCPU_EVENTS, KVM_GET_DEBUGREGS, KVM_GET_MP_STATE,
	KVM_GET_IRQCHIP, KVM_GET_PIT2, KVM_GET_CLOCK, KVM_GET_DIRTY_LOG,
	KVM_GET_CPUID2,           /* the CPUID each vCPU was given (vm_state.c) */
	KVM_GET_MSR_INDEX_LIST,   /* which MSRs to save, asked of /dev/kvm */
	KVM_SET_LAPIC, KVM_SET_MP_STATE, KVM_SET_PIT2, KVM_SET_CLOCK, 0
};

/* Memory behind a PCI BAR (the Bochs display's video memory) follows
 * the BAR when the guest moves it: a vCPU's config write deletes the
 * KVM slot and adds it at the new place (vm_map_movable()). */
static const unsigned long ioctl_bar_memory[] = {
	KVM_SET_USER_MEMORY_REGION, 0
};

/* Building a VM again (main thread, --on-reset restart). */
static const unsigned long ioctl_build[] = {
	KVM_GET_API_VERSION, KVM_CHECK_EXTENSION, KVM_CREATE_VM, KVM_GET_VCPU_MMAP_SIZE,
	KVM_GET_SUPPORTED_CPUID, KVM_GET_MSR_INDEX_LIST, KVM_GET_MSR_FEATURE_INDEX_LIST,
	KVM_SET_TSS_ADDR, KVM_SET_IDENTITY_MAP_ADDR, KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2,
	KVM_ENABLE_CAP, KVM_SET_USER_MEMORY_REGION, KVM_CREATE_VCPU, KVM_SET_CPUID2,
	KVM_GET_CPUID2,
	KVM_GET_TSC_KHZ,   /* CPUID leaves 0x15/0x16 tell the guest its TSC rate */
	BLKGETSIZE64,   /* a virtio-blk disk on a block device, opened again */
	0
};

/* The VNC thread reads the framebuffer's dirty log; a viewer's keys and
 * pointer reach the i8042, whose interrupt lines it raises (ioctl_irq;
 * a kick of the boot CPU is a tgkill, in sys_base). */
static const unsigned long ioctl_vnc[] = {
	KVM_GET_DIRTY_LOG, 0
};

/* kvmini exec's vCPU: registers, MSRs (arch_prctl's FS base), the FPU
 * state a --serve snapshot saves and restores, the dirty log of its
 * snapshots (and its memory slot's flag that turns it on at the first
 * serve call), and the program's two terminal queries. */
static const unsigned long ioctl_exec[] = {
	KVM_RUN, KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS, KVM_GET_MSRS,
	KVM_SET_MSRS, KVM_GET_XSAVE, KVM_SET_XSAVE, KVM_GET_XCRS, KVM_SET_XCRS,
	KVM_GET_DIRTY_LOG, KVM_SET_USER_MEMORY_REGION, TCGETS, TIOCGWINSZ, 0
};

#define GROUPS(...) { __VA_ARGS__, NULL }

static const struct seccomp_policy policies[SECCOMP_ROLES] = {
	[SECCOMP_ROLE_MAIN] = {
		.name = "main",
		.sys = GROUPS(sys_base, sys_spawn, sys_main, sys_vcpu, sys_loop, sys_blkio, sys_net),
		.ioctl = GROUPS(ioctl_terminal, ioctl_vcpu, ioctl_irq, ioctl_build, ioctl_snapshot,
				ioctl_tap),
		.spawns_threads = true, .sets_signals = true,
	},
	[SECCOMP_ROLE_VCPU] = {
		.name = "vcpu",
		.sys = GROUPS(sys_base, sys_vcpu),
		.ioctl = GROUPS(ioctl_terminal, ioctl_vcpu, ioctl_irq, ioctl_tap, ioctl_bar_memory),
	},
	[SECCOMP_ROLE_EVLOOP] = {
		.name = "evloop",
		.sys = GROUPS(sys_base, sys_loop, sys_net),
		.ioctl = GROUPS(ioctl_terminal, ioctl_irq, ioctl_tap),
	},
	[SECCOMP_ROLE_API] = {
		.name = "api",
		.sys = GROUPS(sys_base, sys_loop, sys_api, sys_api_files),
		.ioctl = GROUPS(ioctl_terminal, ioctl_snapshot),
	},
	[SECCOMP_ROLE_GDB] = {
		.name = "gdb",
		.sys = GROUPS(sys_base, sys_gdb),
		.ioctl = GROUPS(ioctl_terminal, ioctl_vcpu),
	},
	[SECCOMP_ROLE_EXEC] = {
		.name = "exec",
		.sys = GROUPS(sys_base, sys_exec),
		.ioctl = GROUPS(ioctl_exec),
	},
	[SECCOMP_ROLE_BLKIO] = {
		.name = "blkio",
		.sys = GROUPS(sys_base, sys_blkio),
		.ioctl = GROUPS(ioctl_terminal),
	},
	[SECCOMP_ROLE_VNC] = {
		.name = "vnc",
		.sys = GROUPS(sys_base, sys_vnc),
		.ioctl = GROUPS(ioctl_terminal, ioctl_irq, ioctl_vnc),
	},
	[SECCOMP_ROLE_EXEC_MAIN] = {
		.name = "exec-main",
		.sys = GROUPS(sys_base, sys_spawn, sys_exec),
		.ioctl = GROUPS(ioctl_terminal, ioctl_exec),
		.spawns_threads = true,
	},
};

const struct seccomp_policy *seccomp_policy_of(enum seccomp_role role)
{
	return role < SECCOMP_ROLES ? &policies[role] : NULL;
}

const int *seccomp_policy_sanitizer(void)
{
	return sys_sanitizer;
}

const char *seccomp_role_name(enum seccomp_role role)
{
	return role < SECCOMP_ROLES ? policies[role].name : "?";
}

bool seccomp_role_lists(enum seccomp_role role, int nr)
{
	const struct seccomp_policy *p = seccomp_policy_of(role);
	for (unsigned g = 0; p && p->sys[g]; g++)
		for (const int *s = p->sys[g]; *s >= 0; s++)
			if (*s == nr)
				return true;
	return false;
}
