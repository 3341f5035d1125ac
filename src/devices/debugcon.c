#include <stdlib.h>
#include "kvmini.h"
#include "devices/debugcon.h"

static void debugcon_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)offset;
	struct debugcon *con = opaque;
	/* Only the low byte of a wider write is a character. */
	(void)len;
	char_out_write(&con->out, data, 1);
}

static void debugcon_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	for (uint32_t i = 0; i < len; i++)
		data[i] = i == 0 ? DEBUGCON_PORT : 0;
}

const struct bus_device_ops debugcon_ops = {
	.read = debugcon_read,
	.write = debugcon_write,
};

static void *debugcon_create(const struct device_env *env, struct kvmini_error *err)
{
	struct debugcon *con = malloc(sizeof(*con));
	if (!con)
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for debugcon");
	else
		char_out_open(&con->out, env->config->debugcon_fd);
	return con;
}

static void debugcon_destroy(void *dev)
{
	struct debugcon *con = dev;
	char_out_close(&con->out);
	free(con);
}

const struct device_type debugcon_device = {
	.name = "debugcon",
	.res = {
		.ranges = { { RESOURCE_SPACE_PORT, DEBUGCON_PORT, 1, &debugcon_ops, "debugcon" },
			    { RESOURCE_SPACE_PORT, DEBUGCON_PORT2, 1, &debugcon_ops, "debugcon 0x402" } },
		.nranges = 2,
	},
	.create = debugcon_create, .destroy = debugcon_destroy,
};
