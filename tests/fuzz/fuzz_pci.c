/* libFuzzer target: the PCI host bridge and a virtio-pci function
 * driven as a hostile guest drives them: config space through
 * 0xcf8/0xcfc and ECAM (BAR sizing and moves, the command register,
 * the capabilities, MSI-X control, the PCI_CFG window), BAR 0's
 * registers wherever the guest put it (common config, ISR, device
 * config, notify, MSI-X table and PBA), guest RAM written so that rings
 * can be crafted, and queue kicks that make a device walk them, and
 * snapshots: the device, the function and the host saved, one byte
 * flipped, and restored onto them (a refused restore is left as it
 * is: every value is bounded where it is used). No KVM:
 * two plain buses, the board's MSI and doorbell handles absent or
 * counting, and the event loop's part (the kick) played in line. */
#include <stdlib.h>
#include <string.h>
#include "event_loop.h"
#include "fuzz_target.h"
#include "virtio/pci.h"

/* One step: op (bit 0 write, bits 1-3 what), a 24-bit address, a size
 * selector, 4 data bytes. What 7 with data[0] == 0xee is a snapshot:
 * byte (addr mod the length) of the saved state XORed with data[1]. */
struct step {
	uint8_t op, addr[3], size;
	uint8_t data[4];
};

struct fake {
	struct virtio_device vdev;
	uint8_t config[12];
};

static void fake_config_read(void *dev, uint32_t off, void *buf, uint32_t len)
{
	memcpy(buf, ((struct fake *)dev)->config + off, len);
}

static void fake_config_write(void *dev, uint32_t off, const void *buf, uint32_t len)
{
	memcpy(((struct fake *)dev)->config + off, buf, len);
}

/* Every chain answered with bytes: the ring code under a hostile ring. */
static void fake_kick(void *dev, unsigned q)
{
	struct fake *f = dev;
	static struct virtq_elem e;
	struct kvmini_error err;
	int n = 0, r;
	while (n++ < 64 && (r = virtq_pop(&f->vdev.queues[q], &e, &err)) == 1) {
		size_t w = iov_from_buf(virtq_elem_in(&e), e.nin, 0, "fuzzing!", 8);
		virtq_push(&f->vdev.queues[q], e.head, (uint32_t)w);
	}
	if (r < 0)
		virtio_device_fail(&f->vdev, &err);
	virtio_device_used(&f->vdev, q);
}

static const struct virtio_device_ops fake_ops = {
	.name = "virtio-fuzz", .device_id = VIRTIO_ID_NET, .config_read = fake_config_read,
	.config_write = fake_config_write, .queue_kick = fake_kick,
};

static unsigned routes, sends;
static int count_route(void *ctx, unsigned v, uint64_t a, uint32_t d)
{
	(void)ctx; (void)v; (void)a; (void)d;
	routes++;
	return 0;
}
static void count_send(void *ctx, unsigned v)
{
	(void)ctx; (void)v;
	sends++;
}
static const struct virtio_pci_board_ops board_ops = { .msi_route = count_route,
							.msi_send = count_send };

static void no_line(void *ctx, unsigned line, bool level)
{
	(void)ctx; (void)line; (void)level;
}

struct rig {
	struct bus pio, mmio;
	struct pci_host host;
	struct event_loop *loop;
	struct fake f;
	struct virtio_pci *t;
};

#define ECAM   0xe0000000ull
#define WINDOW 0xc0000000ull

static struct rig *rig_make(void)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct kvmini_error err;
	if (!r)
		abort();
	bus_init(&r->pio, "port");
	bus_init(&r->mmio, "MMIO");
	struct pci_host_config cfg = {
		.pio = &r->pio, .mmio = &r->mmio, .ecam_base = ECAM, .mmio_base = WINDOW,
		.mmio_end = WINDOW + (256 << 20), .io_base = 0xc000, .io_end = 0x10000,
	};
	for (unsigned i = 0; i < PCI_INTX_LINES; i++)
		cfg.intx[i] = (struct irq_line){ .set_level = no_line, .line = 16 + i };
	if (pci_host_init(&r->host, &cfg, &err) < 0 || !(r->loop = event_loop_create("fuzz", &err)))
		abort();
	virtio_device_init(&r->f.vdev, &fake_ops, &r->f, 1ull << 3, sizeof(r->f.config), 3, 32);
	struct virtio_pci_env env = {
		.host = &r->host, .slot = 1, .loop = r->loop, .mem = fuzz_guest_memory(),
		.log_fd = -1, .board = &board_ops,
	};
	if (!(r->t = virtio_pci_create(&r->f.vdev, &env, &err)))
		abort();
	return r;
}

static void rig_free(struct rig *r)
{
	virtio_pci_destroy(r->t);
	virtio_device_destroy(&r->f.vdev);
	event_loop_destroy(r->loop);
	pci_host_destroy(&r->host);
	bus_free(&r->pio);
	bus_free(&r->mmio);
	free(r);
}

static void snapshot_turn(struct rig *r, uint32_t at, uint8_t flip)
{
	struct state_writer w;
	struct state_reader rd;
	struct kvmini_error err;
	state_writer_init(&w);
	virtio_device_lock(&r->f.vdev);
	virtio_device_save(&r->f.vdev, &w);
	virtio_pci_save(r->t, &w);
	virtio_device_unlock(&r->f.vdev);
	pci_host_save(&r->host, &w);
	if (w.len)
		w.data[at % w.len] ^= flip;
	state_reader_init(&rd, w.data, w.len);
	virtio_device_lock(&r->f.vdev);
	int rc = virtio_device_restore(&r->f.vdev, &rd, &err);
	if (rc == 0)
		rc = virtio_pci_restore(r->t, &rd, &err);
	virtio_device_unlock(&r->f.vdev);
	if (rc == 0)
		pci_host_restore(&r->host, &rd, &err);
	state_writer_free(&w);
}

static void run_step(struct rig *r, const struct step *s)
{
	static const uint32_t sizes[4] = { 1, 2, 4, 8 };
	uint8_t data[8] = { 0 };
	memcpy(data, s->data, sizeof(s->data));
	uint32_t addr = s->addr[0] | s->addr[1] << 8 | (uint32_t)s->addr[2] << 16;
	uint32_t len = sizes[s->size & 3];
	bool write = s->op & 1;
	switch ((s->op >> 1) & 7) {
	case 0:   /* 0xcf8-0xcff and around, at most 4 bytes as the CPU allows */
		bus_access(&r->pio, 0xcf0 + (addr & 0x1f), data, len > 4 ? 4 : len, write);
		break;
	case 1:   /* ECAM, bus 0 and a little past it */
		bus_access(&r->mmio, ECAM + (addr % (PCI_ECAM_BUS_SIZE + 0x1000)), data, len, write);
		break;
	case 2:   /* BAR 0 where the guest put it */
		bus_access(&r->mmio, pci_function_bar_address(virtio_pci_function(r->t), 0) +
			   (addr & 0x7fff), data, len, write);
		break;
	case 3:   /* anywhere in the window and above, where moved BARs land */
		bus_access(&r->mmio, WINDOW + ((uint64_t)addr << 8), data, len, write);
		break;
	case 4:   /* the event loop's part: a kick */
		virtio_device_kick(&r->f.vdev, addr % 4);
		break;
	case 5:   /* guest RAM below 16 MiB: rings and descriptors */
		guest_write(fuzz_guest_memory(), addr, data, 4);
		break;
	case 7:
		if (s->data[0] == 0xee) {
			snapshot_turn(r, addr, s->data[1]);
			break;
		}
		/* fall through */
	default:  /* config space through the host's own entry points */
		if (write)
			pci_host_config_write(&r->host, addr & 31, (addr >> 5) & 7, addr >> 12,
					      data, len);
		else
			pci_host_config_read(&r->host, addr & 31, (addr >> 5) & 7, addr >> 12,
					     data, len);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rig *r = rig_make();
	struct step s;
	for (size_t off = 0; off + sizeof(s) <= size; off += sizeof(s)) {
		memcpy(&s, data + off, sizeof(s));
		run_step(r, &s);
	}
	rig_free(r);
	return 0;
}
