/* The control API's HTTP/1.1 request parser (src/api/http.c): what it
 * accepts, and each way a hostile client's bytes are refused. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "api/http.h"

static enum http_parse_result parse(const char *text, struct http_request *req, size_t *used)
{
	const char *why;
	*used = 0;
	return http_request_parse(text, strlen(text), req, used, &why);
}

static enum http_parse_result parse_only(const char *text)
{
	struct http_request req;
	size_t used;
	return parse(text, &req, &used);
}

Test(api_http, get_without_body)
{
	struct http_request req;
	size_t used;
	const char *text = "GET /machine-config HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n";
	cr_assert_eq(parse(text, &req, &used), HTTP_PARSE_OK);
	cr_assert_str_eq(req.method, "GET");
	cr_assert_str_eq(req.path, "/machine-config");
	cr_assert_eq(req.body_len, 0);
	cr_assert(req.keep_alive);
	cr_assert_eq(used, strlen(text));
}

Test(api_http, put_with_body_and_query_ignored)
{
	struct http_request req;
	size_t used;
	const char *text = "PUT /actions?x=1 HTTP/1.1\r\ncontent-length:  31 \r\n"
			   "Connection: close\r\n\r\n{\"action_type\":\"InstanceStart\"}";
	cr_assert_eq(parse(text, &req, &used), HTTP_PARSE_OK);
	cr_assert_str_eq(req.path, "/actions");
	cr_assert_eq(req.body_len, 31);
	cr_assert_eq(memcmp(req.body, "{\"action_type\":\"InstanceStart\"}", 31), 0);
	cr_assert_not(req.keep_alive);
	cr_assert_eq(used, strlen(text));
}

Test(api_http, http10_closes_unless_kept_alive)
{
	struct http_request req;
	size_t used;
	cr_assert_eq(parse("GET / HTTP/1.0\r\n\r\n", &req, &used), HTTP_PARSE_OK);
	cr_assert_not(req.keep_alive);
	cr_assert_eq(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &req, &used),
		     HTTP_PARSE_OK);
	cr_assert(req.keep_alive);
}

Test(api_http, pipelined_requests_one_at_a_time)
{
	struct http_request req;
	size_t used;
	const char *two = "GET / HTTP/1.1\r\n\r\nGET /machine-config HTTP/1.1\r\n\r\n";
	cr_assert_eq(parse(two, &req, &used), HTTP_PARSE_OK);
	cr_assert_str_eq(req.path, "/");
	cr_assert_eq(used, 18);
	cr_assert_eq(parse(two + used, &req, &used), HTTP_PARSE_OK);
	cr_assert_str_eq(req.path, "/machine-config");
}

Test(api_http, truncated_requests_need_more)
{
	const char *full = "PUT /boot-source HTTP/1.1\r\nContent-Length: 4\r\n\r\n{}  ";
	size_t len = strlen(full);
	for (size_t n = 0; n < len; n++) {
		struct http_request req;
		size_t used;
		const char *why;
		cr_assert_eq(http_request_parse(full, n, &req, &used, &why), HTTP_PARSE_MORE,
			     "prefix of %zu bytes", n);
	}
	cr_assert_eq(parse_only(full), HTTP_PARSE_OK);
}

Test(api_http, body_longer_than_declared_is_the_next_request)
{
	struct http_request req;
	size_t used;
	const char *text = "PUT /actions HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}garbage";
	cr_assert_eq(parse(text, &req, &used), HTTP_PARSE_OK);
	cr_assert_eq(req.body_len, 2);
	cr_assert_eq(parse(text + used, &req, &used), HTTP_PARSE_MORE);
	cr_assert_eq(parse_only("garbage\r\n\r\n"), HTTP_PARSE_BAD);
}

Test(api_http, oversized_head)
{
	size_t n = HTTP_HEAD_MAX + 16;
	char *text = malloc(n + 1);
	strcpy(text, "GET / HTTP/1.1\r\nX-Filler: ");
	memset(text + strlen(text), 'a', n - strlen(text));
	text[n] = '\0';
	cr_assert_eq(parse_only(text), HTTP_PARSE_HEAD_TOO_LARGE);
	free(text);
}

Test(api_http, bad_content_lengths)
{
	cr_assert_eq(parse_only("PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), HTTP_PARSE_BAD);
	cr_assert_eq(parse_only("PUT / HTTP/1.1\r\nContent-Length: +1\r\n\r\n"), HTTP_PARSE_BAD);
	cr_assert_eq(parse_only("PUT / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n"), HTTP_PARSE_BAD);
	cr_assert_eq(parse_only("PUT / HTTP/1.1\r\nContent-Length:\r\n\r\n"), HTTP_PARSE_BAD);
	cr_assert_eq(parse_only("PUT / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n"), HTTP_PARSE_BAD);
	cr_assert_eq(parse_only("PUT / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n"),
		     HTTP_PARSE_BAD);
	cr_assert_eq(parse_only("PUT / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n"),
		     HTTP_PARSE_TOO_LARGE);
	cr_assert_eq(parse_only("PUT / HTTP/1.1\r\nContent-Length: "
				"99999999999999999999999999999\r\n\r\n"), HTTP_PARSE_TOO_LARGE);
	/* The same length twice frames the body one way: accepted. */
	cr_assert_eq(parse_only("PUT / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}"),
		     HTTP_PARSE_OK);
}

Test(api_http, chunked_is_not_implemented)
{
	cr_assert_eq(parse_only("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
		     HTTP_PARSE_NOT_IMPLEMENTED);
}

Test(api_http, malformed_request_lines)
{
	cr_assert_eq(parse_only("\r\n\r\n"), HTTP_PARSE_BAD);
	cr_assert_eq(parse_only("get / HTTP/1.1\r\n\r\n"), HTTP_PARSE_BAD);
	cr_assert_eq(parse_only("GETTINGLONG / HTTP/1.1\r\n\r\n"), HTTP_PARSE_BAD);
	cr_assert_eq(parse_only("GET  / HTTP/1.1\r\n\r\n"), HTTP_PARSE_BAD);
	cr_assert_eq(parse_only("GET x HTTP/1.1\r\n\r\n"), HTTP_PARSE_BAD);
	cr_assert_eq(parse_only("GET /\r\n\r\n"), HTTP_PARSE_BAD);
	cr_assert_eq(parse_only("GET / HTTP/1.1 \r\n\r\n"), HTTP_PARSE_BAD);
	cr_assert_eq(parse_only("GET / HTTP/2.0\r\n\r\n"), HTTP_PARSE_BAD);
	cr_assert_eq(parse_only("GET / HTTP/1.2\r\n\r\n"), HTTP_PARSE_VERSION);
	cr_assert_eq(parse_only("GET / FTP/1.1\r\n\r\n"), HTTP_PARSE_BAD);
}

Test(api_http, long_target)
{
	char text[HTTP_PATH_MAX + 64];
	strcpy(text, "GET /");
	memset(text + 5, 'a', HTTP_PATH_MAX);
	strcpy(text + 5 + HTTP_PATH_MAX, " HTTP/1.1\r\n\r\n");
	cr_assert_eq(parse_only(text), HTTP_PARSE_BAD);
}

Test(api_http, malformed_headers)
{
	cr_assert_eq(parse_only("GET / HTTP/1.1\r\nNoColon\r\n\r\n"), HTTP_PARSE_BAD);
	cr_assert_eq(parse_only("GET / HTTP/1.1\r\n: value\r\n\r\n"), HTTP_PARSE_BAD);
	cr_assert_eq(parse_only("GET / HTTP/1.1\r\nBad Name: v\r\n\r\n"), HTTP_PARSE_BAD);
	/* Folded (obsolete) continuation lines are refused. */
	cr_assert_eq(parse_only("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n"), HTTP_PARSE_BAD);
	/* A bare LF or CR inside the head. */
	cr_assert_eq(parse_only("GET / HTTP/1.1\nHost: x\r\n\r\n"), HTTP_PARSE_BAD);
	cr_assert_eq(parse_only("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"), HTTP_PARSE_BAD);
}

Test(api_http, binary_bytes_refused_at_once)
{
	const char text[] = { 'G', 'E', 'T', ' ', '/', 0, 'x' };
	struct http_request req;
	size_t used;
	const char *why;
	cr_assert_eq(http_request_parse(text, sizeof(text), &req, &used, &why), HTTP_PARSE_BAD);
	cr_assert_eq(parse_only("\x16\x03\x01"), HTTP_PARSE_BAD);   /* a TLS hello */
	cr_assert_eq(parse_only("GET /\xff HTTP/1.1\r\n\r\n"), HTTP_PARSE_BAD);
}

Test(api_http, status_texts)
{
	cr_assert_str_eq(http_status_text(204), "No Content");
	cr_assert_str_eq(http_status_text(400), "Bad Request");
	cr_assert_str_eq(http_status_text(431), "Request Header Fields Too Large");
}
