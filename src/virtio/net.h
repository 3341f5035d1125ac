/* Layer 6, virtio: virtio-net (one card per struct kvmini_net), on a tap
 * device (net_tap.c) or on user-mode networking (net_user.c). */
#ifndef KVMINI_VIRTIO_NET_H
#define KVMINI_VIRTIO_NET_H

#include "virtio/devices.h"

/* arg: a struct kvmini_net. */
virtio_create_fn virtio_net_create;

#endif
