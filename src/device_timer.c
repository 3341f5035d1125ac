#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include "device_timer.h"

#define NS_PER_S 1000000000ULL

static struct timespec to_timespec(uint64_t ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / NS_PER_S), .tv_nsec = (long)(ns % NS_PER_S) };
}

/* Wait, with the lock held, until the deadline, a rearm or the end. */
static void wait_until(struct device_timer *t, uint64_t deadline)
{
	struct timespec at = to_timespec(deadline);
	while (!t->rearmed && !t->quit) {
		int e = deadline == DEVICE_TIMER_NEVER ? pthread_cond_wait(&t->wake, &t->lock)
						       : pthread_cond_timedwait(&t->wake, &t->lock, &at);
		if (e == ETIMEDOUT)
			return;
	}
}

static void *timer_thread(void *arg)
{
	struct device_timer *t = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_mutex_lock(&t->lock);
	while (!t->quit) {
		t->rearmed = false;
		/* tick() may drive interrupt lines: not under the timer's lock,
		 * which a device's rearm takes with the device's lock held. */
		pthread_mutex_unlock(&t->lock);
		uint64_t deadline = t->tick(t->opaque);
		pthread_mutex_lock(&t->lock);
		wait_until(t, deadline);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

int device_timer_start(struct device_timer *t, uint64_t (*tick)(void *opaque), void *opaque,
		       struct kvmini_error *err)
{
	memset(t, 0, sizeof(*t));
	t->tick = tick;
	t->opaque = opaque;
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&t->wake, &attr);
	pthread_condattr_destroy(&attr);
	int e = pthread_create(&t->thread, NULL, timer_thread, t);
	if (e) {
		pthread_cond_destroy(&t->wake);
		pthread_mutex_destroy(&t->lock);
		return kvmini_fail_errno(err, KVMINI_E_HOST, e, "cannot start a device timer thread");
	}
	t->started = true;
	return 0;
}

void device_timer_rearm(struct device_timer *t)
{
	if (!t->started)
		return;
	pthread_mutex_lock(&t->lock);
	t->rearmed = true;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->lock);
}

void device_timer_stop(struct device_timer *t)
{
	if (!t->started)
		return;
	pthread_mutex_lock(&t->lock);
	t->quit = true;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL);
	pthread_cond_destroy(&t->wake);
	pthread_mutex_destroy(&t->lock);
	t->started = false;
}
