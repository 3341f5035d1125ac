#include <stdio.h>
#include <stdlib.h>
#include "devices/debug_exit.h"

static void debug_exit_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)offset;
	const struct debug_exit *d = opaque;
	uint32_t value = 0;
	for (uint32_t i = 0; i < len && i < sizeof(value); i++)
		value |= (uint32_t)data[i] << (8 * i);
	/* A process exit status keeps 8 bits; (v << 1) | 1 is always odd. */
	int status = (int)(((value << 1) | 1) & 0xff);
	char reason[64];
	snprintf(reason, sizeof(reason), "guest wrote 0x%x to the debug-exit port", value);
	if (d->exit.exit)
		d->exit.exit(d->exit.ctx, status, reason);
}

const struct bus_device_ops debug_exit_ops = {
	.write = debug_exit_write,
};

static void *debug_exit_create(const struct device_env *env, struct kvmini_error *err)
{
	struct debug_exit *d = malloc(sizeof(*d));
	if (!d)
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for debug-exit");
	else
		d->exit = env->exit;
	return d;
}

const struct device_type debug_exit_device = {
	.name = "debug-exit",
	.res = {
		.ranges = { { RESOURCE_SPACE_PORT, DEBUG_EXIT_PORT, DEBUG_EXIT_SIZE, &debug_exit_ops,
			      "debug-exit" } },
		.nranges = 1,
	},
	.create = debug_exit_create, .destroy = free,
};
