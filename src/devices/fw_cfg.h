/* QEMU's firmware configuration device (fw_cfg).
 *
 * The port interface: write a 16-bit key to the selector (0x510), then
 * read the item's bytes one at a time from the data port (0x511); past
 * an item's end reads give 0. Writes to the data port are ignored, as in
 * QEMU since 2.4.
 *
 * The DMA interface (0x514-0x51b): the guest writes the guest-physical
 * address of a 16-byte descriptor, big-endian, as two 32-bit writes (the
 * high half to 0x514, then the low half to 0x518, which starts the
 * transfer) or one 64-bit write to 0x514. The descriptor, every field
 * big-endian: u32 control, u32 length, u64 address. Control bits:
 * SELECT (bit 3) selects the item in bits 16-31 first and rewinds; then
 * READ (bit 1) copies `length` bytes of the item from its current offset
 * to `address` (zeros past its end), else WRITE (bit 4) is refused (every
 * item is read-only, as QEMU's are unless a board marks one writable),
 * else SKIP (bit 2) moves the offset on. When done, the device writes the
 * control word back: 0, or ERROR (bit 0) when the buffer is not all in
 * guest RAM or a write was asked. A descriptor outside RAM is ignored:
 * there is nowhere to report. The destination is checked whole before a
 * byte moves, so a transfer is one copy bounded by guest RAM, whatever
 * the length says. Reading 0x514-0x51b gives "QEMU CFG" (big-endian).
 *
 * Items, generated from the VM's configuration: the signature "QEMU",
 * the ID (3: the port and DMA interfaces), the RAM size, the CPU count
 * and maximum, the file directory (key 0x19) listing the named files,
 * here etc/e820 (the memory map of arch/x86/e820.h); after a --kernel
 * boot's loader ran, the command line the kernel got (0x13 its address,
 * 0x14 its size with the NUL, 0x15 the bytes with the NUL). Not
 * provided: the kernel, initrd and setup items (kvmini loads the kernel
 * itself, no option ROM needs them). */
#ifndef KVMINI_FW_CFG_H
#define KVMINI_FW_CFG_H

#include "bus.h"
#include "device.h"

#define FW_CFG_PORT       0x510
#define FW_CFG_NPORTS     2          /* selector (16-bit), data (8-bit) */
#define FW_CFG_DMA_PORT   0x514
#define FW_CFG_DMA_NPORTS 8          /* the descriptor's address: high, low */
#define FW_CFG_DMA_SIGNATURE 0x51454d5520434647ULL   /* "QEMU CFG" */

/* Item keys (QEMU's numbering). */
#define FW_CFG_SIGNATURE    0x00
#define FW_CFG_ID           0x01
#define FW_CFG_RAM_SIZE     0x03
#define FW_CFG_NB_CPUS      0x05
#define FW_CFG_MAX_CPUS     0x0f
#define FW_CFG_CMDLINE_ADDR 0x13
#define FW_CFG_CMDLINE_SIZE 0x14
#define FW_CFG_CMDLINE_DATA 0x15
#define FW_CFG_FILE_DIR     0x19
#define FW_CFG_FILE_FIRST   0x20

/* FW_CFG_ID's feature bits. */
#define FW_CFG_VERSION      0x01     /* the port interface */
#define FW_CFG_VERSION_DMA  0x02     /* the DMA interface */

/* The DMA descriptor's control bits. */
enum {
	FW_CFG_DMA_ERROR = 0x01, FW_CFG_DMA_READ = 0x02, FW_CFG_DMA_SKIP = 0x04,
	FW_CFG_DMA_SELECT = 0x08, FW_CFG_DMA_WRITE = 0x10,
};

/* A file directory entry: every number big-endian. */
#define FW_CFG_FILE_NAME_MAX 56

extern const struct bus_device_ops fw_cfg_ops, fw_cfg_dma_ops;
extern const struct device_type fw_cfg_device;

#endif
