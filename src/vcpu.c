#include <cpuid.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <unistd.h>
#include "completion.h"
#include "kvm.h"
#include "arch/x86/cpu_mode.h"
#include "seccomp/seccomp.h"
#include "thread.h"
#include "thread_name.h"
#include "vcpu.h"

/* The signal that kicks a vCPU out of KVM_RUN. Its handler does nothing:
 * the interruption itself (EINTR) is the message. */
#define VCPU_KICK_SIGNAL (SIGRTMIN + 0)

static void kick_handler(int sig)
{
	(void)sig;
}

static pthread_once_t kick_once = PTHREAD_ONCE_INIT;

static void install_kick_handler(void)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;   /* no SA_RESTART: KVM_RUN must return EINTR */
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
}

int vcpu_init(struct vcpu *vcpu, struct vm *vm, unsigned index, struct kvmini_error *err)
{
	/* During set-up: a filtered thread may not install signal handlers. */
	pthread_once(&kick_once, install_kick_handler);
	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->vm = vm;
	vcpu->index = index;
	vcpu->fd = KVM_IOCTL(vm->fd, KVM_CREATE_VCPU, (void *)(uintptr_t)index, err);
	if (vcpu->fd < 0)
		return -1;
	vcpu->run = mmap(NULL, (size_t)vm->kvm.vcpu_mmap_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		vcpu->run = NULL;
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot map vCPU %u's run area", index);
	}
	return 0;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, (size_t)vcpu->vm->kvm.vcpu_mmap_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}

/* ---- exit handlers: each returns true to keep running ---- */

static void report_unclaimed(struct vcpu *vcpu, const char *space, uint64_t addr,
			     uint32_t len, bool is_write)
{
	struct vm *vm = vcpu->vm;
	if (vm->strict_io) {
		vm_request_stop(vm, KVMINI_E_STRICT_IO, KVMINI_E_STRICT_IO,
				"vCPU %u: %s of %u byte(s) at unclaimed %s address 0x%llx (--strict-io)",
				vcpu->index, is_write ? "write" : "read", len, space,
				(unsigned long long)addr);
	} else if (vm->verbose) {
		vm_log(vm, "kvmini: vCPU %u: unclaimed %s %s 0x%llx (%u byte(s))\n",
		       vcpu->index, space, is_write ? "write" : "read",
		       (unsigned long long)addr, len);
	}
}

static bool handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint32_t size = run->io.size, count = run->io.count;
	uint64_t bytes = (uint64_t)size * count;
	uint64_t area = (uint64_t)vcpu->vm->kvm.vcpu_mmap_size;
	if ((size != 1 && size != 2 && size != 4) ||
	    run->io.data_offset > area || bytes > area - run->io.data_offset) {
		vm_request_stop(vcpu->vm, KVMINI_E_HOST, KVMINI_E_HOST,
				"vCPU %u: malformed I/O exit (size %u, count %u)",
				vcpu->index, size, count);
		return false;
	}
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	/* String I/O (rep ins/outs) arrives as count elements in a row; a
	 * guest picks the count, so a stop is honoured between elements. */
	for (uint32_t i = 0; i < count && !vm_stop_requested(vcpu->vm); i++) {
		if (!bus_access(&vcpu->vm->pio, run->io.port, data + i * size, size, is_write))
			report_unclaimed(vcpu, "port", run->io.port, size, is_write);
	}
	return !vm_stop_requested(vcpu->vm);
}

static bool handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint32_t len = run->mmio.len;
	if (len == 0 || len > sizeof(run->mmio.data)) {
		vm_request_stop(vcpu->vm, KVMINI_E_HOST, KVMINI_E_HOST,
				"vCPU %u: malformed MMIO exit (length %u)", vcpu->index, len);
		return false;
	}
	if (!bus_access(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len,
			run->mmio.is_write))
		report_unclaimed(vcpu, "MMIO", run->mmio.phys_addr, len, run->mmio.is_write);
	return !vm_stop_requested(vcpu->vm);
}

/* A fatal exit: dump the registers, then stop the VM with the reason. */
static bool fail_guest(struct vcpu *vcpu, const char *reason)
{
	vcpu_dump_registers(vcpu, vcpu->vm->log_fd);
	vm_request_stop(vcpu->vm, KVMINI_E_GUEST, KVMINI_E_GUEST, "vCPU %u: %s",
			vcpu->index, reason);
	return false;
}

static const char *internal_suberror_name(uint32_t suberror)
{
	switch (suberror) {
	case KVM_INTERNAL_ERROR_EMULATION: return "instruction emulation failed";
	case KVM_INTERNAL_ERROR_SIMUL_EX: return "exception while delivering an exception";
	case KVM_INTERNAL_ERROR_DELIVERY_EV: return "event delivery failed";
	case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON: return "unexpected hardware exit";
	default: return "unknown internal error";
	}
}

static bool handle_internal_error(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	char reason[256];
	/* An instruction KVM could not emulate: kvmini finishes it itself
	 * (src/completion.c) and the guest goes on, or it ends naming it. */
	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
		if (completion_run(vcpu, reason, sizeof(reason)))
			return true;
		return fail_guest(vcpu, reason);
	}
	int n = snprintf(reason, sizeof(reason), "KVM internal error %u (%s)",
			 run->internal.suberror, internal_suberror_name(run->internal.suberror));
	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		unsigned size = run->emulation_failure.insn_size;
		if (size > sizeof(run->emulation_failure.insn_bytes))
			size = sizeof(run->emulation_failure.insn_bytes);
		n += snprintf(reason + n, sizeof(reason) - (size_t)n, ", instruction bytes:");
		for (unsigned i = 0; i < size && n > 0 && (size_t)n < sizeof(reason); i++)
			n += snprintf(reason + n, sizeof(reason) - (size_t)n, " %02x",
				      run->emulation_failure.insn_bytes[i]);
	}
	return fail_guest(vcpu, reason);
}

static bool handle_system_event(struct vcpu *vcpu)
{
	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(vcpu->vm, KVMINI_OK, 0, "guest powered off");
		return false;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_reset(vcpu->vm, "guest requested a reset (KVM system event)");
		return false;
	default: {
		char reason[96];
		snprintf(reason, sizeof(reason), "guest system event %u (crash)",
			 vcpu->run->system_event.type);
		return fail_guest(vcpu, reason);
	}
	}
}

static bool handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	char reason[128];
	if (vm_exit_hooks_claim(vcpu->vm, vcpu))
		return true;   /* the loop's stop and pause checks come next */
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return handle_io(vcpu);
	case KVM_EXIT_MMIO:
		return handle_mmio(vcpu);
	case KVM_EXIT_HLT:
		/* Without interrupts nothing can wake a halted CPU: the guest is done. */
		vm_request_stop(vcpu->vm, KVMINI_OK, 0, "vCPU %u halted", vcpu->index);
		return false;
	case KVM_EXIT_SHUTDOWN:
		/* A PC resets on a triple fault: the machine restarts it or
		 * reports it, as --on-reset says. */
		vcpu_dump_registers(vcpu, vcpu->vm->log_fd);
		vm_request_fault_reset(vcpu->vm, "vCPU %u: guest triple-faulted (KVM_EXIT_SHUTDOWN)",
				       vcpu->index);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(reason, sizeof(reason), "VM entry failed, hardware reason 0x%llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return fail_guest(vcpu, reason);
	case KVM_EXIT_INTERNAL_ERROR:
		return handle_internal_error(vcpu);
	case KVM_EXIT_DEBUG:
		snprintf(reason, sizeof(reason), "unexpected debug exit (exception %u at 0x%llx)",
			 run->debug.arch.exception, (unsigned long long)run->debug.arch.pc);
		return fail_guest(vcpu, reason);
	case KVM_EXIT_SYSTEM_EVENT:
		return handle_system_event(vcpu);
	case KVM_EXIT_IOAPIC_EOI:
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		snprintf(reason, sizeof(reason), "unexpected interrupt-controller exit %u",
			 run->exit_reason);
		return fail_guest(vcpu, reason);
	default:
		snprintf(reason, sizeof(reason), "unhandled KVM exit reason %u", run->exit_reason);
		return fail_guest(vcpu, reason);
	}
}

/* KVM finishes an I/O exit (advances RIP past an OUT, loads an IN's or
 * a MMIO read's data) only in the next KVM_RUN. Before the vCPU parks,
 * where a snapshot or a debugger reads its registers, a KVM_RUN with
 * immediate_exit finishes it without entering the guest; otherwise a
 * restored snapshot would run the OUT a second time. */
static void vcpu_settle(struct vcpu *vcpu)
{
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (ioctl(vcpu->fd, KVM_RUN, 0) == 0)
		vm_log(vcpu->vm, "kvmini: vCPU %u: KVM_RUN entered the guest despite immediate_exit\n",
		       vcpu->index);
	__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
}

/* After a wake from S3 (vm_wake()): the state firmware gives a vCPU
 * on resume. The BSP starts at the waking vector in real mode; an AP
 * waits for the INIT/SIPI its OS sends, as at power-on (KVM starts APs
 * so; without an in-kernel local APIC there are no SIPIs and the AP
 * just runs from 0:0 with the BSP). False (the VM stopping) if KVM
 * refuses. */
static bool vcpu_reset_for_wake(struct vcpu *vcpu, uint32_t vector)
{
	struct kvmini_error err;
	bool bsp = vcpu->index == 0;
	struct kvm_mp_state mp = {
		bsp || vcpu->vm->irqchip == KVMINI_IRQCHIP_NONE ? KVM_MP_STATE_RUNNABLE
								 : KVM_MP_STATE_INIT_RECEIVED
	};
	if (x86_enter_reset(vcpu->fd, bsp ? (uint16_t)(vector >> 4) : 0,
			    bsp ? (uint16_t)(vector & 0xf) : 0, &err) == 0 &&
	    KVM_IOCTL(vcpu->fd, KVM_SET_MP_STATE, &mp, &err) == 0)
		return true;
	vm_request_stop(vcpu->vm, KVMINI_E_HOST, KVMINI_E_HOST,
			"vCPU %u: cannot reset it for the wake from S3: %s", vcpu->index, err.msg);
	return false;
}

static bool must_park(const struct vcpu *vcpu)
{
	const struct vm *vm = vcpu->vm;
	return __atomic_load_n(&vm->paused, __ATOMIC_SEQ_CST) ||
	       __atomic_load_n(&vcpu->held, __ATOMIC_SEQ_CST) ||
	       __atomic_load_n(&vm->suspended, __ATOMIC_SEQ_CST) ||
	       __atomic_load_n(&vm->wake_seq, __ATOMIC_SEQ_CST) != vcpu->wake_seq;
}

/* Wait while the VM is paused or suspended (S3) or this vCPU is held (a
 * debugger looks at it); after a wake, reset the vCPU. Lock-free when
 * none is set: a pause request sets the flag before it kicks, so a
 * KVM_RUN that missed the flag returns at once. False when the VM stops
 * instead. */
static bool park_while_paused(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	if (!must_park(vcpu))
		return !vm_stop_requested(vm);
	vcpu_settle(vcpu);   /* also before a wake's reset: the OUT must not finish after it */
	pthread_mutex_lock(&vm->lock);
	while ((vm->paused || vcpu->held || vm->suspended) && !vm->stopping) {
		if (!vcpu->parked) {
			vcpu->parked = true;
			vm->vcpus_parked++;
			pthread_cond_broadcast(&vm->changed);
		}
		pthread_cond_wait(&vm->changed, &vm->lock);
	}
	if (vcpu->parked) {
		vcpu->parked = false;
		vm->vcpus_parked--;
	}
	bool go = !vm->stopping;
	unsigned wake_seq = vm->wake_seq;
	uint32_t vector = vm->wake_vector;
	pthread_mutex_unlock(&vm->lock);
	if (go && wake_seq != vcpu->wake_seq) {
		vcpu->wake_seq = wake_seq;
		go = vcpu_reset_for_wake(vcpu, vector);
	}
	return go;
}

/* The end of this vCPU's part in a vm_run(), which waits for it. */
static void leave_run(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->vcpus_running--;
	pthread_cond_broadcast(&vm->changed);
	pthread_mutex_unlock(&vm->lock);
}

/* One vm_run()'s worth of the loop. */
static void run_loop(struct vcpu *vcpu)
{
	/* A kick left over from the stop that ended the last run must not
	 * cut the first entry short: KVM would skip loading registers a
	 * pre_run hook left in kvm_run. Every request a kick carries is also
	 * a flag that park_while_paused() reads after this. */
	__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	while (park_while_paused(vcpu)) {
		vm_exit_hooks_pre_run(vcpu->vm, vcpu);
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
				continue;
			}
			char reason[128];
			snprintf(reason, sizeof(reason), "KVM_RUN failed: %s", strerror(errno));
			vm_request_stop(vcpu->vm, KVMINI_E_HOST, KVMINI_E_HOST, "vCPU %u: %s",
					vcpu->index, reason);
			break;
		}
		if (!handle_exit(vcpu))
			break;
	}
	leave_run(vcpu->vm);
}

/* Between runs the thread waits for the next vm_run() (true) or for
 * vm_destroy() (false). */
static bool wait_for_run(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	pthread_mutex_lock(&vm->lock);
	while (!vm->vcpus_quit && vm->run_seq == vcpu->run_seen)
		pthread_cond_wait(&vm->changed, &vm->lock);
	bool run = !vm->vcpus_quit;
	vcpu->run_seen = vm->run_seq;
	pthread_mutex_unlock(&vm->lock);
	return run;
}

/* The test build's way to prove a vCPU's filter kills (tests that need
 * KVM): a forbidden call right after the filter is installed. */
static void test_forbidden_call(void)
{
#ifdef KVMINI_TEST_HOOKS
	if (getenv("KVMINI_TEST_VCPU_FORBIDDEN_CALL"))
		close(socket(AF_INET, SOCK_STREAM, 0));
#endif
}

/* Name the thread and install its role's filter, before it can run the
 * guest; tell vcpu_start() how that went. */
static bool enter_thread(struct vcpu *vcpu)
{
	char name[THREAD_NAME_SIZE];
	thread_name_vcpu(name, vcpu->index);
	thread_name_set(name);
	struct vm *vm = vcpu->vm;
	int r = seccomp_role_install(vm->vcpu_role, vm->seccomp, &vcpu->start_err);
	pthread_mutex_lock(&vm->lock);
	vcpu->start_state = r < 0 ? VCPU_START_FAILED : VCPU_START_DONE;
	pthread_cond_broadcast(&vm->changed);
	pthread_mutex_unlock(&vm->lock);
	if (r == 0)
		test_forbidden_call();
	return r == 0;
}

/* The thread lives from the VM's first run to vm_destroy(), so a run
 * (the sandbox makes one per call) costs no thread creation. */
static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	sigset_t kick;
	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	/* Kickable from here on, not only once vcpu_start() returns: a kick
	 * in between would otherwise miss a KVM_RUN already under way. */
	__atomic_store_n(&vcpu->thread_started, true, __ATOMIC_SEQ_CST);
	if (!enter_thread(vcpu))
		return NULL;
	while (wait_for_run(vcpu))
		run_loop(vcpu);
	return NULL;
}

/* Until the thread has named itself and installed its filter. */
static enum vcpu_start_state wait_for_entry(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	pthread_mutex_lock(&vm->lock);
	while (vcpu->start_state == VCPU_START_PENDING)
		pthread_cond_wait(&vm->changed, &vm->lock);
	enum vcpu_start_state state = vcpu->start_state;
	pthread_mutex_unlock(&vm->lock);
	return state;
}

int vcpu_start(struct vcpu *vcpu, struct kvmini_error *err)
{
	if (vcpu->thread_started)
		return 0;
	vcpu->run_seen = vcpu->vm->run_seq;   /* only vm_run(), on this thread, changes it */
	vcpu->start_state = VCPU_START_PENDING;
	int e = thread_start(&vcpu->thread, vcpu_thread, vcpu);
	if (e)
		return kvmini_fail_errno(err, KVMINI_E_HOST, e, "cannot start vCPU %u's thread",
					 vcpu->index);
	__atomic_store_n(&vcpu->thread_started, true, __ATOMIC_SEQ_CST);
	/* Named (top -H, ps -L, /proc) and filtered before any vCPU runs. */
	if (wait_for_entry(vcpu) == VCPU_START_FAILED) {
		pthread_join(vcpu->thread, NULL);
		vcpu->thread_started = false;
		*err = vcpu->start_err;
		return -1;
	}
	return 0;
}

void vcpu_join(struct vcpu *vcpu)
{
	if (vcpu->thread_started)
		pthread_join(vcpu->thread, NULL);
	vcpu->thread_started = false;
}

void vcpu_kick(struct vcpu *vcpu)
{
	if (!vcpu->run)
		return;
	/* immediate_exit covers the window between the loop's stop check and
	 * KVM_RUN; the signal interrupts a KVM_RUN already in progress. */
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	/* A vCPU stopping the VM from its own thread is not in KVM_RUN. */
	if (__atomic_load_n(&vcpu->thread_started, __ATOMIC_SEQ_CST) &&
	    !pthread_equal(vcpu->thread, pthread_self()))
		pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

/* ---- state ---- */

int vcpu_get_regs(const struct vcpu *vcpu, struct kvm_regs *regs, struct kvmini_error *err)
{
	return KVM_IOCTL(vcpu->fd, KVM_GET_REGS, regs, err) < 0 ? -1 : 0;
}

int vcpu_set_regs(const struct vcpu *vcpu, const struct kvm_regs *regs, struct kvmini_error *err)
{
	return KVM_IOCTL(vcpu->fd, KVM_SET_REGS, (void *)regs, err) < 0 ? -1 : 0;
}

int vcpu_get_sregs(const struct vcpu *vcpu, struct kvm_sregs *sregs, struct kvmini_error *err)
{
	return KVM_IOCTL(vcpu->fd, KVM_GET_SREGS, sregs, err) < 0 ? -1 : 0;
}

int vcpu_set_sregs(const struct vcpu *vcpu, const struct kvm_sregs *sregs,
		   struct kvmini_error *err)
{
	return KVM_IOCTL(vcpu->fd, KVM_SET_SREGS, (void *)sregs, err) < 0 ? -1 : 0;
}

int vcpu_get_fpu(const struct vcpu *vcpu, struct kvm_fpu *fpu, struct kvmini_error *err)
{
	return KVM_IOCTL(vcpu->fd, KVM_GET_FPU, fpu, err) < 0 ? -1 : 0;
}

int vcpu_set_fpu(const struct vcpu *vcpu, const struct kvm_fpu *fpu, struct kvmini_error *err)
{
	return KVM_IOCTL(vcpu->fd, KVM_SET_FPU, (void *)fpu, err) < 0 ? -1 : 0;
}

int vcpu_get_xsave(const struct vcpu *vcpu, struct kvm_xsave *xsave, struct kvmini_error *err)
{
	return KVM_IOCTL(vcpu->fd, KVM_GET_XSAVE, xsave, err) < 0 ? -1 : 0;
}

int vcpu_set_xsave(const struct vcpu *vcpu, const struct kvm_xsave *xsave,
		   struct kvmini_error *err)
{
	return KVM_IOCTL(vcpu->fd, KVM_SET_XSAVE, (void *)xsave, err) < 0 ? -1 : 0;
}

int vcpu_get_xcrs(const struct vcpu *vcpu, struct kvm_xcrs *xcrs, struct kvmini_error *err)
{
	return KVM_IOCTL(vcpu->fd, KVM_GET_XCRS, xcrs, err) < 0 ? -1 : 0;
}

int vcpu_set_xcrs(const struct vcpu *vcpu, const struct kvm_xcrs *xcrs, struct kvmini_error *err)
{
	return KVM_IOCTL(vcpu->fd, KVM_SET_XCRS, (void *)xcrs, err) < 0 ? -1 : 0;
}

int vcpu_get_events(const struct vcpu *vcpu, struct kvm_vcpu_events *events,
		    struct kvmini_error *err)
{
	return KVM_IOCTL(vcpu->fd, KVM_GET_VCPU_EVENTS, events, err) < 0 ? -1 : 0;
}

int vcpu_set_events(const struct vcpu *vcpu, const struct kvm_vcpu_events *events,
		    struct kvmini_error *err)
{
	return KVM_IOCTL(vcpu->fd, KVM_SET_VCPU_EVENTS, (void *)events, err) < 0 ? -1 : 0;
}

int vcpu_set_guest_debug(const struct vcpu *vcpu, const struct kvm_guest_debug *dbg,
			 struct kvmini_error *err)
{
	return KVM_IOCTL(vcpu->fd, KVM_SET_GUEST_DEBUG, (void *)dbg, err) < 0 ? -1 : 0;
}

#define VCPU_MSRS_MAX 16

/* At most VCPU_MSRS_MAX MSRs in one KVM_SET_MSRS. */
static int set_msr_batch(const struct vcpu *vcpu, const struct kvm_msr_entry *msrs, unsigned n,
			 struct kvmini_error *err)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[VCPU_MSRS_MAX];
	} m = { .h.nmsrs = n };
	memcpy(m.e, msrs, n * sizeof(*msrs));
	int done = KVM_IOCTL(vcpu->fd, KVM_SET_MSRS, &m, err);
	if (done < 0)
		return -1;
	if ((unsigned)done != n)   /* KVM stops at the first MSR it refuses */
		return kvmini_fail(err, KVMINI_E_HOST, "KVM_SET_MSRS refused MSR 0x%x",
				   msrs[done].index);
	return 0;
}

/* Any number, in batches (a snapshot restores every MSR KVM lists). */
int vcpu_set_msrs(const struct vcpu *vcpu, const struct kvm_msr_entry *msrs, unsigned n,
		  struct kvmini_error *err)
{
	for (unsigned done = 0; done < n; done += VCPU_MSRS_MAX) {
		unsigned batch = n - done < VCPU_MSRS_MAX ? n - done : VCPU_MSRS_MAX;
		if (set_msr_batch(vcpu, msrs + done, batch, err) < 0)
			return -1;
	}
	return 0;
}

int vcpu_get_msr(const struct vcpu *vcpu, uint32_t index, uint64_t *value,
		 struct kvmini_error *err)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = { .h.nmsrs = 1, .e = { .index = index } };
	int done = KVM_IOCTL(vcpu->fd, KVM_GET_MSRS, &m, err);
	if (done < 0)
		return -1;
	if (done != 1)
		return kvmini_fail(err, KVMINI_E_HOST, "KVM_GET_MSRS refused MSR 0x%x", index);
	*value = m.e.data;
	return 0;
}

/* ---- register dump ---- */

static void dump_segment(FILE *f, const char *name, const struct kvm_segment *s)
{
	fprintf(f, " %-3s sel=%04x base=%016llx limit=%08x type=%x dpl=%u p=%u s=%u l=%u db=%u g=%u\n",
		name, s->selector, (unsigned long long)s->base, s->limit, s->type, s->dpl,
		s->present, s->s, s->l, s->db, s->g);
}

/* On AMD, KVM reinitialises the VMCB when the guest shuts down (the
 * VMCB is undefined after a SHUTDOWN intercept), so the registers read
 * after a triple fault are reset values, not the faulting state. */
static bool host_is_amd(void)
{
	unsigned a, b, c, d;
	__cpuid(0, a, b, c, d);
	(void)a;
	return b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163;   /* "AuthenticAMD" */
}

void vcpu_dump_registers(const struct vcpu *vcpu, int fd)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	char buf[2048];
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	if (!f)
		return;
	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0) {
		fprintf(f, "vCPU %u: registers unavailable: %s\n", vcpu->index, strerror(errno));
	} else {
		fprintf(f, "vCPU %u registers:\n", vcpu->index);
		fprintf(f, " rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n",
			r.rax, r.rbx, r.rcx, r.rdx);
		fprintf(f, " rsi=%016llx rdi=%016llx rsp=%016llx rbp=%016llx\n",
			r.rsi, r.rdi, r.rsp, r.rbp);
		fprintf(f, " r8 =%016llx r9 =%016llx r10=%016llx r11=%016llx\n",
			r.r8, r.r9, r.r10, r.r11);
		fprintf(f, " r12=%016llx r13=%016llx r14=%016llx r15=%016llx\n",
			r.r12, r.r13, r.r14, r.r15);
		fprintf(f, " rip=%016llx rflags=%08llx\n", r.rip, r.rflags);
		dump_segment(f, "cs", &s.cs);
		dump_segment(f, "ds", &s.ds);
		dump_segment(f, "es", &s.es);
		dump_segment(f, "fs", &s.fs);
		dump_segment(f, "gs", &s.gs);
		dump_segment(f, "ss", &s.ss);
		dump_segment(f, "tr", &s.tr);
		fprintf(f, " gdt base=%016llx limit=%04x  idt base=%016llx limit=%04x\n",
			s.gdt.base, s.gdt.limit, s.idt.base, s.idt.limit);
		fprintf(f, " cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx\n",
			s.cr0, s.cr2, s.cr3, s.cr4);
		fprintf(f, " cr8=%016llx efer=%016llx apic_base=%016llx\n",
			s.cr8, s.efer, s.apic_base);
		if (vcpu->run->exit_reason == KVM_EXIT_SHUTDOWN && host_is_amd())
			fprintf(f, " (AMD: KVM reinitialises the VMCB at a shutdown: these are reset values)\n");
	}
	fclose(f);
	size_t len = strnlen(buf, sizeof(buf));
	if (write(fd, buf, len) < 0) {
		/* best effort */
	}
}
