/* fw_cfg driven through the port bus as a guest drives it: a 16-bit key
 * to 0x510, the item's bytes from 0x511. */
#include <criterion/criterion.h>
#include <string.h>
#include "kvmini.h"
#include "bus.h"
#include "devices/fw_cfg.h"

static struct bus pio;
static void *dev;
static struct kvmini_config cfg;

static void attach(unsigned cpus, uint64_t below_4g, uint64_t above_4g)
{
	struct kvmini_error err;
	kvmini_config_defaults(&cfg);
	cfg.cpus = cpus;
	struct device_env env = { .config = &cfg, .ram_below_4g = below_4g,
				  .ram_above_4g = above_4g };
	bus_init(&pio, "port");
	cr_assert_not_null(dev = fw_cfg_device.create(&env, &err), "%s", err.msg);
	const struct resource_range *r = &fw_cfg_device.res.ranges[0];
	cr_assert_eq(bus_register(&pio, r->base, r->len, r->ops, dev, r->name, &err), 0,
		     "%s", err.msg);
}

static void detach(void)
{
	bus_free(&pio);
	fw_cfg_device.destroy(dev);
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
	cr_assert_eq(read_le(FW_CFG_ID, 4), 1);   /* the port interface, no DMA */
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
