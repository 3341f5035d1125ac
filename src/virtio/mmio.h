/* Layer 6, virtio: the virtio-mmio transport, version 2 (virtio 1.x,
 * section 4.2; offsets and constants from <linux/virtio_mmio.h>). One
 * 4 KiB window per device: the registers below 0x100, the device's
 * config space from 0x100.
 *
 * Accesses: the control registers take 32-bit aligned accesses only
 * (others read all-ones and are ignored, as the specification lets a
 * device do); the config space takes 8-, 16- and 32-bit accesses, each
 * aligned to its size (a 64-bit field is two 32-bit halves). Legacy
 * (version 1) registers do not exist here.
 *
 * Kicks never run the device on a vCPU thread: each queue has an eventfd
 * the event loop watches and answers with virtio_device_kick(). The
 * board binds it to the QueueNotify register with an ioeventfd
 * (datamatch on the queue's index, so the guest's write does not even
 * exit); a write that does arrive here (no ioeventfd, or another value)
 * is turned into a write of the same eventfd.
 *
 * Interrupts: the device's interrupt sets a bit in InterruptStatus
 * (VRING or CONFIG) and writes the transport's interrupt eventfd, which
 * the board makes the device's line with irqfd_attach(). With a resample
 * fd (--irqchip kernel: a level-triggered line) KVM lowers the line at
 * the guest's EOI and signals it; the transport, on the event loop,
 * asserts the line again while bits remain unacknowledged, so the line
 * stays effectively high until InterruptACK clears the last bit. Without
 * one (--irqchip split) each interrupt is an edge: one pulse per event,
 * so no event is lost while the driver's handler runs. */
#ifndef KVMINI_VIRTIO_MMIO_H
#define KVMINI_VIRTIO_MMIO_H

#include <stdint.h>
#include "bus.h"
#include "error.h"
#include "memory.h"
#include "virtio/virtio.h"

struct event_loop;
struct virtio_mmio;

/* The window each device takes on the MMIO bus. */
#define VIRTIO_MMIO_WINDOW 0x1000u
/* "virt" and the only version served. */
#define VIRTIO_MMIO_MAGIC 0x74726976u
#define VIRTIO_MMIO_VERSION_MODERN 2u
/* VendorID: "kvmi" read as a little-endian word. */
#define VIRTIO_MMIO_VENDOR 0x696d766bu

/* The register file; the opaque is the struct virtio_mmio. */
extern const struct bus_device_ops virtio_mmio_bus_ops;

/* A transport for vdev on this boot: attaches to the device (its
 * interrupts come here) and watches the kick eventfds on loop. The
 * device is reset first: a new boot finds it as a driver expects. */
struct virtio_mmio *virtio_mmio_create(struct virtio_device *vdev,
				       const struct guest_memory *mem,
				       struct event_loop *loop, int log_fd,
				       struct kvmini_error *err);
/* Off the loop, the device reset and detached, the fds closed. After
 * the board took the fds off KVM. NULL is fine. */
void virtio_mmio_destroy(struct virtio_mmio *m);

struct virtio_device *virtio_mmio_device(const struct virtio_mmio *m);
/* Queue q's kick eventfd (for KVM's ioeventfd); -1 past the last queue. */
int virtio_mmio_kick_fd(const struct virtio_mmio *m, unsigned q);
/* The interrupt eventfd (for irqfd_attach()). */
int virtio_mmio_irq_fd(const struct virtio_mmio *m);
/* Create the resample eventfd and watch it on the loop, for a
 * level-triggered line; returns it (the transport's), or -1. */
int virtio_mmio_use_resample(struct virtio_mmio *m, struct kvmini_error *err);

/* Snapshots, with the device's lock held: the register selectors and
 * InterruptStatus, after the device's own state (virtio_device_save()).
 * A restore re-raises the line while InterruptStatus has bits, and
 * kicks every enabled queue once: a kick the saved VM's loop had not
 * yet answered is not in any state. */
void virtio_mmio_save(const struct virtio_mmio *m, struct state_writer *w);
int virtio_mmio_restore(struct virtio_mmio *m, struct state_reader *r, struct kvmini_error *err);

#endif
