/* The display's VNC server without KVM: a framebuffer in plain guest
 * memory with the test pattern drawn through guest_write() as a guest
 * would, its PNG screenshot, and the VNC server serving it, with an
 * i8042 behind the server's keyboard and mouse. Every byte the i8042
 * queues for the guest is read back at port 0x60 as a guest's driver
 * would and printed ("kbd 1e", "aux 08"), so a test sees the scan codes
 * a viewer's keys became.
 *
 * Usage: vnc_serve ADDRESS SCREENSHOT.png [PASSWORD]
 * Prints "ready" once it listens; reads commands on stdin, one a line:
 * "char X Y" draws an 8x16 white block at (X, Y) (a one-character
 * change), "fill RGB" paints the whole screen (a full-screen change),
 * "bytes" prints "bytes N" (sent to viewers so far), "quit" or end of
 * input stops. Exit status 0, or 2 with the error on stderr. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "devices/i8042.h"
#include "display/framebuffer.h"
#include "display/screenshot.h"
#include "display/vnc.h"
#include "memory.h"
#include "display_pattern.h"

#define WIDTH 320
#define HEIGHT 200

struct rig {
	struct guest_memory mem;
	struct framebuffer fb;
	struct i8042 *kbc;
};

static uint8_t port_read(struct i8042 *kbc, const struct bus_device_ops *ops)
{
	uint8_t v;
	ops->read(kbc, 0, &v, 1);
	return v;
}

static void port_write(struct i8042 *kbc, const struct bus_device_ops *ops, uint8_t v)
{
	ops->write(kbc, 0, &v, 1);
}

/* What the guest's driver reads now. */
static void drain(struct i8042 *kbc)
{
	uint8_t st;
	while ((st = port_read(kbc, &i8042_command_ops)) & I8042_STATUS_OBF) {
		bool aux = st & I8042_STATUS_AUX;
		printf("%s %02x\n", aux ? "aux" : "kbd", port_read(kbc, &i8042_data_ops));
	}
	fflush(stdout);
}

static void on_key(void *ctx, uint16_t key, bool down)
{
	struct rig *r = ctx;
	i8042_key(r->kbc, key, down);
	drain(r->kbc);
}

static void on_pointer(void *ctx, int dx, int dy, unsigned buttons)
{
	struct rig *r = ctx;
	i8042_mouse(r->kbc, dx, dy, buttons);
	drain(r->kbc);
}

static void fill_rect(struct rig *r, unsigned x0, unsigned y0, unsigned w, unsigned h,
		      uint32_t rgb)
{
	for (unsigned y = y0; y < y0 + h && y < HEIGHT; y++)
		for (unsigned x = x0; x < x0 + w && x < WIDTH; x++)
			guest_write(&r->mem, FB_GPA + (gpa_t)y * r->fb.stride + x * 4ull, &rgb, 4);
}

static int fail(const struct kvmini_error *err)
{
	fprintf(stderr, "vnc_serve: %s\n", err->msg);
	return 2;
}

/* The bench's moving screen: for `seconds`, redraw the whole screen in
 * a new colour, or move one 8x16 character along a row, as fast as the
 * writes go (the server's own pacing decides the frames sent). */
static void animate(struct rig *r, unsigned seconds, bool whole)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	time_t end = t.tv_sec + (time_t)seconds;
	for (unsigned i = 0; t.tv_sec < end; i++) {
		unsigned x = (i % (WIDTH / 8)) * 8;
		if (whole) {
			fill_rect(r, 0, 0, WIDTH, HEIGHT, 0x010101u * (i & 0xff));
		} else {
			fill_rect(r, x ? x - 8 : WIDTH - 8, 0, 8, 16, 0);
			fill_rect(r, x, 0, 8, 16, 0xffffff);
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
	}
}

static void serve(struct rig *r, struct vnc_server *s)
{
	char line[128];
	unsigned x, y, rgb, seconds;
	while (fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "animate %u", &seconds) == 1)
			animate(r, seconds, strstr(line, "char") == NULL);
		else if (sscanf(line, "char %u %u", &x, &y) == 2)
			fill_rect(r, x, y, 8, 16, 0xffffff);
		else if (sscanf(line, "fill %x", &rgb) == 1)
			fill_rect(r, 0, 0, WIDTH, HEIGHT, rgb);
		else if (strncmp(line, "bytes", 5) == 0)
			printf("bytes %llu\n", (unsigned long long)vnc_server_bytes_sent(s));
		else if (strncmp(line, "quit", 4) == 0)
			break;
		fflush(stdout);
	}
}

int main(int argc, char **argv)
{
	struct rig r = { .kbc = i8042_create(NULL) };
	struct kvmini_error err = { 0 };
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: vnc_serve ADDRESS SCREENSHOT.png [PASSWORD]\n");
		return 2;
	}
	if (guest_memory_init(&r.mem, 1 << 20, 0, &err) < 0 ||
	    framebuffer_init(&r.fb, WIDTH, HEIGHT, &err) < 0 ||
	    framebuffer_map(&r.fb, &r.mem, &err) < 0)
		return fail(&err);
	for (unsigned y = 0; y < HEIGHT; y++)
		for (unsigned x = 0; x < WIDTH; x++)
			fill_rect(&r, x, y, 1, 1, test_pattern(x, y) | 0x5a000000u);
	if (screenshot_write_png(&r.fb, argv[2], &err) < 0)
		return fail(&err);
	/* The guest's driver turns the mouse's reporting on. */
	port_write(r.kbc, &i8042_command_ops, 0xd4);
	port_write(r.kbc, &i8042_data_ops, 0xf4);
	port_read(r.kbc, &i8042_data_ops);
	struct vnc_input input = { on_key, on_pointer, &r };
	/* The server's thread confined as in kvmini: every client these
	 * tests run (garbage, passwords, a Unix socket) meets its filter. */
	struct vnc_config cfg = { .address = argv[1], .password = argc == 4 ? argv[3] : NULL,
				  .seccomp = KVMINI_SECCOMP_KILL };
	struct vnc_server *s = vnc_server_start(&r.fb, &cfg, &input, NULL, &err);
	if (!s)
		return fail(&err);
	printf("ready\n");
	fflush(stdout);
	serve(&r, s);
	vnc_server_stop(s);
	i8042_destroy(r.kbc);
	framebuffer_free(&r.fb);
	guest_memory_free(&r.mem);
	return 0;
}
