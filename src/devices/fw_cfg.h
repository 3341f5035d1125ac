/* QEMU's firmware configuration device (fw_cfg), the port interface:
 * write a 16-bit key to the selector (0x510), then read the item's
 * bytes one at a time from the data port (0x511); past an item's end
 * reads give 0. Items, all generated from the VM's configuration when
 * the device is created: the signature "QEMU", the ID (1: the port
 * interface only, no DMA), the RAM size, the CPU count and maximum, and
 * the file directory (key 0x19) listing the named files, here etc/e820
 * (the memory map of arch/x86/e820.h). Writes to the data port are
 * ignored, as in QEMU since 2.4. Not provided: the DMA interface
 * (0x514), the kernel/initrd/command-line items (kvmini loads the
 * kernel itself). */
#ifndef KVMINI_FW_CFG_H
#define KVMINI_FW_CFG_H

#include "bus.h"
#include "device.h"

#define FW_CFG_PORT       0x510
#define FW_CFG_NPORTS     2          /* selector (16-bit), data (8-bit) */

/* Item keys (QEMU's numbering). */
#define FW_CFG_SIGNATURE  0x00
#define FW_CFG_ID         0x01
#define FW_CFG_RAM_SIZE   0x03
#define FW_CFG_NB_CPUS    0x05
#define FW_CFG_MAX_CPUS   0x0f
#define FW_CFG_FILE_DIR   0x19
#define FW_CFG_FILE_FIRST 0x20

/* A file directory entry: every number big-endian. */
#define FW_CFG_FILE_NAME_MAX 56

extern const struct bus_device_ops fw_cfg_ops;
extern const struct device_type fw_cfg_device;

#endif
