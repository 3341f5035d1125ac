/* fw_cfg (fw_cfg.h): a table of items built at creation (the command
 * line's once the loader ran, before any vCPU), a selector, a read
 * offset and the DMA descriptor's address being written. vCPUs share
 * them, so they sit under a lock; the items never change while vCPUs
 * run. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "kvmini.h"
#include "arch/x86/e820.h"
#include "devices/fw_cfg.h"

#define FW_CFG_NITEMS 10
#define FW_CFG_DMA_DESC_SIZE 16    /* u32 control, u32 length, u64 address */
/* A saved command line longer than this is not one a loader wrote. */
#define FW_CFG_CMDLINE_MAX (1u << 20)
#define FW_CFG_NFILES 1
#define E820_ENTRY_SIZE 20         /* u64 address, u64 length, u32 type: packed */

struct fw_cfg_item {
	uint16_t key;
	uint32_t len;
	uint8_t *data;
};

struct fw_cfg {
	pthread_mutex_t lock;
	const struct guest_memory *mem;   /* for DMA; NULL: no RAM */
	uint16_t selector;
	uint32_t offset;             /* next byte of the selected item */
	uint64_t dma_addr;           /* the descriptor's address, high half written */
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

static uint64_t get_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static const struct fw_cfg_item *item_find(const struct fw_cfg *c, uint16_t key)
{
	for (unsigned i = 0; i < c->nitems; i++)
		if (c->items[i].key == key)
			return &c->items[i];
	return NULL;
}

/* Add an item of len bytes; returns its buffer (zeroed), NULL when out
 * of memory or of room. */
static uint8_t *item_add(struct fw_cfg *c, uint16_t key, uint32_t len)
{
	if (c->nitems == FW_CFG_NITEMS)
		return NULL;
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
	if (!item_add_le(c, FW_CFG_ID, FW_CFG_VERSION | FW_CFG_VERSION_DMA, 4) ||
	    !item_add_le(c, FW_CFG_RAM_SIZE, env->ram_below_4g + env->ram_above_4g, 8) ||
	    !item_add_le(c, FW_CFG_NB_CPUS, cpus, 2) ||
	    !item_add_le(c, FW_CFG_MAX_CPUS, cpus, 2) || !e820_add(c, env))
		return -1;
	/* The command line's items, empty (reading as absent ones do: 0)
	 * until a --kernel boot fills them (fw_cfg_booted). */
	if (!item_add(c, FW_CFG_CMDLINE_ADDR, 0) || !item_add(c, FW_CFG_CMDLINE_SIZE, 0) ||
	    !item_add(c, FW_CFG_CMDLINE_DATA, 0))
		return -1;
	return dir_add(c, item_find(c, FW_CFG_FILE_FIRST)) ? 0 : -1;
}

static void *fw_cfg_create(const struct device_env *env, struct kvmini_error *err)
{
	struct fw_cfg *c = calloc(1, sizeof(*c));
	if (!c) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for fw_cfg");
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	c->mem = env->mem;
	if (items_build(c, env) < 0) {
		fw_cfg_destroy(c);
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for fw_cfg");
		return NULL;
	}
	return c;
}

static void item_replace(struct fw_cfg *c, uint16_t key, uint8_t *data, uint32_t len)
{
	struct fw_cfg_item *it = (struct fw_cfg_item *)item_find(c, key);
	free(it->data);
	it->data = data;
	it->len = len;
}

/* The command line's three items, QEMU's way: its size and bytes
 * include the NUL (size 0: no command line, the items empty). All or
 * nothing: -1 when out of memory, with nothing changed. */
static int cmdline_set(struct fw_cfg *c, const uint8_t *bytes, uint32_t size, uint32_t addr)
{
	uint8_t *data = calloc(1, size ? size : 1), *a = calloc(1, 4), *n = calloc(1, 4);
	if (!data || !a || !n) {
		free(data);
		free(a);
		free(n);
		return -1;
	}
	memcpy(data, bytes, size);
	put_le(a, addr, 4);
	put_le(n, size, 4);
	item_replace(c, FW_CFG_CMDLINE_DATA, data, size);
	item_replace(c, FW_CFG_CMDLINE_ADDR, a, size ? 4 : 0);
	item_replace(c, FW_CFG_CMDLINE_SIZE, n, size ? 4 : 0);
	return 0;
}

/* Before any vCPU runs, once per boot. */
static int fw_cfg_booted(void *opaque, const struct device_boot *boot, struct kvmini_error *err)
{
	struct fw_cfg *c = opaque;
	size_t size = boot->cmdline ? strlen(boot->cmdline) + 1 : 0;
	if (!size)
		return 0;
	if (size > FW_CFG_CMDLINE_MAX)
		return kvmini_fail(err, KVMINI_E_USAGE, "fw_cfg: a command line of %zu bytes", size);
	pthread_mutex_lock(&c->lock);
	int rc = cmdline_set(c, (const uint8_t *)boot->cmdline, (uint32_t)size,
			     (uint32_t)boot->cmdline_addr);
	pthread_mutex_unlock(&c->lock);
	if (rc < 0)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for fw_cfg's command line");
	return 0;
}

static void fw_cfg_reset(void *opaque)
{
	struct fw_cfg *c = opaque;
	pthread_mutex_lock(&c->lock);
	c->selector = 0;
	c->offset = 0;
	c->dma_addr = 0;
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

/* ---- DMA ---- */

/* Bytes of the selected item left from the offset. */
static uint32_t item_left(const struct fw_cfg *c, const struct fw_cfg_item *it)
{
	return it && c->offset < it->len ? it->len - c->offset : 0;
}

/* READ: the whole destination must be RAM before a byte moves, so a
 * hostile length costs one bounded copy, never a loop. */
static bool dma_read_item(struct fw_cfg *c, uint32_t length, gpa_t addr)
{
	const struct fw_cfg_item *it = item_find(c, c->selector);
	uint32_t left = item_left(c, it), n = length < left ? length : left;
	uint8_t *dst = length ? guest_ptr(c->mem, addr, length) : NULL;
	if (length && !dst)
		return false;
	if (n)
		memcpy(dst, it->data + c->offset, n);
	if (length > n)
		memset(dst + n, 0, length - n);   /* past the item's end, as the data port */
	c->offset += n;
	return true;
}

/* One descriptor's work; false: report ERROR. */
static bool dma_run(struct fw_cfg *c, uint32_t control, uint32_t length, gpa_t addr)
{
	if (control & FW_CFG_DMA_SELECT) {
		c->selector = (uint16_t)(control >> 16);
		c->offset = 0;
	}
	if (control & FW_CFG_DMA_READ)
		return dma_read_item(c, length, addr);
	if (control & FW_CFG_DMA_WRITE)
		return length == 0;   /* every item is read-only */
	if (control & FW_CFG_DMA_SKIP) {
		uint32_t left = item_left(c, item_find(c, c->selector));
		c->offset += length < left ? length : left;
	}
	return true;
}

/* Read the descriptor at desc, run it, write its control word back. */
static void dma_transfer(struct fw_cfg *c, gpa_t desc)
{
	uint8_t d[FW_CFG_DMA_DESC_SIZE];
	if (!c->mem || guest_read(c->mem, desc, d, sizeof(d)) < 0)
		return;   /* nowhere to report an error */
	bool ok = dma_run(c, (uint32_t)get_be(d, 4), (uint32_t)get_be(d + 4, 4), get_be(d + 8, 8));
	uint8_t control[4];
	put_be(control, ok ? 0 : FW_CFG_DMA_ERROR, 4);
	guest_write(c->mem, desc, control, sizeof(control));
}

/* Offset 0, 4 bytes: the high half; offset 4, 4 bytes: the low half,
 * which starts the transfer; offset 0, 8 bytes: all of it. Other widths
 * and offsets are ignored. The latch clears after each transfer, so a
 * lone low-half write names a descriptor below 4 GiB. */
static void fw_cfg_dma_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct fw_cfg *c = opaque;
	pthread_mutex_lock(&c->lock);
	if (len == 4 && offset == 0) {
		c->dma_addr = get_be(data, 4) << 32;
	} else if ((len == 4 && offset == 4) || (len == 8 && offset == 0)) {
		gpa_t desc = len == 8 ? get_be(data, 8) : c->dma_addr | get_be(data, 4);
		c->dma_addr = 0;
		dma_transfer(c, desc);
	}
	pthread_mutex_unlock(&c->lock);
}

static void fw_cfg_dma_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	(void)opaque;
	for (uint32_t i = 0; i < len; i++)
		data[i] = offset + i < FW_CFG_DMA_NPORTS
			? (uint8_t)(FW_CFG_DMA_SIGNATURE >> (8 * (FW_CFG_DMA_NPORTS - 1 - offset - i)))
			: 0;
}

const struct bus_device_ops fw_cfg_dma_ops = { .read = fw_cfg_dma_read,
					       .write = fw_cfg_dma_write };

/* ---- saved state ---- */

/* The selector, offset and DMA latch, then the command line the boot
 * had (a restored VM is not loaded again: the items come from here). */
static void fw_cfg_save(void *opaque, struct state_writer *w)
{
	struct fw_cfg *c = opaque;
	pthread_mutex_lock(&c->lock);
	state_put_u16(w, c->selector);
	state_put_u32(w, c->offset);
	state_put_u64(w, c->dma_addr);
	const struct fw_cfg_item *addr = item_find(c, FW_CFG_CMDLINE_ADDR);
	const struct fw_cfg_item *data = item_find(c, FW_CFG_CMDLINE_DATA);
	state_put_u32(w, addr->len == 4 ? (uint32_t)addr->data[0] | (uint32_t)addr->data[1] << 8 |
					  (uint32_t)addr->data[2] << 16 | (uint32_t)addr->data[3] << 24
					: 0);
	state_put_u32(w, data->len);
	state_put_bytes(w, data->data, data->len);
	pthread_mutex_unlock(&c->lock);
}

/* The length the selected item will have once a restored command line
 * of `size` bytes is in place. */
static uint32_t restored_len(const struct fw_cfg *c, uint16_t key, uint32_t size)
{
	if (key == FW_CFG_CMDLINE_DATA)
		return size;
	if (key == FW_CFG_CMDLINE_ADDR || key == FW_CFG_CMDLINE_SIZE)
		return size ? 4 : 0;
	const struct fw_cfg_item *it = item_find(c, key);
	return it ? it->len : 0;
}

/* A command line of at most FW_CFG_CMDLINE_MAX bytes ending in its NUL;
 * the offset within the selected item. */
static int fw_cfg_restore(void *opaque, struct state_reader *r, struct kvmini_error *err)
{
	struct fw_cfg *c = opaque;
	uint16_t selector = state_get_u16(r);
	uint32_t offset = state_get_u32(r);
	uint64_t dma_addr = state_get_u64(r);
	uint32_t addr = state_get_u32(r), size = state_get_u32(r);
	if (size > FW_CFG_CMDLINE_MAX)
		return kvmini_fail(err, KVMINI_E_USAGE, "fw_cfg: saved command line of %u bytes",
				   size);
	uint8_t *line = malloc(size ? size : 1);
	if (!line)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for fw_cfg's state");
	state_get_bytes(r, line, size);
	int rc = state_reader_finish(r, "fw_cfg", err);
	if (rc == 0 && size && line[size - 1] != '\0')
		rc = kvmini_fail(err, KVMINI_E_USAGE, "fw_cfg: saved command line lacks its NUL");
	if (rc == 0 && offset > restored_len(c, selector, size))
		rc = kvmini_fail(err, KVMINI_E_USAGE, "fw_cfg: saved offset %u is past item 0x%x's end",
				 offset, selector);
	pthread_mutex_lock(&c->lock);
	if (rc == 0 && cmdline_set(c, line, size, addr) < 0)
		rc = kvmini_fail(err, KVMINI_E_HOST, "out of memory for fw_cfg's state");
	if (rc == 0) {
		c->selector = selector;
		c->offset = offset;
		c->dma_addr = dma_addr;
	}
	pthread_mutex_unlock(&c->lock);
	free(line);
	return rc;
}

const struct device_type fw_cfg_device = {
	.name = "fw_cfg",
	.res = {
		.ranges = {
			{ RESOURCE_SPACE_PORT, FW_CFG_PORT, FW_CFG_NPORTS, &fw_cfg_ops, "fw_cfg" },
			{ RESOURCE_SPACE_PORT, FW_CFG_DMA_PORT, FW_CFG_DMA_NPORTS, &fw_cfg_dma_ops,
			  "fw_cfg DMA" },
		},
		.nranges = 2,
	},
	.create = fw_cfg_create, .destroy = fw_cfg_destroy, .reset = fw_cfg_reset,
	.booted = fw_cfg_booted,
	.save_state = fw_cfg_save, .restore_state = fw_cfg_restore,
};
