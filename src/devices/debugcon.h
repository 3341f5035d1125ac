/* Debug console at port 0xe9: every byte written goes to an fd. A read
 * returns 0xe9, the customary way for a guest to detect it. */
#ifndef KVMINI_DEBUGCON_H
#define KVMINI_DEBUGCON_H

#include "bus.h"
#include "device.h"

#define DEBUGCON_PORT 0xe9

struct debugcon {
	int out_fd;
};

extern const struct bus_device_ops debugcon_ops;

extern const struct device_type debugcon_device;

#endif
