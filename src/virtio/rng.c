/* virtio-rng (rng.h): getrandom() into the guest's buffers, behind a
 * token bucket on the event loop's clock. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include "event_loop.h"
#include "virtio/rng.h"

#define NS_PER_SEC 1000000000ull

struct rng {
	struct virtio_device vdev;     /* first: the set holds &rng->vdev */
	struct virtq_elem elem;        /* the chain being served (4 KiB: not on a stack) */
	bool held;                     /* elem waits for the bucket */
	/* The bucket, under vdev's lock; rate 0: unlimited. */
	uint64_t rate, capacity, tokens, refilled_ns;
	struct event_timer *refill;
};

/* ---- the bucket ---- */

static void bucket_refill(struct rng *r)
{
	uint64_t now = event_loop_now_ns(), elapsed = now - r->refilled_ns;
	if (elapsed >= NS_PER_SEC) {   /* a full second fills any bucket */
		r->tokens = r->capacity;
		r->refilled_ns = now;
		return;
	}
	uint64_t add = (uint64_t)((unsigned __int128)elapsed * r->rate / NS_PER_SEC);
	if (add == 0)
		return;
	/* Advance the clock by what `add` bytes cost, so truncation never
	 * gives bytes away and never loses time. */
	r->refilled_ns += (uint64_t)((unsigned __int128)add * NS_PER_SEC / r->rate);
	r->tokens = r->tokens + add < r->capacity ? r->tokens + add : r->capacity;
	if (r->tokens == r->capacity)
		r->refilled_ns = now;
}

/* Whether `want` bytes may go now; if not, a timer fires when they may. */
static bool bucket_allows(struct rng *r, uint64_t want)
{
	if (!r->rate)
		return true;
	bucket_refill(r);
	if (r->tokens >= want)
		return true;
	uint64_t missing = want - r->tokens;
	event_timer_arm_after(r->refill,
			      (uint64_t)((unsigned __int128)missing * NS_PER_SEC / r->rate) + 1);
	return false;
}

static void bucket_take(struct rng *r, uint64_t n)
{
	if (r->rate)
		r->tokens -= n;
}

/* ---- serving the queue ---- */

/* getrandom() into the chain's writable buffers, at most `want` bytes;
 * returns how many were written. The pool is initialised on any host
 * that runs VMs, so GRND_NONBLOCK only guards a host that has not
 * finished booting: then the buffer comes back short. */
static uint64_t chain_fill(struct virtq_elem *e, uint64_t want)
{
	uint64_t done = 0;
	struct iovec *iov = virtq_elem_in(e);
	for (unsigned i = 0; i < e->nin && done < want; i++) {
		size_t len = iov[i].iov_len < want - done ? iov[i].iov_len : want - done;
		size_t got = 0;
		while (got < len) {
			ssize_t n = getrandom((uint8_t *)iov[i].iov_base + got, len - got,
					      GRND_NONBLOCK);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return done + got;
			got += (size_t)n;
		}
		done += got;
	}
	return done;
}

/* What the chain gets: all it asks for, up to RNG_CHAIN_MAX and (with
 * a rate) the bucket's size, so that every answer is whole unless the
 * buffer is bigger than the bucket. */
static uint64_t chain_want(const struct rng *r)
{
	uint64_t want = r->elem.in_len < RNG_CHAIN_MAX ? r->elem.in_len : RNG_CHAIN_MAX;
	return r->rate && want > r->capacity ? r->capacity : want;
}

/* One chain: -1 when the ring is broken, 0 when there is nothing (or no
 * budget yet: the chain is held for the timer) to serve, 1 when one was
 * served. */
static int serve_one(struct rng *r, struct virtq *q)
{
	if (!r->held) {
		struct kvmini_error err = { 0 };
		int rc = virtq_pop(q, &r->elem, &err);
		if (rc < 0)
			virtio_device_fail(&r->vdev, &err);
		if (rc <= 0)
			return rc;
		r->held = true;
	}
	uint64_t want = chain_want(r);
	if (!bucket_allows(r, want))
		return 0;
	uint64_t n = chain_fill(&r->elem, want);
	bucket_take(r, n);
	virtq_push(q, r->elem.head, (uint32_t)n);
	r->held = false;
	return 1;
}

/* With the lock held, the device running. */
static void rng_serve(struct rng *r)
{
	struct virtq *q = &r->vdev.queues[0];
	bool pushed = false;
	while (serve_one(r, q) == 1)
		pushed = true;
	if (pushed)
		virtio_device_used(&r->vdev, 0);
}

static void rng_kick(void *dev, unsigned q)
{
	(void)q;   /* only one queue; virtio.c checked it */
	rng_serve(dev);
}

static void refill_fired(void *ctx)
{
	struct rng *r = ctx;
	virtio_device_lock(&r->vdev);
	if (virtio_device_running(&r->vdev) && r->vdev.queues[0].enabled)
		rng_serve(r);
	virtio_device_unlock(&r->vdev);
}

/* The bucket is not refilled: a guest resetting in a loop gets no more. */
static void rng_reset(void *dev)
{
	struct rng *r = dev;
	r->held = false;   /* the chain belonged to the forgotten queue */
	if (r->refill)
		event_timer_disarm(r->refill);
}

/* A chain held for the bucket goes back to the ring: the restored
 * device (or this one, at its next refill) takes it again. */
static void rng_quiesce(void *dev)
{
	struct rng *r = dev;
	if (r->held)
		virtq_unpop(&r->vdev.queues[0]);
	r->held = false;
}

static void rng_destroy(void *dev)
{
	struct rng *r = dev;
	event_timer_destroy(r->refill);
	free(r);
}

static const struct virtio_device_ops rng_ops = {
	.name = "virtio-rng", .device_id = VIRTIO_ID_RNG,
	.queue_kick = rng_kick, .reset = rng_reset, .quiesce = rng_quiesce,
	.destroy = rng_destroy,
};

struct virtio_device *virtio_rng_create(const struct virtio_device_env *env, const void *arg,
					struct kvmini_error *err)
{
	(void)arg;
	struct rng *r = calloc(1, sizeof(*r));
	if (!r) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for virtio-rng");
		return NULL;
	}
	virtio_device_init(&r->vdev, &rng_ops, r, 0, 0, 1, RNG_QUEUE_SIZE);
	r->rate = env->cfg->rng_bytes_per_sec;
	if (r->rate) {
		r->capacity = r->rate / 10 ? r->rate / 10 : 1;
		r->tokens = r->capacity;
		r->refilled_ns = event_loop_now_ns();
		if (!(r->refill = event_timer_create(env->loop, refill_fired, r, err))) {
			virtio_device_destroy(&r->vdev);
			return NULL;
		}
	}
	return &r->vdev;
}
