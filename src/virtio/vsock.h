/* Layer 6, virtio: virtio-vsock with Firecracker's host side (a Unix
 * socket PATH for host-initiated streams, PATH_PORT for the guest's). */
#ifndef KVMINI_VIRTIO_VSOCK_H
#define KVMINI_VIRTIO_VSOCK_H

#include "virtio/devices.h"

/* arg: the struct kvmini_vsock (cfg->vsock). */
virtio_create_fn virtio_vsock_create;

/* How long a host program may take to send its CONNECT line, and the
 * guest to answer the REQUEST, before the connection is dropped
 * (default 10 s; tests shorten it). */
void virtio_vsock_set_connect_timeout(struct virtio_device *vdev, uint64_t ns);

#endif
