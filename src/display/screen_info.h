/* The framebuffer as Linux's boot protocol describes a display: the
 * zero page's screen_info (<linux/screen_info.h>; Documentation/x86/
 * boot.rst, "Video mode selection") set as a VESA linear framebuffer
 * (VIDEO_TYPE_VLFB) that a stock kernel's vesafb, or simplefb through
 * sysfb, drives with no driver of kvmini's: base, size (in 64 KiB units,
 * as VLFB sizes are), width, height, depth 32, line length, and the
 * colour fields of x8r8g8b8 (red at bit 16, green 8, blue 0; the high
 * byte unused). */
#ifndef KVMINI_DISPLAY_SCREEN_INFO_H
#define KVMINI_DISPLAY_SCREEN_INFO_H

#include <linux/screen_info.h>
#include "display/framebuffer.h"

/* fb's current mode, its pixel (0, 0) at guest-physical base. */
void screen_info_fill(struct screen_info *si, const struct framebuffer *fb, uint64_t base);

#endif
