/* Layer 5: a vCPU is a thread running kvmini's one KVM_RUN loop. Before
 * each KVM_RUN it parks while the VM is paused (or ends when it stops)
 * and calls the VM's exit hooks' pre_run; each exit goes first to the
 * hooks (vm.h), and one nobody claims to one switch on the exit reason:
 * I/O and MMIO to the VM's buses, the rest to a few handlers that stop
 * the VM with a reason. Layers above reach a vCPU's state only through
 * the functions below, never through raw ioctls. */
#ifndef KVMINI_VCPU_H
#define KVMINI_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include "vm.h"

enum vcpu_start_state { VCPU_START_PENDING, VCPU_START_DONE, VCPU_START_FAILED };

struct vcpu {
	struct vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	unsigned run_seen;   /* the last vm->run_seq this thread ran; vm->lock */
	bool held;     /* parked until released (vm_hold_vcpu); vm->lock */
	bool parked;   /* waiting in the park loop; vm->lock */
	unsigned wake_seq;   /* the last vm->wake_seq this vCPU reset for; its thread */
	/* The thread's entry (name, seccomp filter), reported to
	 * vcpu_start(); vm->lock. */
	enum vcpu_start_state start_state;
	struct kvmini_error start_err;
};

int vcpu_init(struct vcpu *vcpu, struct vm *vm, unsigned index, struct kvmini_error *err);
void vcpu_destroy(struct vcpu *vcpu);
/* Start the vCPU's thread (once; later calls do nothing). It waits for
 * each run vm_run() starts, and ends when vm_destroy() says so. */
int vcpu_start(struct vcpu *vcpu, struct kvmini_error *err);
/* Wait for the thread to end (after vm->vcpus_quit is set). */
void vcpu_join(struct vcpu *vcpu);
/* Make a vCPU leave KVM_RUN soon (immediate_exit + signal). Any thread. */
void vcpu_kick(struct vcpu *vcpu);

/* ---- state, for the layers above (loaders' entry, gdb, the sandbox);
 * only while the vCPU is not in KVM_RUN: from its own thread in a hook,
 * or from another while it is parked or not started. 0 or -1 and *err
 * (which may be NULL). ---- */
int vcpu_get_regs(const struct vcpu *vcpu, struct kvm_regs *regs, struct kvmini_error *err);
int vcpu_set_regs(const struct vcpu *vcpu, const struct kvm_regs *regs, struct kvmini_error *err);
int vcpu_get_sregs(const struct vcpu *vcpu, struct kvm_sregs *sregs, struct kvmini_error *err);
int vcpu_set_sregs(const struct vcpu *vcpu, const struct kvm_sregs *sregs,
		   struct kvmini_error *err);
int vcpu_get_fpu(const struct vcpu *vcpu, struct kvm_fpu *fpu, struct kvmini_error *err);
int vcpu_set_fpu(const struct vcpu *vcpu, const struct kvm_fpu *fpu, struct kvmini_error *err);
int vcpu_get_xsave(const struct vcpu *vcpu, struct kvm_xsave *xsave, struct kvmini_error *err);
int vcpu_set_xsave(const struct vcpu *vcpu, const struct kvm_xsave *xsave,
		   struct kvmini_error *err);
int vcpu_get_xcrs(const struct vcpu *vcpu, struct kvm_xcrs *xcrs, struct kvmini_error *err);
int vcpu_set_xcrs(const struct vcpu *vcpu, const struct kvm_xcrs *xcrs, struct kvmini_error *err);
/* Pending and injected exceptions, interrupts and NMIs (KVM_*_VCPU_EVENTS). */
int vcpu_get_events(const struct vcpu *vcpu, struct kvm_vcpu_events *events,
		    struct kvmini_error *err);
int vcpu_set_events(const struct vcpu *vcpu, const struct kvm_vcpu_events *events,
		    struct kvmini_error *err);
/* Write n MSRs; fails naming the first one KVM refuses. */
int vcpu_set_msrs(const struct vcpu *vcpu, const struct kvm_msr_entry *msrs, unsigned n,
		  struct kvmini_error *err);
int vcpu_get_msr(const struct vcpu *vcpu, uint32_t index, uint64_t *value,
		 struct kvmini_error *err);
/* KVM_SET_GUEST_DEBUG: single-step and breakpoints KVM reports as
 * KVM_EXIT_DEBUG, for a debugger's exit hook. */
int vcpu_set_guest_debug(const struct vcpu *vcpu, const struct kvm_guest_debug *dbg,
			 struct kvmini_error *err);

/* Write general, segment and control registers and EFER to fd. */
void vcpu_dump_registers(const struct vcpu *vcpu, int fd);

#endif
