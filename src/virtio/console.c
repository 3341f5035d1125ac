/* virtio-console (console.h): one port between the guest and two fds. */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/virtio_console.h>
#include "devices/char_out.h"
#include "event_loop.h"
#include "virtio/console.h"

#define VCON_RX 0          /* port 0's receive queue: to the guest */
#define VCON_TX 1          /* port 0's transmit queue: from the guest */
#define VCON_PENDING (64u << 10)
#define VCON_STAGE 4096u

struct vcon {
	struct virtio_device vdev;
	struct virtio_console_config config;
	struct event_loop *loop;
	/* input */
	int in_fd;
	struct event_handler *in_watch;
	bool in_watched, in_done;
	uint8_t stage[VCON_STAGE];
	size_t staged, stage_off;
	/* output */
	struct char_out out;
	struct event_handler *out_watch;
	bool out_watched;
	uint8_t pending[VCON_PENDING];
	size_t npending;
	uint64_t dropped;
	struct virtq_elem elem;
};

/* ---- output ---- */

static void vcon_watch_out(struct vcon *c, bool on)
{
	if (!c->out_watch || c->out_watched == on)
		return;
	struct kvmini_error err;
	if (event_loop_modify(c->loop, c->out_watch, on ? EPOLLOUT : 0, &err) == 0)
		c->out_watched = on;
}

/* Write what waits; true when nothing is left. */
static bool vcon_flush(struct vcon *c)
{
	if (!c->npending)
		return true;
	ssize_t w = char_out_write_now(&c->out, c->pending, c->npending);
	if (w < 0) {
		c->dropped += c->npending;   /* output gone: nobody will read these */
		w = (ssize_t)c->npending;
	}
	memmove(c->pending, c->pending + w, c->npending - (size_t)w);
	c->npending -= (size_t)w;
	return c->npending == 0;
}

static void vcon_output(struct vcon *c, const uint8_t *bytes, size_t n)
{
	if (vcon_flush(c)) {
		ssize_t w = char_out_write_now(&c->out, bytes, n);
		size_t done = w < 0 ? n : (size_t)w;
		bytes += done;
		n -= done;
	}
	size_t room = VCON_PENDING - c->npending;
	size_t keep = n < room ? n : room;
	memcpy(c->pending + c->npending, bytes, keep);
	c->npending += keep;
	c->dropped += n - keep;
	vcon_watch_out(c, c->npending > 0);
}

static void vcon_on_writable(void *ctx, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	struct vcon *c = ctx;
	virtio_device_lock(&c->vdev);
	vcon_watch_out(c, !vcon_flush(c));
	virtio_device_unlock(&c->vdev);
}

static void vcon_transmit(struct vcon *c)
{
	struct virtq *q = &c->vdev.queues[VCON_TX];
	bool pushed = false;
	for (;;) {
		struct kvmini_error err = { 0 };
		int got = virtq_pop(q, &c->elem, &err);
		if (got < 0)
			virtio_device_fail(&c->vdev, &err);
		if (got <= 0)
			break;
		for (unsigned i = 0; i < c->elem.nout; i++)
			vcon_output(c, c->elem.iov[i].iov_base, c->elem.iov[i].iov_len);
		virtq_push(q, c->elem.head, 0);
		pushed = true;
	}
	if (pushed)
		virtio_device_used(&c->vdev, VCON_TX);
}

/* ---- input ---- */

static void vcon_watch_in(struct vcon *c, bool on)
{
	on = on && !c->in_done;
	if (!c->in_watch || c->in_watched == on)
		return;
	struct kvmini_error err;
	if (event_loop_modify(c->loop, c->in_watch, on ? EPOLLIN : 0, &err) == 0)
		c->in_watched = on;
}

/* Copy staged bytes into posted receive buffers; true when all went. */
static bool vcon_deliver(struct vcon *c)
{
	struct virtq *q = &c->vdev.queues[VCON_RX];
	bool pushed = false;
	while (c->stage_off < c->staged && virtio_device_running(&c->vdev)) {
		struct kvmini_error err = { 0 };
		int got = virtq_pop(q, &c->elem, &err);
		if (got < 0)
			virtio_device_fail(&c->vdev, &err);
		if (got <= 0)
			break;
		size_t n = iov_from_buf(virtq_elem_in(&c->elem), c->elem.nin, 0,
					c->stage + c->stage_off, c->staged - c->stage_off);
		c->stage_off += n;
		virtq_push(q, c->elem.head, (uint32_t)n);
		pushed = true;
	}
	if (pushed)
		virtio_device_used(&c->vdev, VCON_RX);
	return c->stage_off == c->staged;
}

static void vcon_on_readable(void *ctx, int fd, uint32_t events)
{
	(void)events;
	struct vcon *c = ctx;
	virtio_device_lock(&c->vdev);
	if (c->stage_off == c->staged) {
		/* One read per call: epoll said it will not block. */
		ssize_t n = read(fd, c->stage, sizeof(c->stage));
		if (n > 0) {
			c->staged = (size_t)n;
			c->stage_off = 0;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			c->in_done = true;
		}
	}
	/* Bytes the guest has no buffer for: stop reading until it posts one. */
	vcon_watch_in(c, vcon_deliver(c));
	virtio_device_unlock(&c->vdev);
}

/* ---- the device ---- */

static void vcon_config_read(void *dev, uint32_t off, void *buf, uint32_t len)
{
	struct vcon *c = dev;
	memcpy(buf, (const uint8_t *)&c->config + off, len);
}

/* The emergency-write register: its low byte is one character out. */
static void vcon_config_write(void *dev, uint32_t off, const void *buf, uint32_t len)
{
	struct vcon *c = dev;
	if (off == offsetof(struct virtio_console_config, emerg_wr) && len >= 1 &&
	    virtio_device_has_feature(&c->vdev, VIRTIO_CONSOLE_F_EMERG_WRITE))
		vcon_output(c, buf, 1);
}

static int vcon_start(void *dev, struct kvmini_error *err)
{
	(void)err;
	struct vcon *c = dev;
	vcon_watch_in(c, true);
	return 0;
}

static void vcon_queue_kick(void *dev, unsigned q)
{
	struct vcon *c = dev;
	if (q == VCON_TX)
		vcon_transmit(c);
	else if (q == VCON_RX)
		vcon_watch_in(c, vcon_deliver(c));
}

/* Staged input stays for the next driver; nothing is in flight. */
static void vcon_reset(void *dev)
{
	vcon_watch_in(dev, false);
}

static void vcon_detach(void *dev)
{
	struct vcon *c = dev;
	event_loop_remove(c->loop, c->in_watch);
	event_loop_remove(c->loop, c->out_watch);
	c->in_watch = c->out_watch = NULL;
}

static void vcon_destroy(void *dev)
{
	struct vcon *c = dev;
	vcon_detach(c);
	vcon_flush(c);
	char_out_close(&c->out);
	free(c);
}

/* Input read from the host and not yet in a guest buffer, and output
 * the old fd did not take: the restored device delivers the one and
 * writes the other to its own fds. */
static void vcon_save(const void *dev, struct state_writer *w)
{
	const struct vcon *c = dev;
	state_put_u16(w, (uint16_t)(c->staged - c->stage_off));
	state_put_bytes(w, c->stage + c->stage_off, c->staged - c->stage_off);
	state_put_u32(w, (uint32_t)c->npending);
	state_put_bytes(w, c->pending, c->npending);
}

static int vcon_restore(void *dev, struct state_reader *r, struct kvmini_error *err)
{
	struct vcon *c = dev;
	size_t staged = state_get_u16(r);
	const uint8_t *input = staged <= VCON_STAGE ? state_get_span(r, staged) : NULL;
	size_t pending = input ? state_get_u32(r) : 0;
	const uint8_t *output = pending <= VCON_PENDING ? state_get_span(r, pending) : NULL;
	if (!input || !output)
		return kvmini_fail(err, KVMINI_E_USAGE, "virtio-console: saved input or output "
				   "is malformed");
	memcpy(c->stage, input, staged);
	c->staged = staged;
	c->stage_off = 0;
	if (pending)
		vcon_output(c, output, pending);
	return 0;
}

static const struct virtio_device_ops vcon_ops = {
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.config_read = vcon_config_read,
	.config_write = vcon_config_write,
	.start = vcon_start,
	.queue_kick = vcon_queue_kick,
	.reset = vcon_reset,
	.save = vcon_save,
	.restore = vcon_restore,
	.detach = vcon_detach,
	.destroy = vcon_destroy,
};

/* A watch of fd, paused. Added watched, then paused: epoll refuses an
 * fd it cannot watch (a regular file) here, at creation, rather than at
 * the first resume. */
static struct event_handler *vcon_watch(struct vcon *c, int fd, uint32_t events,
					event_fd_fn *fn, struct kvmini_error *err)
{
	struct event_handler *h = event_loop_add(c->loop, fd, events, fn, c, err);
	if (h && event_loop_modify(c->loop, h, 0, err) < 0) {
		event_loop_remove(c->loop, h);
		return NULL;
	}
	return h;
}

/* An output fd epoll cannot watch (a regular file, /dev/null) never
 * makes a writer wait, so it needs no watch. */
static void vcon_watch_output(struct vcon *c)
{
	struct kvmini_error ignored;
	if (c->out.fd >= 0)
		c->out_watch = vcon_watch(c, c->out.fd, EPOLLOUT, vcon_on_writable, &ignored);
}

struct virtio_device *virtio_console_create(const struct virtio_device_env *env,
					    const void *arg, struct kvmini_error *err)
{
	(void)arg;
	struct vcon *c = calloc(1, sizeof(*c));
	if (!c) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for virtio-console");
		return NULL;
	}
	c->loop = env->loop;
	c->in_fd = env->cfg->vconsole_in_fd;
	c->in_done = c->in_fd < 0;
	c->config.max_nr_ports = htole32(1);
	/* The lock first: a watch's callback may run as soon as it exists. */
	virtio_device_init(&c->vdev, &vcon_ops, c, 1ull << VIRTIO_CONSOLE_F_EMERG_WRITE,
			   sizeof(c->config), 2, VIRTQ_MAX_SIZE);
	char_out_open(&c->out, env->cfg->vconsole_out_fd);
	vcon_watch_output(c);
	if (c->in_fd >= 0) {
		c->in_watch = vcon_watch(c, c->in_fd, EPOLLIN, vcon_on_readable, err);
		if (!c->in_watch) {
			vcon_destroy(c);
			return NULL;
		}
	}
	c->vdev.log_fd = env->log_fd;
	return &c->vdev;
}
