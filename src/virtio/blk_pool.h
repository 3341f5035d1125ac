/* Layer 6, virtio: a bounded pool of I/O threads, virtio-blk's engine
 * where io_uring cannot be had (kernel.io_uring_disabled, a container's
 * seccomp profile): the same jobs io_uring would run, each a blocking
 * system call on one of a few threads of the pool's own, completions
 * queued and announced on an eventfd, like io_uring's.
 *
 * Bounded: at most BLK_POOL_THREADS threads and BLK_POOL_JOBS jobs
 * submitted and not yet reaped (the caller keeps fewer in flight). The
 * pool never touches a job's buffers after its completion is queued. */
#ifndef KVMINI_VIRTIO_BLK_POOL_H
#define KVMINI_VIRTIO_BLK_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include "error.h"

#define BLK_POOL_THREADS 4
#define BLK_POOL_JOBS 256

enum blk_job_op { BLK_JOB_READ, BLK_JOB_WRITE, BLK_JOB_DATASYNC, BLK_JOB_FALLOCATE };

struct blk_job {
	enum blk_job_op op;
	int fd;
	const struct iovec *iov;     /* READ, WRITE: at most IOV_MAX */
	unsigned niov;
	uint64_t offset;
	uint64_t len;                /* FALLOCATE */
	int mode;                    /* FALLOCATE */
	uint64_t tag;                /* the caller's */
	int res;                     /* as io_uring's: bytes, or -errno */
};

struct blk_pool;

/* Start the threads; each completion adds 1 to done_fd (an eventfd). */
/* The threads install the blkio role's seccomp filter (in `seccomp`
 * mode) before their first job. */
struct blk_pool *blk_pool_create(int done_fd, enum kvmini_seccomp seccomp,
				 struct kvmini_error *err);
/* Wait for the jobs in flight, stop and join the threads. NULL is fine. */
void blk_pool_destroy(struct blk_pool *pool);
/* Queue a job (copied); false when BLK_POOL_JOBS are already queued. */
bool blk_pool_submit(struct blk_pool *pool, const struct blk_job *job);
/* Take one completed job; false when none is there. With wait, block
 * until one is (the caller must have one in flight). */
bool blk_pool_reap(struct blk_pool *pool, struct blk_job *out, bool wait);

#endif
