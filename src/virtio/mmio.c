/* The virtio-mmio transport (mmio.h): the register file on the MMIO bus,
 * the kick eventfds on the event loop, InterruptStatus and its line. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <linux/virtio_mmio.h>
#include "event_loop.h"
#include "virtio/mmio.h"

struct mmio_kick {
	struct virtio_mmio *m;
	unsigned q;
	int fd;
	struct event_handler *handler;
};

struct virtio_mmio {
	struct virtio_device *vdev;
	struct event_loop *loop;
	int irq_fd;
	int resample_fd;
	struct event_handler *resample_handler;
	struct mmio_kick kicks[VIRTIO_MAX_QUEUES];
	/* Guest-visible, under vdev->lock. */
	uint32_t device_features_sel, driver_features_sel, queue_sel;
	uint32_t isr;
};

/* ---- interrupts ---- */

/* A full counter (EAGAIN) already means "interrupt pending". */
static void signal_fd(int fd)
{
	uint64_t one = 1;
	ssize_t r = write(fd, &one, sizeof(one));
	(void)r;
}

/* With the device's lock held (virtio.h's rule for transports). */
static void mmio_interrupt(void *ctx, enum virtio_interrupt what, unsigned q)
{
	(void)q;   /* one line for every queue: the driver checks them all */
	struct virtio_mmio *m = ctx;
	m->isr |= what == VIRTIO_INTERRUPT_CONFIG ? VIRTIO_MMIO_INT_CONFIG : VIRTIO_MMIO_INT_VRING;
	signal_fd(m->irq_fd);
}

static const struct virtio_transport_ops mmio_transport = { .interrupt = mmio_interrupt };

static bool drain_fd(int fd)
{
	uint64_t n;
	return read(fd, &n, sizeof(n)) == sizeof(n);
}

/* KVM lowered the level line at the guest's EOI: raise it again while
 * the driver has not acknowledged everything. */
static void resample_ready(void *ctx, int fd, uint32_t events)
{
	(void)events;
	struct virtio_mmio *m = ctx;
	if (!drain_fd(fd))
		return;
	virtio_device_lock(m->vdev);
	if (m->isr)
		signal_fd(m->irq_fd);
	virtio_device_unlock(m->vdev);
}

/* ---- kicks ---- */

static void kick_ready(void *ctx, int fd, uint32_t events)
{
	(void)events;
	struct mmio_kick *k = ctx;
	if (drain_fd(fd))
		virtio_device_kick(k->m->vdev, k->q);
}

/* A QueueNotify write that exited: hand it to the loop like KVM would. */
static void notify(struct virtio_mmio *m, uint32_t q)
{
	if (q < m->vdev->nqueues)
		signal_fd(m->kicks[q].fd);
}

/* ---- the registers ---- */

static struct virtq *selected_queue(struct virtio_mmio *m)
{
	return m->queue_sel < m->vdev->nqueues ? &m->vdev->queues[m->queue_sel] : NULL;
}

static uint32_t read_queue_reg(struct virtio_mmio *m, uint64_t off)
{
	struct virtq *q = selected_queue(m);
	if (!q)
		return 0;   /* QueueNumMax 0: no such queue */
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM_MAX: return m->vdev->queue_max;
	case VIRTIO_MMIO_QUEUE_NUM: return q->size;
	case VIRTIO_MMIO_QUEUE_READY: return q->enabled;
	case VIRTIO_MMIO_QUEUE_DESC_LOW: return (uint32_t)q->desc_gpa;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH: return (uint32_t)(q->desc_gpa >> 32);
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW: return (uint32_t)q->avail_gpa;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH: return (uint32_t)(q->avail_gpa >> 32);
	case VIRTIO_MMIO_QUEUE_USED_LOW: return (uint32_t)q->used_gpa;
	case VIRTIO_MMIO_QUEUE_USED_HIGH: return (uint32_t)(q->used_gpa >> 32);
	}
	return 0;
}

static uint32_t read_reg(struct virtio_mmio *m, uint64_t off)
{
	struct virtio_device *vdev = m->vdev;
	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE: return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION: return VIRTIO_MMIO_VERSION_MODERN;
	case VIRTIO_MMIO_DEVICE_ID: return vdev->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID: return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return m->device_features_sel < 2
			? (uint32_t)(virtio_device_offered(vdev) >> (32 * m->device_features_sel))
			: 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS: return m->isr;
	case VIRTIO_MMIO_STATUS: return vdev->status;
	case VIRTIO_MMIO_CONFIG_GENERATION: return vdev->config_generation;
	/* No shared memory regions: a length of all-ones says so. */
	case VIRTIO_MMIO_SHM_LEN_LOW: case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW: case VIRTIO_MMIO_SHM_BASE_HIGH:
		return 0xffffffffu;
	}
	return read_queue_reg(m, off);
}

static void set_half(gpa_t *gpa, bool high, uint32_t v)
{
	unsigned shift = high ? 32 : 0;
	*gpa = (*gpa & ~(0xffffffffull << shift)) | ((uint64_t)v << shift);
}

/* QueueReady 0 stops using the queue; 1 checks and starts it. */
static void write_queue_ready(struct virtio_mmio *m, struct virtq *q, uint32_t v)
{
	if (v == 0)
		q->enabled = false;
	else if (!q->enabled)
		virtio_device_enable_queue(m->vdev, m->queue_sel);
}

/* The queue's layout is frozen while it is enabled (its host pointers
 * were checked against these values). */
static void write_queue_reg(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
	struct virtq *q = selected_queue(m);
	if (!q)
		return;
	if (off == VIRTIO_MMIO_QUEUE_READY) {
		write_queue_ready(m, q, v);
		return;
	}
	if (q->enabled)
		return;
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM:
		/* A bad size makes QueueReady fail loudly, not run on an old one. */
		q->size = virtio_device_queue_size_ok(m->vdev, v) ? (uint16_t)v : 0;
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW: case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		set_half(&q->desc_gpa, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW: case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		set_half(&q->avail_gpa, off == VIRTIO_MMIO_QUEUE_AVAIL_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW: case VIRTIO_MMIO_QUEUE_USED_HIGH:
		set_half(&q->used_gpa, off == VIRTIO_MMIO_QUEUE_USED_HIGH, v);
		break;
	}
}

static void write_status(struct virtio_mmio *m, uint32_t v)
{
	virtio_device_write_status(m->vdev, (uint8_t)v);
	if ((uint8_t)v == 0) {
		/* A reset clears the transport's registers too. */
		m->isr = 0;
		m->device_features_sel = m->driver_features_sel = m->queue_sel = 0;
	}
}

static void write_reg(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL: m->device_features_sel = v; return;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL: m->driver_features_sel = v; return;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		virtio_device_write_features(m->vdev, m->driver_features_sel, v);
		return;
	case VIRTIO_MMIO_QUEUE_SEL: m->queue_sel = v; return;
	case VIRTIO_MMIO_QUEUE_NOTIFY: notify(m, v); return;
	case VIRTIO_MMIO_INTERRUPT_ACK: m->isr &= ~v; return;
	case VIRTIO_MMIO_STATUS: write_status(m, v); return;
	}
	write_queue_reg(m, off, v);
}

/* ---- the bus callbacks ---- */

/* Registers: 32-bit aligned. Config space: 8, 16 or 32 bits, aligned. */
static bool access_ok(uint64_t off, uint32_t len)
{
	if (off < VIRTIO_MMIO_CONFIG)
		return len == 4 && off % 4 == 0;
	return (len == 1 || len == 2 || len == 4) && off % len == 0;
}

static void mmio_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct virtio_mmio *m = opaque;
	memset(data, 0xff, len);
	if (!access_ok(off, len))
		return;
	virtio_device_lock(m->vdev);
	if (off >= VIRTIO_MMIO_CONFIG) {
		virtio_device_read_config(m->vdev, (uint32_t)(off - VIRTIO_MMIO_CONFIG), data, len);
	} else {
		uint32_t v = read_reg(m, off);
		memcpy(data, &v, 4);   /* x86: little-endian, as the bus wants */
	}
	virtio_device_unlock(m->vdev);
}

static void mmio_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_mmio *m = opaque;
	if (!access_ok(off, len))
		return;
	virtio_device_lock(m->vdev);
	if (off >= VIRTIO_MMIO_CONFIG) {
		virtio_device_write_config(m->vdev, (uint32_t)(off - VIRTIO_MMIO_CONFIG), data, len);
	} else {
		uint32_t v;
		memcpy(&v, data, 4);
		write_reg(m, off, v);
	}
	virtio_device_unlock(m->vdev);
}

const struct bus_device_ops virtio_mmio_bus_ops = { .read = mmio_read, .write = mmio_write };

/* ---- life ---- */

static int new_eventfd(struct kvmini_error *err)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		kvmini_fail(err, KVMINI_E_HOST, "virtio-mmio: eventfd: %s", strerror(errno));
	return fd;
}

static int kicks_create(struct virtio_mmio *m, struct kvmini_error *err)
{
	for (unsigned q = 0; q < m->vdev->nqueues; q++) {
		struct mmio_kick *k = &m->kicks[q];
		*k = (struct mmio_kick){ .m = m, .q = q, .fd = new_eventfd(err) };
		if (k->fd < 0 ||
		    !(k->handler = event_loop_add(m->loop, k->fd, EPOLLIN, kick_ready, k, err)))
			return -1;
	}
	return 0;
}

static struct virtio_mmio *mmio_alloc(struct virtio_device *vdev, struct event_loop *loop)
{
	struct virtio_mmio *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->vdev = vdev;
	m->loop = loop;
	m->irq_fd = m->resample_fd = -1;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		m->kicks[q].fd = -1;
	return m;
}

struct virtio_mmio *virtio_mmio_create(struct virtio_device *vdev,
				       const struct guest_memory *mem,
				       struct event_loop *loop, int log_fd,
				       struct kvmini_error *err)
{
	struct virtio_mmio *m = mmio_alloc(vdev, loop);
	if (!m) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for a virtio-mmio transport");
		return NULL;
	}
	if ((m->irq_fd = new_eventfd(err)) < 0 || kicks_create(m, err) < 0) {
		virtio_mmio_destroy(m);
		return NULL;
	}
	virtio_device_lock(vdev);
	virtio_device_write_status(vdev, 0);
	virtio_device_attach(vdev, &mmio_transport, m, mem, log_fd);
	virtio_device_unlock(vdev);
	return m;
}

int virtio_mmio_use_resample(struct virtio_mmio *m, struct kvmini_error *err)
{
	if (m->resample_fd >= 0)
		return m->resample_fd;
	if ((m->resample_fd = new_eventfd(err)) < 0)
		return -1;
	m->resample_handler = event_loop_add(m->loop, m->resample_fd, EPOLLIN, resample_ready, m,
					     err);
	if (!m->resample_handler) {
		close(m->resample_fd);
		m->resample_fd = -1;
		return -1;
	}
	return m->resample_fd;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void virtio_mmio_destroy(struct virtio_mmio *m)
{
	if (!m)
		return;
	/* No kick or resample callback runs after these return. */
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		event_loop_remove(m->loop, m->kicks[q].handler);
	event_loop_remove(m->loop, m->resample_handler);
	virtio_device_lock(m->vdev);
	if (m->vdev->transport_ctx == m) {
		virtio_device_write_status(m->vdev, 0);
		virtio_device_attach(m->vdev, NULL, NULL, NULL, m->vdev->log_fd);
	}
	virtio_device_unlock(m->vdev);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		close_fd(&m->kicks[q].fd);
	close_fd(&m->resample_fd);
	close_fd(&m->irq_fd);
	free(m);
}

/* ---- snapshots ---- */

void virtio_mmio_save(const struct virtio_mmio *m, struct state_writer *w)
{
	state_put_u32(w, m->device_features_sel);
	state_put_u32(w, m->driver_features_sel);
	state_put_u32(w, m->queue_sel);
	state_put_u32(w, m->isr);
}

int virtio_mmio_restore(struct virtio_mmio *m, struct state_reader *r, struct kvmini_error *err)
{
	m->device_features_sel = state_get_u32(r);
	m->driver_features_sel = state_get_u32(r);
	m->queue_sel = state_get_u32(r);
	m->isr = state_get_u32(r);
	if (r->failed || m->isr & ~(uint32_t)(VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG))
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: saved virtio-mmio registers are "
				   "malformed", m->vdev->ops->name);
	if (m->isr)
		signal_fd(m->irq_fd);
	for (unsigned q = 0; q < m->vdev->nqueues; q++)
		if (m->vdev->queues[q].enabled)
			signal_fd(m->kicks[q].fd);
	return 0;
}

struct virtio_device *virtio_mmio_device(const struct virtio_mmio *m)
{
	return m->vdev;
}

int virtio_mmio_kick_fd(const struct virtio_mmio *m, unsigned q)
{
	return q < m->vdev->nqueues ? m->kicks[q].fd : -1;
}

int virtio_mmio_irq_fd(const struct virtio_mmio *m)
{
	return m->irq_fd;
}
