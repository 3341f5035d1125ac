/* A thread that runs one device's clock: it calls tick() at the time
 * tick() last asked for (CLOCK_MONOTONIC nanoseconds; UINT64_MAX: not
 * until rearmed), and at once after device_timer_rearm(). The split
 * irqchip's PIT is driven by one; the machine owns it, the device only
 * computes its deadlines. */
#ifndef KVMINI_DEVICE_TIMER_H
#define KVMINI_DEVICE_TIMER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "error.h"

#define DEVICE_TIMER_NEVER UINT64_MAX

struct device_timer {
	uint64_t (*tick)(void *opaque);
	void *opaque;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;      /* on CLOCK_MONOTONIC */
	bool rearmed, quit, started;
};

/* The thread blocks every signal (the front end waits for them in its
 * own thread). */
int device_timer_start(struct device_timer *t, uint64_t (*tick)(void *opaque), void *opaque,
		       struct kvmini_error *err);
/* Any thread, also with a device's lock held (it only takes the timer's). */
void device_timer_rearm(struct device_timer *t);
/* Ends and joins the thread; nothing is called after it returns. A
 * timer that never started is left alone. */
void device_timer_stop(struct device_timer *t);

#endif
