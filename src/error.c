#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "error.h"

static int fail_v(struct kvmini_error *err, enum kvmini_status code,
		  int errno_value, const char *fmt, va_list ap)
{
	if (!err)
		return -1;
	err->code = code;
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	if (errno_value && n >= 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s",
			 strerror(errno_value));
	return -1;
}

int kvmini_fail(struct kvmini_error *err, enum kvmini_status code,
		const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fail_v(err, code, 0, fmt, ap);
	va_end(ap);
	return -1;
}

int kvmini_fail_errno(struct kvmini_error *err, enum kvmini_status code,
		      int errno_value, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fail_v(err, code, errno_value, fmt, ap);
	va_end(ap);
	return -1;
}

void kvmini_log_v(int fd, const char *fmt, va_list ap)
{
	char line[1024];
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	if (write(fd, line, len) < 0) {
		/* diagnostics are best effort */
	}
}

void kvmini_log(int fd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kvmini_log_v(fd, fmt, ap);
	va_end(ap);
}
