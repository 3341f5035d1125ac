/* The test pattern both the no-KVM server (vnc_serve.c) and the tests
 * draw: gradients in each channel and a few solid blocks, so a swapped
 * channel, a shifted row or a wrong stride shows. */
#ifndef KVMINI_TEST_PATTERN_H
#define KVMINI_TEST_PATTERN_H

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
