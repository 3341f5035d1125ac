/* Layer 6, virtio: the device side of a split virtqueue (virtio 1.x,
 * section 2.7), transport- and device-independent.
 *
 * The guest writes every byte this code reads. So:
 *   - the three ring areas are checked once, when the queue is enabled
 *     (inside one RAM region, aligned as the specification says), and
 *     their host pointers kept: guest RAM does not move;
 *   - each descriptor is copied out of guest memory exactly once and
 *     only the copy is used, so a guest rewriting a descriptor while the
 *     device walks the chain changes nothing the device already checked;
 *   - every buffer goes through guest_ptr(): inside one RAM region, no
 *     overflow, never the MMIO hole; zero-length buffers are skipped;
 *   - chains are bounded: at most the queue size of direct descriptors,
 *     one indirect table (never nested, never mixed with a NEXT flag on
 *     the same descriptor), at most VIRTQ_MAX_SEGS buffers in all, and
 *     device-readable buffers only before device-writable ones;
 *   - an available index that claims more than `size` new entries is a
 *     broken ring.
 * Any of these makes virtq_pop() fail with a message; the device layer
 * (virtio.c) then marks the device NEEDS_RESET and stops using it.
 *
 * Memory order: the avail index is read with acquire before the entries
 * it publishes; a used entry is written before the used index is
 * published with release; interrupt suppression reads happen after a
 * full fence, as the specification's barriers require.
 *
 * Threads: one thread at a time per queue (the device's, under its
 * virtio device lock); other vCPUs' guest writes race only with reads
 * of guest memory, which are single, non-tearing loads. */
#ifndef KVMINI_VIRTQUEUE_H
#define KVMINI_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <linux/virtio_ring.h>
#include "error.h"
#include "memory.h"

/* The largest queue a device of ours offers (QueueNumMax). */
#define VIRTQ_MAX_SIZE 256
/* Buffers in one chain, direct or indirect: more is a broken chain.
 * Devices advertise limits below this (virtio-blk's seg_max). */
#define VIRTQ_MAX_SEGS 256

struct virtq {
	/* Set by the transport before virtq_enable(). */
	uint16_t size;              /* QueueNum: 1..VIRTQ_MAX_SIZE */
	gpa_t desc_gpa, avail_gpa, used_gpa;

	/* Kept by virtq_enable() and the ring functions. */
	bool enabled;
	bool event_idx;             /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;              /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	const struct guest_memory *mem;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail;        /* next available entry to take */
	uint16_t used_idx;          /* our copy of used->idx */
	uint16_t signalled_used;    /* used_idx at the last interrupt */
	bool signalled_valid;       /* ... and whether there was one */
	bool notify_off;            /* kicks suppressed (virtq_set_notify) */
};

/* One chain taken from the available ring: its head (handed back to
 * virtq_push()) and its buffers as host iovecs into guest RAM, the
 * device-readable ones (out) first, then the device-writable ones (in). */
struct virtq_elem {
	uint16_t head;
	unsigned nout, nin;
	uint64_t out_len, in_len;   /* bytes in each direction */
	struct iovec iov[VIRTQ_MAX_SEGS];
};

static inline struct iovec *virtq_elem_in(struct virtq_elem *e)
{
	return e->iov + e->nout;
}

/* Check the ring areas for q->size entries and start using them (from
 * index 0). Fails, leaving the queue disabled, when an area is outside
 * RAM, straddles regions or is misaligned. */
int virtq_enable(struct virtq *q, const struct guest_memory *mem, bool event_idx,
		 bool indirect, struct kvmini_error *err);
/* Hand the chain virtq_pop() took last back to the ring, unanswered:
 * the next pop takes it again (its avail entry stays until it is used). */
void virtq_unpop(struct virtq *q);
/* Forget everything: the queue is as a device reset leaves it. */
void virtq_reset(struct virtq *q);

/* Take the next available chain: 1 when one was taken, 0 when the ring
 * is empty, -1 (with err) when the ring or the chain is malformed. */
int virtq_pop(struct virtq *q, struct virtq_elem *e, struct kvmini_error *err);
/* Give a chain back with `written` bytes written into its writable
 * buffers (at most its in_len: the caller's promise, the guest trusts
 * it); publishes it at once. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t written);
/* Whether the driver wants an interrupt for what was pushed since the
 * last time this returned true (VIRTIO_RING_F_EVENT_IDX's used_event,
 * else the avail ring's NO_INTERRUPT flag). */
bool virtq_should_interrupt(struct virtq *q);
/* Ask the driver for notifications (kicks) or not. When turning them
 * back on, returns whether entries arrived meanwhile, so a device that
 * suppressed kicks while draining cannot miss one. */
bool virtq_set_notify(struct virtq *q, bool on);
/* Whether entries are available. */
bool virtq_has_work(const struct virtq *q);

/* Bytes of iov[0..n) gathered into buf (at most len); returns how many. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len);
/* Scatter buf[0..len) into iov[0..n) from byte `skip`; returns how many. */
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len);

#endif
