/* The reset control register at port 0xcf9 (as on Intel chipsets):
 * writing a value with bit 2 set resets the machine. Bit 1 (hard reset)
 * and bit 3 (full reset) choose the kind of reset on real hardware;
 * kvmini accepts them, reads them back and resets the same way for all. */
#ifndef KVMINI_RESET_CONTROL_H
#define KVMINI_RESET_CONTROL_H

#include <stdint.h>
#include "bus.h"
#include "device.h"
#include "devices/reset.h"

/* One byte only: a PCI host bridge would own 0xcf8-0xcfb for 32-bit
 * accesses, and only byte accesses to 0xcf9 reach this register. */
#define RESET_CONTROL_PORT 0xcf9

enum {
	RESET_CONTROL_HARD = 0x02, RESET_CONTROL_RESET_CPU = 0x04, RESET_CONTROL_FULL = 0x08,
};

struct reset_control {
	uint8_t value;               /* atomic: the kept bits 1 and 3 */
	struct reset_line reset;
};

void reset_control_init(struct reset_control *rc, const struct reset_line *reset);

/* One port; opaque is the struct reset_control *. */
extern const struct bus_device_ops reset_control_ops;

extern const struct device_type reset_control_device;

#endif
