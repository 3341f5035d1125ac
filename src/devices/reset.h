/* The lines a device pulls to act on the whole machine: reset it, power
 * it off, or end the VM with a status (debug-exit). The machine decides
 * what each does (--on-reset, the exit status); a device only pulls. */
#ifndef KVMINI_DEVICES_RESET_H
#define KVMINI_DEVICES_RESET_H

#include <stddef.h>
#include <stdint.h>

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

struct power_off_line {
	void (*off)(void *ctx, const char *reason);
	void *ctx;
};

/* End the VM with exit status `status` (as a process exit status). */
struct exit_line {
	void (*exit)(void *ctx, int status, const char *reason);
	void *ctx;
};

/* ACPI S3 (suspend to RAM): suspend stops every vCPU, RAM and devices
 * kept; resume resets every vCPU and starts the BSP in real mode at
 * CS = vector >> 4, IP = vector & 0xf (the caller checked the vector). */
struct sleep_line {
	void (*suspend)(void *ctx);
	void (*resume)(void *ctx, uint32_t waking_vector);
	void *ctx;
};

#endif
