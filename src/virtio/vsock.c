/* virtio-vsock (virtio 1.x, section 5.10) with Firecracker's host side:
 * stream sockets between the guest and Unix sockets on the host.
 *
 *   host -> guest: a host program connects to the Unix socket PATH and
 *     writes "CONNECT <port>\n"; kvmini sends the guest a REQUEST for
 *     that port from a fresh host port (from 2^30 up), and on the
 *     guest's RESPONSE answers the program "OK <host port>\n"; then
 *     bytes flow. A guest RST closes the program's socket.
 *   guest -> host: a guest connecting to host (CID 2) port P reaches the
 *     Unix socket PATH_P, if something listens there; else RST.
 *
 * Flow control is the specification's credit: the guest may have at
 * most VSOCK_BUF bytes in flight towards a connection (our buf_alloc);
 * what the host program does not take at once waits in that bounded
 * buffer, and a guest that sends beyond its credit gets the connection
 * reset. Towards the guest kvmini reads a socket only while the guest's
 * own credit (its buf_alloc minus bytes in flight) and receive buffers
 * allow, so a reader that stalls stalls only its own stream.
 *
 * Every packet header is copied once and checked: CIDs, type, lengths
 * against the buffers actually posted, ports against a known
 * connection. Anything else is answered with RST or dropped.
 *
 * Snapshots hold no connection, as Firecracker's do: a restored device
 * sends the guest a TRANSPORT_RESET event, and the guest drops its
 * connected sockets (its listening ones stay).
 *
 * Threads: connection sockets, the listener and a "work" eventfd live on
 * the event loop; everything runs under the virtio lock. Connections
 * are freed only on the loop's thread (the work callback) or at destroy,
 * so a reset on a vCPU thread only marks them dead. */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/virtio_vsock.h>
#include "event_loop.h"
#include "virtio/vsock.h"

enum { RXQ, TXQ, EVQ, NQUEUES };

#define VSOCK_HOST_CID 2
#define VSOCK_QUEUE_SIZE 256
#define VSOCK_HDR ((uint32_t)sizeof(struct virtio_vsock_hdr))
#define VSOCK_BUF (64u * 1024)           /* our buf_alloc per connection */
#define VSOCK_MAX_PAYLOAD (64u * 1024)   /* per packet, either way */
#define VSOCK_MAX_CONNS 128
#define VSOCK_LOCAL_PORT_BASE (1u << 30)
#define VSOCK_CMD_MAX 32                 /* "CONNECT 4294967295\n" fits */
#define VSOCK_RX_BUDGET 256
#define VSOCK_MAX_RST 32                 /* RSTs for unknown connections */
/* A host program has this long to send its CONNECT line, and the guest
 * to answer the REQUEST, before the connection is dropped (so idle
 * programs cannot hold all VSOCK_MAX_CONNS slots). */
#define VSOCK_CONNECT_TIMEOUT_NS (10ull * 1000000000)

enum conn_state {
	C_CMD,          /* host program connected; its CONNECT line pending */
	C_REQUEST,      /* REQUEST sent to the guest; waiting for RESPONSE */
	C_ESTABLISHED,
	C_DEAD,         /* to be freed on the loop's thread */
};

/* Packets a connection owes the guest. */
enum { P_REQUEST = 1, P_RESPONSE = 2, P_SHUTDOWN = 4, P_CREDIT = 8, P_RST = 16 };

struct vconn {
	struct vconn *next;
	struct virtio_vsock *v;
	int fd;
	struct event_handler *handler;
	uint32_t watched;
	enum conn_state state;
	uint32_t local_port, peer_port;   /* host side, guest side */
	unsigned pending;                 /* P_* */
	bool readable;                    /* the socket may hold data or EOF */
	bool host_eof, guest_send_done, guest_rcv_done;
	/* host -> guest credit */
	uint32_t tx_cnt, peer_buf_alloc, peer_fwd_cnt;
	/* guest -> host: rx_cnt - fwd_cnt bytes wait in buf */
	uint32_t rx_cnt, fwd_cnt, fwd_reported;
	uint8_t *buf;
	uint32_t buf_head, buf_len;
	char cmd[VSOCK_CMD_MAX];
	unsigned cmd_len;
	uint64_t deadline_ns;             /* C_CMD, C_REQUEST: drop after */
};

struct vsock_rst {
	uint32_t local_port, peer_port;
};

struct virtio_vsock {
	struct virtio_device vdev;
	struct virtio_vsock_config config;
	uint64_t cid;
	char uds_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct event_loop *loop;
	int log_fd;
	int listen_fd, work_fd;
	struct event_handler *listen_h, *work_h;
	struct event_timer *timer;        /* the earliest connect deadline */
	uint64_t timer_at;                /* when it fires; 0: disarmed */
	uint64_t connect_timeout_ns;
	struct vconn *conns, *dead;
	unsigned nconns;
	uint32_t next_local_port;
	struct vsock_rst rst[VSOCK_MAX_RST];
	unsigned nrst;
	bool rx_held;
	bool reset_due;                   /* restored: the guest is owed a
					   * TRANSPORT_RESET event */
	struct virtq_elem rx_elem, tx_elem, ev_elem;
	bool in_rx;                       /* rx_pump() runs */
	/* Payloads: towards the guest, and from it (apart, so that sending
	 * an RST while a guest's packet is handled cannot clobber it). */
	uint8_t rx_data[VSOCK_MAX_PAYLOAD], tx_data[VSOCK_MAX_PAYLOAD];
};

static void rx_pump(struct virtio_vsock *v);

static bool queue_live(struct virtio_vsock *v, unsigned q)
{
	return virtio_device_running(&v->vdev) && v->vdev.queues[q].enabled;
}

static void work_kick(struct virtio_vsock *v)
{
	uint64_t one = 1;
	if (write(v->work_fd, &one, sizeof(one)) < 0) {
		/* A full counter already means "work pending". */
	}
}

/* ---- connections ---- */

/* What the guest still lets us send on c. */
static uint32_t conn_peer_credit(const struct vconn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

static void conn_watch(struct vconn *c)
{
	uint32_t ev = 0;
	if (c->state == C_CMD)
		ev = EPOLLIN;
	else if (c->state == C_ESTABLISHED) {
		if (!c->readable && !c->host_eof && !c->guest_rcv_done && conn_peer_credit(c))
			ev |= EPOLLIN;
		if (c->buf_len)
			ev |= EPOLLOUT;
	}
	if (ev == c->watched || !c->handler)
		return;
	struct kvmini_error err = { 0 };
	if (event_loop_modify(c->v->loop, c->handler, ev, &err) == 0)
		c->watched = ev;
}

static void conn_unlink(struct virtio_vsock *v, struct vconn *c)
{
	for (struct vconn **p = &v->conns; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			v->nconns--;
			return;
		}
	}
}

/* Forget c: unwatched now, freed on the loop's thread (work_kick). */
static void conn_kill(struct vconn *c)
{
	struct virtio_vsock *v = c->v;
	c->state = C_DEAD;
	conn_watch(c);   /* nothing watched any more */
	conn_unlink(v, c);
	c->next = v->dead;
	v->dead = c;
	work_kick(v);
}

/* Reset c towards the guest, then forget it. */
static void conn_abort(struct vconn *c)
{
	c->pending = P_RST;
	c->readable = false;
	conn_watch(c);
	rx_pump(c->v);
}

static void conn_free(struct vconn *c)
{
	event_loop_remove(c->v->loop, c->handler);
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c);
}

static void reap(struct virtio_vsock *v)
{
	while (v->dead) {
		struct vconn *c = v->dead;
		v->dead = c->next;
		conn_free(c);
	}
}

/* c must reach its next state within the connect timeout. */
static void conn_deadline(struct vconn *c)
{
	struct virtio_vsock *v = c->v;
	c->deadline_ns = event_loop_now_ns() + v->connect_timeout_ns;
	if (!v->timer_at || c->deadline_ns < v->timer_at) {
		v->timer_at = c->deadline_ns;
		event_timer_arm_at(v->timer, v->timer_at);
	}
}

static void conn_ready(void *ctx, int fd, uint32_t events);

static struct vconn *conn_new(struct virtio_vsock *v, int fd, enum conn_state state)
{
	if (v->nconns >= VSOCK_MAX_CONNS)
		return NULL;
	struct vconn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->v = v;
	c->fd = fd;
	c->state = state;
	struct kvmini_error err = { 0 };
	c->handler = event_loop_add(v->loop, fd, EPOLLIN, conn_ready, c, &err);
	if (!c->handler) {
		free(c);
		return NULL;
	}
	c->watched = EPOLLIN;
	c->next = v->conns;
	v->conns = c;
	v->nconns++;
	if (state == C_CMD)
		conn_deadline(c);
	return c;
}

static struct vconn *conn_find(struct virtio_vsock *v, uint32_t local, uint32_t peer)
{
	for (struct vconn *c = v->conns; c; c = c->next)
		if (c->state != C_CMD && c->local_port == local && c->peer_port == peer)
			return c;
	return NULL;
}

static bool local_port_used(struct virtio_vsock *v, uint32_t port)
{
	for (struct vconn *c = v->conns; c; c = c->next)
		if (c->state != C_CMD && c->local_port == port)
			return true;
	return false;
}

static uint32_t local_port_alloc(struct virtio_vsock *v)
{
	do {
		if (++v->next_local_port < VSOCK_LOCAL_PORT_BASE)
			v->next_local_port = VSOCK_LOCAL_PORT_BASE;
	} while (local_port_used(v, v->next_local_port));
	return v->next_local_port;
}

/* ---- packets to the guest ---- */

/* Hold one receive buffer big enough for a header; false when none. */
static bool rx_take(struct virtio_vsock *v)
{
	struct virtq *q = &v->vdev.queues[RXQ];
	struct kvmini_error err = { 0 };
	while (!v->rx_held) {
		int got = virtq_pop(q, &v->rx_elem, &err);
		if (got < 0) {
			virtio_device_fail(&v->vdev, &err);
			return false;
		}
		if (got == 0) {
			if (virtq_set_notify(q, true))
				continue;
			return false;
		}
		if (v->rx_elem.in_len >= VSOCK_HDR)
			v->rx_held = true;
		else
			virtq_push(q, v->rx_elem.head, 0);   /* useless buffer: give it back */
	}
	return true;
}

static void rx_send(struct virtio_vsock *v, uint32_t local, uint32_t peer, uint16_t op,
		    uint32_t flags, struct vconn *c, uint32_t len)
{
	struct virtio_vsock_hdr h = {
		.src_cid = htole64(VSOCK_HOST_CID), .dst_cid = htole64(v->cid),
		.src_port = htole32(local), .dst_port = htole32(peer), .len = htole32(len),
		.type = htole16(VIRTIO_VSOCK_TYPE_STREAM), .op = htole16(op),
		.flags = htole32(flags), .buf_alloc = htole32(c ? VSOCK_BUF : 0),
		.fwd_cnt = htole32(c ? c->fwd_cnt : 0),
	};
	if (c)
		c->fwd_reported = c->fwd_cnt;
	struct iovec *in = virtq_elem_in(&v->rx_elem);
	iov_from_buf(in, v->rx_elem.nin, 0, &h, sizeof(h));
	if (len)
		iov_from_buf(in, v->rx_elem.nin, sizeof(h), v->rx_data, len);
	virtq_push(&v->vdev.queues[RXQ], v->rx_elem.head, VSOCK_HDR + len);
	v->rx_held = false;
}

static void conn_send(struct vconn *c, uint16_t op, uint32_t flags, uint32_t len)
{
	rx_send(c->v, c->local_port, c->peer_port, op, flags, c, len);
}

/* The packet c owes, most urgent first. */
static void conn_send_pending(struct vconn *c)
{
	if (c->pending & P_RST) {
		conn_send(c, VIRTIO_VSOCK_OP_RST, 0, 0);
		conn_kill(c);
	} else if (c->pending & P_REQUEST) {
		c->pending &= ~(unsigned)P_REQUEST;
		conn_send(c, VIRTIO_VSOCK_OP_REQUEST, 0, 0);
	} else if (c->pending & P_RESPONSE) {
		c->pending &= ~(unsigned)P_RESPONSE;
		conn_send(c, VIRTIO_VSOCK_OP_RESPONSE, 0, 0);
	} else if (c->pending & P_SHUTDOWN) {
		c->pending &= ~(unsigned)P_SHUTDOWN;
		conn_send(c, VIRTIO_VSOCK_OP_SHUTDOWN, VIRTIO_VSOCK_SHUTDOWN_SEND, 0);
	} else {
		c->pending &= ~(unsigned)P_CREDIT;
		conn_send(c, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 0);
	}
}

/* Host data towards the guest, as much as credit and the held buffer
 * allow: true when a packet went out. */
static bool conn_send_data(struct vconn *c)
{
	struct virtio_vsock *v = c->v;
	uint32_t cap = (uint32_t)(v->rx_elem.in_len - VSOCK_HDR);
	uint32_t credit = conn_peer_credit(c);
	if (cap > credit)
		cap = credit;
	if (cap > VSOCK_MAX_PAYLOAD)
		cap = VSOCK_MAX_PAYLOAD;
	if (!cap)
		return false;
	ssize_t n = read(c->fd, v->rx_data, cap);
	if (n > 0) {
		c->tx_cnt += (uint32_t)n;
		conn_send(c, VIRTIO_VSOCK_OP_RW, 0, (uint32_t)n);
		return true;
	}
	c->readable = false;
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		conn_watch(c);
		return false;
	}
	if (n < 0) {
		c->pending = P_RST;
		return false;
	}
	c->host_eof = true;   /* the program will send no more */
	c->pending |= c->guest_send_done ? P_RST : P_SHUTDOWN;
	conn_watch(c);
	return false;
}

/* Move c to the tail, so the next turn starts with another connection. */
static void conn_to_tail(struct virtio_vsock *v, struct vconn *c)
{
	conn_unlink(v, c);
	c->next = NULL;
	struct vconn **p = &v->conns;
	while (*p)
		p = &(*p)->next;
	*p = c;
	v->nconns++;
}

/* One packet into the held buffer: true when one went out. */
static bool rx_next(struct virtio_vsock *v)
{
	if (v->nrst) {
		struct vsock_rst r = v->rst[--v->nrst];
		rx_send(v, r.local_port, r.peer_port, VIRTIO_VSOCK_OP_RST, 0, NULL, 0);
		return true;
	}
	for (struct vconn *c = v->conns; c; c = c->next) {
		if (c->pending) {
			conn_send_pending(c);
			if (c->state != C_DEAD)
				conn_to_tail(v, c);
			return true;
		}
	}
	for (struct vconn *c = v->conns; c; c = c->next) {
		if (c->state == C_ESTABLISHED && c->readable && conn_send_data(c)) {
			conn_to_tail(v, c);
			return true;
		}
		if (c->pending)
			return rx_next(v);   /* the read found EOF or an error */
	}
	return false;
}

static void rx_pump(struct virtio_vsock *v)
{
	unsigned sent = 0;
	if (v->in_rx)
		return;   /* the running pump finds the new work */
	v->in_rx = true;
	while (queue_live(v, RXQ) && rx_take(v)) {
		if (sent == VSOCK_RX_BUDGET) {
			work_kick(v);   /* give the loop back, come back soon */
			break;
		}
		if (!rx_next(v))
			break;
		sent++;
	}
	v->in_rx = false;
	if (sent)
		virtio_device_used(&v->vdev, RXQ);
}

static void rst_unknown(struct virtio_vsock *v, uint32_t local, uint32_t peer)
{
	if (v->nrst < VSOCK_MAX_RST)
		v->rst[v->nrst++] = (struct vsock_rst){ local, peer };
}

/* ---- the host side: sockets ---- */

/* Write what waits in c->buf to the socket. */
static void conn_flush(struct vconn *c)
{
	while (c->buf_len) {
		uint32_t chunk = VSOCK_BUF - c->buf_head;
		if (chunk > c->buf_len)
			chunk = c->buf_len;
		ssize_t n = send(c->fd, c->buf + c->buf_head, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				c->pending = P_RST;
			break;
		}
		c->buf_head = (c->buf_head + (uint32_t)n) % VSOCK_BUF;
		c->buf_len -= (uint32_t)n;
		c->fwd_cnt += (uint32_t)n;
	}
	if (!c->buf_len && c->guest_send_done)
		shutdown(c->fd, SHUT_WR);
}

static void conn_buffer(struct vconn *c, const uint8_t *p, uint32_t len)
{
	if (!c->buf)
		c->buf = malloc(VSOCK_BUF);
	if (!c->buf) {
		c->pending = P_RST;
		return;
	}
	for (uint32_t i = 0; i < len; i++)
		c->buf[(c->buf_head + c->buf_len + i) % VSOCK_BUF] = p[i];
	c->buf_len += len;
}

/* Guest data for the host program: straight to the socket, the rest
 * into the bounded buffer (which the guest's credit guarantees room in). */
static void conn_deliver(struct vconn *c, uint32_t len)
{
	if ((c->rx_cnt - c->fwd_cnt) + (uint64_t)len > VSOCK_BUF) {
		conn_abort(c);   /* the guest ignored its credit */
		return;
	}
	c->rx_cnt += len;
	uint32_t done = 0;
	if (!c->buf_len) {
		ssize_t n = send(c->fd, c->v->tx_data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			conn_abort(c);
			return;
		}
		done = n > 0 ? (uint32_t)n : 0;
		c->fwd_cnt += done;
	}
	conn_buffer(c, c->v->tx_data + done, len - done);
	if (c->fwd_cnt - c->fwd_reported >= VSOCK_BUF / 4)
		c->pending |= P_CREDIT;
	conn_watch(c);
}

/* "CONNECT <port>\n" -> port; false if the line is anything else. */
static bool cmd_parse(const char *line, uint32_t *port)
{
	const char *p = line + 8;
	if (strncmp(line, "CONNECT ", 8) || *p < '0' || *p > '9')
		return false;
	uint64_t v = 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*port = (uint32_t)v;
	return p[0] == '\n' && p[1] == '\0';
}

/* The command line, without reading a byte past its '\n' (the program
 * may send data right behind it). */
static void conn_read_cmd(struct vconn *c)
{
	char peek[VSOCK_CMD_MAX];
	size_t room = VSOCK_CMD_MAX - 1 - c->cmd_len;
	ssize_t n = recv(c->fd, peek, room, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_kill(c);
		return;
	}
	char *nl = memchr(peek, '\n', (size_t)n);
	size_t take = nl ? (size_t)(nl - peek) + 1 : (size_t)n;
	if (recv(c->fd, c->cmd + c->cmd_len, take, MSG_DONTWAIT) != (ssize_t)take) {
		conn_kill(c);
		return;
	}
	c->cmd_len += (unsigned)take;
	c->cmd[c->cmd_len] = '\0';
	uint32_t port;
	if (!nl) {
		if (c->cmd_len == VSOCK_CMD_MAX - 1)
			conn_kill(c);   /* no line of ours is that long */
		return;
	}
	if (!cmd_parse(c->cmd, &port)) {
		conn_kill(c);
		return;
	}
	c->state = C_REQUEST;
	conn_deadline(c);
	c->peer_port = port;
	c->local_port = local_port_alloc(c->v);
	c->pending = P_REQUEST;
	conn_watch(c);
	rx_pump(c->v);
}

static void conn_ready(void *ctx, int fd, uint32_t events)
{
	(void)fd;
	struct vconn *c = ctx;
	struct virtio_vsock *v = c->v;
	virtio_device_lock(&v->vdev);
	if (c->state == C_CMD) {
		conn_read_cmd(c);
	} else if (c->state == C_ESTABLISHED) {
		if (events & EPOLLOUT) {
			conn_flush(c);
			c->pending |= P_CREDIT;
		}
		if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			c->readable = true;
		conn_watch(c);
		rx_pump(v);
	}
	virtio_device_unlock(&v->vdev);
}

static void listener_ready(void *ctx, int fd, uint32_t events)
{
	(void)events;
	struct virtio_vsock *v = ctx;
	virtio_device_lock(&v->vdev);
	for (int i = 0; i < 16; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			break;
		if (!virtio_device_running(&v->vdev) || !conn_new(v, cfd, C_CMD))
			close(cfd);   /* no driver, or too many connections */
	}
	virtio_device_unlock(&v->vdev);
}

static void work_ready(void *ctx, int fd, uint32_t events)
{
	(void)events;
	struct virtio_vsock *v = ctx;
	uint64_t n;
	if (read(fd, &n, sizeof(n)) < 0) {
		/* Spurious: nothing counted. */
	}
	virtio_device_lock(&v->vdev);
	reap(v);
	rx_pump(v);
	virtio_device_unlock(&v->vdev);
}

/* Drop the connections past their deadline (an RST tells the guest of
 * an unanswered REQUEST); wait for the next deadline. */
static void deadline_expired(void *ctx)
{
	struct virtio_vsock *v = ctx;
	virtio_device_lock(&v->vdev);
	uint64_t now = event_loop_now_ns(), next = 0;
	for (struct vconn *c = v->conns, *nx; c; c = nx) {
		nx = c->next;
		bool waiting = c->state == C_CMD || c->state == C_REQUEST;
		if (!waiting || c->deadline_ns == UINT64_MAX)
			continue;
		if (c->deadline_ns > now) {
			next = !next || c->deadline_ns < next ? c->deadline_ns : next;
		} else if (c->state == C_CMD) {
			conn_kill(c);
		} else {
			c->pending = P_RST;   /* sent (then c freed) when the guest has a buffer */
			c->deadline_ns = UINT64_MAX;
		}
	}
	v->timer_at = next;
	if (next)
		event_timer_arm_at(v->timer, next);
	rx_pump(v);
	virtio_device_unlock(&v->vdev);
}

/* ---- packets from the guest ---- */

/* A guest connecting to host port P: the Unix socket PATH_P. */
static void guest_connect(struct virtio_vsock *v, const struct virtio_vsock_hdr *h)
{
	uint32_t local = le32toh(h->dst_port), peer = le32toh(h->src_port);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int len = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%" PRIu32, v->uds_path, local);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct vconn *c = NULL;
	if (fd >= 0 && len > 0 && (size_t)len < sizeof(sa.sun_path) &&
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		c = conn_new(v, fd, C_ESTABLISHED);
	if (!c) {
		if (fd >= 0)
			close(fd);
		rst_unknown(v, local, peer);
		return;
	}
	c->local_port = local;
	c->peer_port = peer;
	c->peer_buf_alloc = le32toh(h->buf_alloc);   /* the guest may get data at once */
	c->peer_fwd_cnt = le32toh(h->fwd_cnt);
	c->pending = P_RESPONSE;
	conn_watch(c);
}

static void guest_response(struct vconn *c)
{
	char ok[32];
	int n = snprintf(ok, sizeof(ok), "OK %" PRIu32 "\n", c->local_port);
	if (c->state != C_REQUEST ||
	    send(c->fd, ok, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
		conn_abort(c);
		return;
	}
	c->state = C_ESTABLISHED;
	c->pending &= ~(unsigned)P_REQUEST;
}

static void guest_shutdown(struct vconn *c, uint32_t flags)
{
	if (flags & VIRTIO_VSOCK_SHUTDOWN_RCV)
		c->guest_rcv_done = true;
	if (flags & VIRTIO_VSOCK_SHUTDOWN_SEND) {
		c->guest_send_done = true;
		conn_flush(c);
	}
	/* Both ways closed (by the guest, or by each side): finish with RST,
	 * as the guest's driver waits for. */
	if ((c->guest_rcv_done && c->guest_send_done) || (c->guest_send_done && c->host_eof))
		c->pending |= P_RST;
}

/* A packet for a known connection. */
static void guest_packet(struct vconn *c, const struct virtio_vsock_hdr *h, uint32_t len)
{
	c->peer_buf_alloc = le32toh(h->buf_alloc);
	c->peer_fwd_cnt = le32toh(h->fwd_cnt);
	switch (le16toh(h->op)) {
	case VIRTIO_VSOCK_OP_RESPONSE:
		guest_response(c);
		break;
	case VIRTIO_VSOCK_OP_RW:
		if (c->state != C_ESTABLISHED || c->guest_send_done)
			conn_abort(c);
		else
			conn_deliver(c, len);
		break;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		break;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c->pending |= P_CREDIT;
		break;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		guest_shutdown(c, le32toh(h->flags));
		break;
	case VIRTIO_VSOCK_OP_RST:
		conn_kill(c);
		return;
	default:   /* a second REQUEST, or an unknown op */
		conn_abort(c);
		return;
	}
	if (c->state != C_DEAD)
		conn_watch(c);   /* credit may have opened */
}

/* Header checks: ours to take (the guest's CID, to the host, a stream)
 * and a length the chain really carries. -1: drop silently. */
static int hdr_check(const struct virtio_vsock *v, const struct virtio_vsock_hdr *h,
		     const struct virtq_elem *e, uint32_t *len)
{
	if (le64toh(h->src_cid) != v->cid || le64toh(h->dst_cid) != VSOCK_HOST_CID)
		return -1;
	*len = le16toh(h->op) == VIRTIO_VSOCK_OP_RW ? le32toh(h->len) : 0;
	if (*len > VSOCK_MAX_PAYLOAD || *len > e->out_len - VSOCK_HDR)
		return -1;
	return 0;
}

static void tx_one(struct virtio_vsock *v, struct virtq_elem *e)
{
	struct virtio_vsock_hdr h;
	uint32_t len;
	if (e->out_len < VSOCK_HDR || iov_to_buf(e->iov, e->nout, 0, &h, sizeof(h)) != sizeof(h) ||
	    hdr_check(v, &h, e, &len))
		return;
	uint16_t op = le16toh(h.op);
	uint32_t local = le32toh(h.dst_port), peer = le32toh(h.src_port);
	struct vconn *c = conn_find(v, local, peer);
	if (le16toh(h.type) != VIRTIO_VSOCK_TYPE_STREAM) {
		if (op != VIRTIO_VSOCK_OP_RST)
			rst_unknown(v, local, peer);
		return;
	}
	if (len)
		iov_to_buf(e->iov, e->nout, VSOCK_HDR, v->tx_data, len);
	if (c)
		guest_packet(c, &h, len);
	else if (op == VIRTIO_VSOCK_OP_REQUEST)
		guest_connect(v, &h);
	else if (op != VIRTIO_VSOCK_OP_RST)
		rst_unknown(v, local, peer);
}

static void tx_pump(struct virtio_vsock *v)
{
	struct virtq *q = &v->vdev.queues[TXQ];
	struct kvmini_error err = { 0 };
	bool pushed = false;
	for (;;) {
		int got = virtq_pop(q, &v->tx_elem, &err);
		if (got < 0)
			virtio_device_fail(&v->vdev, &err);
		if (got <= 0)
			break;
		tx_one(v, &v->tx_elem);
		virtq_push(q, v->tx_elem.head, 0);
		pushed = true;
		if (!queue_live(v, TXQ))
			break;
	}
	if (pushed)
		virtio_device_used(&v->vdev, TXQ);
	rx_pump(v);
}

/* ---- virtio_device_ops ---- */

static void vsock_config_read(void *dev, uint32_t off, void *buf, uint32_t len)
{
	struct virtio_vsock *v = dev;
	memcpy(buf, (const uint8_t *)&v->config + off, len);
}

/* The transport reset a restored device owes, in the first event
 * buffer big enough (the driver posts them at probe time; without one
 * it waits for the next kick of the event queue). */
static void event_send_reset(struct virtio_vsock *v)
{
	struct virtq *q = &v->vdev.queues[EVQ];
	struct virtio_vsock_event ev = { .id = htole32(VIRTIO_VSOCK_EVENT_TRANSPORT_RESET) };
	bool pushed = false;
	while (v->reset_due && queue_live(v, EVQ)) {
		struct kvmini_error err = { 0 };
		int got = virtq_pop(q, &v->ev_elem, &err);
		if (got < 0)
			virtio_device_fail(&v->vdev, &err);
		if (got <= 0)
			break;
		pushed = true;
		if (v->ev_elem.in_len < sizeof(ev)) {
			virtq_push(q, v->ev_elem.head, 0);   /* useless buffer: give it back */
			continue;
		}
		iov_from_buf(virtq_elem_in(&v->ev_elem), v->ev_elem.nin, 0, &ev, sizeof(ev));
		virtq_push(q, v->ev_elem.head, sizeof(ev));
		v->reset_due = false;
	}
	if (pushed)
		virtio_device_used(&v->vdev, EVQ);
}

static void vsock_kick(void *dev, unsigned q)
{
	struct virtio_vsock *v = dev;
	if (q == TXQ)
		tx_pump(v);
	else if (q == RXQ)
		rx_pump(v);
	else if (q == EVQ)
		event_send_reset(v);   /* otherwise the buffers wait for one */
}

/* Under the lock on a vCPU thread: every connection is forgotten (its
 * program sees the socket close once the loop frees it). */
static void vsock_reset(void *dev)
{
	struct virtio_vsock *v = dev;
	while (v->conns) {
		shutdown(v->conns->fd, SHUT_RDWR);
		conn_kill(v->conns);
	}
	v->nrst = 0;
	v->rx_held = false;
	v->reset_due = false;
}

/* The receive buffer held for the next packet goes back to the ring. */
static void vsock_quiesce(void *dev)
{
	struct virtio_vsock *v = dev;
	if (v->rx_held)
		virtq_unpop(&v->vdev.queues[RXQ]);
	v->rx_held = false;
}

/* Connections are not saved, as in Firecracker: their host ends belong
 * to the process that made the snapshot. */
static void vsock_save(const void *dev, struct state_writer *w)
{
	(void)dev;
	(void)w;
}

/* So the restored guest is told that every connection it had is gone
 * (Linux resets its connected sockets and reads the CID again); its
 * listening sockets stay. Sent at the transport's first kick. */
static int vsock_restore(void *dev, struct state_reader *r, struct kvmini_error *err)
{
	(void)r;
	(void)err;
	struct virtio_vsock *v = dev;
	v->reset_due = true;
	return 0;
}

static void vsock_destroy(void *dev)
{
	struct virtio_vsock *v = dev;
	event_loop_remove(v->loop, v->listen_h);
	event_loop_remove(v->loop, v->work_h);
	event_timer_destroy(v->timer);
	reap(v);
	if (v->listen_fd >= 0) {
		close(v->listen_fd);
		unlink(v->uds_path);
	}
	if (v->work_fd >= 0)
		close(v->work_fd);
	free(v);
}

static const struct virtio_device_ops vsock_ops = {
	.name = "virtio-vsock",
	.device_id = VIRTIO_ID_VSOCK,
	.config_read = vsock_config_read,
	.queue_kick = vsock_kick,
	.reset = vsock_reset,
	.quiesce = vsock_quiesce,
	.save = vsock_save,
	.restore = vsock_restore,
	.destroy = vsock_destroy,
};

/* ---- creation ---- */

static int listener_open(struct virtio_vsock *v, struct kvmini_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, v->uds_path, sizeof(sa.sun_path));
	v->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (v->listen_fd < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "vsock: socket");
	if (bind(v->listen_fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = errno;
		close(v->listen_fd);
		v->listen_fd = -1;
		return kvmini_fail_errno(err, KVMINI_E_USAGE, e, "vsock: cannot create %s%s",
					 v->uds_path, e == EADDRINUSE ? " (remove it first)" : "");
	}
	if (listen(v->listen_fd, 64))
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "vsock: listen on %s",
					 v->uds_path);
	v->listen_h = event_loop_add(v->loop, v->listen_fd, EPOLLIN, listener_ready, v, err);
	return v->listen_h ? 0 : -1;
}

static int vsock_check(const struct kvmini_vsock *cfg, struct kvmini_error *err)
{
	if (cfg->guest_cid < 3 || cfg->guest_cid == UINT32_MAX)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "vsock: cid %" PRIu32 " is reserved (use 3 to 4294967294)",
				   cfg->guest_cid);
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 12;   /* room for "_PORT" */
	if (!cfg->uds_path || !*cfg->uds_path || strlen(cfg->uds_path) >= max)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "vsock: uds= needs a path of 1 to %zu characters", max - 1);
	return 0;
}

static struct virtio_vsock *vsock_alloc(const struct virtio_device_env *env,
					const struct kvmini_vsock *cfg)
{
	struct virtio_vsock *v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->cid = cfg->guest_cid;
	v->config.guest_cid = htole64(v->cid);
	snprintf(v->uds_path, sizeof(v->uds_path), "%s", cfg->uds_path);
	v->loop = env->loop;
	v->log_fd = env->log_fd;
	v->listen_fd = -1;
	v->next_local_port = VSOCK_LOCAL_PORT_BASE;
	v->connect_timeout_ns = VSOCK_CONNECT_TIMEOUT_NS;
	virtio_device_init(&v->vdev, &vsock_ops, v, 0, sizeof(v->config), NQUEUES,
			   VSOCK_QUEUE_SIZE);
	return v;
}

struct virtio_device *virtio_vsock_create(const struct virtio_device_env *env, const void *arg,
					  struct kvmini_error *err)
{
	const struct kvmini_vsock *cfg = arg;
	if (vsock_check(cfg, err))
		return NULL;
	struct virtio_vsock *v = vsock_alloc(env, cfg);
	if (!v) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for virtio-vsock");
		return NULL;
	}
	v->work_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (v->work_fd >= 0)
		v->work_h = event_loop_add(v->loop, v->work_fd, EPOLLIN, work_ready, v, err);
	else
		kvmini_fail_errno(err, KVMINI_E_HOST, errno, "vsock: eventfd");
	if (v->work_h)
		v->timer = event_timer_create(v->loop, deadline_expired, v, err);
	if (!v->timer || listener_open(v, err)) {
		pthread_mutex_destroy(&v->vdev.lock);
		vsock_destroy(v);
		return NULL;
	}
	return &v->vdev;
}

void virtio_vsock_set_connect_timeout(struct virtio_device *vdev, uint64_t ns)
{
	struct virtio_vsock *v = vdev->dev;
	virtio_device_lock(vdev);
	v->connect_timeout_ns = ns;
	virtio_device_unlock(vdev);
}
