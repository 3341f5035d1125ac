/* The VM side of the gdb stub: what a debugger does to vCPUs, apart from
 * any protocol. It owns the state the vCPU threads share with the stub's
 * server thread (breakpoints, per-vCPU resume actions, pending stop
 * events), turns debug exits into stop events, and pauses, steps and
 * resumes vCPUs through the vm layer's pause functions. It attaches to
 * the run loop as one of the VM's exit hooks (vm.h).
 *
 * Threads: every gdb_target_* function below runs on the stub's server
 * thread; its exit hook runs on vCPU threads. Breakpoints
 * and registers change only while every vCPU is parked. */
#ifndef KVMINI_GDB_TARGET_H
#define KVMINI_GDB_TARGET_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "vm.h"
#include "gdb/breakpoints.h"
#include "gdb/packet.h"
#include "gdb/probe.h"
#include "gdb/regs.h"

enum gdb_action { GDB_ACT_STOP, GDB_ACT_CONTINUE, GDB_ACT_STEP };

enum gdb_stop {
	GDB_STOP_NONE,
	GDB_STOP_TRAP,        /* attach, or a debug exception we did not cause */
	GDB_STOP_INTERRUPT,   /* Ctrl-C */
	GDB_STOP_STEP,
	GDB_STOP_SWBREAK,
	GDB_STOP_HWBREAK,
	GDB_STOP_WATCH,
	GDB_STOP_RWATCH,
	GDB_STOP_AWATCH,
};

struct gdb_event {
	enum gdb_stop kind;
	unsigned cpu;
	uint64_t addr;        /* watched address for watchpoints */
	uint64_t seq;         /* order of arrival */
};

struct gdb_target {
	struct vm *vm;
	int wake_fd;          /* written when an event arrives or the VM stops */
	/* The host's KVM never raises data breakpoints (it emulates guest
	 * kernel code): watch writes by single-stepping instead. */
	bool stepped_watches;
	/* Its int3 never leaves a real-mode guest: serve software
	 * breakpoints there from debug-register slots. */
	bool real_mode_slots;
	/* Its int3 reaches no debugger in any mode (QEMU's TCG, emulating
	 * SVM, does not intercept it): software breakpoints use slots. */
	bool int3_lost;
	/* Debug-register breakpoints fire: without them, and with int3
	 * lost, a breakpoint is refused rather than planted to no effect
	 * (a guest with no #BP handler would triple-fault on it). */
	bool exec_slots;
	struct vm_exit_hooks hooks;

	pthread_mutex_t lock; /* guards everything below */
	bool attached;        /* a debugger owns debug exits */
	bool vm_stopped;
	uint64_t seq;
	struct gdb_breakpoints bps;
	enum gdb_action *action;     /* per vCPU */
	struct gdb_event *pending;   /* per vCPU; kind NONE when empty */
};

/* host: what gdb_probe_host() found, to work around what is missing. */
int gdb_target_init(struct gdb_target *t, struct vm *vm, int wake_fd,
		    const struct gdb_host_debug *host, struct kvmini_error *err);
void gdb_target_fini(struct gdb_target *t);
bool gdb_target_vm_stopped(struct gdb_target *t);

/* Take the debug exits and stop every vCPU. False if the VM is stopping. */
bool gdb_target_attach(struct gdb_target *t);
/* Remove every breakpoint, forget events, let every vCPU run freely. */
void gdb_target_detach(struct gdb_target *t);

/* After a wake-up while vCPUs run: wait until all are parked, then take
 * the earliest pending event. False when there is none, or the VM is
 * stopping (check gdb_target_vm_stopped). */
bool gdb_target_collect(struct gdb_target *t, struct gdb_event *ev);
/* Stop every vCPU at once (Ctrl-C); *ev is a pending event if one came
 * meanwhile, else an interrupt of `cpu`. False if the VM is stopping. */
bool gdb_target_interrupt(struct gdb_target *t, unsigned cpu, struct gdb_event *ev);
/* Resume vCPUs with per-vCPU actions. Returns 1 and fills *ev when an
 * event still pending for a resumed vCPU must be reported instead (no
 * vCPU runs then), 0 when resumed, -1 when KVM refused the debug state. */
int gdb_target_resume(struct gdb_target *t, const enum gdb_action *actions,
		      struct gdb_event *ev, struct kvmini_error *err);

int gdb_target_get_regs(struct gdb_target *t, unsigned cpu, struct gdb_x86_state *st);
int gdb_target_set_regs(struct gdb_target *t, unsigned cpu, const struct gdb_x86_state *st);

/* Guest-virtual memory as vCPU `cpu` sees it. Reads stop at the first
 * unmapped page and return the bytes read, with planted int3s hidden.
 * Writes are all or nothing (-1 when any byte is unmapped). */
uint64_t gdb_target_read(struct gdb_target *t, unsigned cpu, gva_t addr,
			 uint8_t *buf, uint64_t len);
int gdb_target_write(struct gdb_target *t, unsigned cpu, gva_t addr,
		     const uint8_t *buf, uint64_t len);

/* Z and z packets. Returns 0, 1 when this kind of point is unsupported
 * here, or a negative GDB_BP_* error. Software breakpoints inserted while
 * `cpu` is in real mode use a debug-register slot where int3 would not
 * reach the debugger. */
int gdb_target_insert(struct gdb_target *t, unsigned cpu, const struct gdb_point *pt);
int gdb_target_remove(struct gdb_target *t, const struct gdb_point *pt);

#endif
