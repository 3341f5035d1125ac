/* The fake driver of tests/unit/virtio_driver.h, direct form, against a
 * fake device that fills every writable buffer with one byte: the
 * example other device tests start from, and proof the driver's rings
 * are what the device layer accepts. */
#include <criterion/criterion.h>
#include "virtio_driver.h"

#define MIB (1ULL << 20)
#define FILL 0x5a

struct filler {
	struct virtio_device vdev;
	int kicks;
};

static void filler_kick(void *dev, unsigned q)
{
	struct filler *f = dev;
	struct virtq_elem e;
	struct kvmini_error err = { 0 };
	f->kicks++;
	int r;
	while ((r = virtq_pop(&f->vdev.queues[q], &e, &err)) == 1) {
		uint64_t done = 0;
		for (unsigned i = 0; i < e.nin; i++) {
			memset(virtq_elem_in(&e)[i].iov_base, FILL, virtq_elem_in(&e)[i].iov_len);
			done += virtq_elem_in(&e)[i].iov_len;
		}
		virtq_push(&f->vdev.queues[q], e.head, (uint32_t)done);
		virtio_device_used(&f->vdev, q);
	}
	if (r < 0)
		virtio_device_fail(&f->vdev, &err);
}

static const struct virtio_device_ops filler_ops = {
	.name = "virtio-filler", .device_id = VIRTIO_ID_RNG, .queue_kick = filler_kick,
};

static struct filler f;
static struct guest_memory mem;
static struct vdrv d;

static void setup(void)
{
	struct kvmini_error err = { 0 };
	cr_assert_eq(guest_memory_init(&mem, 16 * MIB, 0, &err), 0, "%s", err.msg);
	memset(&f, 0, sizeof(f));
	virtio_device_init(&f.vdev, &filler_ops, &f, 0, 0, 1, 64);
	cr_assert_eq(vdrv_init_direct(&d, &f.vdev, &mem, 2), 0);
}

static void teardown(void)
{
	vdrv_destroy(&d);
	virtio_device_destroy(&f.vdev);
	guest_memory_free(&mem);
}

TestSuite(virtio_driver, .init = setup, .fini = teardown);

Test(virtio_driver, negotiates_and_starts)
{
	cr_assert(vdrv_start(&d, 1ull << VIRTIO_RING_F_EVENT_IDX, 1, 16));
	cr_assert(d.features & (1ull << VIRTIO_F_VERSION_1));
	cr_assert(d.features & (1ull << VIRTIO_RING_F_EVENT_IDX));
	cr_assert(f.vdev.queues[0].enabled);
}

Test(virtio_driver, queue_larger_than_offered_is_refused)
{
	cr_assert(vdrv_negotiate(&d, 0));
	cr_assert_eq(vdrv_queue_setup(&d, 0, 128), -1);
	cr_assert_eq(vdrv_queue_setup(&d, 1, 16), -1);
}

Test(virtio_driver, buffers_come_back_filled_with_an_interrupt_each)
{
	cr_assert(vdrv_start(&d, 1ull << VIRTIO_RING_F_EVENT_IDX, 1, 8));
	for (int round = 0; round < 20; round++) {
		gpa_t gpa = vdrv_alloc(&d, 100, 8);
		struct vdrv_buf b = { gpa, 100, true };
		uint16_t head = vdrv_post(&d, 0, &b, 1);
		vdrv_kick(&d, 0);
		cr_assert(vdrv_wait_irq(&d, VDRV_TIMEOUT_MS), "no interrupt in round %d", round);
		cr_assert_eq(vdrv_isr(&d), VIRTIO_MMIO_INT_VRING);
		vdrv_ack(&d, VIRTIO_MMIO_INT_VRING);
		uint32_t id, len;
		cr_assert(vdrv_get_used(&d, 0, &id, &len));
		cr_assert_eq(id, head);
		cr_assert_eq(len, 100);
		uint8_t *p = guest_ptr(&mem, gpa, 100);
		for (int i = 0; i < 100; i++)
			cr_assert_eq(p[i], FILL);
	}
	cr_assert_eq(f.kicks, 20);
}

Test(virtio_driver, chains_of_readable_and_writable_buffers)
{
	cr_assert(vdrv_start(&d, 0, 1, 8));
	gpa_t out = vdrv_alloc(&d, 32, 8), in = vdrv_alloc(&d, 64, 8);
	struct vdrv_buf chain[] = { { out, 32, false }, { in, 24, true }, { in + 24, 40, true } };
	uint16_t head = vdrv_post(&d, 0, chain, 3);
	vdrv_kick(&d, 0);
	uint32_t id, len;
	cr_assert(vdrv_wait_used(&d, 0, &id, &len));
	cr_assert_eq(id, head);
	cr_assert_eq(len, 64);
	cr_assert_eq(*(uint8_t *)guest_ptr(&mem, out, 1), 0, "readable buffer written");
}
