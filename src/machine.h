/* The machine (src/machine.c) as the layers above it see it: the public
 * API of include/kvmini.h, and the one thing a layer that attaches to a
 * machine's VM needs (the gdb stub, src/gdb/api.c). The machine names
 * none of those layers. */
#ifndef KVMINI_MACHINE_H
#define KVMINI_MACHINE_H

#include "kvmini.h"
#include "vm.h"

/* The VM of the machine's only boot, for a layer that attaches to it
 * (`who`, as error messages name it; `option`, the command-line option
 * that asks for it). Fails once the machine has run, and when a guest's
 * reset would replace the VM (KVMINI_ON_RESET_RESTART): what attaches
 * must be detached after kvmini_vm_run() returns and before
 * kvmini_vm_destroy(). */
struct vm *machine_vm_for(struct kvmini_vm *m, const char *who, const char *option,
			  struct kvmini_error *err);

#endif
