/* Layer 5: a VM owns its KVM handle, its memory, its two buses, its
 * vCPUs and its stop state. vm_request_stop() may be called from any
 * thread (a device callback, the timeout, the front end); the first
 * request wins, every vCPU is kicked, and vm_run() winds down in one
 * place. */
#ifndef KVMINI_VM_H
#define KVMINI_VM_H

#include <pthread.h>
#include <stdbool.h>
#include "kvm.h"
#include "kvm_doorbell.h"
#include "memory.h"
#include "bus.h"
#include "irq.h"
#include "arch/x86/cpuid.h"
#include "arch/x86/emulate/complete.h"
#include "seccomp/seccomp.h"

struct vcpu;

/* Users of the VM layer (the machine's interrupt controllers, the gdb
 * stub, the sandbox, a probe) attach to the one KVM_RUN loop through
 * exit hooks; the loop never names them. Every callback but on_stop
 * runs in a vCPU's thread. Hooks are kept in the order they were added:
 * each pre_run is called in that order before every KVM_RUN, and an
 * exit is offered to each on_exit in that order until one claims it;
 * an exit nobody claims gets the loop's own handling (buses, HLT, the
 * fatal reasons). A hook never ends or pauses the loop itself: it calls
 * vm_request_stop() or vm_request_pause(), which the loop honours
 * before its next KVM_RUN, for every vCPU alike. */
struct vm_exit_hooks {
	/* Before every KVM_RUN (also after one interrupted by a kick):
	 * inject what waits, load registers, ask for an interrupt window. */
	void (*pre_run)(void *opaque, struct vcpu *vcpu);
	/* After KVM_RUN returned an exit (vcpu->run->exit_reason). True: the
	 * exit is handled and no later hook or the loop sees it. */
	bool (*on_exit)(void *opaque, struct vcpu *vcpu);
	/* Once per stop, when the VM starts stopping; from the thread that
	 * requested the stop (any thread). */
	void (*on_stop)(void *opaque);
	void *opaque;
};

#define VM_EXIT_HOOKS_MAX 4

/* Where ISA lines go when kvmini emulates the interrupt controllers
 * itself (the split irqchip): the VM hands every line change of
 * vm_irq_line() handles to set_line, from any thread. */
struct vm_irq_router {
	void (*set_line)(void *opaque, unsigned line, bool level);
	void *opaque;
};

struct vm {
	struct kvm kvm;
	int fd;
	struct guest_memory mem;
	struct bus pio;
	struct bus mmio;
	struct vcpu *vcpus;
	unsigned ncpus;
	enum kvmini_irqchip irqchip;
	struct kvm_gsi_routes routes;   /* KVM's whole GSI table: the irqchip's and MSIs */
	struct x86_cpuid cpuid;
	bool strict_io;
	bool verbose;
	int log_fd;
	const char *name;           /* in log lines; NULL for none (kvmini_config) */
	/* Each vCPU thread installs this role's filter before its first
	 * KVM_RUN (src/seccomp/); a user of the layer (the sandbox) may
	 * change the role before the first vm_run(). */
	enum kvmini_seccomp seccomp;
	enum seccomp_role vcpu_role;

	pthread_mutex_t lock;     /* guards everything below */
	pthread_cond_t changed;   /* signalled for the vCPU threads, and on their exits */
	bool stopping;
	unsigned run_seq;         /* bumped by each vm_run(): the vCPU threads run */
	bool vcpus_quit;          /* vm_destroy(): the vCPU threads end */
	unsigned vcpus_running;   /* in the current run's loop */
	struct kvmini_result result;
	/* Pausing (for a debugger): vCPUs park before their next KVM_RUN
	 * while `paused`, or while their own `held` flag is set. */
	bool paused;
	unsigned vcpus_parked;
	/* ACPI S3 (vm_request_suspend): vCPUs park as in a pause until
	 * vm_wake() bumps wake_seq; each then resets itself, the BSP to real
	 * mode at wake_vector's cs:ip, the others to wait for INIT/SIPI. */
	bool suspended;
	unsigned wake_seq;
	uint32_t wake_vector;
	/* The thread in vm_run() sleeps in ppoll on wake_fd, an eventfd
	 * that a stop request and vm_ask_runner() write (a wake before it
	 * sleeps is kept, unlike a condition's), and on stop_fd: -1, or an
	 * fd whose readability is a user's stop (a front end's signalfd),
	 * read when it comes; set before vm_run(). */
	int wake_fd;
	int stop_fd;
	/* Work handed to the thread in vm_run() (vm_ask_runner), which may
	 * do what the vCPUs' filters forbid: the event loop's lazy start.
	 * The task is set before vm_run(). */
	bool runner_asked;
	void (*runner_task)(void *ctx);
	void *runner_ctx;
	/* Changed only while no vCPU thread runs (before or between
	 * vm_run() calls) and no other thread can request a stop: the
	 * threads' creation publishes them, and they are read unlocked. */
	const struct vm_exit_hooks *exit_hooks[VM_EXIT_HOOKS_MAX];
	unsigned nexit_hooks;
	const struct vm_irq_router *irq_router;   /* split irqchip; atomic */
	/* Instructions completed in user space, by kind (src/completion.c);
	 * atomic, from every vCPU thread. */
	uint64_t completions[X86_KIND_COUNT];
};

int vm_create(struct vm *vm, const struct kvmini_config *cfg, struct kvmini_error *err);
/* The same with RAM mapped privately from a snapshot's memory file of
 * cfg->mem_size bytes (guest_memory_init_file()). */
int vm_create_from_file(struct vm *vm, const struct kvmini_config *cfg, int mem_fd,
			struct kvmini_error *err);
void vm_destroy(struct vm *vm);

/* The handle a device raises ISA interrupt line `line` through; with
 * no irqchip, raising it does nothing. */
struct irq_line vm_irq_line(struct vm *vm, unsigned line);

/* Have the thread waiting in vm_run() call vm->runner_task soon (from
 * any thread; asks made before vm_run() are done when it starts). */
void vm_ask_runner(struct vm *vm);

/* Record why the VM stops (first caller wins) and kick every vCPU. */
void vm_request_stop(struct vm *vm, enum kvmini_status status, int exit_status,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
bool vm_stop_requested(struct vm *vm);
/* A guest's reset: a stop with status 0 whose result has .reset set, so
 * the machine can end the run or restart it (--on-reset). */
void vm_request_reset(struct vm *vm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A reset the guest did not ask for (a triple fault resets a PC): a
 * stop with KVMINI_E_GUEST and .reset set, so --on-reset restart boots
 * again while --on-reset exit reports the failure as before. */
void vm_request_fault_reset(struct vm *vm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Run every vCPU (starting its thread on the first run), wait until the
 * VM stops (or timeout seconds pass, 0 = forever) and every vCPU has
 * left its loop, and fill *out. After vm_clear_stop() it may run again:
 * the vCPUs go on from where they stopped, on the same threads (the
 * sandbox runs its program call by call this way). */
int vm_run(struct vm *vm, double timeout, struct kvmini_result *out);
/* Forget the stop that ended the last vm_run(); only between runs. */
void vm_clear_stop(struct vm *vm);

/* Attach hooks to the run loop, after those already there; only while
 * no vCPU runs. Fails when VM_EXIT_HOOKS_MAX are attached. */
int vm_add_exit_hooks(struct vm *vm, const struct vm_exit_hooks *hooks,
		      struct kvmini_error *err);
/* Detach them (nothing if they are not attached); only while no vCPU runs. */
void vm_remove_exit_hooks(struct vm *vm, const struct vm_exit_hooks *hooks);
/* For the run loop (vcpu.c): every pre_run in order; then, after an exit,
 * each on_exit in order until one claims it (true). */
void vm_exit_hooks_pre_run(struct vm *vm, struct vcpu *vcpu);
bool vm_exit_hooks_claim(struct vm *vm, struct vcpu *vcpu);

/* Install (or, with NULL, remove) the emulated interrupt controllers'
 * line router; not while vCPUs run. */
void vm_set_irq_router(struct vm *vm, const struct vm_irq_router *router);
/* Make vCPU `index` leave KVM_RUN soon so its pre_run hooks run; any
 * thread. Nothing when the VM is stopping, or when called from that
 * vCPU's own thread (its pre_run runs before its next KVM_RUN anyway). */
void vm_kick_vcpu(struct vm *vm, unsigned index);

/* Give KVM a memory slot for a region added to vm->mem after
 * vm_create() (a device's memory: guest_memory_add_device()). */
int vm_map_region(struct vm *vm, unsigned region, struct kvmini_error *err);

/* A device's memory that the guest may move (a PCI BAR: the Bochs
 * display's video memory): KVM slot VM_MOVABLE_SLOT, past every
 * region's, not in vm->mem (guest_ptr() does not reach it: no device
 * takes its data from video memory), with the dirty log on. on: host's
 * size bytes at gpa (the slot must not exist); off: the slot deleted.
 * Any thread (a vCPU moves it when the guest moves the BAR). */
#define VM_MOVABLE_SLOT GUEST_MEM_MAX_REGIONS
int vm_map_movable(struct vm *vm, uint64_t gpa, void *host, uint64_t size, bool on,
		   struct kvmini_error *err);

/* KVM's dirty-page log for the memory slot of RAM region `region`: turn
 * it on or off, and fetch (and reset) its bitmap, one bit per page.
 * vm_get_dirty_log() takes VM_MOVABLE_SLOT too. */
int vm_set_dirty_logging(struct vm *vm, unsigned region, bool on, struct kvmini_error *err);
int vm_get_dirty_log(struct vm *vm, unsigned region, uint64_t *bitmap,
		     struct kvmini_error *err);

/* Ask every vCPU to park before its next KVM_RUN and kick it; returns at
 * once, so a vCPU thread may call it. Works before vm_run() too: the
 * vCPUs then park before their first instruction. */
void vm_request_pause(struct vm *vm);
/* Block until every running vCPU is parked (none is inside KVM_RUN, so
 * its registers and debug state may be used from this thread). False
 * when the VM is stopping instead. */
bool vm_wait_paused(struct vm *vm);
/* vm_request_pause() and vm_wait_paused(); not from a vCPU thread. */
bool vm_pause_all(struct vm *vm);
/* End the pause; vCPUs that are held stay parked. */
void vm_resume_all(struct vm *vm);
/* ACPI S3: every vCPU parks before its next KVM_RUN, RAM and devices
 * untouched; the event loop goes on. Any thread; returns at once. A
 * stop ends the suspension as it ends a pause. */
void vm_request_suspend(struct vm *vm);
/* Leave S3: every vCPU resets to its power-on state before it runs
 * again; the BSP (vCPU 0) starts in real mode at CS = vector >> 4,
 * IP = vector & 0xf (vector < 1 MiB, the caller checks), the others
 * wait for INIT/SIPI. Nothing when the VM is not suspended. Any thread. */
void vm_wake(struct vm *vm, uint32_t vector);
/* A paused VM was woken and its vCPUs have not yet gone to the vector
 * (they do when they run again). */
bool vm_wake_pending(const struct vm *vm);
/* Keep one vCPU parked (held) or let it run when the VM is not paused. */
void vm_hold_vcpu(struct vm *vm, unsigned index, bool held);

/* Diagnostics to the VM's log fd (stderr by default). A line starting
 * "kvmini: " starts "kvmini[NAME]: " for a VM with a name. */
void vm_log(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
