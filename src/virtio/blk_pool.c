/* virtio-blk's thread-pool engine (blk_pool.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include "seccomp/seccomp.h"
#include "thread.h"
#include "thread_name.h"
#include "virtio/blk_pool.h"

/* A ring of jobs: `todo` for the threads, `done` for the caller. */
struct job_ring {
	struct blk_job jobs[BLK_POOL_JOBS];
	unsigned head, count;
};

struct blk_pool {
	pthread_mutex_t lock;
	pthread_cond_t work;          /* a job or the stop */
	pthread_cond_t finished;      /* a completion */
	struct job_ring todo, done;
	unsigned running;             /* jobs taken by a thread, not done */
	bool stop;
	int done_fd;
	unsigned nthreads;
	pthread_t threads[BLK_POOL_THREADS];
	/* Each thread installs the blkio seccomp filter on entry and
	 * counts itself here; blk_pool_create() waits for all of them. */
	enum kvmini_seccomp seccomp;
	unsigned entered;
	bool enter_failed;
	struct kvmini_error enter_err;
};

static bool ring_push(struct job_ring *r, const struct blk_job *job)
{
	if (r->count == BLK_POOL_JOBS)
		return false;
	r->jobs[(r->head + r->count++) % BLK_POOL_JOBS] = *job;
	return true;
}

static bool ring_pop(struct job_ring *r, struct blk_job *out)
{
	if (!r->count)
		return false;
	*out = r->jobs[r->head];
	r->head = (r->head + 1) % BLK_POOL_JOBS;
	r->count--;
	return true;
}

static int job_run(const struct blk_job *j)
{
	ssize_t n = 0;
	switch (j->op) {
	case BLK_JOB_READ:
		n = preadv(j->fd, j->iov, (int)j->niov, (off_t)j->offset);
		break;
	case BLK_JOB_WRITE:
		n = pwritev(j->fd, j->iov, (int)j->niov, (off_t)j->offset);
		break;
	case BLK_JOB_DATASYNC:
		n = fdatasync(j->fd);
		break;
	case BLK_JOB_FALLOCATE:
		n = fallocate(j->fd, j->mode, (off_t)j->offset, (off_t)j->len);
		break;
	}
	if (n < 0)
		return -errno;
	return n > INT32_MAX ? INT32_MAX : (int)n;
}

/* Name and confine the thread; false (and the pool told) on failure. */
static bool pool_enter(struct blk_pool *p)
{
	struct kvmini_error err;
	thread_name_set("blkio");
	int r = seccomp_role_install(SECCOMP_ROLE_BLKIO, p->seccomp, &err);
	pthread_mutex_lock(&p->lock);
	p->entered++;
	if (r < 0 && !p->enter_failed) {
		p->enter_failed = true;
		p->enter_err = err;
	}
	pthread_cond_broadcast(&p->finished);
	if (r < 0)
		pthread_mutex_unlock(&p->lock);
	return r == 0;   /* true: with the lock held */
}

static void *pool_thread(void *arg)
{
	struct blk_pool *p = arg;
	if (!pool_enter(p))
		return NULL;
	for (;;) {
		struct blk_job job;
		bool got;
		while (!(got = ring_pop(&p->todo, &job)) && !p->stop)
			pthread_cond_wait(&p->work, &p->lock);
		if (!got)
			break;
		p->running++;
		pthread_mutex_unlock(&p->lock);
		job.res = job_run(&job);
		pthread_mutex_lock(&p->lock);
		p->running--;
		ring_push(&p->done, &job);   /* room: the caller bounds what is in flight */
		pthread_cond_broadcast(&p->finished);
		uint64_t one = 1;
		if (write(p->done_fd, &one, sizeof(one)) < 0) {
			/* The eventfd cannot overflow at these counts; a waiter
			 * in blk_pool_reap() still sees the job. */
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Until every thread started has entered; false when one failed. */
static bool pool_wait_entered(struct blk_pool *p, struct kvmini_error *err)
{
	pthread_mutex_lock(&p->lock);
	while (p->entered < p->nthreads)
		pthread_cond_wait(&p->finished, &p->lock);
	bool ok = !p->enter_failed;
	if (!ok)
		*err = p->enter_err;
	pthread_mutex_unlock(&p->lock);
	return ok;
}

struct blk_pool *blk_pool_create(int done_fd, enum kvmini_seccomp seccomp,
				 struct kvmini_error *err)
{
	struct blk_pool *p = calloc(1, sizeof(*p));
	if (!p) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for an I/O thread pool");
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->finished, NULL);
	p->done_fd = done_fd;
	p->seccomp = seccomp;
	for (; p->nthreads < BLK_POOL_THREADS; p->nthreads++) {
		int rc = thread_start(&p->threads[p->nthreads], pool_thread, p);
		if (rc) {
			kvmini_fail_errno(err, KVMINI_E_HOST, rc, "cannot start an I/O thread");
			blk_pool_destroy(p);
			return NULL;
		}
	}
	if (!pool_wait_entered(p, err)) {
		blk_pool_destroy(p);
		return NULL;
	}
	return p;
}

void blk_pool_destroy(struct blk_pool *pool)
{
	if (!pool)
		return;
	pthread_mutex_lock(&pool->lock);
	while (pool->todo.count || pool->running)
		pthread_cond_wait(&pool->finished, &pool->lock);
	pool->stop = true;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	pthread_cond_destroy(&pool->work);
	pthread_cond_destroy(&pool->finished);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

bool blk_pool_submit(struct blk_pool *pool, const struct blk_job *job)
{
	pthread_mutex_lock(&pool->lock);
	bool ok = pool->todo.count + pool->running + pool->done.count < BLK_POOL_JOBS &&
		  ring_push(&pool->todo, job);
	if (ok)
		pthread_cond_signal(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	return ok;
}

bool blk_pool_reap(struct blk_pool *pool, struct blk_job *out, bool wait)
{
	pthread_mutex_lock(&pool->lock);
	bool got;
	while (!(got = ring_pop(&pool->done, out)) && wait)
		pthread_cond_wait(&pool->finished, &pool->lock);
	pthread_mutex_unlock(&pool->lock);
	return got;
}
