/* virtio-net and virtio-vsock behind the virtio-mmio transport, driven
 * register by register by tests/unit/virtio_driver.h's MMIO form: the
 * path a guest's driver takes, with QueueNotify writes running the
 * device on the event loop and interrupts on the transport's eventfd
 * (no KVM). */
#include <criterion/criterion.h>
#include <endian.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/virtio_net.h>
#include <linux/virtio_vsock.h>
#include "event_loop.h"
#include "virtio/mmio.h"
#include "virtio/net.h"
#include "virtio/vsock.h"
#include "virtio_driver.h"

#define MIB (1ull << 20)
#define QSIZE 64
#define BUF 4096
#define NRX 8

static struct guest_memory mem;
static struct event_loop *loop;
static struct virtio_device *vdev;
static struct virtio_mmio *m;
static struct vdrv d;
static gpa_t buf_of[QSIZE];   /* receive buffers by head */

static void setup(void)
{
	struct kvmini_error err = { 0 };
	cr_assert_eq(guest_memory_init(&mem, 16 * MIB, 0, &err), 0, "%s", err.msg);
	cr_assert(loop = event_loop_create("evloop", &err), "%s", err.msg);
	cr_assert_eq(event_loop_start(loop, &err), 0, "%s", err.msg);
}

static void teardown(void)
{
	virtio_mmio_destroy(m);
	event_loop_stop(loop);   /* as kvmini_vm_destroy(): the loop, then the devices */
	virtio_device_destroy(vdev);
	event_loop_destroy(loop);
	guest_memory_free(&mem);
}

TestSuite(net_mmio, .init = setup, .fini = teardown, .timeout = 60);

/* The device on a transport, started by the driver with nq queues,
 * NRX receive buffers posted on queue 0. */
static void up(struct virtio_device *dev, uint64_t features, unsigned nq)
{
	struct kvmini_error err = { 0 };
	vdev = dev;
	m = virtio_mmio_create(dev, &mem, loop, 2, &err);
	cr_assert(m, "%s", err.msg);
	vdrv_init_mmio(&d, &virtio_mmio_bus_ops, m, virtio_mmio_irq_fd(m), &mem);
	cr_assert(vdrv_start(&d, features, nq, QSIZE), "the device did not start");
	for (int i = 0; i < NRX; i++) {
		struct vdrv_buf b = { .gpa = vdrv_alloc(&d, BUF, 8), .len = BUF, .write = true };
		buf_of[vdrv_post(&d, 0, &b, 1)] = b.gpa;
	}
	vdrv_kick(&d, 0);
}

/* One device-readable buffer on queue 1 (transmit), used once. */
static void send_out(const void *bytes, uint32_t len)
{
	struct vdrv_buf b = { .gpa = vdrv_alloc(&d, len, 8), .len = len };
	guest_write(&mem, b.gpa, bytes, len);
	uint16_t head = vdrv_post(&d, 1, &b, 1);
	vdrv_kick(&d, 1);
	uint32_t id, used;
	cr_assert(vdrv_wait_used(&d, 1, &id, &used), "transmit buffer not used");
	cr_assert_eq(id, head);
}

/* The next receive buffer the device filled: where it is, its length. */
static const uint8_t *recv_in(uint32_t *len)
{
	uint32_t id;
	cr_assert(vdrv_wait_used(&d, 0, &id, len), "nothing received");
	cr_assert_lt(id, QSIZE);
	return guest_ptr(&mem, buf_of[id], BUF);
}

Test(net_mmio, user_network_answers_the_guests_arp)
{
	struct kvmini_net cfg = { .backend = KVMINI_NET_USER, .mac_set = true,
				  .mac = { 0x02, 0, 0, 0, 0, 0x42 } };
	struct virtio_device_env env = { .loop = loop, .log_fd = 2 };
	struct kvmini_error err = { 0 };
	struct virtio_device *card = virtio_net_create(&env, &cfg, &err);
	cr_assert(card, "%s", err.msg);
	up(card, (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS), 2);
	uint8_t mac[6];
	vdrv_config_read(&d, 0, mac, 6);
	cr_assert_arr_eq(mac, cfg.mac, 6);
	/* "Who has 10.0.2.2? Tell 10.0.2.15", broadcast. */
	uint8_t pkt[sizeof(struct virtio_net_hdr_v1) + 42] = { 0 };
	uint8_t *f = pkt + sizeof(struct virtio_net_hdr_v1);
	memset(f, 0xff, 6);
	memcpy(f + 6, cfg.mac, 6);
	memcpy(f + 12, "\x08\x06\x00\x01\x08\x00\x06\x04\x00\x01", 10);
	memcpy(f + 22, cfg.mac, 6);
	memcpy(f + 28, "\x0a\x00\x02\x0f", 4);
	memcpy(f + 38, "\x0a\x00\x02\x02", 4);
	send_out(pkt, sizeof(pkt));
	uint32_t len;
	const uint8_t *in = recv_in(&len);
	const uint8_t *r = in + sizeof(struct virtio_net_hdr_v1);
	cr_assert_geq(len, sizeof(struct virtio_net_hdr_v1) + 42);
	cr_assert_arr_eq(r, cfg.mac, 6, "not addressed to the guest");
	cr_assert_arr_eq(r + 12, "\x08\x06", 2, "not ARP");
	cr_assert_eq(r[21], 2, "not a reply");
	cr_assert_arr_eq(r + 28, "\x0a\x00\x02\x02", 4);
}

Test(net_mmio, vsock_host_connect_gets_ok_through_the_transport)
{
	char path[96];
	snprintf(path, sizeof(path), "/tmp/kvmini-vsock-mmio-%d.sock", (int)getpid());
	unlink(path);
	struct kvmini_vsock cfg = { .enabled = true, .guest_cid = 7, .uds_path = path };
	struct virtio_device_env env = { .loop = loop, .log_fd = 2 };
	struct kvmini_error err = { 0 };
	struct virtio_device *dev = virtio_vsock_create(&env, &cfg, &err);
	cr_assert(dev, "%s", err.msg);
	up(dev, 0, 3);
	uint64_t cid;
	vdrv_config_read(&d, 0, &cid, 8);
	cr_assert_eq(le64toh(cid), 7);

	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, path, strlen(path) + 1);
	cr_assert_eq(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(write(c, "CONNECT 5\n", 10), 10);
	uint32_t len;
	struct virtio_vsock_hdr h;
	memcpy(&h, recv_in(&len), sizeof(h));
	cr_assert_eq(le16toh(h.op), VIRTIO_VSOCK_OP_REQUEST);
	cr_assert_eq(le32toh(h.dst_port), 5);
	struct virtio_vsock_hdr resp = {
		.src_cid = htole64(7), .dst_cid = htole64(2), .src_port = htole32(5),
		.dst_port = h.src_port, .type = htole16(VIRTIO_VSOCK_TYPE_STREAM),
		.op = htole16(VIRTIO_VSOCK_OP_RESPONSE), .buf_alloc = htole32(65536),
	};
	send_out(&resp, sizeof(resp));
	char line[32] = "", want[32];
	snprintf(want, sizeof(want), "OK %u\n", le32toh(h.src_port));
	struct pollfd p = { .fd = c, .events = POLLIN };
	cr_assert_eq(poll(&p, 1, VDRV_TIMEOUT_MS), 1, "no answer to CONNECT");
	cr_assert_eq(read(c, line, strlen(want)), (ssize_t)strlen(want));
	cr_assert_str_eq(line, want);
	close(c);
}
