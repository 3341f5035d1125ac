/* Layer 6, virtio: the virtio devices a config asks for, created in one
 * fixed order (disks, network cards, console, rng, vsock) so that the
 * guest sees the same device at the same place on every boot. Each
 * device file provides one constructor of type virtio_create_fn and one
 * line in devices.c's table; the board puts each device on a transport
 * (MMIO or PCI) and the device never learns which.
 *
 * Lifetime: the devices belong to the machine (they hold open disks,
 * taps, sockets), live across --on-reset restart (a restart resets
 * them) and are destroyed with it. */
#ifndef KVMINI_VIRTIO_DEVICES_H
#define KVMINI_VIRTIO_DEVICES_H

#include "kvmini.h"
#include "virtio/virtio.h"

struct event_loop;

#define VIRTIO_MAX_DEVICES 16

/* What a constructor gets besides its own argument. */
struct virtio_device_env {
	struct event_loop *loop;     /* backend fds and timers go here */
	int log_fd;
	const struct kvmini_config *cfg;
};

/* arg: the device's own description (a struct kvmini_disk, a struct
 * kvmini_net, ...; NULL for devices with none). Returns the device's
 * struct virtio_device (inside the device's own allocation). */
typedef struct virtio_device *virtio_create_fn(const struct virtio_device_env *env,
					       const void *arg, struct kvmini_error *err);

struct virtio_device_set {
	struct virtio_device *devs[VIRTIO_MAX_DEVICES];
	unsigned n;
};

/* Every device cfg asks for, in order; on failure none is left. */
int virtio_devices_create(struct virtio_device_set *set, const struct virtio_device_env *env,
			  struct kvmini_error *err);
/* Each device reset and destroyed (NULL-safe; set left empty). */
void virtio_devices_destroy(struct virtio_device_set *set);

#endif
