/* Layer 6, virtio: the host side of a virtio-blk disk, a raw image file
 * (or a block device) opened, locked and probed once, when the device is
 * created. Nothing here reads guest memory.
 *
 * Locking: the image is flock()ed, LOCK_EX for a writable disk and
 * LOCK_SH for a read-only one, without waiting, so two kvmini processes
 * (or two --disk options of one) cannot write the same image, while
 * several may share it read-only. The lock lives as long as the open
 * file description, so it goes when the image is closed or kvmini dies.
 *
 * cache=none opens the image with O_DIRECT. O_DIRECT refuses buffers and
 * offsets that are not aligned (to what statx(STATX_DIOALIGN) reports,
 * else 512 bytes), and guest buffers need not be: such requests go
 * through a second, buffered description of the same file, which Linux
 * keeps coherent with direct I/O (it writes back and drops the cached
 * pages of a range before direct I/O on it). */
#ifndef KVMINI_VIRTIO_BLK_IMAGE_H
#define KVMINI_VIRTIO_BLK_IMAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include "error.h"

#define BLK_SECTOR_SIZE 512u

struct blk_image {
	int fd;               /* the image: O_DIRECT with cache=none */
	int buffered_fd;      /* cache=none: the same file, cached; else == fd */
	bool read_only;
	bool direct;
	uint32_t dio_align;   /* O_DIRECT's alignment of memory and offsets */
	uint64_t size;        /* bytes */
	bool can_punch;       /* FALLOC_FL_PUNCH_HOLE works: discard */
	bool can_zero;        /* FALLOC_FL_ZERO_RANGE works: write zeroes */
};

/* Open and lock path; a message naming the path and the fix on failure
 * (a lock held by another process, O_DIRECT refused by the file
 * system). */
int blk_image_open(struct blk_image *img, const char *path, bool read_only, bool direct,
		   struct kvmini_error *err);
/* Close both descriptions (the lock goes with them). Safe twice. */
void blk_image_close(struct blk_image *img);
/* The description an I/O of these buffers at offset goes through. */
int blk_image_fd_for(const struct blk_image *img, const struct iovec *iov, unsigned n,
		     uint64_t offset);

#endif
