/* libFuzzer target: fw_cfg driven as a hostile guest drives it, above
 * all its DMA interface: descriptors written anywhere in (and past) guest
 * RAM with any control word, length and buffer address, kicked through
 * the DMA ports at every width and offset, mixed with selector and data
 * port accesses and saved states read back. The RAM is a plain
 * guest_memory: every guest address must go through guest_ptr(), and a
 * hostile length must never run past RAM or loop long. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "fuzz_target.h"
#include "kvmini.h"
#include "bus.h"
#include "devices/fw_cfg.h"
#include "state.h"

/* One step: kind (bits 0-1 what, bit 2 write, bit 7 a full 32-bit
 * length), a width, a port offset, then four 32-bit values. */
struct step {
	uint8_t kind, width;
	uint16_t port;
	uint32_t where, control, length, buffer;
};

#define REACH (FUZZ_RAM_SIZE + (16ULL << 20))   /* RAM and a bit past it */

static void put_be(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* A descriptor at `where`, kicked the way a guest kicks it. */
static void kick(struct bus *pio, const struct step *s)
{
	const struct guest_memory *mem = fuzz_guest_memory();
	uint64_t at = s->where % REACH;
	uint8_t d[16], hi[4] = { 0 }, lo[4];
	put_be(d, s->control, 4);
	put_be(d + 4, s->kind & 0x80 ? s->length : s->length % 65536, 4);
	put_be(d + 8, s->buffer % REACH, 8);
	guest_write(mem, at, d, sizeof(d));   /* fails past RAM: the kick then finds nothing */
	put_be(lo, at, 4);
	bus_access(pio, FW_CFG_DMA_PORT, hi, 4, true);
	bus_access(pio, FW_CFG_DMA_PORT + 4, lo, 4, true);
}

static void step_run(struct bus *pio, void *dev, const struct step *s)
{
	static const uint32_t widths[4] = { 1, 2, 4, 8 };
	uint8_t data[8];
	memcpy(data, &s->control, 4);
	memcpy(data + 4, &s->where, 4);
	uint32_t len = widths[s->width & 3];
	bool write = s->kind & 4;
	switch (s->kind & 3) {
	case 0:
		kick(pio, s);
		break;
	case 1:   /* selector, data and DMA ports as the CPU reaches them */
		bus_access(pio, FW_CFG_PORT + s->port % 12, data, len > 4 ? 4 : len, write);
		break;
	case 2:   /* the DMA ports' callback at any width, 8 included */
		if (write)
			fw_cfg_dma_ops.write(dev, s->port % FW_CFG_DMA_NPORTS, data, len);
		else
			fw_cfg_dma_ops.read(dev, s->port % FW_CFG_DMA_NPORTS, data, len);
		break;
	default: {   /* a hostile saved state */
		struct state_reader r;
		struct kvmini_error err;
		state_reader_init(&r, (const uint8_t *)s + 4, 14 - (s->width % 4));
		fw_cfg_device.restore_state(dev, &r, &err);
		break;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kvmini_config cfg;
	struct kvmini_error err;
	struct bus pio;
	kvmini_config_defaults(&cfg);
	struct device_env env = { .config = &cfg, .ram_below_4g = FUZZ_RAM_SIZE,
				  .mem = fuzz_guest_memory() };
	void *dev = fw_cfg_device.create(&env, &err);
	if (!dev)
		abort();
	struct device_boot boot = { .cmdline = "console=ttyS0 fuzz", .cmdline_addr = 0x51000 };
	if (fw_cfg_device.booted(dev, &boot, &err) < 0)
		abort();
	bus_init(&pio, "port");
	for (unsigned i = 0; i < fw_cfg_device.res.nranges; i++) {
		const struct resource_range *r = &fw_cfg_device.res.ranges[i];
		if (bus_register(&pio, r->base, r->len, r->ops, dev, r->name, &err) < 0)
			abort();
	}
	struct step s;
	for (size_t off = 0; off + sizeof(s) <= size; off += sizeof(s)) {
		memcpy(&s, data + off, sizeof(s));
		step_run(&pio, dev, &s);
	}
	bus_free(&pio);
	fw_cfg_device.destroy(dev);
	return 0;
}
