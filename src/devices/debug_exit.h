/* QEMU's isa-debug-exit at port 0xf4: a guest writes v and the VM ends
 * with exit status (v << 1) | 1. */
#ifndef KVMINI_DEBUG_EXIT_H
#define KVMINI_DEBUG_EXIT_H

#include "bus.h"
#include "device.h"

#define DEBUG_EXIT_PORT 0xf4
#define DEBUG_EXIT_SIZE 4

struct debug_exit {
	struct exit_line exit;
};

/* opaque: struct debug_exit *. */
extern const struct bus_device_ops debug_exit_ops;

extern const struct device_type debug_exit_device;

#endif
