/* virtio-net's user-mode backend: Debian's libslirp (the TCP/IP stack
 * QEMU's `-netdev user` uses) in kvmini's process, no root needed.
 *
 * The guest sees the familiar network: 10.0.2.0/24, the gateway (and
 * the host) at 10.0.2.2, DNS forwarded to the host's resolver at
 * 10.0.2.3, and DHCP handing out 10.0.2.15. Host-to-guest forwards come
 * from hostfwd= rules (host address 127.0.0.1 unless one is given).
 *
 * libslirp wants a poll() loop; kvmini has an epoll event loop. So after
 * each slirp call the backend asks slirp which fds it wants
 * (slirp_pollfds_fill) and mirrors that set onto the loop, and arms one
 * timer for slirp's timeout; when any of those fds is ready or the timer
 * fires, it takes the readiness of all of them at once (poll with a zero
 * timeout) and hands it to slirp_pollfds_poll. slirp is not thread-safe:
 * every call into it is made under the card's lock.
 *
 * Frames slirp sends the guest wait in a bounded queue until the guest
 * posts receive buffers; when the queue is full a frame is dropped, which
 * slirp's TCP recovers from as from any loss. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <slirp/libslirp.h>
#include "dynlib.h"
#include "event_loop.h"
#include "virtio/net_backend.h"

#define USER_RXQ 128            /* frames waiting for the guest */
#define USER_MAX_FDS 1024

struct user_frame {
	size_t len;
	uint8_t *data;
};

struct user_fd {
	int fd;
	uint32_t events;
	struct event_handler *handler;
};

struct user_timer {
	struct net_user *u;
	SlirpTimerId id;
	SlirpTimerCb cb;        /* the old interface's callback, or NULL */
	void *cb_opaque;
	struct event_timer *t;
};

/* libslirp, opened when a user-mode card is made (src/dynlib.h): with
 * GLib and PCRE2 it is a weight most runs need not load. */
#define SLIRP_LIBRARY "libslirp.so.0"
#define SLIRP_PACKAGE "libslirp0"
#define SLIRP_FUNCTIONS(X) \
	X(slirp_new) X(slirp_cleanup) X(slirp_input) X(slirp_add_hostfwd) \
	X(slirp_pollfds_fill) X(slirp_pollfds_poll) X(slirp_handle_timer)

struct slirp_api {
	void *handle;
#define SLIRP_FIELD(fn) __typeof__(fn) *fn;
	SLIRP_FUNCTIONS(SLIRP_FIELD)
#undef SLIRP_FIELD
};

struct net_user {
	struct net_backend be;
	struct slirp_api lib;
	Slirp *slirp;
	unsigned mtu;
	struct event_timer *poll_timer;
	struct pollfd *pfd;             /* slirp's last fill */
	unsigned npfd, cap_pfd;
	struct user_fd *fds;            /* what the loop watches */
	unsigned nfds, cap_fds;
	struct user_frame rxq[USER_RXQ];
	unsigned rx_head, rx_count;
	bool rx_on, closing;
	uint8_t txbuf[NET_MAX_GSO_FRAME];
};

static struct net_user *user_of(struct net_backend *be)
{
	return (struct net_user *)be;
}

static void user_refill(struct net_user *u);

/* ---- the loop's view of slirp's fds ---- */

static uint32_t epoll_events_of(int slirp_events)
{
	return ((slirp_events & SLIRP_POLL_IN) ? EPOLLIN : 0) |
	       ((slirp_events & SLIRP_POLL_OUT) ? EPOLLOUT : 0) |
	       ((slirp_events & SLIRP_POLL_PRI) ? EPOLLPRI : 0);
}

static void fd_forget(struct net_user *u, unsigned i)
{
	event_loop_remove(u->be.loop, u->fds[i].handler);
	u->fds[i] = u->fds[--u->nfds];
}

/* A slirp fd is ready: let slirp look at all of them. */
static void user_fd_ready(void *ctx, int fd, uint32_t events);

static int fd_watch(struct net_user *u, int fd, uint32_t events)
{
	if (u->nfds == u->cap_fds) {
		unsigned cap = u->cap_fds ? 2 * u->cap_fds : 16;
		struct user_fd *p = cap <= USER_MAX_FDS ? realloc(u->fds, cap * sizeof(*p)) : NULL;
		if (!p)
			return -1;
		u->fds = p;
		u->cap_fds = cap;
	}
	struct kvmini_error err = { 0 };
	struct event_handler *h = event_loop_add(u->be.loop, fd, events, user_fd_ready, u, &err);
	if (!h)
		return -1;
	u->fds[u->nfds++] = (struct user_fd){ fd, events, h };
	return 0;
}

static int pfd_find(const struct net_user *u, int fd)
{
	for (unsigned i = 0; i < u->npfd; i++)
		if (u->pfd[i].fd == fd)
			return (int)i;
	return -1;
}

/* Make the loop watch exactly what slirp's last fill asked for. */
static void fds_sync(struct net_user *u)
{
	for (unsigned i = 0; i < u->nfds;) {
		int k = pfd_find(u, u->fds[i].fd);
		uint32_t want = k < 0 ? 0 : epoll_events_of(u->pfd[k].events);
		if (!want) {
			fd_forget(u, i);
			continue;
		}
		struct kvmini_error err = { 0 };
		if (want != u->fds[i].events &&
		    event_loop_modify(u->be.loop, u->fds[i].handler, want, &err) == 0)
			u->fds[i].events = want;
		i++;
	}
	for (unsigned k = 0; k < u->npfd; k++) {
		uint32_t want = epoll_events_of(u->pfd[k].events);
		bool known = false;
		for (unsigned i = 0; i < u->nfds && !known; i++)
			known = u->fds[i].fd == u->pfd[k].fd;
		if (want && !known && fd_watch(u, u->pfd[k].fd, want))
			net_backend_log(&u->be, "user: cannot watch a slirp socket");
	}
}

static int add_poll(int fd, int events, void *opaque)
{
	struct net_user *u = opaque;
	if (u->npfd == u->cap_pfd) {
		unsigned cap = u->cap_pfd ? 2 * u->cap_pfd : 16;
		struct pollfd *p = cap <= USER_MAX_FDS ? realloc(u->pfd, cap * sizeof(*p)) : NULL;
		if (!p)
			return -1;   /* slirp skips that socket this round */
		u->pfd = p;
		u->cap_pfd = cap;
	}
	short ev = (short)(((events & SLIRP_POLL_IN) ? POLLIN : 0) |
			   ((events & SLIRP_POLL_OUT) ? POLLOUT : 0) |
			   ((events & SLIRP_POLL_PRI) ? POLLPRI : 0));
	u->pfd[u->npfd] = (struct pollfd){ .fd = fd, .events = ev };
	return (int)u->npfd++;
}

static int get_revents(int idx, void *opaque)
{
	struct net_user *u = opaque;
	if (idx < 0 || (unsigned)idx >= u->npfd)
		return 0;
	short r = u->pfd[idx].revents;
	return ((r & POLLIN) ? SLIRP_POLL_IN : 0) | ((r & POLLOUT) ? SLIRP_POLL_OUT : 0) |
	       ((r & POLLPRI) ? SLIRP_POLL_PRI : 0) | ((r & POLLERR) ? SLIRP_POLL_ERR : 0) |
	       ((r & POLLHUP) ? SLIRP_POLL_HUP : 0);
}

/* Ask slirp what to wait for next, and wait for it on the loop. */
static void user_refill(struct net_user *u)
{
	uint32_t timeout = UINT32_MAX;
	u->npfd = 0;
	u->lib.slirp_pollfds_fill(u->slirp, &timeout, add_poll, u);
	fds_sync(u);
	if (timeout == UINT32_MAX)
		event_timer_disarm(u->poll_timer);
	else
		event_timer_arm_after(u->poll_timer, (uint64_t)timeout * 1000000u);
}

/* Something happened: every fd's readiness to slirp (and its timers
 * run), then wait again. */
static void user_cycle(struct net_user *u)
{
	int rc = u->npfd ? poll(u->pfd, u->npfd, 0) : 0;
	u->lib.slirp_pollfds_poll(u->slirp, rc < 0, get_revents, u);
	user_refill(u);
}

static void user_fd_ready(void *ctx, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	struct net_user *u = ctx;
	virtio_net_lock(u->be.card);
	if (!u->closing)
		user_cycle(u);
	virtio_net_unlock(u->be.card);
}

static void user_poll_timer(void *ctx)
{
	user_fd_ready(ctx, -1, 0);
}

/* ---- slirp's callbacks (all under the card's lock) ---- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct net_user *u = opaque;
	if (u->rx_count == USER_RXQ || len > NET_MAX_GSO_FRAME)
		return (ssize_t)len;   /* dropped: TCP recovers */
	uint8_t *copy = malloc(len);
	if (!copy)
		return (ssize_t)len;
	memcpy(copy, buf, len);
	u->rxq[(u->rx_head + u->rx_count++) % USER_RXQ] = (struct user_frame){ len, copy };
	if (u->rx_on)
		virtio_net_rx_ready_locked(u->be.card);
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	net_backend_log(&((struct net_user *)opaque)->be, "user: guest error: %s", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
	(void)opaque;
	return (int64_t)event_loop_now_ns();
}

static void user_timer_fired(void *ctx)
{
	struct user_timer *t = ctx;
	struct net_user *u = t->u;
	virtio_net_lock(u->be.card);
	if (!u->closing) {
		if (t->cb)
			t->cb(t->cb_opaque);
		else
			u->lib.slirp_handle_timer(u->slirp, t->id, t->cb_opaque);
		user_refill(u);
	}
	virtio_net_unlock(u->be.card);
}

static struct user_timer *timer_alloc(struct net_user *u, SlirpTimerId id, SlirpTimerCb cb,
				      void *cb_opaque)
{
	struct user_timer *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	*t = (struct user_timer){ .u = u, .id = id, .cb = cb, .cb_opaque = cb_opaque };
	struct kvmini_error err = { 0 };
	t->t = event_timer_create(u->be.loop, user_timer_fired, t, &err);
	if (!t->t) {
		free(t);
		return NULL;
	}
	return t;
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	return timer_alloc(opaque, SLIRP_TIMER_NUM, cb, cb_opaque);
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	return timer_alloc(opaque, id, NULL, cb_opaque);
}

static void cb_timer_free(void *timer, void *opaque)
{
	(void)opaque;
	struct user_timer *t = timer;
	if (!t)
		return;
	event_timer_destroy(t->t);
	free(t);
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	(void)opaque;
	struct user_timer *t = timer;
	if (t)
		event_timer_arm_at(t->t, expire_ms < 0 ? 0 : (uint64_t)expire_ms * 1000000u);
}

static void cb_register_poll_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;   /* the next fill reports it */
}

/* slirp is about to close fd: stop watching it now, so a new socket
 * that gets the same number is watched afresh. */
static void cb_unregister_poll_fd(int fd, void *opaque)
{
	struct net_user *u = opaque;
	for (unsigned i = 0; i < u->nfds; i++) {
		if (u->fds[i].fd == fd) {
			fd_forget(u, i);
			return;
		}
	}
}

static void cb_notify(void *opaque)
{
	struct net_user *u = opaque;
	event_timer_arm_after(u->poll_timer, 0);
}

static const SlirpCb user_callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_new = cb_timer_new,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_unregister_poll_fd,
	.notify = cb_notify,
	.timer_new_opaque = cb_timer_new_opaque,
};

/* ---- net_backend_ops ---- */

static int user_transmit(struct net_backend *be, const struct iovec *iov, unsigned n, size_t len)
{
	struct net_user *u = user_of(be);
	size_t flen = len - NET_HDR_LEN;
	if (flen > sizeof(u->txbuf))
		return 0;
	/* The header (iov[0]) says nothing slirp needs: no offloads. */
	size_t got = 0;
	for (unsigned i = 1; i < n && got < flen; i++) {
		size_t take = iov[i].iov_len < flen - got ? iov[i].iov_len : flen - got;
		memcpy(u->txbuf + got, iov[i].iov_base, take);
		got += take;
	}
	u->lib.slirp_input(u->slirp, u->txbuf, (int)got);
	user_refill(u);   /* the frame may have opened a socket */
	return 0;
}

static ssize_t user_receive(struct net_backend *be, void *buf, size_t cap)
{
	struct net_user *u = user_of(be);
	while (u->rx_count) {
		struct user_frame f = u->rxq[u->rx_head];
		u->rx_head = (u->rx_head + 1) % USER_RXQ;
		u->rx_count--;
		ssize_t r = 0;
		if (NET_HDR_LEN + f.len <= cap) {
			memset(buf, 0, NET_HDR_LEN);
			memcpy((uint8_t *)buf + NET_HDR_LEN, f.data, f.len);
			r = (ssize_t)(NET_HDR_LEN + f.len);
		}
		free(f.data);
		if (r)
			return r;
	}
	return 0;
}

static void user_rx_watch(struct net_backend *be, bool on)
{
	user_of(be)->rx_on = on;
}

static int user_configure(struct net_backend *be, uint64_t features, struct kvmini_error *err)
{
	(void)be;
	(void)features;
	(void)err;
	return 0;   /* no offloads: nothing to set */
}

static void user_destroy(struct net_backend *be)
{
	struct net_user *u = user_of(be);
	/* Every registration first, then slirp, which nothing can call any
	 * more. (Devices are destroyed with the event loop stopped: the
	 * virtio lock is already gone.) */
	u->closing = true;
	event_timer_destroy(u->poll_timer);
	while (u->nfds)
		fd_forget(u, 0);
	if (u->slirp)
		u->lib.slirp_cleanup(u->slirp);
	while (u->rx_count) {
		free(u->rxq[u->rx_head].data);
		u->rx_head = (u->rx_head + 1) % USER_RXQ;
		u->rx_count--;
	}
	free(u->pfd);
	free(u->fds);
	dynlib_close(u->lib.handle);
	free(u);
}

static const struct net_backend_ops user_ops = {
	.name = "user",
	.features = 0,
	.transmit = user_transmit,
	.receive = user_receive,
	.rx_watch = user_rx_watch,
	.configure = user_configure,
	.destroy = user_destroy,
};

/* ---- hostfwd= rules ---- */

/* "tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT" (or udp:). */
static int fwd_parse_one(const char *rule, int *is_udp, struct in_addr *haddr, int *hport,
			 struct in_addr *gaddr, int *gport)
{
	char host[64] = "", guest[64] = "";
	char proto[4];
	unsigned hp, gp;
	int used = 0;
	if (sscanf(rule, "%3[a-z]:%63[0-9.]:%u-%63[0-9.]:%u%n", proto, host, &hp, guest, &gp,
		   &used) != 5 &&
	    sscanf(rule, "%3[a-z]::%u-%63[0-9.]:%u%n", proto, &hp, guest, &gp, &used) != 4 &&
	    sscanf(rule, "%3[a-z]:%63[0-9.]:%u-:%u%n", proto, host, &hp, &gp, &used) != 4 &&
	    sscanf(rule, "%3[a-z]::%u-:%u%n", proto, &hp, &gp, &used) != 3)
		return -1;
	if (rule[used] != '\0' || (strcmp(proto, "tcp") && strcmp(proto, "udp")) ||
	    hp == 0 || hp > 65535 || gp == 0 || gp > 65535)
		return -1;
	*is_udp = !strcmp(proto, "udp");
	if (inet_pton(AF_INET, host[0] ? host : "127.0.0.1", haddr) != 1 ||
	    inet_pton(AF_INET, guest[0] ? guest : "10.0.2.15", gaddr) != 1)
		return -1;
	*hport = (int)hp;
	*gport = (int)gp;
	return 0;
}

static int fwd_add_all(struct net_user *u, const char *list, struct kvmini_error *err)
{
	char *copy = strdup(list), *save = NULL;
	if (!copy)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory");
	int rc = 0;
	for (char *r = strtok_r(copy, ",", &save); r && !rc; r = strtok_r(NULL, ",", &save)) {
		int is_udp, hport, gport;
		struct in_addr haddr, gaddr;
		if (fwd_parse_one(r, &is_udp, &haddr, &hport, &gaddr, &gport))
			rc = kvmini_fail(err, KVMINI_E_USAGE,
					 "net user: bad hostfwd rule '%s' "
					 "(tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT)", r);
		else if (u->lib.slirp_add_hostfwd(u->slirp, is_udp, haddr, hport, gaddr, gport) < 0)
			rc = kvmini_fail_errno(err, KVMINI_E_USAGE, errno,
					       "net user: cannot forward host port %d", hport);
	}
	free(copy);
	return rc;
}

/* ---- creation ---- */

static int slirp_api_load(struct slirp_api *api, struct kvmini_error *err)
{
	if (!(api->handle = dynlib_open(SLIRP_LIBRARY, SLIRP_PACKAGE, "--net user", err)))
		return -1;
#define SLIRP_LOAD(fn) \
	if (DYNLIB_SYM(api->handle, SLIRP_LIBRARY, api, fn, err) < 0) \
		return -1;
	SLIRP_FUNCTIONS(SLIRP_LOAD)
#undef SLIRP_LOAD
	return 0;
}

static Slirp *user_slirp_new(struct net_user *u)
{
	SlirpConfig sc = {
		.version = 4,
		.in_enabled = true,
		.if_mtu = u->mtu,
		.if_mru = u->mtu,
	};
	inet_pton(AF_INET, "10.0.2.0", &sc.vnetwork);
	inet_pton(AF_INET, "255.255.255.0", &sc.vnetmask);
	inet_pton(AF_INET, "10.0.2.2", &sc.vhost);
	inet_pton(AF_INET, "10.0.2.15", &sc.vdhcp_start);
	inet_pton(AF_INET, "10.0.2.3", &sc.vnameserver);
	return u->lib.slirp_new(&sc, &user_callbacks, u);
}

struct net_backend *net_user_create(const struct kvmini_net *cfg, struct net_backend *proto,
				    struct kvmini_error *err)
{
	struct net_user *u = calloc(1, sizeof(*u));
	if (!u) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for user-mode networking");
		return NULL;
	}
	u->be = *proto;
	u->be.ops = &user_ops;
	u->mtu = cfg->mtu ? cfg->mtu : 1500;
	if (slirp_api_load(&u->lib, err) < 0) {
		user_destroy(&u->be);
		return NULL;
	}
	u->poll_timer = event_timer_create(u->be.loop, user_poll_timer, u, err);
	if (u->poll_timer)
		u->slirp = user_slirp_new(u);
	if (u->poll_timer && !u->slirp)
		kvmini_fail(err, KVMINI_E_HOST, "net user: libslirp refused its configuration");
	if (!u->slirp || (cfg->hostfwd && fwd_add_all(u, cfg->hostfwd, err))) {
		user_destroy(&u->be);
		return NULL;
	}
	virtio_net_lock(u->be.card);
	user_refill(u);
	virtio_net_unlock(u->be.card);
	return &u->be;
}
