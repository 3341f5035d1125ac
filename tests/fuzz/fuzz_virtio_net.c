/* libFuzzer target: virtio-net's transmit header checks and its receive
 * path, driven by a hostile driver (fuzz_virtio_rig.h) over an
 * in-memory backend that checks what the device hands it: every frame
 * has a header the negotiated features allow and the length it claims. */
#include <stdlib.h>
#include <linux/if_ether.h>
#include "fuzz_virtio_rig.h"
#include "virtio/devices.h"
#include "virtio/net_backend.h"

struct mem_backend {
	struct net_backend be;
	uint64_t features;
	bool full;
	uint8_t frame[2048];
	size_t frame_len;
};

static void check_frame(struct mem_backend *m, const struct iovec *iov, unsigned n, size_t len)
{
	size_t total = 0;
	for (unsigned i = 0; i < n; i++)
		total += iov[i].iov_len;
	struct virtio_net_hdr_v1 h;
	memcpy(&h, iov[0].iov_base, sizeof(h));
	bool csum = m->features & (1ull << VIRTIO_NET_F_CSUM);
	if (total != len || iov[0].iov_len != NET_HDR_LEN || len < NET_HDR_LEN + ETH_HLEN ||
	    (h.flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM) ||
	    ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !csum) ||
	    (h.gso_type != VIRTIO_NET_HDR_GSO_NONE && !csum) ||
	    ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	     h.csum_start + h.csum_offset + 2u > len - NET_HDR_LEN))
		abort();
}

static int mem_transmit(struct net_backend *be, const struct iovec *iov, unsigned n, size_t len)
{
	struct mem_backend *m = (struct mem_backend *)be;
	check_frame(m, iov, n, len);
	/* A backend may call back from inside a transmit (a tap found
	 * gone): the device must not re-enter its pump. */
	uint8_t first = len > NET_HDR_LEN ? ((const uint8_t *)iov[1].iov_base)[0] : 0;
	if (first == 0xa5) {
		virtio_net_set_link_locked(be->card, false);
		virtio_net_tx_ready_locked(be->card);
		virtio_net_rx_ready_locked(be->card);
	}
	return m->full ? 1 : 0;
}

static ssize_t mem_receive(struct net_backend *be, void *buf, size_t cap)
{
	struct mem_backend *m = (struct mem_backend *)be;
	size_t len = m->frame_len;
	m->frame_len = 0;
	if (!len || len > cap)
		return 0;
	memcpy(buf, m->frame, len);
	return (ssize_t)len;
}

static void mem_rx_watch(struct net_backend *be, bool on)
{
	(void)be;
	(void)on;
}

static int mem_configure(struct net_backend *be, uint64_t features, struct kvmini_error *err)
{
	(void)err;
	((struct mem_backend *)be)->features = features;
	return 0;
}

static void mem_destroy(struct net_backend *be)
{
	free(be);
}

static const struct net_backend_ops mem_ops = {
	.name = "fuzz",
	.features = (1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_GUEST_CSUM) |
		    (1ull << VIRTIO_NET_F_GUEST_TSO4) | (1ull << VIRTIO_NET_F_HOST_TSO4) |
		    (1ull << VIRTIO_NET_F_HOST_TSO6) | (1ull << VIRTIO_NET_F_HOST_ECN),
	.transmit = mem_transmit, .receive = mem_receive, .rx_watch = mem_rx_watch,
	.configure = mem_configure, .destroy = mem_destroy,
};

static struct mem_backend *backend;

static struct net_backend *mem_create(const struct kvmini_net *cfg, struct net_backend *proto,
				      struct kvmini_error *err)
{
	(void)cfg;
	(void)err;
	backend = calloc(1, sizeof(*backend));
	backend->be = *proto;
	backend->be.ops = &mem_ops;
	return &backend->be;
}

/* The card's own moves: 4 a frame arrives, 5 the backend fills or
 * drains, 6 a reset and a new start. */
static void net_step(struct virtio_device *vdev, const struct guest_memory *mem,
		     struct rig_input *in, uint8_t cmd)
{
	struct virtio_net *card = vdev->dev;
	if (cmd == 4) {
		size_t len = rig_u16(in) % sizeof(backend->frame);
		if (len > in->n)
			len = in->n;
		memcpy(backend->frame, in->p, len);
		in->p += len;
		in->n -= len;
		backend->frame_len = len;
		virtio_net_lock(card);
		virtio_net_rx_ready_locked(card);
		virtio_net_unlock(card);
	} else if (cmd == 5) {
		backend->full = !backend->full;
		virtio_net_lock(card);
		if (!backend->full)
			virtio_net_tx_ready_locked(card);
		else
			virtio_net_set_link_locked(card, rig_u8(in) & 1);
		virtio_net_unlock(card);
	} else if (cmd == 6) {
		virtio_device_lock(vdev);
		virtio_device_write_status(vdev, 0);
		virtio_device_unlock(vdev);
		rig_start(vdev, mem, in);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct guest_memory *mem = fuzz_guest_memory();
	struct rig_input in = { data, size };
	struct kvmini_net cfg = { .backend = KVMINI_NET_TAP, .mtu = 1500 };
	struct virtio_device_env env = { .loop = NULL, .log_fd = -1 };
	struct kvmini_error err;
	struct virtio_device *vdev = virtio_net_create_with(&env, &cfg, mem_create, &err);
	if (!vdev)
		abort();
	rig_run(vdev, mem, &in, 7, net_step);
	virtio_device_destroy(vdev);
	return 0;
}
