/* Layer 6, virtio: the virtio-pci transport, modern only (virtio 1.x
 * section 4.1, <linux/virtio_pci.h>). One virtio device becomes one PCI
 * function on the host bridge (src/pci/pci.h): vendor 0x1af4, device
 * 0x1040 + the virtio device ID, revision 1.
 *
 * BAR 0 (32 KiB of memory) holds every register block, each announced
 * by a vendor capability (cfg_type, BAR, offset, length):
 *   0x0000 common configuration (struct virtio_pci_common_cfg)
 *   0x1000 ISR status (one byte; reading it clears it and INTA)
 *   0x2000 device configuration (the device's config space)
 *   0x3000 notifications: queue q at 0x3000 + 4 * q (multiplier 4)
 *   0x4000 MSI-X table (nqueues + 1 vectors), 0x5000 its pending bits
 * and a VIRTIO_PCI_CAP_PCI_CFG capability is the window to BAR 0 through
 * configuration space alone.
 *
 * Kicks: each queue has an eventfd the event loop watches; its callback
 * calls virtio_device_kick(). With KVM the board binds each queue's
 * notification address to it (an ioeventfd, no exit); a write that
 * arrives as an exit anyway is turned into a write of the same eventfd,
 * so a device never runs on a vCPU thread.
 *
 * Interrupts: with MSI-X enabled, the vector of the queue (or the
 * config vector) is sent through the board's MSI handle, or marked
 * pending while masked and sent when unmasked; a vector's message is
 * handed to the board (to route it: a KVM GSI and an irqfd) when its
 * entry is unmasked after a change. Without MSI-X, the ISR bit is set
 * and INTA asserted, until the driver reads the ISR.
 *
 * Locks: the device's lock (vdev->lock) guards the transport's state
 * too. Config space arrives under the PCI host's lock, which is taken
 * before the device's, never after. */
#ifndef KVMINI_VIRTIO_PCI_H
#define KVMINI_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/virtio_pci.h>
#include "error.h"
#include "pci/pci.h"
#include "virtio/virtio.h"

struct event_loop;

#define VIRTIO_PCI_VENDOR       0x1af4u
#define VIRTIO_PCI_DEVICE_BASE  0x1040u   /* + the virtio device ID */
#define VIRTIO_PCI_REVISION     1u
#define VIRTIO_PCI_SUBSYS_ID    0x0040u   /* >= 0x40: a modern-only device */

/* BAR 0's layout. */
#define VIRTIO_PCI_BAR          0u
#define VIRTIO_PCI_BAR_SIZE     0x8000u
#define VIRTIO_PCI_COMMON_OFF   0x0000u
#define VIRTIO_PCI_ISR_OFF      0x1000u
#define VIRTIO_PCI_DEVICE_OFF   0x2000u
#define VIRTIO_PCI_NOTIFY_OFF   0x3000u
#define VIRTIO_PCI_MSIX_OFF     0x4000u
#define VIRTIO_PCI_PBA_OFF      0x5000u
#define VIRTIO_PCI_REGION_SIZE  0x1000u
#define VIRTIO_PCI_NOTIFY_MULT  4u
#define VIRTIO_PCI_MAX_VECTORS  (VIRTIO_MAX_QUEUES + 1)

/* What the board gives the transport: MSI delivery and doorbells. Each
 * may be absent (tests, a VM without KVM): then no MSI-X is sent, and
 * every notification takes the exit path. */
struct virtio_pci_board_ops {
	/* Vector v now sends this message: route it (before any send). */
	int (*msi_route)(void *ctx, unsigned v, uint64_t address, uint32_t data);
	/* Send vector v (routed). With the device's lock held. */
	void (*msi_send)(void *ctx, unsigned v);
	/* Bind (on) or unbind efd to a guest's 2-byte write at MMIO addr. */
	int (*doorbell)(void *ctx, int efd, uint64_t addr, bool on);
};

struct virtio_pci_env {
	struct pci_host *host;
	unsigned slot;
	struct event_loop *loop;      /* kicks are read here */
	const struct guest_memory *mem;
	int log_fd;
	const struct virtio_pci_board_ops *board;
	void *board_ctx;
};

struct virtio_pci;

/* vdev on the PCI bus at env->slot: the device is reset and attached to
 * this transport until virtio_pci_destroy(). */
struct virtio_pci *virtio_pci_create(struct virtio_device *vdev, const struct virtio_pci_env *env,
				     struct kvmini_error *err);
/* Off the bus, kicks off the loop, the device reset and detached.
 * While no vCPU runs. NULL is fine. */
void virtio_pci_destroy(struct virtio_pci *t);

/* For tests: the PCI function. */
struct pci_function *virtio_pci_function(struct virtio_pci *t);

/* Snapshots, with the device's lock held and after the device's own
 * state (virtio_device_save/restore): the function's config space, the
 * selectors, the MSI-X vectors the driver assigned, the ISR, the MSI-X
 * table and pending bits. A restore checks each value as the guest's
 * writes are checked, routes the unmasked vectors again, sends what was
 * pending and unmasked, raises INTA again while the ISR has bits (INTx
 * mode), and kicks every enabled queue once, since a kick the saved VM
 * had not answered is in no state. The BARs go back on the bus with
 * the host's restore (pci_host_restore), after every function's. */
void virtio_pci_save(const struct virtio_pci *t, struct state_writer *w);
int virtio_pci_restore(struct virtio_pci *t, struct state_reader *r, struct kvmini_error *err);

#endif
