/* A fake virtio driver for unit tests: it does what a guest's driver
 * does (negotiate features, lay queues out in guest RAM, post chains,
 * kick, wait for the interrupt, collect used buffers), with no KVM.
 *
 * Two ways to reach the device, one API:
 *   - direct: on a struct virtio_device (vdrv_init_direct()); the
 *     driver attaches itself as the device's transport, so the device's
 *     interrupts arrive as writes of an eventfd of the driver's. Kicks
 *     call virtio_device_kick() on the calling thread, which plays the
 *     event loop's part. For device tests (blk, net, console, rng...).
 *   - MMIO: through a virtio-mmio transport's bus_device_ops
 *     (vdrv_init_mmio()), register by register, as a guest does; the
 *     interrupt is the transport's interrupt eventfd, and a kick is a
 *     QueueNotify write (the transport's event loop runs the device).
 *
 * Waiting is on events: vdrv_wait_irq() polls the interrupt eventfd; its
 * timeout only keeps a broken device from hanging the test.
 *
 * Memory: the driver hands out guest-physical space from `next_gpa` up
 * (vdrv_alloc()): rings first, then whatever buffers a test asks for.
 * Descriptors are used round-robin per queue, so a test keeps fewer
 * than the queue's size of descriptors outstanding.
 *
 * Everything is static inline: each test file includes it and uses what
 * it needs. Other helpers add functions in their own block at the end. */
#ifndef KVMINI_TESTS_VIRTIO_DRIVER_H
#define KVMINI_TESTS_VIRTIO_DRIVER_H

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <linux/virtio_mmio.h>
#include "bus.h"
#include "memory.h"
#include "virtio/virtio.h"

/* Where a fresh driver starts allocating guest RAM (above the low
 * areas tests like to use for their own buffers). */
#define VDRV_DEFAULT_BASE 0x100000
#define VDRV_TIMEOUT_MS 10000

struct vdrv_queue {
	uint16_t size;               /* 0: not set up */
	gpa_t desc_gpa, avail_gpa, used_gpa;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t next_desc;          /* round-robin descriptor slot */
	uint16_t avail_idx;          /* our copy of avail->idx */
	uint16_t last_used;          /* used entries consumed */
};

struct vdrv {
	struct guest_memory *mem;
	gpa_t next_gpa;
	/* MMIO form */
	const struct bus_device_ops *mmio_ops;
	void *mmio;
	/* direct form */
	struct virtio_device *vdev;
	uint32_t isr;                /* direct: interrupt bits (atomic) */
	int irq_fd;                  /* written once per interrupt */
	bool own_irq_fd;
	uint64_t features;           /* negotiated */
	struct vdrv_queue q[VIRTIO_MAX_QUEUES];
};

/* One buffer of a chain: device-readable unless `write`. */
struct vdrv_buf {
	gpa_t gpa;
	uint32_t len;
	bool write;
};

/* ---- the transport: registers in either form ---- */

static inline uint32_t vdrv_mmio_read(struct vdrv *d, uint64_t off, uint32_t len)
{
	uint8_t data[8] = { 0 };
	d->mmio_ops->read(d->mmio, off, data, len);
	uint32_t v = 0;
	memcpy(&v, data, len < 4 ? len : 4);
	return v;
}

static inline void vdrv_mmio_write(struct vdrv *d, uint64_t off, uint32_t v, uint32_t len)
{
	uint8_t data[8] = { 0 };
	memcpy(data, &v, len < 4 ? len : 4);
	d->mmio_ops->write(d->mmio, off, data, len);
}

static inline uint8_t vdrv_status(struct vdrv *d)
{
	if (d->mmio_ops)
		return (uint8_t)vdrv_mmio_read(d, VIRTIO_MMIO_STATUS, 4);
	virtio_device_lock(d->vdev);
	uint8_t s = d->vdev->status;
	virtio_device_unlock(d->vdev);
	return s;
}

static inline void vdrv_set_status(struct vdrv *d, uint8_t status)
{
	if (d->mmio_ops) {
		vdrv_mmio_write(d, VIRTIO_MMIO_STATUS, status, 4);
		return;
	}
	virtio_device_lock(d->vdev);
	virtio_device_write_status(d->vdev, status);
	virtio_device_unlock(d->vdev);
}

static inline uint64_t vdrv_device_features(struct vdrv *d)
{
	if (!d->mmio_ops) {
		virtio_device_lock(d->vdev);
		uint64_t f = virtio_device_offered(d->vdev);
		virtio_device_unlock(d->vdev);
		return f;
	}
	uint64_t f = 0;
	for (unsigned word = 0; word < 2; word++) {
		vdrv_mmio_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, word, 4);
		f |= (uint64_t)vdrv_mmio_read(d, VIRTIO_MMIO_DEVICE_FEATURES, 4) << (32 * word);
	}
	return f;
}

static inline void vdrv_write_features(struct vdrv *d, uint64_t f)
{
	for (unsigned word = 0; word < 2; word++) {
		uint32_t v = (uint32_t)(f >> (32 * word));
		if (d->mmio_ops) {
			vdrv_mmio_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, word, 4);
			vdrv_mmio_write(d, VIRTIO_MMIO_DRIVER_FEATURES, v, 4);
			continue;
		}
		virtio_device_lock(d->vdev);
		virtio_device_write_features(d->vdev, word, v);
		virtio_device_unlock(d->vdev);
	}
}

/* Config space bytes [off, off + len), read one byte at a time (every
 * transport allows byte reads; multi-byte fields are little-endian). */
static inline void vdrv_config_read(struct vdrv *d, uint32_t off, void *buf, uint32_t len)
{
	uint8_t *out = buf;
	for (uint32_t i = 0; i < len; i++) {
		if (d->mmio_ops) {
			out[i] = (uint8_t)vdrv_mmio_read(d, VIRTIO_MMIO_CONFIG + off + i, 1);
			continue;
		}
		virtio_device_lock(d->vdev);
		virtio_device_read_config(d->vdev, off + i, out + i, 1);
		virtio_device_unlock(d->vdev);
	}
}

static inline void vdrv_config_write(struct vdrv *d, uint32_t off, const void *buf, uint32_t len)
{
	const uint8_t *in = buf;
	for (uint32_t i = 0; i < len; i++) {
		if (d->mmio_ops) {
			vdrv_mmio_write(d, VIRTIO_MMIO_CONFIG + off + i, in[i], 1);
			continue;
		}
		virtio_device_lock(d->vdev);
		virtio_device_write_config(d->vdev, off + i, in + i, 1);
		virtio_device_unlock(d->vdev);
	}
}

static inline uint16_t vdrv_queue_max(struct vdrv *d, unsigned q)
{
	if (d->mmio_ops) {
		vdrv_mmio_write(d, VIRTIO_MMIO_QUEUE_SEL, q, 4);
		return (uint16_t)vdrv_mmio_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX, 4);
	}
	return q < d->vdev->nqueues ? d->vdev->queue_max : 0;
}

static inline void vdrv_mmio_write64(struct vdrv *d, uint64_t lo_off, uint64_t v)
{
	vdrv_mmio_write(d, lo_off, (uint32_t)v, 4);
	vdrv_mmio_write(d, lo_off + 4, (uint32_t)(v >> 32), 4);
}

/* Tell the device where queue q's rings are and turn it on. */
static inline void vdrv_queue_enable(struct vdrv *d, unsigned q)
{
	struct vdrv_queue *vq = &d->q[q];
	if (d->mmio_ops) {
		vdrv_mmio_write(d, VIRTIO_MMIO_QUEUE_SEL, q, 4);
		vdrv_mmio_write(d, VIRTIO_MMIO_QUEUE_NUM, vq->size, 4);
		vdrv_mmio_write64(d, VIRTIO_MMIO_QUEUE_DESC_LOW, vq->desc_gpa);
		vdrv_mmio_write64(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, vq->avail_gpa);
		vdrv_mmio_write64(d, VIRTIO_MMIO_QUEUE_USED_LOW, vq->used_gpa);
		vdrv_mmio_write(d, VIRTIO_MMIO_QUEUE_READY, 1, 4);
		return;
	}
	virtio_device_lock(d->vdev);
	struct virtq *dq = &d->vdev->queues[q];
	dq->size = vq->size;
	dq->desc_gpa = vq->desc_gpa;
	dq->avail_gpa = vq->avail_gpa;
	dq->used_gpa = vq->used_gpa;
	virtio_device_enable_queue(d->vdev, q);
	virtio_device_unlock(d->vdev);
}

static inline void vdrv_kick(struct vdrv *d, unsigned q)
{
	if (d->mmio_ops)
		vdrv_mmio_write(d, VIRTIO_MMIO_QUEUE_NOTIFY, q, 4);
	else
		virtio_device_kick(d->vdev, q);
}

/* The interrupt bits (VIRTIO_MMIO_INT_VRING, _CONFIG) and their
 * acknowledgement, as a guest's interrupt handler does. */
static inline uint32_t vdrv_isr(struct vdrv *d)
{
	if (d->mmio_ops)
		return vdrv_mmio_read(d, VIRTIO_MMIO_INTERRUPT_STATUS, 4);
	return __atomic_load_n(&d->isr, __ATOMIC_ACQUIRE);
}

static inline void vdrv_ack(struct vdrv *d, uint32_t bits)
{
	if (d->mmio_ops)
		vdrv_mmio_write(d, VIRTIO_MMIO_INTERRUPT_ACK, bits, 4);
	else
		__atomic_fetch_and(&d->isr, ~bits, __ATOMIC_ACQ_REL);
}

/* ---- the direct form's transport ---- */

static inline void vdrv_direct_interrupt(void *ctx, enum virtio_interrupt what, unsigned q)
{
	(void)q;
	struct vdrv *d = ctx;
	uint32_t bit = what == VIRTIO_INTERRUPT_CONFIG ? VIRTIO_MMIO_INT_CONFIG
						       : VIRTIO_MMIO_INT_VRING;
	__atomic_fetch_or(&d->isr, bit, __ATOMIC_ACQ_REL);
	uint64_t one = 1;
	if (write(d->irq_fd, &one, sizeof(one)) != sizeof(one))
		d->isr |= 0x80000000u;   /* seen by tests as an impossible bit */
}

static const struct virtio_transport_ops vdrv_direct_transport = {
	.interrupt = vdrv_direct_interrupt,
};

/* ---- setting up ---- */

static inline void vdrv_init_common(struct vdrv *d, struct guest_memory *mem)
{
	memset(d, 0, sizeof(*d));
	d->mem = mem;
	d->next_gpa = VDRV_DEFAULT_BASE;
	d->irq_fd = -1;
}

/* Drive vdev directly; its log lines go to log_fd. Returns 0 or -1
 * (no eventfd). */
static inline int vdrv_init_direct(struct vdrv *d, struct virtio_device *vdev,
				   struct guest_memory *mem, int log_fd)
{
	vdrv_init_common(d, mem);
	d->vdev = vdev;
	d->irq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->irq_fd < 0)
		return -1;
	d->own_irq_fd = true;
	virtio_device_attach(vdev, &vdrv_direct_transport, d, mem, log_fd);
	return 0;
}

/* Drive a virtio-mmio transport through its bus callbacks; irq_fd is
 * the transport's interrupt eventfd (stays the transport's). */
static inline void vdrv_init_mmio(struct vdrv *d, const struct bus_device_ops *ops, void *mmio,
				  int irq_fd, struct guest_memory *mem)
{
	vdrv_init_common(d, mem);
	d->mmio_ops = ops;
	d->mmio = mmio;
	d->irq_fd = irq_fd;
}

static inline void vdrv_destroy(struct vdrv *d)
{
	if (d->own_irq_fd && d->irq_fd >= 0)
		close(d->irq_fd);
	d->irq_fd = -1;
}

/* len bytes of guest RAM at `align` (a power of two), zeroed; 0 when
 * RAM is full. */
static inline gpa_t vdrv_alloc(struct vdrv *d, uint64_t len, uint64_t align)
{
	gpa_t gpa = (d->next_gpa + align - 1) & ~(align - 1);
	void *p = guest_ptr(d->mem, gpa, len);
	if (!p)
		return 0;
	memset(p, 0, len);
	d->next_gpa = gpa + len;
	return gpa;
}

/* ACKNOWLEDGE, DRIVER, the features (wanted & offered, VERSION_1 added),
 * FEATURES_OK. Returns whether the device kept FEATURES_OK. */
static inline bool vdrv_negotiate(struct vdrv *d, uint64_t wanted)
{
	vdrv_set_status(d, 0);
	vdrv_set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vdrv_set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	d->features = (wanted | (1ull << VIRTIO_F_VERSION_1)) & vdrv_device_features(d);
	vdrv_write_features(d, d->features);
	vdrv_set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			   VIRTIO_CONFIG_S_FEATURES_OK);
	return vdrv_status(d) & VIRTIO_CONFIG_S_FEATURES_OK;
}

/* Lay queue q out in fresh guest RAM with `size` entries (a power of
 * two, at most the device's maximum) and enable it. -1 when the device
 * offers fewer or RAM is full. */
static inline int vdrv_queue_setup(struct vdrv *d, unsigned q, uint16_t size)
{
	if (q >= VIRTIO_MAX_QUEUES || !size || size > vdrv_queue_max(d, q))
		return -1;
	struct vdrv_queue *vq = &d->q[q];
	memset(vq, 0, sizeof(*vq));
	vq->size = size;
	vq->desc_gpa = vdrv_alloc(d, 16ull * size, 16);
	vq->avail_gpa = vdrv_alloc(d, 6 + 2ull * size, 2);
	vq->used_gpa = vdrv_alloc(d, 6 + 8ull * size, 4);
	if (!vq->desc_gpa || !vq->avail_gpa || !vq->used_gpa)
		return -1;
	vq->desc = guest_ptr(d->mem, vq->desc_gpa, 16ull * size);
	vq->avail = guest_ptr(d->mem, vq->avail_gpa, 6 + 2ull * size);
	vq->used = guest_ptr(d->mem, vq->used_gpa, 6 + 8ull * size);
	vdrv_queue_enable(d, q);
	return 0;
}

static inline void vdrv_driver_ok(struct vdrv *d)
{
	vdrv_set_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			   VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

/* negotiate(wanted), nq queues of `size`, DRIVER_OK: the usual start.
 * Returns whether the device runs (DRIVER_OK and no NEEDS_RESET). */
static inline bool vdrv_start(struct vdrv *d, uint64_t wanted, unsigned nq, uint16_t size)
{
	if (!vdrv_negotiate(d, wanted))
		return false;
	for (unsigned q = 0; q < nq; q++)
		if (vdrv_queue_setup(d, q, size))
			return false;
	vdrv_driver_ok(d);
	uint8_t s = vdrv_status(d);
	return (s & VIRTIO_CONFIG_S_DRIVER_OK) && !(s & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* ---- the rings ---- */

/* Put the chain bufs[0..n) in queue q's descriptor table and publish it
 * (no kick). Returns its head. */
static inline uint16_t vdrv_post(struct vdrv *d, unsigned q, const struct vdrv_buf *bufs,
				 unsigned n)
{
	struct vdrv_queue *vq = &d->q[q];
	uint16_t head = vq->next_desc;
	for (unsigned i = 0; i < n; i++) {
		uint16_t slot = vq->next_desc;
		vq->next_desc = (uint16_t)((vq->next_desc + 1) % vq->size);
		vq->desc[slot] = (struct vring_desc){
			.addr = bufs[i].gpa, .len = bufs[i].len,
			.flags = (uint16_t)((bufs[i].write ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			.next = i + 1 < n ? vq->next_desc : 0,
		};
	}
	vq->avail->ring[vq->avail_idx % vq->size] = head;
	vq->avail_idx++;
	__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
	return head;
}

/* The next used entry of queue q, if any. With EVENT_IDX the driver
 * then asks to be interrupted at the next one (used_event), as Linux
 * does, so every later push interrupts again. */
static inline bool vdrv_get_used(struct vdrv *d, unsigned q, uint32_t *id, uint32_t *len)
{
	struct vdrv_queue *vq = &d->q[q];
	uint16_t idx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	if (idx == vq->last_used)
		return false;
	struct vring_used_elem e = vq->used->ring[vq->last_used % vq->size];
	vq->last_used++;
	/* used_event sits after the avail ring's entries. The fence orders
	 * it before the next read of used->idx, as a driver's must: else the
	 * device may read the old used_event after we read the old idx, and
	 * neither side wakes the other. */
	__atomic_store_n(&vq->avail->ring[vq->size], vq->last_used, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (id)
		*id = e.id;
	if (len)
		*len = e.len;
	return true;
}

/* Wait (at most timeout_ms) for the interrupt eventfd; true when it
 * fired. Consumes it. */
static inline bool vdrv_wait_irq(struct vdrv *d, int timeout_ms)
{
	struct pollfd p = { .fd = d->irq_fd, .events = POLLIN };
	int r;
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return false;
	uint64_t v;
	return read(d->irq_fd, &v, sizeof(v)) == sizeof(v);
}

/* The next used entry of queue q, waiting for interrupts (and
 * acknowledging their VRING bit) until one comes; false on timeout. */
static inline bool vdrv_wait_used(struct vdrv *d, unsigned q, uint32_t *id, uint32_t *len)
{
	while (!vdrv_get_used(d, q, id, len)) {
		if (!vdrv_wait_irq(d, VDRV_TIMEOUT_MS))
			return false;
		vdrv_ack(d, vdrv_isr(d) & VIRTIO_MMIO_INT_VRING);
	}
	return true;
}

/* One device-writable buffer of len bytes: post, kick, wait. Returns
 * the bytes the device reported written, or -1 on timeout; *gpa_out
 * says where the buffer is. */
static inline int64_t vdrv_transfer_in(struct vdrv *d, unsigned q, uint32_t len, gpa_t *gpa_out)
{
	gpa_t gpa = vdrv_alloc(d, len, 8);
	if (!gpa)
		return -1;
	struct vdrv_buf b = { .gpa = gpa, .len = len, .write = true };
	uint16_t head = vdrv_post(d, q, &b, 1);
	vdrv_kick(d, q);
	uint32_t id, written;
	if (!vdrv_wait_used(d, q, &id, &written) || id != head)
		return -1;
	if (gpa_out)
		*gpa_out = gpa;
	return written;
}

/* ---- other helpers' additions below, each in its own block ---- */

#endif
