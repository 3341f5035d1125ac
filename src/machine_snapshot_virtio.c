/* The virtio devices in a snapshot (machine_snapshot.h): the VIRT
 * section holds what the machine was made with (the transport, each
 * disk's image path and options, each network card's backend, MAC and
 * MTU, whether there is a console, virtio-rng and its rate, vsock's
 * CID and Unix socket), so that a
 * restore makes the same devices in the same places as Firecracker's
 * does from its snapshot, and then every device's state
 * (board_virtio_save()). Decoding is pure and checks the configuration
 * whole; the device state is checked as board_virtio_restore() applies
 * it, before any guest code runs. */
#include <stdlib.h>
#include <string.h>
#include "machine.h"
#include "machine_impl.h"
#include "board/virtio.h"
#include <net/if.h>
#include <sys/un.h>
#include <linux/virtio_blk.h>

#define VIRT_RECORD_VERSION 2
#define PATH_MAX_BYTES 4095
#define DISK_READ_ONLY 1u
#define DISK_SERIAL 2u
#define DISK_CACHE_NONE 4u
#define NET_MAC_SET 1u
#define NET_HOSTFWD 2u

static void string_put(struct state_writer *w, const char *s)
{
	size_t n = strlen(s);
	state_put_u16(w, (uint16_t)n);
	state_put_bytes(w, s, n);
}

static void disk_encode(const struct kvmini_disk *d, struct state_writer *w)
{
	string_put(w, d->path);
	uint8_t flags = (d->read_only ? DISK_READ_ONLY : 0) | (d->serial ? DISK_SERIAL : 0) |
			(d->cache_none ? DISK_CACHE_NONE : 0);
	state_put_u8(w, flags);
	if (d->serial) {
		char serial[VIRTIO_BLK_ID_BYTES + 1] = { 0 };
		strncpy(serial, d->serial, VIRTIO_BLK_ID_BYTES);   /* what the guest sees */
		string_put(w, serial);
	}
}

/* The card as configured: a generated MAC is generated again the same
 * from the same description and place. */
static void net_encode(const struct kvmini_net *n, struct state_writer *w)
{
	state_put_u8(w, (uint8_t)n->backend);
	state_put_u8(w, (n->mac_set ? NET_MAC_SET : 0) | (n->hostfwd ? NET_HOSTFWD : 0));
	if (n->backend == KVMINI_NET_TAP)
		string_put(w, n->tap_name);
	if (n->hostfwd)
		string_put(w, n->hostfwd);
	state_put_bytes(w, n->mac, sizeof(n->mac));
	state_put_u32(w, n->mtu);
}

int machine_snapshot_virtio_encode(struct kvmini_vm *m, struct state_writer *w,
				   struct kvmini_error *err)
{
	const struct kvmini_config *cfg = &m->cfg;
	for (unsigned i = 0; i < cfg->ndisks; i++)
		if (strlen(cfg->disks[i].path) > PATH_MAX_BYTES)
			return kvmini_fail(err, KVMINI_E_USAGE, "disk path is too long for a "
					   "snapshot");
	for (unsigned i = 0; i < cfg->nnets; i++)
		if (cfg->nets[i].hostfwd && strlen(cfg->nets[i].hostfwd) > PATH_MAX_BYTES)
			return kvmini_fail(err, KVMINI_E_USAGE, "hostfwd rules are too long for a "
					   "snapshot");
	state_put_u32(w, VIRT_RECORD_VERSION);
	/* The board's choice for DEFAULT is virtio-mmio (board/virtio.c). */
	state_put_u8(w, cfg->transport == KVMINI_TRANSPORT_PCI ? KVMINI_TRANSPORT_PCI
							       : KVMINI_TRANSPORT_MMIO);
	state_put_u8(w, cfg->rng);
	state_put_u64(w, cfg->rng_bytes_per_sec);
	state_put_u8(w, (uint8_t)cfg->ndisks);
	for (unsigned i = 0; i < cfg->ndisks; i++)
		disk_encode(&cfg->disks[i], w);
	state_put_u8(w, (uint8_t)cfg->nnets);
	for (unsigned i = 0; i < cfg->nnets; i++)
		net_encode(&cfg->nets[i], w);
	state_put_u8(w, cfg->vconsole);
	state_put_u8(w, cfg->vsock.enabled);
	if (cfg->vsock.enabled) {
		state_put_u32(w, cfg->vsock.guest_cid);
		string_put(w, cfg->vsock.uds_path);
	}
	struct state_writer devices;
	state_writer_init(&devices);
	board_virtio_save(&m->board, &devices);
	state_put_u32(w, (uint32_t)devices.len);
	state_put_bytes(w, devices.data, devices.len);
	w->failed |= devices.failed;
	state_writer_free(&devices);
	return 0;
}

/* A string of 1..max bytes without a NUL, copied to *heap (advanced). */
static const char *string_get(struct state_reader *r, size_t max, char **heap)
{
	size_t n = state_get_u16(r);
	const uint8_t *bytes = state_get_span(r, n);
	if (!bytes || n == 0 || n > max || memchr(bytes, 0, n))
		return NULL;
	char *s = *heap;
	memcpy(s, bytes, n);
	s[n] = '\0';
	*heap += n + 1;
	return s;
}

static int disk_decode(struct state_reader *r, struct kvmini_disk *d, char **heap,
		       struct kvmini_error *err)
{
	d->path = string_get(r, PATH_MAX_BYTES, heap);
	uint8_t flags = state_get_u8(r);
	if (!d->path || (flags & ~(DISK_READ_ONLY | DISK_SERIAL | DISK_CACHE_NONE)))
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot disk record is malformed");
	d->read_only = flags & DISK_READ_ONLY;
	d->cache_none = flags & DISK_CACHE_NONE;
	if ((flags & DISK_SERIAL) && !(d->serial = string_get(r, VIRTIO_BLK_ID_BYTES, heap)))
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot disk serial is malformed");
	return 0;
}

static int net_decode(struct state_reader *r, struct kvmini_net *n, char **heap,
		      struct kvmini_error *err)
{
	uint8_t backend = state_get_u8(r), flags = state_get_u8(r);
	bool ok = (backend == KVMINI_NET_TAP || backend == KVMINI_NET_USER) &&
		  !(flags & ~(NET_MAC_SET | NET_HOSTFWD)) &&
		  !(backend == KVMINI_NET_TAP && (flags & NET_HOSTFWD));
	n->backend = (enum kvmini_net_backend)backend;
	if (ok && backend == KVMINI_NET_TAP)
		ok = (n->tap_name = string_get(r, IFNAMSIZ - 1, heap)) != NULL;
	if (ok && (flags & NET_HOSTFWD))
		ok = (n->hostfwd = string_get(r, PATH_MAX_BYTES, heap)) != NULL;
	n->mac_set = flags & NET_MAC_SET;
	ok = ok && state_get_bytes(r, n->mac, sizeof(n->mac));
	n->mtu = state_get_u32(r);
	if (!ok || r->failed)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot network card record is malformed");
	return 0;   /* the MTU is checked as a command line's is, when the card is made */
}

static int virtio_decode(struct state_reader *r, struct machine_snapshot_virtio *v,
			 struct kvmini_error *err)
{
	uint32_t version = state_get_u32(r);
	uint8_t transport = state_get_u8(r);
	uint8_t rng = state_get_u8(r);
	v->rng_bytes_per_sec = state_get_u64(r);
	v->ndisks = state_get_u8(r);
	if (r->failed || version != VIRT_RECORD_VERSION || rng > 1 ||
	    (transport != KVMINI_TRANSPORT_MMIO && transport != KVMINI_TRANSPORT_PCI) ||
	    v->ndisks + rng > VIRTIO_MAX_DEVICES)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot virtio record is malformed "
				   "or of another version");
	v->transport = (enum kvmini_transport)transport;
	v->rng = rng;
	char *heap = v->heap;
	for (unsigned i = 0; i < v->ndisks; i++)
		if (disk_decode(r, &v->disks[i], &heap, err) < 0)
			return -1;
	v->nnets = state_get_u8(r);
	if (v->ndisks + v->nnets + rng > VIRTIO_MAX_DEVICES)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot virtio record has too many "
				   "devices");
	for (unsigned i = 0; i < v->nnets; i++)
		if (net_decode(r, &v->nets[i], &heap, err) < 0)
			return -1;
	uint8_t vconsole = state_get_u8(r);
	if (vconsole > 1 || v->ndisks + v->nnets + rng + vconsole > VIRTIO_MAX_DEVICES)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot virtio record is malformed");
	v->vconsole = vconsole;
	uint8_t vsock = state_get_u8(r);
	if (vsock > 1 || v->ndisks + v->nnets + rng + vconsole + vsock > VIRTIO_MAX_DEVICES)
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot virtio record is malformed");
	v->vsock.enabled = vsock;
	if (vsock) {   /* the CID and the path's room are checked as --vsock's */
		v->vsock.guest_cid = state_get_u32(r);
		v->vsock.uds_path = string_get(r, sizeof(((struct sockaddr_un *)0)->sun_path) - 1,
					       &heap);
		if (!v->vsock.uds_path)
			return kvmini_fail(err, KVMINI_E_USAGE, "snapshot vsock record is malformed");
	}
	v->state_len = state_get_u32(r);
	if (!(v->state = state_get_span(r, v->state_len)))
		return kvmini_fail(err, KVMINI_E_USAGE, "snapshot virtio device state is truncated");
	return state_reader_finish(r, "snapshot virtio record", err);
}

int machine_snapshot_virtio_decode(const uint8_t *data, size_t len,
				   struct machine_snapshot_virtio **out, struct kvmini_error *err)
{
	/* Every string is shorter than the section it came from. */
	struct machine_snapshot_virtio *v = calloc(1, sizeof(*v) + len + 1);
	if (!v)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory");
	struct state_reader r;
	state_reader_init(&r, data, len);
	if (virtio_decode(&r, v, err) < 0) {
		free(v);
		return -1;
	}
	*out = v;
	return 0;
}

void machine_snapshot_virtio_configure(const struct machine_snapshot_virtio *v,
				       struct kvmini_config *cfg)
{
	cfg->transport = v->transport;
	cfg->disks = v->disks;
	cfg->ndisks = v->ndisks;
	cfg->nets = v->nets;
	cfg->nnets = v->nnets;
	cfg->rng = v->rng;
	cfg->rng_bytes_per_sec = v->rng_bytes_per_sec;
	cfg->vconsole = v->vconsole;   /* its ends are the caller's (--vconsole) */
	cfg->vsock = v->vsock;
}
