/* The board's virtio wiring (docs/virtio.md): each boot, every virtio
 * device of the machine's set (src/virtio/devices.h) is put on the
 * chosen transport, which gives it its place (an MMIO window and an
 * interrupt line, or a PCI function) and says how firmware and a Linux
 * kernel learn of it. The board knows transports only through struct
 * board_virtio_transport; the devices never know them at all.
 *
 * virtio-mmio's places: device i (in the set's order) gets the 4 KiB
 * window at BOARD_VIRTIO_MMIO_BASE + i * 4 KiB (16 devices end at
 * 0xd0010000, far from the IOAPIC at 0xfec00000, the HPET at 0xfed00000,
 * the local APIC at 0xfee00000 and KVM's TSS pages at 0xfffbc000) and
 * IOAPIC pin (GSI) 16 + i % 8: the pins past the ISA IRQs, which no
 * legacy device claims; the 8259 cannot see them, so virtio interrupts
 * need --irqchip kernel or split. With kernel, the line is level-
 * triggered (an irqfd with resample); with split, edge-triggered (the
 * split chip pulses it); a ninth device shares a line with the first. */
#ifndef KVMINI_BOARD_VIRTIO_H
#define KVMINI_BOARD_VIRTIO_H

#include <stddef.h>
#include "error.h"
#include "kvmini.h"
#include "resources.h"
#include "state.h"
#include "virtio/devices.h"

struct board;

#define BOARD_VIRTIO_MMIO_BASE 0xd0000000u
#define BOARD_VIRTIO_FIRST_GSI 16u
#define BOARD_VIRTIO_GSIS 8u

/* One device on this boot. */
struct board_virtio_slot {
	struct virtio_device *vdev;
	unsigned index;              /* in the set */
	void *transport;             /* the transport's own state */
	struct resources res;        /* for the firmware tables */
	char acpi_name[5];
	char cmdline[64];            /* what a Linux kernel is told; "" for nothing */
};

struct board_virtio_transport {
	const char *name;
	/* Give the device its place on b's VM; fill slot->transport, and
	 * slot->res / slot->cmdline when firmware or Linux must hear of it.
	 * On failure leave nothing behind. */
	int (*attach)(struct board *b, struct board_virtio_slot *slot, struct kvmini_error *err);
	/* Before the VM goes: nothing of the device reaches the guest after. */
	void (*detach)(struct board *b, struct board_virtio_slot *slot);
	/* Snapshots: the transport's registers, with the device's lock held
	 * and after the device's own state. NULL: the transport's state
	 * cannot be saved yet (its VMs are refused a snapshot). */
	void (*save)(const struct board_virtio_slot *slot, struct state_writer *w);
	int (*restore)(struct board_virtio_slot *slot, struct state_reader *r,
		       struct kvmini_error *err);
};

extern const struct board_virtio_transport board_virtio_mmio;

/* Where and which line device i gets on virtio-mmio. */
static inline uint64_t board_virtio_mmio_base(unsigned i)
{
	return BOARD_VIRTIO_MMIO_BASE + (uint64_t)i * 0x1000u;
}
static inline unsigned board_virtio_mmio_gsi(unsigned i)
{
	return BOARD_VIRTIO_FIRST_GSI + i % BOARD_VIRTIO_GSIS;
}

/* slot's window, line (level- or edge-triggered, shared or not) and
 * its DSDT entry and command-line words, for device slot->index. */
void board_virtio_mmio_describe(struct board_virtio_slot *slot, bool level, bool shared);

/* Whether cfg's transport exists in this build (checked before the VM
 * is made, so a wrong --transport is a usage error on any host). */
int board_virtio_check(const struct kvmini_config *cfg, struct kvmini_error *err);

/* Every device of b->virtio on cfg's transport; on failure
 * board_virtio_detach() cleans up. */
int board_virtio_attach(struct board *b, const struct kvmini_config *cfg,
			struct kvmini_error *err);
void board_virtio_detach(struct board *b);

/* The kernel command-line words announcing the devices (for a Linux
 * kernel), separated by spaces, into buf; "" when there are none. False
 * when they do not fit. */
bool board_virtio_cmdline(const struct board *b, char *buf, size_t len);

/* ---- snapshots (docs/snapshot.md) ---- */

/* Whether b's transport can save its devices. */
bool board_virtio_can_save(const struct board *b);
/* Lock every device and quiesce it (virtio_device_quiesce()): until
 * board_virtio_thaw(), no device changes guest RAM or its own state. */
void board_virtio_freeze(struct board *b);
void board_virtio_thaw(struct board *b);
/* Frozen: each device's state and its transport's. */
void board_virtio_save(const struct board *b, struct state_writer *w);
/* Onto the devices of a machine made from the same configuration,
 * guest RAM restored; every value checked. */
int board_virtio_restore(struct board *b, const uint8_t *data, size_t len,
			 struct kvmini_error *err);

#endif
