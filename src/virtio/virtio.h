/* Layer 6, virtio: the split between a virtio device (block, console,
 * rng, net, vsock) and its transport (MMIO or PCI).
 *
 * A device is written once, against struct virtio_device_ops, and never
 * learns its transport. It fills a struct virtio_device (its id, the
 * features it offers, its config-space size, its queues) with
 * virtio_device_init(). A transport (src/virtio/mmio.c, pci.c) maps the
 * guest's register accesses onto the functions below — feature words,
 * status, queue set-up, config space — and turns the device's interrupt
 * requests into its own (an ISR bit and a line, or an MSI-X vector).
 * This file keeps everything the two transports share: the status state
 * machine, feature negotiation (VIRTIO_F_VERSION_1 required), queue
 * enabling, reset, NEEDS_RESET and the interrupt decision.
 *
 * Threads and the lock: a transport calls in from vCPU threads; queue
 * kicks arrive on the event loop (an ioeventfd, or the transport writing
 * the kick's eventfd when KVM has none). Every ops callback is called
 * with vdev->lock held, and so must virtio_device_used() and
 * virtio_device_fail() be; a device's own callbacks (a backend fd ready,
 * an I/O completion) take it with virtio_device_lock(). ops->reset runs
 * under the lock on a vCPU thread: it must not wait for anything that
 * needs the lock, and must leave no request that will later touch the
 * (now forgotten) queues. */
#ifndef KVMINI_VIRTIO_H
#define KVMINI_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include "error.h"
#include "memory.h"
#include "state.h"
#include "virtio/virtqueue.h"

#define VIRTIO_MAX_QUEUES 8

/* What a device asks its transport to signal. */
enum virtio_interrupt {
	VIRTIO_INTERRUPT_QUEUE,      /* used buffers in a queue */
	VIRTIO_INTERRUPT_CONFIG,     /* config space or status changed */
};

struct virtio_device_ops {
	const char *name;            /* "virtio-blk": in messages and the DSDT */
	uint32_t device_id;          /* VIRTIO_ID_* */
	/* Config space; the caller checked off + len <= config_len. */
	void (*config_read)(void *dev, uint32_t off, void *buf, uint32_t len);
	/* NULL: the config space is read-only (writes are ignored). */
	void (*config_write)(void *dev, uint32_t off, const void *buf, uint32_t len);
	/* DRIVER_OK was set: features are final, the ready queues enabled.
	 * -1 (with err): the device cannot run; it is marked NEEDS_RESET. */
	int (*start)(void *dev, struct kvmini_error *err);
	/* The driver notified queue q (on the event loop's thread). */
	void (*queue_kick)(void *dev, unsigned q);
	/* Back to the state before the driver found the device. */
	void (*reset)(void *dev);
	/* Before a snapshot: answer, or give back to its ring (virtq_unpop),
	 * every chain taken and not yet answered, so that the queues' saved
	 * indices and guest RAM hold all the device's guest-visible state.
	 * May wait for I/O in flight. NULL: the device never holds a chain. */
	void (*quiesce)(void *dev);
	/* After quiesce, at the end of virtio_device_save(): what the
	 * device holds that is in neither guest RAM nor its configuration
	 * (bytes read from the host and not yet delivered). restore reads
	 * it back onto a new device, checking every value, before the
	 * device is started. NULL: nothing (both or neither). */
	void (*save)(const void *dev, struct state_writer *w);
	int (*restore)(void *dev, struct state_reader *r, struct kvmini_error *err);
	/* First step of virtio_device_destroy(), without the lock: remove
	 * the device's own event-loop registrations, so that none of their
	 * callbacks (which take the lock) runs once the lock is gone.
	 * event_loop_remove() waits for a callback in flight, which is why
	 * this cannot be done in reset or destroy. NULL: nothing to do. */
	void (*detach)(void *dev);
	void (*destroy)(void *dev);
};

struct virtio_transport_ops {
	/* Raise the interrupt for `what` (queue q; q unused for CONFIG).
	 * Called with the device's lock held. */
	void (*interrupt)(void *transport, enum virtio_interrupt what, unsigned q);
};

struct virtio_device {
	/* The device's description (virtio_device_init). */
	const struct virtio_device_ops *ops;
	void *dev;
	uint64_t device_features;    /* offered, before the transport's bits */
	uint32_t config_len;
	unsigned nqueues;
	uint16_t queue_max;

	/* The transport's (virtio_device_attach). */
	const struct virtio_transport_ops *transport;
	void *transport_ctx;
	const struct guest_memory *mem;
	int log_fd;                  /* one line when the device fails */

	/* Guest-visible state, under lock. */
	pthread_mutex_t lock;
	uint8_t status;
	uint64_t driver_features;
	uint32_t config_generation;
	struct virtq queues[VIRTIO_MAX_QUEUES];
	bool fail_logged;
};

/* Features every device offers through this layer: virtio 1.x, indirect
 * descriptors and event indices. */
#define VIRTIO_COMMON_FEATURES                                          \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) | \
	 (1ull << VIRTIO_RING_F_EVENT_IDX))

/* For the device's create function. nqueues <= VIRTIO_MAX_QUEUES. */
void virtio_device_init(struct virtio_device *vdev, const struct virtio_device_ops *ops,
			void *dev, uint64_t features, uint32_t config_len, unsigned nqueues,
			uint16_t queue_max);
/* For the transport: where interrupts go, the guest's RAM, the log. */
void virtio_device_attach(struct virtio_device *vdev, const struct virtio_transport_ops *t,
			  void *transport_ctx, const struct guest_memory *mem, int log_fd);
/* ops->detach, a reset, then ops->destroy; the lock goes too. NULL is
 * fine. */
void virtio_device_destroy(struct virtio_device *vdev);

void virtio_device_lock(struct virtio_device *vdev);
void virtio_device_unlock(struct virtio_device *vdev);

/* ---- for transports, with the lock held ---- */

/* All the features offered: the device's and VIRTIO_COMMON_FEATURES. */
uint64_t virtio_device_offered(const struct virtio_device *vdev);
/* The driver writes its features 32 bits at a time (word 0 or 1);
 * ignored after FEATURES_OK. */
void virtio_device_write_features(struct virtio_device *vdev, unsigned word, uint32_t value);
/* A write to the status register: 0 resets the device; FEATURES_OK is
 * kept only when the driver's features are a subset of the offered ones
 * and include VERSION_1; DRIVER_OK starts the device. A driver that
 * clears bits other than by writing 0 is refused (nothing changes). */
void virtio_device_write_status(struct virtio_device *vdev, uint8_t status);
/* Whether n is a queue size virtio-mmio's driver may set: a power of
 * two up to QueueNumMax. */
bool virtio_device_queue_size_ok(const struct virtio_device *vdev, uint32_t n);
/* The driver set QueueReady for queue q (its size and addresses are in
 * vdev->queues[q]): check the rings. A bad ring marks NEEDS_RESET. */
void virtio_device_enable_queue(struct virtio_device *vdev, unsigned q);
/* Config space bytes [off, off + len); out of range reads zeros, writes
 * are dropped. */
void virtio_device_read_config(struct virtio_device *vdev, uint32_t off, void *buf, uint32_t len);
void virtio_device_write_config(struct virtio_device *vdev, uint32_t off, const void *buf,
				uint32_t len);
/* A kick for queue q (takes the lock itself; on the event loop). */
void virtio_device_kick(struct virtio_device *vdev, unsigned q);

/* ---- snapshots (docs/snapshot.md), with the lock held ---- */

/* ops->quiesce: after it, until the lock is let go, nothing of the
 * device changes guest RAM. */
void virtio_device_quiesce(struct virtio_device *vdev);
/* Status, features, config generation and every queue (its layout and
 * indices). */
void virtio_device_save(const struct virtio_device *vdev, struct state_writer *w);
/* Onto a device just attached to its transport, guest RAM restored:
 * every value checked (a status the state machine cannot reach,
 * features not offered, a ring outside RAM: refused, err says which).
 * The device is then where it was saved; a running one was started. */
int virtio_device_restore(struct virtio_device *vdev, struct state_reader *r,
			  struct kvmini_error *err);

/* ---- for devices, with the lock held ---- */

bool virtio_device_has_feature(const struct virtio_device *vdev, unsigned bit);
/* Whether the device runs: DRIVER_OK set and not NEEDS_RESET. */
bool virtio_device_running(const struct virtio_device *vdev);
/* After virtq_push()es on queue q: interrupt the driver if it wants. */
void virtio_device_used(struct virtio_device *vdev, unsigned q);
/* The config space changed: new generation and a config interrupt. */
void virtio_device_config_changed(struct virtio_device *vdev);
/* The driver broke the device (a malformed queue): NEEDS_RESET, one
 * log line (only the first time), a config interrupt; the device stops
 * being called until the driver resets it. */
void virtio_device_fail(struct virtio_device *vdev, const struct kvmini_error *why);

#endif
