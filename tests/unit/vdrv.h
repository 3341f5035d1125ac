/* A small fake virtio driver for the virtio-net and virtio-vsock unit
 * tests (no KVM, no transport): guest RAM is a plain guest_memory, the
 * rings are laid out in it as a driver would, kicks go through an
 * eventfd watched on a real event loop (as an ioeventfd's would, so the
 * device runs on the loop's thread), and interrupts are counted on
 * eventfds the test waits on: events, with a generous bound only as a
 * failure guard. Each posted buffer gets its own data slot. */
#ifndef KVMINI_TEST_VDRV_H
#define KVMINI_TEST_VDRV_H

#include <criterion/criterion.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "event_loop.h"
#include "virtio/virtio.h"

#define VDRV_QSIZE 64
#define VDRV_SLOT 0x4000           /* bytes of data per descriptor */
#define VDRV_RAM (32ull << 20)
#define VDRV_RINGS 0x100000        /* each queue's rings: 16 KiB from here */
#define VDRV_DATA 0x400000         /* each queue's data slots from here */
#define VDRV_WAIT_MS 20000         /* a failure guard, not a timing */

struct vdrv_queue {
	gpa_t desc, avail, used;
	uint16_t next_desc, avail_idx, used_seen;
	int kick_fd;
	struct event_handler *kick;
};

struct vdrv {
	struct guest_memory mem;
	struct event_loop *loop;
	struct virtio_device *vdev;
	struct vdrv_queue q[VIRTIO_MAX_QUEUES];
	unsigned nq;
	int queue_irq_fd, config_irq_fd;
	int log_pipe[2];
};

static inline void vdrv_interrupt(void *ctx, enum virtio_interrupt what, unsigned q)
{
	(void)q;
	struct vdrv *d = ctx;
	uint64_t one = 1;
	int fd = what == VIRTIO_INTERRUPT_CONFIG ? d->config_irq_fd : d->queue_irq_fd;
	if (write(fd, &one, sizeof(one)) != sizeof(one))
		abort();
}

static const struct virtio_transport_ops vdrv_transport = { .interrupt = vdrv_interrupt };

struct vdrv_kick_ctx {
	struct vdrv *d;
	unsigned q;
};
static struct vdrv_kick_ctx vdrv_kick_ctxs[VIRTIO_MAX_QUEUES];

static inline void vdrv_kicked(void *ctx, int fd, uint32_t events)
{
	(void)events;
	struct vdrv_kick_ctx *k = ctx;
	uint64_t v;
	if (read(fd, &v, sizeof(v)) == sizeof(v))
		virtio_device_kick(k->d->vdev, k->q);
}

/* The loop and RAM; the device is created by the test with d->loop. */
static inline void vdrv_init(struct vdrv *d)
{
	struct kvmini_error err = { 0 };
	memset(d, 0, sizeof(*d));
	cr_assert_eq(guest_memory_init(&d->mem, VDRV_RAM, 0, &err), 0, "%s", err.msg);
	d->loop = event_loop_create("vdrv", &err);
	cr_assert_not_null(d->loop, "%s", err.msg);
	d->queue_irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->config_irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	cr_assert_eq(pipe(d->log_pipe), 0);
	cr_assert_eq(event_loop_start(d->loop, &err), 0, "%s", err.msg);
}

static inline void vdrv_setup_queue(struct vdrv *d, unsigned i)
{
	struct kvmini_error err = { 0 };
	struct vdrv_queue *q = &d->q[i];
	q->desc = VDRV_RINGS + i * 0x4000;
	q->avail = q->desc + 16 * VDRV_QSIZE;
	q->used = q->desc + 0x2000;
	q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vdrv_kick_ctxs[i] = (struct vdrv_kick_ctx){ d, i };
	q->kick = event_loop_add(d->loop, q->kick_fd, EPOLLIN, vdrv_kicked, &vdrv_kick_ctxs[i], &err);
	cr_assert_not_null(q->kick, "%s", err.msg);
	struct virtq *vq = &d->vdev->queues[i];
	vq->size = VDRV_QSIZE;
	vq->desc_gpa = q->desc;
	vq->avail_gpa = q->avail;
	vq->used_gpa = q->used;
	virtio_device_enable_queue(d->vdev, i);
}

/* Negotiate `features` (VERSION_1 added), set up every queue, DRIVER_OK. */
static inline void vdrv_start(struct vdrv *d, struct virtio_device *vdev, uint64_t features)
{
	d->vdev = vdev;
	d->nq = vdev->nqueues;
	virtio_device_attach(vdev, &vdrv_transport, d, &d->mem, d->log_pipe[1]);
	features |= 1ull << VIRTIO_F_VERSION_1;
	virtio_device_lock(vdev);
	virtio_device_write_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	virtio_device_write_features(vdev, 0, (uint32_t)features);
	virtio_device_write_features(vdev, 1, (uint32_t)(features >> 32));
	virtio_device_write_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					 VIRTIO_CONFIG_S_FEATURES_OK);
	cr_assert(vdev->status & VIRTIO_CONFIG_S_FEATURES_OK, "features refused");
	for (unsigned i = 0; i < d->nq; i++)
		vdrv_setup_queue(d, i);
	virtio_device_write_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					 VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	cr_assert(virtio_device_running(vdev), "the device did not start");
	virtio_device_unlock(vdev);
}

/* As at a machine's teardown: the loop stops, then the device goes. */
static inline void vdrv_fini(struct vdrv *d)
{
	event_loop_stop(d->loop);
	virtio_device_destroy(d->vdev);
	for (unsigned i = 0; i < d->nq; i++) {
		event_loop_remove(d->loop, d->q[i].kick);
		close(d->q[i].kick_fd);
	}
	event_loop_destroy(d->loop);
	close(d->queue_irq_fd);
	close(d->config_irq_fd);
	close(d->log_pipe[0]);
	close(d->log_pipe[1]);
	guest_memory_free(&d->mem);
}

static inline gpa_t vdrv_slot(unsigned q, uint16_t desc)
{
	return VDRV_DATA + ((gpa_t)q * VDRV_QSIZE + desc) * VDRV_SLOT;
}

static inline void vdrv_desc(struct vdrv *d, unsigned q, uint16_t i, uint32_t len, uint16_t flags,
		      uint16_t next)
{
	struct vring_desc v = { .addr = vdrv_slot(q, i), .len = len, .flags = flags, .next = next };
	cr_assert_eq(guest_write(&d->mem, d->q[q].desc + 16ull * i, &v, sizeof(v)), 0);
}

/* Post one chain: `out` (out_len bytes, device-readable) then an
 * in_len-byte writable buffer; either may be empty. Returns the head.
 * Does not kick. */
static inline uint16_t vdrv_post(struct vdrv *d, unsigned q, const void *out, uint32_t out_len,
			  uint32_t in_len)
{
	struct vdrv_queue *vq = &d->q[q];
	cr_assert(out_len <= VDRV_SLOT && in_len <= VDRV_SLOT);
	uint16_t head = vq->next_desc;
	uint16_t i = head;
	if (out_len) {
		uint16_t nx = (uint16_t)((i + 1) % VDRV_QSIZE);
		cr_assert_eq(guest_write(&d->mem, vdrv_slot(q, i), out, out_len), 0);
		vdrv_desc(d, q, i, out_len, in_len ? VRING_DESC_F_NEXT : 0, nx);
		i = in_len ? nx : i;
	}
	if (in_len) {
		void *p = guest_ptr(&d->mem, vdrv_slot(q, i), in_len);
		memset(p, 0xee, in_len);
		vdrv_desc(d, q, i, in_len, VRING_DESC_F_WRITE, 0);
	}
	vq->next_desc = (uint16_t)((i + 1) % VDRV_QSIZE);
	uint16_t slot = vq->avail_idx % VDRV_QSIZE;
	cr_assert_eq(guest_write(&d->mem, vq->avail + 4 + 2ull * slot, &head, 2), 0);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	vq->avail_idx++;
	cr_assert_eq(guest_write(&d->mem, vq->avail + 2, &vq->avail_idx, 2), 0);
	return head;
}

/* The writable buffer of the chain at head (where vdrv_post put it). */
static inline const uint8_t *vdrv_in_data(struct vdrv *d, unsigned q, uint16_t head, bool had_out)
{
	uint16_t i = had_out ? (uint16_t)((head + 1) % VDRV_QSIZE) : head;
	return guest_ptr(&d->mem, vdrv_slot(q, i), 1);
}

static inline void vdrv_kick(struct vdrv *d, unsigned q)
{
	uint64_t one = 1;
	cr_assert_eq(write(d->q[q].kick_fd, &one, sizeof(one)), sizeof(one));
}

/* Wait (bounded by VDRV_WAIT_MS) until fd is readable; false on time-out. */
static inline bool vdrv_wait_fd(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, VDRV_WAIT_MS) == 1;
}

/* The next used entry of queue q (id and len); fails the test when none
 * comes. */
static inline void vdrv_wait_used(struct vdrv *d, unsigned q, uint16_t *id, uint32_t *len)
{
	struct vdrv_queue *vq = &d->q[q];
	for (;;) {
		uint16_t idx;
		cr_assert_eq(guest_read(&d->mem, vq->used + 2, &idx, 2), 0);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (idx != vq->used_seen) {
			struct vring_used_elem e;
			gpa_t at = vq->used + 4 + 8ull * (vq->used_seen % VDRV_QSIZE);
			cr_assert_eq(guest_read(&d->mem, at, &e, sizeof(e)), 0);
			vq->used_seen++;
			*id = (uint16_t)e.id;
			*len = e.len;
			return;
		}
		cr_assert(vdrv_wait_fd(d->queue_irq_fd), "no interrupt for queue %u", q);
		uint64_t v;
		if (read(d->queue_irq_fd, &v, sizeof(v)) < 0)
			continue;
	}
}

/* Whether queue q has a used entry not yet seen (no waiting). */
static inline bool vdrv_has_used(struct vdrv *d, unsigned q)
{
	uint16_t idx;
	cr_assert_eq(guest_read(&d->mem, d->q[q].used + 2, &idx, 2), 0);
	return idx != d->q[q].used_seen;
}

static inline void vdrv_config(struct vdrv *d, uint32_t off, void *buf, uint32_t len)
{
	virtio_device_lock(d->vdev);
	virtio_device_read_config(d->vdev, off, buf, len);
	virtio_device_unlock(d->vdev);
}

#endif
