/* libkvmini sandbox mode: run a static x86-64 Linux program inside a VM
 * that has no guest operating system. The program runs at CPL3 on page
 * tables the host builds; its system calls leave the VM through one port
 * write and the host performs them under a policy (files only under
 * granted directories, memory inside a limit). docs/sandbox.md describes
 * the design, the supported system calls and the limits.
 *
 * Errors are values (struct kvmini_error); nothing here exits. */
#ifndef KVMINI_SANDBOX_H
#define KVMINI_SANDBOX_H

#include "kvmini.h"

/* A host directory the program may use, seen at `guest` (an absolute
 * path) inside the sandbox. */
struct kvmini_sandbox_grant {
	const char *host;
	const char *guest;
	bool writable;
};

struct kvmini_sandbox_config {
	uint64_t mem_size;          /* guest RAM: page tables, program, heap, stack */
	double timeout;             /* seconds for one run or call; 0 = none */
	unsigned max_files;         /* open files at once, standard streams included */
	bool verbose;               /* report unsupported calls and why the run ended */
	bool trace;                 /* print every system call, like strace */
	int log_fd;                 /* where diagnostics go */
	int stdio_fds[3];           /* the host fds behind the program's 0, 1, 2 */
	const struct kvmini_sandbox_grant *grants;
	unsigned ngrants;
	const char *cwd;            /* initial working directory (guest path); NULL = "/" */
	const char *const *argv;    /* argv[0] is the program's name; NULL-terminated */
	const char *const *envp;    /* NULL-terminated; NULL = empty environment */
	/* The vCPU thread's seccomp filter, the tightest of kvmini's: it
	 * performs the program's system calls (docs/security.md). Default
	 * OFF in the library; `kvmini exec` turns it on. */
	enum kvmini_seccomp seccomp;
};

/* Defaults: 256 MiB, no timeout, 64 files, stdio 0/1/2, log on stderr. */
void kvmini_sandbox_config_defaults(struct kvmini_sandbox_config *cfg);

struct kvmini_sandbox;

/* Build a VM for the static ELF executable `elf` (size bytes; `path`
 * names it in messages and is its AT_EXECFN). Nothing runs yet. Bad
 * programs and bad configurations fail with KVMINI_E_USAGE. */
struct kvmini_sandbox *kvmini_sandbox_create(const struct kvmini_sandbox_config *cfg,
					     const uint8_t *elf, size_t size,
					     const char *path,
					     struct kvmini_error *err);

/* Run the program until it exits, crashes, or the timeout passes.
 * out->exit_status is what a shell would see: the exit code, 128+signal
 * after a crash, 124 after a timeout, or a kvmini status (4) when the
 * host failed. Returns out->exit_status. */
int kvmini_sandbox_run(struct kvmini_sandbox *sb, struct kvmini_result *out);

/* ---- repeated calls ----
 * A serving program initialises itself, then loops on the "serve" system
 * call (number KVMINI_SANDBOX_SYS_SERVE, see tests/sandbox/serve.h):
 *
 *     long n = syscall(KVMINI_SANDBOX_SYS_SERVE, in, in_cap, out, out_len);
 *
 * The first serve call marks the ready point: the host snapshots the
 * registers, guest memory and its own state there. Each call then
 * restores the ready state (only the pages the previous call dirtied),
 * writes the input into `in`, returns its length from the serve call, and
 * runs the program until its next serve call, whose out/out_len are the
 * reply. */
#define KVMINI_SANDBOX_SYS_SERVE 0x4b560001L

/* Run the program to its first serve call: 0 once it is ready; -1 when
 * it ended before getting there (out says how). */
int kvmini_sandbox_start(struct kvmini_sandbox *sb, struct kvmini_result *out);

/* One call: input in, reply copied to reply (at most reply_cap bytes;
 * *reply_len is the reply's full length). Returns 0 and out->status
 * KVMINI_OK when the program answered; otherwise out says how the call
 * ended (a crash or a timeout ends the sandbox: later calls fail). */
int kvmini_sandbox_call(struct kvmini_sandbox *sb, const void *input, size_t input_len,
			void *reply, size_t reply_cap, size_t *reply_len,
			struct kvmini_result *out);

struct kvmini_sandbox_stats {
	uint64_t exits;             /* VM exits to the host, all runs and calls */
	uint64_t syscalls;          /* system calls served */
	uint64_t calls;             /* completed kvmini_sandbox_call()s */
	uint64_t pages_restored;    /* pages copied back by resets */
	uint64_t last_call_exits;   /* VM exits during the last call */
	uint64_t last_call_pages;   /* pages restored before the last call */
};
void kvmini_sandbox_stats(const struct kvmini_sandbox *sb, struct kvmini_sandbox_stats *out);

void kvmini_sandbox_destroy(struct kvmini_sandbox *sb);

#endif
