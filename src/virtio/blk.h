/* Layer 6, virtio: virtio-blk (virtio 1.x, section 5.2) on a raw image
 * (blk_image.h), one request queue.
 *
 * Requests: read, write, flush (fdatasync), get-id (the serial),
 * discard (FALLOC_FL_PUNCH_HOLE) and write-zeroes (FALLOC_FL_ZERO_RANGE,
 * or PUNCH_HOLE when the driver allows unmapping), the last two offered
 * only when the image's file system does them. Every request is checked
 * before any I/O: a status byte at the end of the writable buffers (none:
 * the device needs a reset), a whole header, data a multiple of 512
 * bytes, sectors inside the disk without overflow. A bad request, a
 * write to a read-only disk, and any host I/O error are answered
 * VIRTIO_BLK_S_IOERR; an unknown or unnegotiated type
 * VIRTIO_BLK_S_UNSUPP.
 *
 * I/O: the queue's kick (on the event loop) takes requests and submits
 * them to an io_uring of the disk's own (or, where io_uring cannot be
 * had, to a bounded thread pool: blk_pool.h); the engine signals
 * completions on an eventfd the event loop watches, whose callback
 * answers the guest. Neither a vCPU nor the event loop waits for the disk, except a
 * device reset: it runs on a vCPU thread and waits for the requests in
 * flight to finish (their buffers are guest RAM, which a restart frees),
 * discarding their results. At most VIRTQ_MAX_SIZE requests are in
 * flight; more wait in the ring until one completes. */
#ifndef KVMINI_VIRTIO_BLK_H
#define KVMINI_VIRTIO_BLK_H

#include "virtio/devices.h"

/* arg: a struct kvmini_disk. */
virtio_create_fn virtio_blk_create;

#endif
