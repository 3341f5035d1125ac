#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "display/screenshot.h"

/* One row of 0x00RRGGBB words to R, G, B bytes. */
static void row_to_rgb(const struct framebuffer *fb, unsigned y, uint8_t *rgb)
{
	for (unsigned x = 0; x < fb->width; x++) {
		uint32_t p = framebuffer_pixel(fb, x, y);
		rgb[3 * x] = (uint8_t)(p >> 16);
		rgb[3 * x + 1] = (uint8_t)(p >> 8);
		rgb[3 * x + 2] = (uint8_t)p;
	}
}

/* libpng reports failures by longjmp: everything that must be freed
 * afterwards lives outside this function. */
static int write_rows(FILE *f, const struct framebuffer *fb, uint8_t *row)
{
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	if (!info) {
		png_destroy_write_struct(&png, NULL);
		return -1;
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		return -1;
	}
	png_init_io(png, f);
	png_set_IHDR(png, info, fb->width, fb->height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (unsigned y = 0; y < fb->height; y++) {
		row_to_rgb(fb, y, row);
		png_write_row(png, row);
	}
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	return 0;
}

int screenshot_write_png(const struct framebuffer *fb, const char *path,
			 struct kvmini_error *err)
{
	uint8_t *row = malloc((size_t)fb->width * 3);
	if (!row)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for a screenshot");
	FILE *f = fopen(path, "wb");
	if (!f) {
		int e = errno;
		free(row);
		return kvmini_fail_errno(err, KVMINI_E_USAGE, e, "cannot write screenshot %s", path);
	}
	int rc = write_rows(f, fb, row);
	int e = errno;
	if (fclose(f) != 0 && rc == 0) {
		rc = -1;
		e = errno;
	}
	free(row);
	if (rc < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, e, "cannot write screenshot %s", path);
	return 0;
}
