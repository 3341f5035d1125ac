/* System control port A at 0x92 ("fast A20 and reset"): bit 0 going
 * from 0 to 1 resets the machine; bit 1 is the A20 gate, remembered and
 * read back (KVM never wraps addresses at 1 MiB, so it starts set). The
 * other bits read back as written. */
#ifndef KVMINI_PORT92_H
#define KVMINI_PORT92_H

#include <stdint.h>
#include "bus.h"
#include "device.h"
#include "devices/reset.h"

#define PORT92_PORT 0x92

enum { PORT92_RESET = 0x01, PORT92_A20 = 0x02 };

struct port92 {
	uint8_t value;               /* atomic: vCPU threads share it */
	struct reset_line reset;
};

void port92_init(struct port92 *port, const struct reset_line *reset);

/* One port; opaque is the struct port92 *. */
extern const struct bus_device_ops port92_ops;

extern const struct device_type port92_device;

#endif
