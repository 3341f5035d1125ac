/* virtio-blk (blk.h): requests from the queue to an io_uring and back. */
#include <endian.h>
#include <errno.h>
#include <liburing.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/virtio_blk.h>
#include "event_loop.h"
#include "virtio/blk.h"
#include "virtio/blk_image.h"
#include "virtio/blk_pool.h"

#define BLK_QUEUE 0
/* A chain carries a header and a status byte besides its data. */
#define BLK_SEG_MAX (VIRTQ_MAX_SEGS - 2)
/* Advertised limits. Larger data buffers are still served: the limit
 * only shapes what Linux sends. */
#define BLK_SIZE_MAX (4u << 20)
/* One discard or write-zeroes segment per request, at most 2 GiB. */
#define BLK_FALLOC_SECTORS_MAX (1u << 22)

struct blk_req {
	struct virtq_elem elem;
	struct iovec data[VIRTQ_MAX_SEGS];   /* the data buffers still to transfer */
	unsigned ndata;
	uint32_t type;
	uint64_t offset;                     /* in the image, of data[0] */
	uint64_t left;                       /* bytes still to transfer */
	uint32_t written;                    /* the used length, status byte included */
	uint8_t *status;                     /* the last writable byte */
	int fd;
	int falloc_mode;
	uint64_t falloc_len;
};

struct blk {
	struct virtio_device vdev;
	struct virtio_blk_config config;
	struct blk_image img;
	const char *path;
	char serial[VIRTIO_BLK_ID_BYTES];
	struct event_loop *loop;
	struct event_handler *done_watch;
	/* The I/O engine: the ring, or (pool != NULL) threads. */
	struct io_uring ring;
	bool ring_up;
	struct blk_pool *pool;
	int done_fd;                         /* the engine signals completions here */
	enum kvmini_seccomp seccomp;         /* the pool threads' filter mode */
	unsigned inflight;
	bool io_error_logged;
	unsigned nfree;
	uint16_t free[VIRTQ_MAX_SIZE];
	struct blk_req reqs[VIRTQ_MAX_SIZE];
};

static void __attribute__((format(printf, 2, 3))) blk_log(struct blk *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kvmini_log_v(b->vdev.log_fd, fmt, ap);
	va_end(ap);
}

/* ---- iovec helpers ---- */

/* dst = bytes [skip, skip + len) of src[0..n); returns dst's count. */
static unsigned iov_slice(const struct iovec *src, unsigned n, uint64_t skip, uint64_t len,
			  struct iovec *dst)
{
	unsigned out = 0;
	for (unsigned i = 0; i < n && len; i++) {
		if (skip >= src[i].iov_len) {
			skip -= src[i].iov_len;
			continue;
		}
		size_t chunk = src[i].iov_len - skip;
		if (chunk > len)
			chunk = len;
		dst[out++] = (struct iovec){ (uint8_t *)src[i].iov_base + skip, chunk };
		len -= chunk;
		skip = 0;
	}
	return out;
}

/* Drop the first `bytes` of iov[0..*n), in place. */
static void iov_advance(struct iovec *iov, unsigned *n, uint64_t bytes)
{
	unsigned i = 0;
	while (i < *n && bytes >= iov[i].iov_len)
		bytes -= iov[i++].iov_len;
	if (i < *n) {
		iov[i].iov_base = (uint8_t *)iov[i].iov_base + bytes;
		iov[i].iov_len -= bytes;
	}
	memmove(iov, iov + i, (*n - i) * sizeof(*iov));
	*n -= i;
}

static void iov_zero(const struct iovec *iov, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		memset(iov[i].iov_base, 0, iov[i].iov_len);
}

/* ---- request slots ---- */

static void blk_release(struct blk *b, unsigned slot)
{
	b->free[b->nfree++] = (uint16_t)slot;
}

/* Answer the request with `status` and hand the chain back. */
static bool blk_finish(struct blk *b, unsigned slot, uint8_t status)
{
	struct blk_req *r = &b->reqs[slot];
	if (status != VIRTIO_BLK_S_OK)
		r->written = 1;
	*r->status = status;
	virtq_push(&b->vdev.queues[BLK_QUEUE], r->elem.head, r->written);
	blk_release(b, slot);
	return true;
}

static bool blk_range_ok(const struct blk *b, uint64_t sector, uint64_t nsectors)
{
	uint64_t capacity = b->img.size / BLK_SECTOR_SIZE;
	return sector <= capacity && nsectors <= capacity - sector;
}

/* ---- submission ---- */

/* ---- the engine: io_uring, or the thread pool (blk_pool.h) ---- */

/* What request slot asks of the host, as one job. */
static struct blk_job blk_job_of(const struct blk *b, unsigned slot)
{
	const struct blk_req *r = &b->reqs[slot];
	struct blk_job j = { .fd = r->fd, .iov = r->data, .niov = r->ndata, .offset = r->offset,
			     .tag = slot };
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		j.op = BLK_JOB_READ;
		break;
	case VIRTIO_BLK_T_OUT:
		j.op = BLK_JOB_WRITE;
		break;
	case VIRTIO_BLK_T_FLUSH:
		j.op = BLK_JOB_DATASYNC;
		j.fd = b->img.fd;
		break;
	default:   /* discard, write zeroes */
		j.op = BLK_JOB_FALLOCATE;
		j.fd = b->img.fd;
		j.mode = r->falloc_mode;
		j.len = r->falloc_len;
		break;
	}
	return j;
}

static bool blk_ring_queue(struct blk *b, const struct blk_job *j)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
	if (!sqe) {
		io_uring_submit(&b->ring);
		sqe = io_uring_get_sqe(&b->ring);
	}
	if (!sqe)
		return false;
	switch (j->op) {
	case BLK_JOB_READ:
		io_uring_prep_readv(sqe, j->fd, j->iov, j->niov, j->offset);
		break;
	case BLK_JOB_WRITE:
		io_uring_prep_writev(sqe, j->fd, j->iov, j->niov, j->offset);
		break;
	case BLK_JOB_DATASYNC:
		io_uring_prep_fsync(sqe, j->fd, IORING_FSYNC_DATASYNC);
		break;
	case BLK_JOB_FALLOCATE:
		io_uring_prep_fallocate(sqe, j->fd, j->mode, (off_t)j->offset, (off_t)j->len);
		break;
	}
	io_uring_sqe_set_data64(sqe, j->tag);
	return true;
}

/* Queue the request's I/O; false when the engine refuses (the request
 * is then answered IOERR). */
static bool blk_queue_io(struct blk *b, unsigned slot)
{
	struct blk_job j = blk_job_of(b, slot);
	if (b->pool ? !blk_pool_submit(b->pool, &j) : !blk_ring_queue(b, &j))
		return false;
	b->inflight++;
	return true;
}

/* One completion: its slot and result; false when none is there. With
 * wait, block for one (there must be one in flight). */
static bool blk_next_completion(struct blk *b, uint64_t *slot, int *res, bool wait)
{
	if (b->pool) {
		struct blk_job j;
		if (!blk_pool_reap(b->pool, &j, wait))
			return false;
		*slot = j.tag;
		*res = j.res;
		return true;
	}
	struct io_uring_cqe *cqe;
	int ret;
	do
		ret = wait ? io_uring_wait_cqe(&b->ring, &cqe) : io_uring_peek_cqe(&b->ring, &cqe);
	while (ret == -EINTR);
	if (ret < 0)
		return false;
	*slot = io_uring_cqe_get_data64(cqe);
	*res = cqe->res;
	io_uring_cqe_seen(&b->ring, cqe);
	return true;
}

static bool blk_start_io(struct blk *b, unsigned slot)
{
	if (blk_queue_io(b, slot))
		return false;
	return blk_finish(b, slot, VIRTIO_BLK_S_IOERR);
}

static void blk_submit(struct blk *b)
{
	if (!b->ring_up)
		return;   /* the pool's threads take jobs as they come */
	int ret = io_uring_submit(&b->ring);
	if (ret < 0 && !b->io_error_logged) {
		b->io_error_logged = true;
		blk_log(b, "kvmini: virtio-blk '%s': io_uring_submit: %s\n", b->path, strerror(-ret));
	}
}

/* ---- requests ---- */

static bool blk_start_rw(struct blk *b, unsigned slot, uint64_t sector)
{
	struct blk_req *r = &b->reqs[slot];
	struct virtq_elem *e = &r->elem;
	bool write = r->type == VIRTIO_BLK_T_OUT;
	uint64_t len = write ? e->out_len - sizeof(struct virtio_blk_outhdr) : e->in_len - 1;
	if ((write && b->img.read_only) || len % BLK_SECTOR_SIZE ||
	    !blk_range_ok(b, sector, len / BLK_SECTOR_SIZE))
		return blk_finish(b, slot, VIRTIO_BLK_S_IOERR);
	if (write)
		r->ndata = iov_slice(e->iov, e->nout, sizeof(struct virtio_blk_outhdr), len, r->data);
	else
		r->ndata = iov_slice(virtq_elem_in(e), e->nin, 0, len, r->data);
	r->offset = sector * BLK_SECTOR_SIZE;
	r->left = len;
	/* A read fills every data byte; the guest learns it from the length
	 * (a 32-bit field: a read of 4 GiB or more says less). */
	r->written = write ? 1 : (uint32_t)(len < UINT32_MAX ? len + 1 : UINT32_MAX);
	if (len == 0)
		return blk_finish(b, slot, VIRTIO_BLK_S_OK);
	r->fd = blk_image_fd_for(&b->img, r->data, r->ndata, r->offset);
	return blk_start_io(b, slot);
}

static bool blk_get_id(struct blk *b, unsigned slot)
{
	struct blk_req *r = &b->reqs[slot];
	uint64_t room = r->elem.in_len - 1;
	size_t n = room < VIRTIO_BLK_ID_BYTES ? room : VIRTIO_BLK_ID_BYTES;
	iov_from_buf(virtq_elem_in(&r->elem), r->elem.nin, 0, b->serial, n);
	r->written = (uint32_t)n + 1;
	return blk_finish(b, slot, VIRTIO_BLK_S_OK);
}

/* Discard and write zeroes: one segment, checked as the specification
 * says (flags it does not know or allow: UNSUPP; bad range: IOERR). */
static bool blk_start_falloc(struct blk *b, unsigned slot)
{
	struct blk_req *r = &b->reqs[slot];
	bool discard = r->type == VIRTIO_BLK_T_DISCARD;
	unsigned feature = discard ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES;
	if (!virtio_device_has_feature(&b->vdev, feature))
		return blk_finish(b, slot, VIRTIO_BLK_S_UNSUPP);
	struct virtio_blk_discard_write_zeroes seg;
	uint64_t seg_bytes = r->elem.out_len - sizeof(struct virtio_blk_outhdr);
	if (seg_bytes != sizeof(seg) || b->img.read_only)
		return blk_finish(b, slot, VIRTIO_BLK_S_IOERR);
	iov_to_buf(r->elem.iov, r->elem.nout, sizeof(struct virtio_blk_outhdr), &seg, sizeof(seg));
	uint32_t flags = le32toh(seg.flags);
	bool unmap = flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	if ((flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) || (discard && unmap))
		return blk_finish(b, slot, VIRTIO_BLK_S_UNSUPP);
	uint64_t sector = le64toh(seg.sector);
	uint32_t n = le32toh(seg.num_sectors);
	if (n > BLK_FALLOC_SECTORS_MAX || !blk_range_ok(b, sector, n))
		return blk_finish(b, slot, VIRTIO_BLK_S_IOERR);
	if (n == 0)
		return blk_finish(b, slot, VIRTIO_BLK_S_OK);
	r->falloc_mode = FALLOC_FL_KEEP_SIZE |
			 (discard || unmap ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE);
	r->offset = sector * BLK_SECTOR_SIZE;
	r->falloc_len = (uint64_t)n * BLK_SECTOR_SIZE;
	return blk_start_io(b, slot);
}

static bool blk_start_flush(struct blk *b, unsigned slot)
{
	/* Nothing was written through a read-only image. */
	if (b->img.read_only)
		return blk_finish(b, slot, VIRTIO_BLK_S_OK);
	return blk_start_io(b, slot);
}

/* A chain with no writable byte has nowhere to put a status: the
 * driver broke the protocol, and only a reset can tell it. */
static bool blk_no_status(struct blk *b, unsigned slot)
{
	struct kvmini_error err;
	kvmini_fail(&err, KVMINI_E_GUEST, "request at descriptor %u has no status byte",
		    b->reqs[slot].elem.head);
	blk_release(b, slot);
	virtio_device_fail(&b->vdev, &err);
	return false;
}

/* Start the request in slot; true when it was answered at once. */
static bool blk_request_start(struct blk *b, unsigned slot)
{
	struct blk_req *r = &b->reqs[slot];
	struct virtq_elem *e = &r->elem;
	if (e->in_len == 0)
		return blk_no_status(b, slot);
	struct iovec *last = &e->iov[e->nout + e->nin - 1];
	r->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	r->written = 1;
	struct virtio_blk_outhdr hdr;
	if (iov_to_buf(e->iov, e->nout, 0, &hdr, sizeof(hdr)) < sizeof(hdr))
		return blk_finish(b, slot, VIRTIO_BLK_S_IOERR);
	r->type = le32toh(hdr.type);
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		return blk_start_rw(b, slot, le64toh(hdr.sector));
	case VIRTIO_BLK_T_FLUSH:
		return blk_start_flush(b, slot);
	case VIRTIO_BLK_T_GET_ID:
		return blk_get_id(b, slot);
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return blk_start_falloc(b, slot);
	}
	return blk_finish(b, slot, VIRTIO_BLK_S_UNSUPP);
}

/* ---- completions ---- */

static void blk_io_error(struct blk *b, int error)
{
	if (b->io_error_logged)
		return;
	b->io_error_logged = true;
	blk_log(b, "kvmini: virtio-blk '%s': host I/O error (%s); the guest gets IOERR\n",
		b->path, strerror(error));
}

/* res bytes of a read or write done: true when the request ended. */
static bool blk_rw_progress(struct blk *b, unsigned slot, int res)
{
	struct blk_req *r = &b->reqs[slot];
	if (res == 0 && r->type == VIRTIO_BLK_T_OUT) {
		blk_io_error(b, ENOSPC);
		return blk_finish(b, slot, VIRTIO_BLK_S_IOERR);
	}
	if (res == 0) {
		/* Past the end of an image that shrank: reads as zeros. */
		iov_zero(r->data, r->ndata);
		r->left = 0;
	}
	uint64_t done = (uint64_t)res < r->left ? (uint64_t)res : r->left;
	r->left -= done;
	if (r->left == 0)
		return blk_finish(b, slot, VIRTIO_BLK_S_OK);
	/* A short transfer: queue the rest. */
	r->offset += done;
	iov_advance(r->data, &r->ndata, done);
	r->fd = blk_image_fd_for(&b->img, r->data, r->ndata, r->offset);
	return blk_start_io(b, slot);
}

static bool blk_complete(struct blk *b, unsigned slot, int res)
{
	b->inflight--;
	if (res < 0) {
		blk_io_error(b, -res);
		return blk_finish(b, slot, VIRTIO_BLK_S_IOERR);
	}
	uint32_t type = b->reqs[slot].type;
	if (type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_OUT)
		return blk_rw_progress(b, slot, res);
	return blk_finish(b, slot, VIRTIO_BLK_S_OK);
}

/* Answer every completion there is; true if any was answered. */
static bool blk_reap(struct blk *b)
{
	bool answered = false;
	uint64_t slot;
	int res;
	while (blk_next_completion(b, &slot, &res, false))
		if (slot < VIRTQ_MAX_SIZE)
			answered |= blk_complete(b, (unsigned)slot, res);
	return answered;
}

/* Start every available request there is a slot for; true if any was
 * taken. *answered: one was answered at once. */
static bool blk_start_available(struct blk *b, bool *answered)
{
	struct virtq *q = &b->vdev.queues[BLK_QUEUE];
	bool took = false;
	while (b->nfree && virtio_device_running(&b->vdev)) {
		unsigned slot = b->free[b->nfree - 1];
		struct kvmini_error err = { 0 };
		int got = virtq_pop(q, &b->reqs[slot].elem, &err);
		if (got < 0)
			virtio_device_fail(&b->vdev, &err);
		if (got <= 0)
			break;
		b->nfree--;
		took = true;
		*answered |= blk_request_start(b, slot);
	}
	return took;
}

/* Answer what completed, start what is available, and again while
 * either makes progress: reads of cached pages complete during the
 * submission itself, and answering them here saves the eventfd's trip
 * through the event loop. One interrupt decision at the end. */
static void blk_serve(struct blk *b)
{
	bool answered = false, progress;
	do {
		progress = blk_reap(b);
		answered |= progress;
		progress |= blk_start_available(b, &answered);
		blk_submit(b);
	} while (progress);
	if (answered)
		virtio_device_used(&b->vdev, BLK_QUEUE);
}

/* The engine's eventfd, on the event loop. */
static void blk_on_done(void *ctx, int fd, uint32_t events)
{
	(void)events;
	struct blk *b = ctx;
	uint64_t count;
	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		return;
	virtio_device_lock(&b->vdev);
	blk_serve(b);
	virtio_device_unlock(&b->vdev);
}

/* ---- the device ---- */

static void blk_config_read(void *dev, uint32_t off, void *buf, uint32_t len)
{
	struct blk *b = dev;
	memcpy(buf, (const uint8_t *)&b->config + off, len);
}

static void blk_queue_kick(void *dev, unsigned q)
{
	if (q == BLK_QUEUE)
		blk_serve(dev);
}

/* Wait for the requests in flight (see blk.h) and forget them. The
 * ring is ours and we hold the lock, so the event loop's callback cannot
 * reap them meanwhile. */
static void blk_reset(void *dev)
{
	struct blk *b = dev;
	blk_submit(b);
	uint64_t slot;
	int res;
	while (b->inflight && blk_next_completion(b, &slot, &res, true))
		b->inflight--;
	b->nfree = 0;
	for (unsigned i = VIRTQ_MAX_SIZE; i-- > 0;)
		blk_release(b, i);
}

/* Before a snapshot: wait for every request in flight and answer it
 * (a short transfer's rest is submitted and waited for too). Requests
 * not yet taken stay in the ring for the restored device. The lock is
 * held, so the event loop's callback cannot reap them meanwhile. */
static void blk_quiesce(void *dev)
{
	struct blk *b = dev;
	bool answered = false;
	uint64_t slot;
	int res;
	blk_submit(b);
	while (b->inflight && blk_next_completion(b, &slot, &res, true)) {
		if (slot < VIRTQ_MAX_SIZE)
			answered |= blk_complete(b, (unsigned)slot, res);
		blk_submit(b);
	}
	if (answered)
		virtio_device_used(&b->vdev, BLK_QUEUE);
}

/* The reset that follows waits for the engine itself. */
static void blk_detach(void *dev)
{
	struct blk *b = dev;
	event_loop_remove(b->loop, b->done_watch);
	b->done_watch = NULL;
}

static void blk_destroy(void *dev)
{
	struct blk *b = dev;
	blk_detach(b);
	blk_pool_destroy(b->pool);
	if (b->ring_up)
		io_uring_queue_exit(&b->ring);
	if (b->done_fd >= 0)
		close(b->done_fd);
	blk_image_close(&b->img);
	free(b);
}

static const struct virtio_device_ops blk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.config_read = blk_config_read,
	.queue_kick = blk_queue_kick,
	.reset = blk_reset,
	.quiesce = blk_quiesce,
	.detach = blk_detach,
	.destroy = blk_destroy,
};

static uint64_t blk_features(const struct blk *b)
{
	uint64_t f = (1ull << VIRTIO_BLK_F_SIZE_MAX) | (1ull << VIRTIO_BLK_F_SEG_MAX) |
		     (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH);
	if (b->img.read_only)
		f |= 1ull << VIRTIO_BLK_F_RO;
	if (b->img.can_punch)
		f |= 1ull << VIRTIO_BLK_F_DISCARD;
	if (b->img.can_zero)
		f |= 1ull << VIRTIO_BLK_F_WRITE_ZEROES;
	return f;
}

static void blk_config_fill(struct blk *b)
{
	struct virtio_blk_config *c = &b->config;
	memset(c, 0, sizeof(*c));
	c->capacity = htole64(b->img.size / BLK_SECTOR_SIZE);
	c->size_max = htole32(BLK_SIZE_MAX);
	c->seg_max = htole32(BLK_SEG_MAX);
	/* O_DIRECT's alignment, so a Linux guest sends what needs no
	 * buffered fallback. */
	c->blk_size = htole32(b->img.direct ? b->img.dio_align : BLK_SECTOR_SIZE);
	c->max_discard_sectors = htole32(BLK_FALLOC_SECTORS_MAX);
	c->max_discard_seg = htole32(1);
	c->discard_sector_alignment = htole32(1);
	c->max_write_zeroes_sectors = htole32(BLK_FALLOC_SECTORS_MAX);
	c->max_write_zeroes_seg = htole32(1);
	c->write_zeroes_may_unmap = 1;
}

static int blk_ring_up(struct blk *b, struct kvmini_error *err)
{
	int ret = io_uring_queue_init(VIRTQ_MAX_SIZE, &b->ring, 0);
	if (ret < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, -ret, "io_uring_queue_init");
	b->ring_up = true;
	ret = io_uring_register_eventfd(&b->ring, b->done_fd);
	if (ret < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, -ret, "io_uring_register_eventfd");
	return 0;
}

/* io_uring, or the thread pool where io_uring cannot be had (said in
 * one line) or KVMINI_BLK_ENGINE=threads asks for it (tests, bench). */
static int blk_engine_up(struct blk *b, struct kvmini_error *err)
{
	b->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->done_fd < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot create an eventfd");
	const char *engine = getenv("KVMINI_BLK_ENGINE");
	struct kvmini_error why = { 0 };
	if (!(engine && strcmp(engine, "threads") == 0) && blk_ring_up(b, &why) == 0)
		return 0;
	if (b->ring_up) {
		io_uring_queue_exit(&b->ring);
		b->ring_up = false;
	}
	if (why.msg[0])
		blk_log(b, "kvmini: virtio-blk '%s': no io_uring (%s): using I/O threads\n",
			b->path, why.msg);
	b->pool = blk_pool_create(b->done_fd, b->seccomp, err);
	return b->pool ? 0 : -1;
}

static int blk_watch_completions(struct blk *b, struct kvmini_error *err)
{
	b->done_watch = event_loop_add(b->loop, b->done_fd, EPOLLIN, blk_on_done, b, err);
	return b->done_watch ? 0 : -1;
}

struct virtio_device *virtio_blk_create(const struct virtio_device_env *env, const void *arg,
					struct kvmini_error *err)
{
	const struct kvmini_disk *disk = arg;
	struct blk *b = calloc(1, sizeof(*b));
	if (!b) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for virtio-blk '%s'", disk->path);
		return NULL;
	}
	b->path = disk->path;
	b->loop = env->loop;
	b->seccomp = env->cfg->seccomp;
	b->done_fd = -1;
	b->img.fd = b->img.buffered_fd = -1;
	/* NUL-padded, not terminated when it has all 20 bytes (5.2.6). */
	if (disk->serial)
		memcpy(b->serial, disk->serial, strnlen(disk->serial, sizeof(b->serial)));
	if (blk_image_open(&b->img, disk->path, disk->read_only, disk->cache_none, err) < 0) {
		blk_destroy(b);
		return NULL;
	}
	blk_config_fill(b);
	blk_reset(b);
	/* The lock before the engine's watch, whose callback takes it. */
	virtio_device_init(&b->vdev, &blk_ops, b, blk_features(b), sizeof(b->config), 1,
			   VIRTQ_MAX_SIZE);
	b->vdev.log_fd = env->log_fd;
	if (blk_engine_up(b, err) < 0 || blk_watch_completions(b, err) < 0) {
		blk_destroy(b);
		return NULL;
	}
	return &b->vdev;
}
