#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "display/screenshot.h"
#include "dynlib.h"

/* libpng, opened when a machine has a display (src/dynlib.h): linked,
 * it and the libz and libm it brings loaded at every start. */
#define PNG_LIBRARY "libpng16.so.16"
#define PNG_PACKAGE "libpng16-16"
#define PNG_FUNCTIONS(X) \
	X(png_create_write_struct) X(png_create_info_struct) X(png_destroy_write_struct) \
	X(png_set_longjmp_fn) X(png_init_io) X(png_set_IHDR) X(png_write_info) \
	X(png_write_row) X(png_write_end)

struct png_api {
	void *handle;
#define PNG_FIELD(fn) __typeof__(fn) *fn;
	PNG_FUNCTIONS(PNG_FIELD)
#undef PNG_FIELD
};

static int png_api_load(struct png_api *api, struct kvmini_error *err)
{
	if (!(api->handle = dynlib_open(PNG_LIBRARY, PNG_PACKAGE, "a screenshot", err)))
		return -1;
#define PNG_LOAD(fn) \
	if (DYNLIB_SYM(api->handle, PNG_LIBRARY, api, fn, err) < 0) { \
		dynlib_close(api->handle); \
		return -1; \
	}
	PNG_FUNCTIONS(PNG_LOAD)
#undef PNG_LOAD
	return 0;
}

int screenshot_prepare(struct kvmini_error *err)
{
	struct png_api api;
	if (png_api_load(&api, err) < 0)
		return -1;
	dynlib_close(api.handle);   /* it stays mapped (RTLD_NODELETE) */
	return 0;
}

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
static int write_rows(const struct png_api *api, FILE *f, const struct framebuffer *fb,
		      uint8_t *row)
{
	png_structp png = api->png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png ? api->png_create_info_struct(png) : NULL;
	if (!info) {
		api->png_destroy_write_struct(&png, NULL);
		return -1;
	}
	/* png_jmpbuf(png), through the opened library */
	if (setjmp(*api->png_set_longjmp_fn(png, longjmp, sizeof(jmp_buf)))) {
		api->png_destroy_write_struct(&png, &info);
		return -1;
	}
	api->png_init_io(png, f);
	api->png_set_IHDR(png, info, fb->width, fb->height, 8, PNG_COLOR_TYPE_RGB,
			  PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	api->png_write_info(png, info);
	for (unsigned y = 0; y < fb->height; y++) {
		row_to_rgb(fb, y, row);
		api->png_write_row(png, row);
	}
	api->png_write_end(png, NULL);
	api->png_destroy_write_struct(&png, &info);
	return 0;
}

static int write_file(const struct png_api *api, const struct framebuffer *fb,
		      const char *path, struct kvmini_error *err)
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
	int rc = write_rows(api, f, fb, row);
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

int screenshot_write_png(const struct framebuffer *fb, const char *path,
			 struct kvmini_error *err)
{
	struct png_api api;
	if (png_api_load(&api, err) < 0)
		return -1;
	struct framebuffer view;   /* the mode of this moment: a display device may change it */
	framebuffer_view(fb, &view);
	int rc = write_file(&api, &view, path, err);
	dynlib_close(api.handle);
	return rc;
}
