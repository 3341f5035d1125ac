#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "api/cjson_dl.h"
#include "api/server.h"
#include "event_loop.h"
#include "seccomp/seccomp.h"

#define CONN_BUF_SIZE (HTTP_HEAD_MAX + HTTP_BODY_MAX)
/* After refusing a request the server still reads (and drops) up to
 * this much of what the client keeps sending, so the client is not
 * stopped by a closed socket (EPIPE) before it reads the answer. */
#define CONN_DRAIN_MAX (1u << 20)

struct api_conn {
	struct api_server *server;
	struct event_handler *handler;
	int fd;
	size_t len;
	bool draining;        /* answered with an error: discarding input */
	size_t drained;
	char buf[CONN_BUF_SIZE];
};

struct api_server {
	struct event_loop *loop;
	enum kvmini_seccomp seccomp;
	struct event_handler *listen_handler;
	int listen_fd;
	char *path;
	struct api_state *api;
	struct api_conn *conns[API_CONNECTIONS_MAX];
};

/* A response must reach the client whole: the socket is non-blocking,
 * and a client that stops reading its answers loses its connection
 * rather than stalling the loop. */
static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

bool api_response_write(int fd, const struct api_response *resp, bool keep_alive)
{
	char head[256];
	size_t body_len = resp->body ? strlen(resp->body) : 0;
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nServer: kvmini\r\nConnection: %s\r\n%s"
			 "Content-Length: %zu\r\n\r\n",
			 resp->status, http_status_text(resp->status),
			 keep_alive ? "keep-alive" : "close",
			 body_len ? "Content-Type: application/json\r\n" : "", body_len);
	return write_all(fd, head, (size_t)n) && write_all(fd, resp->body ? resp->body : "", body_len);
}

static void conn_close(struct api_conn *c)
{
	struct api_server *s = c->server;
	for (unsigned i = 0; i < API_CONNECTIONS_MAX; i++)
		if (s->conns[i] == c)
			s->conns[i] = NULL;
	event_loop_remove(s->loop, c->handler);
	close(c->fd);
	free(c);
}

/* Answer every complete request in the buffer; false when the
 * connection must close (an unparseable request, Connection: close, a
 * failed write). */
static bool conn_serve(struct api_conn *c)
{
	for (;;) {
		struct http_request req;
		size_t used = 0;
		const char *why;
		enum http_parse_result r = http_request_parse(c->buf, c->len, &req, &used, &why);
		if (r == HTTP_PARSE_MORE)
			return c->len < sizeof(c->buf);
		struct api_response resp = { 0 };
		if (r != HTTP_PARSE_OK) {
			api_fault(&resp, (int)r, "%s", why);
			bool sent = api_response_write(c->fd, &resp, false);
			free(resp.body);
			c->draining = sent && shutdown(c->fd, SHUT_WR) == 0;
			return c->draining;
		}
		api_handle(c->server->api, &req, &resp);
		bool ok = api_response_write(c->fd, &resp, req.keep_alive);
		free(resp.body);
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
		if (!ok || !req.keep_alive)
			return false;
	}
}

static void conn_ready(void *ctx, int fd, uint32_t events)
{
	struct api_conn *c = ctx;
	(void)events;
	if (c->draining)
		c->len = 0;
	ssize_t n = recv(fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {   /* gone, perhaps mid-request: nothing to answer */
		conn_close(c);
		return;
	}
	if (c->draining) {
		c->drained += (size_t)n;
		if (c->drained > CONN_DRAIN_MAX)
			conn_close(c);
		return;
	}
	c->len += (size_t)n;
	if (!conn_serve(c))
		conn_close(c);
}

static void conn_accept(void *ctx, int fd, uint32_t events)
{
	struct api_server *s = ctx;
	(void)events;
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return;
	unsigned slot = 0;
	while (slot < API_CONNECTIONS_MAX && s->conns[slot])
		slot++;
	struct api_conn *c = slot < API_CONNECTIONS_MAX ? malloc(sizeof(*c)) : NULL;
	if (!c) {   /* too many clients: this one is turned away */
		close(cfd);
		return;
	}
	c->server = s;
	c->fd = cfd;
	c->len = 0;
	c->draining = false;
	c->drained = 0;
	struct kvmini_error err;
	c->handler = event_loop_add(s->loop, cfd, EPOLLIN, conn_ready, c, &err);
	if (!c->handler) {
		close(cfd);
		free(c);
		return;
	}
	s->conns[slot] = c;
}

/* The socket is bound under a temporary name and renamed into place once
 * it listens, so a client that sees `path` can connect at once (tests
 * wait for the file, never for a time); RENAME_NOREPLACE keeps an
 * existing file at `path` from being replaced. */
static int listen_unix(const char *path, struct kvmini_error *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) + sizeof(".new") > sizeof(addr.sun_path))
		return kvmini_fail(err, KVMINI_E_USAGE, "--api-sock path '%s' is too long", path);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s.new", path);
	if (access(path, F_OK) == 0)
		return kvmini_fail(err, KVMINI_E_USAGE, "--api-sock '%s' already exists", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot create the API socket");
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;
		close(fd);
		return kvmini_fail_errno(err, KVMINI_E_USAGE, e, "cannot bind --api-sock '%s'",
					 addr.sun_path);
	}
	if (listen(fd, 16) < 0 || renameat2(AT_FDCWD, addr.sun_path, AT_FDCWD, path,
					    RENAME_NOREPLACE) < 0) {
		int e = errno;
		unlink(addr.sun_path);
		close(fd);
		return kvmini_fail_errno(err, KVMINI_E_USAGE, e, "cannot listen on --api-sock '%s'",
					 path);
	}
	return fd;
}

/* The API's thread confines itself before it serves anyone. */
static int enter_api_thread(void *ctx, struct kvmini_error *err)
{
	const struct api_server *s = ctx;
	return seccomp_role_install(SECCOMP_ROLE_API, s->seccomp, err);
}

struct api_server *api_server_open(const char *path, struct api_state *api,
				   enum kvmini_seccomp seccomp, struct kvmini_error *err)
{
	if (cjson_open(err) < 0)
		return NULL;
	struct api_server *s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		free(s);
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for the API server");
		return NULL;
	}
	s->api = api;
	s->seccomp = seccomp;
	s->listen_fd = listen_unix(path, err);
	if (s->listen_fd < 0) {
		free(s->path);
		free(s);
		return NULL;
	}
	s->loop = event_loop_create("api", err);
	if (s->loop)
		event_loop_on_enter(s->loop, enter_api_thread, s);
	if (!s->loop ||
	    !(s->listen_handler = event_loop_add(s->loop, s->listen_fd, EPOLLIN, conn_accept, s,
						 err)) ||
	    event_loop_start(s->loop, err) < 0) {
		api_server_close(s);
		return NULL;
	}
	return s;
}

void api_server_close(struct api_server *s)
{
	if (!s)
		return;
	event_loop_stop(s->loop);
	for (unsigned i = 0; i < API_CONNECTIONS_MAX; i++)
		if (s->conns[i])
			conn_close(s->conns[i]);
	event_loop_remove(s->loop, s->listen_handler);
	event_loop_destroy(s->loop);
	close(s->listen_fd);
	unlink(s->path);
	free(s->path);
	free(s);
}
