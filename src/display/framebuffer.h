/* The display's memory: a linear framebuffer of 32-bit pixels that the
 * guest writes as plain memory, and the host reads to show it (VNC) or
 * to save it (screenshots).
 *
 * Where it lives: its own host mapping, outside guest RAM, given to KVM
 * as a memory slot of its own at FB_GPA in the device hole below 4 GiB.
 * A slot of its own, rather than pages carved from RAM, because KVM's
 * dirty-page log is per slot: logging only the framebuffer's slot tells
 * which of its pages the guest wrote without slowing writes to the rest
 * of RAM, and RAM's layout (and every loader's idea of it) stays as it
 * is. The mapping belongs to the machine, not to one boot's VM, so it
 * keeps its pixels across --on-reset restart as video memory does, and
 * a VNC server keeps serving the same memory.
 *
 * Format: width x height pixels, row after row, stride = 4 x width
 * bytes, each pixel one little-endian 32-bit word 0x00RRGGBB (bytes in
 * memory: blue, green, red, unused): what Linux calls a 32 bpp
 * "x8r8g8b8" linear framebuffer and what boot_params.screen_info
 * describes (src/display/screen_info.c). */
#ifndef KVMINI_DISPLAY_FRAMEBUFFER_H
#define KVMINI_DISPLAY_FRAMEBUFFER_H

#include <pthread.h>
#include <stdint.h>
#include "error.h"
#include "memory.h"

/* 16 MiB below 0xfe000000, under the IOAPIC (0xfec00000) and the local
 * APIC (0xfee00000), well above where RAM ends below the hole. */
#define FB_GPA              0xfd000000ULL
#define FB_MAX_BYTES        (16ULL << 20)
#define FB_BYTES_PER_PIXEL  4
#define FB_PAGE_SIZE        4096ULL
#define FB_MIN_SIDE         16
#define FB_MAX_SIDE         4096

/* The mode: what part of the memory is the screen. A fixed display
 * (--display WxH) has one mode, set at init: width x height from byte
 * 0, stride 4 x width. A display device (the Bochs display, src/pci/
 * bochs_display.h) has video memory of its own size and changes the
 * mode when the guest asks: then width, height, stride and offset
 * change under mode_lock, on a vCPU thread, while the VNC thread and a
 * screenshot read them; those readers take a consistent copy with
 * framebuffer_view() and never read the fields of the live one. */
struct framebuffer {
	unsigned width, height;
	unsigned stride;        /* bytes per row */
	uint64_t offset;        /* pixel (0, 0): bytes from the mapping's start */
	uint64_t size;          /* bytes mapped: whole pages (a view: stride x height) */
	uint8_t *pixels;        /* the host mapping the guest writes (a view: pixel (0, 0)) */
	/* The live framebuffer's mode; a view copies the generation. */
	pthread_mutex_t mode_lock;
	unsigned generation;    /* changes with each mode set or memory move */
	bool resizable;
};

struct fb_mode {
	unsigned width, height, stride;
	uint64_t offset;
};

/* Map a zeroed (black) framebuffer; sizes outside FB_MIN_SIDE..
 * FB_MAX_SIDE or over FB_MAX_BYTES are usage errors. */
int framebuffer_init(struct framebuffer *fb, unsigned width, unsigned height,
		     struct kvmini_error *err);
void framebuffer_free(struct framebuffer *fb);
/* The whole pages framebuffer_init() maps for width x height. */
uint64_t framebuffer_bytes_mapped(unsigned width, unsigned height);

/* A display device's video memory: vram_bytes (whole pages) mapped,
 * black, the first mode width x height from byte 0. */
int framebuffer_init_vram(struct framebuffer *fb, uint64_t vram_bytes, unsigned width,
			  unsigned height, struct kvmini_error *err);

/* A new mode: its caller checked that it lies inside the memory and
 * that each side is FB_MIN_SIDE..FB_MAX_SIDE. */
void framebuffer_set_mode(struct framebuffer *fb, const struct fb_mode *mode);
/* The memory moved in guest-physical space (its dirty log restarted):
 * readers compare everything again. */
void framebuffer_touch(struct framebuffer *fb);

/* A copy of fb in its current mode, for a reader on another thread:
 * pixels points at pixel (0, 0), size is stride x height, offset tells
 * where that is in the mapping (pages of the dirty log count from the
 * mapping's start). The copy's lock is not to be used. */
void framebuffer_view(const struct framebuffer *fb, struct framebuffer *view);

/* "WIDTHxHEIGHT" (e.g. "1024x768") into *width and *height, checked as
 * framebuffer_init() checks them. */
int framebuffer_parse_size(const char *text, unsigned *width, unsigned *height,
			   struct kvmini_error *err);

/* The pixel at (x, y) as 0x00RRGGBB; x and y must be inside. */
uint32_t framebuffer_pixel(const struct framebuffer *fb, unsigned x, unsigned y);
void framebuffer_set_pixel(const struct framebuffer *fb, unsigned x, unsigned y, uint32_t rgb);

/* Number of 4 KiB pages, and of 64-bit words in a dirty bitmap of them. */
uint64_t framebuffer_pages(const struct framebuffer *fb);
uint64_t framebuffer_bitmap_words(const struct framebuffer *fb);

/* Add the framebuffer to guest memory at FB_GPA as a device region
 * (not RAM: no loader places anything there, no memory map calls it
 * RAM); returns the region's index, which is also its KVM slot's. */
int framebuffer_map(const struct framebuffer *fb, struct guest_memory *mem,
		    struct kvmini_error *err);

#endif
