#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "devices/i8042.h"

#define QUEUE_SIZE 8           /* bytes waiting to be read at port 0x60 */
#define CONTROLLER_RAM 32      /* ram[0] is the command byte */

enum {
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
	SELF_TEST_OK = 0x55, INTERFACE_OK = 0x00,
};

struct queued_byte {
	uint8_t value;
	bool aux;                  /* from the mouse port */
};

struct i8042 {
	pthread_mutex_t lock;      /* vCPU threads share the controller */
	struct reset_line reset;
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

static void push(struct i8042 *kbc, uint8_t value, bool aux)
{
	if (kbc->count == QUEUE_SIZE)
		return;   /* a guest that never reads loses the newest bytes */
	kbc->queue[(kbc->head + kbc->count) % QUEUE_SIZE] = (struct queued_byte){ value, aux };
	kbc->count++;
}

static uint8_t pop(struct i8042 *kbc)
{
	if (kbc->count) {
		kbc->last_read = kbc->queue[kbc->head].value;
		kbc->head = (kbc->head + 1) % QUEUE_SIZE;
		kbc->count--;
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

static void keyboard_receive(struct i8042 *kbc, uint8_t byte)
{
	if (byte == KBD_ECHO) {
		push(kbc, KBD_ECHO, false);
		return;
	}
	push(kbc, KBD_ACK, false);
	if (byte == KBD_RESET)
		push(kbc, KBD_SELF_TEST_OK, false);
	if (byte == KBD_IDENTIFY) {
		push(kbc, KBD_ID_1, false);
		push(kbc, KBD_ID_2, false);
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
		return;   /* no mouse answers */
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
	return kbc;
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
	return kbc;
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
	pthread_mutex_unlock(&kbc->lock);
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
		.irqs = { { I8042_KBD_IRQ, false } },
		.nirqs = 1,
		.acpi_name = "KBD_", .acpi_hid = "PNP0303",
	},
	.create = i8042_device_create, .destroy = i8042_device_destroy,
	.reset = i8042_device_reset,
	.save_state = i8042_save, .restore_state = i8042_restore,
};
