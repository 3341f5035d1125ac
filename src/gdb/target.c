#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <asm/processor-flags.h>
#include "vcpu.h"
#include "arch/x86/paging.h"
#include "gdb/target.h"

#define DR6_BS (1ULL << 14)     /* single-step trap */
#define BP_VECTOR 3

static bool debug_exit(void *opaque, struct vcpu *vcpu);
static void vm_stopping(void *opaque);

static void wake(struct gdb_target *t)
{
	uint64_t one = 1;
	if (write(t->wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is already non-zero: a wake-up is on its way */
	}
}

int gdb_target_init(struct gdb_target *t, struct vm *vm, int wake_fd,
		    const struct gdb_host_debug *host, struct kvmini_error *err)
{
	memset(t, 0, sizeof(*t));
	t->vm = vm;
	t->wake_fd = wake_fd;
	t->stepped_watches = !host->data_breakpoints;
	t->real_mode_slots = !host->int3_real_mode;
	t->int3_lost = host->int3 == GDB_INT3_OTHER;
	t->exec_slots = host->exec_breakpoints;
	gdb_bp_init(&t->bps);
	t->action = calloc(vm->ncpus, sizeof(*t->action));
	t->pending = calloc(vm->ncpus, sizeof(*t->pending));
	if (!t->action || !t->pending) {
		free(t->action);
		free(t->pending);
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for the gdb stub");
	}
	for (unsigned i = 0; i < vm->ncpus; i++)
		t->action[i] = GDB_ACT_CONTINUE;
	t->hooks = (struct vm_exit_hooks){ .on_exit = debug_exit, .on_stop = vm_stopping, .opaque = t };
	if (vm_add_exit_hooks(vm, &t->hooks, err) < 0) {
		free(t->action);
		free(t->pending);
		return -1;
	}
	pthread_mutex_init(&t->lock, NULL);
	return 0;
}

void gdb_target_fini(struct gdb_target *t)
{
	vm_remove_exit_hooks(t->vm, &t->hooks);
	pthread_mutex_destroy(&t->lock);
	free(t->action);
	free(t->pending);
}

bool gdb_target_vm_stopped(struct gdb_target *t)
{
	pthread_mutex_lock(&t->lock);
	bool stopped = t->vm_stopped;
	pthread_mutex_unlock(&t->lock);
	return stopped;
}

/* ---- vCPU threads: debug exits become events ---- */

static void vm_stopping(void *opaque)
{
	struct gdb_target *t = opaque;
	pthread_mutex_lock(&t->lock);
	t->vm_stopped = true;
	pthread_mutex_unlock(&t->lock);
	wake(t);
}

/* The linear address of the next instruction, for exits that carry none. */
static int linear_pc(struct vcpu *vcpu, uint64_t *pc)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	if (vcpu_get_regs(vcpu, &regs, NULL) < 0 || vcpu_get_sregs(vcpu, &sregs, NULL) < 0)
		return -1;
	*pc = sregs.cs.l ? regs.rip : sregs.cs.base + (regs.rip & 0xffffffffULL);
	return 0;
}

static enum gdb_stop slot_stop(const struct gdb_hw_slot *slot)
{
	switch (slot->type) {
	case GDB_POINT_SW: return GDB_STOP_SWBREAK;
	case GDB_POINT_HW: return GDB_STOP_HWBREAK;
	case GDB_POINT_WRITE: return GDB_STOP_WATCH;
	case GDB_POINT_READ: return GDB_STOP_RWATCH;
	default: return GDB_STOP_AWATCH;
	}
}

/* A #DB exit: a debug-register slot, a single step, or neither. With
 * stepped watchpoints every instruction is a step; most end in NONE,
 * and the vCPU simply goes on. */
static void classify_db(struct gdb_target *t, unsigned cpu, uint64_t dr6, struct gdb_event *ev)
{
	int slot = gdb_hw_slot_hit(&t->bps, dr6);
	if (slot >= 0) {
		ev->kind = slot_stop(&t->bps.hw[slot]);
		ev->addr = t->bps.hw[slot].addr;
	} else if (!(dr6 & DR6_BS)) {
		ev->kind = GDB_STOP_TRAP;
	} else if (t->stepped_watches && gdb_watch_changed(&t->bps, &t->vm->mem, &ev->addr)) {
		ev->kind = GDB_STOP_WATCH;
	} else if (t->action[cpu] == GDB_ACT_STEP) {
		ev->kind = GDB_STOP_STEP;
	}
}

/* Called with t->lock held. Returns whether the exit is ours. */
static bool classify(struct gdb_target *t, struct vcpu *vcpu, uint64_t pc, struct gdb_event *ev)
{
	struct kvm_run *run = vcpu->run;
	if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR) {
		/* A host that emulates guest kernel code cannot emulate int3:
		 * if one of ours sits at pc, that failure is our breakpoint. */
		if (!t->attached || !gdb_sw_find(&t->bps, pc))
			return false;
		ev->kind = GDB_STOP_SWBREAK;
		return true;
	}
	if (!t->attached)
		return true;    /* a late exit after detach: nothing to report */
	if (run->debug.arch.exception == BP_VECTOR)
		ev->kind = gdb_sw_find(&t->bps, pc) ? GDB_STOP_SWBREAK : GDB_STOP_TRAP;
	else
		classify_db(t, vcpu->index, run->debug.arch.dr6, ev);
	return true;
}

/* The exits a debugger may own: KVM_EXIT_DEBUG, and an instruction-
 * emulation failure (how a host that emulates guest kernel code, such
 * as PVM, reports an int3). */
static bool debug_related(const struct kvm_run *run)
{
	return run->exit_reason == KVM_EXIT_DEBUG ||
	       (run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
		run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION);
}

/* The exit hook: true when the exit was ours (the vCPU keeps going,
 * parking first when the event paused the VM). */
static bool debug_exit(void *opaque, struct vcpu *vcpu)
{
	struct gdb_target *t = opaque;
	if (!debug_related(vcpu->run))
		return false;
	uint64_t pc = vcpu->run->debug.arch.pc;
	if (vcpu->run->exit_reason != KVM_EXIT_DEBUG && linear_pc(vcpu, &pc) < 0)
		return false;
	struct gdb_event ev = { .kind = GDB_STOP_NONE, .cpu = vcpu->index };
	pthread_mutex_lock(&t->lock);
	bool ours = classify(t, vcpu, pc, &ev);
	if (ev.kind != GDB_STOP_NONE) {
		ev.seq = ++t->seq;
		t->pending[vcpu->index] = ev;
	}
	pthread_mutex_unlock(&t->lock);
	if (ev.kind != GDB_STOP_NONE) {
		/* This vCPU parks on its way back to KVM_RUN, the others on
		 * their kick; the server thread reports once all are parked. */
		vm_request_pause(t->vm);
		wake(t);
	}
	return ours;
}

/* ---- server thread: stopping and resuming ---- */

static void clear_pending(struct gdb_target *t)
{
	for (unsigned i = 0; i < t->vm->ncpus; i++)
		t->pending[i].kind = GDB_STOP_NONE;
}

bool gdb_target_attach(struct gdb_target *t)
{
	pthread_mutex_lock(&t->lock);
	t->attached = true;
	clear_pending(t);
	for (unsigned i = 0; i < t->vm->ncpus; i++)
		t->action[i] = GDB_ACT_STOP;
	pthread_mutex_unlock(&t->lock);
	return vm_pause_all(t->vm);
}

/* KVM_SET_GUEST_DEBUG for one parked vCPU, from the breakpoints and its
 * action. Nothing to watch for: debugging off, at full speed. */
static int apply_debug(struct gdb_target *t, unsigned cpu, struct kvmini_error *err)
{
	struct kvm_guest_debug dbg;
	memset(&dbg, 0, sizeof(dbg));
	pthread_mutex_lock(&t->lock);
	enum gdb_action a = t->action[cpu];
	bool step = t->attached && (a == GDB_ACT_STEP ||
		    (a == GDB_ACT_CONTINUE && t->stepped_watches && t->bps.nwatch > 0));
	bool sw = t->attached && t->bps.nsw > 0;
	bool hw = t->attached && gdb_hw_any(&t->bps);
	if (step || sw || hw) {
		dbg.control = KVM_GUESTDBG_ENABLE | (sw ? KVM_GUESTDBG_USE_SW_BP : 0) |
			      (hw ? KVM_GUESTDBG_USE_HW_BP : 0) | (step ? KVM_GUESTDBG_SINGLESTEP : 0);
		uint64_t dr[8];
		gdb_hw_debugregs(&t->bps, dr);
		for (int i = 0; i < 8; i++)
			dbg.arch.debugreg[i] = dr[i];
	}
	pthread_mutex_unlock(&t->lock);
	return vcpu_set_guest_debug(&t->vm->vcpus[cpu], &dbg, err);
}

void gdb_target_detach(struct gdb_target *t)
{
	bool paused = vm_pause_all(t->vm);
	pthread_mutex_lock(&t->lock);
	gdb_sw_remove_all(&t->bps, &t->vm->mem);
	gdb_bp_init(&t->bps);
	t->attached = false;
	clear_pending(t);
	for (unsigned i = 0; i < t->vm->ncpus; i++)
		t->action[i] = GDB_ACT_CONTINUE;
	pthread_mutex_unlock(&t->lock);
	struct kvmini_error err;
	for (unsigned i = 0; i < t->vm->ncpus; i++) {
		if (paused && apply_debug(t, i, &err) < 0)
			vm_log(t->vm, "kvmini: gdb: vCPU %u: %s\n", i, err.msg);
		vm_hold_vcpu(t->vm, i, false);
	}
	vm_resume_all(t->vm);
}

/* The earliest pending event of the vCPUs selected by mask (all when
 * mask is NULL); lock held. */
static bool take_earliest(struct gdb_target *t, const enum gdb_action *mask, struct gdb_event *ev)
{
	int best = -1;
	for (unsigned i = 0; i < t->vm->ncpus; i++) {
		if (t->pending[i].kind == GDB_STOP_NONE || (mask && mask[i] == GDB_ACT_STOP))
			continue;
		if (best < 0 || t->pending[i].seq < t->pending[best].seq)
			best = (int)i;
	}
	if (best < 0)
		return false;
	*ev = t->pending[best];
	t->pending[best].kind = GDB_STOP_NONE;
	return true;
}

static bool any_pending(struct gdb_target *t)
{
	pthread_mutex_lock(&t->lock);
	bool any = false;
	for (unsigned i = 0; i < t->vm->ncpus; i++)
		any = any || t->pending[i].kind != GDB_STOP_NONE;
	pthread_mutex_unlock(&t->lock);
	return any;
}

bool gdb_target_collect(struct gdb_target *t, struct gdb_event *ev)
{
	/* An event is recorded before its pause is requested, so with none
	 * pending there is no pause to wait for. */
	if (!any_pending(t) || !vm_wait_paused(t->vm))
		return false;
	pthread_mutex_lock(&t->lock);
	bool found = take_earliest(t, NULL, ev);
	pthread_mutex_unlock(&t->lock);
	return found;
}

bool gdb_target_interrupt(struct gdb_target *t, unsigned cpu, struct gdb_event *ev)
{
	if (!vm_pause_all(t->vm))
		return false;
	pthread_mutex_lock(&t->lock);
	if (!take_earliest(t, NULL, ev))
		*ev = (struct gdb_event){ .kind = GDB_STOP_INTERRUPT, .cpu = cpu };
	pthread_mutex_unlock(&t->lock);
	return true;
}

static bool is_watch(enum gdb_stop kind)
{
	return kind == GDB_STOP_WATCH || kind == GDB_STOP_RWATCH || kind == GDB_STOP_AWATCH;
}

static bool watch_still_set(const struct gdb_target *t, const struct gdb_event *ev)
{
	for (unsigned i = 0; i < t->bps.nwatch; i++)
		if (t->bps.watch[i].addr == ev->addr)
			return true;
	for (int i = 0; i < GDB_HW_SLOTS; i++)
		if (t->bps.hw[i].used && t->bps.hw[i].type >= GDB_POINT_WRITE &&
		    t->bps.hw[i].addr == ev->addr)
			return true;
	return false;
}

/* Breakpoint and step events that gdb has not seen are dropped: the
 * instruction under a breakpoint has not run, so the vCPU meets it again
 * if it is still set. A watchpoint hit has already happened and would be
 * lost: it stays, and is reported before anything runs. Lock held. */
static void drop_stale_events(struct gdb_target *t)
{
	for (unsigned i = 0; i < t->vm->ncpus; i++) {
		struct gdb_event *p = &t->pending[i];
		if (!is_watch(p->kind) || !watch_still_set(t, p))
			p->kind = GDB_STOP_NONE;
	}
}

int gdb_target_resume(struct gdb_target *t, const enum gdb_action *actions,
		      struct gdb_event *ev, struct kvmini_error *err)
{
	pthread_mutex_lock(&t->lock);
	drop_stale_events(t);
	if (take_earliest(t, actions, ev)) {
		pthread_mutex_unlock(&t->lock);
		return 1;
	}
	memcpy(t->action, actions, t->vm->ncpus * sizeof(*actions));
	if (t->stepped_watches)
		gdb_watch_snapshot(&t->bps, &t->vm->mem);
	pthread_mutex_unlock(&t->lock);
	for (unsigned i = 0; i < t->vm->ncpus; i++)
		if (apply_debug(t, i, err) < 0)
			return -1;
	for (unsigned i = 0; i < t->vm->ncpus; i++)
		vm_hold_vcpu(t->vm, i, actions[i] == GDB_ACT_STOP);
	vm_resume_all(t->vm);
	return 0;
}

/* ---- registers ---- */

int gdb_target_get_regs(struct gdb_target *t, unsigned cpu, struct gdb_x86_state *st)
{
	const struct vcpu *vcpu = &t->vm->vcpus[cpu];
	memset(st, 0, sizeof(*st));
	if (vcpu_get_regs(vcpu, &st->regs, NULL) < 0 || vcpu_get_sregs(vcpu, &st->sregs, NULL) < 0)
		return -1;
	st->fpu_valid = vcpu_get_fpu(vcpu, &st->fpu, NULL) == 0;
	return 0;
}

int gdb_target_set_regs(struct gdb_target *t, unsigned cpu, const struct gdb_x86_state *st)
{
	const struct vcpu *vcpu = &t->vm->vcpus[cpu];
	if ((st->dirty & GDB_DIRTY_REGS) && vcpu_set_regs(vcpu, &st->regs, NULL) < 0)
		return -1;
	if ((st->dirty & GDB_DIRTY_SREGS) && vcpu_set_sregs(vcpu, &st->sregs, NULL) < 0)
		return -1;
	if ((st->dirty & GDB_DIRTY_FPU) && vcpu_set_fpu(vcpu, &st->fpu, NULL) < 0)
		return -1;
	return 0;
}

/* ---- guest-virtual memory ---- */

static int paging_of(struct gdb_target *t, unsigned cpu, struct x86_paging *p)
{
	struct kvm_sregs s;
	if (vcpu_get_sregs(&t->vm->vcpus[cpu], &s, NULL) < 0)
		return -1;
	*p = (struct x86_paging){ .cr0 = s.cr0, .cr3 = s.cr3, .cr4 = s.cr4, .efer = s.efer };
	return 0;
}

/* The guest-physical piece of [addr, addr+len) that starts at addr and
 * stays in one page and in RAM; its length, or 0. */
static uint64_t map_piece(struct gdb_target *t, const struct x86_paging *p, gva_t addr,
			  uint64_t len, gpa_t *gpa)
{
	uint64_t span;
	if (x86_translate(&t->vm->mem, p, addr, gpa, &span) < 0)
		return 0;
	uint64_t n = span < len ? span : len;
	return guest_ptr(&t->vm->mem, *gpa, n) ? n : 0;
}

uint64_t gdb_target_read(struct gdb_target *t, unsigned cpu, gva_t addr,
			 uint8_t *buf, uint64_t len)
{
	struct x86_paging p;
	if (paging_of(t, cpu, &p) < 0)
		return 0;
	uint64_t done = 0;
	while (done < len) {
		gpa_t gpa;
		uint64_t n = map_piece(t, &p, addr + done, len - done, &gpa);
		if (n == 0)
			break;
		guest_read(&t->vm->mem, gpa, buf + done, n);
		pthread_mutex_lock(&t->lock);
		gdb_sw_hide(&t->bps, gpa, buf + done, n);
		pthread_mutex_unlock(&t->lock);
		done += n;
	}
	return done;
}

int gdb_target_write(struct gdb_target *t, unsigned cpu, gva_t addr,
		     const uint8_t *buf, uint64_t len)
{
	struct x86_paging p;
	if (paging_of(t, cpu, &p) < 0)
		return -1;
	gpa_t gpa;
	/* First make sure every byte is mapped: a write is all or nothing. */
	for (uint64_t done = 0, n; done < len; done += n)
		if ((n = map_piece(t, &p, addr + done, len - done, &gpa)) == 0)
			return -1;
	for (uint64_t done = 0, n; done < len; done += n) {
		n = map_piece(t, &p, addr + done, len - done, &gpa);
		guest_write(&t->vm->mem, gpa, buf + done, n);
		pthread_mutex_lock(&t->lock);
		gdb_sw_rewrite(&t->bps, &t->vm->mem, gpa, n);
		pthread_mutex_unlock(&t->lock);
	}
	return 0;
}

/* ---- breakpoints and watchpoints ---- */

static int translate_for(struct gdb_target *t, unsigned cpu, gva_t addr, uint64_t len,
			 gpa_t *gpa)
{
	struct x86_paging p;
	if (paging_of(t, cpu, &p) < 0 || map_piece(t, &p, addr, len, gpa) != len)
		return GDB_BP_FAULT;
	return GDB_BP_OK;
}

/* Lock held; gpa is the translated address for stepped watches. */
static int insert_watch(struct gdb_target *t, const struct gdb_point *pt, gpa_t gpa)
{
	if (!t->stepped_watches)
		return gdb_hw_insert(&t->bps, pt->type, pt->addr, pt->kind);
	/* Comparing values after each step sees writes, never reads. */
	if (pt->type != GDB_POINT_WRITE)
		return 1;
	return gdb_watch_insert(&t->bps, &t->vm->mem, pt->addr, gpa, pt->kind);
}

static bool in_real_mode(struct gdb_target *t, unsigned cpu)
{
	struct kvm_sregs s;
	return vcpu_get_sregs(&t->vm->vcpus[cpu], &s, NULL) == 0 && !(s.cr0 & X86_CR0_PE);
}

int gdb_target_insert(struct gdb_target *t, unsigned cpu, const struct gdb_point *pt)
{
	bool by_slot = pt->type == GDB_POINT_HW ||
		       (pt->type == GDB_POINT_SW &&
			(t->int3_lost || (t->real_mode_slots && in_real_mode(t, cpu))));
	if (by_slot && !t->exec_slots)
		return GDB_BP_UNAVAILABLE;
	if (pt->type == GDB_POINT_SW && by_slot) {
		pthread_mutex_lock(&t->lock);
		int r = gdb_hw_insert(&t->bps, GDB_POINT_SW, pt->addr, 1);
		pthread_mutex_unlock(&t->lock);
		return r;
	}
	gpa_t gpa = 0;
	bool stepped_watch = t->stepped_watches && pt->type == GDB_POINT_WRITE;
	if (stepped_watch && (pt->kind < 1 || pt->kind > 8))
		return GDB_BP_INVALID;
	if (pt->type == GDB_POINT_SW || stepped_watch) {
		int r = translate_for(t, cpu, pt->addr, pt->type == GDB_POINT_SW ? 1 : pt->kind, &gpa);
		if (r < 0)
			return r;
	}
	pthread_mutex_lock(&t->lock);
	int r;
	switch (pt->type) {
	case GDB_POINT_SW:
		r = gdb_sw_insert(&t->bps, &t->vm->mem, pt->addr, gpa);
		break;
	case GDB_POINT_HW:
		r = gdb_hw_insert(&t->bps, GDB_POINT_HW, pt->addr, 1);
		break;
	default:
		r = insert_watch(t, pt, gpa);
		break;
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}

int gdb_target_remove(struct gdb_target *t, const struct gdb_point *pt)
{
	pthread_mutex_lock(&t->lock);
	int r;
	switch (pt->type) {
	case GDB_POINT_SW:   /* planted, or served by a slot */
		gdb_hw_remove(&t->bps, GDB_POINT_SW, pt->addr, 1);
		r = gdb_sw_remove(&t->bps, &t->vm->mem, pt->addr);
		break;
	case GDB_POINT_HW:
		r = gdb_hw_remove(&t->bps, GDB_POINT_HW, pt->addr, 1);
		break;
	default:
		if (t->stepped_watches)
			r = pt->type == GDB_POINT_WRITE ? gdb_watch_remove(&t->bps, pt->addr, pt->kind) : 1;
		else
			r = gdb_hw_remove(&t->bps, pt->type, pt->addr, pt->kind);
		break;
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}
