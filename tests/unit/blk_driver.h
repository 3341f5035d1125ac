/* virtio-blk requests from the fake driver (virtio_driver.h): a header,
 * data and a status byte laid out in guest RAM as Linux lays them out,
 * posted, kicked and waited for. Shared by the unit tests and the
 * benchmark. */
#ifndef KVMINI_TESTS_BLK_DRIVER_H
#define KVMINI_TESTS_BLK_DRIVER_H

#include <linux/virtio_blk.h>
#include "virtio_driver.h"

/* A request's buffers, allocated once and reused. */
struct blk_bufs {
	gpa_t hdr, data, status;
	uint32_t data_len;
};

static inline int blk_bufs_alloc(struct vdrv *d, struct blk_bufs *b, uint32_t data_len,
				 uint64_t align)
{
	b->hdr = vdrv_alloc(d, sizeof(struct virtio_blk_outhdr), 16);
	b->data = vdrv_alloc(d, data_len ? data_len : 1, align);
	b->status = vdrv_alloc(d, 1, 1);
	b->data_len = data_len;
	return b->hdr && b->data && b->status ? 0 : -1;
}

static inline void *blk_ptr(struct vdrv *d, gpa_t gpa, uint64_t len)
{
	return guest_ptr(d->mem, gpa, len ? len : 1);
}

/* Post (no kick) a request of `type` at `sector` with len bytes of data
 * (device-writable for reads and get-id, readable otherwise; none when
 * len is 0). Returns the head. */
static inline uint16_t blk_post(struct vdrv *d, const struct blk_bufs *b, uint32_t type,
				uint64_t sector, uint32_t len)
{
	struct virtio_blk_outhdr *h = blk_ptr(d, b->hdr, sizeof(*h));
	h->type = type;
	h->ioprio = 0;
	h->sector = sector;
	*(uint8_t *)blk_ptr(d, b->status, 1) = 0xff;
	bool in = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
	struct vdrv_buf bufs[3] = {
		{ .gpa = b->hdr, .len = sizeof(*h) },
		{ .gpa = b->data, .len = len, .write = in },
		{ .gpa = b->status, .len = 1, .write = true },
	};
	if (len)
		return vdrv_post(d, 0, bufs, 3);
	bufs[1] = bufs[2];
	return vdrv_post(d, 0, bufs, 2);
}

static inline uint8_t blk_status(struct vdrv *d, const struct blk_bufs *b)
{
	return *(uint8_t *)blk_ptr(d, b->status, 1);
}

/* Post, kick, wait: the status byte, or 0xee when nothing came back. */
static inline uint8_t blk_do(struct vdrv *d, const struct blk_bufs *b, uint32_t type,
			     uint64_t sector, uint32_t len, uint32_t *used_len)
{
	uint16_t head = blk_post(d, b, type, sector, len);
	vdrv_kick(d, 0);
	uint32_t id, written;
	if (!vdrv_wait_used(d, 0, &id, &written) || id != head)
		return 0xee;
	if (used_len)
		*used_len = written;
	return blk_status(d, b);
}

#endif
