/* Clock, medians and the table layout shared by every figure. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "bench.h"

static bool quick_mode;

uint64_t now_ns(void)
{
	struct timespec t;
	/* MONOTONIC_RAW: NTP slewing must not stretch a measurement. */
	clock_gettime(CLOCK_MONOTONIC_RAW, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double median(double *samples, size_t n)
{
	qsort(samples, n, sizeof(samples[0]), compare_doubles);
	if (n % 2)
		return samples[n / 2];
	return (samples[n / 2 - 1] + samples[n / 2]) / 2;
}

int devnull_fd(void)
{
	static int fd = -1;
	if (fd < 0)
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	return fd;
}

void set_quick(bool quick)
{
	quick_mode = quick;
}

unsigned reps(unsigned wanted)
{
	unsigned n = quick_mode ? wanted / 5 : wanted;
	/* Odd counts give a true middle sample; 3 is the least a median means. */
	if (n < 3)
		n = 3;
	n |= 1;
	return n <= wanted ? n : wanted;
}

void print_heading(const char *title, const char *note)
{
	printf("\n%s\n", title);
	if (note)
		printf("  %s\n", note);
	printf("  %-44s %5s %14s\n", "", "N", "median");
}

void print_row(const char *label, unsigned n, double value, const char *unit)
{
	printf("  %-44s %5u %11.3f %-3s\n", label, n, value, unit);
}

void print_ratio(const char *what, double ratio, const char *cmp, double target)
{
	if (!cmp) {
		printf("  ratio %-38s %20.3f\n", what, ratio);
		return;
	}
	bool met = cmp[0] == '<' ? ratio <= target : ratio >= target;
	printf("  ratio %-38s %20.3f   (target %s %.2f: %s)\n", what, ratio, cmp, target,
	       met ? "met" : "MISSED");
}

void print_failure(const char *what, const char *why)
{
	printf("  %s: FAILED: %s\n", what, why);
}

int fail_with(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -1;
}
