/* libFuzzer harness for the control API (src/api): the input is the byte
 * stream one client sends on the socket. It is fed to the HTTP parser
 * in pieces, as recv() might split it, exactly as the server does (a
 * buffer of HTTP_HEAD_MAX + HTTP_BODY_MAX, requests consumed in order),
 * and every parsed request goes through the router and its JSON
 * handlers, with a start hook that succeeds or fails by the first byte.
 * Built by `make fuzz-build`, run by scripts/fuzz.sh (clang, ASan, UBSan). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "api/api.h"
#include "error.h"

static int fake_start(void *ctx, struct kvmini_error *err)
{
	if (*(const int *)ctx)
		return 0;
	return kvmini_fail(err, KVMINI_E_USAGE, "cannot open kernel");
}

/* Serve every complete request in buf; false once the server would
 * close the connection. */
static bool serve(struct api_state *api, char *buf, size_t *len)
{
	for (;;) {
		struct http_request req;
		size_t used = 0;
		const char *why;
		enum http_parse_result r = http_request_parse(buf, *len, &req, &used, &why);
		if (r == HTTP_PARSE_MORE)
			return true;
		if (r != HTTP_PARSE_OK)
			return false;
		if (used == 0 || used > *len || req.body_len > HTTP_BODY_MAX)
			__builtin_trap();   /* no progress, or past what was read */
		struct api_response resp;
		api_handle(api, &req, &resp);
		if (resp.status < 200 || resp.status > 599 || (resp.status != 204 && !resp.body))
			__builtin_trap();
		free(resp.body);
		memmove(buf, buf + used, *len - used);
		*len -= used;
		if (!req.keep_alive)
			return false;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[HTTP_HEAD_MAX + HTTP_BODY_MAX];
	struct run_options opts;
	memset(&opts, 0, sizeof(opts));
	kvmini_config_defaults(&opts.cfg);
	int start_ok = size && (data[0] & 0x80);
	struct api_state api;
	api_state_init(&api, &opts, "fuzz", fake_start, &start_ok);
	/* The first byte also picks the piece size, as a socket might split. */
	size_t piece = size ? (size_t)data[0] % 97 + 1 : 1;
	size_t len = 0, fed = size ? 1 : 0;
	while (fed < size) {
		size_t n = size - fed < piece ? size - fed : piece;
		if (n > sizeof(buf) - len)
			n = sizeof(buf) - len;
		if (n == 0)
			break;   /* the server closes a connection whose buffer is full */
		memcpy(buf + len, data + fed, n);
		len += n;
		fed += n;
		if (!serve(&api, buf, &len))
			break;
	}
	api_state_free(&api);
	return 0;
}
