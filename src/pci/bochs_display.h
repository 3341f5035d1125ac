/* Layer 6, beside the PCI host: the Bochs/QEMU "bochs-display" PCI
 * function (1234:1111, class 0x0380 display/other), which Linux drives
 * with its bochs DRM driver. Only with --display WxH,bochs-display.
 *
 *   BAR 0  the video memory: the machine's framebuffer (its whole
 *          mapping, FB_VRAM_BYTES), 32-bit prefetchable memory. The
 *          guest writes it as plain memory: while BAR 0 is decoded the
 *          board gives KVM a memory slot of it there (with the dirty log
 *          on), and moves the slot with the BAR (the vram_map callback).
 *          The BAR's bus range serves only what reaches it without the
 *          slot (while it moves), from the same memory.
 *   BAR 2  4 KiB of registers: 0x000 an EDID block (128 bytes) naming
 *          the first mode; 0x400-0x41f the VGA ports (accepted and
 *          ignored: there is no VGA), 0x500 + 2 x index the DISPI
 *          registers (display/dispi.h; 16-bit accesses), 0x600 QEMU's
 *          extension registers (size 8, and the framebuffer's byte
 *          order: little endian, the only one).
 * The function starts with memory decoding on and the first mode
 * enabled, as firmware would leave it, so a kernel given the
 * framebuffer in screen_info sees its picture before any driver.
 *
 * A mode the guest enables becomes the framebuffer's mode
 * (framebuffer_set_mode()): VNC and screenshots follow it.
 *
 * Threads: BAR callbacks run on vCPUs, bar_mapped on the PCI mapper
 * (a vCPU, or the main thread at plug); all take the device's lock. */
#ifndef KVMINI_PCI_BOCHS_DISPLAY_H
#define KVMINI_PCI_BOCHS_DISPLAY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "display/dispi.h"
#include "display/framebuffer.h"
#include "error.h"
#include "pci/pci.h"

#define BOCHS_VENDOR         0x1234u
#define BOCHS_DEVICE         0x1111u
#define BOCHS_CLASS          0x038000u   /* display controller, other */
#define BOCHS_REVISION       2u          /* >= 2: the extension registers exist */
#define BOCHS_SUBSYS_VENDOR  0x1af4u     /* QEMU's, as Linux sees it under QEMU */
#define BOCHS_SUBSYS_ID      0x1100u
#define BOCHS_VRAM_BAR       0u
#define BOCHS_MMIO_BAR       2u
#define BOCHS_MMIO_SIZE      4096u
#define BOCHS_EDID_OFFSET    0x000u
#define BOCHS_EDID_SIZE      128u
#define BOCHS_VGA_OFFSET     0x400u
#define BOCHS_DISPI_OFFSET   0x500u
#define BOCHS_QEXT_OFFSET    0x600u
#define BOCHS_QEXT_SIZE      8u
#define BOCHS_QEXT_ENDIAN_LITTLE 0x1e1e1e1eu

/* Give KVM the video memory at gpa (on), or take it away (off). */
typedef int (*bochs_vram_map_fn)(void *ctx, uint64_t gpa, bool on, struct kvmini_error *err);

struct bochs_display {
	struct pci_function fn;
	pthread_mutex_t lock;
	struct dispi dispi;
	struct framebuffer *fb;         /* the machine's: the video memory */
	uint8_t edid[BOCHS_EDID_SIZE];
	bochs_vram_map_fn vram_map;
	void *vram_ctx;
	int log_fd;
	bool vram_failed;               /* logged once */
	bool slot_live;                 /* KVM has the video memory in its slot */
};

struct bochs_display_env {
	struct pci_host *host;
	unsigned slot;
	struct framebuffer *fb;         /* framebuffer_init_vram(), a power-of-two size */
	unsigned width, height;         /* the first mode (it fits in fb) */
	bochs_vram_map_fn vram_map;
	void *vram_ctx;
	int log_fd;
};

/* Sets the framebuffer to the first mode, plugs the function at
 * env->slot and turns memory decoding on (BAR 0 placed, vram_map
 * called). */
int bochs_display_init(struct bochs_display *d, const struct bochs_display_env *env,
		       struct kvmini_error *err);
void bochs_display_destroy(struct bochs_display *d);

/* Snapshots: the function's config space and the DISPI registers (the
 * video memory is the machine's framebuffer, saved with it). A restore
 * refuses registers no guest could have set, and shows the saved mode
 * without clearing the memory; BAR 0's slot follows when the PCI host's
 * restore maps the BARs. */
void bochs_display_save(struct bochs_display *d, struct state_writer *w);
int bochs_display_restore(struct bochs_display *d, struct state_reader *r,
			  struct kvmini_error *err);

/* Where BAR 0 is placed now (for the boot's screen_info). */
uint64_t bochs_display_vram_address(const struct bochs_display *d);

/* 128 bytes of EDID 1.4 naming width x height as the preferred mode
 * (a pure function, for tests too). */
void bochs_edid_build(uint8_t *edid, unsigned width, unsigned height);

#endif
