/* Debug console at port 0xe9, and at 0x402 where QEMU's firmware
 * (SeaBIOS, OVMF) and kvm-unit-tests write: every byte written goes to
 * one fd. A read returns 0xe9 on both, the customary way for a guest
 * to detect it. */
#ifndef KVMINI_DEBUGCON_H
#define KVMINI_DEBUGCON_H

#include "bus.h"
#include "device.h"
#include "devices/char_out.h"

#define DEBUGCON_PORT 0xe9
#define DEBUGCON_PORT2 0x402

struct debugcon {
	struct char_out out;   /* never blocks the vCPU (devices/char_out.h) */
};

extern const struct bus_device_ops debugcon_ops;

extern const struct device_type debugcon_device;

#endif
