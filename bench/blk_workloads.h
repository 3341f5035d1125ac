/* The virtio-blk workloads of figures (k) and (l), shared by the
 * benchmark and the bare-metal guest driver that runs them
 * (guests/virtio_blk.c built with -DBENCH), so both do the same
 * requests at the same offsets of a BLK_IMAGE_BYTES image. Freestanding:
 * no libc beyond <stdint.h> and <stdbool.h>. */
#ifndef KVMINI_BLK_WORKLOADS_H
#define KVMINI_BLK_WORKLOADS_H

#include <stdbool.h>
#include <stdint.h>

#define BLK_IMAGE_BYTES (64u << 20)
#define BLK_MAX_DEPTH 32

struct blk_workload {
	const char *name;
	uint32_t size;        /* bytes per request */
	bool write, random;
	unsigned depth;
	unsigned count;       /* requests per repetition */
};

static const struct blk_workload blk_workloads[] = {
	{ "sequential read 4 KiB, depth 1", 4096, false, false, 1, 4096 },
	{ "sequential write 4 KiB, depth 1", 4096, true, false, 1, 4096 },
	{ "sequential read 1 MiB, depth 1", 1 << 20, false, false, 1, 128 },
	{ "sequential write 1 MiB, depth 1", 1 << 20, true, false, 1, 128 },
	{ "random read 4 KiB, depth 1", 4096, false, true, 1, 4096 },
	{ "random read 4 KiB, depth 32", 4096, false, true, 32, 8192 },
	{ "sequential read 1 MiB, depth 32", 1 << 20, false, false, 32, 256 },
};
#define BLK_NWORKLOADS (sizeof(blk_workloads) / sizeof(blk_workloads[0]))

/* The offset of request i: in order, or scattered by a fixed LCG. */
static inline uint64_t blk_workload_offset(const struct blk_workload *w, unsigned i)
{
	uint64_t slots = BLK_IMAGE_BYTES / w->size;
	if (!w->random)
		return (i % slots) * w->size;
	return ((uint64_t)i * 2654435761u % slots) * w->size;
}

#endif
