/* `kvmini ctl`'s argument parsing and answer parsing (src/cli/ctl.c). */
#include <criterion/criterion.h>
#include <string.h>
#include "cli/ctl.h"

static int parse(struct ctl_request *r, struct kvmini_error *err, int argc, ...)
{
	char *argv[8];
	va_list ap;
	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	return ctl_request_parse(argc, argv, r, err);
}

Test(ctl, shortcuts_and_raw_requests)
{
	struct ctl_request r;
	struct kvmini_error err;
	cr_assert_eq(parse(&r, &err, 3, "ctl", "/s", "pause"), 0, "%s", err.msg);
	cr_assert_str_eq(r.method, "PATCH");
	cr_assert_str_eq(r.path, "/vm");
	cr_assert_str_eq(r.body, "{\"state\":\"Paused\"}");
	cr_assert_eq(parse(&r, &err, 3, "ctl", "/s", "start"), 0);
	cr_assert_str_eq(r.body, "{\"action_type\":\"InstanceStart\"}");
	cr_assert_eq(parse(&r, &err, 4, "ctl", "/s", "get", "/machine-config"), 0);
	cr_assert_str_eq(r.method, "GET");
	cr_assert_null(r.body);
	cr_assert_eq(parse(&r, &err, 5, "ctl", "/s", "put", "/vsock", "{}"), 0);
	cr_assert_str_eq(r.body, "{}");
}

Test(ctl, bad_arguments)
{
	struct ctl_request r;
	struct kvmini_error err;
	cr_assert_eq(parse(&r, &err, 2, "ctl", "/s"), -1);
	cr_assert_eq(parse(&r, &err, 4, "ctl", "/s", "pause", "x"), -1);
	cr_assert_str_eq(err.msg, "ctl pause takes no arguments");
	cr_assert_eq(parse(&r, &err, 4, "ctl", "/s", "put", "/x"), -1);
	cr_assert_str_eq(err.msg, "ctl put takes PATH and a JSON body");
	cr_assert_eq(parse(&r, &err, 4, "ctl", "/s", "get", "x"), -1);
	cr_assert_str_eq(err.msg, "'x' is not an API path (/...)");
	cr_assert_eq(parse(&r, &err, 4, "ctl", "/s", "get", "/a b"), -1);
	cr_assert_eq(parse(&r, &err, 3, "ctl", "/s", "reboot"), -1);
	cr_assert_str_eq(err.msg, "unknown ctl command 'reboot'");
	cr_assert_eq(err.code, KVMINI_E_USAGE);
}

Test(ctl, answers)
{
	int status;
	const char *body;
	const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
	cr_assert_eq(ctl_answer_parse(ok, strlen(ok), &status, &body), 0);
	cr_assert_eq(status, 200);
	cr_assert_str_eq(body, "{}");
	const char *none = "HTTP/1.0 204 No Content\r\n\r\n";
	cr_assert_eq(ctl_answer_parse(none, strlen(none), &status, &body), 0);
	cr_assert_eq(status, 204);
	cr_assert_str_eq(body, "");
	const char *bad[] = { "", "HTTP/1.1 200 OK\r\n", "HTTP/2.0 200 OK\r\n\r\n",
			      "HTTP/1.1 20 OK\r\n\r\n", "SSH-2.0-OpenSSH\r\n\r\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(ctl_answer_parse(bad[i], strlen(bad[i]), &status, &body), -1, "%s",
			     bad[i]);
}

Test(ctl, screenshot_escapes_the_file_name)
{
	struct ctl_request r;
	struct kvmini_error err;
	cr_assert_eq(parse(&r, &err, 4, "ctl", "/s", "screenshot", "a \"b\"\\c.png"), 0, "%s", err.msg);
	cr_assert_str_eq(r.method, "PUT");
	cr_assert_str_eq(r.path, "/screenshot");
	cr_assert_str_eq(r.body, "{\"path\": \"a \\\"b\\\"\\\\c.png\"}");
	cr_assert_eq(parse(&r, &err, 4, "ctl", "/s", "screenshot", "a\nb.png"), -1);
	cr_assert(strstr(err.msg, "control character"), "%s", err.msg);
	cr_assert_eq(parse(&r, &err, 3, "ctl", "/s", "screenshot"), -1);
	cr_assert_eq(parse(&r, &err, 4, "ctl", "/s", "screenshot", ""), -1);
}
