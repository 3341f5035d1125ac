/* Shared by the virtio device fuzz targets: the input plays a hostile
 * driver. It negotiates features, then writes descriptors, available
 * entries and buffer bytes into guest RAM and kicks queues, in whatever
 * order and with whatever values it likes; the device must survive all
 * of it (ASan, UBSan) and keep its own invariants. */
#ifndef KVMINI_FUZZ_VIRTIO_RIG_H
#define KVMINI_FUZZ_VIRTIO_RIG_H

#include <stdint.h>
#include <string.h>
#include "fuzz_target.h"
#include "virtio/virtio.h"

#define RIG_QSIZE 16
#define RIG_RINGS 0x10000          /* queue q's rings: RIG_RINGS + q * 0x1000 */
#define RIG_DATA 0x100000          /* buffers: 64 KiB from here */
#define RIG_DATA_SIZE 0x10000

struct rig_input {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t rig_u8(struct rig_input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint16_t rig_u16(struct rig_input *in)
{
	return (uint16_t)(rig_u8(in) | rig_u8(in) << 8);
}

static inline uint64_t rig_u64(struct rig_input *in)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)rig_u8(in) << (8 * i);
	return v;
}

static inline void rig_interrupt(void *ctx, enum virtio_interrupt what, unsigned q)
{
	(void)ctx;
	(void)what;
	(void)q;
}

static const struct virtio_transport_ops rig_transport = { .interrupt = rig_interrupt };

/* Negotiate (features from the input), set every queue up, DRIVER_OK. */
static inline void rig_start(struct virtio_device *vdev, const struct guest_memory *mem,
			     struct rig_input *in)
{
	virtio_device_attach(vdev, &rig_transport, NULL, mem, -1);
	uint64_t f = rig_u64(in) | (1ull << VIRTIO_F_VERSION_1);
	virtio_device_lock(vdev);
	virtio_device_write_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	virtio_device_write_features(vdev, 0, (uint32_t)f);
	virtio_device_write_features(vdev, 1, (uint32_t)(f >> 32));
	virtio_device_write_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					 VIRTIO_CONFIG_S_FEATURES_OK);
	for (unsigned q = 0; q < vdev->nqueues; q++) {
		struct virtq *vq = &vdev->queues[q];
		vq->size = RIG_QSIZE;
		vq->desc_gpa = RIG_RINGS + q * 0x1000;
		vq->avail_gpa = vq->desc_gpa + 16 * RIG_QSIZE;
		vq->used_gpa = vq->desc_gpa + 0x800;
		virtio_device_enable_queue(vdev, q);
	}
	virtio_device_write_status(vdev, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					 VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	virtio_device_unlock(vdev);
}

/* The driver's moves: 0 a descriptor, 1 an available entry, 2 buffer
 * bytes, 3 a kick. Returns false for a command byte the caller handles
 * (its own moves, >= 4). */
static inline bool rig_step(struct virtio_device *vdev, const struct guest_memory *mem,
			    struct rig_input *in, uint8_t cmd, uint16_t *avail_idx)
{
	unsigned q = rig_u8(in) % vdev->nqueues;
	gpa_t rings = RIG_RINGS + q * 0x1000;
	switch (cmd) {
	case 0: {
		uint8_t i = rig_u8(in) % RIG_QSIZE;
		uint16_t off = rig_u16(in);
		struct vring_desc d = {
			/* Mostly inside the data area; sometimes anywhere. */
			.addr = (off & 1) ? rig_u64(in) : RIG_DATA + (off % RIG_DATA_SIZE),
			.len = rig_u16(in), .flags = rig_u8(in), .next = rig_u8(in),
		};
		guest_write(mem, rings + 16ull * i, &d, sizeof(d));
		return true;
	}
	case 1: {
		uint16_t head = rig_u8(in), step = rig_u8(in) < 250 ? 1 : rig_u16(in);
		guest_write(mem, rings + 16 * RIG_QSIZE + 4 + 2ull * (avail_idx[q] % RIG_QSIZE),
			    &head, 2);
		avail_idx[q] = (uint16_t)(avail_idx[q] + step);
		guest_write(mem, rings + 16 * RIG_QSIZE + 2, &avail_idx[q], 2);
		return true;
	}
	case 2: {
		uint16_t off = rig_u16(in) % RIG_DATA_SIZE;
		size_t len = rig_u16(in) % 2048;
		if (len > in->n)
			len = in->n;
		if (len > RIG_DATA_SIZE - off)
			len = RIG_DATA_SIZE - off;
		guest_write(mem, RIG_DATA + off, in->p, len);
		in->p += len;
		in->n -= len;
		return true;
	}
	case 3:
		virtio_device_kick(vdev, q);
		return true;
	}
	return false;
}

/* A device's own moves (command bytes from 4 up). */
typedef void rig_own_step_fn(struct virtio_device *vdev, const struct guest_memory *mem,
			     struct rig_input *in, uint8_t cmd);

/* Clean rings, start the device, then up to 256 moves: the driver's
 * and, for command values 4..ncmds-1, the device's own. */
static inline void rig_run(struct virtio_device *vdev, const struct guest_memory *mem,
			   struct rig_input *in, uint8_t ncmds, rig_own_step_fn *own)
{
	static const uint8_t zero[0x1000 * VIRTIO_MAX_QUEUES];
	uint16_t avail_idx[VIRTIO_MAX_QUEUES] = { 0 };
	guest_write(mem, RIG_RINGS, zero, sizeof(zero));
	rig_start(vdev, mem, in);
	for (int steps = 0; in->n && steps < 256; steps++) {
		uint8_t cmd = rig_u8(in) % ncmds;
		if (!rig_step(vdev, mem, in, cmd, avail_idx))
			own(vdev, mem, in, cmd);
	}
}

#endif
