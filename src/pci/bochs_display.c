/* The Bochs display (bochs_display.h). */
#include <stdio.h>
#include <string.h>
#include "pci/bochs_display.h"

/* ---- EDID ---- */

/* A detailed timing: 60 Hz with modest blanking, the pixel clock
 * capped at what its 16 bits hold (a huge mode then refreshes slower:
 * nothing here scans out at any rate). */
#define EDID_HBLANK 160u
#define EDID_VBLANK 30u
#define EDID_SIDE_MAX 4095u       /* 12 bits a side */

static void edid_timing(uint8_t *t, unsigned w, unsigned h)
{
	uint64_t clock = (uint64_t)(w + EDID_HBLANK) * (h + EDID_VBLANK) * 60 / 10000;
	if (clock > 0xffff)
		clock = 0xffff;
	unsigned hso = 48, hsw = 32, vso = 3, vsw = 5;
	t[0] = (uint8_t)clock;
	t[1] = (uint8_t)(clock >> 8);
	t[2] = (uint8_t)w;
	t[3] = (uint8_t)EDID_HBLANK;
	t[4] = (uint8_t)((w >> 8) << 4 | EDID_HBLANK >> 8);
	t[5] = (uint8_t)h;
	t[6] = (uint8_t)EDID_VBLANK;
	t[7] = (uint8_t)((h >> 8) << 4 | EDID_VBLANK >> 8);
	t[8] = (uint8_t)hso;
	t[9] = (uint8_t)hsw;
	t[10] = (uint8_t)(vso << 4 | vsw);
	t[11] = 0;                 /* no high bits: all small */
	t[17] = 0x1e;              /* digital separate sync, both polarities positive */
}

static void edid_text(uint8_t *d, uint8_t tag, const char *text)
{
	d[3] = tag;
	size_t n = strlen(text);
	memset(d + 5, ' ', 13);
	memcpy(d + 5, text, n);
	d[5 + n] = '\n';
}

void bochs_edid_build(uint8_t *e, unsigned width, unsigned height)
{
	static const uint8_t header[8] = { 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 };
	/* sRGB's primaries and white point in EDID's 10-bit encoding. */
	static const uint8_t srgb[10] = { 0xee, 0x91, 0xa3, 0x54, 0x4c, 0x99, 0x26, 0x0f,
					  0x50, 0x54 };
	memset(e, 0, BOCHS_EDID_SIZE);
	memcpy(e, header, sizeof(header));
	e[8] = 0x2e;               /* manufacturer "KVM": 5 bits a letter, A = 1 */
	e[9] = 0xcd;
	e[10] = 1;                 /* product 1 */
	e[17] = 2026 - 1990;
	e[18] = 1;                 /* EDID 1.4 */
	e[19] = 4;
	e[20] = 0x80;              /* digital input */
	e[23] = 120;               /* gamma 2.2 */
	e[24] = 0x06;              /* sRGB; the first timing is the preferred one */
	memcpy(e + 25, srgb, sizeof(srgb));
	memset(e + 38, 1, 16);     /* no standard timings */
	uint8_t *d = e + 54;
	if (width <= EDID_SIDE_MAX && height <= EDID_SIDE_MAX)
		edid_timing(d, width, height);
	else
		d[3] = 0x10;       /* a dummy descriptor */
	edid_text(e + 72, 0xfc, "kvmini");    /* the monitor's name */
	e[90 + 3] = 0x10;
	e[108 + 3] = 0x10;
	unsigned sum = 0;
	for (unsigned i = 0; i < BOCHS_EDID_SIZE - 1; i++)
		sum += e[i];
	e[BOCHS_EDID_SIZE - 1] = (uint8_t)(256 - sum % 256);
}

/* ---- BAR 0: the video memory, when reached without KVM's slot ---- */

static bool vram_inside(const struct bochs_display *d, uint64_t offset, uint32_t len)
{
	return offset < d->fb->size && len <= d->fb->size - offset;
}

static void vram_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct bochs_display *d = opaque;
	if (vram_inside(d, offset, len))
		memcpy(data, d->fb->pixels + offset, len);
	else
		memset(data, 0xff, len);
}

static void vram_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct bochs_display *d = opaque;
	if (vram_inside(d, offset, len))
		memcpy(d->fb->pixels + offset, data, len);
}

static const struct bus_device_ops vram_ops = { .read = vram_read, .write = vram_write };

/* ---- BAR 2: EDID, DISPI, extension registers ---- */

/* One byte of the registers, under the lock. */
static uint8_t mmio_byte(const struct bochs_display *d, uint64_t off)
{
	if (off < BOCHS_EDID_OFFSET + BOCHS_EDID_SIZE)
		return d->edid[off - BOCHS_EDID_OFFSET];
	if (off >= BOCHS_DISPI_OFFSET && off < BOCHS_DISPI_OFFSET + 2 * DISPI_REGS) {
		uint16_t v = dispi_read(&d->dispi, (unsigned)(off - BOCHS_DISPI_OFFSET) / 2);
		return (uint8_t)(off & 1 ? v >> 8 : v);
	}
	if (off >= BOCHS_QEXT_OFFSET && off < BOCHS_QEXT_OFFSET + BOCHS_QEXT_SIZE) {
		unsigned i = (unsigned)(off - BOCHS_QEXT_OFFSET);
		uint32_t v = i < 4 ? BOCHS_QEXT_SIZE : BOCHS_QEXT_ENDIAN_LITTLE;
		return (uint8_t)(v >> 8 * (i % 4));
	}
	return 0;
}

static void mmio_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct bochs_display *d = opaque;
	pthread_mutex_lock(&d->lock);
	for (uint32_t i = 0; i < len; i++)
		data[i] = offset + i < BOCHS_MMIO_SIZE ? mmio_byte(d, offset + i) : 0xff;
	pthread_mutex_unlock(&d->lock);
}

/* A mode the guest enabled or moved: the framebuffer shows it. A new
 * mode starts black unless the guest said to keep the memory. */
static void mode_apply(struct bochs_display *d, enum dispi_effect effect)
{
	struct fb_mode mode;
	if (effect == DISPI_KEPT || !dispi_mode(&d->dispi, &mode))
		return;
	if (effect == DISPI_MODE_CLEAR)
		memset(d->fb->pixels + mode.offset, 0, (size_t)mode.stride * mode.height);
	framebuffer_set_mode(d->fb, &mode);
}

/* DISPI registers take 16-bit writes at their own offsets; anything
 * else there, and the VGA ports and the byte order (little endian
 * stays), are dropped. */
static void mmio_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct bochs_display *d = opaque;
	if (len != 2 || offset % 2 || offset < BOCHS_DISPI_OFFSET ||
	    offset >= BOCHS_DISPI_OFFSET + 2 * DISPI_REGS)
		return;
	uint16_t v = (uint16_t)(data[0] | data[1] << 8);
	pthread_mutex_lock(&d->lock);
	mode_apply(d, dispi_write(&d->dispi, (unsigned)(offset - BOCHS_DISPI_OFFSET) / 2, v));
	pthread_mutex_unlock(&d->lock);
}

static const struct bus_device_ops mmio_ops = { .read = mmio_read, .write = mmio_write };

/* ---- the video memory's slot follows BAR 0 ---- */

/* The slot at addr, or (on false) no slot. A refusal (over RAM or
 * another slot) is logged once: accesses then exit and reach the BAR's
 * range, or whatever KVM has there. */
static void vram_slot(struct bochs_display *d, uint64_t addr, bool on)
{
	struct kvmini_error err = { 0 };
	if (!on) {
		if (d->slot_live)
			d->vram_map(d->vram_ctx, 0, false, &err);
		d->slot_live = false;
		return;
	}
	if (d->vram_map(d->vram_ctx, addr, true, &err) == 0) {
		d->slot_live = true;
		return;
	}
	if (!d->vram_failed && d->log_fd >= 0)
		dprintf(d->log_fd, "kvmini: bochs-display: video memory at 0x%llx: %s\n",
			(unsigned long long)addr, err.msg);
	d->vram_failed = true;
}

static void bar_mapped(void *opaque, unsigned bar, uint64_t addr, bool mapped)
{
	struct bochs_display *d = opaque;
	if (bar != BOCHS_VRAM_BAR)
		return;
	pthread_mutex_lock(&d->lock);
	vram_slot(d, 0, false);
	if (mapped)
		vram_slot(d, addr, true);
	/* KVM's dirty log for the slot starts again: compare everything. */
	framebuffer_touch(d->fb);
	pthread_mutex_unlock(&d->lock);
}

static const struct pci_function_ops function_ops = { .bar_mapped = bar_mapped };

/* ---- set-up ---- */

static int function_setup(struct bochs_display *d, struct pci_host *h, unsigned slot,
			  struct kvmini_error *err)
{
	pci_function_init(&d->fn, BOCHS_VENDOR, BOCHS_DEVICE, BOCHS_CLASS, BOCHS_REVISION,
			  BOCHS_SUBSYS_VENDOR, BOCHS_SUBSYS_ID);
	d->fn.config[PCI_INTERRUPT_PIN] = 0;   /* it raises nothing */
	d->fn.ops = &function_ops;
	d->fn.opaque = d;
	if (pci_function_set_bar(&d->fn, BOCHS_VRAM_BAR, d->fb->size, false, &vram_ops, d,
				 "bochs-display vram", err) < 0 ||
	    pci_function_set_bar(&d->fn, BOCHS_MMIO_BAR, BOCHS_MMIO_SIZE, false, &mmio_ops, d,
				 "bochs-display mmio", err) < 0)
		return -1;
	/* Video memory: the guest may map it write-combining. */
	d->fn.config[PCI_BASE_ADDRESS_0 + 4 * BOCHS_VRAM_BAR] |= PCI_BASE_ADDRESS_MEM_PREFETCH;
	if (pci_host_plug(h, &d->fn, slot, err) < 0)
		return -1;
	/* Decoding on, as firmware leaves a display: the mapper puts the
	 * BARs on the bus and the video memory in its slot. */
	const uint8_t cmd[2] = { PCI_COMMAND_MEMORY, 0 };
	pci_host_config_write(h, slot, 0, PCI_COMMAND, cmd, sizeof(cmd));
	return 0;
}

int bochs_display_init(struct bochs_display *d, const struct bochs_display_env *env,
		       struct kvmini_error *err)
{
	memset(d, 0, sizeof(*d));
	d->fb = env->fb;
	d->vram_map = env->vram_map;
	d->vram_ctx = env->vram_ctx;
	d->log_fd = env->log_fd;
	dispi_init(&d->dispi, d->fb->size, env->width, env->height);
	struct fb_mode mode;
	if (dispi_mode(&d->dispi, &mode))
		framebuffer_set_mode(d->fb, &mode);   /* after a restart: the first mode again */
	bochs_edid_build(d->edid, env->width, env->height);
	pthread_mutex_init(&d->lock, NULL);
	if (function_setup(d, env->host, env->slot, err) < 0) {
		if (d->fn.host)
			pci_host_unplug(env->host, &d->fn);
		pthread_mutex_destroy(&d->lock);
		return -1;
	}
	return 0;
}

void bochs_display_destroy(struct bochs_display *d)
{
	if (d->fn.host)
		pci_host_unplug(d->fn.host, &d->fn);   /* BAR 0 off: bar_mapped drops the slot */
	pthread_mutex_destroy(&d->lock);
}

uint64_t bochs_display_vram_address(const struct bochs_display *d)
{
	return pci_function_bar_address(&d->fn, BOCHS_VRAM_BAR);
}

/* ---- snapshots ---- */

void bochs_display_save(struct bochs_display *d, struct state_writer *w)
{
	pthread_mutex_lock(&d->lock);
	pci_function_save(&d->fn, w);
	for (unsigned i = 0; i < DISPI_REGS; i++)
		state_put_u16(w, d->dispi.reg[i]);
	pthread_mutex_unlock(&d->lock);
}

int bochs_display_restore(struct bochs_display *d, struct state_reader *r,
			  struct kvmini_error *err)
{
	if (pci_function_restore(&d->fn, r, err) < 0)
		return -1;
	uint16_t reg[DISPI_REGS];
	for (unsigned i = 0; i < DISPI_REGS; i++)
		reg[i] = state_get_u16(r);
	pthread_mutex_lock(&d->lock);
	bool ok = !r->failed && dispi_restore(&d->dispi, reg);
	struct fb_mode mode;
	if (ok && dispi_mode(&d->dispi, &mode))
		framebuffer_set_mode(d->fb, &mode);
	pthread_mutex_unlock(&d->lock);
	return ok ? 0 : kvmini_fail(err, KVMINI_E_USAGE, "bochs-display: saved DISPI registers "
				    "are not ones a guest can set");
}
