/* The DISPI registers (dispi.h). Invariant, kept by every write: while
 * enabled, XRES x YRES at VIRT_WIDTH pixels a row from (X_OFFSET,
 * Y_OFFSET) lies inside the video memory. */
#include <string.h>
#include "display/dispi.h"

#define VRAM_UNIT 65536u

static bool enabled(const struct dispi *d)
{
	return d->reg[DISPI_ENABLE] & DISPI_ENABLED;
}

static uint64_t stride_of(const struct dispi *d)
{
	return (uint64_t)d->reg[DISPI_VIRT_WIDTH] * FB_BYTES_PER_PIXEL;
}

/* Does xres x yres at virt_width pixels a row from (x, y) fit? */
static bool area_fits(const struct dispi *d, unsigned xres, unsigned yres, unsigned virt_width,
		      unsigned x, unsigned y)
{
	if (xres < FB_MIN_SIDE || yres < FB_MIN_SIDE || xres > FB_MAX_SIDE || yres > FB_MAX_SIDE ||
	    virt_width < xres || (uint64_t)x + xres > virt_width)
		return false;
	uint64_t stride = (uint64_t)virt_width * FB_BYTES_PER_PIXEL;
	uint64_t end = ((uint64_t)y + yres - 1) * stride + ((uint64_t)x + xres) * FB_BYTES_PER_PIXEL;
	return end <= d->vram;
}

static bool current_fits(const struct dispi *d, unsigned virt_width, unsigned x, unsigned y)
{
	return area_fits(d, d->reg[DISPI_XRES], d->reg[DISPI_YRES], virt_width, x, y);
}

/* Rows of virt_width pixels the memory holds, as a 16-bit register. */
static uint16_t virt_height(const struct dispi *d, unsigned virt_width)
{
	uint64_t rows = virt_width ? d->vram / ((uint64_t)virt_width * FB_BYTES_PER_PIXEL) : 0;
	return (uint16_t)(rows > 0xffff ? 0xffff : rows);
}

static void virtual_reset(struct dispi *d)
{
	d->reg[DISPI_VIRT_WIDTH] = d->reg[DISPI_XRES];
	d->reg[DISPI_VIRT_HEIGHT] = virt_height(d, d->reg[DISPI_XRES]);
	d->reg[DISPI_X_OFFSET] = 0;
	d->reg[DISPI_Y_OFFSET] = 0;
}

void dispi_init(struct dispi *d, uint64_t vram, unsigned width, unsigned height)
{
	memset(d, 0, sizeof(*d));
	d->vram = vram;
	d->reg[DISPI_ID] = DISPI_ID5;
	d->reg[DISPI_XRES] = (uint16_t)width;
	d->reg[DISPI_YRES] = (uint16_t)height;
	d->reg[DISPI_BPP] = DISPI_BPP_ONLY;
	d->reg[DISPI_ENABLE] = DISPI_ENABLED | DISPI_LFB_ENABLED;
	virtual_reset(d);
}

uint16_t dispi_read(const struct dispi *d, unsigned index)
{
	bool caps = d->reg[DISPI_ENABLE] & DISPI_GETCAPS;
	switch (index) {
	case DISPI_XRES:
	case DISPI_YRES:
		return caps ? FB_MAX_SIDE : d->reg[index];
	case DISPI_BPP:
		return caps ? DISPI_BPP_ONLY : d->reg[index];
	case DISPI_VIDEO_MEMORY_64K:
		return (uint16_t)(d->vram / VRAM_UNIT);
	default:
		return index < DISPI_REGS ? d->reg[index] : 0;
	}
}

#define ENABLE_KEPT (DISPI_ENABLED | DISPI_GETCAPS | DISPI_8BIT_DAC | DISPI_LFB_ENABLED)

/* ENABLE: turning on checks the mode and resets the virtual screen. */
static enum dispi_effect enable_write(struct dispi *d, uint16_t value)
{
	uint16_t keep = ENABLE_KEPT;
	bool was_on = enabled(d);
	bool on = value & DISPI_ENABLED;
	if (on && !was_on && !area_fits(d, d->reg[DISPI_XRES], d->reg[DISPI_YRES],
					d->reg[DISPI_XRES], 0, 0))
		value &= (uint16_t)~DISPI_ENABLED;   /* refused: it stays off */
	d->reg[DISPI_ENABLE] = value & keep;
	if (!(value & DISPI_ENABLED) || was_on)
		return DISPI_KEPT;
	virtual_reset(d);
	return value & DISPI_NOCLEARMEM ? DISPI_MODE : DISPI_MODE_CLEAR;
}

/* XRES, YRES, BPP: only while off; checked again when enabled. */
static enum dispi_effect size_write(struct dispi *d, unsigned index, uint16_t value)
{
	if (enabled(d))
		return DISPI_KEPT;
	if (index == DISPI_BPP ? value == DISPI_BPP_ONLY : value >= FB_MIN_SIDE && value <= FB_MAX_SIDE)
		d->reg[index] = value;
	return DISPI_KEPT;
}

static enum dispi_effect virtual_write(struct dispi *d, unsigned index, uint16_t value)
{
	unsigned vw = d->reg[DISPI_VIRT_WIDTH], x = d->reg[DISPI_X_OFFSET],
		 y = d->reg[DISPI_Y_OFFSET];
	if (index == DISPI_VIRT_WIDTH)
		vw = value;
	else if (index == DISPI_X_OFFSET)
		x = value;
	else
		y = value;
	if (!current_fits(d, vw, x, y))
		return DISPI_KEPT;
	d->reg[DISPI_VIRT_WIDTH] = (uint16_t)vw;
	d->reg[DISPI_VIRT_HEIGHT] = virt_height(d, vw);
	d->reg[DISPI_X_OFFSET] = (uint16_t)x;
	d->reg[DISPI_Y_OFFSET] = (uint16_t)y;
	return enabled(d) ? DISPI_MODE : DISPI_KEPT;
}

enum dispi_effect dispi_write(struct dispi *d, unsigned index, uint16_t value)
{
	switch (index) {
	case DISPI_ID:
		if (value >= DISPI_ID0 && value <= DISPI_ID5)
			d->reg[DISPI_ID] = value;
		return DISPI_KEPT;
	case DISPI_XRES:
	case DISPI_YRES:
	case DISPI_BPP:
		return size_write(d, index, value);
	case DISPI_ENABLE:
		return enable_write(d, value);
	case DISPI_BANK:
		d->reg[DISPI_BANK] = value;
		return DISPI_KEPT;
	case DISPI_VIRT_WIDTH:
	case DISPI_X_OFFSET:
	case DISPI_Y_OFFSET:
		return virtual_write(d, index, value);
	default:
		return DISPI_KEPT;   /* VIRT_HEIGHT, VIDEO_MEMORY_64K, past the end */
	}
}

bool dispi_mode(const struct dispi *d, struct fb_mode *mode)
{
	if (!enabled(d))
		return false;
	uint64_t stride = stride_of(d);
	*mode = (struct fb_mode){
		.width = d->reg[DISPI_XRES], .height = d->reg[DISPI_YRES],
		.stride = (unsigned)stride,
		.offset = d->reg[DISPI_Y_OFFSET] * stride +
			  (uint64_t)d->reg[DISPI_X_OFFSET] * FB_BYTES_PER_PIXEL,
	};
	return true;
}

bool dispi_restore(struct dispi *d, const uint16_t reg[DISPI_REGS])
{
	struct dispi saved = { .vram = d->vram };
	memcpy(saved.reg, reg, sizeof(saved.reg));
	bool on = reg[DISPI_ENABLE] & DISPI_ENABLED;
	if (reg[DISPI_ID] < DISPI_ID0 || reg[DISPI_ID] > DISPI_ID5 ||
	    reg[DISPI_XRES] < FB_MIN_SIDE || reg[DISPI_XRES] > FB_MAX_SIDE ||
	    reg[DISPI_YRES] < FB_MIN_SIDE || reg[DISPI_YRES] > FB_MAX_SIDE ||
	    reg[DISPI_BPP] != DISPI_BPP_ONLY || (reg[DISPI_ENABLE] & ~ENABLE_KEPT) ||
	    reg[DISPI_VIRT_HEIGHT] != virt_height(d, reg[DISPI_VIRT_WIDTH]) ||
	    reg[DISPI_VIDEO_MEMORY_64K] != d->reg[DISPI_VIDEO_MEMORY_64K] ||
	    (on && !current_fits(&saved, reg[DISPI_VIRT_WIDTH], reg[DISPI_X_OFFSET],
				 reg[DISPI_Y_OFFSET])))
		return false;
	memcpy(d->reg, reg, sizeof(d->reg));
	return true;
}
