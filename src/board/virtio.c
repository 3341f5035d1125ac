/* The board's virtio wiring (board/virtio.h): the transport-neutral
 * loop, and the virtio-mmio transport's attachment to a VM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "board/board.h"
#include "board/pci.h"
#include "board/virtio.h"
#include "irqfd.h"
#include "kvm_doorbell.h"
#include <linux/virtio_mmio.h>
#include "virtio/mmio.h"

/* ---- virtio-mmio on the VM ---- */

struct mmio_attachment {
	struct virtio_mmio *mmio;
	uint64_t base;
	bool on_bus;
	unsigned nbells;             /* ioeventfds assigned: queues 0..nbells-1 */
	struct irqfd *irqfd;
};

static struct kvm_doorbell notify_bell(uint64_t base, unsigned q)
{
	return (struct kvm_doorbell){
		.addr = base + VIRTIO_MMIO_QUEUE_NOTIFY, .len = 4, .datamatch = true, .data = q,
	};
}

/* Each queue's QueueNotify write of its index signals its kick eventfd
 * inside KVM. Where KVM cannot (an error), the write exits and the
 * transport signals the same eventfd: slower, never wrong. */
static void bells_assign(struct vm *vm, struct mmio_attachment *at, unsigned nqueues)
{
	struct kvmini_error err;
	for (unsigned q = 0; q < nqueues; q++) {
		struct kvm_doorbell bell = notify_bell(at->base, q);
		if (kvm_ioeventfd_assign(vm->fd, virtio_mmio_kick_fd(at->mmio, q), &bell, &err) < 0)
			return;
		at->nbells = q + 1;
	}
}

static void bells_deassign(struct vm *vm, struct mmio_attachment *at)
{
	struct kvmini_error err;
	for (unsigned q = 0; q < at->nbells; q++) {
		struct kvm_doorbell bell = notify_bell(at->base, q);
		kvm_ioeventfd_deassign(vm->fd, virtio_mmio_kick_fd(at->mmio, q), &bell, &err);
	}
	at->nbells = 0;
}

/* Level-triggered with KVM's IOAPIC (resample), an edge with kvmini's. */
static int line_attach(struct board *b, struct mmio_attachment *at, unsigned gsi,
		       struct kvmini_error *err)
{
	int resample = -1;
	if (b->vm->irqchip == KVMINI_IRQCHIP_KERNEL &&
	    (resample = virtio_mmio_use_resample(at->mmio, err)) < 0)
		return -1;
	at->irqfd = irqfd_attach(b->vm, b->loop, virtio_mmio_irq_fd(at->mmio), gsi, resample, err);
	return at->irqfd ? 0 : -1;
}

void board_virtio_mmio_describe(struct board_virtio_slot *slot, bool level, bool shared)
{
	unsigned i = slot->index;
	uint64_t base = board_virtio_mmio_base(i);
	unsigned gsi = board_virtio_mmio_gsi(i);
	snprintf(slot->acpi_name, sizeof(slot->acpi_name), "VR%02X", i & 0xff);
	slot->res = (struct resources){
		.ranges = { { RESOURCE_SPACE_MMIO, base, VIRTIO_MMIO_WINDOW, &virtio_mmio_bus_ops,
			      slot->vdev ? slot->vdev->ops->name : "virtio-mmio" } },
		.nranges = 1,
		.irqs = { { gsi, level } },
		.nirqs = 1,
		.irqs_shared = shared,
		.acpi_name = slot->acpi_name, .acpi_hid = "LNRO0005",
		.acpi_uid_set = true, .acpi_uid = i,
	};
	snprintf(slot->cmdline, sizeof(slot->cmdline), "virtio_mmio.device=4K@0x%llx:%u",
		 (unsigned long long)base, gsi);
}

static void mmio_detach(struct board *b, struct board_virtio_slot *slot)
{
	struct mmio_attachment *at = slot->transport;
	if (!at)
		return;
	struct kvmini_error err;
	if (at->on_bus)
		bus_unregister(&b->vm->mmio, at->base, &err);   /* no vCPU reaches it after */
	bells_deassign(b->vm, at);
	irqfd_detach(at->irqfd);
	virtio_mmio_destroy(at->mmio);
	free(at);
	slot->transport = NULL;
}

/* With an irqchip, the window and its line; without, only the window
 * (a driver may poll), and nothing for firmware or Linux to announce. */
static int mmio_attach(struct board *b, struct board_virtio_slot *slot, struct kvmini_error *err)
{
	struct vm *vm = b->vm;
	struct mmio_attachment *at = calloc(1, sizeof(*at));
	if (!at)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for a virtio-mmio window");
	slot->transport = at;
	at->base = board_virtio_mmio_base(slot->index);
	if (!(at->mmio = virtio_mmio_create(slot->vdev, &vm->mem, b->loop, vm->log_fd, err)))
		goto fail;
	if (bus_register(&vm->mmio, at->base, VIRTIO_MMIO_WINDOW, &virtio_mmio_bus_ops, at->mmio,
			 slot->vdev->ops->name, err) < 0)
		goto fail;
	at->on_bus = true;
	bells_assign(vm, at, slot->vdev->nqueues);
	if (vm->irqchip == KVMINI_IRQCHIP_NONE)
		return 0;
	if (line_attach(b, at, board_virtio_mmio_gsi(slot->index), err) < 0)
		goto fail;
	bool shared = b->virtio->n > BOARD_VIRTIO_GSIS;
	board_virtio_mmio_describe(slot, vm->irqchip == KVMINI_IRQCHIP_KERNEL, shared);
	return 0;
fail:
	mmio_detach(b, slot);
	return -1;
}

static void mmio_save(const struct board_virtio_slot *slot, struct state_writer *w)
{
	const struct mmio_attachment *at = slot->transport;
	virtio_mmio_save(at->mmio, w);
}

static int mmio_restore(struct board_virtio_slot *slot, struct state_reader *r,
			struct kvmini_error *err)
{
	struct mmio_attachment *at = slot->transport;
	return virtio_mmio_restore(at->mmio, r, err);
}

const struct board_virtio_transport board_virtio_mmio = {
	.name = "mmio", .attach = mmio_attach, .detach = mmio_detach,
	.save = mmio_save, .restore = mmio_restore,
};

/* ---- the transport-neutral part ---- */

static const struct board_virtio_transport *transport_for(enum kvmini_transport t,
							  struct kvmini_error *err)
{
	(void)err;   /* every transport exists */
	return t == KVMINI_TRANSPORT_PCI ? &board_virtio_pci : &board_virtio_mmio;
}

int board_virtio_check(const struct kvmini_config *cfg, struct kvmini_error *err)
{
	return transport_for(cfg->transport, err) ? 0 : -1;
}

int board_virtio_attach(struct board *b, const struct kvmini_config *cfg,
			struct kvmini_error *err)
{
	b->nvirtio = 0;
	if (!b->virtio || b->virtio->n == 0)
		return 0;
	if (!(b->virtio_transport = transport_for(cfg->transport, err)))
		return -1;
	for (unsigned i = 0; i < b->virtio->n; i++) {
		struct board_virtio_slot *slot = &b->virtio_slots[i];
		*slot = (struct board_virtio_slot){ .vdev = b->virtio->devs[i], .index = i };
		if (b->virtio_transport->attach(b, slot, err) < 0)
			return -1;
		b->nvirtio = i + 1;
	}
	return 0;
}

void board_virtio_detach(struct board *b)
{
	for (unsigned i = b->nvirtio; i-- > 0;)
		b->virtio_transport->detach(b, &b->virtio_slots[i]);
	b->nvirtio = 0;
}

bool board_virtio_cmdline(const struct board *b, char *buf, size_t len)
{
	size_t used = 0;
	if (len)
		buf[0] = '\0';
	for (unsigned i = 0; i < b->nvirtio; i++) {
		const char *words = b->virtio_slots[i].cmdline;
		if (!words[0])
			continue;
		int n = snprintf(buf + used, len - used, "%s%s", used ? " " : "", words);
		if (n < 0 || (size_t)n >= len - used)
			return false;
		used += (size_t)n;
	}
	return true;
}

/* ---- snapshots ---- */

bool board_virtio_can_save(const struct board *b)
{
	return b->nvirtio == 0 || b->virtio_transport->save;
}

void board_virtio_freeze(struct board *b)
{
	for (unsigned i = 0; i < b->nvirtio; i++) {
		virtio_device_lock(b->virtio_slots[i].vdev);
		virtio_device_quiesce(b->virtio_slots[i].vdev);
	}
}

void board_virtio_thaw(struct board *b)
{
	for (unsigned i = b->nvirtio; i-- > 0;)
		virtio_device_unlock(b->virtio_slots[i].vdev);
}

void board_virtio_save(const struct board *b, struct state_writer *w)
{
	state_put_u8(w, (uint8_t)b->nvirtio);
	for (unsigned i = 0; i < b->nvirtio; i++) {
		virtio_device_save(b->virtio_slots[i].vdev, w);
		b->virtio_transport->save(&b->virtio_slots[i], w);
	}
}

static int slot_restore(struct board *b, struct board_virtio_slot *slot, struct state_reader *r,
			struct kvmini_error *err)
{
	virtio_device_lock(slot->vdev);
	int rc = virtio_device_restore(slot->vdev, r, err);
	if (rc == 0)
		rc = b->virtio_transport->restore(slot, r, err);
	virtio_device_unlock(slot->vdev);
	return rc;
}

int board_virtio_restore(struct board *b, const uint8_t *data, size_t len,
			 struct kvmini_error *err)
{
	struct state_reader r;
	state_reader_init(&r, data, len);
	unsigned n = state_get_u8(&r);
	if (n != b->nvirtio || !board_virtio_can_save(b))
		return kvmini_fail(err, KVMINI_E_USAGE, "saved virtio state has %u devices, the "
				   "machine %u", n, b->nvirtio);
	for (unsigned i = 0; i < b->nvirtio; i++)
		if (slot_restore(b, &b->virtio_slots[i], &r, err) < 0)
			return -1;
	return state_reader_finish(&r, "saved virtio devices", err);
}
