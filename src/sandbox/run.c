/* The sandbox on the VM layer's one run loop: an exit hook that owns
 * every exit of its vCPU (the door device on the port bus for system
 * calls and exception reports, the fatal reasons with the sandbox's own
 * statuses), and vm_run() for each stretch of the program: the whole
 * run, or up to the next serve call. vm_run()'s timeout is the deadline;
 * the stop and the kick that end a run are the VM layer's.
 *
 * Registers cross through kvm_run's synchronised block (KVM_CAP_SYNC_REGS)
 * when KVM has it, so a system call costs one exit and no extra ioctl;
 * without it the hook falls back to KVM_GET_REGS/KVM_SET_REGS. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "sandbox/sandbox.h"

#define NO_DEADLINE 1e18

static double now_seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

double sb_run_seconds_left(const sandbox_t *sb)
{
	if (sb->timeout <= 0)
		return NO_DEADLINE;
	double left = sb->deadline - now_seconds();
	return left > 0 ? left : 0;
}

/* ---- exceptions ---- */

struct fault_kind {
	int sig;
	const char *what;
};

static struct fault_kind fault_kind(unsigned vector)
{
	switch (vector) {
	case 0: return (struct fault_kind){ SIGFPE, "integer divide error" };
	case 1: return (struct fault_kind){ SIGTRAP, "debug trap" };
	case 3: return (struct fault_kind){ SIGTRAP, "breakpoint" };
	case 6: return (struct fault_kind){ SIGILL, "invalid instruction" };
	case 7: return (struct fault_kind){ SIGFPE, "FPU not available" };
	case 11: return (struct fault_kind){ SIGBUS, "segment not present" };
	case 12: return (struct fault_kind){ SIGBUS, "stack segment fault" };
	case 13: return (struct fault_kind){ SIGSEGV, "general protection fault" };
	case 14: return (struct fault_kind){ SIGSEGV, "page fault" };
	case 16: return (struct fault_kind){ SIGFPE, "x87 floating-point error" };
	case 17: return (struct fault_kind){ SIGBUS, "alignment check" };
	case 19: return (struct fault_kind){ SIGFPE, "SIMD floating-point error" };
	default: return (struct fault_kind){ SIGSEGV, "CPU exception" };
	}
}

bool sb_vector_has_error_code(unsigned vector)
{
	return vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 ||
	       vector == 21 || vector == 29 || vector == 30;
}

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGSEGV: return "SIGSEGV";
	case SIGILL: return "SIGILL";
	case SIGFPE: return "SIGFPE";
	case SIGBUS: return "SIGBUS";
	case SIGTRAP: return "SIGTRAP";
	}
	return "a signal";
}

static void describe_page_fault(char *buf, size_t cap, uint64_t err, uint64_t cr2)
{
	const char *access = (err & 16) ? "execute" : (err & 2) ? "write" : "read";
	const char *why = (err & 1) ? "protection" : "not mapped";
	snprintf(buf, cap, "invalid %s at address 0x%llx (%s)", access,
		 (unsigned long long)cr2, why);
}

static void report_exception(sandbox_t *sb, unsigned vector)
{
	const struct kvm_regs *regs = &sb->run->s.regs.regs;
	uint64_t frame[6] = { 0 };
	uint64_t gpa = regs->rsp - SB_KERNEL_VA;
	if (regs->rsp < SB_KERNEL_VA || guest_read(&sb->vm.mem, gpa, frame, sizeof(frame)) < 0) {
		sb_finish(sb, KVMINI_E_HOST, KVMINI_E_HOST,
			  "internal error: exception %u with a bad stack", vector);
		return;
	}
	const uint64_t *f = frame + sb_vector_has_error_code(vector);
	uint64_t err = sb_vector_has_error_code(vector) ? frame[0] : 0, rip = f[0], cs = f[1];
	if ((cs & 3) != 3) {
		sb_finish(sb, KVMINI_E_HOST, KVMINI_E_HOST,
			  "internal error: exception %u in the sandbox's kernel stub at 0x%llx",
			  vector, (unsigned long long)rip);
		return;
	}
	struct fault_kind k = fault_kind(vector);
	char what[160];
	struct kvm_sregs s;
	if (vector == 14 && vcpu_get_sregs(sb->vcpu, &s, NULL) == 0)
		describe_page_fault(what, sizeof(what), err, s.cr2);
	else
		snprintf(what, sizeof(what), "%s", k.what);
	if (sb->verbose) {
		struct kvm_regs r = *regs;
		r.rip = rip;
		r.rsp = f[3];
		sb_log(sb, "kvmini: program registers: rax=%llx rbx=%llx rcx=%llx rdx=%llx rsi=%llx "
		       "rdi=%llx rbp=%llx rsp=%llx rip=%llx\n", r.rax, r.rbx, r.rcx, r.rdx, r.rsi,
		       r.rdi, r.rbp, r.rsp, r.rip);
	}
	sb_finish(sb, KVMINI_E_GUEST, 128 + k.sig, "program killed by %s: %s at rip 0x%llx",
		  signal_name(k.sig), what, (unsigned long long)rip);
}

/* ---- the door: the ports the CPL0 stub writes ---- */

#define GP_VECTOR 13
/* The RFLAGS bits a program may set (sysret's and iret's view of r11). */
#define USER_RFLAGS 0x244fd5ULL

static uint64_t door_va(void)
{
	return SB_KERNEL_VA + SB_STUB_GPA + SB_STUB_SYSCALL;
}

/* A #GP at the door's `out` in user mode is a system call under PVM (see
 * cpu.c). Perform it and point the CPU's frame at the syscall's return:
 * rip from rcx, rflags from r11, as sysret would. */
static bool trapped_syscall(sandbox_t *sb, struct kvm_regs *regs)
{
	uint64_t frame[6];   /* error code, rip, cs, rflags, rsp, ss */
	uint64_t gpa = regs->rsp - SB_KERNEL_VA;
	if (regs->rsp < SB_KERNEL_VA || guest_read(&sb->vm.mem, gpa, frame, sizeof(frame)) < 0 ||
	    frame[1] != door_va() || (frame[2] & 3) != 3)
		return false;
	sb->door_iret = true;
	sb_syscall(sb, regs);
	frame[1] = regs->rcx;
	frame[3] = (regs->r11 & USER_RFLAGS) | 2;
	guest_write(&sb->vm.mem, gpa, frame, sizeof(frame));
	sb_mm_mark_dirty(&sb->mm, gpa, sizeof(frame));
	sb_set_return(sb, regs->rax);
	return true;
}

static void door_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)data, (void)len;
	sandbox_t *sb = opaque;
	struct kvm_regs *regs = &sb->run->s.regs.regs;
	if (offset == SB_PORT_SYSCALL - SB_PORT_EXC) {
		sb->door_iret = false;
		sb_syscall(sb, regs);
		sb_set_return(sb, regs->rax);
		return;
	}
	if (offset == GP_VECTOR && trapped_syscall(sb, regs))
		return;
	report_exception(sb, (unsigned)offset);
}

void sb_set_return(sandbox_t *sb, uint64_t value)
{
	sb->run->s.regs.regs.rax = value;
	sb->regs_dirty = true;
}

uint64_t sb_resume_rip(uint64_t rip)
{
	/* KVM may report rip at the door's `out` or past it: resume past it. */
	uint64_t gp_door = SB_KERNEL_VA + SB_STUB_GPA + SB_STUB_EXC + 8 * GP_VECTOR;
	return rip == door_va() || rip == gp_door ? rip + 2 : rip;
}

const struct bus_device_ops sb_door_ops = { .write = door_write };

/* ---- exits: the hooks the run loop calls ---- */

static void handle_io(sandbox_t *sb)
{
	struct kvm_run *run = sb->run;
	uint64_t area = (uint64_t)sb->vm.kvm.vcpu_mmap_size;
	struct kvmini_error err;
	if (run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 1 || run->io.count != 1 ||
	    run->io.data_offset >= area) {
		sb_finish(sb, KVMINI_E_HOST, KVMINI_E_HOST,
			  "internal error: unexpected port access 0x%x", run->io.port);
		return;
	}
	if (!sb->sync_regs && vcpu_get_regs(sb->vcpu, &run->s.regs.regs, &err) < 0) {
		sb_finish(sb, KVMINI_E_HOST, KVMINI_E_HOST, "%s", err.msg);
		return;
	}
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	if (!bus_access(&sb->vm.pio, run->io.port, data, 1, true))
		sb_finish(sb, KVMINI_E_HOST, KVMINI_E_HOST,
			  "internal error: write to unclaimed port 0x%x", run->io.port);
}

static void handle_exit(sandbox_t *sb)
{
	struct kvm_run *run = sb->run;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(sb);
		return;
	case KVM_EXIT_SHUTDOWN:
		sb_finish(sb, KVMINI_E_GUEST, 128 + SIGSEGV,
			  "program killed by SIGSEGV: the virtual CPU shut down (triple fault)");
		return;
	case KVM_EXIT_INTERNAL_ERROR:
		sb_finish(sb, KVMINI_E_HOST, KVMINI_E_HOST,
			  "KVM could not run the sandbox (internal error %u)", run->internal.suberror);
		return;
	case KVM_EXIT_FAIL_ENTRY:
		sb_finish(sb, KVMINI_E_HOST, KVMINI_E_HOST, "VM entry failed (reason 0x%llx)",
			  (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return;
	case KVM_EXIT_HLT:
		sb_finish(sb, KVMINI_E_HOST, KVMINI_E_HOST, "internal error: the vCPU halted");
		return;
	default:
		sb_finish(sb, KVMINI_E_HOST, KVMINI_E_HOST, "unexpected KVM exit reason %u",
			  run->exit_reason);
	}
}

/* The program finished, or reached a serve call: this stretch is over.
 * The outcome is the sandbox's own (sb->result); the VM's stop only
 * ends vm_run(). */
static void stop_if_done(sandbox_t *sb)
{
	if (sb->finished || sb->at_serve)
		vm_request_stop(&sb->vm, KVMINI_OK, 0, "%s",
				sb->finished ? "program finished" : "serve call");
}

static bool sandbox_exit(void *opaque, struct vcpu *vcpu)
{
	(void)vcpu;
	sandbox_t *sb = opaque;
	sb->stats.exits++;
	handle_exit(sb);
	stop_if_done(sb);
	return true;   /* every exit of the sandbox's vCPU is its own */
}

/* Before every KVM_RUN: the registers a system call changed go in. */
static void sandbox_pre_run(void *opaque, struct vcpu *vcpu)
{
	sandbox_t *sb = opaque;
	struct kvm_run *run = vcpu->run;
	struct kvmini_error err;
	if (sb->sync_regs) {
		run->kvm_valid_regs = KVM_SYNC_X86_REGS;
		run->kvm_dirty_regs = sb->regs_dirty ? KVM_SYNC_X86_REGS : 0;
	} else if (sb->regs_dirty && vcpu_set_regs(vcpu, &run->s.regs.regs, &err) < 0) {
		sb_finish(sb, KVMINI_E_HOST, KVMINI_E_HOST, "%s", err.msg);
		stop_if_done(sb);
		return;
	}
	sb->regs_dirty = false;
}

int sb_run_attach(sandbox_t *sb, struct kvmini_error *err)
{
	sb->hooks = (struct vm_exit_hooks){
		.pre_run = sandbox_pre_run, .on_exit = sandbox_exit, .opaque = sb,
	};
	return vm_add_exit_hooks(&sb->vm, &sb->hooks, err);
}

/* ---- one stretch of the program ---- */

void sb_run(sandbox_t *sb)
{
	struct kvmini_result r;
	sb->at_serve = false;
	sb->deadline = now_seconds() + sb->timeout;
	vm_clear_stop(&sb->vm);
	vm_run(&sb->vm, sb->timeout, &r);
	if (sb->finished || sb->at_serve)
		return;
	if (r.status == KVMINI_E_TIMEOUT)
		sb_finish(sb, KVMINI_E_TIMEOUT, 124,
			  "program still running after the %g-second timeout", sb->timeout);
	else
		sb_finish(sb, r.status, r.exit_status, "%s", r.message);
}
