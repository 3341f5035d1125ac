/* The reset line a device pulls to reset the machine (the i8042, port
 * 0x92, port 0xcf9). Like an irq_line it is a value the machine hands
 * the device: the device never names the VM, and the machine decides
 * what a reset does (end the VM, or restart it with --on-reset restart). */
#ifndef KVMINI_DEVICES_RESET_H
#define KVMINI_DEVICES_RESET_H

#include <stddef.h>

struct reset_line {
	/* reason: one line naming the path, e.g. "guest reset through port 0x92". */
	void (*pull)(void *ctx, const char *reason);
	void *ctx;
};

static inline void reset_line_pull(const struct reset_line *line, const char *reason)
{
	if (line && line->pull)
		line->pull(line->ctx, reason);
}

#endif
