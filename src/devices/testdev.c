/* pc-testdev (testdev.h). The latch and the MMIO bytes are shared by the
 * vCPUs, so they sit under a lock; the IRQ ports only pass levels on. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "kvmini.h"
#include "devices/testdev.h"

struct testdev {
	pthread_mutex_t lock;
	uint32_t latch;
	struct irq_line isa;        /* any ISA line: set_level(ctx, n, level) */
	uint8_t mem[TESTDEV_MMIO_SIZE];
};

static void latch_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct testdev *t = opaque;
	uint32_t v = 0;
	(void)offset;
	for (uint32_t i = 0; i < len && i < sizeof(v); i++)
		v |= (uint32_t)data[i] << (8 * i);
	pthread_mutex_lock(&t->lock);
	t->latch = v;
	pthread_mutex_unlock(&t->lock);
}

static void latch_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct testdev *t = opaque;
	pthread_mutex_lock(&t->lock);
	for (uint32_t i = 0; i < len; i++)
		data[i] = offset + i < sizeof(t->latch) ? (uint8_t)(t->latch >> (8 * (offset + i))) : 0;
	pthread_mutex_unlock(&t->lock);
}

static void zero_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	memset(data, 0, len);
}

static void flush_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	(void)data;
	(void)len;
}

/* Port 0x2000+n: the low bit of the byte written is line n's level. */
static void irq_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct testdev *t = opaque;
	if (len == 0 || offset >= TESTDEV_IRQ_LINES || !t->isa.set_level)
		return;
	t->isa.set_level(t->isa.ctx, (unsigned)offset, data[0] & 1);
}

static void mmio_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct testdev *t = opaque;
	pthread_mutex_lock(&t->lock);
	for (uint32_t i = 0; i < len; i++)
		data[i] = offset + i < TESTDEV_MMIO_SIZE ? t->mem[offset + i] : 0xff;
	pthread_mutex_unlock(&t->lock);
}

static void mmio_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct testdev *t = opaque;
	pthread_mutex_lock(&t->lock);
	for (uint32_t i = 0; i < len && offset + i < TESTDEV_MMIO_SIZE; i++)
		t->mem[offset + i] = data[i];
	pthread_mutex_unlock(&t->lock);
}

const struct bus_device_ops testdev_latch_ops = { .read = latch_read, .write = latch_write };
const struct bus_device_ops testdev_flush_ops = { .read = zero_read, .write = flush_write };
const struct bus_device_ops testdev_irq_ops = { .read = zero_read, .write = irq_write };
const struct bus_device_ops testdev_mmio_ops = { .read = mmio_read, .write = mmio_write };

static void *testdev_create(const struct device_env *env, struct kvmini_error *err)
{
	struct testdev *t = calloc(1, sizeof(*t));
	if (!t) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for pc-testdev");
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	t->isa = env->isa_bus;
	return t;
}

static void testdev_destroy(void *opaque)
{
	struct testdev *t = opaque;
	if (!t)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static void testdev_reset(void *opaque)
{
	struct testdev *t = opaque;
	pthread_mutex_lock(&t->lock);
	t->latch = 0;
	memset(t->mem, 0, sizeof(t->mem));
	pthread_mutex_unlock(&t->lock);
}

/* The latch and the 64 KiB, as they are: every value is valid. */
static void testdev_save(void *opaque, struct state_writer *w)
{
	struct testdev *t = opaque;
	pthread_mutex_lock(&t->lock);
	state_put_u32(w, t->latch);
	state_put_bytes(w, t->mem, sizeof(t->mem));
	pthread_mutex_unlock(&t->lock);
}

static int testdev_restore(void *opaque, struct state_reader *r, struct kvmini_error *err)
{
	struct testdev *t = opaque;
	uint8_t *mem = malloc(sizeof(t->mem));
	if (!mem)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for pc-testdev's state");
	uint32_t latch = state_get_u32(r);
	state_get_bytes(r, mem, sizeof(t->mem));
	int rc = state_reader_finish(r, "pc-testdev", err);
	if (rc == 0) {
		pthread_mutex_lock(&t->lock);
		t->latch = latch;
		memcpy(t->mem, mem, sizeof(t->mem));
		pthread_mutex_unlock(&t->lock);
	}
	free(mem);
	return rc;
}

static bool testdev_wanted(const struct kvmini_config *cfg)
{
	return cfg->testdev;
}

const struct device_type testdev_device = {
	.name = "pc-testdev",
	.res = {
		.ranges = {
			{ RESOURCE_SPACE_PORT, TESTDEV_LATCH_PORT, 4, &testdev_latch_ops,
			  "pc-testdev latch" },
			{ RESOURCE_SPACE_PORT, TESTDEV_FLUSH_PORT, 4, &testdev_flush_ops,
			  "pc-testdev flush" },
			{ RESOURCE_SPACE_PORT, TESTDEV_IRQ_PORT, TESTDEV_IRQ_LINES, &testdev_irq_ops,
			  "pc-testdev irq" },
			{ RESOURCE_SPACE_MMIO, TESTDEV_MMIO_BASE, TESTDEV_MMIO_SIZE, &testdev_mmio_ops,
			  "pc-testdev memory" },
		},
		.nranges = 4,
	},
	.wanted = testdev_wanted,
	.create = testdev_create, .destroy = testdev_destroy, .reset = testdev_reset,
	.save_state = testdev_save, .restore_state = testdev_restore,
};
