/* libFuzzer target: virtio-blk's request parsing with hostile guest
 * memory. The input is the guest's RAM from address 0 (the descriptor
 * table at 0, the available ring at 0x1000, the used ring at 0x2000,
 * buffers anywhere), preceded by a small header choosing the queue size,
 * the features the driver accepts and how many requests it publishes.
 * The device runs on a real event loop with its io_uring on a scratch
 * 64 KiB image; after the kick the driver resets the device, which waits
 * for whatever is still in flight, so every input ends with nothing
 * pending. No KVM. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/virtio_blk.h>
#include "event_loop.h"
#include "virtio/blk.h"

#define RAM_SIZE (1u << 20)
#define IMAGE_SIZE (64u << 10)
#define DESC_GPA 0x0
#define AVAIL_GPA 0x1000
#define USED_GPA 0x2000

struct header {
	uint8_t qsize_log2;     /* queue size 1 << (x % 9) */
	uint8_t features;       /* bit i: accept blk feature table[i] */
	uint8_t avail;          /* avail->idx the driver publishes */
	uint8_t config_off;     /* a config read's offset */
};

static void no_interrupt(void *ctx, enum virtio_interrupt what, unsigned q)
{
	(void)ctx;
	(void)what;
	(void)q;
}

static const struct virtio_transport_ops transport = { .interrupt = no_interrupt };

struct rig {
	struct guest_memory mem;
	struct event_loop *loop;
	struct kvmini_config cfg;
	struct kvmini_disk disk;
	struct virtio_device *vdev;
	char path[64];
};

static void die(const char *what, const struct kvmini_error *err)
{
	fprintf(stderr, "fuzz_virtio_blk: %s: %s\n", what, err ? err->msg : "");
	abort();
}

static struct rig *rig_get(void)
{
	static struct rig r;
	static int made;
	if (made)
		return &r;
	struct kvmini_error err = { 0 };
	if (guest_memory_init(&r.mem, RAM_SIZE, 0, &err) < 0)
		die("guest RAM", &err);
	if (!(r.loop = event_loop_create("fuzzblk", &err)) || event_loop_start(r.loop, &err) < 0)
		die("event loop", &err);
	snprintf(r.path, sizeof(r.path), "/tmp/kvmini-fuzz-blk-XXXXXX");
	int fd = mkstemp(r.path);
	if (fd < 0 || ftruncate(fd, IMAGE_SIZE) < 0)
		die("image", NULL);
	close(fd);
	kvmini_config_defaults(&r.cfg);
	r.disk = (struct kvmini_disk){ .path = r.path, .serial = "fuzz" };
	struct virtio_device_env env = { .loop = r.loop, .log_fd = -1, .cfg = &r.cfg };
	if (!(r.vdev = virtio_blk_create(&env, &r.disk, &err)))
		die("disk", &err);
	unlink(r.path);   /* the device keeps it open; nothing is left behind */
	virtio_device_attach(r.vdev, &transport, NULL, &r.mem, -1);
	made = 1;
	return &r;
}

static const unsigned feature_bits[8] = {
	VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_F_WRITE_ZEROES, VIRTIO_BLK_F_SEG_MAX,
	VIRTIO_RING_F_EVENT_IDX, VIRTIO_RING_F_INDIRECT_DESC, VIRTIO_BLK_F_BLK_SIZE,
	VIRTIO_BLK_F_SIZE_MAX,
};

static void driver_start(struct virtio_device *vdev, const struct header *h)
{
	uint64_t f = 1ull << VIRTIO_F_VERSION_1;
	for (unsigned i = 0; i < 8; i++)
		if (h->features & (1u << i))
			f |= 1ull << feature_bits[i];
	f &= virtio_device_offered(vdev);
	virtio_device_lock(vdev);
	virtio_device_write_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	virtio_device_write_features(vdev, 0, (uint32_t)f);
	virtio_device_write_features(vdev, 1, (uint32_t)(f >> 32));
	virtio_device_write_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					 VIRTIO_CONFIG_S_FEATURES_OK);
	struct virtq *q = &vdev->queues[0];
	q->size = (uint16_t)(1u << (h->qsize_log2 % 9));
	q->desc_gpa = DESC_GPA;
	q->avail_gpa = AVAIL_GPA;
	q->used_gpa = USED_GPA;
	virtio_device_enable_queue(vdev, 0);
	virtio_device_write_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					 VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	uint8_t config[8];
	virtio_device_read_config(vdev, h->config_off, config, sizeof(config));
	virtio_device_unlock(vdev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct header h;
	if (size < sizeof(h))
		return 0;
	memcpy(&h, data, sizeof(h));
	data += sizeof(h);
	size -= sizeof(h);
	struct rig *r = rig_get();
	uint8_t *ram = guest_ptr(&r->mem, 0, RAM_SIZE);
	memset(ram, 0, 0x10000);
	memcpy(ram, data, size < RAM_SIZE ? size : RAM_SIZE);
	/* The driver publishes h.avail entries (the ring's contents are the
	 * input's). */
	struct vring_avail *avail = (struct vring_avail *)(ram + AVAIL_GPA);
	avail->idx = h.avail;
	driver_start(r->vdev, &h);
	virtio_device_kick(r->vdev, 0);
	virtio_device_lock(r->vdev);
	virtio_device_write_status(r->vdev, 0);
	virtio_device_unlock(r->vdev);
	return 0;
}
