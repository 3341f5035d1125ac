#include <stdio.h>
#include "devices/reset_control.h"

static void reset_control_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	(void)offset;
	struct reset_control *rc = opaque;
	data[0] = __atomic_load_n(&rc->value, __ATOMIC_SEQ_CST);
	for (uint32_t i = 1; i < len; i++)
		data[i] = 0xff;
}

static void reset_control_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)offset;
	(void)len;
	struct reset_control *rc = opaque;
	uint8_t kept = data[0] & (RESET_CONTROL_HARD | RESET_CONTROL_FULL);
	__atomic_store_n(&rc->value, kept, __ATOMIC_SEQ_CST);
	if (!(data[0] & RESET_CONTROL_RESET_CPU))
		return;
	char reason[64];
	snprintf(reason, sizeof(reason), "guest reset through port 0xcf9 (0x%02x)", data[0]);
	reset_line_pull(&rc->reset, reason);
}

const struct bus_device_ops reset_control_ops = {
	.read = reset_control_read,
	.write = reset_control_write,
};

void reset_control_init(struct reset_control *rc, const struct reset_line *reset)
{
	*rc = (struct reset_control){ .value = 0 };
	if (reset)
		rc->reset = *reset;
}
