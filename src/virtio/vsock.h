/* Layer 6, virtio: virtio-vsock with Firecracker's host side (a Unix
 * socket PATH for host-initiated streams, PATH_PORT for the guest's). */
#ifndef KVMINI_VIRTIO_VSOCK_H
#define KVMINI_VIRTIO_VSOCK_H

#include "virtio/devices.h"

/* arg: the struct kvmini_vsock (cfg->vsock). */
virtio_create_fn virtio_vsock_create;

#endif
