/* Breakpoint and watchpoint bookkeeping for the gdb stub, apart from
 * KVM so it can be unit-tested on plain guest memory.
 *
 * - Software breakpoints: an int3 (0xcc) written over the first byte of
 *   an instruction; the original byte is kept, restored on removal, and
 *   shown instead of the int3 to every debugger read.
 * - Hardware breakpoints and watchpoints: the four x86 debug-register
 *   slots, turned into DR0-DR3 and DR7 for KVM_SET_GUEST_DEBUG. A slot
 *   may also serve a software breakpoint (type GDB_POINT_SW) where an
 *   int3 would not reach the debugger (real mode on an emulating host).
 * - Stepped watchpoints: where the host's KVM never raises data
 *   breakpoints (it emulates guest kernel code), the stub single-steps
 *   and compares the watched bytes after every instruction instead.
 *
 * Addresses: `addr` is the guest-linear address gdb named; `gpa` is where
 * it was mapped when the point was inserted (the caller translates). */
#ifndef KVMINI_GDB_BREAKPOINTS_H
#define KVMINI_GDB_BREAKPOINTS_H

#include <stdbool.h>
#include <stdint.h>
#include "memory.h"

#define GDB_MAX_SW_BREAKPOINTS 256
#define GDB_HW_SLOTS 4
#define GDB_MAX_STEPPED_WATCHES 16
#define GDB_INT3 0xcc

/* Z packet types. */
enum gdb_point_type {
	GDB_POINT_SW = 0, GDB_POINT_HW = 1,
	GDB_POINT_WRITE = 2, GDB_POINT_READ = 3, GDB_POINT_ACCESS = 4,
};

struct gdb_sw_breakpoint {
	gva_t addr;
	gpa_t gpa;
	uint8_t saved;        /* the byte the int3 covers */
};

struct gdb_hw_slot {
	bool used;
	uint8_t type;         /* GDB_POINT_SW .. GDB_POINT_ACCESS */
	uint8_t len;          /* 1, 2, 4 or 8; 1 for execution */
	gva_t addr;
};

struct gdb_stepped_watch {
	gva_t addr;
	gpa_t gpa;
	uint8_t len;          /* 1..8, within one page */
	uint8_t last[8];      /* the value seen after the previous instruction */
};

struct gdb_breakpoints {
	struct gdb_sw_breakpoint sw[GDB_MAX_SW_BREAKPOINTS];
	unsigned nsw;
	struct gdb_hw_slot hw[GDB_HW_SLOTS];
	struct gdb_stepped_watch watch[GDB_MAX_STEPPED_WATCHES];
	unsigned nwatch;
};

/* Error values of the insert functions. */
enum { GDB_BP_OK = 0, GDB_BP_FULL = -1, GDB_BP_FAULT = -2, GDB_BP_INVALID = -3,
       GDB_BP_UNAVAILABLE = -4 /* this host's KVM cannot deliver it */ };

void gdb_bp_init(struct gdb_breakpoints *bps);

/* Idempotent: inserting an existing breakpoint or removing a missing one
 * succeeds. Removal leaves memory alone if the guest overwrote the int3. */
int gdb_sw_insert(struct gdb_breakpoints *bps, const struct guest_memory *mem,
		  gva_t addr, gpa_t gpa);
int gdb_sw_remove(struct gdb_breakpoints *bps, const struct guest_memory *mem, gva_t addr);
void gdb_sw_remove_all(struct gdb_breakpoints *bps, const struct guest_memory *mem);
const struct gdb_sw_breakpoint *gdb_sw_find(const struct gdb_breakpoints *bps, gva_t addr);
/* Replace planted int3s in buf (a copy of guest memory at gpa) by the
 * bytes they cover. */
void gdb_sw_hide(const struct gdb_breakpoints *bps, gpa_t gpa, uint8_t *buf, uint64_t len);
/* After the debugger wrote [gpa, gpa+len): keep the new bytes as the
 * covered ones and plant the int3s again. */
void gdb_sw_rewrite(struct gdb_breakpoints *bps, const struct guest_memory *mem,
		    gpa_t gpa, uint64_t len);

int gdb_hw_insert(struct gdb_breakpoints *bps, unsigned type, gva_t addr, uint64_t len);
int gdb_hw_remove(struct gdb_breakpoints *bps, unsigned type, gva_t addr, uint64_t len);
bool gdb_hw_any(const struct gdb_breakpoints *bps);
/* DR0-DR3 and DR7 (dr[4], dr[5] and dr[6] zero). */
void gdb_hw_debugregs(const struct gdb_breakpoints *bps, uint64_t dr[8]);
/* The used slot whose hit bit is set in DR6, or -1. */
int gdb_hw_slot_hit(const struct gdb_breakpoints *bps, uint64_t dr6);

int gdb_watch_insert(struct gdb_breakpoints *bps, const struct guest_memory *mem,
		     gva_t addr, gpa_t gpa, uint64_t len);
int gdb_watch_remove(struct gdb_breakpoints *bps, gva_t addr, uint64_t len);
/* Take the current values as the reference (before the guest resumes). */
void gdb_watch_snapshot(struct gdb_breakpoints *bps, const struct guest_memory *mem);
/* After one instruction: true when a watched value changed; *addr is the
 * first changed watch's address. Every changed reference is updated. */
bool gdb_watch_changed(struct gdb_breakpoints *bps, const struct guest_memory *mem,
		       gva_t *addr);

#endif
