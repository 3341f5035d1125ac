/* Errors are values: a category (which doubles as the CLI exit status)
 * and a one-line message naming the cause. The library never exits. */
#ifndef KVMINI_ERROR_H
#define KVMINI_ERROR_H

#include <stdarg.h>
#include "kvmini.h"

/* Record an error; returns -1 so callers can `return kvmini_fail(...)`. */
int kvmini_fail(struct kvmini_error *err, enum kvmini_status code,
		const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Same, with ": strerror(errno_value)" appended. */
int kvmini_fail_errno(struct kvmini_error *err, enum kvmini_status code,
		      int errno_value, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Write one formatted diagnostic line to fd (at most 1 KiB; best
 * effort: a failing write is ignored). */
void kvmini_log_v(int fd, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void kvmini_log(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
