/* virtio-net (virtio 1.x, section 5.1): a receive and a transmit queue,
 * MAC, link status and MTU in config space, checksum and segmentation
 * offloads only where the backend honours them (net_backend.h).
 *
 * The guest is hostile: every transmitted header is copied once and
 * checked (flags, GSO type against the negotiated features, checksum
 * offsets inside the frame, the frame's length against the MTU) before
 * the backend sees it, and the backend gets that copy, never the
 * guest's bytes again. A bad frame is dropped (and counted); a broken
 * ring makes the device NEEDS_RESET (virtio.c).
 *
 * Flow: receive is pulled: the device asks the backend for a frame only
 * when the guest has posted a buffer, and stops watching the backend
 * when it has none (a guest that does not read costs no wake-up).
 * Transmit stops while the backend is full (one frame kept aside) and
 * resumes when the backend says it has room: back-pressure, never a
 * busy loop. */
#include <endian.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_ether.h>
#include "virtio/net.h"
#include "virtio/net_backend.h"

enum { RXQ, TXQ, NQUEUES };

#define NET_QUEUE_SIZE 256
/* Frames moved per wake-up before giving the event loop back. */
#define NET_RX_BUDGET 256

/* The features every card offers; the backend adds its offloads. */
#define NET_BASE_FEATURES                                                   \
	((1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS) |       \
	 (1ull << VIRTIO_NET_F_MTU))

struct virtio_net {
	struct virtio_device vdev;
	struct virtio_net_config config;   /* little-endian, as the guest reads it */
	unsigned mtu;
	struct net_backend *backend;
	bool link_up;
	bool tx_blocked;                   /* the backend is full: tx_pending waits */
	bool tx_has_pending;
	bool in_rx, in_tx;                 /* a pump runs: a backend's call back
					    * into it (a frame sent from inside a
					    * transmit) leaves the work to it */
	struct virtq_elem tx_pending;
	struct virtq_elem elem;            /* scratch for the queue being served */
	uint64_t tx_dropped, rx_dropped;
	uint8_t rx_buf[NET_HDR_LEN + NET_MAX_GSO_FRAME];
};

void net_backend_log(const struct net_backend *be, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	dprintf(be->log_fd, "kvmini: virtio-net: %s\n", line);
}

void virtio_net_lock(struct virtio_net *card)
{
	virtio_device_lock(&card->vdev);
}

void virtio_net_unlock(struct virtio_net *card)
{
	virtio_device_unlock(&card->vdev);
}

static bool has(const struct virtio_net *n, unsigned bit)
{
	return virtio_device_has_feature(&n->vdev, bit);
}

static bool queue_live(struct virtio_net *n, unsigned q)
{
	return virtio_device_running(&n->vdev) && n->vdev.queues[q].enabled;
}

/* ---- receive ---- */

/* The largest frame the guest's buffers are sized for. */
static size_t rx_frame_max(const struct virtio_net *n)
{
	if (has(n, VIRTIO_NET_F_GUEST_TSO4) || has(n, VIRTIO_NET_F_GUEST_TSO6))
		return NET_MAX_GSO_FRAME;
	return n->mtu + ETH_HLEN + 4;   /* room for one VLAN tag */
}

/* Put one frame (in rx_buf) into the next receive buffer. */
static int rx_deliver(struct virtio_net *n, size_t len)
{
	struct virtq *q = &n->vdev.queues[RXQ];
	struct kvmini_error err = { 0 };
	int got = virtq_pop(q, &n->elem, &err);
	if (got < 0) {
		virtio_device_fail(&n->vdev, &err);
		return -1;
	}
	if (got == 0)
		return -1;
	/* One buffer per frame (no MRG_RXBUF): num_buffers is 1. */
	struct virtio_net_hdr_v1 *hdr = (struct virtio_net_hdr_v1 *)n->rx_buf;
	hdr->num_buffers = htole16(1);
	if (n->elem.in_len < len) {
		n->rx_dropped++;   /* the guest posted a buffer too small */
		virtq_push(q, n->elem.head, 0);
		return 0;
	}
	iov_from_buf(virtq_elem_in(&n->elem), n->elem.nin, 0, n->rx_buf, len);
	virtq_push(q, n->elem.head, (uint32_t)len);
	return 0;
}

/* No buffers: stop watching the backend unless some arrived meanwhile. */
static bool rx_starved(struct virtio_net *n)
{
	struct virtq *q = &n->vdev.queues[RXQ];
	if (virtq_set_notify(q, true))
		return false;
	n->backend->ops->rx_watch(n->backend, false);
	return true;
}

static void rx_pump(struct virtio_net *n)
{
	struct virtq *q = &n->vdev.queues[RXQ];
	size_t max = NET_HDR_LEN + rx_frame_max(n);
	unsigned moved = 0;
	if (n->in_rx)
		return;
	n->in_rx = true;
	while (queue_live(n, RXQ) && moved < NET_RX_BUDGET) {
		if (!virtq_has_work(q) && rx_starved(n))
			break;
		/* Read whatever comes whole (a tap with a larger MTU than the
		 * guest's would otherwise hand over a cut frame), then drop
		 * what the guest's buffers are not sized for. */
		ssize_t len = n->backend->ops->receive(n->backend, n->rx_buf, sizeof(n->rx_buf));
		if (len <= 0)
			break;
		if ((size_t)len < NET_HDR_LEN + ETH_HLEN || (size_t)len > max) {
			n->rx_dropped++;
			continue;
		}
		if (rx_deliver(n, (size_t)len))
			break;
		moved++;
	}
	n->in_rx = false;
	if (moved)
		virtio_device_used(&n->vdev, RXQ);
}

void virtio_net_rx_ready_locked(struct virtio_net *n)
{
	rx_pump(n);
}

/* ---- transmit ---- */

static bool gso_allowed(const struct virtio_net *n, const struct virtio_net_hdr_v1 *h)
{
	uint8_t type = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !has(n, VIRTIO_NET_F_HOST_ECN))
		return false;
	switch (type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return !(h->gso_type & VIRTIO_NET_HDR_GSO_ECN);
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return has(n, VIRTIO_NET_F_HOST_TSO4) && le16toh(h->gso_size) > 0;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return has(n, VIRTIO_NET_F_HOST_TSO6) && le16toh(h->gso_size) > 0;
	default:
		return false;
	}
}

/* Whether a header (our copy) and a frame of `frame_len` bytes may go
 * out: only what was negotiated, offsets inside the frame. */
static bool tx_header_ok(const struct virtio_net *n, const struct virtio_net_hdr_v1 *h,
			 size_t frame_len)
{
	bool gso = h->gso_type != VIRTIO_NET_HDR_GSO_NONE;
	size_t max = gso ? NET_MAX_GSO_FRAME : n->mtu + ETH_HLEN + 4;
	if (frame_len < ETH_HLEN || frame_len > max)
		return false;
	if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return false;
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		size_t end = (size_t)le16toh(h->csum_start) + le16toh(h->csum_offset) + 2;
		if (!has(n, VIRTIO_NET_F_CSUM) || end > frame_len)
			return false;
	} else if (gso) {
		return false;   /* segmentation needs the checksum offload */
	}
	return gso_allowed(n, h);
}

/* The iovecs of e's readable buffers from byte `skip` on, into out[1..]:
 * out[0] is left for our copy of the header. Returns the count. */
static unsigned tx_iov_after(const struct virtq_elem *e, size_t skip, struct iovec *out)
{
	unsigned k = 1;
	for (unsigned i = 0; i < e->nout; i++) {
		size_t len = e->iov[i].iov_len;
		if (skip >= len) {
			skip -= len;
			continue;
		}
		out[k].iov_base = (uint8_t *)e->iov[i].iov_base + skip;
		out[k].iov_len = len - skip;
		skip = 0;
		k++;
	}
	return k;
}

/* One frame to the backend: 0 done (sent or dropped), 1 backend full. */
static int tx_one(struct virtio_net *n, struct virtq_elem *e)
{
	struct virtio_net_hdr_v1 hdr;
	if (e->out_len < NET_HDR_LEN + ETH_HLEN ||
	    iov_to_buf(e->iov, e->nout, 0, &hdr, sizeof(hdr)) != sizeof(hdr)) {
		n->tx_dropped++;
		return 0;
	}
	hdr.num_buffers = 0;
	size_t frame_len = e->out_len - NET_HDR_LEN;
	if (!tx_header_ok(n, &hdr, frame_len)) {
		n->tx_dropped++;
		return 0;
	}
	struct iovec iov[VIRTQ_MAX_SEGS + 1];
	iov[0] = (struct iovec){ .iov_base = &hdr, .iov_len = sizeof(hdr) };
	unsigned cnt = tx_iov_after(e, NET_HDR_LEN, iov);
	return n->backend->ops->transmit(n->backend, iov, cnt, NET_HDR_LEN + frame_len);
}

/* The next frame: the one the backend refused last, or a new one. */
static int tx_next(struct virtio_net *n)
{
	if (n->tx_has_pending)
		return 1;
	struct kvmini_error err = { 0 };
	int got = virtq_pop(&n->vdev.queues[TXQ], &n->tx_pending, &err);
	if (got < 0)
		virtio_device_fail(&n->vdev, &err);
	return got;
}

/* Every frame the guest posted, until the backend is full. */
static bool tx_drain(struct virtio_net *n)
{
	bool pushed = false;
	while (queue_live(n, TXQ) && !n->tx_blocked && tx_next(n) > 0) {
		if (tx_one(n, &n->tx_pending) == 1) {
			n->tx_has_pending = true;   /* back-pressure: wait for room */
			n->tx_blocked = true;
			break;
		}
		n->tx_has_pending = false;
		virtq_push(&n->vdev.queues[TXQ], n->tx_pending.head, 0);
		pushed = true;
	}
	return pushed;
}

/* Kicks stay off while draining and while blocked; turning them back
 * on reports frames that arrived meanwhile, which are drained too. */
static void tx_pump(struct virtio_net *n)
{
	struct virtq *q = &n->vdev.queues[TXQ];
	bool pushed = false;
	if (n->in_tx)
		return;
	n->in_tx = true;
	virtq_set_notify(q, false);
	for (;;) {
		pushed |= tx_drain(n);
		if (n->tx_blocked || !queue_live(n, TXQ) || !virtq_set_notify(q, true))
			break;
		virtq_set_notify(q, false);
	}
	n->in_tx = false;
	if (pushed)
		virtio_device_used(&n->vdev, TXQ);
}

void virtio_net_tx_ready_locked(struct virtio_net *n)
{
	n->tx_blocked = false;
	tx_pump(n);
}

/* ---- link, config space ---- */

static void config_set_status(struct virtio_net *n)
{
	n->config.status = htole16(n->link_up ? VIRTIO_NET_S_LINK_UP : 0);
}

void virtio_net_set_link_locked(struct virtio_net *n, bool up)
{
	if (n->link_up == up)
		return;
	n->link_up = up;
	config_set_status(n);
	if (n->vdev.status & VIRTIO_CONFIG_S_DRIVER_OK)
		virtio_device_config_changed(&n->vdev);
}

static void net_config_read(void *dev, uint32_t off, void *buf, uint32_t len)
{
	struct virtio_net *n = dev;
	memcpy(buf, (const uint8_t *)&n->config + off, len);
}

/* ---- virtio_device_ops ---- */

/* The driver's offload choices must respect the specification's
 * dependencies; a driver that breaks them would hand us frames we said
 * we would never see. */
static bool features_consistent(const struct virtio_net *n)
{
	bool host_gso = has(n, VIRTIO_NET_F_HOST_TSO4) || has(n, VIRTIO_NET_F_HOST_TSO6) ||
			has(n, VIRTIO_NET_F_HOST_ECN);
	bool guest_gso = has(n, VIRTIO_NET_F_GUEST_TSO4) || has(n, VIRTIO_NET_F_GUEST_TSO6) ||
			 has(n, VIRTIO_NET_F_GUEST_ECN);
	return (!host_gso || has(n, VIRTIO_NET_F_CSUM)) &&
	       (!guest_gso || has(n, VIRTIO_NET_F_GUEST_CSUM));
}

static int net_start(void *dev, struct kvmini_error *err)
{
	struct virtio_net *n = dev;
	if (!features_consistent(n))
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "the driver asked for segmentation without checksum offload");
	if (n->backend->ops->configure(n->backend, n->vdev.driver_features, err))
		return -1;
	n->backend->ops->rx_watch(n->backend, n->link_up);
	return 0;
}

static void net_kick(void *dev, unsigned q)
{
	struct virtio_net *n = dev;
	if (q == TXQ) {
		tx_pump(n);
	} else if (q == RXQ && n->link_up) {
		n->backend->ops->rx_watch(n->backend, true);
		rx_pump(n);
	}
}

/* Under the lock on a vCPU thread: forget the queues' elements, stop
 * watching; nothing here waits. */
static void net_reset(void *dev)
{
	struct virtio_net *n = dev;
	n->tx_blocked = false;
	n->tx_has_pending = false;
	n->backend->ops->rx_watch(n->backend, false);
}

/* The frame the backend had no room for goes back to the ring (it was
 * the last one taken): the restored card sends it. */
static void net_quiesce(void *dev)
{
	struct virtio_net *n = dev;
	if (n->tx_has_pending)
		virtq_unpop(&n->vdev.queues[TXQ]);
	n->tx_has_pending = false;
	n->tx_blocked = false;
}

static void net_destroy(void *dev)
{
	struct virtio_net *n = dev;
	n->backend->ops->destroy(n->backend);
	free(n);
}

static const struct virtio_device_ops net_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.config_read = net_config_read,
	.start = net_start,
	.queue_kick = net_kick,
	.reset = net_reset,
	.quiesce = net_quiesce,
	.destroy = net_destroy,
};

/* ---- creation ---- */

/* A stable locally administered unicast MAC from the card's description
 * (FNV-1a over its place among the cards, backend and name), so a guest
 * sees the same addresses on every run without one being given, and two
 * cards never share one. */
static void mac_generate(const struct kvmini_net *cfg, unsigned index, uint8_t mac[6])
{
	const char *key = cfg->backend == KVMINI_NET_TAP ? cfg->tap_name : cfg->hostfwd;
	uint32_t h = 2166136261u ^ (uint32_t)cfg->backend;
	for (const char *p = key ? key : ""; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	mac[0] = 0x02;
	mac[1] = 0x6b;   /* 'k' */
	mac[2] = (uint8_t)index;
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

/* Which of the config's cards this is (0 when it is not in the array). */
static unsigned card_index(const struct virtio_device_env *env, const struct kvmini_net *cfg)
{
	const struct kvmini_config *c = env->cfg;
	if (!c || !c->nets)
		return 0;
	/* As integers: cfg may point anywhere (a test's own card). */
	uintptr_t at = (uintptr_t)cfg, first = (uintptr_t)c->nets;
	if (at < first || (at - first) % sizeof(*cfg) || (at - first) / sizeof(*cfg) >= c->nnets)
		return 0;
	return (unsigned)((at - first) / sizeof(*cfg));
}

static void config_init(struct virtio_net *n, const struct kvmini_net *cfg, unsigned index)
{
	if (cfg->mac_set)
		memcpy(n->config.mac, cfg->mac, 6);
	else
		mac_generate(cfg, index, n->config.mac);
	n->config.mtu = htole16((uint16_t)n->mtu);
	n->config.max_virtqueue_pairs = htole16(1);
	config_set_status(n);
}

static net_backend_create_fn *backend_for(const struct kvmini_net *cfg)
{
	switch (cfg->backend) {
	case KVMINI_NET_TAP:
		return net_tap_create;
	case KVMINI_NET_USER:
		return net_user_create;
	}
	return NULL;
}

struct virtio_device *virtio_net_create_with(const struct virtio_device_env *env,
					     const struct kvmini_net *cfg,
					     net_backend_create_fn *create, struct kvmini_error *err)
{
	if (cfg->mtu && (cfg->mtu < 68 || cfg->mtu > 65535 - ETH_HLEN)) {
		kvmini_fail(err, KVMINI_E_USAGE, "net: mtu %u is outside 68..65521", cfg->mtu);
		return NULL;
	}
	struct virtio_net *n = calloc(1, sizeof(*n));
	if (!n) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for a virtio-net card");
		return NULL;
	}
	n->mtu = cfg->mtu ? cfg->mtu : 1500;
	n->link_up = true;
	config_init(n, cfg, card_index(env, cfg));
	/* The lock first: the backend's callbacks may take it. */
	virtio_device_init(&n->vdev, &net_ops, n, NET_BASE_FEATURES,
			   offsetof(struct virtio_net_config, mtu) + sizeof(n->config.mtu), NQUEUES,
			   NET_QUEUE_SIZE);
	struct net_backend proto = { .card = n, .loop = env->loop, .log_fd = env->log_fd };
	n->backend = create(cfg, &proto, err);
	if (!n->backend) {
		pthread_mutex_destroy(&n->vdev.lock);
		free(n);
		return NULL;
	}
	n->vdev.device_features |= n->backend->ops->features;
	return &n->vdev;
}

struct virtio_device *virtio_net_create(const struct virtio_device_env *env, const void *arg,
					struct kvmini_error *err)
{
	const struct kvmini_net *cfg = arg;
	net_backend_create_fn *create = backend_for(cfg);
	if (!create) {
		kvmini_fail(err, KVMINI_E_USAGE, "net: unknown backend %d", (int)cfg->backend);
		return NULL;
	}
	return virtio_net_create_with(env, cfg, create, err);
}
