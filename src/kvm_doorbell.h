/* Layer 1, beside kvm.h: KVM's asynchronous doorbells, on raw VM fds.
 *
 *   ioeventfd: a guest write to a port or MMIO address (optionally only
 *     of one value) signals an eventfd inside KVM: no exit to user space,
 *     the vCPU runs on, and whoever waits on the eventfd (the event loop)
 *     does the work.
 *   irqfd: writing an eventfd raises a GSI inside KVM, with no vCPU
 *     ioctl and from any thread. With a resample eventfd the GSI is a
 *     level-triggered line: KVM keeps it asserted until the guest's EOI,
 *     then lowers it and signals the resample fd, so the device can
 *     assert it again if its condition still holds. Resampling needs
 *     KVM's own IOAPIC (--irqchip kernel).
 *   GSI routes: KVM_SET_GSI_ROUTING replaces the whole table, so the VM
 *     keeps one table (struct kvm_gsi_routes) and every user changes its
 *     own GSIs' entries in it: the in-kernel chip's ISA routes, the split
 *     chip's IOAPIC pins (MSI routes, GSI = pin), and GSIs handed out
 *     above those for MSIs (virtio MSI-X, say), each usable by irqfd. */
#ifndef KVMINI_KVM_DOORBELL_H
#define KVMINI_KVM_DOORBELL_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "error.h"

struct kvm_doorbell {
	bool pio;            /* a port; otherwise an MMIO address */
	uint64_t addr;
	unsigned len;        /* bytes the guest writes: 1, 2, 4 or 8 (MMIO: 0 = any) */
	bool datamatch;      /* signal only writes of `data` */
	uint64_t data;
};

int kvm_ioeventfd_assign(int vm_fd, int efd, const struct kvm_doorbell *d,
			 struct kvmini_error *err);
/* With the same fd and doorbell as assigned. */
int kvm_ioeventfd_deassign(int vm_fd, int efd, const struct kvm_doorbell *d,
			   struct kvmini_error *err);

/* resample_fd < 0: an edge (each write, one interrupt). */
int kvm_irqfd_assign(int vm_fd, int efd, unsigned gsi, int resample_fd,
		     struct kvmini_error *err);
int kvm_irqfd_deassign(int vm_fd, int efd, unsigned gsi, struct kvmini_error *err);

/* The VM's GSI routing table. GSIs below `reserved` are the interrupt
 * controllers' (the IOAPIC's pins); kvm_gsi_alloc() hands out the rest.
 * Any thread; changes are serialised by the table's lock. */
struct kvm_gsi_routes {
	int vm_fd;
	unsigned reserved;
	unsigned limit;                          /* GSIs are below this */
	pthread_mutex_t lock;
	struct kvm_irq_routing_entry *entries;   /* KVM's order does not matter */
	unsigned count, capacity;
	uint8_t *allocated;                      /* one byte per GSI >= reserved */
	bool live;                               /* initialised: free it */
};

int kvm_gsi_routes_init(struct kvm_gsi_routes *r, int vm_fd, unsigned reserved,
			struct kvmini_error *err);
/* A table never initialised (all zero) is fine. */
void kvm_gsi_routes_free(struct kvm_gsi_routes *r);
/* Replace every entry of each GSI named in entries[0..n) by those
 * entries (a GSI may have several: the in-kernel chip routes one to the
 * 8259 and the IOAPIC), keep the other GSIs' entries, and give KVM the
 * whole table. On failure the table is as before. */
int kvm_gsi_routes_update(struct kvm_gsi_routes *r, const struct kvm_irq_routing_entry *entries,
			  unsigned n, struct kvmini_error *err);
/* A GSI of one's own, with no route yet (route it with
 * kvm_gsi_route_msi()), and its return (its entries go too). */
int kvm_gsi_alloc(struct kvm_gsi_routes *r, unsigned *gsi, struct kvmini_error *err);
int kvm_gsi_release(struct kvm_gsi_routes *r, unsigned gsi, struct kvmini_error *err);
int kvm_gsi_route_msi(struct kvm_gsi_routes *r, unsigned gsi, uint64_t address, uint32_t data,
		      struct kvmini_error *err);
/* How many entries GSI `gsi` has now (for tests and diagnostics). */
unsigned kvm_gsi_routes_count(struct kvm_gsi_routes *r, unsigned gsi);
/* The arithmetic of kvm_gsi_routes_update(), without KVM: into out
 * (room for n_old + n_new), the old entries whose GSI the new ones do
 * not name, then the new ones; returns how many. */
unsigned kvm_gsi_routes_merge(const struct kvm_irq_routing_entry *old, unsigned n_old,
			      const struct kvm_irq_routing_entry *add, unsigned n_add,
			      struct kvm_irq_routing_entry *out);

#endif
