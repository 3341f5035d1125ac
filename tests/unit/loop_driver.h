/* A small fake virtio driver whose kicks arrive on a real event loop,
 * for devices with backends on that loop (virtio-net's tap and slirp,
 * virtio-vsock's sockets). No KVM, no transport: guest RAM is a plain
 * guest_memory and the rings are laid out in it as a driver would.
 *
 * Why not tests/unit/virtio_driver.h's direct form: it kicks on the
 * test's thread, but these devices add and remove event-loop
 * registrations while they work, under their virtio lock, and removing
 * one from outside the loop's thread waits for its callback, which may
 * be waiting for that lock. Kicks here go through an eventfd the loop
 * watches, as an ioeventfd's would, so the device runs on the loop's
 * thread as in a VM. Interrupts are counted on eventfds the test waits
 * on (events; the bound is only a failure guard). Each posted buffer
 * gets its own data slot. */
#ifndef KVMINI_TEST_LDRV_H
#define KVMINI_TEST_LDRV_H

#include <criterion/criterion.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "event_loop.h"
#include "seccomp/seccomp.h"
#include "virtio/virtio.h"

#define LDRV_QSIZE 64
#define LDRV_SLOT 0x4000           /* bytes of data per descriptor */
#define LDRV_RAM (32ull << 20)
#define LDRV_RINGS 0x100000        /* each queue's rings: 16 KiB from here */
#define LDRV_DATA 0x400000         /* each queue's data slots from here */
#define LDRV_WAIT_MS 20000         /* a failure guard, not a timing */

struct ldrv_queue {
	gpa_t desc, avail, used;
	uint16_t next_desc, avail_idx, used_seen;
	int kick_fd;
	struct event_handler *kick;
};

struct ldrv {
	struct guest_memory mem;
	struct event_loop *loop;
	struct virtio_device *vdev;
	struct ldrv_queue q[VIRTIO_MAX_QUEUES];
	unsigned nq;
	int queue_irq_fd, config_irq_fd;
	int log_pipe[2];
};

static inline void ldrv_interrupt(void *ctx, enum virtio_interrupt what, unsigned q)
{
	(void)q;
	struct ldrv *d = ctx;
	uint64_t one = 1;
	int fd = what == VIRTIO_INTERRUPT_CONFIG ? d->config_irq_fd : d->queue_irq_fd;
	if (write(fd, &one, sizeof(one)) != sizeof(one))
		abort();
}

static const struct virtio_transport_ops ldrv_transport = { .interrupt = ldrv_interrupt };

struct ldrv_kick_ctx {
	struct ldrv *d;
	unsigned q;
};
static struct ldrv_kick_ctx ldrv_kick_ctxs[VIRTIO_MAX_QUEUES];

static inline void ldrv_kicked(void *ctx, int fd, uint32_t events)
{
	(void)events;
	struct ldrv_kick_ctx *k = ctx;
	uint64_t v;
	if (read(fd, &v, sizeof(v)) == sizeof(v))
		virtio_device_kick(k->d->vdev, k->q);
}

/* The loop's thread carries kvmini's event-loop filter, as in kvmini
 * run: a call a backend needs and the evloop role lacks kills the test
 * with the call named. */
static inline int ldrv_enter_filtered(void *ctx, struct kvmini_error *err)
{
	(void)ctx;
	return seccomp_role_install(SECCOMP_ROLE_EVLOOP, KVMINI_SECCOMP_KILL, err);
}

/* The loop and RAM; the device is created by the test with d->loop. */
static inline void ldrv_init(struct ldrv *d)
{
	struct kvmini_error err = { 0 };
	memset(d, 0, sizeof(*d));
	cr_assert_eq(guest_memory_init(&d->mem, LDRV_RAM, 0, &err), 0, "%s", err.msg);
	d->loop = event_loop_create("ldrv", &err);
	cr_assert_not_null(d->loop, "%s", err.msg);
	d->queue_irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->config_irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	cr_assert_eq(pipe(d->log_pipe), 0);
	event_loop_on_enter(d->loop, ldrv_enter_filtered, NULL);
	cr_assert_eq(event_loop_start(d->loop, &err), 0, "%s", err.msg);
}

static inline void ldrv_setup_queue(struct ldrv *d, unsigned i)
{
	struct kvmini_error err = { 0 };
	struct ldrv_queue *q = &d->q[i];
	q->desc = LDRV_RINGS + i * 0x4000;
	q->avail = q->desc + 16 * LDRV_QSIZE;
	q->used = q->desc + 0x2000;
	q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ldrv_kick_ctxs[i] = (struct ldrv_kick_ctx){ d, i };
	q->kick = event_loop_add(d->loop, q->kick_fd, EPOLLIN, ldrv_kicked, &ldrv_kick_ctxs[i], &err);
	cr_assert_not_null(q->kick, "%s", err.msg);
	struct virtq *vq = &d->vdev->queues[i];
	vq->size = LDRV_QSIZE;
	vq->desc_gpa = q->desc;
	vq->avail_gpa = q->avail;
	vq->used_gpa = q->used;
	virtio_device_enable_queue(d->vdev, i);
}

/* Negotiate `features` (VERSION_1 added), set up every queue, DRIVER_OK. */
static inline void ldrv_start(struct ldrv *d, struct virtio_device *vdev, uint64_t features)
{
	d->vdev = vdev;
	d->nq = vdev->nqueues;
	virtio_device_attach(vdev, &ldrv_transport, d, &d->mem, d->log_pipe[1]);
	features |= 1ull << VIRTIO_F_VERSION_1;
	virtio_device_lock(vdev);
	virtio_device_write_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	virtio_device_write_features(vdev, 0, (uint32_t)features);
	virtio_device_write_features(vdev, 1, (uint32_t)(features >> 32));
	virtio_device_write_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					 VIRTIO_CONFIG_S_FEATURES_OK);
	cr_assert(vdev->status & VIRTIO_CONFIG_S_FEATURES_OK, "features refused");
	for (unsigned i = 0; i < d->nq; i++)
		ldrv_setup_queue(d, i);
	virtio_device_write_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					 VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	cr_assert(virtio_device_running(vdev), "the device did not start");
	virtio_device_unlock(vdev);
}

/* As at a machine's teardown: the loop stops, then the device goes. */
static inline void ldrv_fini(struct ldrv *d)
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

static inline gpa_t ldrv_slot(unsigned q, uint16_t desc)
{
	return LDRV_DATA + ((gpa_t)q * LDRV_QSIZE + desc) * LDRV_SLOT;
}

static inline void ldrv_desc(struct ldrv *d, unsigned q, uint16_t i, uint32_t len, uint16_t flags,
		      uint16_t next)
{
	struct vring_desc v = { .addr = ldrv_slot(q, i), .len = len, .flags = flags, .next = next };
	cr_assert_eq(guest_write(&d->mem, d->q[q].desc + 16ull * i, &v, sizeof(v)), 0);
}

/* Post one chain: `out` (out_len bytes, device-readable) then an
 * in_len-byte writable buffer; either may be empty. Returns the head.
 * Does not kick. */
static inline uint16_t ldrv_post(struct ldrv *d, unsigned q, const void *out, uint32_t out_len,
			  uint32_t in_len)
{
	struct ldrv_queue *vq = &d->q[q];
	cr_assert(out_len <= LDRV_SLOT && in_len <= LDRV_SLOT);
	uint16_t head = vq->next_desc;
	uint16_t i = head;
	if (out_len) {
		uint16_t nx = (uint16_t)((i + 1) % LDRV_QSIZE);
		cr_assert_eq(guest_write(&d->mem, ldrv_slot(q, i), out, out_len), 0);
		ldrv_desc(d, q, i, out_len, in_len ? VRING_DESC_F_NEXT : 0, nx);
		i = in_len ? nx : i;
	}
	if (in_len) {
		void *p = guest_ptr(&d->mem, ldrv_slot(q, i), in_len);
		memset(p, 0xee, in_len);
		ldrv_desc(d, q, i, in_len, VRING_DESC_F_WRITE, 0);
	}
	vq->next_desc = (uint16_t)((i + 1) % LDRV_QSIZE);
	uint16_t slot = vq->avail_idx % LDRV_QSIZE;
	cr_assert_eq(guest_write(&d->mem, vq->avail + 4 + 2ull * slot, &head, 2), 0);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	vq->avail_idx++;
	cr_assert_eq(guest_write(&d->mem, vq->avail + 2, &vq->avail_idx, 2), 0);
	return head;
}

/* The writable buffer of the chain at head (where ldrv_post put it). */
static inline const uint8_t *ldrv_in_data(struct ldrv *d, unsigned q, uint16_t head, bool had_out)
{
	uint16_t i = had_out ? (uint16_t)((head + 1) % LDRV_QSIZE) : head;
	return guest_ptr(&d->mem, ldrv_slot(q, i), 1);
}

static inline void ldrv_kick(struct ldrv *d, unsigned q)
{
	uint64_t one = 1;
	cr_assert_eq(write(d->q[q].kick_fd, &one, sizeof(one)), sizeof(one));
}

/* Wait (bounded by LDRV_WAIT_MS) until fd is readable; false on time-out. */
static inline bool ldrv_wait_fd(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, LDRV_WAIT_MS) == 1;
}

/* The next used entry of queue q (id and len); fails the test when none
 * comes. */
static inline void ldrv_wait_used(struct ldrv *d, unsigned q, uint16_t *id, uint32_t *len)
{
	struct ldrv_queue *vq = &d->q[q];
	for (;;) {
		uint16_t idx;
		cr_assert_eq(guest_read(&d->mem, vq->used + 2, &idx, 2), 0);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (idx != vq->used_seen) {
			struct vring_used_elem e;
			gpa_t at = vq->used + 4 + 8ull * (vq->used_seen % LDRV_QSIZE);
			cr_assert_eq(guest_read(&d->mem, at, &e, sizeof(e)), 0);
			vq->used_seen++;
			*id = (uint16_t)e.id;
			*len = e.len;
			return;
		}
		cr_assert(ldrv_wait_fd(d->queue_irq_fd), "no interrupt for queue %u", q);
		uint64_t v;
		if (read(d->queue_irq_fd, &v, sizeof(v)) < 0)
			continue;
	}
}

/* Whether queue q has a used entry not yet seen (no waiting). */
static inline bool ldrv_has_used(struct ldrv *d, unsigned q)
{
	uint16_t idx;
	cr_assert_eq(guest_read(&d->mem, d->q[q].used + 2, &idx, 2), 0);
	return idx != d->q[q].used_seen;
}

static inline void ldrv_config(struct ldrv *d, uint32_t off, void *buf, uint32_t len)
{
	virtio_device_lock(d->vdev);
	virtio_device_read_config(d->vdev, off, buf, len);
	virtio_device_unlock(d->vdev);
}

#endif
