/* The transport-independent half of a virtio device (virtio.h): status,
 * features, queues, interrupts. */
#include <string.h>
#include "virtio/virtio.h"

void virtio_device_init(struct virtio_device *vdev, const struct virtio_device_ops *ops,
			void *dev, uint64_t features, uint32_t config_len, unsigned nqueues,
			uint16_t queue_max)
{
	memset(vdev, 0, sizeof(*vdev));
	vdev->ops = ops;
	vdev->dev = dev;
	vdev->device_features = features;
	vdev->config_len = config_len;
	vdev->nqueues = nqueues < VIRTIO_MAX_QUEUES ? nqueues : VIRTIO_MAX_QUEUES;
	vdev->queue_max = queue_max && queue_max <= VIRTQ_MAX_SIZE ? queue_max : VIRTQ_MAX_SIZE;
	vdev->log_fd = 2;
	pthread_mutex_init(&vdev->lock, NULL);
}

void virtio_device_attach(struct virtio_device *vdev, const struct virtio_transport_ops *t,
			  void *transport_ctx, const struct guest_memory *mem, int log_fd)
{
	vdev->transport = t;
	vdev->transport_ctx = transport_ctx;
	vdev->mem = mem;
	vdev->log_fd = log_fd;
}

void virtio_device_destroy(struct virtio_device *vdev)
{
	if (!vdev)
		return;
	const struct virtio_device_ops *ops = vdev->ops;
	void *dev = vdev->dev;
	if (ops->detach)
		ops->detach(dev);
	virtio_device_lock(vdev);
	if (ops->reset)
		ops->reset(dev);
	virtio_device_unlock(vdev);
	pthread_mutex_destroy(&vdev->lock);
	/* Last: the device may own the memory vdev lives in. */
	if (ops->destroy)
		ops->destroy(dev);
}

void virtio_device_lock(struct virtio_device *vdev)
{
	pthread_mutex_lock(&vdev->lock);
}

void virtio_device_unlock(struct virtio_device *vdev)
{
	pthread_mutex_unlock(&vdev->lock);
}

uint64_t virtio_device_offered(const struct virtio_device *vdev)
{
	return vdev->device_features | VIRTIO_COMMON_FEATURES;
}

bool virtio_device_has_feature(const struct virtio_device *vdev, unsigned bit)
{
	return bit < 64 && (vdev->driver_features >> bit) & 1;
}

bool virtio_device_running(const struct virtio_device *vdev)
{
	return (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	       !(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

void virtio_device_write_features(struct virtio_device *vdev, unsigned word, uint32_t value)
{
	if (word > 1 || (vdev->status & VIRTIO_CONFIG_S_FEATURES_OK))
		return;
	unsigned shift = 32 * word;
	vdev->driver_features &= ~(0xffffffffull << shift);
	vdev->driver_features |= (uint64_t)value << shift;
}

static void interrupt(struct virtio_device *vdev, enum virtio_interrupt what, unsigned q)
{
	if (vdev->transport && vdev->transport->interrupt)
		vdev->transport->interrupt(vdev->transport_ctx, what, q);
}

static void device_reset(struct virtio_device *vdev)
{
	if (vdev->ops->reset)
		vdev->ops->reset(vdev->dev);
	for (unsigned q = 0; q < vdev->nqueues; q++)
		virtq_reset(&vdev->queues[q]);
	vdev->status = 0;
	vdev->driver_features = 0;
	vdev->fail_logged = false;
}

static bool features_acceptable(const struct virtio_device *vdev)
{
	return !(vdev->driver_features & ~virtio_device_offered(vdev)) &&
	       virtio_device_has_feature(vdev, VIRTIO_F_VERSION_1);
}

static void device_start(struct virtio_device *vdev)
{
	struct kvmini_error err = { 0 };
	if (vdev->ops->start && vdev->ops->start(vdev->dev, &err))
		virtio_device_fail(vdev, &err);
}

void virtio_device_write_status(struct virtio_device *vdev, uint8_t status)
{
	if (status == 0) {
		device_reset(vdev);
		return;
	}
	uint8_t old = vdev->status;
	/* Bits only go up until a reset (NEEDS_RESET is the device's). */
	if ((old & ~VIRTIO_CONFIG_S_NEEDS_RESET) & ~status)
		return;
	status = (uint8_t)((status & ~VIRTIO_CONFIG_S_NEEDS_RESET) |
			   (old & VIRTIO_CONFIG_S_NEEDS_RESET));
	if ((status & VIRTIO_CONFIG_S_FEATURES_OK) && !(old & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    !features_acceptable(vdev))
		status &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
	/* DRIVER_OK needs FEATURES_OK first (a legacy driver never gets here:
	 * we offer only VERSION_1 devices). */
	if ((status & VIRTIO_CONFIG_S_DRIVER_OK) && !(status & VIRTIO_CONFIG_S_FEATURES_OK))
		status &= (uint8_t)~VIRTIO_CONFIG_S_DRIVER_OK;
	vdev->status = status;
	if ((status & VIRTIO_CONFIG_S_DRIVER_OK) && !(old & VIRTIO_CONFIG_S_DRIVER_OK) &&
	    !(status & VIRTIO_CONFIG_S_NEEDS_RESET))
		device_start(vdev);
}

bool virtio_device_queue_size_ok(const struct virtio_device *vdev, uint32_t n)
{
	/* A split ring's indices wrap at 2^16: only a power of two divides it. */
	return n && n <= vdev->queue_max && !(n & (n - 1));
}

void virtio_device_enable_queue(struct virtio_device *vdev, unsigned q)
{
	if (q >= vdev->nqueues || !vdev->mem)
		return;
	struct kvmini_error err = { 0 };
	if (virtq_enable(&vdev->queues[q], vdev->mem,
			 virtio_device_has_feature(vdev, VIRTIO_RING_F_EVENT_IDX),
			 virtio_device_has_feature(vdev, VIRTIO_RING_F_INDIRECT_DESC), &err))
		virtio_device_fail(vdev, &err);
}

static bool config_in_range(const struct virtio_device *vdev, uint32_t off, uint32_t len)
{
	return off <= vdev->config_len && len <= vdev->config_len - off;
}

void virtio_device_read_config(struct virtio_device *vdev, uint32_t off, void *buf, uint32_t len)
{
	memset(buf, 0, len);
	if (config_in_range(vdev, off, len) && vdev->ops->config_read)
		vdev->ops->config_read(vdev->dev, off, buf, len);
}

void virtio_device_write_config(struct virtio_device *vdev, uint32_t off, const void *buf,
				uint32_t len)
{
	if (config_in_range(vdev, off, len) && vdev->ops->config_write)
		vdev->ops->config_write(vdev->dev, off, buf, len);
}

void virtio_device_kick(struct virtio_device *vdev, unsigned q)
{
	virtio_device_lock(vdev);
	if (q < vdev->nqueues && virtio_device_running(vdev) && vdev->queues[q].enabled &&
	    vdev->ops->queue_kick)
		vdev->ops->queue_kick(vdev->dev, q);
	virtio_device_unlock(vdev);
}

void virtio_device_used(struct virtio_device *vdev, unsigned q)
{
	if (q < vdev->nqueues && virtq_should_interrupt(&vdev->queues[q]))
		interrupt(vdev, VIRTIO_INTERRUPT_QUEUE, q);
}

void virtio_device_config_changed(struct virtio_device *vdev)
{
	vdev->config_generation++;
	interrupt(vdev, VIRTIO_INTERRUPT_CONFIG, 0);
}

void virtio_device_fail(struct virtio_device *vdev, const struct kvmini_error *why)
{
	if (!vdev->fail_logged) {
		vdev->fail_logged = true;
		kvmini_log(vdev->log_fd, "kvmini: %s: %s; the device needs a reset\n",
			 vdev->ops->name, why && why->msg[0] ? why->msg : "device failed");
	}
	if (vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	vdev->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	interrupt(vdev, VIRTIO_INTERRUPT_CONFIG, 0);
}

/* ---- snapshots ---- */

#define STATUS_BITS                                                              \
	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK | \
	 VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED)

void virtio_device_quiesce(struct virtio_device *vdev)
{
	if (vdev->ops->quiesce)
		vdev->ops->quiesce(vdev->dev);
}

static void queue_save(const struct virtq *q, struct state_writer *w)
{
	state_put_u16(w, q->size);
	state_put_u64(w, q->desc_gpa);
	state_put_u64(w, q->avail_gpa);
	state_put_u64(w, q->used_gpa);
	state_put_u16(w, q->last_avail);
	state_put_u16(w, q->used_idx);
	state_put_u16(w, q->signalled_used);
	uint8_t flags[3] = { q->enabled, q->signalled_valid, q->notify_off };
	state_put_bytes(w, flags, sizeof(flags));
}

void virtio_device_save(const struct virtio_device *vdev, struct state_writer *w)
{
	state_put_u32(w, vdev->ops->device_id);
	state_put_u8(w, vdev->status);
	state_put_u64(w, vdev->driver_features);
	state_put_u32(w, vdev->config_generation);
	state_put_u8(w, (uint8_t)vdev->nqueues);
	for (unsigned q = 0; q < vdev->nqueues; q++)
		queue_save(&vdev->queues[q], w);
	if (vdev->ops->save)
		vdev->ops->save(vdev->dev, w);
}

/* The status a driver of this device can have reached. */
static bool status_reachable(const struct virtio_device *vdev, uint8_t status)
{
	if (status & ~STATUS_BITS)
		return false;
	if ((status & VIRTIO_CONFIG_S_DRIVER_OK) && !(status & VIRTIO_CONFIG_S_FEATURES_OK))
		return false;
	return !(status & VIRTIO_CONFIG_S_FEATURES_OK) || features_acceptable(vdev);
}

/* A queue's layout, checked as the driver's QueueReady write checks it,
 * then its indices. */
static int queue_restore(struct virtio_device *vdev, unsigned n, struct state_reader *r,
			 struct kvmini_error *err)
{
	struct virtq *q = &vdev->queues[n];
	virtq_reset(q);
	q->size = state_get_u16(r);
	q->desc_gpa = state_get_u64(r);
	q->avail_gpa = state_get_u64(r);
	q->used_gpa = state_get_u64(r);
	uint16_t last_avail = state_get_u16(r), used_idx = state_get_u16(r);
	uint16_t signalled_used = state_get_u16(r);
	uint8_t flags[3];
	if (!state_get_flags(r, flags, sizeof(flags)))
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: saved queue %u is malformed",
				   vdev->ops->name, n);
	if (q->size && !virtio_device_queue_size_ok(vdev, q->size))   /* 0: never set */
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: saved queue %u has size %u",
				   vdev->ops->name, n, q->size);
	if (!flags[0])
		return 0;
	if (!vdev->mem)
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: no transport", vdev->ops->name);
	struct kvmini_error why = { 0 };
	if (virtq_enable(q, vdev->mem, virtio_device_has_feature(vdev, VIRTIO_RING_F_EVENT_IDX),
			 virtio_device_has_feature(vdev, VIRTIO_RING_F_INDIRECT_DESC), &why) < 0)
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: saved queue %u: %s", vdev->ops->name,
				   n, why.msg);
	q->last_avail = last_avail;
	q->used_idx = used_idx;
	q->signalled_used = signalled_used;
	q->signalled_valid = flags[1];
	q->notify_off = flags[2];
	return 0;
}

int virtio_device_restore(struct virtio_device *vdev, struct state_reader *r,
			  struct kvmini_error *err)
{
	device_reset(vdev);
	uint32_t id = state_get_u32(r);
	uint8_t status = state_get_u8(r);
	vdev->driver_features = state_get_u64(r);
	vdev->config_generation = state_get_u32(r);
	uint8_t nqueues = state_get_u8(r);
	if (r->failed)
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: saved state is truncated",
				   vdev->ops->name);
	if (id != vdev->ops->device_id || nqueues != vdev->nqueues)
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: saved state is of device %u with %u "
				   "queues", vdev->ops->name, id, nqueues);
	if (!status_reachable(vdev, status))
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: saved status 0x%x with features "
				   "0x%llx is not reachable", vdev->ops->name, status,
				   (unsigned long long)vdev->driver_features);
	vdev->status = status;
	for (unsigned q = 0; q < vdev->nqueues; q++)
		if (queue_restore(vdev, q, r, err) < 0)
			return -1;
	if (vdev->ops->restore && vdev->ops->restore(vdev->dev, r, err) < 0)
		return -1;
	vdev->fail_logged = status & VIRTIO_CONFIG_S_NEEDS_RESET;
	if (virtio_device_running(vdev))
		device_start(vdev);
	return 0;
}
