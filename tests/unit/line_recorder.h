/* An interrupt line for device tests: records every level a device
 * sets (line, level, CLOCK_MONOTONIC time) and lets the test wait for
 * the n-th rising edge on an event (a condition variable), with a
 * generous upper bound only so a broken device fails instead of hanging. */
#ifndef KVMINI_TEST_LINE_RECORDER_H
#define KVMINI_TEST_LINE_RECORDER_H

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include "event_loop.h"
#include "irq.h"

#define LINE_WAIT_S 20
#define LINE_MAX_EVENTS 256

struct line_event {
	unsigned line;
	bool level;
	uint64_t ns;
};

struct line_recorder {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct line_event events[LINE_MAX_EVENTS];
	unsigned count, rises;
	bool high[32];
};

static inline void line_recorder_set(void *ctx, unsigned line, bool level)
{
	struct line_recorder *r = ctx;
	pthread_mutex_lock(&r->lock);
	if (r->count < LINE_MAX_EVENTS)
		r->events[r->count] = (struct line_event){ line, level, event_loop_now_ns() };
	r->count++;
	if (level)
		r->rises++;
	if (line < 32)
		r->high[line] = level;
	pthread_cond_broadcast(&r->changed);
	pthread_mutex_unlock(&r->lock);
}

static inline void line_recorder_init(struct line_recorder *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->changed, NULL);
}

static inline struct irq_line line_recorder_line(struct line_recorder *r, unsigned line)
{
	return (struct irq_line){ .set_level = line_recorder_set, .ctx = r, .line = line };
}

/* Wait until *counter (rises or count) reaches n; false after
 * LINE_WAIT_S seconds. */
static inline bool line_recorder_wait_for(struct line_recorder *r, const unsigned *counter,
					  unsigned n)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += LINE_WAIT_S;
	bool ok = true;
	pthread_mutex_lock(&r->lock);
	while (ok && *counter < n)
		ok = pthread_cond_timedwait(&r->changed, &r->lock, &deadline) == 0;
	bool reached = *counter >= n;
	pthread_mutex_unlock(&r->lock);
	return reached;
}

/* At least n rising edges. */
static inline bool line_recorder_wait(struct line_recorder *r, unsigned n)
{
	return line_recorder_wait_for(r, &r->rises, n);
}

/* At least n levels set, rising or falling (a pulse is two). */
static inline bool line_recorder_wait_events(struct line_recorder *r, unsigned n)
{
	return line_recorder_wait_for(r, &r->count, n);
}

/* A copy of the i-th event, under the lock. */
static inline struct line_event line_recorder_event(struct line_recorder *r, unsigned i)
{
	pthread_mutex_lock(&r->lock);
	struct line_event e = i < LINE_MAX_EVENTS ? r->events[i] : (struct line_event){ 0 };
	pthread_mutex_unlock(&r->lock);
	return e;
}

static inline unsigned line_recorder_rises(struct line_recorder *r)
{
	pthread_mutex_lock(&r->lock);
	unsigned n = r->rises;
	pthread_mutex_unlock(&r->lock);
	return n;
}

static inline bool line_recorder_high(struct line_recorder *r, unsigned line)
{
	pthread_mutex_lock(&r->lock);
	bool high = r->high[line];
	pthread_mutex_unlock(&r->lock);
	return high;
}

#endif
