#include <string.h>
#include <strings.h>
#include "api/http.h"

/* Bytes a request head may hold: visible ASCII, space, tab, CR, LF.
 * Anything else (NUL, other controls, 8-bit) ends the connection early,
 * so a client sending binary garbage is not kept waiting for 8 KiB. */
static bool head_byte_ok(unsigned char c)
{
	return (c >= 0x20 && c < 0x7f) || c == '\t' || c == '\r' || c == '\n';
}

/* Length of the head including its blank line, 0 when not complete yet,
 * or (size_t)-1 for a byte that can never be in a head. */
static size_t head_length(const char *buf, size_t len)
{
	size_t limit = len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX;
	for (size_t i = 0; i < limit; i++) {
		if (!head_byte_ok((unsigned char)buf[i]))
			return (size_t)-1;
		if (i >= 3 && memcmp(buf + i - 3, "\r\n\r\n", 4) == 0)
			return i + 1;
	}
	return 0;
}

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* One line, [*line, end-of-line); advances *pos past its CRLF. A bare
 * CR or LF inside is malformed. */
static bool line_next(const char *buf, size_t head_len, size_t *pos, const char **line,
		      size_t *line_len)
{
	size_t start = *pos;
	for (size_t i = start; i + 1 < head_len; i++) {
		if (buf[i] == '\r' && buf[i + 1] == '\n') {
			*line = buf + start;
			*line_len = i - start;
			*pos = i + 2;
			return true;
		}
		if (buf[i] == '\r' || buf[i] == '\n')
			return false;
	}
	return false;
}

static enum http_parse_result request_line_parse(const char *line, size_t n,
						 struct http_request *req, const char **why)
{
	size_t m = 0;
	while (m < n && line[m] >= 'A' && line[m] <= 'Z')
		m++;
	if (m == 0 || m >= HTTP_METHOD_MAX || m >= n || line[m] != ' ')
		return *why = "malformed request line: bad method", HTTP_PARSE_BAD;
	memcpy(req->method, line, m);
	req->method[m] = '\0';
	size_t t = m + 1, te = t;
	while (te < n && line[te] != ' ')
		te++;
	if (te == t || line[t] != '/' || te >= n)
		return *why = "malformed request line: bad target", HTTP_PARSE_BAD;
	size_t path_len = strcspn(line + t, "? ");
	if (path_len >= HTTP_PATH_MAX)
		return *why = "request target too long", HTTP_PARSE_BAD;
	memcpy(req->path, line + t, path_len);
	req->path[path_len] = '\0';
	const char *version = line + te + 1;
	size_t vlen = n - te - 1;
	if (vlen != 8 || memcmp(version, "HTTP/1.", 7) != 0)
		return *why = "malformed request line: bad version", HTTP_PARSE_BAD;
	if (version[7] != '1' && version[7] != '0')
		return *why = "HTTP version not supported", HTTP_PARSE_VERSION;
	req->keep_alive = version[7] == '1';
	return HTTP_PARSE_OK;
}

/* Content-Length: digits only, no sign, bounded before it can overflow. */
static enum http_parse_result content_length_parse(const char *v, size_t n, size_t *out,
						   const char **why)
{
	if (n == 0)
		return *why = "empty Content-Length", HTTP_PARSE_BAD;
	size_t value = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return *why = "Content-Length is not a number", HTTP_PARSE_BAD;
		value = value * 10 + (size_t)(v[i] - '0');
		if (value > HTTP_BODY_MAX)
			return *why = "request body too large", HTTP_PARSE_TOO_LARGE;
	}
	*out = value;
	return HTTP_PARSE_OK;
}

static bool name_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

struct head_state {
	bool have_length;
	size_t length;
};

static enum http_parse_result header_apply(const char *line, size_t n, struct http_request *req,
					   struct head_state *hs, const char **why)
{
	size_t c = 0;
	while (c < n && is_tchar((unsigned char)line[c]))
		c++;
	if (c == 0 || c >= n || line[c] != ':')
		return *why = "malformed header line", HTTP_PARSE_BAD;
	const char *v = line + c + 1, *ve = line + n;
	while (v < ve && (*v == ' ' || *v == '\t'))
		v++;
	while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
		ve--;
	size_t vn = (size_t)(ve - v);
	if (name_is(line, c, "Transfer-Encoding"))
		return *why = "Transfer-Encoding is not supported", HTTP_PARSE_NOT_IMPLEMENTED;
	if (name_is(line, c, "Content-Length")) {
		size_t len;
		enum http_parse_result r = content_length_parse(v, vn, &len, why);
		if (r != HTTP_PARSE_OK)
			return r;
		/* Two different lengths: which one frames the body is
		 * ambiguous (request smuggling), so neither is believed. */
		if (hs->have_length && hs->length != len)
			return *why = "conflicting Content-Length headers", HTTP_PARSE_BAD;
		hs->have_length = true;
		hs->length = len;
	} else if (name_is(line, c, "Connection")) {
		if (vn == 5 && strncasecmp(v, "close", 5) == 0)
			req->keep_alive = false;
		else if (vn == 10 && strncasecmp(v, "keep-alive", 10) == 0)
			req->keep_alive = true;
	}
	return HTTP_PARSE_OK;
}

static enum http_parse_result head_parse(const char *buf, size_t head_len,
					 struct http_request *req, struct head_state *hs,
					 const char **why)
{
	size_t pos = 0, n;
	const char *line;
	if (!line_next(buf, head_len, &pos, &line, &n))
		return *why = "malformed request line", HTTP_PARSE_BAD;
	enum http_parse_result r = request_line_parse(line, n, req, why);
	while (r == HTTP_PARSE_OK) {
		if (!line_next(buf, head_len, &pos, &line, &n))
			return *why = "malformed header line", HTTP_PARSE_BAD;
		if (n == 0)
			break;
		r = header_apply(line, n, req, hs, why);
	}
	return r;
}

enum http_parse_result http_request_parse(const char *buf, size_t len, struct http_request *req,
					  size_t *used, const char **why)
{
	memset(req, 0, sizeof(*req));
	*why = "";
	size_t head_len = head_length(buf, len);
	if (head_len == (size_t)-1)
		return *why = "invalid byte in request head", HTTP_PARSE_BAD;
	if (head_len == 0)
		return len >= HTTP_HEAD_MAX ? (*why = "request head too large",
					       HTTP_PARSE_HEAD_TOO_LARGE) : HTTP_PARSE_MORE;
	struct head_state hs = { 0 };
	enum http_parse_result r = head_parse(buf, head_len, req, &hs, why);
	if (r != HTTP_PARSE_OK)
		return r;
	if (len - head_len < hs.length)
		return HTTP_PARSE_MORE;
	req->body = buf + head_len;
	req->body_len = hs.length;
	*used = head_len + hs.length;
	return HTTP_PARSE_OK;
}

const char *http_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Payload Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 505: return "HTTP Version Not Supported";
	}
	return "Unknown";
}
