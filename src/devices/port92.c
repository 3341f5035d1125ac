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
