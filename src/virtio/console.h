/* Layer 6, virtio: virtio-console (virtio 1.x, section 5.3), one port
 * (hvc0 in Linux), no MULTIPORT; the emergency-write register is offered.
 *
 * Output (the transmit queue, and the emergency register) goes to
 * cfg->vconsole_out_fd through a private non-blocking description
 * (devices/char_out.h) and never waits: what the fd does not take at
 * once waits in a 64 KiB buffer while the event loop watches the fd for
 * room (EPOLLOUT); past that, bytes are dropped. The guest's buffers are
 * always handed back at once, because Linux's hvc driver spins on a
 * vCPU until they are: holding them would hang the guest behind a stuck
 * reader.
 *
 * Input: cfg->vconsole_in_fd (a pipe, terminal or socket; it stays the
 * caller's) is read on the event loop into a 4 KiB staging buffer and
 * copied into the receive queue's buffers. With no buffer posted the fd
 * is no longer watched (its bytes wait in the kernel) until the driver
 * posts one (a kick), so a guest that does not read never makes the
 * loop spin. */
#ifndef KVMINI_VIRTIO_CONSOLE_H
#define KVMINI_VIRTIO_CONSOLE_H

#include "virtio/devices.h"

/* arg: unused (the fds come from env->cfg). */
virtio_create_fn virtio_console_create;

#endif
