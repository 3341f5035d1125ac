/* Unit tests of virtio-net (src/virtio/net.c) through a fake driver
 * (ldrv.h), on a real tap device the test creates (root needed; skipped
 * without) and on user-mode networking (libslirp). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
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
#include "virtio/net_backend.h"
#include "loop_driver.h"

enum { RXQ, TXQ };
#define HDR ((uint32_t)sizeof(struct virtio_net_hdr_v1))
#define TEST_ETHERTYPE 0x88b5   /* IEEE's "local experimental" */
#define RXBUF (HDR + 1518)

static struct ldrv d;
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

/* A card on the fake driver's loop (the test fails if it cannot be made). */
static struct virtio_device *card_create(const struct kvmini_net *cfg)
{
	struct virtio_device_env env = { .loop = d.loop, .log_fd = 2 };
	struct kvmini_error err = { 0 };
	struct virtio_device *vdev = virtio_net_create(&env, cfg, &err);
	cr_assert_not_null(vdev, "%s", err.msg);
	return vdev;
}

static void tap_setup(void)
{
	snprintf(tap_name, sizeof(tap_name), "kvt%d", (int)getpid());
	if (geteuid() != 0 || !tap_make())
		cr_skip_test("cannot create a tap here (root and /dev/net/tun needed)");
	tap_up();
	ldrv_init(&d);
	struct kvmini_net cfg = { .backend = KVMINI_NET_TAP, .tap_name = tap_name, .mac_set = true };
	memcpy(cfg.mac, guest_mac, 6);
	struct virtio_device *vdev = card_create(&cfg);
	ldrv_start(&d, vdev, (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS) |
				     (1ull << VIRTIO_NET_F_MTU));
	packet_open();
}

static void tap_teardown(void)
{
	if (pkt_fd >= 0)
		close(pkt_fd);
	pkt_fd = -1;
	ldrv_fini(&d);
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

/* Post one frame (header + frame) for transmit, kick, wait until the
 * device has used it. */
static void tx_frame_sent(const uint8_t *buf, size_t len)
{
	uint16_t head = ldrv_post(&d, TXQ, buf, (uint32_t)len, 0);
	ldrv_kick(&d, TXQ);
	uint16_t id;
	uint32_t used;
	ldrv_wait_used(&d, TXQ, &id, &used);
	cr_assert_eq(id, head);
}

TestSuite(virtio_net_tap, .init = tap_setup, .fini = tap_teardown, .timeout = 60);

Test(virtio_net_tap, config_space_has_mac_link_and_mtu)
{
	struct virtio_net_config c;
	ldrv_config(&d, 0, &c, 12);
	cr_assert_arr_eq(c.mac, guest_mac, 6);
	cr_assert_eq(c.status, VIRTIO_NET_S_LINK_UP);
	cr_assert_eq(c.mtu, 1500);
}

Test(virtio_net_tap, transmitted_frame_appears_on_the_tap)
{
	uint8_t buf[HDR + 128] = { 0 };
	size_t flen = frame_make(buf + HDR, "kvmini: a frame from the guest");
	tx_frame_sent(buf, HDR + flen);
	cr_assert(ldrv_wait_fd(pkt_fd), "nothing arrived on the tap");
	uint8_t got[256];
	ssize_t n = recv(pkt_fd, got, sizeof(got), 0);
	cr_assert_eq(n, (ssize_t)flen);
	cr_assert_arr_eq(got, buf + HDR, flen);
}

Test(virtio_net_tap, frame_from_the_tap_arrives_in_a_receive_buffer)
{
	uint16_t head = ldrv_post(&d, RXQ, NULL, 0, RXBUF);
	ldrv_kick(&d, RXQ);
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
	ldrv_wait_used(&d, RXQ, &id, &len);
	cr_assert_eq(id, head);
	cr_assert_eq(len, HDR + flen);
	const uint8_t *in = ldrv_in_data(&d, RXQ, head, false);
	struct virtio_net_hdr_v1 h;
	memcpy(&h, in, HDR);
	cr_assert_eq(h.num_buffers, 1);
	cr_assert_eq(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	cr_assert_arr_eq(in + HDR, frame, flen);
}

/* ETHTOOL_GTSO / ETHTOOL_GTXCSUM of the tap: what the host side will
 * hand the guest (segmented frames, partial checksums). */
static uint32_t tap_ethtool(uint32_t cmd)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ethtool_value v = { .cmd = cmd };
	struct ifreq ifr = { .ifr_data = (void *)&v };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tap_name);
	cr_assert_eq(ioctl(s, SIOCETHTOOL, &ifr), 0, "%s", strerror(errno));
	close(s);
	return v.data;
}

/* The driver resets the card and negotiates again. */
static void renegotiate(uint64_t features)
{
	struct virtio_device *vdev = d.vdev;
	features |= 1ull << VIRTIO_F_VERSION_1;
	uint8_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	virtio_device_lock(vdev);
	virtio_device_write_status(vdev, 0);
	virtio_device_write_status(vdev, s);
	virtio_device_write_features(vdev, 0, (uint32_t)features);
	virtio_device_write_features(vdev, 1, (uint32_t)(features >> 32));
	virtio_device_write_status(vdev, s | VIRTIO_CONFIG_S_FEATURES_OK);
	virtio_device_write_status(vdev, s | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	cr_assert(virtio_device_running(vdev));
	virtio_device_unlock(vdev);
}

Test(virtio_net_tap, receive_offloads_only_when_negotiated)
{
	cr_assert_eq(tap_ethtool(ETHTOOL_GTSO), 0, "TSO on without the guest asking");
	renegotiate((1ull << VIRTIO_NET_F_GUEST_CSUM) | (1ull << VIRTIO_NET_F_GUEST_TSO4));
	cr_assert_eq(tap_ethtool(ETHTOOL_GTSO), 1);
	cr_assert_eq(tap_ethtool(ETHTOOL_GTXCSUM), 1);
	renegotiate(1ull << VIRTIO_NET_F_MAC);
	cr_assert_eq(tap_ethtool(ETHTOOL_GTSO), 0, "TSO left on after a driver without it");
}

Test(virtio_net_tap, bad_header_is_dropped_not_sent)
{
	uint8_t buf[HDR + 128] = { 0 };
	struct virtio_net_hdr_v1 *h = (void *)buf;
	h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;   /* not negotiated */
	h->gso_size = 100;
	size_t flen = frame_make(buf + HDR, "kvmini: must not leave");
	ldrv_post(&d, TXQ, buf, (uint32_t)(HDR + flen), 0);
	/* Then a good one: the first arriving must be the second. */
	uint8_t ok[HDR + 128] = { 0 };
	size_t olen = frame_make(ok + HDR, "kvmini: the good one");
	ldrv_post(&d, TXQ, ok, (uint32_t)(HDR + olen), 0);
	ldrv_kick(&d, TXQ);
	cr_assert(ldrv_wait_fd(pkt_fd));
	uint8_t got[256];
	ssize_t n = recv(pkt_fd, got, sizeof(got), 0);
	cr_assert_eq(n, (ssize_t)olen);
	cr_assert_arr_eq(got, ok + HDR, olen);
	uint16_t id;
	uint32_t len;
	ldrv_wait_used(&d, TXQ, &id, &len);
	ldrv_wait_used(&d, TXQ, &id, &len);
}

Test(virtio_net_tap, vanished_tap_takes_the_link_down)
{
	ldrv_post(&d, RXQ, NULL, 0, RXBUF);
	ldrv_kick(&d, RXQ);
	close(pkt_fd);
	pkt_fd = -1;
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "ip link del %s", tap_name);
	cr_assert_eq(system(cmd), 0);
	cr_assert(ldrv_wait_fd(d.config_irq_fd), "no config interrupt");
	struct virtio_net_config c;
	ldrv_config(&d, 0, &c, 12);
	cr_assert_eq(c.status & VIRTIO_NET_S_LINK_UP, 0);
	/* Transmit still completes (dropped): the guest is not stuck. */
	uint8_t buf[HDR + 128] = { 0 };
	size_t flen = frame_make(buf + HDR, "kvmini: into the void");
	tx_frame_sent(buf, HDR + flen);
}

/* ---- user-mode networking (libslirp) ---- */

#define GUEST_PORT 8022
static int host_port;
static char hostfwd[64];

static int free_tcp_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
	close(s);
	return ntohs(a.sin_port);
}

static void user_setup(void)
{
	host_port = free_tcp_port();
	snprintf(hostfwd, sizeof(hostfwd), "tcp:127.0.0.1:%d-:%d", host_port, GUEST_PORT);
	ldrv_init(&d);
	struct kvmini_net cfg = { .backend = KVMINI_NET_USER, .hostfwd = hostfwd, .mac_set = true };
	memcpy(cfg.mac, guest_mac, 6);
	struct virtio_device *vdev = card_create(&cfg);
	/* No offloads through slirp: none may be offered. */
	cr_assert_eq(vdev->device_features & ((1ull << VIRTIO_NET_F_CSUM) |
					      (1ull << VIRTIO_NET_F_GUEST_CSUM)), 0);
	ldrv_start(&d, vdev, (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS));
	for (int i = 0; i < 16; i++)
		ldrv_post(&d, RXQ, NULL, 0, RXBUF);
	ldrv_kick(&d, RXQ);
}

static void user_teardown(void)
{
	ldrv_fini(&d);
}

TestSuite(virtio_net_user, .init = user_setup, .fini = user_teardown, .timeout = 60);

static void net_send(const uint8_t *frame, size_t len)
{
	static uint8_t buf[HDR + 2048];
	memset(buf, 0, HDR);
	memcpy(buf + HDR, frame, len);
	ldrv_post(&d, TXQ, buf, (uint32_t)(HDR + len), 0);
	ldrv_kick(&d, TXQ);
}

/* The next frame the guest receives (its buffer posted again). */
static size_t net_recv(uint8_t *frame)
{
	uint16_t id;
	uint32_t len;
	ldrv_wait_used(&d, RXQ, &id, &len);
	cr_assert_gt(len, HDR);
	memcpy(frame, ldrv_in_data(&d, RXQ, id, false) + HDR, len - HDR);
	ldrv_post(&d, RXQ, NULL, 0, RXBUF);
	ldrv_kick(&d, RXQ);
	return len - HDR;
}

static uint16_t ip_checksum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* A DHCP DISCOVER from the guest, as a freshly booted client sends it. */
static size_t dhcp_discover(uint8_t *f)
{
	size_t bootp_len = 236 + 312;   /* slirp wants the classic full size */
	size_t ip_len = 20 + 8 + bootp_len;
	memset(f, 0, 14 + ip_len);
	memset(f, 0xff, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0800);
	uint8_t *ip = f + 14;
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)ip_len);
	ip[8] = 64;
	ip[9] = 17;
	memset(ip + 16, 0xff, 4);
	put16(ip + 10, ip_checksum(ip, 20));
	uint8_t *udp = ip + 20;
	put16(udp, 68);
	put16(udp + 2, 67);
	put16(udp + 4, (uint16_t)(8 + bootp_len));
	uint8_t *b = udp + 8;
	b[0] = 1;   /* BOOTREQUEST */
	b[1] = 1;
	b[2] = 6;
	memcpy(b + 4, "\x12\x34\x56\x78", 4);
	put16(b + 10, 0x8000);
	memcpy(b + 28, guest_mac, 6);
	memcpy(b + 236, "\x63\x82\x53\x63\x35\x01\x01\xff", 8);   /* cookie, DISCOVER, end */
	return 14 + ip_len;
}

/* An option's bytes in a BOOTP reply (NULL when absent). */
static const uint8_t *dhcp_option(const uint8_t *opts, size_t len, uint8_t code)
{
	for (size_t i = 0; i + 1 < len && opts[i] != 255;) {
		if (opts[i] == 0) {
			i++;
			continue;
		}
		if (opts[i] == code)
			return opts + i + 2;
		i += 2u + opts[i + 1];
	}
	return NULL;
}

static bool is_udp_to(const uint8_t *f, size_t len, uint16_t port)
{
	return len > 14 + 28 && f[12] == 0x08 && f[13] == 0x00 && f[14 + 9] == 17 &&
	       (f[14 + 20 + 2] << 8 | f[14 + 20 + 3]) == port;
}

Test(virtio_net_user, dhcp_discover_gets_an_offer)
{
	uint8_t f[2048];
	net_send(f, dhcp_discover(f));
	size_t len;
	do
		len = net_recv(f);
	while (!is_udp_to(f, len, 68));
	const uint8_t *b = f + 14 + 20 + 8;
	cr_assert_eq(b[0], 2, "not a BOOTREPLY");
	cr_assert_arr_eq(b + 4, "\x12\x34\x56\x78", 4);
	cr_assert_arr_eq(b + 16, "\x0a\x00\x02\x0f", 4, "offered address is not 10.0.2.15");
	const uint8_t *opts = b + 240;
	size_t olen = len - (size_t)(opts - f);
	const uint8_t *type = dhcp_option(opts, olen, 53);
	cr_assert_not_null(type);
	cr_assert_eq(type[0], 2, "not an OFFER");
	const uint8_t *router = dhcp_option(opts, olen, 3);
	const uint8_t *dns = dhcp_option(opts, olen, 6);
	cr_assert_not_null(router);
	cr_assert_not_null(dns);
	cr_assert_arr_eq(router, "\x0a\x00\x02\x02", 4);
	cr_assert_arr_eq(dns, "\x0a\x00\x02\x03", 4);
}

/* Answer slirp's ARP request for the guest's address. */
static void arp_reply(const uint8_t *req)
{
	uint8_t f[60] = { 0 };
	memcpy(f, req + 6, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0806);
	memcpy(f + 14, "\x00\x01\x08\x00\x06\x04\x00\x02", 8);
	memcpy(f + 22, guest_mac, 6);
	memcpy(f + 28, "\x0a\x00\x02\x0f", 4);
	memcpy(f + 32, req + 22, 10);   /* the asker's MAC and address */
	net_send(f, sizeof(f));
}

Test(virtio_net_user, hostfwd_connect_sends_a_syn_to_the_guest)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)host_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int rc = connect(s, (struct sockaddr *)&a, sizeof(a));
	cr_assert(rc == 0 || errno == EINPROGRESS, "%s", strerror(errno));
	uint8_t f[2048];
	for (;;) {
		size_t len = net_recv(f);
		if (len >= 42 && f[12] == 0x08 && f[13] == 0x06) {
			cr_assert_arr_eq(f + 38, "\x0a\x00\x02\x0f", 4, "ARP for another address");
			arp_reply(f);
			continue;
		}
		if (len >= 14 + 40 && f[12] == 0x08 && f[13] == 0x00 && f[14 + 9] == 6)
			break;
	}
	const uint8_t *ip = f + 14, *tcp = ip + (ip[0] & 0xf) * 4;
	cr_assert_arr_eq(f, guest_mac, 6);
	cr_assert_arr_eq(ip + 16, "\x0a\x00\x02\x0f", 4);
	cr_assert_eq(tcp[2] << 8 | tcp[3], GUEST_PORT);
	cr_assert_eq(tcp[13] & 0x12, 0x02, "not a SYN");
	close(s);
}

Test(virtio_net_user, bad_hostfwd_rule_is_refused)
{
	struct kvmini_net cfg = { .backend = KVMINI_NET_USER, .hostfwd = "tcp:127.0.0.1:x-:22" };
	struct virtio_device_env env = { .loop = d.loop, .log_fd = 2 };
	struct kvmini_error err = { 0 };
	cr_assert_null(virtio_net_create(&env, &cfg, &err));
	cr_assert(strstr(err.msg, "bad hostfwd rule"), "%s", err.msg);
}

/* ---- back-pressure, on a backend the test controls ---- */

struct full_backend {
	struct net_backend be;
	int attempt_fd;              /* written at each transmit attempt */
	bool full;
	unsigned attempts;
	uint8_t first_byte[8];       /* of each attempt's frame */
};

static struct full_backend *fb;

static int full_transmit(struct net_backend *be, const struct iovec *iov, unsigned n, size_t len)
{
	(void)len;
	struct full_backend *f = (struct full_backend *)be;
	cr_assert_geq(n, 2);
	if (f->attempts < sizeof(f->first_byte))
		f->first_byte[f->attempts] = ((const uint8_t *)iov[1].iov_base)[14];
	f->attempts++;
	uint64_t one = 1;
	cr_assert_eq(write(f->attempt_fd, &one, sizeof(one)), sizeof(one));
	return f->full ? 1 : 0;
}

static ssize_t full_receive(struct net_backend *be, void *buf, size_t cap)
{
	(void)be;
	(void)buf;
	(void)cap;
	return 0;
}

static void full_rx_watch(struct net_backend *be, bool on)
{
	(void)be;
	(void)on;
}

static int full_configure(struct net_backend *be, uint64_t features, struct kvmini_error *err)
{
	(void)be;
	(void)features;
	(void)err;
	return 0;
}

static void full_destroy(struct net_backend *be)
{
	struct full_backend *f = (struct full_backend *)be;
	close(f->attempt_fd);
	free(f);
}

static const struct net_backend_ops full_ops = {
	.name = "test", .transmit = full_transmit, .receive = full_receive,
	.rx_watch = full_rx_watch, .configure = full_configure, .destroy = full_destroy,
};

static struct net_backend *full_create(const struct kvmini_net *cfg, struct net_backend *proto,
				       struct kvmini_error *err)
{
	(void)cfg;
	(void)err;
	fb = calloc(1, sizeof(*fb));
	fb->be = *proto;
	fb->be.ops = &full_ops;
	fb->attempt_fd = eventfd(0, EFD_CLOEXEC);
	return &fb->be;
}

/* A card on the full backend, frames "1" and "2" posted (heads in h)
 * and kicked, the first refused. */
static struct virtio_device *card_with_a_refused_frame(uint16_t h[2])
{
	ldrv_init(&d);
	struct kvmini_net cfg = { .backend = KVMINI_NET_TAP };
	struct virtio_device_env env = { .loop = d.loop, .log_fd = 2 };
	struct kvmini_error err = { 0 };
	struct virtio_device *vdev = virtio_net_create_with(&env, &cfg, full_create, &err);
	cr_assert_not_null(vdev, "%s", err.msg);
	ldrv_start(&d, vdev, 0);
	fb->full = true;
	static uint8_t f1[HDR + 64], f2[HDR + 64];
	frame_make(f1 + HDR, "1");
	frame_make(f2 + HDR, "2");
	h[0] = ldrv_post(&d, TXQ, f1, sizeof(f1), 0);
	h[1] = ldrv_post(&d, TXQ, f2, sizeof(f2), 0);
	ldrv_kick(&d, TXQ);
	cr_assert(ldrv_wait_fd(fb->attempt_fd), "no transmit attempt");
	return vdev;
}

Test(virtio_net_backpressure, a_full_backend_holds_the_frame_and_stops_taking_more)
{
	uint16_t h[2];
	struct virtio_device *vdev = card_with_a_refused_frame(h);
	/* Room again (as the tap's EPOLLOUT would say): under the card's
	 * lock, so after the refused pump has returned. */
	struct virtio_net *card = vdev->dev;
	virtio_net_lock(card);
	fb->full = false;
	virtio_net_tx_ready_locked(card);
	unsigned attempts = fb->attempts;
	virtio_net_unlock(card);
	/* The refused frame first, again; the second only then. */
	cr_assert_eq(attempts, 3);
	cr_assert_eq(fb->first_byte[0], '1');
	cr_assert_eq(fb->first_byte[1], '1', "the device went on while the backend was full");
	cr_assert_eq(fb->first_byte[2], '2');
	uint16_t id;
	uint32_t len;
	ldrv_wait_used(&d, TXQ, &id, &len);
	cr_assert_eq(id, h[0]);
	ldrv_wait_used(&d, TXQ, &id, &len);
	cr_assert_eq(id, h[1]);
	ldrv_fini(&d);
}

/* Before a snapshot, the frame a full backend refused goes back to the
 * ring (nothing of the guest's is held outside its RAM); the card, or
 * a restored one, takes it again in order. */
Test(virtio_net_backpressure, quiesce_gives_the_refused_frame_back_to_the_ring)
{
	uint16_t h[2];
	struct virtio_device *vdev = card_with_a_refused_frame(h);
	struct virtio_net *card = vdev->dev;
	virtio_net_lock(card);
	cr_assert_eq(vdev->queues[TXQ].last_avail, 1, "the refused frame is held");
	virtio_device_quiesce(vdev);
	cr_assert_eq(vdev->queues[TXQ].last_avail, 0, "the held frame was not given back");
	fb->full = false;
	virtio_net_tx_ready_locked(card);
	virtio_net_unlock(card);
	cr_assert_eq(fb->attempts, 3);
	cr_assert_eq(fb->first_byte[1], '1');
	cr_assert_eq(fb->first_byte[2], '2');
	uint16_t id;
	uint32_t len;
	ldrv_wait_used(&d, TXQ, &id, &len);
	cr_assert_eq(id, h[0]);
	ldrv_wait_used(&d, TXQ, &id, &len);
	cr_assert_eq(id, h[1]);
	ldrv_fini(&d);
}

/* A TCP SYN from the guest (10.0.2.15:40000) to 10.0.2.2:port, with
 * valid IP and TCP checksums (slirp checks both). */
static size_t tcp_syn(uint8_t *f, uint16_t port)
{
	memset(f, 0, 14 + 40);
	memset(f, 0x52, 6);   /* slirp's gateway MAC is whatever it says; it takes any */
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0800);
	uint8_t *ip = f + 14, *tcp = ip + 20;
	ip[0] = 0x45;
	put16(ip + 2, 40);
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, "\x0a\x00\x02\x0f\x0a\x00\x02\x02", 8);
	put16(ip + 10, ip_checksum(ip, 20));
	put16(tcp, 40000);
	put16(tcp + 2, port);
	memcpy(tcp + 4, "\x00\x00\x10\x00", 4);   /* sequence number */
	tcp[12] = 5 << 4;
	tcp[13] = 0x02;   /* SYN */
	put16(tcp + 14, 65535);
	uint8_t pseudo[12 + 20];
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = 6;
	put16(pseudo + 10, 20);
	memcpy(pseudo + 12, tcp, 20);
	put16(tcp + 16, ip_checksum(pseudo, sizeof(pseudo)));
	return 14 + 40;
}

Test(virtio_net_user, guest_tcp_connect_reaches_the_hosts_loopback)
{
	int srv = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	cr_assert_eq(bind(srv, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(srv, 1), 0);
	cr_assert_eq(getsockname(srv, (struct sockaddr *)&a, &alen), 0);
	uint8_t f[64];
	net_send(f, tcp_syn(f, ntohs(a.sin_port)));
	cr_assert(ldrv_wait_fd(srv), "slirp did not connect to the host's loopback");
	int c = accept(srv, NULL, NULL);
	cr_assert_geq(c, 0);
	/* Once slirp's connect completes (its socket writable, which the
	 * loop must be watching), the guest gets the SYN-ACK. */
	for (;;) {
		size_t len = net_recv(f);
		if (len >= 42 && f[12] == 0x08 && f[13] == 0x06) {
			arp_reply(f);
			continue;
		}
		if (len >= 14 + 40 && f[12] == 0x08 && f[13] == 0x00 && f[14 + 9] == 6)
			break;
	}
	const uint8_t *tcp = f + 14 + (f[14] & 0xf) * 4;
	cr_assert_eq(tcp[2] << 8 | tcp[3], 40000);
	cr_assert_eq(tcp[13] & 0x12, 0x12, "not a SYN-ACK");
	close(c);
	close(srv);
}
