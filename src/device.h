/* Layer 6: the one interface every device implements.
 *
 * A device describes itself once, in a const struct device_type: its
 * name, the resources it needs (bus ranges with their callbacks, ISA
 * interrupt lines), how firmware names it (an ACPI PNP ID), and its
 * operations. The board (src/board/) creates it, registers its ranges on
 * the VM's buses for it, hands it one irq_line per declared interrupt,
 * and writes its resources into the firmware tables. A device never calls
 * an ioctl, never names the run loop or the VM: what it may do to the
 * machine arrives in struct device_env as small callback handles. */
#ifndef KVMINI_DEVICE_H
#define KVMINI_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bus.h"
#include "error.h"
#include "irq.h"
#include "memory.h"
#include "resources.h"
#include "state.h"
#include "devices/reset.h"

struct event_loop;           /* the VM's event loop (src/event_loop.h) */
struct kvmini_config;

/* What the board gives a device it creates. */
struct device_env {
	struct irq_line irqs[RESOURCES_MAX_IRQS];   /* one per declared line, in order */
	struct event_loop *loop;                 /* for fds and timers (may be NULL) */
	struct reset_line reset;                 /* the machine's reset */
	struct power_off_line power_off;         /* ACPI soft-off */
	struct exit_line exit;                   /* end the VM with a status (debug-exit) */
	struct sleep_line sleep;                 /* ACPI S3 */
	const struct kvmini_config *config;      /* the device's fds */
	uint64_t ram_below_4g, ram_above_4g;     /* bytes of guest RAM (the CMOS reports them) */
	/* Every ISA line, for a device whose lines are the guest's choice
	 * (pc-testdev): set_level(ctx, n, level) drives line n; `line` is 0. */
	struct irq_line isa_bus;
	/* Guest RAM, for a device that reads or writes it by DMA (fw_cfg):
	 * only through memory.h's checked helpers. NULL: no RAM. */
	const struct guest_memory *mem;
};

/* What a boot loaded, told to every device after the loader ran and
 * before any vCPU runs. */
struct device_boot {
	/* The command line a --kernel boot gave its kernel, as the kernel
	 * got it (NUL-terminated); NULL for other images. */
	const char *cmdline;
	gpa_t cmdline_addr;      /* where the loader put it in guest RAM */
};

struct device_type {
	const char *name;
	struct resources res;    /* what it occupies (src/resources.h) */
	/* Kept across --on-reset restart, as battery-backed CMOS is. */
	bool persistent;
	/* Whether this VM has the device (an option's); NULL: always. */
	bool (*wanted)(const struct kvmini_config *cfg);

	void *(*create)(const struct device_env *env, struct kvmini_error *err);
	void (*destroy)(void *dev);
	/* Back to the power-on state (what create leaves). */
	void (*reset)(void *dev);
	/* The guest-visible state as bytes, and back. restore_state reads
	 * hostile bytes: it checks every value and changes nothing when it
	 * fails. NULL: the device has no state. */
	void (*save_state)(void *dev, struct state_writer *w);
	int (*restore_state)(void *dev, struct state_reader *r, struct kvmini_error *err);
	/* Told what this boot loaded (NULL: not interested). */
	int (*booted)(void *dev, const struct device_boot *boot, struct kvmini_error *err);
	/* A persistent device between two boots. unbind: before the boot's
	 * VM goes; once it returns the device raises no line and no timer
	 * of it acts. rebind: the next boot's lines, before it runs, with
	 * what a machine reset does to the device. NULL: nothing to do. */
	void (*unbind)(void *dev);
	void (*rebind)(void *dev, const struct device_env *env);
	/* Bytes from the console (the UART); returns how many it took. */
	size_t (*input)(void *dev, const uint8_t *bytes, size_t n);
	/* A viewer's keyboard and mouse (the i8042): key is a PC key's scan
	 * code in set 1 (0xe0XX for extended keys, src/devices/i8042.h),
	 * motion is relative (right and up positive), buttons bit 0 left,
	 * 1 right, 2 middle. */
	void (*key_event)(void *dev, uint16_t key, bool down);
	void (*pointer_event)(void *dev, int dx, int dy, unsigned buttons);
	/* Told of every change of the ISA lines in watched_lines (bit n:
	 * line n) that the board's devices drive through their declared
	 * irqs (the ACPI PM watches the RTC's IRQ 8 to wake from S3); from
	 * the driving device's thread, maybe under its lock: take no lock
	 * that is held while calling into another device. */
	void (*isa_line_changed)(void *dev, unsigned line, bool level);
	uint16_t watched_lines;
};

#endif
