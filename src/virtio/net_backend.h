/* Layer 6, virtio: what a virtio-net card's backend (a tap device, the
 * user-mode network) provides, and what it may call back.
 *
 * Frames cross this interface with the virtio-net header in front
 * (struct virtio_net_hdr_v1, NET_HDR_LEN bytes): the tap reads and
 * writes it itself (IFF_VNET_HDR), the user-mode backend ignores it on
 * the way out and writes a zero one on the way in.
 *
 * Locking: every op is called with the card's virtio lock held. A
 * backend's own event-loop callbacks take it with virtio_net_lock()
 * before touching anything, then call the *_locked functions. The
 * device pulls received frames (ops->receive) only when the guest has
 * posted buffers, so a backend keeps them (the tap in the kernel, the
 * user backend in a bounded queue) and drops none while it has room. */
#ifndef KVMINI_VIRTIO_NET_BACKEND_H
#define KVMINI_VIRTIO_NET_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <linux/virtio_net.h>
#include "error.h"
#include "kvmini.h"

struct event_loop;
struct virtio_net;

/* VERSION_1 always carries num_buffers: the 12-byte header. */
#define NET_HDR_LEN sizeof(struct virtio_net_hdr_v1)
/* The largest frame (without header) with segmentation offloads. */
#define NET_MAX_GSO_FRAME 65550

struct net_backend;

struct net_backend_ops {
	const char *name;
	/* Offloads this backend honours (VIRTIO_NET_F_* bits). */
	uint64_t features;
	/* Send one frame: iov is the (checked) header then the frame, len
	 * bytes in all. 0: taken (sent or dropped); 1: the backend is full,
	 * call again with the same frame after virtio_net_tx_ready_locked(). */
	int (*transmit)(struct net_backend *be, const struct iovec *iov, unsigned n, size_t len);
	/* Copy the next waiting frame (header + frame) into buf: its length,
	 * 0 when none waits (or it was dropped as too large for cap). */
	ssize_t (*receive)(struct net_backend *be, void *buf, size_t cap);
	/* The guest has receive buffers (on) or has none left (off): watch
	 * for incoming frames or stop, so a full guest costs no wake-ups. */
	void (*rx_watch)(struct net_backend *be, bool on);
	/* The driver's features are final (DRIVER_OK): set the path up for
	 * them (the tap's header size and offloads). */
	int (*configure)(struct net_backend *be, uint64_t features, struct kvmini_error *err);
	void (*destroy)(struct net_backend *be);
};

struct net_backend {
	const struct net_backend_ops *ops;
	struct virtio_net *card;
	struct event_loop *loop;
	int log_fd;
};

/* A backend's constructor: cfg is the card's description, proto the
 * fields of struct net_backend the card fills (copy it into yours). */
typedef struct net_backend *net_backend_create_fn(const struct kvmini_net *cfg,
						  struct net_backend *proto,
						  struct kvmini_error *err);
net_backend_create_fn net_tap_create;
net_backend_create_fn net_user_create;

struct virtio_device_env;
/* A card on the backend `create` makes, whatever cfg->backend says: for
 * the fuzz target's in-memory backend (virtio_net_create picks tap or
 * user from cfg). */
struct virtio_device *virtio_net_create_with(const struct virtio_device_env *env,
					     const struct kvmini_net *cfg,
					     net_backend_create_fn *create, struct kvmini_error *err);

/* ---- for backends ---- */
/* One diagnostic line "kvmini: virtio-net: ..." to the log. */
void net_backend_log(const struct net_backend *be, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void virtio_net_lock(struct virtio_net *card);
void virtio_net_unlock(struct virtio_net *card);
/* With the lock: frames wait (pull them now); the backend has room
 * again after a transmit returned 1; the link went up or down. */
void virtio_net_rx_ready_locked(struct virtio_net *card);
void virtio_net_tx_ready_locked(struct virtio_net *card);
void virtio_net_set_link_locked(struct virtio_net *card, bool up);

#endif
