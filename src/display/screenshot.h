/* Screenshots: the framebuffer's pixels as a PNG file (Debian's libpng,
 * opened, not linked: src/dynlib.h), 8-bit RGB, no alpha, exactly the
 * pixels the guest wrote. */
#ifndef KVMINI_DISPLAY_SCREENSHOT_H
#define KVMINI_DISPLAY_SCREENSHOT_H

#include "display/framebuffer.h"

/* Open libpng ahead of any screenshot: a machine with a display calls it
 * while it is set up, so a screenshot later, under a thread's seccomp
 * filter (no mapping of code), finds the library loaded. */
int screenshot_prepare(struct kvmini_error *err);

/* Write fb (the live one; its current mode) to path (created or
 * truncated). The pixels are read as they are now: a guest drawing
 * meanwhile may show half-drawn. */
int screenshot_write_png(const struct framebuffer *fb, const char *path,
			 struct kvmini_error *err);

#endif
