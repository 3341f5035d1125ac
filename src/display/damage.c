#include <string.h>
#include "display/damage.h"

static unsigned min_u(unsigned a, unsigned b)
{
	return a < b ? a : b;
}

static bool page_dirty(const uint64_t *dirty, uint64_t page)
{
	return dirty[page / 64] >> (page % 64) & 1;
}

/* Any page holding a byte of rows [y, y + rows) written since the log
 * was last fetched. */
static bool band_dirty(const struct framebuffer *fb, const uint64_t *dirty, unsigned y,
		       unsigned rows)
{
	if (!dirty)
		return true;
	uint64_t first = (uint64_t)y * fb->stride / FB_PAGE_SIZE;
	uint64_t last = ((uint64_t)(y + rows) * fb->stride - 1) / FB_PAGE_SIZE;
	for (uint64_t p = first; p <= last; p++)
		if (page_dirty(dirty, p))
			return true;
	return false;
}

/* Compare one tile with the shadow and bring the shadow up to date. */
static bool tile_update(const struct framebuffer *fb, uint8_t *shadow, unsigned x, unsigned y,
			unsigned w, unsigned rows)
{
	bool changed = false;
	size_t bytes = (size_t)w * FB_BYTES_PER_PIXEL;
	for (unsigned r = 0; r < rows; r++) {
		size_t off = (size_t)(y + r) * fb->stride + (size_t)x * FB_BYTES_PER_PIXEL;
		if (memcmp(shadow + off, fb->pixels + off, bytes) != 0) {
			memcpy(shadow + off, fb->pixels + off, bytes);
			changed = true;
		}
	}
	return changed;
}

static bool band_scan(const struct framebuffer *fb, uint8_t *shadow, unsigned y,
		      unsigned rows, struct fb_rect *out)
{
	unsigned first = fb->width, end = 0;
	for (unsigned x = 0; x < fb->width; x += DAMAGE_TILE_W) {
		unsigned w = min_u(DAMAGE_TILE_W, fb->width - x);
		if (tile_update(fb, shadow, x, y, w, rows)) {
			if (first == fb->width)
				first = x;
			end = x + w;
		}
	}
	if (first == fb->width)
		return false;
	*out = (struct fb_rect){ .x = first, .y = y, .w = end - first, .h = rows };
	return true;
}

unsigned damage_scan(const struct framebuffer *fb, uint8_t *shadow, const uint64_t *dirty,
		     damage_fn *fn, void *ctx)
{
	unsigned n = 0;
	for (unsigned y = 0; y < fb->height; y += DAMAGE_TILE_H) {
		unsigned rows = min_u(DAMAGE_TILE_H, fb->height - y);
		struct fb_rect r;
		if (band_dirty(fb, dirty, y, rows) && band_scan(fb, shadow, y, rows, &r)) {
			fn(ctx, &r);
			n++;
		}
	}
	return n;
}
