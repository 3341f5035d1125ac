/* A virtio-blk disk's image file (blk_image.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include "virtio/blk_image.h"

static int image_lock(int fd, const char *path, bool read_only, struct kvmini_error *err)
{
	if (flock(fd, (read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "disk image '%s' is in use: another process holds its lock "
				   "(%s); share it only read-only (--disk %s,ro everywhere)",
				   path, read_only ? "for writing" : "for reading or writing", path);
	return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot lock disk image '%s'", path);
}

static int image_size(struct blk_image *img, const char *path, struct kvmini_error *err)
{
	struct stat st;
	if (fstat(img->fd, &st) < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot stat disk image '%s'",
					 path);
	if (S_ISREG(st.st_mode)) {
		img->size = (uint64_t)st.st_size;
		return 0;
	}
	if (S_ISBLK(st.st_mode) && ioctl(img->fd, BLKGETSIZE64, &img->size) == 0)
		return 0;
	return kvmini_fail(err, KVMINI_E_USAGE,
			   "disk image '%s' is neither a regular file nor a block device", path);
}

/* O_DIRECT's alignment for this file: statx knows it on Linux >= 6.1. */
static uint32_t image_dio_align(int fd)
{
	uint32_t align = BLK_SECTOR_SIZE;
#ifdef STATX_DIOALIGN
	struct statx stx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		if (stx.stx_dio_offset_align > align)
			align = stx.stx_dio_offset_align;
		if (stx.stx_dio_mem_align > align)
			align = stx.stx_dio_mem_align;
	}
#endif
	return align;
}

/* Whether the file system does `mode`, tried past the end of the file
 * (KEEP_SIZE), where it changes no byte of the image; a block device is
 * not probed (it has no "past the end"), so it offers neither. */
static bool image_probe_fallocate(const struct blk_image *img, int mode)
{
	struct stat st;
	if (img->read_only || fstat(img->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	off_t end = (off_t)((img->size + 4095) & ~4095ull);
	if (fallocate(img->fd, mode | FALLOC_FL_KEEP_SIZE, end, 4096) < 0)
		return false;
	/* ZERO_RANGE may have allocated that block: give it back. */
	if (mode == FALLOC_FL_ZERO_RANGE)
		fallocate(img->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, end, 4096);
	return true;
}

static int image_open_direct(struct blk_image *img, const char *path, int flags,
			     struct kvmini_error *err)
{
	img->fd = open(path, flags | O_DIRECT);
	if (img->fd < 0 && errno == EINVAL)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "disk image '%s': its file system refuses O_DIRECT; "
				   "use cache=writeback", path);
	if (img->fd < 0)
		return kvmini_fail_errno(err, KVMINI_E_USAGE, errno, "cannot open disk image '%s'",
					 path);
	img->buffered_fd = open(path, flags);
	if (img->buffered_fd < 0)
		return kvmini_fail_errno(err, KVMINI_E_USAGE, errno, "cannot open disk image '%s'",
					 path);
	img->dio_align = image_dio_align(img->fd);
	return 0;
}

int blk_image_open(struct blk_image *img, const char *path, bool read_only, bool direct,
		   struct kvmini_error *err)
{
	*img = (struct blk_image){ .fd = -1, .buffered_fd = -1, .read_only = read_only,
				   .direct = direct, .dio_align = BLK_SECTOR_SIZE };
	int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	if (direct) {
		if (image_open_direct(img, path, flags, err) < 0)
			goto fail;
	} else {
		img->fd = img->buffered_fd = open(path, flags);
		if (img->fd < 0) {
			kvmini_fail_errno(err, KVMINI_E_USAGE, errno, "cannot open disk image '%s'",
					  path);
			goto fail;
		}
	}
	if (image_lock(img->fd, path, read_only, err) < 0 || image_size(img, path, err) < 0)
		goto fail;
	img->can_punch = image_probe_fallocate(img, FALLOC_FL_PUNCH_HOLE);
	img->can_zero = img->can_punch && image_probe_fallocate(img, FALLOC_FL_ZERO_RANGE);
	return 0;
fail:
	blk_image_close(img);
	return -1;
}

void blk_image_close(struct blk_image *img)
{
	if (img->buffered_fd >= 0 && img->buffered_fd != img->fd)
		close(img->buffered_fd);
	if (img->fd >= 0)
		close(img->fd);
	img->fd = img->buffered_fd = -1;
}

int blk_image_fd_for(const struct blk_image *img, const struct iovec *iov, unsigned n,
		     uint64_t offset)
{
	if (!img->direct)
		return img->fd;
	uint64_t mask = img->dio_align - 1;
	if (offset & mask)
		return img->buffered_fd;
	for (unsigned i = 0; i < n; i++)
		if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & mask)
			return img->buffered_fd;
	return img->fd;
}
