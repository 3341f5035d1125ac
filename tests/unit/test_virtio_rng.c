/* virtio-rng (src/virtio/rng.c) driven directly through its struct
 * virtio_device by the fake driver: what each buffer gets, the cap on
 * one buffer, the bucket's size, and a reset while a buffer waits. */
#include <criterion/criterion.h>
#include "event_loop.h"
#include "virtio/rng.h"
#include "virtio_driver.h"

#define MIB (1ULL << 20)

static struct guest_memory mem;
static struct event_loop *loop;
static struct virtio_device *rng;
static struct vdrv d;
static int log_pipe[2];

static void rng_up(uint64_t rate)
{
	struct kvmini_config cfg;
	kvmini_config_defaults(&cfg);
	cfg.rng = true;
	cfg.rng_bytes_per_sec = rate;
	struct virtio_device_env env = { .loop = loop, .log_fd = log_pipe[1], .cfg = &cfg };
	struct kvmini_error err = { 0 };
	cr_assert(rng = virtio_rng_create(&env, NULL, &err), "%s", err.msg);
	cr_assert_eq(vdrv_init_direct(&d, rng, &mem, log_pipe[1]), 0);
	cr_assert(vdrv_start(&d, 1ull << VIRTIO_RING_F_EVENT_IDX, 1, 16));
}

static void setup(void)
{
	struct kvmini_error err = { 0 };
	cr_assert_eq(guest_memory_init(&mem, 16 * MIB, 0, &err), 0, "%s", err.msg);
	cr_assert(loop = event_loop_create("evloop", &err), "%s", err.msg);
	cr_assert_eq(event_loop_start(loop, &err), 0, "%s", err.msg);
	cr_assert_eq(pipe(log_pipe), 0);
}

static void teardown(void)
{
	vdrv_destroy(&d);
	virtio_device_destroy(rng);
	event_loop_destroy(loop);
	guest_memory_free(&mem);
	close(log_pipe[0]);
	close(log_pipe[1]);
}

TestSuite(virtio_rng, .init = setup, .fini = teardown);

Test(virtio_rng, offers_one_queue_and_no_config)
{
	rng_up(0);
	cr_assert_eq(rng->ops->device_id, VIRTIO_ID_RNG);
	cr_assert_eq(rng->nqueues, 1);
	cr_assert_eq(rng->config_len, 0);
	cr_assert_eq(vdrv_queue_max(&d, 0), RNG_QUEUE_SIZE);
}

Test(virtio_rng, only_writable_buffers_are_filled)
{
	rng_up(0);
	gpa_t out = vdrv_alloc(&d, 32, 8), in = vdrv_alloc(&d, 48, 8);
	struct vdrv_buf chain[] = { { out, 32, false }, { in, 16, true }, { in + 16, 32, true } };
	uint16_t head = vdrv_post(&d, 0, chain, 3);
	vdrv_kick(&d, 0);
	uint32_t id, len;
	cr_assert(vdrv_wait_used(&d, 0, &id, &len));
	cr_assert_eq(id, head);
	cr_assert_eq(len, 48);
	uint8_t zeros[32] = { 0 };
	cr_assert_eq(memcmp(guest_ptr(&mem, out, 32), zeros, 32), 0, "a readable buffer written");
	cr_assert_neq(memcmp(guest_ptr(&mem, in + 16, 32), zeros, 32), 0, "no entropy");
	/* A chain with nothing to write into comes back empty. */
	struct vdrv_buf readable = { out, 32, false };
	head = vdrv_post(&d, 0, &readable, 1);
	vdrv_kick(&d, 0);
	cr_assert(vdrv_wait_used(&d, 0, &id, &len));
	cr_assert_eq(id, head);
	cr_assert_eq(len, 0);
}

Test(virtio_rng, one_buffer_gets_at_most_the_cap)
{
	rng_up(0);
	gpa_t gpa;
	cr_assert_eq(vdrv_transfer_in(&d, 0, 2 * RNG_CHAIN_MAX, &gpa), RNG_CHAIN_MAX);
	uint8_t *p = guest_ptr(&mem, gpa, 2 * RNG_CHAIN_MAX);
	uint8_t zeros[64] = { 0 };
	cr_assert_eq(memcmp(p + RNG_CHAIN_MAX, zeros, 64), 0, "written past the cap");
}

/* With a rate, a buffer bigger than the bucket gets one bucket. */
Test(virtio_rng, a_buffer_bigger_than_the_bucket_gets_a_bucket)
{
	rng_up(5000);   /* a bucket of 500 bytes */
	cr_assert_eq(vdrv_transfer_in(&d, 0, 4096, NULL), 500);
	cr_assert_eq(vdrv_transfer_in(&d, 0, 100, NULL), 100, "after a refill");
}

/* A buffer waiting for the bucket (it waits unless this thread stalls
 * for the 100 ms of a refill) is forgotten by a reset: the timer that
 * fires later touches no queue (ASan watches), and the device works
 * again. */
Test(virtio_rng, reset_forgets_a_waiting_buffer)
{
	rng_up(1000);   /* a bucket of 100 bytes, refilled in 100 ms */
	cr_assert_eq(vdrv_transfer_in(&d, 0, 100, NULL), 100);
	struct vdrv_buf b = { vdrv_alloc(&d, 100, 8), 100, true };
	vdrv_post(&d, 0, &b, 1);
	vdrv_kick(&d, 0);
	vdrv_set_status(&d, 0);
	cr_assert(vdrv_start(&d, 0, 1, 16));
	cr_assert_eq(vdrv_transfer_in(&d, 0, 50, NULL), 50);
}
