#include <stdio.h>
#include <stdlib.h>
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

/* ---- the device interface (src/device.h) ---- */

static void *reset_control_create(const struct device_env *env, struct kvmini_error *err)
{
	struct reset_control *rc = malloc(sizeof(*rc));
	if (!rc)
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for reset control");
	else
		reset_control_init(rc, &env->reset);
	return rc;
}

static void reset_control_reset(void *dev)
{
	struct reset_control *rc = dev;
	__atomic_store_n(&rc->value, 0, __ATOMIC_SEQ_CST);
}

static void reset_control_save(void *dev, struct state_writer *w)
{
	struct reset_control *rc = dev;
	state_put_u8(w, __atomic_load_n(&rc->value, __ATOMIC_SEQ_CST));
}

static int reset_control_restore(void *dev, struct state_reader *r, struct kvmini_error *err)
{
	struct reset_control *rc = dev;
	uint8_t value = state_get_u8(r);
	if (state_reader_finish(r, "reset control (0xcf9)", err) < 0)
		return -1;
	if (value & ~(RESET_CONTROL_HARD | RESET_CONTROL_FULL))
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "reset control (0xcf9): saved value 0x%02x keeps bits it cannot",
				   value);
	__atomic_store_n(&rc->value, value, __ATOMIC_SEQ_CST);
	return 0;
}

const struct device_type reset_control_device = {
	.name = "reset control (0xcf9)",
	.res = {
		.ranges = { { RESOURCE_SPACE_PORT, RESET_CONTROL_PORT, 1, &reset_control_ops,
			      "reset control (0xcf9)" } },
		.nranges = 1,
	},
	.create = reset_control_create, .destroy = free, .reset = reset_control_reset,
	.save_state = reset_control_save, .restore_state = reset_control_restore,
};
