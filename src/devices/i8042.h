/* The i8042 keyboard controller at ports 0x60 (data) and 0x64 (status
 * on reads, commands on writes), with a PS/2 keyboard and mouse behind
 * it that a viewer (the VNC server) types and points with through
 * i8042_key() and i8042_mouse(). A byte waiting from the keyboard raises
 * IRQ 1, one from the mouse IRQ 12, each while the command byte's bit 0
 * (keyboard) or bit 1 (mouse) enables it; the line falls when the byte
 * is read and rises again for the next one.
 *
 * The keyboard speaks scan code set 2; with the command byte's
 * translation bit (0x40, set at reset) the controller hands the guest
 * set 1, as a PC's does. It answers 0xed (LEDs), 0xf0 (scan code set:
 * 0x00 reads it back, other sets are acknowledged and not used) and
 * 0xf3 (typematic rate) with an acknowledgement per byte, 0xf4/0xf5
 * start and stop it reporting keys, 0xf6 restores the defaults.
 *
 * The mouse (bytes after 0xd4) is a standard three-button PS/2 mouse,
 * ID 0x00: 0xff reset (0xfa 0xaa 0x00), 0xf2 identify, 0xf4/0xf5 stream
 * reporting on/off, 0xf3 sample rate and 0xe8 resolution (each with its
 * argument), 0xe6/0xe7 scaling, 0xe9 status (three bytes), 0xeb one
 * packet, 0xf6 defaults. Motion comes as three-byte packets: buttons,
 * sign and always-one bits, dx, dy (up is positive).
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

#include <stdbool.h>
#include <stdint.h>
#include "bus.h"
#include "device.h"
#include "irq.h"
#include "devices/reset.h"

#define I8042_DATA_PORT    0x60
#define I8042_COMMAND_PORT 0x64
#define I8042_KBD_IRQ      1
#define I8042_AUX_IRQ      12

enum {
	I8042_STATUS_OBF = 0x01, I8042_STATUS_IBF = 0x02, I8042_STATUS_SYS = 0x04,
	I8042_STATUS_CMD = 0x08, I8042_STATUS_UNLOCKED = 0x10, I8042_STATUS_AUX = 0x20,
};

struct i8042;

/* *reset is copied; pulling it must not call back into the controller.
 * NULL when out of memory. */
struct i8042 *i8042_create(const struct reset_line *reset);
void i8042_destroy(struct i8042 *kbc);
/* The keyboard's and the mouse's interrupt lines (NULL: none). */
void i8042_set_irqs(struct i8042 *kbc, const struct irq_line *kbd, const struct irq_line *aux);

/* A key pressed (down) or released: key is the PC key's scan code in
 * set 1, plus 0xe000 for a key sent with the 0xe0 prefix (arrows, right
 * Ctrl and Alt, Insert, Delete, Home, End, Page Up/Down, keypad Enter and
 * /, the Windows and Menu keys). False when it was dropped: unknown key,
 * keyboard disabled (port off, or not scanning), or no room for all of
 * its bytes. */
bool i8042_key(struct i8042 *kbc, uint16_t key, bool down);
/* The mouse moved by (dx, dy) (right and up are positive; each clamped
 * to -255..255) with buttons held (bit 0 left, 1 right, 2 middle). False
 * when dropped: reporting off, port off, or no room for the packet. */
bool i8042_mouse(struct i8042 *kbc, int dx, int dy, unsigned buttons);

/* One-byte ranges at I8042_DATA_PORT and I8042_COMMAND_PORT (0x61 between
 * them belongs to the PIT's speaker gate); opaque is the struct i8042 *. */
extern const struct bus_device_ops i8042_data_ops;
extern const struct bus_device_ops i8042_command_ops;

/* Ports 0x60 and 0x64, ISA IRQs 1 and 12, PNP0303 (src/device.h). */
extern const struct device_type i8042_device;

#endif
