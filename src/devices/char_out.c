#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "devices/char_out.h"

/* A description of our own, non-blocking, for a pipe, FIFO or
 * character device; -1 when it cannot be had. */
static int reopen_nonblocking(int fd)
{
	char path[32];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
}

void char_out_open(struct char_out *out, int fd)
{
	*out = (struct char_out){ .fd = -1 };
	if (fd < 0)
		return;
	struct stat st;
	bool known = fstat(fd, &st) == 0;
	if (known && S_ISSOCK(st.st_mode))
		out->is_socket = true;
	else if (known && (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)))
		out->fd = reopen_nonblocking(fd);
	if (out->fd < 0)
		out->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

void char_out_close(struct char_out *out)
{
	if (out->fd >= 0)
		close(out->fd);
	out->fd = -1;
}

static ssize_t write_some(const struct char_out *out, const uint8_t *bytes, size_t n)
{
	if (out->is_socket)
		return send(out->fd, bytes, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	return write(out->fd, bytes, n);
}

static bool wait_writable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int ready;
	do
		ready = poll(&pfd, 1, ms);
	while (ready < 0 && errno == EINTR);
	return ready > 0 && !(pfd.revents & (POLLERR | POLLNVAL));
}

void char_out_write(struct char_out *out, const uint8_t *bytes, size_t n)
{
	while (n > 0 && out->fd >= 0) {
		ssize_t w = write_some(out, bytes, n);
		if (w > 0) {
			out->stalled = false;
			bytes += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		/* Full: wait once per stall, then drop until room returns. */
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !out->stalled &&
		    wait_writable(out->fd, CHAR_OUT_WAIT_MS))
			continue;
		out->stalled = w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
		out->dropped += n;
		return;
	}
}

ssize_t char_out_write_now(struct char_out *out, const uint8_t *bytes, size_t n)
{
	size_t done = 0;
	while (done < n && out->fd >= 0) {
		ssize_t w = write_some(out, bytes + done, n - done);
		if (w > 0) {
			done += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return (ssize_t)done;
		return done ? (ssize_t)done : -1;
	}
	return out->fd >= 0 ? (ssize_t)done : -1;
}
