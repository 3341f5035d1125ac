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
	uint64_t first = (fb->offset + (uint64_t)y * fb->stride) / FB_PAGE_SIZE;
	uint64_t last = (fb->offset + (uint64_t)(y + rows) * fb->stride - 1) / FB_PAGE_SIZE;
	for (uint64_t p = first; p <= last; p++)
		if (page_dirty(dirty, p))
			return true;
	return false;
}

/* The bounding box of what changed, in pixels: [x0, x1) x [y0, y1). */
struct box {
	unsigned x0, x1, y0, y1;
};

static void box_add(struct box *b, unsigned x0, unsigned x1, unsigned y)
{
	if (b->x1 == 0) {
		*b = (struct box){ x0, x1, y, y + 1 };
		return;
	}
	b->x0 = x0 < b->x0 ? x0 : b->x0;
	b->x1 = x1 > b->x1 ? x1 : b->x1;
	b->y0 = y < b->y0 ? y : b->y0;
	b->y1 = y + 1 > b->y1 ? y + 1 : b->y1;
}

/* One row of one tile: the changed pixels into the box, and the shadow
 * brought up to date. */
static void row_update(const struct framebuffer *fb, uint8_t *shadow, unsigned x, unsigned y,
		       unsigned w, struct box *b)
{
	size_t off = (size_t)y * fb->stride + (size_t)x * FB_BYTES_PER_PIXEL;
	size_t bytes = (size_t)w * FB_BYTES_PER_PIXEL;
	if (memcmp(shadow + off, fb->pixels + off, bytes) == 0)
		return;
	/* The guest writes while this reads: the pixel that made the row
	 * differ may be back to the shadow's value by the time each one is
	 * compared, so both searches stop at the row's ends, and only the
	 * pixels reported go into the shadow (one changed outside the box
	 * since stays different and is found by the next scan). */
	unsigned first = 0, last = w - 1;
	while (first < w && memcmp(shadow + off + first * 4, fb->pixels + off + first * 4, 4) == 0)
		first++;
	if (first == w)
		return;
	while (last > first && memcmp(shadow + off + last * 4, fb->pixels + off + last * 4, 4) == 0)
		last--;
	size_t from = off + (size_t)first * FB_BYTES_PER_PIXEL;
	memcpy(shadow + from, fb->pixels + from, (size_t)(last - first + 1) * FB_BYTES_PER_PIXEL);
	box_add(b, x + first, x + last + 1, y);
}

/* A band: tile by tile, so an unchanged tile costs one memcmp per row;
 * reports the box of what changed, so a character is its own cells,
 * not the tiles around it. */
static bool band_scan(const struct framebuffer *fb, uint8_t *shadow, unsigned y,
		      unsigned rows, struct fb_rect *out)
{
	struct box b = { 0, 0, 0, 0 };
	for (unsigned x = 0; x < fb->width; x += DAMAGE_TILE_W) {
		unsigned w = min_u(DAMAGE_TILE_W, fb->width - x);
		for (unsigned r = 0; r < rows; r++)
			row_update(fb, shadow, x, y + r, w, &b);
	}
	if (b.x1 == 0)
		return false;
	*out = (struct fb_rect){ .x = b.x0, .y = b.y0, .w = b.x1 - b.x0, .h = b.y1 - b.y0 };
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
