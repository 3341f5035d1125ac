/* The Bochs VBE "DISPI" registers: how a guest sets a mode on the Bochs
 * display (src/pci/bochs_display.h), as Bochs, QEMU's VGA and
 * bochs-display, and Linux's bochs DRM driver know them. A pure model,
 * with no bus and no memory: the device feeds it the guest's 16-bit
 * writes and shows the mode it computes.
 *
 * Registers (index: what):
 *   0  ID             0xb0c0..0xb0c5 the guest may write (the interface
 *                     version it speaks); reads back what it wrote
 *   1  XRES, 2 YRES   the mode's size, FB_MIN_SIDE..FB_MAX_SIDE
 *   3  BPP            32 only: kvmini's pixels are 0x00RRGGBB words
 *   4  ENABLE         bit 0 on, bit 1 GETCAPS (XRES, YRES, BPP read the
 *                     maxima), bit 5 8-bit DAC, bit 6 linear framebuffer,
 *                     bit 7 keep memory (else the visible area is cleared)
 *   5  BANK           the banked window's bank: there is no such window
 *                     (PCI only), the value is kept and means nothing
 *   6  VIRT_WIDTH     pixels per row in memory (>= XRES)
 *   7  VIRT_HEIGHT    rows that fit in the memory (computed; read-only)
 *   8  X_OFFSET,
 *   9  Y_OFFSET       the visible area's corner in the virtual screen
 *   10 VIDEO_MEMORY_64K  the memory's size in 64 KiB (read-only)
 * XRES, YRES and BPP change only while the display is off; enabling it
 * resets the virtual screen (VIRT_WIDTH = XRES, offsets 0).
 *
 * The hostile guest: every write is checked before it is kept, so the
 * visible area always lies inside the memory. A value out of range
 * leaves the register as it was (a BPP other than 32, an XRES of 0, a
 * VIRT_WIDTH or an offset that would reach past the memory); enabling
 * a mode that does not fit in memory leaves the display off. */
#ifndef KVMINI_DISPLAY_DISPI_H
#define KVMINI_DISPLAY_DISPI_H

#include <stdbool.h>
#include <stdint.h>
#include "display/framebuffer.h"

enum {
	DISPI_ID, DISPI_XRES, DISPI_YRES, DISPI_BPP, DISPI_ENABLE, DISPI_BANK,
	DISPI_VIRT_WIDTH, DISPI_VIRT_HEIGHT, DISPI_X_OFFSET, DISPI_Y_OFFSET,
	DISPI_VIDEO_MEMORY_64K,
	DISPI_REGS
};

#define DISPI_ID0            0xb0c0u
#define DISPI_ID5            0xb0c5u
#define DISPI_ENABLED        0x01u
#define DISPI_GETCAPS        0x02u
#define DISPI_8BIT_DAC       0x20u
#define DISPI_LFB_ENABLED    0x40u
#define DISPI_NOCLEARMEM     0x80u
#define DISPI_BPP_ONLY       32u

struct dispi {
	uint16_t reg[DISPI_REGS];
	uint64_t vram;              /* bytes of video memory */
};

/* What a write did, for the device. */
enum dispi_effect {
	DISPI_KEPT,                 /* nothing visible changed */
	DISPI_MODE,                 /* the visible mode changed: dispi_mode() */
	DISPI_MODE_CLEAR,           /* ... and the visible area is to be cleared */
};

/* As firmware leaves it: enabled, width x height at 32 bpp (a size
 * framebuffer_init_vram() accepted for vram bytes). */
void dispi_init(struct dispi *d, uint64_t vram, unsigned width, unsigned height);
/* Register `index`; 0 past the last. */
uint16_t dispi_read(const struct dispi *d, unsigned index);
enum dispi_effect dispi_write(struct dispi *d, unsigned index, uint16_t value);
/* The visible mode; false while the display is off. */
bool dispi_mode(const struct dispi *d, struct fb_mode *mode);
/* Saved registers onto d (same memory size): false, d unchanged, when
 * no sequence of writes could have left them so (the invariant above,
 * values each write refuses, a derived register not what it derives). */
bool dispi_restore(struct dispi *d, const uint16_t reg[DISPI_REGS]);

#endif
