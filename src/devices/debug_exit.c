#include "vm.h"
#include "devices/debug_exit.h"

static void debug_exit_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)offset;
	uint32_t value = 0;
	for (uint32_t i = 0; i < len && i < sizeof(value); i++)
		value |= (uint32_t)data[i] << (8 * i);
	/* A process exit status keeps 8 bits; (v << 1) | 1 is always odd. */
	int status = (int)(((value << 1) | 1) & 0xff);
	vm_request_stop(opaque, KVMINI_OK, status,
			"guest wrote 0x%x to the debug-exit port", value);
}

const struct bus_device_ops debug_exit_ops = {
	.write = debug_exit_write,
};
