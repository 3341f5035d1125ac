/* The virtio-mmio transport (src/virtio/mmio.c) without KVM: every
 * register through its bus callbacks, the access sizes the
 * specification allows and those it does not, the selectors and
 * out-of-range values, kicks reaching the device on the event loop's
 * thread, InterruptStatus and its eventfd, the resample path; then
 * virtio-rng end to end through it with the fake driver. */
#include <criterion/criterion.h>
#include <pthread.h>
#include "event_loop.h"
#include "seccomp/seccomp.h"
#include "virtio/mmio.h"
#include "virtio/rng.h"
#include "virtio_driver.h"

#define MIB (1ULL << 20)
#define FAKE_FEATURE 33   /* in the high word */
#define FAKE_NQUEUES 2
#define FAKE_QMAX 32

/* A device with a config space and two queues that records where its
 * kicks ran. */
struct fake {
	struct virtio_device vdev;
	uint8_t config[12];
	struct event_loop *loop;
	pthread_mutex_t lock;
	pthread_cond_t kicked;
	int kicks[FAKE_NQUEUES];
	int off_loop_kicks;
};

static void fake_config_read(void *dev, uint32_t off, void *buf, uint32_t len)
{
	memcpy(buf, ((struct fake *)dev)->config + off, len);
}

static void fake_config_write(void *dev, uint32_t off, const void *buf, uint32_t len)
{
	memcpy(((struct fake *)dev)->config + off, buf, len);
}

static void fake_kick(void *dev, unsigned q)
{
	struct fake *f = dev;
	pthread_mutex_lock(&f->lock);
	f->kicks[q]++;
	if (!event_loop_on_thread(f->loop))
		f->off_loop_kicks++;
	pthread_cond_broadcast(&f->kicked);
	pthread_mutex_unlock(&f->lock);
}

static const struct virtio_device_ops fake_ops = {
	.name = "virtio-fake", .device_id = VIRTIO_ID_CONSOLE, .config_read = fake_config_read,
	.config_write = fake_config_write, .queue_kick = fake_kick,
};

static struct guest_memory mem;
static struct event_loop *loop;
static struct fake f;
static struct virtio_device *vdev;   /* the device behind m: &f.vdev or an rng */
static struct virtio_mmio *m;
static struct vdrv d;
static int log_pipe[2];

static void attach(struct virtio_device *dev)
{
	struct kvmini_error err = { 0 };
	vdev = dev;
	m = virtio_mmio_create(dev, &mem, loop, log_pipe[1], &err);
	cr_assert(m, "%s", err.msg);
	vdrv_init_mmio(&d, &virtio_mmio_bus_ops, m, virtio_mmio_irq_fd(m), &mem);
}

/* The loop's thread carries kvmini's event-loop filter, as in kvmini
 * run: a call the kicks, getrandom or the timers need and the evloop
 * role lacks kills the test with the call named. */
static int enter_filtered(void *ctx, struct kvmini_error *err)
{
	(void)ctx;
	return seccomp_role_install(SECCOMP_ROLE_EVLOOP, KVMINI_SECCOMP_KILL, err);
}

static void setup(void)
{
	struct kvmini_error err = { 0 };
	cr_assert_eq(guest_memory_init(&mem, 16 * MIB, 0, &err), 0, "%s", err.msg);
	cr_assert(loop = event_loop_create("evloop", &err), "%s", err.msg);
	event_loop_on_enter(loop, enter_filtered, NULL);
	cr_assert_eq(event_loop_start(loop, &err), 0, "%s", err.msg);
	cr_assert_eq(pipe(log_pipe), 0);
	memset(&f, 0, sizeof(f));
	f.loop = loop;
	pthread_mutex_init(&f.lock, NULL);
	pthread_cond_init(&f.kicked, NULL);
	memcpy(f.config, "0123456789ab", sizeof(f.config));
	virtio_device_init(&f.vdev, &fake_ops, &f, 1ull << FAKE_FEATURE, sizeof(f.config),
			   FAKE_NQUEUES, FAKE_QMAX);
	attach(&f.vdev);
}

static void teardown(void)
{
	virtio_mmio_destroy(m);
	if (vdev != &f.vdev)
		virtio_device_destroy(vdev);
	pthread_mutex_destroy(&f.vdev.lock);
	event_loop_destroy(loop);
	guest_memory_free(&mem);
	close(log_pipe[0]);
	close(log_pipe[1]);
}

static uint32_t rd(uint64_t off)
{
	return vdrv_mmio_read(&d, off, 4);
}

static void wr(uint64_t off, uint32_t v)
{
	vdrv_mmio_write(&d, off, v, 4);
}

TestSuite(virtio_mmio, .init = setup, .fini = teardown);

/* ---- the register model ---- */

Test(virtio_mmio, identifies_itself_as_a_version_2_device)
{
	cr_assert_eq(rd(VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	cr_assert_eq(rd(VIRTIO_MMIO_VERSION), 2);
	cr_assert_eq(rd(VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_CONSOLE);
	cr_assert_eq(rd(VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR);
	/* No shared memory regions, no legacy registers. */
	cr_assert_eq(rd(VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
	cr_assert_eq(rd(VIRTIO_MMIO_SHM_LEN_HIGH), 0xffffffff);
	cr_assert_eq(rd(VIRTIO_MMIO_QUEUE_PFN), 0);
	cr_assert_eq(rd(0xf0), 0, "an unused register reads 0");
}

Test(virtio_mmio, device_features_by_selector)
{
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	uint32_t lo = rd(VIRTIO_MMIO_DEVICE_FEATURES);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	uint32_t hi = rd(VIRTIO_MMIO_DEVICE_FEATURES);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	cr_assert_eq(rd(VIRTIO_MMIO_DEVICE_FEATURES), 0, "a third word");
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0xffffffff);
	cr_assert_eq(rd(VIRTIO_MMIO_DEVICE_FEATURES), 0);
	cr_assert_eq(((uint64_t)hi << 32 | lo), virtio_device_offered(&f.vdev));
	cr_assert(hi & (1u << (VIRTIO_F_VERSION_1 - 32)));
	cr_assert(hi & (1u << (FAKE_FEATURE - 32)));
	cr_assert(lo & (1u << VIRTIO_RING_F_EVENT_IDX));
}

Test(virtio_mmio, driver_features_by_selector)
{
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1u << (VIRTIO_F_VERSION_1 - 32));
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1u << VIRTIO_RING_F_EVENT_IDX);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 2);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffff);   /* no third word: ignored */
	cr_assert_eq(f.vdev.driver_features,
		     (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX));
}

Test(virtio_mmio, status_negotiation_and_reset)
{
	cr_assert(vdrv_negotiate(&d, 1ull << FAKE_FEATURE));
	cr_assert_eq(f.vdev.driver_features, (1ull << VIRTIO_F_VERSION_1) | (1ull << FAKE_FEATURE));
	wr(VIRTIO_MMIO_QUEUE_SEL, 1);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_STATUS, 0);
	cr_assert_eq(rd(VIRTIO_MMIO_STATUS), 0);
	cr_assert_eq(f.vdev.driver_features, 0);
	cr_assert_eq(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), FAKE_QMAX, "QueueSel not back to 0");
	/* A driver without VERSION_1 is refused. */
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				   VIRTIO_CONFIG_S_FEATURES_OK);
	cr_assert_not(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK);
}

Test(virtio_mmio, queue_registers_by_selector)
{
	cr_assert_eq(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), FAKE_QMAX);
	wr(VIRTIO_MMIO_QUEUE_SEL, 1);
	cr_assert_eq(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), FAKE_QMAX);
	wr(VIRTIO_MMIO_QUEUE_NUM, 16);
	vdrv_mmio_write64(&d, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x123456789000ull);
	vdrv_mmio_write64(&d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, 0x2000);
	vdrv_mmio_write64(&d, VIRTIO_MMIO_QUEUE_USED_LOW, 0x3000);
	cr_assert_eq(f.vdev.queues[1].size, 16);
	cr_assert_eq(f.vdev.queues[1].desc_gpa, 0x123456789000ull);
	cr_assert_eq(rd(VIRTIO_MMIO_QUEUE_DESC_HIGH), 0x1234);
	cr_assert_eq(rd(VIRTIO_MMIO_QUEUE_USED_LOW), 0x3000);
	cr_assert_eq(f.vdev.queues[0].size, 0, "queue 0 changed through QueueSel 1");
	/* Past the last queue: nothing there, writes go nowhere. */
	wr(VIRTIO_MMIO_QUEUE_SEL, FAKE_NQUEUES);
	cr_assert_eq(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	wr(VIRTIO_MMIO_QUEUE_NUM, 8);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	cr_assert_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
}

Test(virtio_mmio, bad_queue_sizes_fail_at_ready)
{
	cr_assert(vdrv_negotiate(&d, 0));
	const uint32_t bad[] = { 0, 3, 24, FAKE_QMAX * 2, 0x10000 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		wr(VIRTIO_MMIO_QUEUE_NUM, 8);
		wr(VIRTIO_MMIO_QUEUE_NUM, bad[i]);
		cr_assert_eq(rd(VIRTIO_MMIO_QUEUE_NUM), 0, "size %u kept", bad[i]);
	}
	vdrv_mmio_write64(&d, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000);
	vdrv_mmio_write64(&d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, 0x2000);
	vdrv_mmio_write64(&d, VIRTIO_MMIO_QUEUE_USED_LOW, 0x3000);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	cr_assert_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	cr_assert(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	cr_assert(vdrv_wait_irq(&d, VDRV_TIMEOUT_MS), "no config interrupt");
	cr_assert_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
}

Test(virtio_mmio, queue_layout_is_frozen_while_ready)
{
	cr_assert(vdrv_negotiate(&d, 0));
	cr_assert_eq(vdrv_queue_setup(&d, 0, 8), 0);
	cr_assert_eq(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	gpa_t desc = f.vdev.queues[0].desc_gpa;
	wr(VIRTIO_MMIO_QUEUE_NUM, 16);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, 0x5000);
	cr_assert_eq(f.vdev.queues[0].size, 8);
	cr_assert_eq(f.vdev.queues[0].desc_gpa, desc);
	wr(VIRTIO_MMIO_QUEUE_READY, 0);
	cr_assert_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	wr(VIRTIO_MMIO_QUEUE_NUM, 16);
	cr_assert_eq(f.vdev.queues[0].size, 16, "stopped queue cannot be set up again");
}

Test(virtio_mmio, registers_take_only_aligned_32_bit_accesses)
{
	cr_assert_eq(vdrv_mmio_read(&d, VIRTIO_MMIO_MAGIC_VALUE, 2), 0xffff);
	cr_assert_eq(vdrv_mmio_read(&d, VIRTIO_MMIO_MAGIC_VALUE, 1), 0xff);
	cr_assert_eq(vdrv_mmio_read(&d, VIRTIO_MMIO_MAGIC_VALUE + 2, 4), 0xffffffff);
	uint8_t eight[8];
	d.mmio_ops->read(d.mmio, VIRTIO_MMIO_MAGIC_VALUE, eight, 8);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(eight[i], 0xff);
	vdrv_mmio_write(&d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE, 1);
	vdrv_mmio_write(&d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE, 2);
	vdrv_mmio_write(&d, VIRTIO_MMIO_STATUS + 1, VIRTIO_CONFIG_S_ACKNOWLEDGE, 4);
	cr_assert_eq(rd(VIRTIO_MMIO_STATUS), 0, "a narrow or unaligned write was taken");
}

Test(virtio_mmio, config_space_in_8_16_and_32_bit_accesses)
{
	cr_assert_eq(vdrv_mmio_read(&d, VIRTIO_MMIO_CONFIG + 1, 1), '1');
	cr_assert_eq(vdrv_mmio_read(&d, VIRTIO_MMIO_CONFIG + 2, 2), '2' | '3' << 8);
	cr_assert_eq(vdrv_mmio_read(&d, VIRTIO_MMIO_CONFIG + 8, 4),
		     '8' | '9' << 8 | 'a' << 16 | (uint32_t)'b' << 24);
	cr_assert_eq(vdrv_mmio_read(&d, VIRTIO_MMIO_CONFIG + 1, 2), 0xffff, "unaligned 16 bits");
	cr_assert_eq(vdrv_mmio_read(&d, VIRTIO_MMIO_CONFIG + 2, 4), 0xffffffff, "unaligned 32");
	uint8_t eight[8];
	d.mmio_ops->read(d.mmio, VIRTIO_MMIO_CONFIG, eight, 8);
	cr_assert_eq(eight[0], 0xff, "64-bit access taken");
	/* Past the device's 12 bytes: zeros, to the end of the window. */
	cr_assert_eq(vdrv_mmio_read(&d, VIRTIO_MMIO_CONFIG + 12, 4), 0);
	cr_assert_eq(vdrv_mmio_read(&d, VIRTIO_MMIO_WINDOW - 4, 4), 0);
	vdrv_mmio_write(&d, VIRTIO_MMIO_CONFIG + 4, 0x41424344, 4);
	vdrv_mmio_write(&d, VIRTIO_MMIO_CONFIG + 0, 0x5a, 1);
	vdrv_mmio_write(&d, VIRTIO_MMIO_CONFIG + 9, 0x5a5a, 2);   /* unaligned: dropped */
	vdrv_mmio_write(&d, VIRTIO_MMIO_CONFIG + 10, 0xffffffff, 4); /* past the end: dropped */
	cr_assert_eq(memcmp(f.config, "Z123DCBA89ab", 12), 0, "%.12s", f.config);
}

Test(virtio_mmio, config_generation_follows_the_device)
{
	cr_assert_eq(rd(VIRTIO_MMIO_CONFIG_GENERATION), 0);
	virtio_device_lock(&f.vdev);
	virtio_device_config_changed(&f.vdev);
	virtio_device_unlock(&f.vdev);
	cr_assert_eq(rd(VIRTIO_MMIO_CONFIG_GENERATION), 1);
	cr_assert(vdrv_wait_irq(&d, VDRV_TIMEOUT_MS));
	cr_assert_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	cr_assert_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG, "wrong bit acked");
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
	cr_assert_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
}

/* ---- kicks and the line ---- */

static void wait_kicks(unsigned q, int n)
{
	pthread_mutex_lock(&f.lock);
	struct timespec limit;
	clock_gettime(CLOCK_REALTIME, &limit);
	limit.tv_sec += VDRV_TIMEOUT_MS / 1000;
	while (f.kicks[q] < n)
		if (pthread_cond_timedwait(&f.kicked, &f.lock, &limit))
			break;
	pthread_mutex_unlock(&f.lock);
}

Test(virtio_mmio, queue_notify_runs_the_device_on_the_event_loop)
{
	cr_assert(vdrv_start(&d, 0, FAKE_NQUEUES, 8));
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	wait_kicks(1, 1);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, FAKE_NQUEUES);   /* no such queue */
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffff);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	wait_kicks(0, 1);
	pthread_mutex_lock(&f.lock);
	cr_assert_eq(f.kicks[0], 1);
	cr_assert_eq(f.kicks[1], 1);
	cr_assert_eq(f.off_loop_kicks, 0, "a kick ran on the writer's thread");
	pthread_mutex_unlock(&f.lock);
	/* KVM's ioeventfd writes the same eventfd. */
	uint64_t one = 1;
	cr_assert_eq(write(virtio_mmio_kick_fd(m, 1), &one, 8), 8);
	wait_kicks(1, 2);
	cr_assert_eq(f.kicks[1], 2);
	cr_assert_eq(virtio_mmio_kick_fd(m, FAKE_NQUEUES), -1);
}

Test(virtio_mmio, resample_reasserts_while_bits_remain)
{
	struct kvmini_error err = { 0 };
	int rfd = virtio_mmio_use_resample(m, &err);
	cr_assert_geq(rfd, 0, "%s", err.msg);
	cr_assert_eq(virtio_mmio_use_resample(m, &err), rfd, "a second resample fd");
	virtio_device_lock(&f.vdev);
	virtio_device_config_changed(&f.vdev);
	virtio_device_unlock(&f.vdev);
	cr_assert(vdrv_wait_irq(&d, VDRV_TIMEOUT_MS));
	/* The guest's EOI without an ACK: KVM signals the resample fd. */
	uint64_t one = 1;
	cr_assert_eq(write(rfd, &one, 8), 8);
	cr_assert(vdrv_wait_irq(&d, VDRV_TIMEOUT_MS), "the line was not raised again");
	cr_assert_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
}

/* ---- virtio-rng behind the transport ---- */

static void attach_rng(uint64_t rate)
{
	virtio_mmio_destroy(m);
	struct kvmini_config cfg;
	kvmini_config_defaults(&cfg);
	cfg.rng = true;
	cfg.rng_bytes_per_sec = rate;
	struct virtio_device_env env = { .loop = loop, .log_fd = log_pipe[1], .cfg = &cfg };
	struct kvmini_error err = { 0 };
	struct virtio_device *rng = virtio_rng_create(&env, NULL, &err);
	cr_assert(rng, "%s", err.msg);
	attach(rng);
	cr_assert(vdrv_start(&d, 1ull << VIRTIO_RING_F_EVENT_IDX, 1, 16));
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

Test(virtio_mmio, rng_fills_buffers_and_interrupts)
{
	attach_rng(0);
	cr_assert_eq(rd(VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	gpa_t bufs[3];
	uint16_t heads[3];
	for (int i = 0; i < 3; i++) {
		bufs[i] = vdrv_alloc(&d, 64, 8);
		struct vdrv_buf b = { bufs[i], 64, true };
		heads[i] = vdrv_post(&d, 0, &b, 1);
	}
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	cr_assert(vdrv_wait_irq(&d, VDRV_TIMEOUT_MS), "no interrupt");
	cr_assert_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	cr_assert_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	cr_assert_eq(d.q[0].used->idx, 3, "used ring not updated");
	for (int i = 0; i < 3; i++) {
		uint32_t id, len;
		cr_assert(vdrv_get_used(&d, 0, &id, &len));
		cr_assert_eq(id, heads[i]);
		cr_assert_eq(len, 64);
		cr_assert_not(all_zero(guest_ptr(&mem, bufs[i], 64), 64), "no entropy in buffer %d", i);
	}
}

/* The bucket holds rate/10 bytes: a guest that asks for more gets them
 * no faster than the rate. Checked at each interrupt (an event): bytes
 * delivered by then <= bucket + rate * time since the start. */
Test(virtio_mmio, rng_rate_limit_is_honoured)
{
	const uint64_t rate = 20000, bucket = rate / 10, chunk = 1000, total = 8000;
	uint64_t start = event_loop_now_ns();
	attach_rng(rate);
	for (uint64_t i = 0; i < total / chunk; i++) {
		struct vdrv_buf b = { vdrv_alloc(&d, chunk, 8), (uint32_t)chunk, true };
		vdrv_post(&d, 0, &b, 1);
	}
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	uint64_t got = 0;
	while (got < total) {
		uint32_t len;
		cr_assert(vdrv_wait_used(&d, 0, NULL, &len), "stalled after %lu bytes", got);
		got += len;
		uint64_t elapsed = event_loop_now_ns() - start;
		uint64_t allowed = bucket + (uint64_t)((double)rate * (double)elapsed / 1e9);
		cr_assert_leq(got, allowed, "%lu bytes after %lu ns", got, elapsed);
	}
	cr_assert_eq(got, total);
}
