/* Debug-exit port (QEMU isa-debug-exit semantics): a write of value v
 * ends the VM and the process exits with status (v << 1) | 1. */
#ifndef KVMINI_DEBUG_EXIT_H
#define KVMINI_DEBUG_EXIT_H

#include "bus.h"

#define DEBUG_EXIT_PORT 0xf4
#define DEBUG_EXIT_SIZE 4

/* opaque is the struct vm * to stop. */
extern const struct bus_device_ops debug_exit_ops;

#endif
