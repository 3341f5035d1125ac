/* virtio-net's tap backend: an existing tap device (`ip tuntap add`),
 * opened with IFF_VNET_HDR so the guest's checksum and segmentation
 * offloads pass through the kernel, which honours them (the offloads
 * the guest accepts on receive are switched on with TUNSETOFFLOAD only
 * when negotiated).
 *
 * The fd is non-blocking and lives on the event loop: readable while
 * the guest has receive buffers, writable only while a transmit waits
 * for room (EAGAIN: back-pressure). A tap that goes away (ip link del)
 * reports an error: the link goes down and the fd is no longer watched,
 * so nothing spins; transmitted frames are then dropped. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include "event_loop.h"
#include "virtio/net_backend.h"

struct net_tap {
	struct net_backend be;
	int fd;
	char name[IFNAMSIZ];
	struct event_handler *handler;
	bool rx_on;       /* the guest has receive buffers */
	bool tx_wait;     /* a transmit waits for room */
	bool gone;        /* the device vanished */
};

static struct net_tap *tap_of(struct net_backend *be)
{
	return (struct net_tap *)be;
}

static void tap_watch(struct net_tap *t)
{
	uint32_t ev = 0;
	if (!t->gone)
		ev = (t->rx_on ? EPOLLIN : 0) | (t->tx_wait ? EPOLLOUT : 0);
	struct kvmini_error err = { 0 };
	if (event_loop_modify(t->be.loop, t->handler, ev, &err))
		net_backend_log(&t->be, "%s", err.msg);
}

/* The device was deleted: link down, stop watching. Returns whether a
 * transmit was waiting for room; the caller lets it go on (and drop)
 * unless it is the transmit itself (no re-entering the device there). */
static bool tap_vanish(struct net_tap *t)
{
	bool waited = t->tx_wait;
	if (t->gone)
		return false;
	t->gone = true;
	t->tx_wait = false;
	tap_watch(t);
	virtio_net_set_link_locked(t->be.card, false);
	return waited;
}

static void tap_ready(void *ctx, int fd, uint32_t events)
{
	(void)fd;
	struct net_tap *t = ctx;
	virtio_net_lock(t->be.card);
	if (events & (EPOLLERR | EPOLLHUP)) {
		if (tap_vanish(t))
			virtio_net_tx_ready_locked(t->be.card);
	} else {
		if ((events & EPOLLOUT) && t->tx_wait) {
			t->tx_wait = false;
			tap_watch(t);
			virtio_net_tx_ready_locked(t->be.card);
		}
		if (events & EPOLLIN)
			virtio_net_rx_ready_locked(t->be.card);
	}
	virtio_net_unlock(t->be.card);
}

static int tap_transmit(struct net_backend *be, const struct iovec *iov, unsigned n, size_t len)
{
	struct net_tap *t = tap_of(be);
	if (t->gone)
		return 0;
	(void)len;
	ssize_t w = writev(t->fd, iov, (int)n);
	if (w >= 0)
		return 0;
	if (errno == EAGAIN || errno == ENOBUFS) {
		t->tx_wait = true;
		tap_watch(t);
		return 1;
	}
	/* EBADFD: the device was deleted. Anything else (EINVAL from the
	 * kernel's own header checks, EIO while the interface is down)
	 * drops this frame only. */
	if (errno == EBADFD)
		tap_vanish(t);   /* nothing waits: this is the transmit */
	return 0;
}

static ssize_t tap_receive(struct net_backend *be, void *buf, size_t cap)
{
	struct net_tap *t = tap_of(be);
	if (t->gone)
		return 0;
	ssize_t r = read(t->fd, buf, cap);
	if (r >= 0)
		return r;
	if (errno == EBADFD && tap_vanish(t))
		virtio_net_tx_ready_locked(t->be.card);   /* the device was deleted */
	return 0;
}

static void tap_rx_watch(struct net_backend *be, bool on)
{
	struct net_tap *t = tap_of(be);
	if (t->rx_on == on)
		return;
	t->rx_on = on;
	tap_watch(t);
}

/* The receive offloads the guest accepts become the tap's. */
static unsigned tap_offloads(uint64_t features)
{
	unsigned off = 0;
	if (features & (1ull << VIRTIO_NET_F_GUEST_CSUM)) {
		off |= TUN_F_CSUM;
		if (features & (1ull << VIRTIO_NET_F_GUEST_TSO4))
			off |= TUN_F_TSO4;
		if (features & (1ull << VIRTIO_NET_F_GUEST_TSO6))
			off |= TUN_F_TSO6;
		if ((off & (TUN_F_TSO4 | TUN_F_TSO6)) &&
		    (features & (1ull << VIRTIO_NET_F_GUEST_ECN)))
			off |= TUN_F_TSO_ECN;
	}
	return off;
}

static int tap_configure(struct net_backend *be, uint64_t features, struct kvmini_error *err)
{
	struct net_tap *t = tap_of(be);
	int hdr = (int)NET_HDR_LEN;
	if (t->gone)
		return 0;   /* the link is down; the guest sees that */
	if (ioctl(t->fd, TUNSETVNETHDRSZ, &hdr))
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "tap %s: TUNSETVNETHDRSZ", t->name);
	if (ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)tap_offloads(features)))
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "tap %s: TUNSETOFFLOAD", t->name);
	return 0;
}

static void tap_destroy(struct net_backend *be)
{
	struct net_tap *t = tap_of(be);
	event_loop_remove(t->be.loop, t->handler);
	close(t->fd);
	free(t);
}

static const struct net_backend_ops tap_ops = {
	.name = "tap",
	.features = (1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_GUEST_CSUM) |
		    (1ull << VIRTIO_NET_F_GUEST_TSO4) | (1ull << VIRTIO_NET_F_GUEST_TSO6) |
		    (1ull << VIRTIO_NET_F_GUEST_ECN) | (1ull << VIRTIO_NET_F_HOST_TSO4) |
		    (1ull << VIRTIO_NET_F_HOST_TSO6) | (1ull << VIRTIO_NET_F_HOST_ECN),
	.transmit = tap_transmit,
	.receive = tap_receive,
	.rx_watch = tap_rx_watch,
	.configure = tap_configure,
	.destroy = tap_destroy,
};

static int tap_open(struct net_tap *t, struct kvmini_error *err)
{
	if (!if_nametoindex(t->name))
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "no network device %s: create the tap first "
				   "(ip tuntap add dev %s mode tap user $USER; ip link set %s up)",
				   t->name, t->name, t->name);
	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot open /dev/net/tun");
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	memcpy(ifr.ifr_name, t->name, sizeof(t->name));
	if (ioctl(t->fd, TUNSETIFF, &ifr)) {
		int e = errno;
		return kvmini_fail_errno(err, e == EBUSY ? KVMINI_E_USAGE : KVMINI_E_HOST, e,
					 "cannot attach to tap %s (%s)", t->name,
					 e == EBUSY ? "another process holds it"
					 : e == EPERM ? "create it with user=$USER, or run as root"
					 : e == EINVAL ? "is it a tun device rather than a tap?"
					 : "TUNSETIFF");
	}
	int hdr = (int)NET_HDR_LEN;
	if (ioctl(t->fd, TUNSETVNETHDRSZ, &hdr))
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "tap %s: TUNSETVNETHDRSZ", t->name);
	return 0;
}

/* Registered, then paused: the device asks for frames when it can take
 * them (event_loop_add of an empty mask would still report errors). */
static int tap_register(struct net_tap *t, struct kvmini_error *err)
{
	t->handler = event_loop_add(t->be.loop, t->fd, EPOLLIN, tap_ready, t, err);
	if (!t->handler)
		return -1;
	return event_loop_modify(t->be.loop, t->handler, 0, err);
}

struct net_backend *net_tap_create(const struct kvmini_net *cfg, struct net_backend *proto,
				   struct kvmini_error *err)
{
	if (!cfg->tap_name || !*cfg->tap_name || strlen(cfg->tap_name) >= IFNAMSIZ) {
		kvmini_fail(err, KVMINI_E_USAGE, "net: a tap name of 1 to %d characters is needed",
			    IFNAMSIZ - 1);
		return NULL;
	}
	struct net_tap *t = calloc(1, sizeof(*t));
	if (!t) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for a tap backend");
		return NULL;
	}
	t->be = *proto;
	t->be.ops = &tap_ops;
	t->fd = -1;
	snprintf(t->name, sizeof(t->name), "%s", cfg->tap_name);
	if (tap_open(t, err) || tap_register(t, err)) {
		event_loop_remove(t->be.loop, t->handler);
		if (t->fd >= 0)
			close(t->fd);
		free(t);
		return NULL;
	}
	return &t->be;
}
