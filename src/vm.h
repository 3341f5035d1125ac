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
#include "memory.h"
#include "bus.h"

struct vcpu;

struct vm {
	struct kvm kvm;
	int fd;
	struct guest_memory mem;
	struct bus pio;
	struct bus mmio;
	struct vcpu *vcpus;
	unsigned ncpus;
	bool strict_io;
	bool verbose;
	int log_fd;

	pthread_mutex_t lock;     /* guards everything below */
	pthread_cond_t changed;   /* signalled on stop requests and vCPU exits */
	bool stopping;
	unsigned vcpus_running;
	struct kvmini_result result;
};

int vm_create(struct vm *vm, const struct kvmini_config *cfg, struct kvmini_error *err);
void vm_destroy(struct vm *vm);

/* Record why the VM stops (first caller wins) and kick every vCPU. */
void vm_request_stop(struct vm *vm, enum kvmini_status status, int exit_status,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
bool vm_stop_requested(struct vm *vm);

/* Start every vCPU thread, wait until the VM stops (or timeout seconds
 * pass, 0 = forever), join all threads and fill *out. */
int vm_run(struct vm *vm, double timeout, struct kvmini_result *out);

/* Diagnostics to the VM's log fd (stderr by default). */
void vm_log(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
