#include <stdlib.h>
#include "devices/port92.h"

static void port92_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	(void)offset;
	struct port92 *port = opaque;
	data[0] = __atomic_load_n(&port->value, __ATOMIC_SEQ_CST);
	for (uint32_t i = 1; i < len; i++)
		data[i] = 0xff;
}

static void port92_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)offset;
	(void)len;
	struct port92 *port = opaque;
	uint8_t old = __atomic_exchange_n(&port->value, data[0], __ATOMIC_SEQ_CST);
	if (!(old & PORT92_RESET) && (data[0] & PORT92_RESET))
		reset_line_pull(&port->reset, "guest reset through port 0x92 (fast reset)");
}

const struct bus_device_ops port92_ops = {
	.read = port92_read,
	.write = port92_write,
};

void port92_init(struct port92 *port, const struct reset_line *reset)
{
	*port = (struct port92){ .value = PORT92_A20 };
	if (reset)
		port->reset = *reset;
}

/* ---- the device interface (src/device.h) ---- */

static void *port92_device_create(const struct device_env *env, struct kvmini_error *err)
{
	struct port92 *port = malloc(sizeof(*port));
	if (!port)
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for port 0x92");
	else
		port92_init(port, &env->reset);
	return port;
}

static void port92_reset(void *dev)
{
	struct port92 *port = dev;
	__atomic_store_n(&port->value, PORT92_A20, __ATOMIC_SEQ_CST);
}

static void port92_save(void *dev, struct state_writer *w)
{
	struct port92 *port = dev;
	state_put_u8(w, __atomic_load_n(&port->value, __ATOMIC_SEQ_CST));
}

/* Any byte is a value the guest could have written; restoring one with
 * the reset bit set is no rising edge, so it resets nothing. */
static int port92_restore(void *dev, struct state_reader *r, struct kvmini_error *err)
{
	struct port92 *port = dev;
	uint8_t value = state_get_u8(r);
	if (state_reader_finish(r, "port 0x92", err) < 0)
		return -1;
	__atomic_store_n(&port->value, value, __ATOMIC_SEQ_CST);
	return 0;
}

const struct device_type port92_device = {
	.name = "port 0x92",
	.res = {
		.ranges = { { RESOURCE_SPACE_PORT, PORT92_PORT, 1, &port92_ops, "port 0x92" } },
		.nranges = 1,
	},
	.create = port92_device_create, .destroy = free, .reset = port92_reset,
	.save_state = port92_save, .restore_state = port92_restore,
};
