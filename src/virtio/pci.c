/* The virtio-pci modern transport (pci.h). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "event_loop.h"
#include "virtio/pci.h"

/* The ISR's queue bit: the header names only the config bit (0x2). */
#define ISR_QUEUE 0x1

struct msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
	bool dirty;                   /* changed since the board routed it */
};

struct virtio_pci {
	struct virtio_device *vdev;
	struct pci_function fn;
	struct virtio_pci_env env;
	unsigned cap_pcicfg, cap_msix;   /* offsets in config space */
	unsigned nvec;

	/* Under vdev->lock. */
	uint32_t dfselect, gfselect;
	uint16_t queue_select;
	uint16_t msix_config, queue_vector[VIRTIO_MAX_QUEUES];
	uint8_t isr;
	bool msix_enabled, msix_masked;
	struct msix_entry table[VIRTIO_PCI_MAX_VECTORS];
	uint32_t pba;

	/* Kicks: constant once created. */
	int kick_fd[VIRTIO_MAX_QUEUES];
	struct event_handler *kick[VIRTIO_MAX_QUEUES];
	/* Doorbells: changed only by the PCI host's mapper. */
	bool doorbells_on;
	uint64_t doorbell_base;
};

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t le_value(const uint8_t *p, uint32_t len)
{
	uint64_t v = 0;
	for (uint32_t i = len; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

/* ---- interrupts ---- */

static bool vector_masked(const struct virtio_pci *t, unsigned v)
{
	return t->msix_masked || (t->table[v].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

static void vector_route(struct virtio_pci *t, unsigned v)
{
	struct msix_entry *e = &t->table[v];
	const struct virtio_pci_board_ops *b = t->env.board;
	if (!e->dirty || !b || !b->msi_route)
		return;
	e->dirty = false;
	b->msi_route(t->env.board_ctx, v, (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data);
}

/* Send vector v, or keep it pending while it is masked. */
static void vector_fire(struct virtio_pci *t, unsigned v)
{
	const struct virtio_pci_board_ops *b = t->env.board;
	if (vector_masked(t, v)) {
		t->pba |= 1u << v;
		return;
	}
	t->pba &= ~(1u << v);
	vector_route(t, v);
	if (b && b->msi_send)
		b->msi_send(t->env.board_ctx, v);
}

/* What became unmasked sends what waited. */
static void vectors_flush(struct virtio_pci *t)
{
	for (unsigned v = 0; v < t->nvec; v++) {
		if (!t->msix_enabled || vector_masked(t, v))
			continue;
		vector_route(t, v);
		if (t->pba & (1u << v))
			vector_fire(t, v);
	}
}

static void transport_interrupt(void *ctx, enum virtio_interrupt what, unsigned q)
{
	struct virtio_pci *t = ctx;
	if (t->msix_enabled) {
		uint16_t v = what == VIRTIO_INTERRUPT_QUEUE && q < VIRTIO_MAX_QUEUES
				     ? t->queue_vector[q] : t->msix_config;
		if (v < t->nvec)
			vector_fire(t, v);
		return;
	}
	t->isr |= what == VIRTIO_INTERRUPT_QUEUE ? ISR_QUEUE : VIRTIO_PCI_ISR_CONFIG;
	pci_function_set_intx(&t->fn, true);
}

static const struct virtio_transport_ops transport_ops = { .interrupt = transport_interrupt };

/* ---- common configuration ---- */

#define COMMON(field) offsetof(struct virtio_pci_common_cfg, field)

static struct virtq *selected(struct virtio_pci *t)
{
	return t->queue_select < t->vdev->nqueues ? &t->vdev->queues[t->queue_select] : NULL;
}

static void common_image(struct virtio_pci *t, struct virtio_pci_common_cfg *c)
{
	struct virtio_device *vdev = t->vdev;
	struct virtq *vq = selected(t);
	uint64_t offered = virtio_device_offered(vdev);
	memset(c, 0, sizeof(*c));
	c->device_feature_select = t->dfselect;
	c->device_feature = t->dfselect < 2 ? (uint32_t)(offered >> (32 * t->dfselect)) : 0;
	c->guest_feature_select = t->gfselect;
	c->guest_feature =
		t->gfselect < 2 ? (uint32_t)(vdev->driver_features >> (32 * t->gfselect)) : 0;
	c->msix_config = t->msix_config;
	c->num_queues = (uint16_t)vdev->nqueues;
	c->device_status = vdev->status;
	c->config_generation = (uint8_t)vdev->config_generation;
	c->queue_select = t->queue_select;
	if (!vq)
		return;   /* queue_size 0: no such queue */
	c->queue_size = vq->size;
	c->queue_msix_vector = t->queue_vector[t->queue_select];
	c->queue_enable = vq->enabled;
	c->queue_notify_off = t->queue_select;
	c->queue_desc_lo = (uint32_t)vq->desc_gpa;
	c->queue_desc_hi = (uint32_t)(vq->desc_gpa >> 32);
	c->queue_avail_lo = (uint32_t)vq->avail_gpa;
	c->queue_avail_hi = (uint32_t)(vq->avail_gpa >> 32);
	c->queue_used_lo = (uint32_t)vq->used_gpa;
	c->queue_used_hi = (uint32_t)(vq->used_gpa >> 32);
}

static void common_read(struct virtio_pci *t, uint64_t off, uint8_t *data, uint32_t len)
{
	struct virtio_pci_common_cfg c;
	common_image(t, &c);
	memset(data, 0, len);
	if (off < sizeof(c))
		memcpy(data, (uint8_t *)&c + off, len < sizeof(c) - off ? len : sizeof(c) - off);
}

/* A vector the transport has, or NO_VECTOR (which the driver reads back
 * to learn the assignment failed). */
static uint16_t vector_checked(const struct virtio_pci *t, uint64_t v)
{
	return v < t->nvec ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
}

static void transport_reset(struct virtio_pci *t)
{
	t->dfselect = t->gfselect = 0;
	t->queue_select = 0;
	t->msix_config = VIRTIO_MSI_NO_VECTOR;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		t->queue_vector[q] = VIRTIO_MSI_NO_VECTOR;
	/* queue_size reads the maximum until the driver picks a size. */
	for (unsigned q = 0; q < t->vdev->nqueues; q++)
		t->vdev->queues[q].size = t->vdev->queue_max;
	t->isr = 0;
	pci_function_set_intx(&t->fn, false);
}

static void gpa_half(gpa_t *gpa, bool high, uint32_t v)
{
	unsigned shift = high ? 32 : 0;
	*gpa = (*gpa & ~(0xffffffffull << shift)) | (uint64_t)v << shift;
}

/* The selected queue's registers: only until it is enabled. */
static void queue_write(struct virtio_pci *t, uint64_t off, uint32_t v)
{
	struct virtq *vq = selected(t);
	if (!vq || vq->enabled)
		return;
	switch (off) {
	case COMMON(queue_size):
		if (v >= 1 && v <= t->vdev->queue_max)
			vq->size = (uint16_t)v;
		break;
	case COMMON(queue_msix_vector):
		t->queue_vector[t->queue_select] = vector_checked(t, v);
		break;
	case COMMON(queue_enable):
		if (v == 1)
			virtio_device_enable_queue(t->vdev, t->queue_select);
		break;
	case COMMON(queue_desc_lo): case COMMON(queue_desc_hi):
		gpa_half(&vq->desc_gpa, off == COMMON(queue_desc_hi), v);
		break;
	case COMMON(queue_avail_lo): case COMMON(queue_avail_hi):
		gpa_half(&vq->avail_gpa, off == COMMON(queue_avail_hi), v);
		break;
	case COMMON(queue_used_lo): case COMMON(queue_used_hi):
		gpa_half(&vq->used_gpa, off == COMMON(queue_used_hi), v);
		break;
	}
}

static void status_write(struct virtio_pci *t, uint8_t status)
{
	virtio_device_write_status(t->vdev, status);
	if (status == 0)
		transport_reset(t);
}

/* Each field is written with its own width at its own offset (the
 * specification's rule for drivers); anything else is dropped. */
static unsigned common_width(uint64_t off)
{
	switch (off) {
	case COMMON(device_status): case COMMON(config_generation):
		return 1;
	case COMMON(msix_config): case COMMON(num_queues): case COMMON(queue_select):
	case COMMON(queue_size): case COMMON(queue_msix_vector): case COMMON(queue_enable):
	case COMMON(queue_notify_off):
		return 2;
	default:
		return off < sizeof(struct virtio_pci_common_cfg) && off % 4 == 0 ? 4 : 0;
	}
}

static void common_write(struct virtio_pci *t, uint64_t off, const uint8_t *data, uint32_t len)
{
	if (common_width(off) != len)
		return;
	uint32_t v = (uint32_t)le_value(data, len);
	switch (off) {
	case COMMON(device_feature_select): t->dfselect = v; break;
	case COMMON(guest_feature_select): t->gfselect = v; break;
	case COMMON(guest_feature):
		virtio_device_write_features(t->vdev, t->gfselect, v);
		break;
	case COMMON(msix_config): t->msix_config = vector_checked(t, v); break;
	case COMMON(device_status): status_write(t, (uint8_t)v); break;
	case COMMON(queue_select): t->queue_select = (uint16_t)v; break;
	default: queue_write(t, off, v); break;
	}
}

/* ---- ISR, notifications, MSI-X table ---- */

static uint8_t isr_read(struct virtio_pci *t)
{
	uint8_t isr = t->isr;
	t->isr = 0;
	pci_function_set_intx(&t->fn, false);
	return isr;
}

static void kick_ring(struct virtio_pci *t, uint64_t off)
{
	unsigned q = (unsigned)(off / VIRTIO_PCI_NOTIFY_MULT);
	uint64_t one = 1;
	if (off % VIRTIO_PCI_NOTIFY_MULT || q >= t->vdev->nqueues)
		return;
	if (write(t->kick_fd[q], &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, so a kick is waiting anyway */
	}
}

static void msix_table_read(struct virtio_pci *t, uint64_t off, uint8_t *data, uint32_t len)
{
	unsigned v = (unsigned)(off / PCI_MSIX_ENTRY_SIZE), word = (unsigned)(off % 16) / 4;
	if (len != 4 || off % 4 || v >= t->nvec)
		return;   /* zeros: the spec allows only dwords (and qwords, unused by Linux) */
	const struct msix_entry *e = &t->table[v];
	uint32_t words[4] = { e->addr_lo, e->addr_hi, e->data, e->ctrl };
	put_le32(data, words[word]);
}

static void msix_table_write(struct virtio_pci *t, uint64_t off, const uint8_t *data,
			     uint32_t len)
{
	unsigned v = (unsigned)(off / PCI_MSIX_ENTRY_SIZE), word = (unsigned)(off % 16) / 4;
	if (len != 4 || off % 4 || v >= t->nvec)
		return;
	struct msix_entry *e = &t->table[v];
	uint32_t val = le32(data);
	switch (word) {
	case 0: e->dirty |= e->addr_lo != (val & ~3u); e->addr_lo = val & ~3u; break;
	case 1: e->dirty |= e->addr_hi != val; e->addr_hi = val; break;
	case 2: e->dirty |= e->data != val; e->data = val; break;
	case 3:
		e->ctrl = val & PCI_MSIX_ENTRY_CTRL_MASKBIT;
		vectors_flush(t);
		break;
	}
}

/* ---- BAR 0 ---- */

static void bar_read_locked(struct virtio_pci *t, uint64_t off, uint8_t *data, uint32_t len)
{
	uint64_t region = off / VIRTIO_PCI_REGION_SIZE * VIRTIO_PCI_REGION_SIZE, in = off - region;
	memset(data, 0, len);
	if (in + len > VIRTIO_PCI_REGION_SIZE)
		return;
	switch (region) {
	case VIRTIO_PCI_COMMON_OFF: common_read(t, in, data, len); break;
	case VIRTIO_PCI_ISR_OFF: if (in == 0) data[0] = isr_read(t); break;
	case VIRTIO_PCI_DEVICE_OFF: virtio_device_read_config(t->vdev, (uint32_t)in, data, len); break;
	case VIRTIO_PCI_MSIX_OFF: msix_table_read(t, in, data, len); break;
	case VIRTIO_PCI_PBA_OFF: if (in == 0 && len == 4) put_le32(data, t->pba); break;
	}
}

static void bar_write_locked(struct virtio_pci *t, uint64_t off, const uint8_t *data,
			     uint32_t len)
{
	uint64_t region = off / VIRTIO_PCI_REGION_SIZE * VIRTIO_PCI_REGION_SIZE, in = off - region;
	if (in + len > VIRTIO_PCI_REGION_SIZE)
		return;
	switch (region) {
	case VIRTIO_PCI_COMMON_OFF: common_write(t, in, data, len); break;
	case VIRTIO_PCI_DEVICE_OFF:
		virtio_device_write_config(t->vdev, (uint32_t)in, data, len);
		break;
	case VIRTIO_PCI_MSIX_OFF: msix_table_write(t, in, data, len); break;
	}
}

static void bar_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct virtio_pci *t = opaque;
	virtio_device_lock(t->vdev);
	bar_read_locked(t, off, data, len);
	virtio_device_unlock(t->vdev);
}

static void bar_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_pci *t = opaque;
	if (off >= VIRTIO_PCI_NOTIFY_OFF && off < VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_REGION_SIZE) {
		kick_ring(t, off - VIRTIO_PCI_NOTIFY_OFF);   /* no lock: the loop does the work */
		return;
	}
	virtio_device_lock(t->vdev);
	bar_write_locked(t, off, data, len);
	virtio_device_unlock(t->vdev);
}

static const struct bus_device_ops bar_ops = { .read = bar_read, .write = bar_write };

/* ---- config space hooks: MSI-X control and the PCI_CFG window ---- */

static bool window_target(struct virtio_pci *t, uint64_t *off, uint32_t *len)
{
	const uint8_t *cap = t->fn.config + t->cap_pcicfg;
	*off = le32(cap + VIRTIO_PCI_CAP_OFFSET);
	*len = le32(cap + VIRTIO_PCI_CAP_LENGTH);
	return cap[VIRTIO_PCI_CAP_BAR] == VIRTIO_PCI_BAR && (*len == 1 || *len == 2 || *len == 4) &&
	       *off < VIRTIO_PCI_BAR_SIZE && *len <= VIRTIO_PCI_BAR_SIZE - *off;
}

static bool touches(unsigned off, unsigned len, unsigned start, unsigned n)
{
	return off < start + n && start < off + len;
}

#define WINDOW_DATA offsetof(struct virtio_pci_cfg_cap, pci_cfg_data)

static void config_read_hook(void *opaque, unsigned off, unsigned len)
{
	struct virtio_pci *t = opaque;
	uint64_t boff;
	uint32_t blen;
	if (!touches(off, len, t->cap_pcicfg + WINDOW_DATA, 4) || !window_target(t, &boff, &blen))
		return;
	uint8_t data[4] = { 0 };
	bar_read(t, boff, data, blen);
	memcpy(t->fn.config + t->cap_pcicfg + WINDOW_DATA, data, 4);
}

static void msix_control_changed(struct virtio_pci *t)
{
	uint16_t ctrl = (uint16_t)(t->fn.config[t->cap_msix + PCI_MSIX_FLAGS] |
				   t->fn.config[t->cap_msix + PCI_MSIX_FLAGS + 1] << 8);
	virtio_device_lock(t->vdev);
	t->msix_enabled = ctrl & PCI_MSIX_FLAGS_ENABLE;
	t->msix_masked = ctrl & PCI_MSIX_FLAGS_MASKALL;
	/* A function using MSI-X must not signal INTx (PCI 3.0, 6.8.2). */
	if (t->msix_enabled) {
		t->isr = 0;
		pci_function_set_intx(&t->fn, false);
	}
	vectors_flush(t);
	virtio_device_unlock(t->vdev);
}

static void config_write_hook(void *opaque, unsigned off, unsigned len)
{
	struct virtio_pci *t = opaque;
	if (touches(off, len, t->cap_msix + PCI_MSIX_FLAGS, 2))
		msix_control_changed(t);
	uint64_t boff;
	uint32_t blen;
	if (touches(off, len, t->cap_pcicfg + WINDOW_DATA, 4) && window_target(t, &boff, &blen))
		bar_write(t, boff, t->fn.config + t->cap_pcicfg + WINDOW_DATA, blen);
}

/* ---- doorbells follow BAR 0 ---- */

static void doorbells_set(struct virtio_pci *t, uint64_t base, bool on)
{
	const struct virtio_pci_board_ops *b = t->env.board;
	if (!b || !b->doorbell || t->doorbells_on == on)
		return;
	for (unsigned q = 0; q < t->vdev->nqueues; q++)
		b->doorbell(t->env.board_ctx, t->kick_fd[q],
			    base + VIRTIO_PCI_NOTIFY_OFF + q * VIRTIO_PCI_NOTIFY_MULT, on);
	t->doorbells_on = on;
	t->doorbell_base = base;
}

static void bar_mapped_hook(void *opaque, unsigned bar, uint64_t addr, bool mapped)
{
	struct virtio_pci *t = opaque;
	if (bar == VIRTIO_PCI_BAR)
		doorbells_set(t, mapped ? addr : t->doorbell_base, mapped);
}

static const struct pci_function_ops function_ops = {
	.config_read = config_read_hook,
	.config_write = config_write_hook,
	.bar_mapped = bar_mapped_hook,
};

/* ---- kicks on the event loop ---- */

static void kick_ready(void *ctx, int fd, uint32_t events)
{
	(void)events;
	struct virtio_pci *t = ctx;
	uint64_t n;
	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return;
	for (unsigned q = 0; q < t->vdev->nqueues; q++)
		if (t->kick_fd[q] == fd)
			virtio_device_kick(t->vdev, q);
}

static int kicks_create(struct virtio_pci *t, struct kvmini_error *err)
{
	for (unsigned q = 0; q < t->vdev->nqueues; q++) {
		t->kick_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (t->kick_fd[q] < 0)
			return kvmini_fail(err, KVMINI_E_HOST, "%s: eventfd: %s",
					   t->vdev->ops->name, strerror(errno));
		if (!(t->kick[q] = event_loop_add(t->env.loop, t->kick_fd[q], EPOLLIN, kick_ready, t,
						  err)))
			return -1;
	}
	return 0;
}

static void kicks_destroy(struct virtio_pci *t)
{
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		event_loop_remove(t->env.loop, t->kick[q]);
		if (t->kick_fd[q] >= 0)
			close(t->kick_fd[q]);
		t->kick[q] = NULL;
		t->kick_fd[q] = -1;
	}
}

/* ---- the function ---- */

static uint32_t class_of(uint32_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_BLOCK: return 0x018000;     /* mass storage, other */
	case VIRTIO_ID_NET: return 0x020000;       /* Ethernet */
	case VIRTIO_ID_CONSOLE: return 0x078000;   /* communication, other */
	default: return 0xff0000;                  /* no class fits */
	}
}

static int vendor_cap(struct virtio_pci *t, uint8_t type, uint32_t off, uint32_t len,
		      unsigned extra, unsigned *at, struct kvmini_error *err)
{
	uint8_t body[sizeof(struct virtio_pci_notify_cap)] = { 0 };
	struct virtio_pci_cap cap = {
		.cap_vndr = PCI_CAP_ID_VNDR, .cap_len = (uint8_t)(sizeof(cap) + extra),
		.cfg_type = type, .bar = VIRTIO_PCI_BAR, .offset = off, .length = len,
	};
	memcpy(body, &cap, sizeof(cap));
	if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
		put_le32(body + sizeof(cap), VIRTIO_PCI_NOTIFY_MULT);
	return pci_function_add_cap(&t->fn, body, cap.cap_len, at, err);
}

static int msix_cap(struct virtio_pci *t, struct kvmini_error *err)
{
	uint8_t body[PCI_CAP_MSIX_SIZEOF] = { PCI_CAP_ID_MSIX };
	body[PCI_MSIX_FLAGS] = (uint8_t)(t->nvec - 1);
	put_le32(body + PCI_MSIX_TABLE, VIRTIO_PCI_MSIX_OFF | VIRTIO_PCI_BAR);
	put_le32(body + PCI_MSIX_PBA, VIRTIO_PCI_PBA_OFF | VIRTIO_PCI_BAR);
	if (pci_function_add_cap(&t->fn, body, sizeof(body), &t->cap_msix, err) < 0)
		return -1;
	t->fn.wmask[t->cap_msix + PCI_MSIX_FLAGS + 1] =
		(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8;
	return 0;
}

static int caps_add(struct virtio_pci *t, struct kvmini_error *err)
{
	unsigned at;
	uint32_t nq = t->vdev->nqueues;
	if (vendor_cap(t, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF,
		       sizeof(struct virtio_pci_common_cfg), 0, &at, err) < 0 ||
	    vendor_cap(t, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF,
		       nq * VIRTIO_PCI_NOTIFY_MULT, 4, &at, err) < 0 ||
	    vendor_cap(t, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, 1, 0, &at, err) < 0 ||
	    (t->vdev->config_len &&
	     vendor_cap(t, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF, t->vdev->config_len, 0,
			&at, err) < 0) ||
	    vendor_cap(t, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, 4, &t->cap_pcicfg, err) < 0 ||
	    msix_cap(t, err) < 0)
		return -1;
	/* The window's BAR, offset, length and data are the driver's. */
	memset(t->fn.wmask + t->cap_pcicfg + VIRTIO_PCI_CAP_BAR, 0xff, 1);
	memset(t->fn.wmask + t->cap_pcicfg + VIRTIO_PCI_CAP_OFFSET, 0xff, 12);
	return 0;
}

static int function_build(struct virtio_pci *t, struct kvmini_error *err)
{
	const struct virtio_device_ops *ops = t->vdev->ops;
	pci_function_init(&t->fn, VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_DEVICE_BASE + ops->device_id),
			  class_of(ops->device_id), VIRTIO_PCI_REVISION, VIRTIO_PCI_VENDOR,
			  VIRTIO_PCI_SUBSYS_ID);
	t->fn.ops = &function_ops;
	t->fn.opaque = t;
	if (t->vdev->config_len > VIRTIO_PCI_REGION_SIZE)
		return kvmini_fail(err, KVMINI_E_HOST, "%s: config space of %u bytes", ops->name,
				   t->vdev->config_len);
	if (pci_function_set_bar(&t->fn, VIRTIO_PCI_BAR, VIRTIO_PCI_BAR_SIZE, false, &bar_ops, t,
				 ops->name, err) < 0 || caps_add(t, err) < 0)
		return -1;
	return 0;
}

struct virtio_pci *virtio_pci_create(struct virtio_device *vdev, const struct virtio_pci_env *env,
				     struct kvmini_error *err)
{
	struct virtio_pci *t = calloc(1, sizeof(*t));
	if (!t) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for virtio-pci");
		return NULL;
	}
	t->vdev = vdev;
	t->env = *env;
	t->nvec = vdev->nqueues + 1;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		t->kick_fd[q] = -1;
	/* MSI-X entries start masked (PCI 3.0 section 6.8.2.9). */
	for (unsigned v = 0; v < VIRTIO_PCI_MAX_VECTORS; v++)
		t->table[v].ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT;
	virtio_device_lock(vdev);
	virtio_device_write_status(vdev, 0);   /* a new boot finds it reset */
	virtio_device_attach(vdev, &transport_ops, t, env->mem, env->log_fd);
	transport_reset(t);
	virtio_device_unlock(vdev);
	if (function_build(t, err) < 0 || kicks_create(t, err) < 0 ||
	    pci_host_plug(env->host, &t->fn, env->slot, err) < 0) {
		virtio_pci_destroy(t);
		return NULL;
	}
	return t;
}

void virtio_pci_destroy(struct virtio_pci *t)
{
	if (!t)
		return;
	pci_host_unplug(t->env.host, &t->fn);   /* BAR 0 off: the doorbells go too */
	kicks_destroy(t);
	virtio_device_lock(t->vdev);
	virtio_device_write_status(t->vdev, 0);
	virtio_device_attach(t->vdev, NULL, NULL, NULL, t->env.log_fd);
	virtio_device_unlock(t->vdev);
	free(t);
}

struct pci_function *virtio_pci_function(struct virtio_pci *t)
{
	return &t->fn;
}

/* ---- snapshots ---- */

void virtio_pci_save(const struct virtio_pci *t, struct state_writer *w)
{
	pci_function_save(&t->fn, w);
	state_put_u32(w, t->dfselect);
	state_put_u32(w, t->gfselect);
	state_put_u16(w, t->queue_select);
	state_put_u16(w, t->msix_config);
	for (unsigned q = 0; q < t->vdev->nqueues; q++)
		state_put_u16(w, t->queue_vector[q]);
	state_put_u8(w, t->isr);
	for (unsigned v = 0; v < t->nvec; v++) {
		const struct msix_entry *e = &t->table[v];
		state_put_u32(w, e->addr_lo);
		state_put_u32(w, e->addr_hi);
		state_put_u32(w, e->data);
		state_put_u32(w, e->ctrl);
	}
	state_put_u32(w, t->pba);
}

static bool vector_ok(const struct virtio_pci *t, uint16_t v)
{
	return v < t->nvec || v == VIRTIO_MSI_NO_VECTOR;
}

/* The registers, each as the guest could have written it. */
static bool registers_restore(struct virtio_pci *t, struct state_reader *r)
{
	t->dfselect = state_get_u32(r);
	t->gfselect = state_get_u32(r);
	t->queue_select = state_get_u16(r);
	t->msix_config = state_get_u16(r);
	bool ok = vector_ok(t, t->msix_config);
	for (unsigned q = 0; q < t->vdev->nqueues; q++)
		ok &= vector_ok(t, t->queue_vector[q] = state_get_u16(r));
	t->isr = state_get_u8(r);
	ok &= !(t->isr & ~(ISR_QUEUE | VIRTIO_PCI_ISR_CONFIG));
	for (unsigned v = 0; v < t->nvec; v++) {
		struct msix_entry *e = &t->table[v];
		e->addr_lo = state_get_u32(r);
		e->addr_hi = state_get_u32(r);
		e->data = state_get_u32(r);
		e->ctrl = state_get_u32(r);
		e->dirty = true;
		ok &= !(e->addr_lo & 3) && !(e->ctrl & ~PCI_MSIX_ENTRY_CTRL_MASKBIT);
	}
	t->pba = state_get_u32(r);
	return ok && !(t->pba >> t->nvec) && !r->failed;
}

int virtio_pci_restore(struct virtio_pci *t, struct state_reader *r, struct kvmini_error *err)
{
	if (pci_function_restore(&t->fn, r, err) < 0)
		return -1;
	if (!registers_restore(t, r))
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: saved virtio-pci registers are "
				   "malformed", t->vdev->ops->name);
	uint16_t ctrl = (uint16_t)(t->fn.config[t->cap_msix + PCI_MSIX_FLAGS] |
				   t->fn.config[t->cap_msix + PCI_MSIX_FLAGS + 1] << 8);
	t->msix_enabled = ctrl & PCI_MSIX_FLAGS_ENABLE;
	t->msix_masked = ctrl & PCI_MSIX_FLAGS_MASKALL;
	if (t->msix_enabled)
		t->isr = 0;   /* as msix_control_changed() leaves it */
	pci_function_set_intx(&t->fn, t->isr != 0);
	vectors_flush(t);
	uint64_t one = 1;
	for (unsigned q = 0; q < t->vdev->nqueues; q++)
		if (t->vdev->queues[q].enabled && write(t->kick_fd[q], &one, sizeof(one)) < 0) {
			/* EAGAIN: the counter is full, a kick is waiting anyway */
		}
	return 0;
}
