/* A VM without KVM, for tests (and the devices fuzz target) of what
 * sits on a VM's buses: its two buses, its lock and stop state, no
 * vCPUs, no RAM, no fd. Devices, boards and the split irqchip's models
 * run on it as on a real one; anything that needs KVM does not. */
#ifndef KVMINI_TEST_BARE_VM_H
#define KVMINI_TEST_BARE_VM_H

#include <pthread.h>
#include <string.h>
#include "vm.h"

static inline void bare_vm_init(struct vm *vm, enum kvmini_irqchip irqchip)
{
	memset(vm, 0, sizeof(*vm));
	vm->fd = -1;
	vm->log_fd = -1;
	vm->irqchip = irqchip;
	bus_init(&vm->pio, "port");
	bus_init(&vm->mmio, "MMIO");
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->changed, NULL);
}

static inline void bare_vm_free(struct vm *vm)
{
	bus_free(&vm->pio);
	bus_free(&vm->mmio);
	pthread_cond_destroy(&vm->changed);
	pthread_mutex_destroy(&vm->lock);
}

#endif
