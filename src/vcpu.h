/* Layer 4: a vCPU is a thread running the KVM_RUN loop. The loop is one
 * switch on the exit reason: I/O and MMIO go to the VM's buses, the rest
 * to a few handlers that stop the VM with a reason. */
#ifndef KVMINI_VCPU_H
#define KVMINI_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include "vm.h"

struct vcpu {
	struct vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	bool held;     /* parked until released (vm_hold_vcpu); vm->lock */
	bool parked;   /* waiting in the park loop; vm->lock */
};

int vcpu_init(struct vcpu *vcpu, struct vm *vm, unsigned index, struct kvmini_error *err);
void vcpu_destroy(struct vcpu *vcpu);
int vcpu_start(struct vcpu *vcpu, struct kvmini_error *err);
void vcpu_join(struct vcpu *vcpu);
/* Make a vCPU leave KVM_RUN soon (immediate_exit + signal). Any thread. */
void vcpu_kick(struct vcpu *vcpu);

/* Write general, segment and control registers and EFER to fd. */
void vcpu_dump_registers(const struct vcpu *vcpu, int fd);

#endif
