#include <string.h>
#include "display/screen_info.h"

#define VLFB_SIZE_UNIT 65536u

void screen_info_fill(struct screen_info *si, const struct framebuffer *live, uint64_t base)
{
	struct framebuffer view;
	framebuffer_view(live, &view);
	const struct framebuffer *fb = &view;
	memset(si, 0, sizeof(*si));
	uint64_t bytes = (uint64_t)fb->stride * fb->height;
	si->orig_video_isVGA = VIDEO_TYPE_VLFB;
	si->lfb_base = (uint32_t)(base + fb->offset);
	si->lfb_size = (uint32_t)((bytes + VLFB_SIZE_UNIT - 1) / VLFB_SIZE_UNIT);
	si->lfb_width = (uint16_t)fb->width;
	si->lfb_height = (uint16_t)fb->height;
	si->lfb_depth = 32;
	si->lfb_linelength = (uint16_t)fb->stride;
	si->red_size = 8;
	si->red_pos = 16;
	si->green_size = 8;
	si->green_pos = 8;
	si->blue_size = 8;
	si->blue_pos = 0;
	si->pages = 1;
}
