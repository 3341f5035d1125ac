/* The display's test pattern, drawn by the bare-metal guest
 * (guests/display.c) and by the no-KVM server (tests/display/
 * vnc_serve.c, which also writes it as the expected PNG): gradients in
 * each channel and solid red, green and blue blocks, so a swapped
 * channel, a shifted row or a wrong stride shows. */
#ifndef KVMINI_DISPLAY_PATTERN_H
#define KVMINI_DISPLAY_PATTERN_H

#include <stdint.h>

static inline uint32_t test_pattern(unsigned x, unsigned y)
{
	if (x >= 16 && x < 48 && y >= 16 && y < 48)
		return 0xff0000;   /* a red block */
	if (x >= 64 && x < 96 && y >= 16 && y < 48)
		return 0x00ff00;
	if (x >= 112 && x < 144 && y >= 16 && y < 48)
		return 0x0000ff;
	return (uint32_t)((x * 3 & 0xff) << 16 | (y * 2 & 0xff) << 8 | ((x + y) & 0xff));
}

#endif
