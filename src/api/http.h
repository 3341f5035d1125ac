/* A deliberately small HTTP/1.1 request parser for the control API.
 * Every byte comes from a client we do not trust: the request line and
 * headers are bounded (HTTP_HEAD_MAX), the body too (HTTP_BODY_MAX),
 * a body needs an exact Content-Length, Transfer-Encoding (chunked) is
 * refused, and one request is parsed at a time. It only reads the
 * buffer it is given: no allocation, no I/O. */
#ifndef KVMINI_API_HTTP_H
#define KVMINI_API_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_HEAD_MAX 8192        /* request line + headers + blank line */
#define HTTP_BODY_MAX 65536       /* Firecracker's API bodies are small */
#define HTTP_METHOD_MAX 8
#define HTTP_PATH_MAX 256

struct http_request {
	char method[HTTP_METHOD_MAX];
	char path[HTTP_PATH_MAX];
	const char *body;         /* points into the parsed buffer; not NUL-ended */
	size_t body_len;
	bool keep_alive;          /* HTTP/1.1 default; "Connection: close" clears it */
};

/* Outcome of http_request_parse(): a status to answer with when the
 * bytes can never become a request (the connection is then closed). */
enum http_parse_result {
	HTTP_PARSE_MORE = 0,      /* incomplete: read more bytes */
	HTTP_PARSE_OK = 1,        /* *req filled; *used bytes consumed */
	HTTP_PARSE_BAD = 400,
	HTTP_PARSE_TOO_LARGE = 413,
	HTTP_PARSE_HEAD_TOO_LARGE = 431,
	HTTP_PARSE_NOT_IMPLEMENTED = 501,   /* chunked bodies */
	HTTP_PARSE_VERSION = 505,
};

/* Parse the first request in buf[0..len). On HTTP_PARSE_OK, *used is its
 * length (head + body); later bytes are the next request (keep-alive).
 * A rejection carries a short reason in *why (static text). */
enum http_parse_result http_request_parse(const char *buf, size_t len, struct http_request *req,
					  size_t *used, const char **why);

/* The reason phrase of a status code this API answers with. */
const char *http_status_text(int status);

#endif
