/* libFuzzer target: the Bochs display (src/pci/bochs_display.c) driven
 * as a hostile guest drives it: config space through 0xcf8/0xcfc
 * (BAR sizing and moves, decoding on and off), BAR 2's EDID, VGA,
 * DISPI and extension registers with every size at every offset, and
 * BAR 0 where the guest put it. After each step the framebuffer's mode
 * must lie inside the video memory and KVM's slot (a fake) must be
 * where BAR 0 is decoded, or absent. No KVM. */
#include <stdlib.h>
#include <string.h>
#include "pci/bochs_display.h"

#define ECAM   0xe0000000ull
#define WINDOW 0xc0000000ull
#define SLOT   30u
#define VRAM   (16u << 20)

/* One step: op (bit 0 write, bits 1-2 where), a 16-bit offset, a size
 * selector, 4 data bytes. */
struct step {
	uint8_t op, addr[2], size;
	uint8_t data[4];
};

struct rig {
	struct bus pio, mmio;
	struct pci_host host;
	struct framebuffer fb;
	struct bochs_display dev;
	bool slot_on;
	uint64_t slot_at;
};

static int fake_vram_map(void *ctx, uint64_t gpa, bool on, struct kvmini_error *err)
{
	struct rig *r = ctx;
	(void)err;
	if (on == r->slot_on)
		abort();   /* added twice, or deleted when absent */
	r->slot_on = on;
	r->slot_at = gpa;
	return 0;
}

static void no_line(void *ctx, unsigned line, bool level)
{
	(void)ctx; (void)line; (void)level;
}

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
	if (pci_host_init(&r->host, &cfg, &err) < 0 ||
	    framebuffer_init_vram(&r->fb, VRAM, 640, 480, &err) < 0)
		abort();
	struct bochs_display_env env = {
		.host = &r->host, .slot = SLOT, .fb = &r->fb, .width = 640, .height = 480,
		.vram_map = fake_vram_map, .vram_ctx = r, .log_fd = -1,
	};
	if (bochs_display_init(&r->dev, &env, &err) < 0)
		abort();
	return r;
}

static void rig_free(struct rig *r)
{
	bochs_display_destroy(&r->dev);
	if (r->slot_on)
		abort();   /* the slot outlived the function */
	pci_host_destroy(&r->host);
	framebuffer_free(&r->fb);
	bus_free(&r->pio);
	bus_free(&r->mmio);
	free(r);
}

/* The mode inside the memory; the slot only where BAR 0 decodes. */
static void rig_check(struct rig *r)
{
	struct framebuffer v;
	framebuffer_view(&r->fb, &v);
	if (v.width < FB_MIN_SIDE || v.height < FB_MIN_SIDE || v.stride < v.width * 4 ||
	    v.offset + (uint64_t)(v.height - 1) * v.stride + v.width * 4ull > r->fb.size)
		abort();
	const struct pci_bar *bar = &r->dev.fn.bars[BOCHS_VRAM_BAR];
	if (r->slot_on != bar->mapped || (r->slot_on && r->slot_at != bar->mapped_at))
		abort();
}

static void run_step(struct rig *r, const struct step *s)
{
	static const uint32_t sizes[4] = { 1, 2, 4, 8 };
	uint8_t data[8] = { 0 };
	memcpy(data, s->data, sizeof(s->data));
	uint32_t addr = s->addr[0] | (uint32_t)s->addr[1] << 8;
	uint32_t len = sizes[s->size & 3];
	bool write = s->op & 1;
	switch ((s->op >> 1) & 3) {
	case 0:   /* config space of the function's slot (and others) */
		if (write)
			pci_host_config_write(&r->host, (addr & 1) ? SLOT : addr & 31, 0,
					      (addr >> 5) & 0xff, data, len > 4 ? 4 : len);
		else
			pci_host_config_read(&r->host, SLOT, 0, (addr >> 5) & 0xff, data,
					     len > 4 ? 4 : len);
		break;
	case 1:   /* BAR 2, a little past it too */
		bus_access(&r->mmio, pci_function_bar_address(&r->dev.fn, BOCHS_MMIO_BAR) +
			   (addr % (BOCHS_MMIO_SIZE + 16)), data, len, write);
		break;
	case 2:   /* DISPI: a 16-bit write of register (addr % 16) */
		bus_access(&r->mmio, pci_function_bar_address(&r->dev.fn, BOCHS_MMIO_BAR) +
			   BOCHS_DISPI_OFFSET + 2 * (addr % 16), data, 2, true);
		break;
	default:  /* BAR 0 where the guest put it, its start and its end */
		bus_access(&r->mmio, pci_function_bar_address(&r->dev.fn, BOCHS_VRAM_BAR) +
			   (addr & 1 ? VRAM - 1 - (addr >> 1) : addr), data, len, write);
		break;
	}
	rig_check(r);
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
