#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "kvm.h"
#include "kvm_doorbell.h"

/* More GSIs than any kvmini board will hand out; bounds the table. */
#define GSI_LIMIT_MAX 1024

/* ---- ioeventfd ---- */

static int doorbell_check(const struct kvm_doorbell *d, struct kvmini_error *err)
{
	bool sized = d->len == 1 || d->len == 2 || d->len == 4 || d->len == 8;
	/* KVM matches "any length" only on MMIO, and then cannot match data. */
	if (!sized && !(d->len == 0 && !d->pio && !d->datamatch))
		return kvmini_fail(err, KVMINI_E_USAGE, "a %s doorbell at 0x%llx cannot be %u bytes wide",
				   d->pio ? "port" : "MMIO", (unsigned long long)d->addr, d->len);
	return 0;
}

static int ioeventfd(int vm_fd, int efd, const struct kvm_doorbell *d, uint32_t flags,
		     struct kvmini_error *err)
{
	if (doorbell_check(d, err) < 0)
		return -1;
	struct kvm_ioeventfd io = {
		.datamatch = d->datamatch ? d->data : 0, .addr = d->addr, .len = d->len, .fd = efd,
		.flags = flags | (d->pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
			 (d->datamatch ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0),
	};
	return KVM_IOCTL(vm_fd, KVM_IOEVENTFD, &io, err) < 0 ? -1 : 0;
}

int kvm_ioeventfd_assign(int vm_fd, int efd, const struct kvm_doorbell *d,
			 struct kvmini_error *err)
{
	return ioeventfd(vm_fd, efd, d, 0, err);
}

int kvm_ioeventfd_deassign(int vm_fd, int efd, const struct kvm_doorbell *d,
			   struct kvmini_error *err)
{
	return ioeventfd(vm_fd, efd, d, KVM_IOEVENTFD_FLAG_DEASSIGN, err);
}

/* ---- irqfd ---- */

int kvm_irqfd_assign(int vm_fd, int efd, unsigned gsi, int resample_fd,
		     struct kvmini_error *err)
{
	struct kvm_irqfd irq = { .fd = (uint32_t)efd, .gsi = gsi };
	if (resample_fd >= 0) {
		irq.flags = KVM_IRQFD_FLAG_RESAMPLE;
		irq.resamplefd = (uint32_t)resample_fd;
	}
	return KVM_IOCTL(vm_fd, KVM_IRQFD, &irq, err) < 0 ? -1 : 0;
}

int kvm_irqfd_deassign(int vm_fd, int efd, unsigned gsi, struct kvmini_error *err)
{
	struct kvm_irqfd irq = { .fd = (uint32_t)efd, .gsi = gsi, .flags = KVM_IRQFD_FLAG_DEASSIGN };
	return KVM_IOCTL(vm_fd, KVM_IRQFD, &irq, err) < 0 ? -1 : 0;
}

/* ---- the GSI routing table ---- */

int kvm_gsi_routes_init(struct kvm_gsi_routes *r, int vm_fd, unsigned reserved,
			struct kvmini_error *err)
{
	memset(r, 0, sizeof(*r));
	r->vm_fd = vm_fd;
	r->reserved = reserved;
	int routes = kvm_cap_value(vm_fd, KVM_CAP_IRQ_ROUTING);
	r->limit = routes > (int)reserved ? (unsigned)routes : reserved;
	if (r->limit > GSI_LIMIT_MAX)
		r->limit = GSI_LIMIT_MAX;
	pthread_mutex_init(&r->lock, NULL);
	r->live = true;
	if (r->limit > reserved && !(r->allocated = calloc(r->limit - reserved, 1)))
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for the GSI table");
	return 0;
}

void kvm_gsi_routes_free(struct kvm_gsi_routes *r)
{
	if (!r->live)
		return;
	r->live = false;
	free(r->entries);
	free(r->allocated);
	r->entries = NULL;
	r->allocated = NULL;
	r->count = r->capacity = 0;
	pthread_mutex_destroy(&r->lock);
}

static bool names_gsi(const struct kvm_irq_routing_entry *e, unsigned n, unsigned gsi)
{
	for (unsigned i = 0; i < n; i++)
		if (e[i].gsi == gsi)
			return true;
	return false;
}

unsigned kvm_gsi_routes_merge(const struct kvm_irq_routing_entry *old, unsigned n_old,
			      const struct kvm_irq_routing_entry *add, unsigned n_add,
			      struct kvm_irq_routing_entry *out)
{
	unsigned n = 0;
	for (unsigned i = 0; i < n_old; i++)
		if (!names_gsi(add, n_add, old[i].gsi))
			out[n++] = old[i];
	memcpy(out + n, add, n_add * sizeof(*add));
	return n + n_add;
}

/* KVM_SET_GSI_ROUTING with the whole table; `entries` becomes the
 * table only if KVM took it. r->lock held. */
static int commit(struct kvm_gsi_routes *r, struct kvm_irq_routing_entry *entries, unsigned n,
		  struct kvmini_error *err)
{
	struct kvm_irq_routing *table = calloc(1, sizeof(*table) + n * sizeof(*entries));
	if (!table) {
		free(entries);
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for the GSI table");
	}
	table->nr = n;
	memcpy(table->entries, entries, n * sizeof(*entries));
	int rc = KVM_IOCTL(r->vm_fd, KVM_SET_GSI_ROUTING, table, err);
	free(table);
	if (rc < 0) {
		free(entries);
		return -1;
	}
	free(r->entries);
	r->entries = entries;
	r->count = r->capacity = n;
	return 0;
}

static int update_locked(struct kvm_gsi_routes *r, const struct kvm_irq_routing_entry *add,
			 unsigned n_add, struct kvmini_error *err)
{
	for (unsigned i = 0; i < n_add; i++)
		if (add[i].gsi >= r->limit)
			return kvmini_fail(err, KVMINI_E_HOST, "GSI %u is beyond this VM's %u",
					   add[i].gsi, r->limit);
	struct kvm_irq_routing_entry *next = calloc(r->count + n_add + 1, sizeof(*next));
	if (!next)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for the GSI table");
	unsigned n = kvm_gsi_routes_merge(r->entries, r->count, add, n_add, next);
	return commit(r, next, n, err);
}

int kvm_gsi_routes_update(struct kvm_gsi_routes *r, const struct kvm_irq_routing_entry *entries,
			  unsigned n, struct kvmini_error *err)
{
	pthread_mutex_lock(&r->lock);
	int rc = update_locked(r, entries, n, err);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int kvm_gsi_alloc(struct kvm_gsi_routes *r, unsigned *gsi, struct kvmini_error *err)
{
	pthread_mutex_lock(&r->lock);
	unsigned g = r->reserved;
	while (g < r->limit && r->allocated[g - r->reserved])
		g++;
	if (g < r->limit)
		r->allocated[g - r->reserved] = 1;
	pthread_mutex_unlock(&r->lock);
	if (g >= r->limit)
		return kvmini_fail(err, KVMINI_E_HOST, "no free GSI left (this VM has %u)", r->limit);
	*gsi = g;
	return 0;
}

static bool is_allocated(const struct kvm_gsi_routes *r, unsigned gsi)
{
	return gsi >= r->reserved && gsi < r->limit && r->allocated[gsi - r->reserved];
}

/* Drop every entry of `gsi`: merging a table without them. */
static int drop_locked(struct kvm_gsi_routes *r, unsigned gsi, struct kvmini_error *err)
{
	struct kvm_irq_routing_entry *next = calloc(r->count + 1, sizeof(*next));
	if (!next)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for the GSI table");
	unsigned n = 0;
	for (unsigned i = 0; i < r->count; i++)
		if (r->entries[i].gsi != gsi)
			next[n++] = r->entries[i];
	return commit(r, next, n, err);
}

int kvm_gsi_release(struct kvm_gsi_routes *r, unsigned gsi, struct kvmini_error *err)
{
	pthread_mutex_lock(&r->lock);
	int rc = 0;
	if (!is_allocated(r, gsi))
		rc = kvmini_fail(err, KVMINI_E_HOST, "GSI %u was not handed out", gsi);
	else if (names_gsi(r->entries, r->count, gsi))
		rc = drop_locked(r, gsi, err);
	if (rc == 0)
		r->allocated[gsi - r->reserved] = 0;
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int kvm_gsi_route_msi(struct kvm_gsi_routes *r, unsigned gsi, uint64_t address, uint32_t data,
		      struct kvmini_error *err)
{
	struct kvm_irq_routing_entry e = {
		.gsi = gsi, .type = KVM_IRQ_ROUTING_MSI,
		.u.msi = { .address_lo = (uint32_t)address, .address_hi = (uint32_t)(address >> 32),
			   .data = data },
	};
	pthread_mutex_lock(&r->lock);
	int rc = is_allocated(r, gsi) ? update_locked(r, &e, 1, err)
		 : kvmini_fail(err, KVMINI_E_HOST, "GSI %u was not handed out", gsi);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

unsigned kvm_gsi_routes_count(struct kvm_gsi_routes *r, unsigned gsi)
{
	pthread_mutex_lock(&r->lock);
	unsigned n = 0;
	for (unsigned i = 0; i < r->count; i++)
		n += r->entries[i].gsi == gsi;
	pthread_mutex_unlock(&r->lock);
	return n;
}
