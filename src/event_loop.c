/* The event loop: see event_loop.h.
 *
 * Why removal is safe: a handler is freed only by the loop's thread,
 * between two epoll_wait() calls (when no event batch that may still
 * name it is being walked), or by anyone while no loop thread runs. A
 * removal marks the handler, takes it out of epoll, and, from another
 * thread, waits until the loop is not inside that handler's callback
 * (`running`); the loop checks the mark under the same lock before every
 * call. So after event_loop_remove() returns the callback never runs. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include "event_loop.h"
#include "thread.h"

#define NS_PER_S 1000000000ULL
#define EVENT_BATCH 16

struct event_handler {
	struct event_loop *loop;
	int fd;
	event_fd_fn *fn;
	void *ctx;
	uint32_t events;              /* loop->lock; 0: paused, out of epoll */
	bool removed;                 /* loop->lock */
	struct event_handler *next;   /* loop->handlers */
};

struct event_loop {
	int epoll_fd;
	int stop_fd;                  /* eventfd: event_loop_stop() wakes the thread */
	char name[16];
	pthread_t thread;
	pthread_mutex_t lock;         /* guards everything below */
	pthread_cond_t idle;          /* a callback returned, or the thread entered */
	bool thread_running;          /* started and not yet joined */
	struct event_handler *running;    /* whose callback runs now, or NULL */
	struct event_handler *handlers;   /* every handler not yet freed */
	event_thread_enter_fn *enter;     /* the thread's own set-up (seccomp), or NULL */
	void *enter_ctx;
	enum { ENTER_PENDING, ENTER_DONE, ENTER_FAILED } enter_state;   /* lock */
	struct kvmini_error enter_err;
	/* A lazy start (event_loop_on_want): the owner asked for a start
	 * with nothing to wait on yet (`deferred`); the first thing watched
	 * or armed sets `wanted` and asks the owner through `want`. */
	event_want_fn *want;
	void *want_ctx;
	bool deferred;                    /* lock */
	atomic_bool wanted;
	/* The timers (lock): the timerfd is set for timer_fd_at, the
	 * earliest deadline when it was set, or nothing (0); a deadline
	 * that moved later leaves it early, and an early expiry finds
	 * nothing due and sets it again. */
	int timer_fd;
	struct event_handler *timer_handler;
	uint64_t timer_fd_at;
	struct event_timer *timers;
	struct event_timer *timer_running;   /* whose callback runs now */
	uint64_t timer_pass;                 /* counts timers_expired() calls */
};

/* Every timer of a loop shares the loop's one timerfd, armed for the
 * earliest deadline: a timer costs no descriptor and no system call
 * until it is armed earlier than any other. */
struct event_timer {
	struct event_loop *loop;
	event_timer_fn *fn;
	void *ctx;
	uint64_t due;                 /* loop->lock; CLOCK_MONOTONIC ns, 0: disarmed */
	uint64_t pass;                /* loop->lock; the last pass that fired it */
	struct event_timer *next;     /* loop->timers */
};

uint64_t event_loop_now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * NS_PER_S + (uint64_t)t.tv_nsec;
}

bool event_loop_on_thread(struct event_loop *loop)
{
	pthread_mutex_lock(&loop->lock);
	bool on = loop->thread_running && pthread_equal(loop->thread, pthread_self());
	pthread_mutex_unlock(&loop->lock);
	return on;
}

/* ---- handler list (loop->lock held) ---- */

static void unlink_handler(struct event_loop *loop, struct event_handler *h)
{
	for (struct event_handler **p = &loop->handlers; *p; p = &(*p)->next) {
		if (*p == h) {
			*p = h->next;
			return;
		}
	}
}

/* Free removed handlers. Only between batches on the loop's thread, or
 * when no thread runs. */
static void sweep_removed(struct event_loop *loop)
{
	struct event_handler **p = &loop->handlers;
	while (*p) {
		struct event_handler *h = *p;
		if (h->removed) {
			*p = h->next;
			free(h);
		} else {
			p = &h->next;
		}
	}
}

/* ---- the thread ---- */

static void dispatch(struct event_loop *loop, struct event_handler *h, uint32_t events)
{
	pthread_mutex_lock(&loop->lock);
	bool live = !h->removed;
	if (live)
		loop->running = h;
	pthread_mutex_unlock(&loop->lock);
	if (!live)
		return;
	h->fn(h->ctx, h->fd, events);
	pthread_mutex_lock(&loop->lock);
	loop->running = NULL;
	pthread_cond_broadcast(&loop->idle);
	pthread_mutex_unlock(&loop->lock);
}

/* Walk one batch; false when the stop eventfd is among it. */
static bool dispatch_batch(struct event_loop *loop, const struct epoll_event *ev, int n)
{
	bool stop = false;
	for (int i = 0; i < n; i++) {
		if (ev[i].data.ptr == &loop->stop_fd)
			stop = true;
		else if (!stop)
			dispatch(loop, ev[i].data.ptr, ev[i].events);
	}
	return !stop;
}

/* The owner's set-up of the thread, before the first callback;
 * event_loop_start() waits for its verdict. */
static bool enter_thread(struct event_loop *loop)
{
	pthread_setname_np(pthread_self(), loop->name);
	bool ok = !loop->enter || loop->enter(loop->enter_ctx, &loop->enter_err) == 0;
	pthread_mutex_lock(&loop->lock);
	loop->enter_state = ok ? ENTER_DONE : ENTER_FAILED;
	pthread_cond_broadcast(&loop->idle);
	pthread_mutex_unlock(&loop->lock);
	return ok;
}

static void *loop_thread(void *arg)
{
	struct event_loop *loop = arg;
	if (!enter_thread(loop))
		return NULL;
	for (;;) {
		pthread_mutex_lock(&loop->lock);
		sweep_removed(loop);
		pthread_mutex_unlock(&loop->lock);
		struct epoll_event ev[EVENT_BATCH];
		int n = epoll_wait(loop->epoll_fd, ev, EVENT_BATCH, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || !dispatch_batch(loop, ev, n))
			return NULL;
	}
}

/* ---- life cycle ---- */

static struct event_handler *handler_add(struct event_loop *loop, int fd, uint32_t events,
					 event_fd_fn *fn, void *ctx, struct kvmini_error *err);
static void timers_expired(void *ctx, int fd, uint32_t events);

struct event_loop *event_loop_create(const char *name, struct kvmini_error *err)
{
	struct event_loop *loop = calloc(1, sizeof(*loop));
	if (!loop) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for the event loop");
		return NULL;
	}
	snprintf(loop->name, sizeof(loop->name), "%s", name);
	loop->epoll_fd = loop->stop_fd = loop->timer_fd = -1;
	pthread_mutex_init(&loop->lock, NULL);
	pthread_cond_init(&loop->idle, NULL);
	loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	loop->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	loop->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	struct epoll_event stop = { .events = EPOLLIN, .data.ptr = &loop->stop_fd };
	if (loop->epoll_fd < 0 || loop->stop_fd < 0 || loop->timer_fd < 0 ||
	    epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, loop->stop_fd, &stop) < 0) {
		kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot set up the event loop");
		event_loop_destroy(loop);
		return NULL;
	}
	/* Registered without wanting the loop: only an armed timer does. */
	loop->timer_handler = handler_add(loop, loop->timer_fd, EPOLLIN, timers_expired, loop, err);
	if (!loop->timer_handler) {
		event_loop_destroy(loop);
		return NULL;
	}
	return loop;
}

/* The thread inherits a mask with every signal blocked, so no signal
 * handler ever runs on it. */
static int loop_thread_start(struct event_loop *loop, struct kvmini_error *err)
{
	uint64_t drained;
	while (read(loop->stop_fd, &drained, sizeof(drained)) > 0)
		continue;   /* a stop from a previous run */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_mutex_lock(&loop->lock);
	loop->enter_state = ENTER_PENDING;
	int e = thread_start(&loop->thread, loop_thread, loop);
	loop->thread_running = e == 0;
	while (e == 0 && loop->enter_state == ENTER_PENDING)
		pthread_cond_wait(&loop->idle, &loop->lock);
	bool failed = e == 0 && loop->enter_state == ENTER_FAILED;
	if (failed)
		loop->thread_running = false;
	pthread_mutex_unlock(&loop->lock);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e)
		return kvmini_fail_errno(err, KVMINI_E_HOST, e, "cannot start the event loop thread");
	if (failed) {
		pthread_join(loop->thread, NULL);
		*err = loop->enter_err;
		return -1;
	}
	return 0;
}

/* Only the owner starts and stops the loop, so the thread cannot be
 * started twice: the checks under the lock need not cover the start. */
int event_loop_start(struct event_loop *loop, struct kvmini_error *err)
{
	pthread_mutex_lock(&loop->lock);
	bool start = !loop->thread_running && (!loop->want || atomic_load(&loop->wanted));
	loop->deferred = !loop->thread_running && !start;
	pthread_mutex_unlock(&loop->lock);
	return start ? loop_thread_start(loop, err) : 0;
}

void event_loop_on_want(struct event_loop *loop, event_want_fn *fn, void *ctx)
{
	loop->want = fn;
	loop->want_ctx = ctx;
}

/* The first want of a deferred loop asks its owner, once. */
static void loop_want(struct event_loop *loop)
{
	if (!loop->want || atomic_load(&loop->wanted))
		return;
	pthread_mutex_lock(&loop->lock);
	bool ask = !atomic_exchange(&loop->wanted, true) && loop->deferred;
	pthread_mutex_unlock(&loop->lock);
	if (ask)
		loop->want(loop->want_ctx);
}

void event_loop_on_enter(struct event_loop *loop, event_thread_enter_fn *fn, void *ctx)
{
	loop->enter = fn;
	loop->enter_ctx = ctx;
}

void event_loop_stop(struct event_loop *loop)
{
	pthread_mutex_lock(&loop->lock);
	bool running = loop->thread_running;
	loop->deferred = false;
	pthread_mutex_unlock(&loop->lock);
	if (!running)
		return;
	uint64_t one = 1;
	while (write(loop->stop_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		continue;
	pthread_join(loop->thread, NULL);
	pthread_mutex_lock(&loop->lock);
	loop->thread_running = false;
	pthread_mutex_unlock(&loop->lock);
}

void event_loop_destroy(struct event_loop *loop)
{
	if (!loop)
		return;
	event_loop_stop(loop);
	while (loop->handlers) {
		struct event_handler *h = loop->handlers;
		loop->handlers = h->next;
		free(h);
	}
	while (loop->timers) {
		struct event_timer *t = loop->timers;
		loop->timers = t->next;
		free(t);
	}
	if (loop->timer_fd >= 0)
		close(loop->timer_fd);
	if (loop->stop_fd >= 0)
		close(loop->stop_fd);
	if (loop->epoll_fd >= 0)
		close(loop->epoll_fd);
	pthread_cond_destroy(&loop->idle);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}

/* ---- registrations ---- */

static struct event_handler *handler_add(struct event_loop *loop, int fd, uint32_t events,
					 event_fd_fn *fn, void *ctx, struct kvmini_error *err)
{
	struct event_handler *h = calloc(1, sizeof(*h));
	if (!h) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for an event handler");
		return NULL;
	}
	*h = (struct event_handler){ .loop = loop, .fd = fd, .fn = fn, .ctx = ctx, .events = events };
	pthread_mutex_lock(&loop->lock);
	struct epoll_event ev = { .events = events, .data.ptr = h };
	/* Added paused (no events): kept out of epoll, as a pause does. */
	int rc = events ? epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &ev) : 0;
	if (rc == 0) {
		h->next = loop->handlers;
		loop->handlers = h;
	}
	pthread_mutex_unlock(&loop->lock);
	if (rc < 0) {
		kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot watch fd %d on the event loop", fd);
		free(h);
		return NULL;
	}
	return h;
}

struct event_handler *event_loop_add(struct event_loop *loop, int fd, uint32_t events,
				     event_fd_fn *fn, void *ctx, struct kvmini_error *err)
{
	struct event_handler *h = handler_add(loop, fd, events, fn, ctx, err);
	if (h && events)
		loop_want(loop);
	return h;
}

/* Pausing takes the fd out of epoll: epoll reports a hang-up or an
 * error even for an empty event mask, so a paused pipe whose writer
 * closed would otherwise call its handler without end. */
int event_loop_modify(struct event_loop *loop, struct event_handler *h, uint32_t events,
		      struct kvmini_error *err)
{
	pthread_mutex_lock(&loop->lock);
	struct epoll_event ev = { .events = events, .data.ptr = h };
	int op = !events ? EPOLL_CTL_DEL : h->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	int rc = 0;
	if (!h->removed && (events || h->events))
		rc = epoll_ctl(loop->epoll_fd, op, h->fd, &ev);
	if (rc == 0)
		h->events = events;
	/* Once unlocked, a callback may remove and the loop free h. */
	int fd = h->fd;
	pthread_mutex_unlock(&loop->lock);
	if (rc < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno,
					 "cannot change what the event loop watches on fd %d", fd);
	if (events)   /* the timers' own handler is never modified */
		loop_want(loop);
	return 0;
}

void event_loop_remove(struct event_loop *loop, struct event_handler *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&loop->lock);
	h->removed = true;
	if (h->events)
		epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, h->fd, NULL);
	bool on_thread = loop->thread_running && pthread_equal(loop->thread, pthread_self());
	if (!on_thread)
		while (loop->running == h)
			pthread_cond_wait(&loop->idle, &loop->lock);
	if (!loop->thread_running) {
		unlink_handler(loop, h);   /* no batch can name it: free now */
		free(h);
	}
	pthread_mutex_unlock(&loop->lock);
}

/* ---- timers ---- */

/* Set the timerfd for the earliest deadline if it is set for none or a
 * later one (loop->lock held). */
static void timer_fd_update(struct event_loop *loop)
{
	uint64_t first = 0;
	for (struct event_timer *t = loop->timers; t; t = t->next)
		if (t->due && (!first || t->due < first))
			first = t->due;
	if (!first || (loop->timer_fd_at && loop->timer_fd_at <= first))
		return;
	struct itimerspec when = {
		.it_value = { .tv_sec = (time_t)(first / NS_PER_S),
			      .tv_nsec = (long)(first % NS_PER_S) },
	};
	timerfd_settime(loop->timer_fd, TFD_TIMER_ABSTIME, &when, NULL);   /* cannot fail */
	loop->timer_fd_at = first;
}

/* The earliest timer due by `now` and not yet fired in this pass,
 * disarmed, or NULL (loop->lock held). Once a pass: a callback that
 * re-arms its timer in the past (a PIT catching up) must not keep the
 * loop from epoll, where a stop waits. */
static struct event_timer *timer_take_due(struct event_loop *loop, uint64_t now)
{
	struct event_timer *first = NULL;
	for (struct event_timer *t = loop->timers; t; t = t->next)
		if (t->due && t->due <= now && t->pass != loop->timer_pass &&
		    (!first || t->due < first->due))
			first = t;
	if (first) {
		first->due = 0;
		first->pass = loop->timer_pass;
	}
	return first;
}

/* On the loop's thread: each timer due, earliest first, one callback at
 * a time; a callback may re-arm or destroy any timer, its own too. */
static void timers_expired(void *ctx, int fd, uint32_t events)
{
	(void)events;
	struct event_loop *loop = ctx;
	uint64_t expirations;
	if (read(fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&loop->lock);
	loop->timer_pass++;
	loop->timer_fd_at = 0;   /* fired (or disarmed by a newer set): set it again below */
	struct event_timer *t;
	while ((t = timer_take_due(loop, event_loop_now_ns()))) {
		loop->timer_running = t;
		pthread_mutex_unlock(&loop->lock);
		t->fn(t->ctx);   /* may destroy t: touch nothing after it */
		pthread_mutex_lock(&loop->lock);
		loop->timer_running = NULL;
		pthread_cond_broadcast(&loop->idle);
	}
	timer_fd_update(loop);
	pthread_mutex_unlock(&loop->lock);
}

struct event_timer *event_timer_create(struct event_loop *loop, event_timer_fn *fn, void *ctx,
				       struct kvmini_error *err)
{
	struct event_timer *t = calloc(1, sizeof(*t));
	if (!t) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for a timer");
		return NULL;
	}
	*t = (struct event_timer){ .loop = loop, .fn = fn, .ctx = ctx };
	pthread_mutex_lock(&loop->lock);
	t->next = loop->timers;
	loop->timers = t;
	pthread_mutex_unlock(&loop->lock);
	return t;
}

static void timer_set(struct event_timer *t, uint64_t due)
{
	struct event_loop *loop = t->loop;
	pthread_mutex_lock(&loop->lock);
	t->due = due;
	timer_fd_update(loop);
	pthread_mutex_unlock(&loop->lock);
	if (due)
		loop_want(loop);
}

/* 0 would disarm: a time at or before the clock's start fires at once. */
void event_timer_arm_at(struct event_timer *t, uint64_t ns)
{
	timer_set(t, ns ? ns : 1);
}

void event_timer_arm_after(struct event_timer *t, uint64_t ns)
{
	timer_set(t, event_loop_now_ns() + ns);
}

/* The timerfd stays set: an expiry with nothing due costs one wake-up,
 * where clearing it would cost a system call at every disarm. */
void event_timer_disarm(struct event_timer *t)
{
	timer_set(t, 0);
}

void event_timer_destroy(struct event_timer *t)
{
	if (!t)
		return;
	struct event_loop *loop = t->loop;
	pthread_mutex_lock(&loop->lock);
	for (struct event_timer **p = &loop->timers; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			break;
		}
	}
	bool on_thread = loop->thread_running && pthread_equal(loop->thread, pthread_self());
	while (!on_thread && loop->timer_running == t)
		pthread_cond_wait(&loop->idle, &loop->lock);
	pthread_mutex_unlock(&loop->lock);
	free(t);
}
