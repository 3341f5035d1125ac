#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "display/framebuffer.h"

static int check_size(unsigned width, unsigned height, struct kvmini_error *err)
{
	if (width < FB_MIN_SIDE || height < FB_MIN_SIDE || width > FB_MAX_SIDE ||
	    height > FB_MAX_SIDE)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "display %ux%u: each side must be %u to %u pixels", width, height,
				   FB_MIN_SIDE, FB_MAX_SIDE);
	if ((uint64_t)width * height * FB_BYTES_PER_PIXEL > FB_MAX_BYTES)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "display %ux%u needs %llu bytes, more than the %llu MiB of "
				   "framebuffer space",
				   width, height,
				   (unsigned long long)width * height * FB_BYTES_PER_PIXEL,
				   FB_MAX_BYTES >> 20);
	return 0;
}

static int map_pixels(struct framebuffer *fb, uint64_t size, unsigned width, unsigned height,
		      struct kvmini_error *err)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno,
					 "cannot map %llu bytes of framebuffer",
					 (unsigned long long)size);
	*fb = (struct framebuffer){
		.width = width, .height = height, .stride = width * FB_BYTES_PER_PIXEL,
		.size = size, .pixels = p,
	};
	pthread_mutex_init(&fb->mode_lock, NULL);
	return 0;
}

int framebuffer_init(struct framebuffer *fb, unsigned width, unsigned height,
		     struct kvmini_error *err)
{
	memset(fb, 0, sizeof(*fb));
	if (check_size(width, height, err) < 0)
		return -1;
	return map_pixels(fb, framebuffer_bytes_mapped(width, height), width, height, err);
}

uint64_t framebuffer_bytes_mapped(unsigned width, unsigned height)
{
	uint64_t bytes = (uint64_t)width * height * FB_BYTES_PER_PIXEL;
	return (bytes + FB_PAGE_SIZE - 1) & ~(FB_PAGE_SIZE - 1);
}

int framebuffer_init_vram(struct framebuffer *fb, uint64_t vram_bytes, unsigned width,
			  unsigned height, struct kvmini_error *err)
{
	memset(fb, 0, sizeof(*fb));
	if (check_size(width, height, err) < 0)
		return -1;
	if (vram_bytes % FB_PAGE_SIZE || (uint64_t)width * height * FB_BYTES_PER_PIXEL > vram_bytes)
		return kvmini_fail(err, KVMINI_E_HOST, "internal: %llu bytes of video memory",
				   (unsigned long long)vram_bytes);
	if (map_pixels(fb, vram_bytes, width, height, err) < 0)
		return -1;
	fb->resizable = true;
	return 0;
}

void framebuffer_free(struct framebuffer *fb)
{
	if (fb->pixels) {
		munmap(fb->pixels, fb->size);
		pthread_mutex_destroy(&fb->mode_lock);
	}
	memset(fb, 0, sizeof(*fb));
}

void framebuffer_set_mode(struct framebuffer *fb, const struct fb_mode *mode)
{
	pthread_mutex_lock(&fb->mode_lock);
	fb->width = mode->width;
	fb->height = mode->height;
	fb->stride = mode->stride;
	fb->offset = mode->offset;
	fb->generation++;
	pthread_mutex_unlock(&fb->mode_lock);
}

void framebuffer_touch(struct framebuffer *fb)
{
	pthread_mutex_lock(&fb->mode_lock);
	fb->generation++;
	pthread_mutex_unlock(&fb->mode_lock);
}

/* The lock is the live framebuffer's, which its owner never declares
 * const: readers get a const pointer only to say they leave the mode
 * alone. */
void framebuffer_view(const struct framebuffer *fb, struct framebuffer *view)
{
	pthread_mutex_t *lock = (pthread_mutex_t *)&fb->mode_lock;
	pthread_mutex_lock(lock);
	*view = (struct framebuffer){
		.width = fb->width, .height = fb->height, .stride = fb->stride,
		.offset = fb->offset, .size = (uint64_t)fb->stride * fb->height,
		.pixels = fb->pixels + fb->offset, .generation = fb->generation,
		.resizable = fb->resizable,
	};
	pthread_mutex_unlock(lock);
}

int framebuffer_parse_size(const char *text, unsigned *width, unsigned *height,
			   struct kvmini_error *err)
{
	char *x, *end;
	errno = 0;
	unsigned long w = strtoul(text, &x, 10);
	if (x == text || (*x != 'x' && *x != 'X') || text[0] == '-')
		goto bad;
	unsigned long h = strtoul(x + 1, &end, 10);
	if (end == x + 1 || *end || x[1] == '-' || errno || w > FB_MAX_SIDE || h > FB_MAX_SIDE)
		goto bad;
	if (check_size((unsigned)w, (unsigned)h, err) < 0)
		return -1;
	*width = (unsigned)w;
	*height = (unsigned)h;
	return 0;
bad:
	return kvmini_fail(err, KVMINI_E_USAGE,
			   "display size '%s': expected WIDTHxHEIGHT, e.g. 1024x768 (each side %u "
			   "to %u)", text, FB_MIN_SIDE, FB_MAX_SIDE);
}

uint32_t framebuffer_pixel(const struct framebuffer *fb, unsigned x, unsigned y)
{
	uint32_t v;
	memcpy(&v, fb->pixels + (size_t)y * fb->stride + (size_t)x * FB_BYTES_PER_PIXEL, 4);
	return v & 0xffffff;
}

void framebuffer_set_pixel(const struct framebuffer *fb, unsigned x, unsigned y, uint32_t rgb)
{
	memcpy(fb->pixels + (size_t)y * fb->stride + (size_t)x * FB_BYTES_PER_PIXEL, &rgb, 4);
}

uint64_t framebuffer_pages(const struct framebuffer *fb)
{
	return fb->size / FB_PAGE_SIZE;
}

uint64_t framebuffer_bitmap_words(const struct framebuffer *fb)
{
	return (framebuffer_pages(fb) + 63) / 64;
}

int framebuffer_map(const struct framebuffer *fb, struct guest_memory *mem,
		    struct kvmini_error *err)
{
	return guest_memory_add_device(mem, FB_GPA, fb->pixels, fb->size, err);
}
