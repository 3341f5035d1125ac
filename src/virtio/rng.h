/* Layer 6, virtio: virtio-rng (virtio 1.x, section 5.4), the entropy
 * device: every device-writable buffer the driver posts on its one
 * queue comes back filled from the host's getrandom().
 *
 * --rng=BYTES_PER_SEC limits what a guest can draw from the host's pool
 * with a token bucket: it holds at most a tenth of a second's bytes
 * (at least one); a buffer is answered whole (up to the bucket's size)
 * once the bucket holds enough for it, and until then it waits, with a
 * timer on the event loop set for the moment it will, and the buffers
 * behind it wait too (the specification lets a device take its time).
 * Nothing ever sleeps. A buffer gets at most RNG_CHAIN_MAX bytes,
 * so one huge buffer cannot hold the event loop. */
#ifndef KVMINI_VIRTIO_RNG_H
#define KVMINI_VIRTIO_RNG_H

#include "virtio/devices.h"

#define RNG_CHAIN_MAX (64u << 10)
#define RNG_QUEUE_SIZE 64

/* arg: unused (the rate is cfg->rng_bytes_per_sec; 0: unlimited). */
virtio_create_fn virtio_rng_create;

#endif
