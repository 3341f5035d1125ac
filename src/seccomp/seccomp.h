/* Seccomp filters, one per thread role. Each of kvmini's threads, once
 * its set-up is done and before it touches anything hostile (the first
 * KVM_RUN, the first client byte), installs the filter of its role on
 * itself: no_new_privs first, then the filter, without TSYNC, so every
 * thread carries only its own list. The lists, and why each entry is
 * there, are in src/seccomp/policy.c and docs/security.md.
 *
 * A forbidden call never runs. In KVMINI_SECCOMP_KILL mode it traps to
 * a SIGSYS handler that writes one line naming the thread and the call
 * (async-signal-safe calls only), then lets the kernel kill the whole
 * process with SIGSYS (exit status 128 + 31 = 159 in a shell).
 * KVMINI_SECCOMP_LOG lets it run and has the kernel log it (audit,
 * dmesg): for finding a missing entry on a new host.
 *
 * Filters are inherited by threads created afterwards and stack: a
 * thread started by a filtered thread is bound by both. So the main
 * thread's list covers what the threads it starts later (vCPUs, the
 * event loop) need, and they narrow it with their own.
 *
 * Depends on libc, libseccomp (Debian's libseccomp-dev) and error.h
 * only, so every layer may install a filter. */
#ifndef KVMINI_SECCOMP_H
#define KVMINI_SECCOMP_H

#include <stdbool.h>
#include "error.h"

enum seccomp_role {
	SECCOMP_ROLE_MAIN,      /* the front end's thread: builds VMs (restarts), waits */
	SECCOMP_ROLE_VCPU,      /* a machine's vCPU: KVM_RUN, devices, guest output */
	SECCOMP_ROLE_EVLOOP,    /* the VM's event loop: timers, doorbells, console input */
	SECCOMP_ROLE_API,       /* the control API's thread: its socket's clients */
	SECCOMP_ROLE_GDB,       /* the gdb stub's socket and the paused vCPUs' state */
	SECCOMP_ROLE_EXEC,      /* kvmini exec's vCPU: the guest's system calls, on files */
	SECCOMP_ROLE_EXEC_MAIN, /* kvmini exec's front end: starts the vCPU, waits */
	SECCOMP_ROLE_BLKIO,     /* virtio-blk's I/O threads (where io_uring is missing) */
	SECCOMP_ROLE_VNC,       /* the VNC server: its viewers, the framebuffer's dirty log */
	SECCOMP_ROLES
};

/* "vcpu", "evloop", ... as in messages and docs. */
const char *seccomp_role_name(enum seccomp_role role);

/* Install the role's filter on the calling thread (nothing for
 * KVMINI_SECCOMP_OFF). The thread's name at this moment is the one the
 * violation message prints. */
int seccomp_role_install(enum seccomp_role role, enum kvmini_seccomp mode,
			 struct kvmini_error *err);

/* Whether the role's list names the system call `nr` at all (whatever
 * its argument rules): for tests and the docs' table. */
bool seccomp_role_lists(enum seccomp_role role, int nr);

/* The name of system call `nr` on x86-64 ("?" when unknown); safe in a
 * signal handler. */
const char *seccomp_syscall_name(long nr);

#endif
