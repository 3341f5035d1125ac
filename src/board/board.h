/* Layer 8: the board. A board is a table of devices (struct device_type,
 * src/device.h); this registry creates them, registers their declared
 * ranges on the VM's buses, gives them their interrupt lines and the
 * machine's reset, power-off and exit lines, generates the firmware
 * tables from their declared resources, and saves and restores their
 * state. Adding a device is its file plus one line in the board's table
 * (src/board/pc.c). Devices marked persistent (the CMOS) outlive
 * board_detach(), so they survive --on-reset restart. */
#ifndef KVMINI_BOARD_H
#define KVMINI_BOARD_H

#include <stddef.h>
#include <stdint.h>
#include "device.h"
#include "state.h"
#include "vm.h"
#include "board/virtio.h"

struct split_irqchip;
struct board_pci;
struct framebuffer;

struct board_desc {
	const char *name;
	const struct device_type *const *devices;
	size_t ndevices;
	/* What the interrupt controller brings (the PIT on IRQ 0): in the
	 * firmware tables when there is one, created by it, not here. */
	const struct resources *const *irqchip_devices;
	size_t nirqchip_devices;
};

extern const struct board_desc pc_board;

struct board_slot {
	const struct device_type *type;
	void *dev;               /* NULL between boots unless persistent */
};

#define BOARD_MAX_DEVICES 16

struct board {
	const struct board_desc *desc;
	struct board_slot slots[BOARD_MAX_DEVICES];
	struct vm *vm;           /* the VM attached to, or NULL */
	struct split_irqchip *split;
	struct event_loop *loop;
	/* The machine's virtio devices (set before board_attach(); NULL:
	 * none), and this boot's places for them (board/virtio.h). */
	const struct virtio_device_set *virtio;
	const struct board_virtio_transport *virtio_transport;
	struct board_virtio_slot virtio_slots[VIRTIO_MAX_DEVICES];
	unsigned nvirtio;
	struct board_pci *pci;   /* --transport pci: this boot's host bridge */
	/* The machine's framebuffer (set before board_attach(); NULL: no
	 * display): with --display WxH,bochs-display, the Bochs display's
	 * video memory. */
	struct framebuffer *display;
	/* Lines some device watches (device_type.watched_lines), and
	 * whether every device of this boot exists to be told (atomic). */
	uint16_t watched_lines;
	bool watchers_ready;
};

/* An empty board of desc's devices; fails when it has too many. */
int board_init(struct board *b, const struct board_desc *desc, struct kvmini_error *err);

/* For one boot: with --irqchip split first kvmini's own interrupt
 * controllers, then every device not yet created, and every device's
 * ranges on vm's buses, then the virtio devices on their transport.
 * On failure, board_detach() cleans up. */
int board_attach(struct board *b, struct vm *vm, const struct kvmini_config *cfg,
		 struct kvmini_error *err);
/* End a boot, before vm_destroy(): the split irqchip (its KVM calls use
 * the VM fd; its timer comes off the event loop) and every device that
 * is not persistent. */
void board_detach(struct board *b);
/* Every device, persistent ones too. */
void board_destroy(struct board *b);

/* The MP and ACPI tables for vm's vCPUs and the devices attached for
 * this boot (the virtio devices too). */
int board_write_firmware(const struct board *b, const struct guest_memory *mem,
			 unsigned ncpus, uint64_t *rsdp, struct kvmini_error *err);
/* The firmware's view of the board (for tests): fills `out` (room for
 * BOARD_MAX_DEVICES entries) and returns the count. */
size_t board_resources(const struct board_desc *desc, bool with_irqchip,
		       const struct resources **out);

/* Console bytes to the first device that takes input; how many it took
 * (0 between boots). */
size_t board_input(struct board *b, const uint8_t *bytes, size_t n);

/* A viewer's key and pointer events to the first device that takes
 * them (nothing between boots); src/device.h says what they carry. */
void board_key_event(struct board *b, uint16_t key, bool down);
void board_pointer_event(struct board *b, int dx, int dy, unsigned buttons);

/* Tell every attached device what this boot loaded (after the loader,
 * before the vCPUs run). */
int board_booted(struct board *b, const struct device_boot *boot, struct kvmini_error *err);

/* Every attached device to its power-on state. */
void board_reset(struct board *b);

/* Every device's state, as one blob: per device its name, the length of
 * its bytes, and the bytes. */
void board_save(const struct board *b, struct state_writer *w);
/* Read such a blob back into the attached devices. The blob is hostile:
 * a wrong device name, a length past the end, a malformed device state
 * or bytes left over are errors. Devices before the bad one keep what
 * they restored. */
int board_restore(struct board *b, const uint8_t *blob, size_t len, struct kvmini_error *err);

#endif
