/* fw_cfg (fw_cfg.h): a table of items built once at creation, a
 * selector and a read offset. vCPUs share it, so both sit under a lock. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "kvmini.h"
#include "arch/x86/e820.h"
#include "devices/fw_cfg.h"

#define FW_CFG_ID_TRADITIONAL 1u   /* feature bits: the port interface */
#define FW_CFG_NITEMS 7
#define FW_CFG_NFILES 1
#define E820_ENTRY_SIZE 20         /* u64 address, u64 length, u32 type: packed */

struct fw_cfg_item {
	uint16_t key;
	uint32_t len;
	uint8_t *data;
};

struct fw_cfg {
	pthread_mutex_t lock;
	uint16_t selector;
	uint32_t offset;             /* next byte of the selected item */
	struct fw_cfg_item items[FW_CFG_NITEMS];
	unsigned nitems;
};

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_be(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* Add an item of len bytes; returns its buffer (zeroed), NULL when out
 * of memory. */
static uint8_t *item_add(struct fw_cfg *c, uint16_t key, uint32_t len)
{
	struct fw_cfg_item *it = &c->items[c->nitems];
	if (!(it->data = calloc(1, len ? len : 1)))
		return NULL;
	it->key = key;
	it->len = len;
	c->nitems++;
	return it->data;
}

static uint8_t *item_add_le(struct fw_cfg *c, uint16_t key, uint64_t v, unsigned n)
{
	uint8_t *p = item_add(c, key, n);
	if (p)
		put_le(p, v, n);
	return p;
}

static uint8_t *e820_add(struct fw_cfg *c, const struct device_env *env)
{
	struct x86_e820_entry map[X86_E820_MAX];
	unsigned n = x86_e820_map(env->ram_below_4g, env->ram_above_4g, map);
	uint8_t *p = item_add(c, FW_CFG_FILE_FIRST, n * E820_ENTRY_SIZE);
	for (unsigned i = 0; p && i < n; i++) {
		put_le(p + i * E820_ENTRY_SIZE, map[i].addr, 8);
		put_le(p + i * E820_ENTRY_SIZE + 8, map[i].size, 8);
		put_le(p + i * E820_ENTRY_SIZE + 16, map[i].type, 4);
	}
	return p;
}

/* The directory: a count, then per file size, key, reserved, name. */
static uint8_t *dir_add(struct fw_cfg *c, const struct fw_cfg_item *e820)
{
	uint8_t *p = item_add(c, FW_CFG_FILE_DIR, 4 + FW_CFG_NFILES * (8 + FW_CFG_FILE_NAME_MAX));
	if (p) {
		put_be(p, FW_CFG_NFILES, 4);
		put_be(p + 4, e820->len, 4);
		put_be(p + 8, e820->key, 2);
		strcpy((char *)p + 12, "etc/e820");
	}
	return p;
}

static void fw_cfg_destroy(void *opaque)
{
	struct fw_cfg *c = opaque;
	if (!c)
		return;
	for (unsigned i = 0; i < c->nitems; i++)
		free(c->items[i].data);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static int items_build(struct fw_cfg *c, const struct device_env *env)
{
	unsigned cpus = env->config->cpus;
	uint8_t *sig = item_add(c, FW_CFG_SIGNATURE, 4);
	if (!sig)
		return -1;
	memcpy(sig, "QEMU", 4);
	if (!item_add_le(c, FW_CFG_ID, FW_CFG_ID_TRADITIONAL, 4) ||
	    !item_add_le(c, FW_CFG_RAM_SIZE, env->ram_below_4g + env->ram_above_4g, 8) ||
	    !item_add_le(c, FW_CFG_NB_CPUS, cpus, 2) ||
	    !item_add_le(c, FW_CFG_MAX_CPUS, cpus, 2) || !e820_add(c, env))
		return -1;
	return dir_add(c, &c->items[c->nitems - 1]) ? 0 : -1;
}

static void *fw_cfg_create(const struct device_env *env, struct kvmini_error *err)
{
	struct fw_cfg *c = calloc(1, sizeof(*c));
	if (!c) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for fw_cfg");
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	if (items_build(c, env) < 0) {
		fw_cfg_destroy(c);
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for fw_cfg");
		return NULL;
	}
	return c;
}

static const struct fw_cfg_item *item_find(const struct fw_cfg *c, uint16_t key)
{
	for (unsigned i = 0; i < c->nitems; i++)
		if (c->items[i].key == key)
			return &c->items[i];
	return NULL;
}

static void fw_cfg_reset(void *opaque)
{
	struct fw_cfg *c = opaque;
	pthread_mutex_lock(&c->lock);
	c->selector = 0;
	c->offset = 0;
	pthread_mutex_unlock(&c->lock);
}

/* Offset 0: the selector (a write selects and rewinds); offset 1: the
 * data port, one byte of the item per byte read. */
static void fw_cfg_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct fw_cfg *c = opaque;
	pthread_mutex_lock(&c->lock);
	const struct fw_cfg_item *it = item_find(c, c->selector);
	for (uint32_t i = 0; i < len; i++) {
		if (offset + i != 1)
			data[i] = 0;
		else if (it && c->offset < it->len)
			data[i] = it->data[c->offset++];
		else
			data[i] = 0;
	}
	pthread_mutex_unlock(&c->lock);
}

static void fw_cfg_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct fw_cfg *c = opaque;
	if (offset != 0)
		return;   /* the data port is read-only */
	pthread_mutex_lock(&c->lock);
	c->selector = (uint16_t)(data[0] | (len > 1 ? data[1] << 8 : 0));
	c->offset = 0;
	pthread_mutex_unlock(&c->lock);
}

const struct bus_device_ops fw_cfg_ops = { .read = fw_cfg_read, .write = fw_cfg_write };

const struct device_type fw_cfg_device = {
	.name = "fw_cfg",
	.res = {
		.ranges = { { RESOURCE_SPACE_PORT, FW_CFG_PORT, FW_CFG_NPORTS, &fw_cfg_ops,
			      "fw_cfg" } },
		.nranges = 1,
	},
	.create = fw_cfg_create, .destroy = fw_cfg_destroy, .reset = fw_cfg_reset,
};
