#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "gdb/socket.h"

/* A client that stops reading for this long is dropped. */
#define SEND_TIMEOUT_SECONDS 10

static int bad_address(struct kvmini_error *err, const char *address)
{
	return kvmini_fail(err, KVMINI_E_USAGE,
			   "invalid gdb address '%s': expected tcp:HOST:PORT or unix:PATH", address);
}

/* "HOST:PORT" or "[V6HOST]:PORT" into host and port strings. */
static int split_host_port(const char *spec, char *host, size_t host_cap, char *port,
			   size_t port_cap)
{
	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec || !colon[1] || strlen(colon + 1) >= port_cap)
		return -1;
	const char *h = spec;
	size_t hlen = (size_t)(colon - spec);
	if (h[0] == '[' && hlen >= 2 && h[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= host_cap)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	strcpy(port, colon + 1);
	char *end;
	errno = 0;
	long p = strtol(port, &end, 10);
	return errno || *end || p < 0 || p > 65535 || port[0] == '-' || port[0] == '+' ? -1 : 0;
}

static int bound_port(int fd)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return -1;
	if (sa.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&sa)->sin_port);
	if (sa.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
	return -1;
}

static int listen_tcp(const char *address, const char *spec, struct gdb_listener *l,
		      struct kvmini_error *err)
{
	char host[128], port[8];
	if (split_host_port(spec, host, sizeof(host), port, sizeof(port)) < 0)
		return bad_address(err, address);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *list;
	int gai = getaddrinfo(host, port, &hints, &list);
	if (gai)
		return kvmini_fail(err, KVMINI_E_USAGE, "gdb address '%s': %s", address,
				   gai_strerror(gai));
	int saved = 0;
	for (struct addrinfo *ai = list; ai && l->fd < 0; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		int one = 1;
		if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1) == 0) {
			l->fd = fd;
			break;
		}
		saved = errno;
		if (fd >= 0)
			close(fd);
	}
	freeaddrinfo(list);
	if (l->fd < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, saved, "cannot listen for gdb on %s",
					 address);
	snprintf(l->where, sizeof(l->where), "tcp:%s:%d", host, bound_port(l->fd));
	return 0;
}

static int listen_unix(const char *address, const char *path, struct gdb_listener *l,
		       struct kvmini_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (!*path || strlen(path) >= sizeof(sa.sun_path))
		return bad_address(err, address);
	strcpy(sa.sun_path, path);
	/* A socket left by an earlier run is stale; anything else is not ours. */
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return kvmini_fail(err, KVMINI_E_USAGE,
					   "gdb socket path '%s' exists and is not a socket", path);
		unlink(path);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return kvmini_fail_errno(err, KVMINI_E_HOST, e, "cannot listen for gdb on %s", address);
	}
	l->fd = fd;
	strcpy(l->unix_path, path);
	snprintf(l->where, sizeof(l->where), "unix:%s", path);
	return 0;
}

int gdb_listen(const char *address, struct gdb_listener *l, struct kvmini_error *err)
{
	memset(l, 0, sizeof(*l));
	l->fd = -1;
	if (strncmp(address, "tcp:", 4) == 0)
		return listen_tcp(address, address + 4, l, err);
	if (strncmp(address, "unix:", 5) == 0)
		return listen_unix(address, address + 5, l, err);
	return bad_address(err, address);
}

void gdb_listener_close(struct gdb_listener *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	if (l->unix_path[0])
		unlink(l->unix_path);
	l->unix_path[0] = '\0';
}

int gdb_accept(struct gdb_listener *l)
{
	int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return -1;
	int one = 1;
	struct timeval limit = { .tv_sec = SEND_TIMEOUT_SECONDS };
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));   /* fails on Unix sockets: fine */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
	return fd;
}
