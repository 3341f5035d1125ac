/* The i8042 keyboard controller at ports 0x60 (data) and 0x64 (status
 * on reads, commands on writes), as far as a guest needs it to boot and
 * to reset the machine. There is no keyboard behind it that types, and
 * no mouse; kvmini raises no IRQ 1 or 12, so drivers poll.
 *
 * Status (port 0x64 reads): bit 0 output buffer full, bit 1 input buffer
 * full (always 0: every byte is taken at once), bit 2 system flag (from
 * the command byte), bit 3 last write was a command, bit 4 keyboard not
 * inhibited, bit 5 the byte waiting is from the mouse port.
 *
 * Commands: 0x20-0x3f read controller RAM (0x20: the command byte,
 * initially 0x44: system flag, scan-code translation), 0x60-0x7f write
 * it (next data byte), 0xa7/0xa8 and 0xad/0xae disable/enable the mouse
 * and keyboard ports, 0xa9 and 0xab interface tests (answer 0x00), 0xaa
 * self-test (answers 0x55), 0xd0 read the output port, 0xd1 write it
 * (bit 0 clear resets the machine, bit 1 is the A20 gate), 0xd2/0xd3
 * write the next data byte back as if from the keyboard/mouse, 0xd4
 * send it to the mouse (nobody answers), 0xdd/0xdf A20 off/on, and
 * 0xf0-0xff pulse the output lines whose bits are clear: bit 0 is the
 * reset line, so 0xfe resets the machine. Other commands are ignored.
 *
 * Data bytes not claimed by a command go to the keyboard, which answers
 * 0xfa (ack); 0xff (reset) adds 0xaa, 0xf2 (identify) adds 0xab 0x83,
 * and 0xee (echo) answers 0xee. The A20 gate is remembered and read
 * back; guest memory is never wrapped at 1 MiB. */
#ifndef KVMINI_I8042_H
#define KVMINI_I8042_H

#include "bus.h"
#include "device.h"
#include "devices/reset.h"

#define I8042_DATA_PORT    0x60
#define I8042_COMMAND_PORT 0x64
#define I8042_KBD_IRQ      1      /* wired on a PC; no keyboard here raises it */

enum {
	I8042_STATUS_OBF = 0x01, I8042_STATUS_IBF = 0x02, I8042_STATUS_SYS = 0x04,
	I8042_STATUS_CMD = 0x08, I8042_STATUS_UNLOCKED = 0x10, I8042_STATUS_AUX = 0x20,
};

struct i8042;

/* *reset is copied; pulling it must not call back into the controller.
 * NULL when out of memory. */
struct i8042 *i8042_create(const struct reset_line *reset);
void i8042_destroy(struct i8042 *kbc);

/* One-byte ranges at I8042_DATA_PORT and I8042_COMMAND_PORT (0x61 between
 * them belongs to the PIT's speaker gate); opaque is the struct i8042 *. */
extern const struct bus_device_ops i8042_data_ops;
extern const struct bus_device_ops i8042_command_ops;

/* Ports 0x60 and 0x64, ISA IRQ 1, PNP0303 (src/device.h). */
extern const struct device_type i8042_device;

#endif
