/* vsock_pipe: a Linux guest's end of a vsock stream, for the tests of
 * kvmini's virtio-vsock with the test kernel (tests/integration/
 * linux_net.bats). busybox has no AF_VSOCK, so the tests put this
 * static program into the guest's initramfs.
 *
 *   vsock_pipe [-r|-s|-e] listen PORT        accept one stream on PORT
 *   vsock_pipe [-r|-s|-e] connect CID PORT   open a stream to CID:PORT
 *
 * It copies stdin to the stream and the stream to stdout, each until
 * its input ends, and ends when both have. With -r it only receives
 * (stdin is not read; its sending side stays open); with -s it only
 * sends (what the peer sends is dropped), then shuts its sending side
 * and waits for the peer to close. With -e it sends back what it
 * receives (an echo server, for bench/net_bench.sh). "listening PORT" goes to stderr once the
 * socket listens, so a test knows when the host may connect. Exit 0 when
 * the stream ended in order, 1 with a one-line reason otherwise. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

enum mode { BOTH, RECEIVE, SEND, ECHO };

static int fail(const char *what)
{
	fprintf(stderr, "vsock_pipe: %s: %s\n", what, strerror(errno));
	return -1;
}

static int stream_listen(unsigned port)
{
	struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port };
	int s = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (s < 0)
		return fail("socket");
	if (bind(s, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(s, 1) < 0)
		return fail("bind/listen");
	fprintf(stderr, "listening %u\n", port);
	int c = accept(s, NULL, NULL);
	if (c < 0)
		return fail("accept");
	close(s);
	return c;
}

static int stream_connect(unsigned cid, unsigned port)
{
	struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
	int s = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (s < 0)
		return fail("socket");
	if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return fail("connect");
	return s;
}

/* Write all of BUF, retrying short writes. */
static bool write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/* Move what FROM has to TO (dropped when TO < 0): 1 moved, 0 end of
 * input; on an error, errno and the name of what failed in *WHAT. */
static int pass_once(int from, int to, const char **what)
{
	char buf[65536];
	ssize_t n = read(from, buf, sizeof(buf));
	if (n < 0 && errno == EINTR)
		return 1;
	if (n < 0)
		return -1;
	if (n == 0)
		return 0;
	if (to >= 0 && !write_all(to, buf, (size_t)n)) {
		*what = "write";
		return -1;
	}
	return 1;
}

/* The copy loop, each way on its own: stdin -> s until stdin ends (then
 * SHUT_WR), s -> stdout until the peer ends its side. A peer that ends
 * its side while we still send is not watched any more: a reset then
 * fails our next write. After our own shutdown, a reset by the peer is
 * an orderly end: it has what we sent. */
static int stream_pipe(int s, enum mode mode)
{
	bool in_open = mode == BOTH || mode == SEND, out_open = true, shut = false;
	if (!in_open)
		close(STDIN_FILENO);
	while (in_open || out_open) {
		struct pollfd p[2] = { { .fd = out_open ? s : -1, .events = POLLIN },
				       { .fd = in_open ? STDIN_FILENO : -1, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fail("poll");
			return 1;
		}
		const char *what = "read stdin";
		if (p[1].revents) {
			int r = pass_once(STDIN_FILENO, s, &what);
			if (r < 0)
				return fail(what), 1;
			if (r == 0) {
				in_open = false;
				shut = shutdown(s, SHUT_WR) == 0;
			}
		}
		if (p[0].revents) {
			what = "read stream";
			int to = mode == SEND ? -1 : mode == ECHO ? s : STDOUT_FILENO;
			int r = pass_once(s, to, &what);
			if (r < 0 && shut && errno == ECONNRESET)
				return 0;
			if (r < 0)
				return fail(what), 1;
			if (r == 0)
				out_open = false;
		}
	}
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: vsock_pipe [-r|-s|-e] listen PORT | connect CID PORT\n");
	return 2;
}

int main(int argc, char **argv)
{
	/* A stream the peer reset makes write() fail with EPIPE, reported,
	 * rather than kill the program. */
	signal(SIGPIPE, SIG_IGN);
	enum mode mode = BOTH;
	int a = 1;
	if (a < argc && strcmp(argv[a], "-r") == 0)
		mode = RECEIVE, a++;
	else if (a < argc && strcmp(argv[a], "-s") == 0)
		mode = SEND, a++;
	else if (a < argc && strcmp(argv[a], "-e") == 0)
		mode = ECHO, a++;
	int s;
	if (argc - a == 2 && strcmp(argv[a], "listen") == 0)
		s = stream_listen((unsigned)strtoul(argv[a + 1], NULL, 10));
	else if (argc - a == 3 && strcmp(argv[a], "connect") == 0)
		s = stream_connect((unsigned)strtoul(argv[a + 1], NULL, 10),
				   (unsigned)strtoul(argv[a + 2], NULL, 10));
	else
		return usage();
	if (s < 0)
		return 1;
	return stream_pipe(s, mode);
}
