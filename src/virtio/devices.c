/* The virtio devices a config asks for (devices.h). A new device kind
 * adds its constructor to the table below. */
#include <string.h>
#include "virtio/devices.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "virtio/vsock.h"

/* One kind of device: its constructor and the instances cfg asks for
 * (count and the i-th instance's argument). */
struct virtio_kind {
	const char *what;
	virtio_create_fn *create;
	unsigned (*count)(const struct kvmini_config *cfg);
	const void *(*arg)(const struct kvmini_config *cfg, unsigned i);
};

/* The table: disks, network cards, console, rng, vsock, in this order.
 * Each device file adds its kind here when it lands. */
static unsigned disks_count(const struct kvmini_config *cfg)
{
	return cfg->ndisks;
}

static const void *disks_arg(const struct kvmini_config *cfg, unsigned i)
{
	return &cfg->disks[i];
}

static unsigned nets_count(const struct kvmini_config *cfg)
{
	return cfg->nnets;
}

static const void *nets_arg(const struct kvmini_config *cfg, unsigned i)
{
	return &cfg->nets[i];
}

static unsigned vconsole_count(const struct kvmini_config *cfg)
{
	return cfg->vconsole ? 1 : 0;
}

static unsigned rng_count(const struct kvmini_config *cfg)
{
	return cfg->rng ? 1 : 0;
}

static unsigned vsock_count(const struct kvmini_config *cfg)
{
	return cfg->vsock.enabled ? 1 : 0;
}

static const void *vsock_arg(const struct kvmini_config *cfg, unsigned i)
{
	(void)i;
	return &cfg->vsock;
}

static const struct virtio_kind kinds[] = {
	{ "disk", virtio_blk_create, disks_count, disks_arg },
	{ "net", virtio_net_create, nets_count, nets_arg },
	{ "console", virtio_console_create, vconsole_count, NULL },
	{ "rng", virtio_rng_create, rng_count, NULL },
	{ "vsock", virtio_vsock_create, vsock_count, vsock_arg },
};

static int add_device(struct virtio_device_set *set, const struct virtio_kind *k,
		      const struct virtio_device_env *env, unsigned i, struct kvmini_error *err)
{
	if (set->n == VIRTIO_MAX_DEVICES)
		return kvmini_fail(err, KVMINI_E_USAGE, "more than %d virtio devices",
				   VIRTIO_MAX_DEVICES);
	struct virtio_device *vdev = k->create(env, k->arg ? k->arg(env->cfg, i) : NULL, err);
	if (!vdev)
		return -1;
	set->devs[set->n++] = vdev;
	return 0;
}

int virtio_devices_create(struct virtio_device_set *set, const struct virtio_device_env *env,
			  struct kvmini_error *err)
{
	memset(set, 0, sizeof(*set));
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		if (!kinds[k].create)
			continue;
		unsigned n = kinds[k].count(env->cfg);
		for (unsigned i = 0; i < n; i++) {
			if (add_device(set, &kinds[k], env, i, err)) {
				virtio_devices_destroy(set);
				return -1;
			}
		}
	}
	return 0;
}

void virtio_devices_destroy(struct virtio_device_set *set)
{
	if (!set)
		return;
	for (unsigned i = set->n; i-- > 0;)
		virtio_device_destroy(set->devs[i]);
	set->n = 0;
}
