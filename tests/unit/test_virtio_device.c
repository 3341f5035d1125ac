/* Unit tests of the transport-independent virtio device layer
 * (src/virtio/virtio.c) with a fake device and a fake transport:
 * feature negotiation, the status state machine, reset, NEEDS_RESET
 * and the interrupts it asks for. */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>
#include "virtio/virtio.h"

#define MIB (1ULL << 20)
#define FAKE_FEATURE 5

struct fake {
	struct virtio_device vdev;
	int starts, resets, kicks, config_irqs, queue_irqs;
	int start_result;
	uint8_t config[8];
};

static void fake_config_read(void *dev, uint32_t off, void *buf, uint32_t len)
{
	struct fake *f = dev;
	memcpy(buf, f->config + off, len);
}

static int fake_start(void *dev, struct kvmini_error *err)
{
	struct fake *f = dev;
	f->starts++;
	if (f->start_result)
		return kvmini_fail(err, KVMINI_E_HOST, "backend gone");
	return 0;
}

static void fake_kick(void *dev, unsigned q)
{
	(void)q;
	((struct fake *)dev)->kicks++;
}

static void fake_reset(void *dev)
{
	((struct fake *)dev)->resets++;
}

static const struct virtio_device_ops fake_ops = {
	.name = "virtio-fake", .device_id = VIRTIO_ID_RNG, .config_read = fake_config_read,
	.start = fake_start, .queue_kick = fake_kick, .reset = fake_reset,
};

static void fake_interrupt(void *ctx, enum virtio_interrupt what, unsigned q)
{
	(void)q;
	struct fake *f = ctx;
	if (what == VIRTIO_INTERRUPT_CONFIG)
		f->config_irqs++;
	else
		f->queue_irqs++;
}

static const struct virtio_transport_ops fake_transport = { .interrupt = fake_interrupt };

static struct fake f;
static struct guest_memory mem;
static int log_pipe[2];

static void setup(void)
{
	struct kvmini_error err = { 0 };
	memset(&f, 0, sizeof(f));
	cr_assert_eq(guest_memory_init(&mem, 16 * MIB, 0, &err), 0, "%s", err.msg);
	cr_assert_eq(pipe(log_pipe), 0);
	virtio_device_init(&f.vdev, &fake_ops, &f, 1ull << FAKE_FEATURE, sizeof(f.config), 1, 64);
	virtio_device_attach(&f.vdev, &fake_transport, &f, &mem, log_pipe[1]);
	memcpy(f.config, "abcdefgh", 8);
}

static void teardown(void)
{
	pthread_mutex_destroy(&f.vdev.lock);
	guest_memory_free(&mem);
	close(log_pipe[0]);
	close(log_pipe[1]);
}

static void negotiate(uint64_t features)
{
	virtio_device_write_status(&f.vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	virtio_device_write_status(&f.vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	virtio_device_write_features(&f.vdev, 0, (uint32_t)features);
	virtio_device_write_features(&f.vdev, 1, (uint32_t)(features >> 32));
	virtio_device_write_status(&f.vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					    VIRTIO_CONFIG_S_FEATURES_OK);
}

#define ALL_UP (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | \
		VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK)

TestSuite(virtio_device, .init = setup, .fini = teardown);

Test(virtio_device, offers_version_1_and_ring_features)
{
	uint64_t offered = virtio_device_offered(&f.vdev);
	cr_assert(offered & (1ull << VIRTIO_F_VERSION_1));
	cr_assert(offered & (1ull << VIRTIO_RING_F_EVENT_IDX));
	cr_assert(offered & (1ull << VIRTIO_RING_F_INDIRECT_DESC));
	cr_assert(offered & (1ull << FAKE_FEATURE));
}

Test(virtio_device, features_ok_needs_version_1)
{
	negotiate(1ull << FAKE_FEATURE);
	cr_assert_not(f.vdev.status & VIRTIO_CONFIG_S_FEATURES_OK, "legacy driver accepted");
}

Test(virtio_device, features_ok_refuses_unoffered_bits)
{
	negotiate((1ull << VIRTIO_F_VERSION_1) | (1ull << 6));
	cr_assert_not(f.vdev.status & VIRTIO_CONFIG_S_FEATURES_OK);
}

Test(virtio_device, driver_ok_starts_once_and_reset_resets)
{
	negotiate((1ull << VIRTIO_F_VERSION_1) | (1ull << FAKE_FEATURE));
	cr_assert(f.vdev.status & VIRTIO_CONFIG_S_FEATURES_OK);
	cr_assert(virtio_device_has_feature(&f.vdev, FAKE_FEATURE));
	/* Features are frozen after FEATURES_OK. */
	virtio_device_write_features(&f.vdev, 0, 0);
	cr_assert(virtio_device_has_feature(&f.vdev, FAKE_FEATURE));
	virtio_device_write_status(&f.vdev, ALL_UP);
	virtio_device_write_status(&f.vdev, ALL_UP);
	cr_assert_eq(f.starts, 1);
	cr_assert(virtio_device_running(&f.vdev));
	virtio_device_write_status(&f.vdev, 0);
	cr_assert_eq(f.resets, 1);
	cr_assert_eq(f.vdev.status, 0);
	cr_assert_eq(f.vdev.driver_features, 0);
}

Test(virtio_device, driver_ok_without_features_ok_is_ignored)
{
	virtio_device_write_status(&f.vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					    VIRTIO_CONFIG_S_DRIVER_OK);
	cr_assert_eq(f.starts, 0);
	cr_assert_not(virtio_device_running(&f.vdev));
}

Test(virtio_device, clearing_bits_without_reset_is_refused)
{
	negotiate(1ull << VIRTIO_F_VERSION_1);
	virtio_device_write_status(&f.vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	cr_assert(f.vdev.status & VIRTIO_CONFIG_S_FEATURES_OK);
}

Test(virtio_device, failed_start_needs_reset)
{
	f.start_result = -1;
	negotiate(1ull << VIRTIO_F_VERSION_1);
	virtio_device_write_status(&f.vdev, ALL_UP);
	cr_assert(f.vdev.status & VIRTIO_CONFIG_S_NEEDS_RESET);
	cr_assert_eq(f.config_irqs, 1);
	cr_assert_not(virtio_device_running(&f.vdev));
	char line[256] = { 0 };
	cr_assert_gt(read(log_pipe[0], line, sizeof(line) - 1), 0);
	cr_assert(strstr(line, "virtio-fake: backend gone"), "log: %s", line);
}

Test(virtio_device, bad_ring_needs_reset_and_logs_once)
{
	negotiate(1ull << VIRTIO_F_VERSION_1);
	f.vdev.queues[0].size = 8;
	f.vdev.queues[0].desc_gpa = 32 * MIB;   /* past RAM */
	virtio_device_enable_queue(&f.vdev, 0);
	virtio_device_enable_queue(&f.vdev, 0);
	cr_assert(f.vdev.status & VIRTIO_CONFIG_S_NEEDS_RESET);
	cr_assert_eq(f.config_irqs, 1, "one config interrupt per failure");
	char line[512] = { 0 };
	ssize_t n = read(log_pipe[0], line, sizeof(line) - 1);
	cr_assert_gt(n, 0);
	cr_assert_eq(strchr(line, '\n'), line + n - 1, "more than one line logged: %s", line);
	/* NEEDS_RESET stays through the driver's status writes, and kicks
	 * no longer reach the device. */
	virtio_device_write_status(&f.vdev, ALL_UP);
	cr_assert(f.vdev.status & VIRTIO_CONFIG_S_NEEDS_RESET);
	virtio_device_kick(&f.vdev, 0);
	cr_assert_eq(f.kicks, 0);
	virtio_device_write_status(&f.vdev, 0);
	cr_assert_eq(f.vdev.status, 0);
}

Test(virtio_device, kicks_reach_only_a_running_device_with_an_enabled_queue)
{
	negotiate(1ull << VIRTIO_F_VERSION_1);
	f.vdev.queues[0] = (struct virtq){ .size = 8, .desc_gpa = 0x1000, .avail_gpa = 0x2000,
					   .used_gpa = 0x3000 };
	virtio_device_enable_queue(&f.vdev, 0);
	virtio_device_kick(&f.vdev, 0);
	cr_assert_eq(f.kicks, 0, "kick before DRIVER_OK");
	virtio_device_write_status(&f.vdev, ALL_UP);
	virtio_device_kick(&f.vdev, 0);
	virtio_device_kick(&f.vdev, 7);
	cr_assert_eq(f.kicks, 1);
}

/* A running device with one queue part-way through its ring. */
static void running_with_a_queue(void)
{
	negotiate((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX));
	f.vdev.queues[0] = (struct virtq){ .size = 8, .desc_gpa = 0x1000, .avail_gpa = 0x2000,
					   .used_gpa = 0x3000 };
	virtio_device_enable_queue(&f.vdev, 0);
	virtio_device_write_status(&f.vdev, ALL_UP);
	f.vdev.queues[0].last_avail = 70;
	f.vdev.queues[0].used_idx = 69;
	f.vdev.queues[0].signalled_used = 60;
	f.vdev.queues[0].signalled_valid = true;
	f.vdev.config_generation = 3;
}

static void saved(struct state_writer *w)
{
	state_writer_init(w);
	virtio_device_save(&f.vdev, w);
	cr_assert_not(w->failed);
}

static int restore_from(const struct state_writer *w, struct kvmini_error *err)
{
	struct state_reader r;
	state_reader_init(&r, w->data, w->len);
	int rc = virtio_device_restore(&f.vdev, &r, err);
	return rc == 0 ? state_reader_finish(&r, "test", err) : rc;
}

Test(virtio_device, save_and_restore_keep_status_features_and_queue_positions)
{
	running_with_a_queue();
	struct state_writer w;
	saved(&w);
	virtio_device_write_status(&f.vdev, 0);
	int starts = f.starts;
	struct kvmini_error err = { 0 };
	cr_assert_eq(restore_from(&w, &err), 0, "%s", err.msg);
	cr_assert_eq(f.vdev.status, ALL_UP);
	cr_assert(virtio_device_has_feature(&f.vdev, VIRTIO_RING_F_EVENT_IDX));
	cr_assert_eq(f.vdev.config_generation, 3);
	const struct virtq *q = &f.vdev.queues[0];
	cr_assert(q->enabled && q->event_idx && !q->indirect);
	cr_assert_eq(q->last_avail, 70);
	cr_assert_eq(q->used_idx, 69);
	cr_assert_eq(q->signalled_used, 60);
	cr_assert(q->signalled_valid);
	cr_assert_eq(q->used, guest_ptr(&mem, 0x3000, 1));
	cr_assert_eq(f.starts, starts + 1, "a running device is started again");
	state_writer_free(&w);
}

/* Each corruption of a saved device is refused with its reason. */
static void expect_refused(void (*corrupt)(struct state_writer *w), const char *fragment)
{
	setup();
	running_with_a_queue();
	struct state_writer w;
	saved(&w);
	corrupt(&w);
	struct kvmini_error err = { 0 };
	cr_assert_lt(restore_from(&w, &err), 0, "accepted (%s)", fragment);
	cr_assert(strstr(err.msg, fragment), "'%s' lacks '%s'", err.msg, fragment);
	state_writer_free(&w);
	teardown();
}

/* Offsets in the record: id 0, status 4, features 5, generation 13,
 * queue count 17, queue 0 from 18: size, desc, avail, used, indices,
 * flags. */
static void bad_id(struct state_writer *w) { w->data[0] = VIRTIO_ID_BLOCK; }
static void driver_ok_alone(struct state_writer *w) { w->data[4] = VIRTIO_CONFIG_S_DRIVER_OK; }
static void unknown_status(struct state_writer *w) { w->data[4] |= 0x10; }
static void unoffered_feature(struct state_writer *w) { w->data[5 + 1] |= 0x80; }
static void no_version_1(struct state_writer *w) { w->data[5 + 4] = 0; }
static void odd_queue_size(struct state_writer *w) { w->data[18] = 6; }
static void ring_past_ram(struct state_writer *w) { w->data[18 + 2 + 8 + 8 + 3] = 0x10; }
static void bad_flag(struct state_writer *w) { w->data[w->len - 1] = 2; }
static void truncated(struct state_writer *w) { w->len = 10; }

Test(virtio_device, a_restore_refuses_every_impossible_state)
{
	teardown();   /* each case sets up its own */
	expect_refused(bad_id, "saved state is of device 2");
	expect_refused(driver_ok_alone, "is not reachable");
	expect_refused(unknown_status, "is not reachable");
	expect_refused(unoffered_feature, "is not reachable");
	expect_refused(no_version_1, "is not reachable");
	expect_refused(odd_queue_size, "saved queue 0 has size 6");
	expect_refused(ring_past_ram, "saved queue 0: ");
	expect_refused(bad_flag, "saved queue 0 is malformed");
	expect_refused(truncated, "saved state is truncated");
	setup();
}

Test(virtio_device, config_space_is_bounded)
{
	uint8_t buf[4];
	virtio_device_read_config(&f.vdev, 4, buf, 4);
	cr_assert_eq(memcmp(buf, "efgh", 4), 0);
	memset(buf, 0xaa, sizeof(buf));
	virtio_device_read_config(&f.vdev, 6, buf, 4);
	cr_assert_eq(buf[0] | buf[1] | buf[2] | buf[3], 0, "read past the config space");
	virtio_device_read_config(&f.vdev, 0xfffffffe, buf, 4);
	cr_assert_eq(buf[0], 0);
	virtio_device_config_changed(&f.vdev);
	cr_assert_eq(f.vdev.config_generation, 1);
	cr_assert_eq(f.config_irqs, 1);
}

/* virtio_device_destroy(): detach (no lock held), then reset (lock
 * held), then destroy, in that order. */
struct ordered {
	struct virtio_device vdev;
	char steps[8];
	unsigned n;
	bool locked_at_detach;
};

static void ordered_step(struct ordered *o, char c)
{
	if (o->n < sizeof(o->steps) - 1)
		o->steps[o->n++] = c;
}

static void ordered_detach(void *dev)
{
	struct ordered *o = dev;
	o->locked_at_detach = pthread_mutex_trylock(&o->vdev.lock) != 0;
	if (!o->locked_at_detach)
		pthread_mutex_unlock(&o->vdev.lock);
	ordered_step(o, 'D');
}

static void ordered_reset(void *dev)
{
	ordered_step(dev, 'R');
}

static char destroyed_steps[8];

static void ordered_destroy(void *dev)
{
	struct ordered *o = dev;
	ordered_step(o, 'X');
	memcpy(destroyed_steps, o->steps, sizeof(destroyed_steps));
}

static const struct virtio_device_ops ordered_ops = {
	.name = "virtio-ordered", .device_id = VIRTIO_ID_RNG, .reset = ordered_reset,
	.detach = ordered_detach, .destroy = ordered_destroy,
};

Test(virtio_device, destroy_detaches_unlocked_then_resets_then_destroys)
{
	static struct ordered o;
	memset(&o, 0, sizeof(o));
	virtio_device_init(&o.vdev, &ordered_ops, &o, 0, 0, 1, 8);
	virtio_device_destroy(&o.vdev);
	cr_assert_str_eq(destroyed_steps, "DRX");
	cr_assert_not(o.locked_at_detach, "detach ran with the lock held");
}
