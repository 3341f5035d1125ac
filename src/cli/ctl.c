/* `kvmini ctl SOCKET COMMAND`: a small client of the control API for
 * people without curl. One request per run, "Connection: close", the
 * answer's body on stdout; a refused request's fault_message on stderr.
 * The server is trusted no more than any peer: the answer is bounded,
 * and a server that stops answering ends the wait after 30 s. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include "cli/ctl.h"
#include "error.h"

#define CTL_ANSWER_MAX (256u << 10)
#define CTL_TIMEOUT_S 30

/* The shortcuts: command -> method, path, body. */
static const struct shortcut {
	const char *name, *method, *path, *body;
} shortcuts[] = {
	{ "info", "GET", "/", NULL },
	{ "start", "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}" },
	{ "pause", "PATCH", "/vm", "{\"state\":\"Paused\"}" },
	{ "resume", "PATCH", "/vm", "{\"state\":\"Resumed\"}" },
	{ "flush-metrics", "PUT", "/actions", "{\"action_type\":\"FlushMetrics\"}" },
	{ "ctrl-alt-del", "PUT", "/actions", "{\"action_type\":\"SendCtrlAltDel\"}" },
};

static const struct {
	const char *name, *method;
	bool body;
} verbs[] = {
	{ "get", "GET", false }, { "put", "PUT", true }, { "patch", "PATCH", true },
};

/* screenshot FILE: PUT /screenshot {"path": FILE}, the file name as a
 * JSON string (quotes and backslashes escaped; control characters are
 * refused rather than encoded). */
static int screenshot_request(int argc, char **argv, struct ctl_request *r,
			      struct kvmini_error *err)
{
	if (argc != 4 || !*argv[3] || strlen(argv[3]) >= CTL_FILE_MAX)
		return kvmini_fail(err, KVMINI_E_USAGE, "ctl screenshot takes a FILE.png");
	char *out = r->body_buf;
	out += sprintf(out, "{\"path\": \"");
	for (const char *c = argv[3]; *c; c++) {
		if ((unsigned char)*c < 0x20)
			return kvmini_fail(err, KVMINI_E_USAGE, "ctl screenshot: a control character "
					   "in the file name");
		if (*c == '"' || *c == '\\')
			*out++ = '\\';
		*out++ = *c;
	}
	strcpy(out, "\"}");
	r->method = "PUT";
	r->path = "/screenshot";
	r->body = r->body_buf;
	return 0;
}

int ctl_request_parse(int argc, char **argv, struct ctl_request *r, struct kvmini_error *err)
{
	if (argc < 3)
		return kvmini_fail(err, KVMINI_E_USAGE, "ctl needs a SOCKET and a command");
	memset(r, 0, sizeof(*r));
	r->socket = argv[1];
	const char *cmd = argv[2];
	if (strcmp(cmd, "screenshot") == 0)
		return screenshot_request(argc, argv, r, err);
	for (size_t i = 0; i < sizeof(shortcuts) / sizeof(shortcuts[0]); i++) {
		if (strcmp(cmd, shortcuts[i].name) != 0)
			continue;
		if (argc != 3)
			return kvmini_fail(err, KVMINI_E_USAGE, "ctl %s takes no arguments", cmd);
		r->method = shortcuts[i].method;
		r->path = shortcuts[i].path;
		r->body = shortcuts[i].body;
		return 0;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(cmd, verbs[i].name) != 0)
			continue;
		if (argc != (verbs[i].body ? 5 : 4))
			return kvmini_fail(err, KVMINI_E_USAGE, "ctl %s takes PATH%s", cmd,
					   verbs[i].body ? " and a JSON body" : "");
		if (argv[3][0] != '/' || strpbrk(argv[3], " \r\n"))
			return kvmini_fail(err, KVMINI_E_USAGE, "'%s' is not an API path (/...)",
					   argv[3]);
		r->method = verbs[i].method;
		r->path = argv[3];
		r->body = verbs[i].body ? argv[4] : NULL;
		return 0;
	}
	return kvmini_fail(err, KVMINI_E_USAGE, "unknown ctl command '%s'", cmd);
}

static int socket_connect(const char *path, struct kvmini_error *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path))
		return kvmini_fail(err, KVMINI_E_USAGE, "socket path '%s' is too long", path);
	strcpy(addr.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "socket");
	struct timeval tv = { .tv_sec = CTL_TIMEOUT_S };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;
		close(fd);
		return kvmini_fail_errno(err, KVMINI_E_HOST, e, "cannot connect to '%s'", path);
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t n, struct kvmini_error *err)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot send the request");
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Everything until the server closes (we asked it to), at most
 * CTL_ANSWER_MAX bytes; NUL-terminated. */
static char *receive_all(int fd, size_t *len, struct kvmini_error *err)
{
	char *buf = malloc(CTL_ANSWER_MAX + 1);
	size_t n = 0;
	if (!buf) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory");
		return NULL;
	}
	for (;;) {
		ssize_t r = recv(fd, buf + n, CTL_ANSWER_MAX - n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			kvmini_fail_errno(err, KVMINI_E_HOST, errno, "no answer from the API");
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == CTL_ANSWER_MAX) {
			kvmini_fail(err, KVMINI_E_HOST, "the API's answer is over %u bytes",
				    CTL_ANSWER_MAX);
			free(buf);
			return NULL;
		}
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

int ctl_answer_parse(const char *answer, size_t len, int *status, const char **body)
{
	int code;
	if (len < 12 || sscanf(answer, "HTTP/1.%*1[01] %3d", &code) != 1 || code < 100 || code > 599)
		return -1;
	const char *end = strstr(answer, "\r\n\r\n");
	if (!end)
		return -1;
	*status = code;
	*body = end + 4;
	return 0;
}

int ctl_run(const struct ctl_request *r, int out_fd, int err_fd, struct kvmini_error *err)
{
	int fd = socket_connect(r->socket, err);
	if (fd < 0)
		return -1;
	size_t body_len = r->body ? strlen(r->body) : 0;
	char head[512];
	int n = snprintf(head, sizeof(head),
			 "%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
			 "Connection: close\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n", r->method, r->path, body_len);
	if (n < 0 || (size_t)n >= sizeof(head)) {
		close(fd);
		return kvmini_fail(err, KVMINI_E_USAGE, "the API path is too long");
	}
	size_t len = 0;
	char *answer = NULL;
	if (send_all(fd, head, (size_t)n, err) == 0 && send_all(fd, r->body, body_len, err) == 0)
		answer = receive_all(fd, &len, err);
	close(fd);
	if (!answer)
		return -1;
	int status;
	const char *body;
	if (ctl_answer_parse(answer, len, &status, &body) < 0) {
		free(answer);
		return kvmini_fail(err, KVMINI_E_HOST, "the API's answer is not HTTP");
	}
	int wfd = status < 300 ? out_fd : err_fd;
	if (*body)
		dprintf(wfd, "%s\n", body);
	free(answer);
	if (status >= 300)
		return kvmini_fail(err, KVMINI_E_USAGE, "%s %s: HTTP %d", r->method, r->path, status);
	return 0;
}
