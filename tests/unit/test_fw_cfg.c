/* fw_cfg driven through the port bus as a guest drives it: a 16-bit key
 * to 0x510, the item's bytes from 0x511; DMA descriptors in a plain
 * guest_memory, their address written to 0x514/0x518. */
#include <criterion/criterion.h>
#include <string.h>
#include "kvmini.h"
#include "bus.h"
#include "devices/fw_cfg.h"
#include "memory.h"
#include "state.h"

#define RAM (1u << 20)

static struct bus pio;
static void *dev;
static struct kvmini_config cfg;
static struct guest_memory mem;

static void attach(unsigned cpus, uint64_t below_4g, uint64_t above_4g)
{
	struct kvmini_error err;
	kvmini_config_defaults(&cfg);
	cfg.cpus = cpus;
	cr_assert_eq(guest_memory_init(&mem, RAM, 0, &err), 0, "%s", err.msg);
	struct device_env env = { .config = &cfg, .ram_below_4g = below_4g,
				  .ram_above_4g = above_4g, .mem = &mem };
	bus_init(&pio, "port");
	cr_assert_not_null(dev = fw_cfg_device.create(&env, &err), "%s", err.msg);
	for (unsigned i = 0; i < fw_cfg_device.res.nranges; i++) {
		const struct resource_range *r = &fw_cfg_device.res.ranges[i];
		cr_assert_eq(bus_register(&pio, r->base, r->len, r->ops, dev, r->name, &err), 0,
			     "%s", err.msg);
	}
}

static void detach(void)
{
	bus_free(&pio);
	fw_cfg_device.destroy(dev);
	guest_memory_free(&mem);
}

TestSuite(fw_cfg, .fini = detach);

static void select_key(uint16_t key)
{
	uint8_t b[2] = { (uint8_t)key, (uint8_t)(key >> 8) };
	cr_assert(bus_access(&pio, 0x510, b, 2, true));
}

static void read_item(uint16_t key, uint8_t *buf, unsigned len)
{
	select_key(key);
	for (unsigned i = 0; i < len; i++)
		cr_assert(bus_access(&pio, 0x511, &buf[i], 1, false));
}

static uint64_t read_le(uint16_t key, unsigned len)
{
	uint8_t b[8] = { 0 };
	uint64_t v = 0;
	read_item(key, b, len);
	for (unsigned i = 0; i < len; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

Test(fw_cfg, signature_id_ram_and_cpus_come_from_the_configuration)
{
	uint8_t sig[4];

	attach(4, 64u << 20, 0);
	read_item(FW_CFG_SIGNATURE, sig, 4);
	cr_assert_eq(memcmp(sig, "QEMU", 4), 0);
	cr_assert_eq(read_le(FW_CFG_ID, 4), 3);   /* the port and DMA interfaces */
	cr_assert_eq(read_le(FW_CFG_RAM_SIZE, 8), 64u << 20);
	cr_assert_eq(read_le(FW_CFG_NB_CPUS, 2), 4);
	cr_assert_eq(read_le(FW_CFG_MAX_CPUS, 2), 4);
}

Test(fw_cfg, selecting_rewinds_and_reads_past_the_end_give_zero)
{
	uint8_t b[6];

	attach(1, 32u << 20, 0);
	read_item(FW_CFG_SIGNATURE, b, 2);
	cr_assert_eq(memcmp(b, "QE", 2), 0);
	read_item(FW_CFG_SIGNATURE, b, 6);
	cr_assert_eq(memcmp(b, "QEMU\0\0", 6), 0);
	read_item(0x1234, b, 2);                    /* no such item */
	cr_assert_eq(b[0] | b[1], 0);
	b[0] = 0x55;
	cr_assert(bus_access(&pio, 0x511, b, 1, true));   /* data writes are ignored */
	read_item(FW_CFG_SIGNATURE, b, 1);
	cr_assert_eq(b[0], 'Q');
}

Test(fw_cfg, file_directory_names_etc_e820_with_the_memory_map)
{
	uint8_t dir[4 + 64], e820[4 * 20];
	const uint64_t want[4][3] = {
		{ 0, 0x9fc00, 1 }, { 0x9fc00, 0x100000 - 0x9fc00, 2 },
		{ 0x100000, (3ULL << 30) - 0x100000, 1 }, { 1ULL << 32, 1ULL << 30, 1 },
	};

	attach(1, 3ULL << 30, 1ULL << 30);
	read_item(FW_CFG_FILE_DIR, dir, sizeof(dir));
	cr_assert_eq(be32(dir), 1);
	cr_assert_eq(be32(dir + 4), sizeof(e820));
	uint16_t key = (uint16_t)(dir[8] << 8 | dir[9]);
	cr_assert_str_eq((const char *)dir + 12, "etc/e820");
	read_item(key, e820, sizeof(e820));
	for (unsigned i = 0; i < 4; i++) {
		uint64_t f[3] = { 0, 0, 0 };
		for (unsigned b = 0; b < 8; b++) {
			f[0] |= (uint64_t)e820[i * 20 + b] << (8 * b);
			f[1] |= (uint64_t)e820[i * 20 + 8 + b] << (8 * b);
		}
		for (unsigned b = 0; b < 4; b++)
			f[2] |= (uint64_t)e820[i * 20 + 16 + b] << (8 * b);
		cr_assert_eq(f[0], want[i][0], "entry %u", i);
		cr_assert_eq(f[1], want[i][1], "entry %u", i);
		cr_assert_eq(f[2], want[i][2], "entry %u", i);
	}
	cr_assert_eq(read_le(FW_CFG_RAM_SIZE, 8), 4ULL << 30);
}

/* ---- the command line, after a boot's loader ---- */

Test(fw_cfg, a_booted_kernels_command_line_is_items_0x13_to_0x15)
{
	struct kvmini_error err;
	char data[16];

	attach(1, 32u << 20, 0);
	cr_assert_eq(read_le(FW_CFG_CMDLINE_SIZE, 4), 0);   /* not a --kernel boot yet */
	struct device_boot boot = { .cmdline = "console=ttyS0", .cmdline_addr = 0x51000 };
	cr_assert_eq(fw_cfg_device.booted(dev, &boot, &err), 0, "%s", err.msg);
	cr_assert_eq(read_le(FW_CFG_CMDLINE_ADDR, 4), 0x51000);
	cr_assert_eq(read_le(FW_CFG_CMDLINE_SIZE, 4), 14);   /* with the NUL, as QEMU */
	read_item(FW_CFG_CMDLINE_DATA, (uint8_t *)data, sizeof(data));
	cr_assert_eq(memcmp(data, "console=ttyS0\0\0\0", 16), 0);
}

Test(fw_cfg, a_boot_without_a_kernel_adds_no_command_line)
{
	struct kvmini_error err;
	struct device_boot boot = { .cmdline = NULL };

	attach(1, 32u << 20, 0);
	cr_assert_eq(fw_cfg_device.booted(dev, &boot, &err), 0);
	cr_assert_eq(read_le(FW_CFG_CMDLINE_SIZE, 4), 0);
	cr_assert_eq(read_le(FW_CFG_CMDLINE_ADDR, 4), 0);
}

/* ---- DMA ---- */

#define DESC 0x1000u     /* where the tests put a descriptor */
#define BUF  0x2000u     /* and its buffer */

static void put_be(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static void out32(uint16_t port, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	cr_assert(bus_access(&pio, port, b, 4, true));
}

/* What a guest does: outl(bswap32(addr >> 32), 0x514), outl(bswap32(addr), 0x518). */
static void dma_kick(uint64_t desc)
{
	uint8_t hi[4], lo[4];
	put_be(hi, desc >> 32, 4);
	put_be(lo, desc, 4);
	cr_assert(bus_access(&pio, 0x514, hi, 4, true));
	cr_assert(bus_access(&pio, 0x518, lo, 4, true));
}

/* Write a descriptor at gpa, kick it, return the control word written back. */
static uint32_t dma_at(uint64_t gpa, uint32_t control, uint32_t length, uint64_t address)
{
	uint8_t d[16], back[4];
	put_be(d, control, 4);
	put_be(d + 4, length, 4);
	put_be(d + 8, address, 8);
	cr_assert_eq(guest_write(&mem, gpa, d, sizeof(d)), 0);
	dma_kick(gpa);
	cr_assert_eq(guest_read(&mem, gpa, back, 4), 0);
	return (uint32_t)back[0] << 24 | (uint32_t)back[1] << 16 | (uint32_t)back[2] << 8 | back[3];
}

static uint32_t dma(uint32_t control, uint32_t length, uint64_t address)
{
	return dma_at(DESC, control, length, address);
}

static uint32_t select_ctl(uint16_t key)
{
	return (uint32_t)key << 16 | FW_CFG_DMA_SELECT;
}

static const uint8_t *ram(uint64_t gpa, uint64_t len)
{
	const uint8_t *p = guest_ptr(&mem, gpa, len);
	cr_assert_not_null(p);
	return p;
}

Test(fw_cfg, dma_select_and_read_copies_the_item_and_clears_control)
{
	attach(2, 32u << 20, 0);
	cr_assert_eq(dma(select_ctl(FW_CFG_SIGNATURE) | FW_CFG_DMA_READ, 4, BUF), 0);
	cr_assert_eq(memcmp(ram(BUF, 4), "QEMU", 4), 0);
	cr_assert_eq(dma(select_ctl(FW_CFG_NB_CPUS) | FW_CFG_DMA_READ, 2, BUF), 0);
	cr_assert_eq(ram(BUF, 2)[0], 2);
	cr_assert_eq(ram(BUF, 2)[1], 0);
}

Test(fw_cfg, dma_read_continues_from_the_offset_and_zero_fills_past_the_end)
{
	uint8_t junk[8];
	memset(junk, 0xaa, sizeof(junk));

	attach(1, 32u << 20, 0);
	cr_assert_eq(guest_write(&mem, BUF, junk, sizeof(junk)), 0);
	cr_assert_eq(dma(select_ctl(FW_CFG_SIGNATURE) | FW_CFG_DMA_READ, 1, BUF), 0);
	cr_assert_eq(dma(FW_CFG_DMA_READ, 8, BUF + 1), 0);        /* no select: goes on */
	cr_assert_eq(memcmp(ram(BUF, 9), "QEMU\0\0\0\0\0", 9), 0);
	uint8_t b;   /* the data port shares the offset: at the end */
	cr_assert(bus_access(&pio, 0x511, &b, 1, false));
	cr_assert_eq(b, 0);
}

Test(fw_cfg, dma_skip_moves_the_offset_without_touching_memory)
{
	attach(1, 32u << 20, 0);
	cr_assert_eq(dma(select_ctl(FW_CFG_SIGNATURE) | FW_CFG_DMA_SKIP, 2, 0xdeadbeef000ULL), 0);
	cr_assert_eq(dma(FW_CFG_DMA_READ, 2, BUF), 0);
	cr_assert_eq(memcmp(ram(BUF, 2), "MU", 2), 0);
	cr_assert_eq(dma(FW_CFG_DMA_SKIP, 0xffffffffu, 0), 0);   /* stops at the end */
	cr_assert_eq(dma(FW_CFG_DMA_READ, 1, BUF), 0);
	cr_assert_eq(ram(BUF, 1)[0], 0);
}

Test(fw_cfg, dma_select_alone_rewinds_and_the_data_port_follows)
{
	uint8_t b;
	attach(1, 32u << 20, 0);
	read_item(FW_CFG_SIGNATURE, &b, 1);
	cr_assert_eq(dma(select_ctl(FW_CFG_SIGNATURE), 0, 0), 0);
	cr_assert(bus_access(&pio, 0x511, &b, 1, false));
	cr_assert_eq(b, 'Q');
}

Test(fw_cfg, dma_write_is_refused_with_error_and_changes_nothing)
{
	attach(1, 32u << 20, 0);
	cr_assert_eq(guest_write(&mem, BUF, "ABCD", 4), 0);
	cr_assert_eq(dma(select_ctl(FW_CFG_SIGNATURE) | FW_CFG_DMA_WRITE, 4, BUF),
		     FW_CFG_DMA_ERROR);
	cr_assert_eq(dma(FW_CFG_DMA_READ, 4, BUF), 0);
	cr_assert_eq(memcmp(ram(BUF, 4), "QEMU", 4), 0);
	cr_assert_eq(dma(FW_CFG_DMA_WRITE, 0, BUF), 0);   /* nothing to write: no error */
}

Test(fw_cfg, dma_buffers_outside_ram_are_errors_and_copy_nothing)
{
	attach(1, 32u << 20, 0);
	/* straddling the end of RAM, wholly past it, wrapping, hostile lengths */
	cr_assert_eq(dma(select_ctl(FW_CFG_SIGNATURE) | FW_CFG_DMA_READ, 4, RAM - 2),
		     FW_CFG_DMA_ERROR);
	cr_assert_eq(dma(select_ctl(FW_CFG_SIGNATURE) | FW_CFG_DMA_READ, 4, 1ULL << 40),
		     FW_CFG_DMA_ERROR);
	cr_assert_eq(dma(select_ctl(FW_CFG_SIGNATURE) | FW_CFG_DMA_READ, 4, UINT64_MAX - 1),
		     FW_CFG_DMA_ERROR);
	cr_assert_eq(dma(select_ctl(FW_CFG_SIGNATURE) | FW_CFG_DMA_READ, 0xffffffffu, 0),
		     FW_CFG_DMA_ERROR);
	cr_assert_eq(dma(FW_CFG_DMA_READ, 4, BUF), 0);    /* the failures moved nothing */
	cr_assert_eq(memcmp(ram(BUF, 4), "QEMU", 4), 0);
	/* the whole RAM is a fine destination: zeros past the item */
	cr_assert_eq(dma(select_ctl(FW_CFG_SIGNATURE) | FW_CFG_DMA_READ, RAM, 0), 0);
	cr_assert_eq(memcmp(ram(0, 5), "QEMU\0", 5), 0);
}

Test(fw_cfg, descriptors_outside_ram_are_ignored)
{
	uint8_t b;
	attach(1, 32u << 20, 0);
	read_item(FW_CFG_SIGNATURE, &b, 1);
	dma_kick(RAM - 8);            /* straddles the end */
	dma_kick(1ULL << 40);
	dma_kick(UINT64_MAX - 7);     /* wraps */
	cr_assert(bus_access(&pio, 0x511, &b, 1, false));
	cr_assert_eq(b, 'E');         /* nothing selected or moved */
}

Test(fw_cfg, a_descriptor_above_4g_takes_both_halves_and_the_latch_clears)
{
	struct kvmini_error err;
	uint8_t d[16] = { 0 };

	attach(1, 32u << 20, 0);
	guest_memory_free(&mem);
	cr_assert_eq(guest_memory_init(&mem, 3ULL << 30 | 1ULL << 20, 0, &err), 0, "%s", err.msg);
	uint64_t high_desc = GUEST_MMIO_HOLE_END + 0x1000;   /* RAM above 4 GiB */
	cr_assert_eq(dma_at(high_desc, select_ctl(FW_CFG_SIGNATURE) | FW_CFG_DMA_READ, 4,
			    high_desc + 0x100), 0);
	cr_assert_eq(memcmp(ram(high_desc + 0x100, 4), "QEMU", 4), 0);
	/* a lone low-half write now means below 4 GiB */
	put_be(d, select_ctl(FW_CFG_NB_CPUS) | FW_CFG_DMA_READ, 4);
	put_be(d + 4, 2, 4);
	put_be(d + 8, BUF, 8);
	cr_assert_eq(guest_write(&mem, DESC, d, sizeof(d)), 0);
	put_be(d, DESC, 4);
	cr_assert(bus_access(&pio, 0x518, d, 4, true));
	cr_assert_eq(ram(BUF, 1)[0], 1);
	cr_assert_eq(ram(DESC, 4)[3], 0);
}

Test(fw_cfg, a_64_bit_write_starts_a_transfer_other_widths_do_nothing)
{
	uint8_t d[16], a[8];

	attach(1, 32u << 20, 0);
	put_be(d, select_ctl(FW_CFG_SIGNATURE) | FW_CFG_DMA_READ, 4);
	put_be(d + 4, 4, 4);
	put_be(d + 8, BUF, 8);
	cr_assert_eq(guest_write(&mem, DESC, d, sizeof(d)), 0);
	for (uint32_t len = 1; len <= 2; len++)
		for (uint64_t off = 0; off < 8; off += len) {
			put_be(a, (uint64_t)DESC << 32 | DESC, 8);
			cr_assert(bus_access(&pio, 0x514 + off, a, len, true));
		}
	out32(0x514 + 2, 0);          /* misaligned halves too */
	cr_assert_eq(ram(BUF, 1)[0], 0, "no transfer yet");
	put_be(a, DESC, 8);
	fw_cfg_dma_ops.write(dev, 0, a, 8);
	cr_assert_eq(memcmp(ram(BUF, 4), "QEMU", 4), 0);
	cr_assert_eq(ram(DESC, 4)[3], 0);
}

Test(fw_cfg, the_dma_port_reads_qemu_cfg_at_every_width)
{
	uint8_t b[4];
	attach(1, 32u << 20, 0);
	for (uint32_t len = 1; len <= 4; len *= 2)
		for (unsigned off = 0; off < 8; off += len) {
			cr_assert(bus_access(&pio, 0x514 + off, b, len, false));
			cr_assert_eq(memcmp(b, "QEMU CFG" + off, len), 0, "offset %u width %u", off, len);
		}
}

Test(fw_cfg, a_descriptor_that_is_its_own_buffer_gets_its_control_word_last)
{
	attach(1, 32u << 20, 0);
	cr_assert_eq(dma(select_ctl(FW_CFG_SIGNATURE) | FW_CFG_DMA_READ, 16, DESC), 0);
	cr_assert_eq(memcmp(ram(DESC + 4, 12), "\0\0\0\0\0\0\0\0\0\0\0\0", 12), 0);
}

/* ---- saved state ---- */

Test(fw_cfg, state_round_trips_and_a_hostile_offset_is_refused)
{
	struct kvmini_error err;
	struct state_writer w;
	struct state_reader r;
	uint8_t b, two[2];

	attach(1, 32u << 20, 0);
	read_item(FW_CFG_SIGNATURE, two, 2);   /* offset 2 */
	state_writer_init(&w);
	fw_cfg_device.save_state(dev, &w);
	cr_assert_not(w.failed);
	fw_cfg_device.reset(dev);
	state_reader_init(&r, w.data, w.len);
	cr_assert_eq(fw_cfg_device.restore_state(dev, &r, &err), 0, "%s", err.msg);
	cr_assert(bus_access(&pio, 0x511, &b, 1, false));
	cr_assert_eq(b, 'M');

	w.data[2] = 5;   /* offset 5 of a 4-byte item */
	state_reader_init(&r, w.data, w.len);
	cr_assert_eq(fw_cfg_device.restore_state(dev, &r, &err), -1);
	cr_assert(strstr(err.msg, "past"), "%s", err.msg);
	state_reader_init(&r, w.data, w.len - 1);   /* short */
	cr_assert_eq(fw_cfg_device.restore_state(dev, &r, &err), -1);
	cr_assert(bus_access(&pio, 0x511, &b, 1, false));
	cr_assert_eq(b, 'U', "a failed restore changed nothing");
	state_writer_free(&w);
}

Test(fw_cfg, a_restored_state_brings_the_command_line_back)
{
	struct kvmini_error err;
	struct state_writer w;
	struct state_reader r;
	char line[16];

	attach(1, 32u << 20, 0);
	struct device_boot boot = { .cmdline = "mb.end", .cmdline_addr = 0x51000 };
	cr_assert_eq(fw_cfg_device.booted(dev, &boot, &err), 0, "%s", err.msg);
	read_item(FW_CFG_CMDLINE_DATA, (uint8_t *)line, 3);   /* offset 3 */
	state_writer_init(&w);
	fw_cfg_device.save_state(dev, &w);
	fw_cfg_device.destroy(dev);

	struct device_env env = { .config = &cfg, .ram_below_4g = 32u << 20, .mem = &mem };
	cr_assert_not_null(dev = fw_cfg_device.create(&env, &err));   /* not booted: a restore */
	bus_free(&pio);
	bus_init(&pio, "port");
	for (unsigned i = 0; i < fw_cfg_device.res.nranges; i++) {
		const struct resource_range *rr = &fw_cfg_device.res.ranges[i];
		cr_assert_eq(bus_register(&pio, rr->base, rr->len, rr->ops, dev, rr->name, &err), 0);
	}
	state_reader_init(&r, w.data, w.len);
	cr_assert_eq(fw_cfg_device.restore_state(dev, &r, &err), 0, "%s", err.msg);
	uint8_t b;
	cr_assert(bus_access(&pio, 0x511, &b, 1, false));
	cr_assert_eq(b, 'e', "the offset into the restored line");
	cr_assert_eq(read_le(FW_CFG_CMDLINE_SIZE, 4), 7);
	cr_assert_eq(read_le(FW_CFG_CMDLINE_ADDR, 4), 0x51000);
	read_item(FW_CFG_CMDLINE_DATA, (uint8_t *)line, 7);
	cr_assert_str_eq(line, "mb.end");

	w.data[w.len - 1] = 'x';                  /* the line's NUL gone */
	state_reader_init(&r, w.data, w.len);
	cr_assert_eq(fw_cfg_device.restore_state(dev, &r, &err), -1);
	cr_assert(strstr(err.msg, "NUL"), "%s", err.msg);
	w.data[w.len - 1] = 0;
	w.data[2 + 4 + 8 + 4 + 3] = 0x7f;         /* a size of ~2 GiB */
	state_reader_init(&r, w.data, w.len);
	cr_assert_eq(fw_cfg_device.restore_state(dev, &r, &err), -1);
	state_writer_free(&w);
}
