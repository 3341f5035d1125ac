/* What this host's KVM does with guest debugging, found by running a
 * few instructions in a scratch VM. Hosts differ: with VT-x or SVM every
 * KVM_GUESTDBG_* feature raises KVM_EXIT_DEBUG; a host that emulates
 * guest kernel code (PVM) single-steps and checks instruction
 * breakpoints in its emulator, but never raises data breakpoints and
 * fails to emulate int3 (KVM_EXIT_INTERNAL_ERROR). The stub adapts to
 * the answers; the tests print them. */
#ifndef KVMINI_GDB_PROBE_H
#define KVMINI_GDB_PROBE_H

#include <stdbool.h>
#include "error.h"

enum gdb_int3_report {
	GDB_INT3_DEBUG_EXIT,          /* KVM_EXIT_DEBUG, exception 3 */
	GDB_INT3_EMULATION_FAILURE,   /* KVM_EXIT_INTERNAL_ERROR, emulation, pc at the int3 */
	GDB_INT3_OTHER,
};

struct gdb_host_debug {
	bool single_step;         /* KVM_GUESTDBG_SINGLESTEP stops after one instruction */
	bool exec_breakpoints;    /* a DR7 execute slot stops before the instruction */
	bool data_breakpoints;    /* a DR7 write slot stops after the write */
	enum gdb_int3_report int3;
	/* In real mode an emulating host runs int3 as a real-mode interrupt
	 * through the guest's vector table; KVM never sees it. */
	bool int3_real_mode;
	/* One line each: the ioctl and what KVM_RUN returned. */
	char single_step_note[160], exec_note[160], data_note[160], int3_note[160];
	char int3_real_note[160];
};

int gdb_probe_host(struct gdb_host_debug *host, struct kvmini_error *err);

#endif
