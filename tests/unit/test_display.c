/* The display without KVM: the framebuffer's geometry and guest-memory
 * region, the damage scan against a shadow copy (with and without a
 * dirty bitmap), and PNG screenshots compared pixel for pixel with the
 * pattern drawn (decoded with libpng). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "display/damage.h"
#include "display/framebuffer.h"
#include "display/screenshot.h"
#include "memory.h"
#include "png_read.h"

static struct framebuffer fb_new(unsigned w, unsigned h)
{
	struct framebuffer fb;
	struct kvmini_error err = { 0 };
	cr_assert_eq(framebuffer_init(&fb, w, h, &err), 0, "%s", err.msg);
	return fb;
}

/* A pattern with every byte position distinct: a red gradient across, a
 * green one down, blue from both, so a swapped channel or row shows. */
static uint32_t pattern(unsigned x, unsigned y)
{
	return (uint32_t)((x * 7 & 0xff) << 16 | (y * 5 & 0xff) << 8 | ((x ^ y) & 0xff));
}

/* Draw through guest memory, as a guest does, at FB_GPA. */
static void draw_through_guest_memory(const struct framebuffer *fb, struct guest_memory *mem)
{
	for (unsigned y = 0; y < fb->height; y++)
		for (unsigned x = 0; x < fb->width; x++) {
			uint32_t v = pattern(x, y) | 0xab000000u;   /* the unused byte is ignored */
			gpa_t at = FB_GPA + (gpa_t)y * fb->stride + (gpa_t)x * 4;
			cr_assert_eq(guest_write(mem, at, &v, 4), 0);
		}
}

Test(framebuffer, parses_sizes)
{
	unsigned w = 0, h = 0;
	struct kvmini_error err = { 0 };
	cr_assert_eq(framebuffer_parse_size("1024x768", &w, &h, &err), 0, "%s", err.msg);
	cr_assert(w == 1024 && h == 768);
	cr_assert_eq(framebuffer_parse_size("2048x2048", &w, &h, &err), 0, "%s", err.msg);
	const char *bad[] = { "", "x", "1024", "1024x", "x768", "1024x768x", "-1x768", "1024x-5",
			      "8x8", "4097x16", "2560x2048", "99999999999999999999x16" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(framebuffer_parse_size(bad[i], &w, &h, &err), -1, "'%s' accepted", bad[i]);
		cr_assert_eq(err.code, KVMINI_E_USAGE);
	}
}

Test(framebuffer, is_a_device_region_of_guest_memory)
{
	struct guest_memory mem;
	struct kvmini_error err = { 0 };
	cr_assert_eq(guest_memory_init(&mem, 64 << 20, 0, &err), 0, "%s", err.msg);
	struct framebuffer fb = fb_new(640, 480);
	cr_assert_eq(fb.stride, 640 * 4);
	cr_assert_eq(fb.size, 640 * 480 * 4);
	int region = framebuffer_map(&fb, &mem, &err);
	cr_assert_eq(region, 1, "%s", err.msg);
	cr_assert(mem.regions[region].device);
	/* RAM's end and size do not change; the framebuffer is reachable. */
	cr_assert_eq(guest_ram_end(&mem), 64 << 20);
	cr_assert_eq(mem.ram_size, 64 << 20);
	cr_assert_eq(guest_ptr(&mem, FB_GPA, fb.size), fb.pixels);
	cr_assert_null(guest_ptr(&mem, FB_GPA + fb.size - 4, 8), "a range past its end");
	/* Mapping it twice overlaps. */
	cr_assert_eq(framebuffer_map(&fb, &mem, &err), -1);
	framebuffer_free(&fb);
	guest_memory_free(&mem);
}

Test(screenshot, equals_the_pattern_drawn_pixel_for_pixel)
{
	struct guest_memory mem;
	struct kvmini_error err = { 0 };
	cr_assert_eq(guest_memory_init(&mem, 1 << 20, 0, &err), 0, "%s", err.msg);
	struct framebuffer fb = fb_new(200, 120);
	cr_assert_geq(framebuffer_map(&fb, &mem, &err), 0, "%s", err.msg);
	draw_through_guest_memory(&fb, &mem);

	char path[] = "/tmp/kvmini-shot-XXXXXX.png";
	int fd = mkstemps(path, 4);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(screenshot_write_png(&fb, path, &err), 0, "%s", err.msg);
	struct test_image img;
	cr_assert_eq(test_png_read(path, &img), 0, "libpng cannot read %s", path);
	cr_assert(img.width == 200 && img.height == 120, "%ux%u", img.width, img.height);
	for (unsigned y = 0; y < img.height; y++)
		for (unsigned x = 0; x < img.width; x++)
			cr_assert_eq(img.rgb[y * img.width + x], pattern(x, y),
				     "pixel (%u,%u): %06x, drew %06x", x, y,
				     img.rgb[y * img.width + x], pattern(x, y));
	free(img.rgb);
	unlink(path);
	framebuffer_free(&fb);
	guest_memory_free(&mem);
}

Test(screenshot, names_a_path_it_cannot_write)
{
	struct framebuffer fb = fb_new(16, 16);
	struct kvmini_error err = { 0 };
	cr_assert_eq(screenshot_write_png(&fb, "/nonexistent-dir/x.png", &err), -1);
	cr_assert_eq(err.code, KVMINI_E_USAGE);
	cr_assert(strstr(err.msg, "/nonexistent-dir/x.png"), "%s", err.msg);
	framebuffer_free(&fb);
}

struct rects {
	struct fb_rect r[64];
	unsigned n;
};

static void collect(void *ctx, const struct fb_rect *r)
{
	struct rects *rs = ctx;
	if (rs->n < 64)
		rs->r[rs->n] = *r;
	rs->n++;
}

Test(damage, finds_exactly_the_changed_tiles_and_updates_the_shadow)
{
	struct framebuffer fb = fb_new(300, 100);   /* width not a tile multiple */
	uint8_t *shadow = calloc(1, fb.size);
	struct rects rs = { .n = 0 };
	cr_assert_eq(damage_scan(&fb, shadow, NULL, collect, &rs), 0, "black on black");

	framebuffer_set_pixel(&fb, 299, 99, 0x123456);   /* last pixel */
	framebuffer_set_pixel(&fb, 70, 20, 0xffffff);
	framebuffer_set_pixel(&fb, 130, 21, 0xffffff);
	cr_assert_eq(damage_scan(&fb, shadow, NULL, collect, &rs), 2);
	/* band 16..31: the box of (70,20) and (130,21), across two tiles */
	cr_assert_eq(rs.r[0].x, 70);
	cr_assert_eq(rs.r[0].w, 61);
	cr_assert_eq(rs.r[0].y, 20);
	cr_assert_eq(rs.r[0].h, 2);
	/* band 96..99 (the last, 4 rows): the one pixel */
	cr_assert_eq(rs.r[1].x, 299);
	cr_assert_eq(rs.r[1].w, 1);
	cr_assert_eq(rs.r[1].y, 99);
	cr_assert_eq(rs.r[1].h, 1);
	cr_assert_eq(memcmp(shadow, fb.pixels, fb.size), 0);
	rs.n = 0;
	cr_assert_eq(damage_scan(&fb, shadow, NULL, collect, &rs), 0, "nothing new");
	free(shadow);
	framebuffer_free(&fb);
}

Test(damage, skips_bands_whose_pages_the_log_says_are_clean)
{
	struct framebuffer fb = fb_new(1024, 64);   /* a row is exactly one page */
	uint8_t *shadow = calloc(1, fb.size);
	uint64_t dirty[1] = { 0 };
	struct rects rs = { .n = 0 };
	framebuffer_set_pixel(&fb, 5, 40, 0xff0000);
	cr_assert_eq(damage_scan(&fb, shadow, dirty, collect, &rs), 0, "a clean log is trusted");
	dirty[0] = 1ULL << 40;
	cr_assert_eq(damage_scan(&fb, shadow, dirty, collect, &rs), 1);
	cr_assert_eq(rs.r[0].y, 40);
	cr_assert_eq(rs.r[0].x, 5);
	cr_assert_eq(rs.r[0].w, 1);
	cr_assert_eq(rs.r[0].h, 1);
	free(shadow);
	framebuffer_free(&fb);
}

/* A guest draws while the scan reads (found by bench/display_bench.sh's
 * moving character: the scan walked off the row and read 4 GiB away).
 * One pixel flips between black and white without pause on another
 * thread (the race needs both threads on a CPU at once, so on a loaded
 * host it may take many scans): every scan must report only that
 * pixel's row, inside the screen, and
 * once the flipping stops one more scan leaves the shadow equal to the
 * screen. */
struct flipper {
	struct framebuffer *fb;
	atomic_bool stop;
};

static void *flip_pixel(void *arg)
{
	struct flipper *f = arg;
	for (unsigned i = 0; !atomic_load(&f->stop); i++)
		framebuffer_set_pixel(f->fb, 5, 3, i & 1 ? 0xffffff : 0);
	return NULL;
}

Test(damage, a_pixel_changing_during_the_scan_keeps_it_inside_the_row, .timeout = 60)
{
	struct framebuffer fb = fb_new(64, 16);
	uint8_t *shadow = calloc(1, fb.size);
	struct rects rs = { .n = 0 };
	struct flipper f = { .fb = &fb };
	pthread_t t;
	pthread_create(&t, NULL, flip_pixel, &f);
	for (unsigned i = 0; i < 1000000; i++) {
		rs.n = 0;
		damage_scan(&fb, shadow, NULL, collect, &rs);
		for (unsigned k = 0; k < rs.n && k < 64; k++)
			cr_assert(rs.r[k].x + rs.r[k].w <= 64 && rs.r[k].w && rs.r[k].y == 3 &&
				  rs.r[k].h == 1,
				  "scan %u reported (%u,%u) %ux%u", i, rs.r[k].x, rs.r[k].y,
				  rs.r[k].w, rs.r[k].h);
	}
	atomic_store(&f.stop, true);
	pthread_join(t, NULL);
	damage_scan(&fb, shadow, NULL, collect, &rs);
	cr_assert_eq(memcmp(shadow, fb.pixels, fb.size), 0, "a change was lost");
	free(shadow);
	framebuffer_free(&fb);
}
