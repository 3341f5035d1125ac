#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "devices/i8042.h"

/* Bytes waiting to be read at port 0x60: room for a burst of typing and
 * mouse packets from a viewer; an event that does not fit whole is
 * dropped whole, so a packet or a key's bytes never arrive torn. */
#define QUEUE_SIZE 64
#define CONTROLLER_RAM 32      /* ram[0] is the command byte */

enum {
	CTR_KBD_INT = 0x01, CTR_AUX_INT = 0x02,
	CTR_SYS = 0x04, CTR_KBD_OFF = 0x10, CTR_AUX_OFF = 0x20, CTR_TRANSLATE = 0x40,
	CTR_RESET = CTR_SYS | CTR_TRANSLATE,
	OUT_RESET_LINE = 0x01,     /* low = the machine is held in reset */
	OUT_A20 = 0x02,
	/* A20 reads as enabled: KVM never wraps addresses at 1 MiB. */
	OUT_PORT_RESET = OUT_RESET_LINE | OUT_A20,
};

enum {
	CMD_READ_RAM = 0x20, CMD_WRITE_RAM = 0x60, CMD_RAM_LAST_OFFSET = 0x1f,
	CMD_AUX_OFF = 0xa7, CMD_AUX_ON = 0xa8, CMD_AUX_TEST = 0xa9, CMD_SELF_TEST = 0xaa,
	CMD_KBD_TEST = 0xab, CMD_KBD_OFF = 0xad, CMD_KBD_ON = 0xae,
	CMD_READ_OUTPUT = 0xd0, CMD_WRITE_OUTPUT = 0xd1, CMD_WRITE_KBD_BUFFER = 0xd2,
	CMD_WRITE_AUX_BUFFER = 0xd3, CMD_WRITE_AUX = 0xd4, CMD_A20_OFF = 0xdd, CMD_A20_ON = 0xdf,
	CMD_PULSE_FIRST = 0xf0,
};

enum {
	KBD_ACK = 0xfa, KBD_ECHO = 0xee, KBD_RESET = 0xff, KBD_SELF_TEST_OK = 0xaa,
	KBD_IDENTIFY = 0xf2, KBD_ID_1 = 0xab, KBD_ID_2 = 0x83,
	KBD_SCAN_SET = 0xf0, KBD_ENABLE = 0xf4, KBD_DISABLE = 0xf5, KBD_DEFAULTS = 0xf6,
	SELF_TEST_OK = 0x55, INTERFACE_OK = 0x00,
	SET2_BREAK = 0xf0, EXTENDED = 0xe0, SET1_BREAK = 0x80,
};

/* The PS/2 mouse's commands (after 0xd4) and answers. */
enum {
	AUX_SET_SCALING_1 = 0xe6, AUX_SET_SCALING_2 = 0xe7, AUX_SET_RESOLUTION = 0xe8,
	AUX_STATUS = 0xe9, AUX_READ_DATA = 0xeb, AUX_IDENTIFY = 0xf2, AUX_SET_RATE = 0xf3,
	AUX_ENABLE = 0xf4, AUX_DISABLE = 0xf5, AUX_DEFAULTS = 0xf6, AUX_RESET = 0xff,
	AUX_ACK = 0xfa, AUX_ID = 0x00,
	AUX_ALWAYS_ONE = 0x08, AUX_X_SIGN = 0x10, AUX_Y_SIGN = 0x20,
	AUX_DEFAULT_RATE = 100, AUX_DEFAULT_RESOLUTION = 2,
};

struct queued_byte {
	uint8_t value;
	bool aux;                  /* from the mouse port */
};

struct mouse {
	bool reporting;            /* stream mode on (0xf4) */
	uint8_t pending;           /* command waiting for its argument; 0: none */
	uint8_t rate, resolution;
	bool scaling_2;
	uint8_t buttons;           /* bits 0-2: left, right, middle */
};

struct i8042 {
	pthread_mutex_t lock;      /* vCPU threads and the viewer share the controller */
	struct reset_line reset;
	struct irq_line kbd_irq, aux_irq;
	bool kbd_level, aux_level; /* what the lines were last set to */
	bool scanning;             /* the keyboard reports keys (0xf4/0xf5) */
	uint8_t kbd_pending;       /* keyboard command waiting for its argument */
	struct mouse mouse;
	uint8_t ram[CONTROLLER_RAM];
	uint8_t output_port;
	uint8_t pending;           /* command waiting for its data byte; 0: none */
	bool last_was_command;
	struct queued_byte queue[QUEUE_SIZE];
	unsigned head, count;
	uint8_t last_read;         /* read again when the queue is empty */
};

/* Why the machine resets, filled in by a command that pulls the line. */
struct reset_reason {
	bool pulled;
	char text[96];
};

/* IRQ 1 while the byte at the head of the queue is the keyboard's,
 * IRQ 12 while it is the mouse's, each when the command byte enables it:
 * the output buffer of a real 8042 holds that one byte. */
static void update_irqs(struct i8042 *kbc)
{
	bool full = kbc->count > 0, aux = full && kbc->queue[kbc->head].aux;
	bool kbd_level = full && !aux && (kbc->ram[0] & CTR_KBD_INT);
	bool aux_level = aux && (kbc->ram[0] & CTR_AUX_INT);
	if (kbd_level != kbc->kbd_level)
		irq_line_set(&kbc->kbd_irq, kbd_level);
	if (aux_level != kbc->aux_level)
		irq_line_set(&kbc->aux_irq, aux_level);
	kbc->kbd_level = kbd_level;
	kbc->aux_level = aux_level;
}

static void push(struct i8042 *kbc, uint8_t value, bool aux)
{
	if (kbc->count == QUEUE_SIZE)
		return;   /* a guest that never reads loses the newest bytes */
	kbc->queue[(kbc->head + kbc->count) % QUEUE_SIZE] = (struct queued_byte){ value, aux };
	kbc->count++;
	update_irqs(kbc);
}

/* Several bytes as one event: all of them, or none when they do not fit. */
static bool push_event(struct i8042 *kbc, const uint8_t *bytes, unsigned n, bool aux)
{
	if (QUEUE_SIZE - kbc->count < n)
		return false;
	for (unsigned i = 0; i < n; i++)
		push(kbc, bytes[i], aux);
	return true;
}

static uint8_t pop(struct i8042 *kbc)
{
	if (kbc->count) {
		kbc->last_read = kbc->queue[kbc->head].value;
		kbc->head = (kbc->head + 1) % QUEUE_SIZE;
		kbc->count--;
		/* The line falls as the buffer empties and rises again for the
		 * next byte: an edge per byte, as the PIC needs. */
		bool kbd = kbc->kbd_level, aux = kbc->aux_level;
		kbc->kbd_level = kbc->aux_level = false;
		if (kbd)
			irq_line_set(&kbc->kbd_irq, false);
		if (aux)
			irq_line_set(&kbc->aux_irq, false);
		update_irqs(kbc);
	}
	return kbc->last_read;
}

static uint8_t status(const struct i8042 *kbc)
{
	uint8_t s = I8042_STATUS_UNLOCKED | (kbc->ram[0] & CTR_SYS ? I8042_STATUS_SYS : 0);
	if (kbc->count)
		s |= I8042_STATUS_OBF | (kbc->queue[kbc->head].aux ? I8042_STATUS_AUX : 0);
	if (kbc->last_was_command)
		s |= I8042_STATUS_CMD;
	return s;
}

/* The keyboard always answers in scan code set 2, translated to set 1
 * by the controller when the command byte says so (for 0xf0 0x00: 0x02
 * is 0x41 in set 1). */
static void keyboard_argument(struct i8042 *kbc, uint8_t cmd, uint8_t byte)
{
	push(kbc, KBD_ACK, false);
	if (cmd == KBD_SCAN_SET && byte == 0)
		push(kbc, kbc->ram[0] & CTR_TRANSLATE ? 0x41 : 0x02, false);
}

static void keyboard_receive(struct i8042 *kbc, uint8_t byte)
{
	uint8_t cmd = kbc->kbd_pending;
	kbc->kbd_pending = 0;
	if (cmd && byte < 0xed) {
		keyboard_argument(kbc, cmd, byte);
		return;
	}
	if (byte == KBD_ECHO) {
		push(kbc, KBD_ECHO, false);
		return;
	}
	push(kbc, KBD_ACK, false);
	switch (byte) {
	case KBD_RESET:
		kbc->scanning = true;
		push(kbc, KBD_SELF_TEST_OK, false);
		break;
	case KBD_IDENTIFY:
		push(kbc, KBD_ID_1, false);
		push(kbc, KBD_ID_2, false);
		break;
	case KBD_ENABLE: kbc->scanning = true; break;
	case KBD_DISABLE: kbc->scanning = false; break;
	case KBD_DEFAULTS: kbc->scanning = true; break;
	case 0xed: case KBD_SCAN_SET: case 0xf3:   /* LEDs, scan code set, typematic rate */
		kbc->kbd_pending = byte;
		break;
	default: break;
	}
}

static void mouse_reset(struct mouse *m)
{
	*m = (struct mouse){ .rate = AUX_DEFAULT_RATE, .resolution = AUX_DEFAULT_RESOLUTION };
}

static void mouse_push(struct i8042 *kbc, uint8_t byte)
{
	push(kbc, byte, true);
}

/* Status: the mode bits, then resolution and sample rate. */
static void mouse_status(struct i8042 *kbc)
{
	const struct mouse *m = &kbc->mouse;
	uint8_t b0 = (uint8_t)((m->reporting ? 0x20 : 0) | (m->scaling_2 ? 0x10 : 0) |
			       (m->buttons & 1 ? 0x04 : 0) | (m->buttons & 4 ? 0x02 : 0) |
			       (m->buttons & 2 ? 0x01 : 0));
	mouse_push(kbc, b0);
	mouse_push(kbc, m->resolution);
	mouse_push(kbc, m->rate);
}

static void mouse_receive(struct i8042 *kbc, uint8_t byte)
{
	struct mouse *m = &kbc->mouse;
	uint8_t cmd = m->pending;
	m->pending = 0;
	mouse_push(kbc, AUX_ACK);
	if (cmd == AUX_SET_RATE) {
		m->rate = byte;
		return;
	}
	if (cmd == AUX_SET_RESOLUTION) {
		m->resolution = byte & 3;
		return;
	}
	switch (byte) {
	case AUX_RESET:
		mouse_reset(m);
		mouse_push(kbc, KBD_SELF_TEST_OK);
		mouse_push(kbc, AUX_ID);
		break;
	case AUX_IDENTIFY: mouse_push(kbc, AUX_ID); break;
	case AUX_STATUS: mouse_status(kbc); break;
	case AUX_READ_DATA:   /* a packet of no motion */
		mouse_push(kbc, (uint8_t)(AUX_ALWAYS_ONE | (m->buttons & 7)));
		mouse_push(kbc, 0);
		mouse_push(kbc, 0);
		break;
	case AUX_ENABLE: m->reporting = true; break;
	case AUX_DISABLE: m->reporting = false; break;
	case AUX_DEFAULTS: mouse_reset(m); break;
	case AUX_SET_SCALING_1: m->scaling_2 = false; break;
	case AUX_SET_SCALING_2: m->scaling_2 = true; break;
	case AUX_SET_RATE: case AUX_SET_RESOLUTION: m->pending = byte; break;
	default: break;   /* acknowledged, nothing to do */
	}
}

static void write_output_port(struct i8042 *kbc, uint8_t value, struct reset_reason *why)
{
	kbc->output_port = value;
	if (value & OUT_RESET_LINE)
		return;
	why->pulled = true;
	snprintf(why->text, sizeof(why->text),
		 "guest reset through the i8042 output port (0xd1, 0x%02x)", value);
}

static void data_write(struct i8042 *kbc, uint8_t byte, struct reset_reason *why)
{
	uint8_t cmd = kbc->pending;
	kbc->pending = 0;
	kbc->last_was_command = false;
	if (cmd >= CMD_WRITE_RAM && cmd <= CMD_WRITE_RAM + CMD_RAM_LAST_OFFSET) {
		kbc->ram[cmd - CMD_WRITE_RAM] = byte;
		update_irqs(kbc);   /* the interrupt enables may have changed */
		return;
	}
	switch (cmd) {
	case CMD_WRITE_OUTPUT:
		write_output_port(kbc, byte, why);
		return;
	case CMD_WRITE_KBD_BUFFER:
		push(kbc, byte, false);
		return;
	case CMD_WRITE_AUX_BUFFER:
		push(kbc, byte, true);
		return;
	case CMD_WRITE_AUX:
		mouse_receive(kbc, byte);
		return;
	default:
		keyboard_receive(kbc, byte);
	}
}

static bool takes_data_byte(uint8_t cmd)
{
	return (cmd >= CMD_WRITE_RAM && cmd <= CMD_WRITE_RAM + CMD_RAM_LAST_OFFSET) ||
	       (cmd >= CMD_WRITE_OUTPUT && cmd <= CMD_WRITE_AUX);
}

static void command_write(struct i8042 *kbc, uint8_t cmd, struct reset_reason *why)
{
	kbc->last_was_command = true;
	kbc->pending = takes_data_byte(cmd) ? cmd : 0;
	if (cmd >= CMD_READ_RAM && cmd <= CMD_READ_RAM + CMD_RAM_LAST_OFFSET) {
		push(kbc, kbc->ram[cmd - CMD_READ_RAM], false);
		return;
	}
	if (cmd >= CMD_PULSE_FIRST) {
		/* Bits 0-3 clear are the lines pulsed low; line 0 is reset. */
		if (!(cmd & OUT_RESET_LINE)) {
			why->pulled = true;
			snprintf(why->text, sizeof(why->text), "guest reset through the i8042 (0x%02x)", cmd);
		}
		return;
	}
	switch (cmd) {
	case CMD_AUX_OFF: kbc->ram[0] |= CTR_AUX_OFF; break;
	case CMD_AUX_ON: kbc->ram[0] &= (uint8_t)~CTR_AUX_OFF; break;
	case CMD_KBD_OFF: kbc->ram[0] |= CTR_KBD_OFF; break;
	case CMD_KBD_ON: kbc->ram[0] &= (uint8_t)~CTR_KBD_OFF; break;
	case CMD_AUX_TEST:
	case CMD_KBD_TEST:
		push(kbc, INTERFACE_OK, false);
		break;
	case CMD_SELF_TEST:
		kbc->ram[0] |= CTR_SYS;
		push(kbc, SELF_TEST_OK, false);
		break;
	case CMD_READ_OUTPUT: push(kbc, kbc->output_port, false); break;
	case CMD_A20_OFF: kbc->output_port &= (uint8_t)~OUT_A20; break;
	case CMD_A20_ON: kbc->output_port |= OUT_A20; break;
	default: break;   /* accepted and ignored */
	}
}

/* Both ports: take the lock, do the access, and pull the reset line only
 * after the lock is released. */
static void kbc_access(struct i8042 *kbc, bool command_port, uint8_t *data, uint32_t len,
		   bool is_write)
{
	struct reset_reason why = { .pulled = false };
	pthread_mutex_lock(&kbc->lock);
	/* Only the low byte of a wider access reaches the 8-bit controller. */
	if (is_write && command_port)
		command_write(kbc, data[0], &why);
	else if (is_write)
		data_write(kbc, data[0], &why);
	else
		data[0] = command_port ? status(kbc) : pop(kbc);
	pthread_mutex_unlock(&kbc->lock);
	for (uint32_t i = 1; !is_write && i < len; i++)
		data[i] = 0xff;
	if (why.pulled)
		reset_line_pull(&kbc->reset, why.text);
}

static void data_port_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	(void)offset;
	kbc_access(opaque, false, data, len, false);
}

static void data_port_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)offset;
	uint8_t byte = data[0];
	kbc_access(opaque, false, &byte, len, true);
}

static void command_port_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	(void)offset;
	kbc_access(opaque, true, data, len, false);
}

static void command_port_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)offset;
	uint8_t byte = data[0];
	kbc_access(opaque, true, &byte, len, true);
}

const struct bus_device_ops i8042_data_ops = {
	.read = data_port_read,
	.write = data_port_write,
};

const struct bus_device_ops i8042_command_ops = {
	.read = command_port_read,
	.write = command_port_write,
};

struct i8042 *i8042_create(const struct reset_line *reset)
{
	struct i8042 *kbc = calloc(1, sizeof(*kbc));
	if (!kbc)
		return NULL;
	if (pthread_mutex_init(&kbc->lock, NULL) != 0) {
		free(kbc);
		return NULL;
	}
	if (reset)
		kbc->reset = *reset;
	kbc->ram[0] = CTR_RESET;
	kbc->output_port = OUT_PORT_RESET;
	kbc->scanning = true;
	mouse_reset(&kbc->mouse);
	return kbc;
}

void i8042_set_irqs(struct i8042 *kbc, const struct irq_line *kbd, const struct irq_line *aux)
{
	pthread_mutex_lock(&kbc->lock);
	kbc->kbd_irq = kbd ? *kbd : (struct irq_line){ .set_level = NULL };
	kbc->aux_irq = aux ? *aux : (struct irq_line){ .set_level = NULL };
	kbc->kbd_level = kbc->aux_level = false;
	update_irqs(kbc);
	pthread_mutex_unlock(&kbc->lock);
}

/* ---- the keyboard and mouse behind the controller ---- */

/* Set 1 to set 2, for the keys up to F12 (index: the set 1 code). The
 * keys with the 0xe0 prefix share their low byte's entry, but for the
 * three Windows keys below. */
static const uint8_t set1_to_set2[0x59] = {
	0x00, 0x76, 0x16, 0x1e, 0x26, 0x25, 0x2e, 0x36, 0x3d, 0x3e, 0x46, 0x45, 0x4e, 0x55, 0x66, 0x0d,
	0x15, 0x1d, 0x24, 0x2d, 0x2c, 0x35, 0x3c, 0x43, 0x44, 0x4d, 0x54, 0x5b, 0x5a, 0x14, 0x1c, 0x1b,
	0x23, 0x2b, 0x34, 0x33, 0x3b, 0x42, 0x4b, 0x4c, 0x52, 0x0e, 0x12, 0x5d, 0x1a, 0x22, 0x21, 0x2a,
	0x32, 0x31, 0x3a, 0x41, 0x49, 0x4a, 0x59, 0x7c, 0x11, 0x29, 0x58, 0x05, 0x06, 0x04, 0x0c, 0x03,
	0x0b, 0x83, 0x0a, 0x01, 0x09, 0x77, 0x7e, 0x6c, 0x75, 0x7d, 0x7b, 0x6b, 0x73, 0x74, 0x79, 0x69,
	0x72, 0x7a, 0x70, 0x71, 0x84, 0x00, 0x61, 0x78, 0x07,
};

static uint8_t set2_code(uint16_t key)
{
	uint8_t code = (uint8_t)key;
	if (key >> 8 == EXTENDED && code >= 0x5b && code <= 0x5d)
		return (uint8_t[]){ 0x1f, 0x27, 0x2f }[code - 0x5b];   /* left/right Windows, Menu */
	return code < sizeof(set1_to_set2) ? set1_to_set2[code] : 0;
}

/* The bytes of one key event: set 1 when the controller translates,
 * set 2 otherwise; 0 when the key has no code in the set. */
static unsigned key_bytes(const struct i8042 *kbc, uint16_t key, bool down, uint8_t out[3])
{
	unsigned n = 0;
	uint8_t code = (uint8_t)key;
	if (!code || code >= SET1_BREAK || (key >> 8 && key >> 8 != EXTENDED))
		return 0;
	if (key >> 8 == EXTENDED)
		out[n++] = EXTENDED;
	if (kbc->ram[0] & CTR_TRANSLATE) {
		out[n++] = down ? code : (uint8_t)(code | SET1_BREAK);
		return n;
	}
	uint8_t code2 = set2_code(key);
	if (!code2)
		return 0;
	if (!down)
		out[n++] = SET2_BREAK;
	out[n++] = code2;
	return n;
}

bool i8042_key(struct i8042 *kbc, uint16_t key, bool down)
{
	uint8_t bytes[3];
	bool queued = false;
	pthread_mutex_lock(&kbc->lock);
	unsigned n = key_bytes(kbc, key, down, bytes);
	if (n && kbc->scanning && !(kbc->ram[0] & CTR_KBD_OFF))
		queued = push_event(kbc, bytes, n, false);
	pthread_mutex_unlock(&kbc->lock);
	return queued;
}

static int clamp_motion(int v)
{
	return v < -255 ? -255 : v > 255 ? 255 : v;
}

bool i8042_mouse(struct i8042 *kbc, int dx, int dy, unsigned buttons)
{
	bool queued = false;
	dx = clamp_motion(dx);
	dy = clamp_motion(dy);
	pthread_mutex_lock(&kbc->lock);
	kbc->mouse.buttons = buttons & 7;
	uint8_t packet[3] = {
		(uint8_t)(AUX_ALWAYS_ONE | (buttons & 7) | (dx < 0 ? AUX_X_SIGN : 0) |
			  (dy < 0 ? AUX_Y_SIGN : 0)),
		(uint8_t)dx, (uint8_t)dy,
	};
	if (kbc->mouse.reporting && !(kbc->ram[0] & CTR_AUX_OFF))
		queued = push_event(kbc, packet, 3, true);
	pthread_mutex_unlock(&kbc->lock);
	return queued;
}

void i8042_destroy(struct i8042 *kbc)
{
	if (!kbc)
		return;
	pthread_mutex_destroy(&kbc->lock);
	free(kbc);
}

/* ---- the device interface (src/device.h) ---- */

static void *i8042_device_create(const struct device_env *env, struct kvmini_error *err)
{
	struct i8042 *kbc = i8042_create(&env->reset);
	if (!kbc)
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for the i8042");
	else
		i8042_set_irqs(kbc, &env->irqs[0], &env->irqs[1]);
	return kbc;
}

static void i8042_device_key(void *dev, uint16_t key, bool down)
{
	i8042_key(dev, key, down);
}

static void i8042_device_pointer(void *dev, int dx, int dy, unsigned buttons)
{
	i8042_mouse(dev, dx, dy, buttons);
}

static void i8042_device_destroy(void *dev)
{
	i8042_destroy(dev);
}

static void i8042_device_reset(void *dev)
{
	struct i8042 *kbc = dev;
	pthread_mutex_lock(&kbc->lock);
	struct reset_line reset = kbc->reset;
	memset(kbc->ram, 0, sizeof(kbc->ram));
	kbc->ram[0] = CTR_RESET;
	kbc->output_port = OUT_PORT_RESET;
	kbc->pending = 0;
	kbc->last_was_command = false;
	kbc->head = kbc->count = 0;
	kbc->last_read = 0;
	kbc->reset = reset;
	kbc->scanning = true;
	kbc->kbd_pending = 0;
	mouse_reset(&kbc->mouse);
	update_irqs(kbc);
	pthread_mutex_unlock(&kbc->lock);
}

/* The keyboard's and the mouse's own state, after the queue. */
enum { DEVICE_STATE_BYTES = 8 };

static void devices_save(const struct i8042 *kbc, uint8_t out[DEVICE_STATE_BYTES])
{
	const struct mouse *m = &kbc->mouse;
	const uint8_t v[DEVICE_STATE_BYTES] = {
		kbc->scanning, kbc->kbd_pending, m->reporting, m->pending, m->rate,
		m->resolution, m->scaling_2, m->buttons,
	};
	memcpy(out, v, sizeof(v));
}

static bool devices_valid(const uint8_t v[DEVICE_STATE_BYTES])
{
	bool kbd_pending_ok = v[1] == 0 || v[1] == 0xed || v[1] == KBD_SCAN_SET || v[1] == 0xf3;
	bool aux_pending_ok = v[3] == 0 || v[3] == AUX_SET_RATE || v[3] == AUX_SET_RESOLUTION;
	return v[0] <= 1 && kbd_pending_ok && v[2] <= 1 && aux_pending_ok && v[5] <= 3 &&
	       v[6] <= 1 && v[7] <= 7;
}

static void devices_restore(struct i8042 *kbc, const uint8_t v[DEVICE_STATE_BYTES])
{
	kbc->scanning = v[0];
	kbc->kbd_pending = v[1];
	kbc->mouse = (struct mouse){ .reporting = v[2], .pending = v[3], .rate = v[4],
				     .resolution = v[5], .scaling_2 = v[6], .buttons = v[7] };
}

/* The output queue goes oldest byte first, each with its port. */
static void i8042_save(void *dev, struct state_writer *w)
{
	struct i8042 *kbc = dev;
	pthread_mutex_lock(&kbc->lock);
	state_put_bytes(w, kbc->ram, CONTROLLER_RAM);
	const uint8_t regs[] = { kbc->output_port, kbc->pending, kbc->last_was_command,
				 kbc->last_read, (uint8_t)kbc->count };
	state_put_bytes(w, regs, sizeof(regs));
	for (unsigned i = 0; i < kbc->count; i++) {
		const struct queued_byte *q = &kbc->queue[(kbc->head + i) % QUEUE_SIZE];
		state_put_u8(w, q->value);
		state_put_u8(w, q->aux);
	}
	uint8_t devices[DEVICE_STATE_BYTES];
	devices_save(kbc, devices);
	state_put_bytes(w, devices, sizeof(devices));
	pthread_mutex_unlock(&kbc->lock);
}

static int i8042_restore(void *dev, struct state_reader *r, struct kvmini_error *err)
{
	struct i8042 *kbc = dev;
	uint8_t ram[CONTROLLER_RAM], regs[5];
	struct queued_byte queue[QUEUE_SIZE];
	state_get_bytes(r, ram, sizeof(ram));
	state_get_bytes(r, regs, sizeof(regs));
	unsigned count = regs[4];
	if (count > QUEUE_SIZE)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "i8042: saved output queue holds %u bytes, more than %u", count,
				   QUEUE_SIZE);
	bool flags_valid = regs[2] <= 1 && (regs[1] == 0 || takes_data_byte(regs[1]));
	for (unsigned i = 0; i < count; i++) {
		queue[i].value = state_get_u8(r);
		uint8_t aux = state_get_u8(r);
		flags_valid = flags_valid && aux <= 1;
		queue[i].aux = aux;
	}
	uint8_t devices[DEVICE_STATE_BYTES];
	state_get_bytes(r, devices, sizeof(devices));
	flags_valid = flags_valid && devices_valid(devices);
	if (state_reader_finish(r, "i8042", err) < 0)
		return -1;
	if (!flags_valid)
		return kvmini_fail(err, KVMINI_E_USAGE, "i8042: saved state holds an impossible value");
	pthread_mutex_lock(&kbc->lock);
	memcpy(kbc->ram, ram, sizeof(ram));
	kbc->output_port = regs[0];
	kbc->pending = regs[1];
	kbc->last_was_command = regs[2];
	kbc->last_read = regs[3];
	memcpy(kbc->queue, queue, count * sizeof(queue[0]));
	kbc->head = 0;
	kbc->count = count;
	devices_restore(kbc, devices);
	/* The lines are as the restored interrupt controllers hold them:
	 * record their levels without raising them a second time. */
	bool aux = count && queue[0].aux;
	kbc->kbd_level = count && !aux && (ram[0] & CTR_KBD_INT);
	kbc->aux_level = aux && (ram[0] & CTR_AUX_INT);
	pthread_mutex_unlock(&kbc->lock);
	return 0;
}

const struct device_type i8042_device = {
	.name = "i8042",
	.res = {
		.ranges = {
			{ RESOURCE_SPACE_PORT, I8042_DATA_PORT, 1, &i8042_data_ops, "i8042 data" },
			{ RESOURCE_SPACE_PORT, I8042_COMMAND_PORT, 1, &i8042_command_ops,
			  "i8042 command/status" },
		},
		.nranges = 2,
		.irqs = { { I8042_KBD_IRQ, false }, { I8042_AUX_IRQ, false } },
		.nirqs = 2,
		.acpi_name = "KBD_", .acpi_hid = "PNP0303",
	},
	.create = i8042_device_create, .destroy = i8042_device_destroy,
	.reset = i8042_device_reset,
	.save_state = i8042_save, .restore_state = i8042_restore,
	.key_event = i8042_device_key, .pointer_event = i8042_device_pointer,
};
