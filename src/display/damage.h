/* Which parts of the framebuffer changed since the last look: the guest
 * writes the framebuffer at will, a viewer wants only what changed.
 *
 * A shadow copy holds what viewers were last given. A scan walks the
 * framebuffer in bands of DAMAGE_TILE_H rows; a band none of whose
 * pages KVM's dirty log marks is skipped without reading it (so an idle
 * screen costs one KVM_GET_DIRTY_LOG and a bitmap walk); in the others
 * each row of each DAMAGE_TILE_W-pixel tile is compared with the shadow
 * (one memcmp when unchanged), changed rows are copied into it, and each
 * band reports one rectangle: the bounding box of the pixels that
 * changed in it, so a typed character costs its own cells. Without a dirty log (no VM, or
 * between two boots) every band is compared: correct, only slower. */
#ifndef KVMINI_DISPLAY_DAMAGE_H
#define KVMINI_DISPLAY_DAMAGE_H

#include <stdint.h>
#include "display/framebuffer.h"

#define DAMAGE_TILE_W 64
#define DAMAGE_TILE_H 16

struct fb_rect {
	unsigned x, y, w, h;
};

typedef void damage_fn(void *ctx, const struct fb_rect *r);

/* fb: a view (framebuffer_view()); shadow: stride x height bytes laid
 * out as it. dirty: one bit per 4 KiB page of the whole mapping (the
 * live framebuffer's framebuffer_bitmap_words() words; a view's offset
 * says where its pixel (0, 0) is), or NULL for "all may have changed". Calls fn for each changed rectangle (in shadow
 * coordinates, already copied) and returns how many. */
unsigned damage_scan(const struct framebuffer *fb, uint8_t *shadow, const uint64_t *dirty,
		     damage_fn *fn, void *ctx);

#endif
