/* Read a PNG back with libpng, for tests that compare images pixel for
 * pixel: every image becomes 8-bit RGB words 0x00RRGGBB. */
#ifndef KVMINI_TEST_PNG_READ_H
#define KVMINI_TEST_PNG_READ_H

#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct test_image {
	unsigned width, height;
	uint32_t *rgb;   /* width x height, row after row */
};

/* 0 on success; the caller frees img->rgb. */
static inline int test_png_read(const char *path, struct test_image *img)
{
	png_image pi = { .version = PNG_IMAGE_VERSION };
	if (!png_image_begin_read_from_file(&pi, path))
		return -1;
	pi.format = PNG_FORMAT_BGRA;   /* in memory: B, G, R, A = 0xAARRGGBB words */
	uint32_t *px = malloc(PNG_IMAGE_SIZE(pi));
	if (!px || !png_image_finish_read(&pi, NULL, px, 0, NULL)) {
		free(px);
		png_image_free(&pi);
		return -1;
	}
	for (size_t i = 0; i < (size_t)pi.width * pi.height; i++)
		px[i] &= 0xffffff;
	*img = (struct test_image){ .width = pi.width, .height = pi.height, .rgb = px };
	return 0;
}

#endif
