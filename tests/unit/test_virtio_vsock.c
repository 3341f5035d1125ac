/* Unit tests of virtio-vsock (src/virtio/vsock.c) through a fake driver
 * (ldrv.h) playing the guest, and real Unix sockets playing the host's
 * programs, as Firecracker's host side defines them. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/virtio_vsock.h>
#include "virtio/vsock.h"
#include "loop_driver.h"

enum { RXQ, TXQ, EVQ };
#define CID 42
#define HDR ((uint32_t)sizeof(struct virtio_vsock_hdr))
#define RXBUF 4096
#define NRX 16
#define GUEST_BUF 65536

static struct ldrv d;
static char path[96];
static int client = -1;

static void vsock_setup(void)
{
	snprintf(path, sizeof(path), "/tmp/kvmini-vsock-test-%d.sock", (int)getpid());
	unlink(path);
	ldrv_init(&d);
	struct kvmini_vsock cfg = { .enabled = true, .guest_cid = CID, .uds_path = path };
	struct virtio_device_env env = { .loop = d.loop, .log_fd = 2 };
	struct kvmini_error err = { 0 };
	struct virtio_device *vdev = virtio_vsock_create(&env, &cfg, &err);
	cr_assert_not_null(vdev, "%s", err.msg);
	ldrv_start(&d, vdev, 0);
	for (int i = 0; i < NRX; i++)
		ldrv_post(&d, RXQ, NULL, 0, RXBUF);
	ldrv_kick(&d, RXQ);
}

static void vsock_teardown(void)
{
	if (client >= 0)
		close(client);
	client = -1;
	ldrv_fini(&d);
	cr_assert_neq(access(path, F_OK), 0, "the socket file was left behind");
	/* The host servers' sockets, should a test have failed early. */
	for (int port = 5000; port <= 5001; port++) {
		char p[128];
		snprintf(p, sizeof(p), "%s_%d", path, port);
		unlink(p);
	}
}

TestSuite(virtio_vsock, .init = vsock_setup, .fini = vsock_teardown, .timeout = 60);

/* ---- the guest's side ---- */

static void guest_send(uint32_t src_port, uint32_t dst_port, uint16_t op, uint32_t flags,
		       uint32_t buf_alloc, uint32_t fwd_cnt, const void *data, uint32_t len)
{
	static uint8_t pkt[LDRV_SLOT];
	struct virtio_vsock_hdr h = {
		.src_cid = htole64(CID), .dst_cid = htole64(2), .src_port = htole32(src_port),
		.dst_port = htole32(dst_port), .len = htole32(len),
		.type = htole16(VIRTIO_VSOCK_TYPE_STREAM), .op = htole16(op),
		.flags = htole32(flags), .buf_alloc = htole32(buf_alloc), .fwd_cnt = htole32(fwd_cnt),
	};
	cr_assert_leq(HDR + len, sizeof(pkt));
	memcpy(pkt, &h, HDR);
	if (len)
		memcpy(pkt + HDR, data, len);
	uint16_t head = ldrv_post(&d, TXQ, pkt, HDR + len, 0);
	ldrv_kick(&d, TXQ);
	uint16_t id;
	uint32_t used_len;
	ldrv_wait_used(&d, TXQ, &id, &used_len);
	cr_assert_eq(id, head);
}

/* The next packet the device put in a receive buffer (the buffer is
 * posted again). Returns the payload's length. */
static uint32_t guest_recv(struct virtio_vsock_hdr *h, uint8_t *payload)
{
	uint16_t id;
	uint32_t len;
	ldrv_wait_used(&d, RXQ, &id, &len);
	cr_assert_geq(len, HDR);
	const uint8_t *in = ldrv_in_data(&d, RXQ, id, false);
	memcpy(h, in, HDR);
	uint32_t plen = le32toh(h->len);
	cr_assert_eq(len, HDR + plen, "used length %u for a %u-byte payload", len, plen);
	cr_assert_eq(le64toh(h->src_cid), 2);
	cr_assert_eq(le64toh(h->dst_cid), CID);
	cr_assert_eq(le16toh(h->type), VIRTIO_VSOCK_TYPE_STREAM);
	if (payload)
		memcpy(payload, in + HDR, plen);
	ldrv_post(&d, RXQ, NULL, 0, RXBUF);
	ldrv_kick(&d, RXQ);
	return plen;
}

/* ---- the host's side ---- */

static struct sockaddr_un unix_addr(const char *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	cr_assert_lt(strlen(p), sizeof(sa.sun_path));
	memcpy(sa.sun_path, p, strlen(p) + 1);
	return sa;
}

static int unix_connect(const char *p)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = unix_addr(p);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s", strerror(errno));
	return fd;
}

static int unix_listen(const char *p)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = unix_addr(p);
	unlink(p);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s", strerror(errno));
	cr_assert_eq(listen(fd, 4), 0);
	return fd;
}

/* Exactly n bytes from fd (waiting, with the failure guard). */
static void read_exact(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		cr_assert(ldrv_wait_fd(fd), "only %zu of %zu bytes came", got, n);
		ssize_t r = read(fd, (uint8_t *)buf + got, n - got);
		cr_assert_gt(r, 0, "the socket closed after %zu of %zu bytes", got, n);
		got += (size_t)r;
	}
}

/* A line from fd, up to '\n'. */
static void read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	while (n + 1 < cap) {
		read_exact(fd, buf + n, 1);
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
}

/* Host program connects to guest port 1234; the guest accepts. Returns
 * the host port the device chose. */
static uint32_t host_connect(uint32_t guest_port)
{
	client = unix_connect(path);
	char cmd[32];
	int n = snprintf(cmd, sizeof(cmd), "CONNECT %u\n", guest_port);
	cr_assert_eq(write(client, cmd, (size_t)n), n);
	struct virtio_vsock_hdr h;
	guest_recv(&h, NULL);
	cr_assert_eq(le16toh(h.op), VIRTIO_VSOCK_OP_REQUEST);
	cr_assert_eq(le32toh(h.dst_port), guest_port);
	uint32_t host_port = le32toh(h.src_port);
	cr_assert_geq(host_port, 1u << 30);
	cr_assert_gt(le32toh(h.buf_alloc), 0);
	guest_send(guest_port, host_port, VIRTIO_VSOCK_OP_RESPONSE, 0, GUEST_BUF, 0, NULL, 0);
	char line[32], want[32];
	read_line(client, line, sizeof(line));
	snprintf(want, sizeof(want), "OK %u\n", host_port);
	cr_assert_str_eq(line, want);
	return host_port;
}

Test(virtio_vsock, config_space_holds_the_cid)
{
	uint64_t cid;
	ldrv_config(&d, 0, &cid, 8);
	cr_assert_eq(le64toh(cid), CID);
}

Test(virtio_vsock, host_connect_reaches_the_guest_and_data_flows_both_ways)
{
	uint32_t hp = host_connect(1234);
	const char to_guest[] = "bytes from the host program";
	cr_assert_eq(write(client, to_guest, sizeof(to_guest)), (ssize_t)sizeof(to_guest));
	struct virtio_vsock_hdr h;
	uint8_t got[RXBUF];
	uint32_t n = 0;
	while (n < sizeof(to_guest)) {
		uint32_t len = guest_recv(&h, got + n);
		cr_assert_eq(le16toh(h.op), VIRTIO_VSOCK_OP_RW);
		cr_assert_eq(le32toh(h.src_port), hp);
		n += len;
	}
	cr_assert_eq(n, sizeof(to_guest));
	cr_assert_arr_eq(got, to_guest, sizeof(to_guest));

	const char to_host[] = "and bytes from the guest";
	guest_send(1234, hp, VIRTIO_VSOCK_OP_RW, 0, GUEST_BUF, n, to_host, sizeof(to_host));
	char back[sizeof(to_host)];
	read_exact(client, back, sizeof(back));
	cr_assert_arr_eq(back, to_host, sizeof(to_host));
}

Test(virtio_vsock, data_behind_the_connect_line_is_kept)
{
	client = unix_connect(path);
	const char msg[] = "CONNECT 77\nearly bytes";
	cr_assert_eq(write(client, msg, sizeof(msg) - 1), (ssize_t)sizeof(msg) - 1);
	struct virtio_vsock_hdr h;
	guest_recv(&h, NULL);
	cr_assert_eq(le16toh(h.op), VIRTIO_VSOCK_OP_REQUEST);
	uint32_t hp = le32toh(h.src_port);
	guest_send(77, hp, VIRTIO_VSOCK_OP_RESPONSE, 0, GUEST_BUF, 0, NULL, 0);
	uint8_t got[64];
	uint32_t len = guest_recv(&h, got);
	cr_assert_eq(le16toh(h.op), VIRTIO_VSOCK_OP_RW);
	cr_assert_eq(len, strlen("early bytes"));
	cr_assert_arr_eq(got, "early bytes", len);
}

Test(virtio_vsock, malformed_connect_line_closes_the_socket)
{
	client = unix_connect(path);
	cr_assert_eq(write(client, "CONNECT -1\n", 11), 11);
	cr_assert(ldrv_wait_fd(client));
	char c;
	cr_assert_eq(read(client, &c, 1), 0);
}

Test(virtio_vsock, guest_refusal_closes_the_host_socket)
{
	client = unix_connect(path);
	cr_assert_eq(write(client, "CONNECT 9\n", 10), 10);
	struct virtio_vsock_hdr h;
	guest_recv(&h, NULL);
	guest_send(9, le32toh(h.src_port), VIRTIO_VSOCK_OP_RST, 0, 0, 0, NULL, 0);
	cr_assert(ldrv_wait_fd(client));
	char c;
	cr_assert_eq(read(client, &c, 1), 0, "no OK may come after a refusal");
}

Test(virtio_vsock, guest_connects_to_path_underscore_port)
{
	char p[128];
	snprintf(p, sizeof(p), "%s_5000", path);
	int srv = unix_listen(p);
	guest_send(7777, 5000, VIRTIO_VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL, 0);
	struct virtio_vsock_hdr h;
	guest_recv(&h, NULL);
	cr_assert_eq(le16toh(h.op), VIRTIO_VSOCK_OP_RESPONSE);
	cr_assert_eq(le32toh(h.src_port), 5000);
	cr_assert_eq(le32toh(h.dst_port), 7777);
	int conn = accept(srv, NULL, NULL);
	cr_assert_geq(conn, 0);
	guest_send(7777, 5000, VIRTIO_VSOCK_OP_RW, 0, GUEST_BUF, 0, "ping", 4);
	char buf[8];
	read_exact(conn, buf, 4);
	cr_assert_arr_eq(buf, "ping", 4);
	cr_assert_eq(write(conn, "pong", 4), 4);
	uint8_t got[8];
	cr_assert_eq(guest_recv(&h, got), 4);
	cr_assert_eq(le16toh(h.op), VIRTIO_VSOCK_OP_RW);
	cr_assert_arr_eq(got, "pong", 4);
	/* The host program closes mid-stream: the guest hears SHUTDOWN. */
	close(conn);
	guest_recv(&h, NULL);
	cr_assert_eq(le16toh(h.op), VIRTIO_VSOCK_OP_SHUTDOWN);
	cr_assert(le32toh(h.flags) & VIRTIO_VSOCK_SHUTDOWN_SEND);
	close(srv);
	unlink(p);
}

Test(virtio_vsock, host_can_speak_first_on_a_guest_connection)
{
	char p[128];
	snprintf(p, sizeof(p), "%s_5001", path);
	int srv = unix_listen(p);
	guest_send(7779, 5001, VIRTIO_VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL, 0);
	struct virtio_vsock_hdr h;
	guest_recv(&h, NULL);
	cr_assert_eq(le16toh(h.op), VIRTIO_VSOCK_OP_RESPONSE);
	int conn = accept(srv, NULL, NULL);
	cr_assert_geq(conn, 0);
	/* The guest's REQUEST carried its credit: no other packet needed. */
	cr_assert_eq(write(conn, "banner\n", 7), 7);
	uint8_t got[16];
	cr_assert_eq(guest_recv(&h, got), 7);
	cr_assert_eq(le16toh(h.op), VIRTIO_VSOCK_OP_RW);
	cr_assert_arr_eq(got, "banner\n", 7);
	close(conn);
	close(srv);
	unlink(p);
}

Test(virtio_vsock, nothing_listening_gets_rst)
{
	guest_send(7778, 6000, VIRTIO_VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL, 0);
	struct virtio_vsock_hdr h;
	guest_recv(&h, NULL);
	cr_assert_eq(le16toh(h.op), VIRTIO_VSOCK_OP_RST);
	cr_assert_eq(le32toh(h.src_port), 6000);
	cr_assert_eq(le32toh(h.dst_port), 7778);
}

Test(virtio_vsock, data_for_an_unknown_connection_gets_rst)
{
	guest_send(1, 2, VIRTIO_VSOCK_OP_RW, 0, GUEST_BUF, 0, "x", 1);
	struct virtio_vsock_hdr h;
	guest_recv(&h, NULL);
	cr_assert_eq(le16toh(h.op), VIRTIO_VSOCK_OP_RST);
}

Test(virtio_vsock, host_data_respects_the_guest_credit)
{
	client = unix_connect(path);
	cr_assert_eq(write(client, "CONNECT 80\n", 11), 11);
	struct virtio_vsock_hdr h;
	guest_recv(&h, NULL);
	uint32_t hp = le32toh(h.src_port);
	/* The guest has room for 100 bytes only. */
	guest_send(80, hp, VIRTIO_VSOCK_OP_RESPONSE, 0, 100, 0, NULL, 0);
	char line[32];
	read_line(client, line, sizeof(line));
	static uint8_t big[1000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	cr_assert_eq(write(client, big, sizeof(big)), (ssize_t)sizeof(big));
	uint8_t got[2000];
	uint32_t n = 0;
	while (n < 100) {
		n += guest_recv(&h, got + n);
		cr_assert_eq(le16toh(h.op), VIRTIO_VSOCK_OP_RW);
	}
	/* Ask for the device's credit: its answer comes after whatever it
	 * sent, and nothing beyond the 100 bytes may have come. */
	guest_send(80, hp, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0, 100, 0, NULL, 0);
	guest_recv(&h, NULL);
	cr_assert_eq(le16toh(h.op), VIRTIO_VSOCK_OP_CREDIT_UPDATE);
	cr_assert_eq(n, 100);
	/* The guest read them all and has room for everything now. */
	guest_send(80, hp, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 4096, 100, NULL, 0);
	while (n < sizeof(big)) {
		n += guest_recv(&h, got + n);
		cr_assert_eq(le16toh(h.op), VIRTIO_VSOCK_OP_RW);
	}
	cr_assert_eq(n, sizeof(big));
	cr_assert_arr_eq(got, big, sizeof(big));
}

Test(virtio_vsock, guest_ignoring_credit_is_reset)
{
	uint32_t hp = host_connect(81);
	/* The host program never reads; the guest keeps sending regardless
	 * of the device's credit (64 KiB plus what the socket holds). */
	static uint8_t chunk[LDRV_SLOT - HDR];
	memset(chunk, 'z', sizeof(chunk));
	bool reset = false;
	struct virtio_vsock_hdr h;
	for (int i = 0; i < 200 && !reset; i++) {
		guest_send(81, hp, VIRTIO_VSOCK_OP_RW, 0, GUEST_BUF, 0, chunk, sizeof(chunk));
		/* Credit updates may come first (the socket took some). */
		while (!reset && ldrv_has_used(&d, RXQ)) {
			guest_recv(&h, NULL);
			uint16_t op = le16toh(h.op);
			cr_assert(op == VIRTIO_VSOCK_OP_CREDIT_UPDATE || op == VIRTIO_VSOCK_OP_RST,
				  "op %u", op);
			reset = op == VIRTIO_VSOCK_OP_RST;
		}
	}
	cr_assert(reset, "the device took everything");
	/* And the host program's socket is closed. */
	char buf[4096];
	ssize_t r;
	do {
		cr_assert(ldrv_wait_fd(client));
		r = read(client, buf, sizeof(buf));
	} while (r > 0);
	cr_assert_eq(r, 0);
}

Test(virtio_vsock, guest_shutdown_ends_the_host_stream)
{
	uint32_t hp = host_connect(82);
	guest_send(82, hp, VIRTIO_VSOCK_OP_RW, 0, GUEST_BUF, 0, "last", 4);
	guest_send(82, hp, VIRTIO_VSOCK_OP_SHUTDOWN, VIRTIO_VSOCK_SHUTDOWN_SEND, GUEST_BUF, 0,
		   NULL, 0);
	char buf[8];
	read_exact(client, buf, 4);
	cr_assert_arr_eq(buf, "last", 4);
	cr_assert(ldrv_wait_fd(client));
	cr_assert_eq(read(client, buf, 1), 0, "no end of stream after SHUTDOWN(SEND)");
}

Test(virtio_vsock, several_streams_at_once)
{
	int c[3];
	uint32_t hp[3];
	for (int i = 0; i < 3; i++) {
		hp[i] = host_connect(100 + (uint32_t)i);
		c[i] = client;
		client = -1;
	}
	for (int i = 0; i < 3; i++) {
		char m[16];
		int n = snprintf(m, sizeof(m), "stream %d", i);
		guest_send(100 + (uint32_t)i, hp[i], VIRTIO_VSOCK_OP_RW, 0, GUEST_BUF, 0, m,
			   (uint32_t)n);
	}
	for (int i = 2; i >= 0; i--) {
		char m[16], want[16];
		int n = snprintf(want, sizeof(want), "stream %d", i);
		read_exact(c[i], m, (size_t)n);
		cr_assert_arr_eq(m, want, (size_t)n);
		close(c[i]);
	}
}

/* ---- a large transfer each way, with its checksum ---- */

#define BIG (4u << 20)

static uint32_t fnv(uint32_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static uint8_t big_byte(size_t i)
{
	return (uint8_t)((i * 2654435761u) >> 13);
}

struct big_job {
	int fd;
	uint32_t sum;
};

static void *host_writer(void *arg)
{
	struct big_job *j = arg;
	static uint8_t chunk[65536];
	for (size_t off = 0; off < BIG; off += sizeof(chunk)) {
		for (size_t i = 0; i < sizeof(chunk); i++)
			chunk[i] = big_byte(off + i);
		j->sum = fnv(j->sum, chunk, sizeof(chunk));
		for (size_t done = 0; done < sizeof(chunk);) {
			ssize_t w = write(j->fd, chunk + done, sizeof(chunk) - done);
			if (w <= 0)
				return NULL;
			done += (size_t)w;
		}
	}
	return NULL;
}

static void *host_reader(void *arg)
{
	struct big_job *j = arg;
	static uint8_t buf[65536];
	size_t got = 0;
	while (got < BIG) {
		ssize_t r = read(j->fd, buf, sizeof(buf));
		if (r <= 0)
			return NULL;
		j->sum = fnv(j->sum, buf, (size_t)r);
		got += (size_t)r;
	}
	return NULL;
}

Test(virtio_vsock, four_mib_to_the_guest_with_credit_updates)
{
	uint32_t hp = host_connect(90);
	struct big_job job = { .fd = client, .sum = 2166136261u };
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, host_writer, &job), 0);
	/* The guest has a 64 KiB buffer and says so each time it has
	 * consumed half of it. */
	uint32_t got = 0, told = 0, sum = 2166136261u;
	static uint8_t payload[RXBUF];
	while (got < BIG) {
		struct virtio_vsock_hdr h;
		uint32_t n = guest_recv(&h, payload);
		cr_assert_eq(le16toh(h.op), VIRTIO_VSOCK_OP_RW, "op %u at %u", le16toh(h.op), got);
		cr_assert_leq(got + n - told, GUEST_BUF, "the device overran the guest's credit");
		sum = fnv(sum, payload, n);
		got += n;
		if (got - told >= GUEST_BUF / 2) {
			told = got;
			guest_send(90, hp, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, GUEST_BUF, told, NULL, 0);
		}
	}
	pthread_join(t, NULL);
	cr_assert_eq(got, BIG);
	cr_assert_eq(sum, job.sum, "the bytes differ");
}

Test(virtio_vsock, four_mib_to_the_host_within_the_device_credit)
{
	uint32_t hp = host_connect(91);
	struct big_job job = { .fd = client, .sum = 2166136261u };
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, host_reader, &job), 0);
	static uint8_t chunk[LDRV_SLOT - HDR];
	uint32_t sent = 0, sum = 2166136261u;
	/* The device's credit: what it said it can hold, minus what it has
	 * not yet forwarded (from its last header). */
	uint32_t dev_buf = 64 * 1024, dev_fwd = 0;
	while (sent < BIG) {
		uint32_t room = dev_buf - (sent - dev_fwd);
		if (room == 0) {
			guest_send(91, hp, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0, GUEST_BUF, 0, NULL, 0);
			struct virtio_vsock_hdr h;
			do
				guest_recv(&h, NULL);
			while (le16toh(h.op) != VIRTIO_VSOCK_OP_CREDIT_UPDATE);
			dev_buf = le32toh(h.buf_alloc);
			dev_fwd = le32toh(h.fwd_cnt);
			continue;
		}
		uint32_t n = BIG - sent < sizeof(chunk) ? BIG - sent : (uint32_t)sizeof(chunk);
		n = n < room ? n : room;
		for (uint32_t i = 0; i < n; i++)
			chunk[i] = big_byte(sent + i);
		sum = fnv(sum, chunk, n);
		guest_send(91, hp, VIRTIO_VSOCK_OP_RW, 0, GUEST_BUF, 0, chunk, n);
		sent += n;
		/* Credit updates the device volunteers. */
		while (ldrv_has_used(&d, RXQ)) {
			struct virtio_vsock_hdr h;
			guest_recv(&h, NULL);
			cr_assert_eq(le16toh(h.op), VIRTIO_VSOCK_OP_CREDIT_UPDATE);
			dev_fwd = le32toh(h.fwd_cnt);
		}
	}
	pthread_join(t, NULL);
	cr_assert_eq(job.sum, sum, "the bytes differ");
}

/* ---- devices.c's table: cards first, vsock last ---- */

Test(virtio_devices, nets_then_vsock_in_config_order)
{
	struct kvmini_error err = { 0 };
	struct event_loop *loop = event_loop_create("devs", &err);
	cr_assert_not_null(loop, "%s", err.msg);
	char sock[96];
	snprintf(sock, sizeof(sock), "/tmp/kvmini-vsock-devs-%d.sock", (int)getpid());
	unlink(sock);
	struct kvmini_net nets[2] = { { .backend = KVMINI_NET_USER },
				      { .backend = KVMINI_NET_USER, .mtu = 9000 } };
	struct kvmini_config cfg;
	kvmini_config_defaults(&cfg);
	cfg.nets = nets;
	cfg.nnets = 2;
	cfg.vsock = (struct kvmini_vsock){ .enabled = true, .guest_cid = 3, .uds_path = sock };
	struct virtio_device_env env = { .loop = loop, .log_fd = 2, .cfg = &cfg };
	struct virtio_device_set set;
	cr_assert_eq(virtio_devices_create(&set, &env, &err), 0, "%s", err.msg);
	cr_assert_eq(set.n, 3);
	cr_assert_eq(set.devs[0]->ops->device_id, VIRTIO_ID_NET);
	cr_assert_eq(set.devs[1]->ops->device_id, VIRTIO_ID_NET);
	cr_assert_eq(set.devs[2]->ops->device_id, VIRTIO_ID_VSOCK);
	uint16_t mtu;
	virtio_device_read_config(set.devs[1], 10, &mtu, 2);
	cr_assert_eq(le16toh(mtu), 9000);
	/* Two cards alike but for their place: two addresses. */
	uint8_t mac0[6], mac1[6];
	virtio_device_read_config(set.devs[0], 0, mac0, 6);
	virtio_device_read_config(set.devs[1], 0, mac1, 6);
	cr_assert_arr_neq(mac0, mac1, 6);
	cr_assert_eq(mac0[0] & 3, 2, "not a locally administered unicast address");
	virtio_devices_destroy(&set);
	event_loop_destroy(loop);
	cr_assert_neq(access(sock, F_OK), 0);
}

Test(virtio_devices, a_failing_device_leaves_none)
{
	struct kvmini_error err = { 0 };
	struct event_loop *loop = event_loop_create("devs", &err);
	struct kvmini_net nets[1] = { { .backend = KVMINI_NET_USER } };
	struct kvmini_config cfg;
	kvmini_config_defaults(&cfg);
	cfg.nets = nets;
	cfg.nnets = 1;
	cfg.vsock = (struct kvmini_vsock){ .enabled = true, .guest_cid = 2, .uds_path = "/tmp/x" };
	struct virtio_device_env env = { .loop = loop, .log_fd = 2, .cfg = &cfg };
	struct virtio_device_set set;
	cr_assert_eq(virtio_devices_create(&set, &env, &err), -1);
	cr_assert(strstr(err.msg, "cid 2 is reserved"), "%s", err.msg);
	cr_assert_eq(set.n, 0);
	event_loop_destroy(loop);
}

/* ---- connect deadlines ---- */

Test(virtio_vsock, a_program_that_never_sends_connect_is_dropped)
{
	virtio_vsock_set_connect_timeout(d.vdev, 100 * 1000000ull);
	client = unix_connect(path);
	cr_assert(ldrv_wait_fd(client), "the idle connection was kept");
	char c;
	cr_assert_eq(read(client, &c, 1), 0);
}

Test(virtio_vsock, an_unanswered_request_is_reset_both_ways)
{
	virtio_vsock_set_connect_timeout(d.vdev, 100 * 1000000ull);
	client = unix_connect(path);
	cr_assert_eq(write(client, "CONNECT 33\n", 11), 11);
	struct virtio_vsock_hdr h;
	guest_recv(&h, NULL);
	cr_assert_eq(le16toh(h.op), VIRTIO_VSOCK_OP_REQUEST);
	uint32_t hp = le32toh(h.src_port);
	/* The guest says nothing: it gets an RST, the program an end. */
	guest_recv(&h, NULL);
	cr_assert_eq(le16toh(h.op), VIRTIO_VSOCK_OP_RST);
	cr_assert_eq(le32toh(h.src_port), hp);
	cr_assert(ldrv_wait_fd(client));
	char c;
	cr_assert_eq(read(client, &c, 1), 0, "an OK came without a RESPONSE");
}

/* After a restore the guest hears, through the event queue, that every
 * connection it had is gone (Firecracker does the same: connections'
 * host ends belong to the process that made the snapshot). The event
 * goes out at the restored transport's first kick. */
Test(virtio_vsock, a_restored_device_sends_a_transport_reset_event)
{
	host_connect(1234);   /* a connection open at the snapshot */
	uint16_t ev = ldrv_post(&d, EVQ, NULL, 0, 8);
	struct state_writer w;
	state_writer_init(&w);
	virtio_device_lock(d.vdev);
	virtio_device_quiesce(d.vdev);
	virtio_device_save(d.vdev, &w);
	struct state_reader r;
	state_reader_init(&r, w.data, w.len);
	struct kvmini_error err = { 0 };
	int rc = virtio_device_restore(d.vdev, &r, &err);
	virtio_device_unlock(d.vdev);
	cr_assert_eq(rc, 0, "%s", err.msg);
	cr_assert_eq(state_reader_finish(&r, "test", &err), 0, "%s", err.msg);
	ldrv_kick(&d, EVQ);
	uint16_t id;
	uint32_t len;
	ldrv_wait_used(&d, EVQ, &id, &len);
	cr_assert_eq(id, ev);
	cr_assert_eq(len, sizeof(struct virtio_vsock_event));
	struct virtio_vsock_event e;
	memcpy(&e, ldrv_in_data(&d, EVQ, id, false), sizeof(e));
	cr_assert_eq(le32toh(e.id), VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
	char c;
	cr_assert_eq(read(client, &c, 1), 0, "the host program's stream outlived the restore");
	state_writer_free(&w);
}
