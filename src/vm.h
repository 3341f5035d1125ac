/* Layer 4: a VM owns its KVM handle, its memory, its two buses, its
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

struct vcpu;

/* An optional debugger client of the run loop (the gdb stub). The loop
 * never names it: it only offers exits it would otherwise treat as fatal. */
struct vm_debug_hooks {
	/* In the vCPU's thread, on KVM_EXIT_DEBUG and on an instruction-
	 * emulation failure (how a host that emulates guest kernel code, such
	 * as PVM, reports an int3). True: the exit was consumed and the vCPU
	 * keeps going (parking first if a pause was requested). */
	bool (*on_exit)(void *opaque, struct vcpu *vcpu);
	/* Once, when the VM starts stopping; from the thread that stopped it. */
	void (*on_stop)(void *opaque);
	void *opaque;
};

/* The interrupt controllers kvmini emulates itself (the split irqchip).
 * The VM and the run loop never name them: the VM hands ISA lines to
 * set_line, and the loop calls pre_run and offers its exits. */
struct vm_irqchip_hooks {
	/* ISA / GSI line `line` changed; any thread (devices raise lines). */
	void (*set_line)(void *opaque, unsigned line, bool level);
	/* In the vCPU's thread before every KVM_RUN: inject what waits, or
	 * ask for an interrupt window (kvm_run's request_interrupt_window). */
	void (*pre_run)(void *opaque, struct vcpu *vcpu);
	/* In the vCPU's thread, for KVM_EXIT_IOAPIC_EOI and
	 * KVM_EXIT_IRQ_WINDOW_OPEN; true: handled, the vCPU runs on. */
	bool (*on_exit)(void *opaque, struct vcpu *vcpu);
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

	pthread_mutex_t lock;     /* guards everything below */
	pthread_cond_t changed;   /* signalled on stop requests and vCPU exits */
	bool stopping;
	unsigned vcpus_running;
	struct kvmini_result result;
	/* Pausing (for a debugger): vCPUs park before their next KVM_RUN
	 * while `paused`, or while their own `held` flag is set. */
	bool paused;
	unsigned vcpus_parked;
	const struct vm_debug_hooks *debug;   /* set before vm_run(), or NULL */
	const struct vm_irqchip_hooks *irqchip_hooks;   /* split irqchip; atomic */
};

int vm_create(struct vm *vm, const struct kvmini_config *cfg, struct kvmini_error *err);
void vm_destroy(struct vm *vm);

/* The handle a device raises ISA interrupt line `line` through; with
 * no irqchip, raising it does nothing. */
struct irq_line vm_irq_line(struct vm *vm, unsigned line);

/* Record why the VM stops (first caller wins) and kick every vCPU. */
void vm_request_stop(struct vm *vm, enum kvmini_status status, int exit_status,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
bool vm_stop_requested(struct vm *vm);
/* A guest's reset: a stop with status 0 whose result has .reset set, so
 * the machine can end the run or restart it (--on-reset). */
void vm_request_reset(struct vm *vm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Start every vCPU thread, wait until the VM stops (or timeout seconds
 * pass, 0 = forever), join all threads and fill *out. */
int vm_run(struct vm *vm, double timeout, struct kvmini_result *out);

/* Install a debugger client; only before vm_run(). */
void vm_set_debug_hooks(struct vm *vm, const struct vm_debug_hooks *hooks);

/* Install (or, with NULL, remove) the emulated interrupt controllers;
 * not while vCPUs run. */
void vm_set_irqchip_hooks(struct vm *vm, const struct vm_irqchip_hooks *hooks);
/* Make vCPU `index` leave KVM_RUN soon so its pre_run hook runs; any
 * thread. Nothing when the VM is stopping, or when called from that
 * vCPU's own thread (its pre_run runs before its next KVM_RUN anyway). */
void vm_kick_vcpu(struct vm *vm, unsigned index);

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
/* Keep one vCPU parked (held) or let it run when the VM is not paused. */
void vm_hold_vcpu(struct vm *vm, unsigned index, bool held);

/* Diagnostics to the VM's log fd (stderr by default). */
void vm_log(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
