/* net_probe: the host's end of bench/net_bench.sh's transfers.
 *
 *   net_probe ADDRESS send BYTES   stream BYTES, shut the sending side,
 *                                  wait for the peer to close; prints MB/s
 *   net_probe ADDRESS rr COUNT     COUNT round trips of one byte through
 *                                  an echo server; prints the median in µs
 *
 * ADDRESS is tcp:IPV4:PORT, or vsock:UDS:PORT for a kvmini vsock device's
 * Unix socket (Firecracker's convention: "CONNECT PORT\n", then "OK ...\n").
 * Exit 1 with a one-line reason when the peer fails. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void die(const char *what)
{
	fprintf(stderr, "net_probe: %s: %s\n", what, errno ? strerror(errno) : "failed");
	exit(1);
}

/* For a failure no system call reported. */
static void die_plain(const char *what)
{
	errno = 0;
	die(what);
}

static int tcp_open(const char *host, const char *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);

	if (s < 0)
		die("socket");
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
		die_plain("bad tcp address");
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect");
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return s;
}

/* The Unix socket, the CONNECT line, and kvmini's OK line read byte by
 * byte so that nothing of the stream is consumed with it. */
static int vsock_open(const char *uds, const char *port)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char line[64];
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	if (s < 0)
		die("socket");
	if (strlen(uds) >= sizeof(a.sun_path))
		die_plain("vsock socket path too long");
	memcpy(a.sun_path, uds, strlen(uds));
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect");
	int n = snprintf(line, sizeof(line), "CONNECT %s\n", port);
	if (write(s, line, (size_t)n) != n)
		die("write CONNECT");
	for (size_t i = 0; i < sizeof(line); i++) {
		if (read(s, line + i, 1) != 1)
			die("no OK line (nothing listens on that guest port?)");
		if (line[i] != '\n')
			continue;
		if (strncmp(line, "OK ", 3) != 0)
			die_plain("not an OK line");
		return s;
	}
	die_plain("OK line too long");
	return -1;
}

static int address_open(char *address)
{
	char *kind = strtok(address, ":"), *where = strtok(NULL, ":"), *port = strtok(NULL, ":");

	if (!kind || !where || !port)
		die_plain("ADDRESS is tcp:IPV4:PORT or vsock:UDS:PORT");
	if (strcmp(kind, "tcp") == 0)
		return tcp_open(where, port);
	if (strcmp(kind, "vsock") == 0)
		return vsock_open(where, port);
	die_plain("ADDRESS is tcp:IPV4:PORT or vsock:UDS:PORT");
	return -1;
}

static void probe_send(int s, long long bytes)
{
	static char buf[1 << 16];
	double t0 = now_us();

	for (long long left = bytes; left > 0;) {
		ssize_t n = write(s, buf, left < (long long)sizeof(buf) ? (size_t)left : sizeof(buf));
		if (n <= 0)
			die("write");
		left -= n;
	}
	shutdown(s, SHUT_WR);
	while (read(s, buf, sizeof(buf)) > 0)   /* the peer's close: all arrived */
		;
	printf("%.1f\n", bytes / (now_us() - t0));   /* bytes/µs = MB/s */
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void probe_rr(int s, int count)
{
	double *t = calloc((size_t)count, sizeof(*t));
	char c = 'x';

	if (!t)
		die_plain("out of memory");
	for (int i = 0; i < count; i++) {
		double t0 = now_us();
		if (write(s, &c, 1) != 1 || read(s, &c, 1) != 1)
			die("round trip");
		t[i] = now_us() - t0;
	}
	qsort(t, (size_t)count, sizeof(*t), cmp_double);
	printf("%.0f\n", t[count / 2]);
	free(t);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);   /* a refused stream fails write(), reported */
	if (argc != 4) {
		fprintf(stderr, "usage: net_probe ADDRESS send BYTES | ADDRESS rr COUNT\n");
		return 2;
	}
	int s = address_open(argv[1]);
	long long n = atoll(argv[3]);
	if (strcmp(argv[2], "send") == 0 && n > 0)
		probe_send(s, n);
	else if (strcmp(argv[2], "rr") == 0 && n > 0 && n < 10000000)
		probe_rr(s, (int)n);
	else
		return fprintf(stderr, "net_probe: bad mode or count\n"), 2;
	close(s);
	return 0;
}
