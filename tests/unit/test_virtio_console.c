/* virtio-console (src/virtio/console.c) driven by the fake driver with
 * no KVM: bytes the guest sends reach the output fd, bytes written to
 * the input fd reach the guest's buffers, and a consumer that stops
 * reading never blocks the device or keeps the guest's buffers. Input
 * is read on a real event loop; the test waits on events (the device's
 * interrupt, a pipe becoming readable), never for a time. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <linux/virtio_console.h>
#include "event_loop.h"
#include "virtio/console.h"
#include "virtio_driver.h"

#define MIB (1ULL << 20)
#define RX 0
#define TX 1

static struct guest_memory mem;
static struct event_loop *loop;
static struct kvmini_config cfg;
static struct virtio_device *vdev;
static struct vdrv d;
static int out_pipe[2], in_pipe[2];

static void setup(void)
{
	struct kvmini_error err = { 0 };
	cr_assert_eq(guest_memory_init(&mem, 16 * MIB, 0, &err), 0, "%s", err.msg);
	loop = event_loop_create("contest", &err);
	cr_assert_not_null(loop, "%s", err.msg);
	cr_assert_eq(event_loop_start(loop, &err), 0, "%s", err.msg);
	cr_assert_eq(pipe2(out_pipe, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(in_pipe, O_CLOEXEC), 0);
	kvmini_config_defaults(&cfg);
	cfg.vconsole = true;
	cfg.vconsole_out_fd = out_pipe[1];
	cfg.vconsole_in_fd = in_pipe[0];
	struct virtio_device_env env = { .loop = loop, .log_fd = 2, .cfg = &cfg };
	vdev = virtio_console_create(&env, NULL, &err);
	cr_assert_not_null(vdev, "%s", err.msg);
	cr_assert_eq(vdrv_init_direct(&d, vdev, &mem, 2), 0);
	cr_assert(vdrv_start(&d, 1ull << VIRTIO_CONSOLE_F_EMERG_WRITE, 2, 64));
}

static void teardown(void)
{
	event_loop_stop(loop);
	vdrv_destroy(&d);
	virtio_device_destroy(vdev);
	event_loop_destroy(loop);
	guest_memory_free(&mem);
	for (int i = 0; i < 2; i++) {
		close(out_pipe[i]);
		close(in_pipe[i]);
	}
}

/* Read exactly n bytes, waiting for each to arrive (the poll timeout
 * only keeps a broken device from hanging the test). */
static bool read_exact(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, VDRV_TIMEOUT_MS) <= 0)
			return false;
		ssize_t r = read(fd, (uint8_t *)buf + got, n - got);
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return true;
}

/* The guest sends bytes on the transmit queue; true when the device
 * handed the buffer back. */
static bool guest_send(const void *bytes, uint32_t n)
{
	gpa_t gpa = vdrv_alloc(&d, n, 1);
	memcpy(guest_ptr(&mem, gpa, n), bytes, n);
	struct vdrv_buf b = { .gpa = gpa, .len = n };
	uint16_t head = vdrv_post(&d, TX, &b, 1);
	vdrv_kick(&d, TX);
	uint32_t id;
	return vdrv_wait_used(&d, TX, &id, NULL) && id == head;
}

TestSuite(virtio_console, .init = setup, .fini = teardown, .timeout = 60);

Test(virtio_console, guest_output_reaches_the_fd)
{
	static const char msg[] = "hello from hvc0\n";
	cr_assert(guest_send(msg, sizeof(msg) - 1));
	char got[sizeof(msg)] = { 0 };
	cr_assert(read_exact(out_pipe[0], got, sizeof(msg) - 1));
	cr_assert_str_eq(got, msg);
}

Test(virtio_console, input_reaches_the_guests_buffer)
{
	gpa_t gpa = vdrv_alloc(&d, 64, 1);
	struct vdrv_buf b = { .gpa = gpa, .len = 64, .write = true };
	uint16_t head = vdrv_post(&d, RX, &b, 1);
	vdrv_kick(&d, RX);
	cr_assert_eq(write(in_pipe[1], "typed", 5), 5);
	uint32_t id, len;
	cr_assert(vdrv_wait_used(&d, RX, &id, &len), "the input never arrived");
	cr_assert_eq(id, head);
	cr_assert_eq(len, 5);
	cr_assert_arr_eq(guest_ptr(&mem, gpa, 5), "typed", 5);
}

/* Input typed before the guest posts a buffer waits (unread, the fd
 * unwatched) and arrives, in order, when buffers come. */
Test(virtio_console, input_waits_for_buffers)
{
	cr_assert_eq(write(in_pipe[1], "abcdef", 6), 6);
	gpa_t g1 = vdrv_alloc(&d, 4, 1), g2 = vdrv_alloc(&d, 4, 1);
	struct vdrv_buf b1 = { .gpa = g1, .len = 4, .write = true };
	vdrv_post(&d, RX, &b1, 1);
	vdrv_kick(&d, RX);
	uint32_t len;
	cr_assert(vdrv_wait_used(&d, RX, NULL, &len));
	cr_assert_eq(len, 4);
	cr_assert_arr_eq(guest_ptr(&mem, g1, 4), "abcd", 4);
	struct vdrv_buf b2 = { .gpa = g2, .len = 4, .write = true };
	vdrv_post(&d, RX, &b2, 1);
	vdrv_kick(&d, RX);
	cr_assert(vdrv_wait_used(&d, RX, NULL, &len));
	cr_assert_eq(len, 2);
	cr_assert_arr_eq(guest_ptr(&mem, g2, 2), "ef", 2);
}

/* Nobody reads the output pipe: the guest's buffers still come back at
 * once, whatever it sends; what waited is written once the reader
 * returns, starting with the first byte the pipe did not take. */
Test(virtio_console, a_stuck_consumer_never_blocks)
{
	int size = fcntl(out_pipe[1], F_GETPIPE_SZ);
	cr_assert_gt(size, 0);
	static uint8_t chunk[16384];
	for (unsigned i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)i;
	/* Four times the pipe plus the device's 64 KiB: some must be dropped. */
	unsigned rounds = (unsigned)(4 * size + (64 << 10)) / sizeof(chunk) + 1;
	for (unsigned i = 0; i < rounds; i++) {
		d.next_gpa = VDRV_DEFAULT_BASE + 0x10000;   /* reuse the buffer space */
		cr_assert(guest_send(chunk, sizeof(chunk)), "round %u: buffer kept", i);
	}
	static uint8_t got[16384];
	size_t total = 0;
	/* The pipe's worth, then the device's buffer behind it. */
	while (total < (size_t)size + (64 << 10)) {
		cr_assert(read_exact(out_pipe[0], got, sizeof(got)), "after %zu bytes", total);
		cr_assert_arr_eq(got, chunk, sizeof(got), "bytes out of order at %zu", total);
		total += sizeof(got);
	}
}

Test(virtio_console, emergency_write_outputs_one_byte)
{
	uint32_t v = 'Z';
	vdrv_config_write(&d, offsetof(struct virtio_console_config, emerg_wr), &v, 4);
	char c = 0;
	cr_assert(read_exact(out_pipe[0], &c, 1));
	cr_assert_eq(c, 'Z');
}

Test(virtio_console, input_at_end_of_file_leaves_output_working)
{
	close(in_pipe[1]);
	in_pipe[1] = -1;
	gpa_t gpa = vdrv_alloc(&d, 8, 1);
	struct vdrv_buf b = { .gpa = gpa, .len = 8, .write = true };
	vdrv_post(&d, RX, &b, 1);
	vdrv_kick(&d, RX);
	cr_assert(guest_send("ok", 2));
	char got[2];
	cr_assert(read_exact(out_pipe[0], got, 2));
	cr_assert_arr_eq(got, "ok", 2);
	cr_assert_not(vdrv_get_used(&d, RX, NULL, NULL), "a buffer came back with no input");
}

/* ---- snapshots ---- */

/* The device's state saved as a snapshot does, after quiesce. */
static void console_saved(struct virtio_device *dev, struct state_writer *w)
{
	state_writer_init(w);
	virtio_device_lock(dev);
	virtio_device_quiesce(dev);
	virtio_device_save(dev, w);
	virtio_device_unlock(dev);
	cr_assert_not(w->failed);
}

/* Input read from the host but not yet in a guest buffer, and output
 * the fd had no room for, live in the device, not in guest RAM: a
 * snapshot carries both. The restored device (new fds) writes the
 * output to its own fd and hands the input to the next buffer. */
Test(virtio_console, a_restored_device_delivers_saved_input_and_output)
{
	cr_assert_eq(write(in_pipe[1], "abcdef", 6), 6);
	gpa_t g1 = vdrv_alloc(&d, 4, 1);
	struct vdrv_buf b1 = { .gpa = g1, .len = 4, .write = true };
	vdrv_post(&d, RX, &b1, 1);
	vdrv_kick(&d, RX);
	uint32_t len;
	cr_assert(vdrv_wait_used(&d, RX, NULL, &len));
	cr_assert_eq(len, 4);   /* "ef" waits in the device */
	cr_assert_eq(fcntl(out_pipe[1], F_SETPIPE_SZ, 4096), 4096);
	static uint8_t pattern[6000];
	for (unsigned i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7);
	cr_assert(guest_send(pattern, sizeof(pattern)));   /* 4096 taken, the rest waits */
	struct state_writer w;
	console_saved(vdev, &w);

	int out2[2], in2[2];
	cr_assert_eq(pipe2(out2, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(in2, O_CLOEXEC), 0);
	struct kvmini_config cfg2 = cfg;
	cfg2.vconsole_out_fd = out2[1];
	cfg2.vconsole_in_fd = in2[0];
	struct kvmini_error err = { 0 };
	struct virtio_device_env env = { .loop = loop, .log_fd = 2, .cfg = &cfg2 };
	struct virtio_device *dev2 = virtio_console_create(&env, NULL, &err);
	cr_assert_not_null(dev2, "%s", err.msg);
	struct vdrv d2;
	cr_assert_eq(vdrv_init_direct(&d2, dev2, &mem, 2), 0);
	memcpy(d2.q, d.q, sizeof(d.q));   /* the same rings in the same RAM */
	d2.features = d.features;
	d2.next_gpa = d.next_gpa;
	struct state_reader r;
	state_reader_init(&r, w.data, w.len);
	virtio_device_lock(dev2);
	int rc = virtio_device_restore(dev2, &r, &err);
	virtio_device_unlock(dev2);
	cr_assert_eq(rc, 0, "%s", err.msg);
	cr_assert_eq(state_reader_finish(&r, "test", &err), 0, "%s", err.msg);

	static uint8_t tail[6000 - 4096];
	cr_assert(read_exact(out2[0], tail, sizeof(tail)), "the saved output never came");
	cr_assert_arr_eq(tail, pattern + 4096, sizeof(tail));
	gpa_t g2 = vdrv_alloc(&d2, 4, 1);
	struct vdrv_buf b2 = { .gpa = g2, .len = 4, .write = true };
	vdrv_post(&d2, RX, &b2, 1);
	vdrv_kick(&d2, RX);
	cr_assert(vdrv_wait_used(&d2, RX, NULL, &len), "the saved input never came");
	cr_assert_eq(len, 2);
	cr_assert_arr_eq(guest_ptr(&mem, g2, 2), "ef", 2);

	virtio_device_destroy(dev2);
	vdrv_destroy(&d2);
	state_writer_free(&w);
	for (int i = 0; i < 2; i++) {
		close(out2[i]);
		close(in2[i]);
	}
}

/* Saved bytes beyond what a device can hold are refused, not copied. */
Test(virtio_console, a_restore_refuses_oversized_saved_input)
{
	struct state_writer w;
	console_saved(vdev, &w);
	/* The device's part is the last 2 + 0 + 4 + 0 bytes: input 0xffff long. */
	w.data[w.len - 6] = 0xff;
	w.data[w.len - 5] = 0xff;
	struct state_reader r;
	state_reader_init(&r, w.data, w.len);
	struct kvmini_error err = { 0 };
	virtio_device_lock(vdev);
	int rc = virtio_device_restore(vdev, &r, &err);
	virtio_device_unlock(vdev);
	cr_assert_eq(rc, -1);
	cr_assert(strstr(err.msg, "virtio-console: saved input or output is malformed"), "%s",
		  err.msg);
	state_writer_free(&w);
}
