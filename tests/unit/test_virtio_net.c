/* Unit tests of virtio-net (src/virtio/net.c) through a fake driver
 * (vdrv.h), on a real tap device the test creates (root needed; skipped
 * without) and on user-mode networking (libslirp). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include "virtio/net.h"
#include "vdrv.h"

enum { RXQ, TXQ };
#define HDR ((uint32_t)sizeof(struct virtio_net_hdr_v1))
#define TEST_ETHERTYPE 0x88b5   /* IEEE's "local experimental" */
#define RXBUF (HDR + 1518)

static struct vdrv d;
static char tap_name[IFNAMSIZ];
static int pkt_fd = -1;
static const uint8_t guest_mac[6] = { 0x02, 0x00, 0x00, 0x6b, 0x76, 0x01 };

/* ---- the tap, made and removed by the test ---- */

static bool tap_make(void)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tap_name);
	/* Persistent so that it outlives this fd and kvmini can attach to
	 * it, as to a tap made with `ip tuntap add`; deleted by teardown. */
	bool ok = ioctl(fd, TUNSETIFF, &ifr) == 0 && ioctl(fd, TUNSETPERSIST, 1) == 0;
	close(fd);
	return ok;
}

static void tap_up(void)
{
	char path[128];
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", tap_name);
	FILE *f = fopen(path, "w");   /* fewer host frames on the wire; optional */
	if (f) {
		fputs("1", f);
		fclose(f);
	}
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tap_name);
	cr_assert_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	cr_assert_eq(ioctl(s, SIOCSIFFLAGS, &ifr), 0, "%s", strerror(errno));
	close(s);
}

static void tap_delete(void)
{
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "ip link del %s 2>/dev/null", tap_name);
	if (system(cmd) != 0) {
		/* Not attached any more: make it non-persistent instead. */
		int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
		struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tap_name);
		if (fd >= 0 && ioctl(fd, TUNSETIFF, &ifr) == 0)
			ioctl(fd, TUNSETPERSIST, 0);
		if (fd >= 0)
			close(fd);
	}
}

static void packet_open(void)
{
	pkt_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(TEST_ETHERTYPE));
	cr_assert_geq(pkt_fd, 0, "%s", strerror(errno));
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(TEST_ETHERTYPE),
				   .sll_ifindex = (int)if_nametoindex(tap_name) };
	cr_assert_eq(bind(pkt_fd, (struct sockaddr *)&sll, sizeof(sll)), 0, "%s", strerror(errno));
}

static void tap_setup(void)
{
	snprintf(tap_name, sizeof(tap_name), "kvt%d", (int)getpid());
	if (geteuid() != 0 || !tap_make())
		cr_skip_test("cannot create a tap here (root and /dev/net/tun needed)");
	tap_up();
	vdrv_init(&d);
	struct kvmini_net cfg = { .backend = KVMINI_NET_TAP, .tap_name = tap_name, .mac_set = true };
	memcpy(cfg.mac, guest_mac, 6);
	struct virtio_device_env env = { .loop = d.loop, .log_fd = 2 };
	struct kvmini_error err = { 0 };
	struct virtio_device *vdev = virtio_net_create(&env, &cfg, &err);
	cr_assert_not_null(vdev, "%s", err.msg);
	vdrv_start(&d, vdev, (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS) |
				     (1ull << VIRTIO_NET_F_MTU));
	packet_open();
}

static void tap_teardown(void)
{
	if (pkt_fd >= 0)
		close(pkt_fd);
	pkt_fd = -1;
	vdrv_fini(&d);
	tap_delete();
}

/* A test frame: broadcast, from the guest's MAC, our EtherType. */
static size_t frame_make(uint8_t *buf, const char *payload)
{
	memset(buf, 0xff, 6);
	memcpy(buf + 6, guest_mac, 6);
	buf[12] = TEST_ETHERTYPE >> 8;
	buf[13] = TEST_ETHERTYPE & 0xff;
	size_t n = strlen(payload);
	memset(buf + 14, 0, 46);
	memcpy(buf + 14, payload, n);
	return 14 + (n < 46 ? 46 : n);
}

TestSuite(virtio_net_tap, .init = tap_setup, .fini = tap_teardown, .timeout = 60);

Test(virtio_net_tap, config_space_has_mac_link_and_mtu)
{
	struct virtio_net_config c;
	vdrv_config(&d, 0, &c, 12);
	cr_assert_arr_eq(c.mac, guest_mac, 6);
	cr_assert_eq(c.status, VIRTIO_NET_S_LINK_UP);
	cr_assert_eq(c.mtu, 1500);
}

Test(virtio_net_tap, transmitted_frame_appears_on_the_tap)
{
	uint8_t buf[HDR + 128] = { 0 };
	size_t flen = frame_make(buf + HDR, "kvmini: a frame from the guest");
	uint16_t head = vdrv_post(&d, TXQ, buf, (uint32_t)(HDR + flen), 0);
	vdrv_kick(&d, TXQ);
	uint16_t id;
	uint32_t len;
	vdrv_wait_used(&d, TXQ, &id, &len);
	cr_assert_eq(id, head);
	cr_assert(vdrv_wait_fd(pkt_fd), "nothing arrived on the tap");
	uint8_t got[256];
	ssize_t n = recv(pkt_fd, got, sizeof(got), 0);
	cr_assert_eq(n, (ssize_t)flen);
	cr_assert_arr_eq(got, buf + HDR, flen);
}

Test(virtio_net_tap, frame_from_the_tap_arrives_in_a_receive_buffer)
{
	uint16_t head = vdrv_post(&d, RXQ, NULL, 0, RXBUF);
	vdrv_kick(&d, RXQ);
	uint8_t frame[128];
	size_t flen = frame_make(frame, "kvmini: a frame for the guest");
	memcpy(frame, guest_mac, 6);
	memset(frame + 6, 0x02, 6);
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex(tap_name),
				  .sll_halen = 6 };
	memcpy(to.sll_addr, guest_mac, 6);
	cr_assert_eq(sendto(pkt_fd, frame, flen, 0, (struct sockaddr *)&to, sizeof(to)),
		     (ssize_t)flen, "%s", strerror(errno));
	uint16_t id;
	uint32_t len;
	vdrv_wait_used(&d, RXQ, &id, &len);
	cr_assert_eq(id, head);
	cr_assert_eq(len, HDR + flen);
	const uint8_t *in = vdrv_in_data(&d, RXQ, head, false);
	struct virtio_net_hdr_v1 h;
	memcpy(&h, in, HDR);
	cr_assert_eq(h.num_buffers, 1);
	cr_assert_eq(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	cr_assert_arr_eq(in + HDR, frame, flen);
}

Test(virtio_net_tap, bad_header_is_dropped_not_sent)
{
	uint8_t buf[HDR + 128] = { 0 };
	struct virtio_net_hdr_v1 *h = (void *)buf;
	h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;   /* not negotiated */
	h->gso_size = 100;
	size_t flen = frame_make(buf + HDR, "kvmini: must not leave");
	vdrv_post(&d, TXQ, buf, (uint32_t)(HDR + flen), 0);
	/* Then a good one: the first arriving must be the second. */
	uint8_t ok[HDR + 128] = { 0 };
	size_t olen = frame_make(ok + HDR, "kvmini: the good one");
	vdrv_post(&d, TXQ, ok, (uint32_t)(HDR + olen), 0);
	vdrv_kick(&d, TXQ);
	cr_assert(vdrv_wait_fd(pkt_fd));
	uint8_t got[256];
	ssize_t n = recv(pkt_fd, got, sizeof(got), 0);
	cr_assert_eq(n, (ssize_t)olen);
	cr_assert_arr_eq(got, ok + HDR, olen);
	uint16_t id;
	uint32_t len;
	vdrv_wait_used(&d, TXQ, &id, &len);
	vdrv_wait_used(&d, TXQ, &id, &len);
}

Test(virtio_net_tap, vanished_tap_takes_the_link_down)
{
	vdrv_post(&d, RXQ, NULL, 0, RXBUF);
	vdrv_kick(&d, RXQ);
	close(pkt_fd);
	pkt_fd = -1;
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "ip link del %s", tap_name);
	cr_assert_eq(system(cmd), 0);
	cr_assert(vdrv_wait_fd(d.config_irq_fd), "no config interrupt");
	struct virtio_net_config c;
	vdrv_config(&d, 0, &c, 12);
	cr_assert_eq(c.status & VIRTIO_NET_S_LINK_UP, 0);
	/* Transmit still completes (dropped): the guest is not stuck. */
	uint8_t buf[HDR + 128] = { 0 };
	size_t flen = frame_make(buf + HDR, "kvmini: into the void");
	uint16_t head = vdrv_post(&d, TXQ, buf, (uint32_t)(HDR + flen), 0);
	vdrv_kick(&d, TXQ);
	uint16_t id;
	uint32_t len;
	vdrv_wait_used(&d, TXQ, &id, &len);
	cr_assert_eq(id, head);
}
