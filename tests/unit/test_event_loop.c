/* The event loop alone: fd callbacks, timers in order, removal from
 * inside a callback and from other threads, stop from another thread.
 * Every wait is on an event (a condition variable), with a generous
 * upper bound only so a broken loop fails instead of hanging. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "event_loop.h"

#define WAIT_S 10

struct recorder {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int order[64];
	unsigned count;
	pthread_t thread;
	bool in_callback;          /* a slow callback is running now */
	bool release;              /* let the slow callback return */
	struct event_loop *thread_loop;
};

static void recorder_init(struct recorder *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->changed, NULL);
}

static void record(struct recorder *r, int what)
{
	pthread_mutex_lock(&r->lock);
	if (r->count < 64)
		r->order[r->count] = what;
	r->count++;
	r->thread = pthread_self();
	pthread_cond_broadcast(&r->changed);
	pthread_mutex_unlock(&r->lock);
}

/* Wait until at least n records; false after WAIT_S seconds. */
static bool wait_count(struct recorder *r, unsigned n)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += WAIT_S;
	bool ok = true;
	pthread_mutex_lock(&r->lock);
	while (ok && r->count < n)
		ok = pthread_cond_timedwait(&r->changed, &r->lock, &deadline) == 0;
	bool reached = r->count >= n;
	pthread_mutex_unlock(&r->lock);
	return reached;
}

static struct event_loop *started_loop(void)
{
	struct kvmini_error err;
	struct event_loop *loop = event_loop_create("evtest", &err);
	cr_assert_not_null(loop, "%s", err.msg);
	cr_assert_eq(event_loop_start(loop, &err), 0, "%s", err.msg);
	return loop;
}

static void signal_fd(int fd)
{
	uint64_t one = 1;
	cr_assert_eq(write(fd, &one, sizeof(one)), sizeof(one));
}

/* ---- fd callbacks ---- */

struct fd_watch {
	struct recorder *r;
	int id;
	struct event_handler *h;
};

static void on_readable(void *ctx, int fd, uint32_t events)
{
	struct fd_watch *w = ctx;
	uint64_t n;
	cr_assert(events & EPOLLIN);
	cr_assert_eq(read(fd, &n, sizeof(n)), sizeof(n));
	record(w->r, w->id);
}

Test(event_loop, an_fd_callback_runs_on_the_loop_thread_each_time, .timeout = 30)
{
	struct recorder r;
	recorder_init(&r);
	struct event_loop *loop = started_loop();
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct fd_watch w = { .r = &r, .id = 7 };
	struct kvmini_error err;
	struct event_handler *h = event_loop_add(loop, fd, EPOLLIN, on_readable, &w, &err);
	cr_assert_not_null(h, "%s", err.msg);
	for (unsigned i = 1; i <= 5; i++) {
		signal_fd(fd);
		cr_assert(wait_count(&r, i), "callback %u", i);
	}
	cr_expect_eq(r.count, 5);
	cr_expect_eq(r.order[4], 7);
	cr_expect_not(pthread_equal(r.thread, pthread_self()));
	char name[16];
	pthread_getname_np(r.thread, name, sizeof(name));
	cr_expect_str_eq(name, "evtest");
	cr_expect_not(event_loop_on_thread(loop));
	event_loop_remove(loop, h);
	event_loop_destroy(loop);
	close(fd);
}

Test(event_loop, a_paused_fd_is_not_reported_until_resumed, .timeout = 30)
{
	struct recorder r;
	recorder_init(&r);
	struct event_loop *loop = started_loop();
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int other = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct fd_watch w = { .r = &r, .id = 1 }, o = { .r = &r, .id = 2 };
	struct kvmini_error err;
	struct event_handler *h = event_loop_add(loop, fd, EPOLLIN, on_readable, &w, &err);
	struct event_handler *g = event_loop_add(loop, other, EPOLLIN, on_readable, &o, &err);
	cr_assert_eq(event_loop_modify(loop, h, 0, &err), 0, "%s", err.msg);
	signal_fd(fd);
	signal_fd(other);   /* a later event proves the loop went past fd */
	cr_assert(wait_count(&r, 1));
	cr_expect_eq(r.order[0], 2, "the paused fd stayed quiet");
	cr_assert_eq(event_loop_modify(loop, h, EPOLLIN, &err), 0, "%s", err.msg);
	cr_assert(wait_count(&r, 2));
	cr_expect_eq(r.order[1], 1);
	event_loop_remove(loop, h);
	event_loop_remove(loop, g);
	event_loop_destroy(loop);
	close(fd);
	close(other);
}

Test(event_loop, an_fd_added_paused_is_reported_once_resumed, .timeout = 30)
{
	struct recorder r;
	recorder_init(&r);
	struct event_loop *loop = started_loop();
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int other = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct fd_watch w = { .r = &r, .id = 1 }, o = { .r = &r, .id = 2 };
	struct kvmini_error err;
	struct event_handler *h = event_loop_add(loop, fd, 0, on_readable, &w, &err);
	cr_assert_not_null(h, "%s", err.msg);
	struct event_handler *g = event_loop_add(loop, other, EPOLLIN, on_readable, &o, &err);
	signal_fd(fd);
	signal_fd(other);
	cr_assert(wait_count(&r, 1));
	cr_expect_eq(r.order[0], 2, "the fd added paused was reported");
	cr_assert_eq(event_loop_modify(loop, h, EPOLLIN, &err), 0, "resume: %s", err.msg);
	cr_assert(wait_count(&r, 2));
	cr_expect_eq(r.order[1], 1);
	event_loop_remove(loop, h);
	event_loop_remove(loop, g);
	event_loop_destroy(loop);
	close(fd);
	close(other);
}

static void on_hangup(void *ctx, int fd, uint32_t events)
{
	(void)fd;
	struct fd_watch *w = ctx;
	cr_assert(events & EPOLLHUP);
	event_loop_remove(w->r->thread_loop, w->h);   /* at end of file for good */
	record(w->r, w->id);
}

Test(event_loop, a_paused_pipe_does_not_report_its_hangup, .timeout = 30)
{
	struct recorder r;
	recorder_init(&r);
	struct event_loop *loop = started_loop();
	r.thread_loop = loop;
	int fds[2], other = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	cr_assert_eq(pipe(fds), 0);
	struct fd_watch w = { .r = &r, .id = 1 }, o = { .r = &r, .id = 2 };
	struct kvmini_error err;
	w.h = event_loop_add(loop, fds[0], EPOLLIN, on_hangup, &w, &err);
	struct event_handler *g = event_loop_add(loop, other, EPOLLIN, on_readable, &o, &err);
	cr_assert_eq(event_loop_modify(loop, w.h, 0, &err), 0, "%s", err.msg);
	close(fds[1]);    /* the read end hangs up */
	signal_fd(other);
	cr_assert(wait_count(&r, 1));
	signal_fd(other);
	cr_assert(wait_count(&r, 2));
	cr_expect_eq(r.order[0], 2);
	cr_expect_eq(r.order[1], 2, "the paused hang-up stayed quiet");
	cr_assert_eq(event_loop_modify(loop, w.h, EPOLLIN, &err), 0, "%s", err.msg);
	cr_assert(wait_count(&r, 3));
	cr_expect_eq(r.order[2], 1, "resumed, the hang-up is reported");
	event_loop_remove(loop, g);
	event_loop_destroy(loop);
	close(fds[0]);
	close(other);
}

/* ---- timers ---- */

struct timer_probe {
	struct recorder *r;
	int id;
	uint64_t due;
	uint64_t fired_at;
};

static void on_timer(void *ctx)
{
	struct timer_probe *p = ctx;
	p->fired_at = event_loop_now_ns();
	record(p->r, p->id);
}

Test(event_loop, timers_fire_in_the_order_of_their_expiry, .timeout = 30)
{
	struct recorder r;
	recorder_init(&r);
	struct event_loop *loop = started_loop();
	struct kvmini_error err;
	struct timer_probe p[4];
	struct event_timer *t[4];
	/* Armed out of order: absolute, relative, and one already past. */
	static const uint64_t after_ms[4] = { 30, 10, 20, 0 };
	uint64_t now = event_loop_now_ns();
	for (int i = 0; i < 4; i++) {
		p[i] = (struct timer_probe){ .r = &r, .id = i, .due = now + after_ms[i] * 1000000 };
		t[i] = event_timer_create(loop, on_timer, &p[i], &err);
		cr_assert_not_null(t[i], "%s", err.msg);
	}
	event_timer_arm_at(t[0], p[0].due);
	event_timer_arm_after(t[1], after_ms[1] * 1000000);
	event_timer_arm_at(t[2], p[2].due);
	event_timer_arm_at(t[3], 0);
	cr_assert(wait_count(&r, 4));
	static const int expected[4] = { 3, 1, 2, 0 };
	cr_expect_arr_eq(r.order, expected, sizeof(expected));
	for (int i = 0; i < 4; i++)
		cr_expect_geq(p[i].fired_at, p[i].due, "timer %d not early", i);
	for (int i = 0; i < 4; i++)
		event_timer_destroy(t[i]);
	event_loop_destroy(loop);
}

Test(event_loop, a_disarmed_or_rearmed_timer_fires_once_at_its_new_time, .timeout = 30)
{
	struct recorder r;
	recorder_init(&r);
	struct event_loop *loop = started_loop();
	struct kvmini_error err;
	struct timer_probe never = { .r = &r, .id = 1 }, moved = { .r = &r, .id = 2 },
			   marker = { .r = &r, .id = 3 };
	struct event_timer *a = event_timer_create(loop, on_timer, &never, &err);
	struct event_timer *b = event_timer_create(loop, on_timer, &moved, &err);
	struct event_timer *c = event_timer_create(loop, on_timer, &marker, &err);
	event_timer_arm_after(a, 5 * 1000000);
	event_timer_disarm(a);
	event_timer_arm_after(b, 3600 * 1000000000ULL);
	event_timer_arm_after(b, 5 * 1000000);   /* replaces the hour */
	event_timer_arm_after(c, 40 * 1000000);
	cr_assert(wait_count(&r, 2));
	cr_expect_eq(r.count, 2);
	cr_expect_eq(r.order[0], 2);
	cr_expect_eq(r.order[1], 3, "the disarmed timer never fired");
	event_timer_destroy(a);
	event_timer_destroy(b);
	event_timer_destroy(c);
	event_loop_destroy(loop);
}

/* ---- removal ---- */

struct self_remover {
	struct recorder *r;
	struct event_loop *loop;
	struct event_handler *h;
	struct event_timer *t;
};

static void remove_self(void *ctx, int fd, uint32_t events)
{
	(void)fd, (void)events;
	struct self_remover *s = ctx;
	/* The fd stays readable (never read): only removal stops calls. */
	event_loop_remove(s->loop, s->h);
	record(s->r, 1);
}

static void destroy_own_timer(void *ctx)
{
	struct self_remover *s = ctx;
	event_timer_destroy(s->t);
	record(s->r, 2);
}

Test(event_loop, a_callback_may_remove_its_own_handler_or_timer, .timeout = 30)
{
	struct recorder r;
	recorder_init(&r);
	struct event_loop *loop = started_loop();
	struct kvmini_error err;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int marker_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct self_remover s = { .r = &r, .loop = loop };
	struct fd_watch marker = { .r = &r, .id = 3 };
	s.h = event_loop_add(loop, fd, EPOLLIN, remove_self, &s, &err);
	s.t = event_timer_create(loop, destroy_own_timer, &s, &err);
	cr_assert(s.h && s.t, "%s", err.msg);
	event_timer_arm_at(s.t, 0);
	signal_fd(fd);
	cr_assert(wait_count(&r, 2));
	/* Level-triggered and still readable: had the removal not held, the
	 * loop would call remove_self again before this marker. */
	struct event_handler *m = event_loop_add(loop, marker_fd, EPOLLIN, on_readable, &marker,
						 &err);
	signal_fd(marker_fd);
	cr_assert(wait_count(&r, 3));
	cr_expect_eq(r.count, 3);
	cr_expect_eq(r.order[2], 3);
	event_loop_remove(loop, m);
	event_loop_destroy(loop);
	close(fd);
	close(marker_fd);
}

/* A callback that blocks until the test releases it. */
static void slow_callback(void *ctx, int fd, uint32_t events)
{
	(void)fd, (void)events;
	struct recorder *r = ctx;
	pthread_mutex_lock(&r->lock);
	r->in_callback = true;
	r->count++;
	pthread_cond_broadcast(&r->changed);
	while (!r->release)
		pthread_cond_wait(&r->changed, &r->lock);
	r->in_callback = false;
	pthread_mutex_unlock(&r->lock);
}

struct remover_thread {
	struct event_loop *loop;
	struct event_handler *h;
	struct recorder *r;
	bool done;
};

static void *remove_from_thread(void *arg)
{
	struct remover_thread *t = arg;
	event_loop_remove(t->loop, t->h);
	pthread_mutex_lock(&t->r->lock);
	/* The removal must not return while the callback still runs. */
	cr_expect_not(t->r->in_callback, "remove returned during the callback");
	t->done = true;
	pthread_cond_broadcast(&t->r->changed);
	pthread_mutex_unlock(&t->r->lock);
	return NULL;
}

Test(event_loop, remove_waits_for_a_running_callback_and_none_follows, .timeout = 30)
{
	struct recorder r;
	recorder_init(&r);
	struct event_loop *loop = started_loop();
	struct kvmini_error err;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct event_handler *h = event_loop_add(loop, fd, EPOLLIN, slow_callback, &r, &err);
	signal_fd(fd);   /* never read: level-triggered, it would fire forever */
	cr_assert(wait_count(&r, 1));
	struct remover_thread t = { .loop = loop, .h = h, .r = &r };
	pthread_t thread;
	pthread_create(&thread, NULL, remove_from_thread, &t);
	pthread_mutex_lock(&r.lock);
	r.release = true;
	pthread_cond_broadcast(&r.changed);
	pthread_mutex_unlock(&r.lock);
	pthread_join(thread, NULL);
	cr_expect(t.done);
	unsigned calls = r.count;
	/* A marker event after the removal: the loop has run a full batch
	 * since, and the removed (still readable) fd was not called. */
	struct recorder m;
	recorder_init(&m);
	int marker_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct fd_watch mw = { .r = &m, .id = 9 };
	struct event_handler *mh = event_loop_add(loop, marker_fd, EPOLLIN, on_readable, &mw, &err);
	signal_fd(marker_fd);
	cr_assert(wait_count(&m, 1));
	signal_fd(marker_fd);
	cr_assert(wait_count(&m, 2));
	cr_expect_eq(r.count, calls, "no callback after remove returned");
	event_loop_remove(loop, mh);
	event_loop_destroy(loop);
	close(fd);
	close(marker_fd);
}

/* ---- stopping ---- */

static void *stop_from_thread(void *arg)
{
	event_loop_stop(arg);
	return NULL;
}

Test(event_loop, stop_from_another_thread_joins_and_leaves_events_pending, .timeout = 30)
{
	struct recorder r;
	recorder_init(&r);
	struct event_loop *loop = started_loop();
	struct kvmini_error err;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct fd_watch w = { .r = &r, .id = 5 };
	struct event_handler *h = event_loop_add(loop, fd, EPOLLIN, on_readable, &w, &err);
	pthread_t thread;
	pthread_create(&thread, NULL, stop_from_thread, loop);
	pthread_join(thread, NULL);   /* returns only once the loop thread is joined */
	cr_expect_not(event_loop_on_thread(loop));
	signal_fd(fd);
	/* Stopped: nothing dispatches; a restart picks the event up. */
	cr_expect_eq(r.count, 0);
	cr_assert_eq(event_loop_start(loop, &err), 0, "%s", err.msg);
	cr_assert(wait_count(&r, 1));
	event_loop_stop(loop);
	event_loop_stop(loop);   /* twice is fine */
	event_loop_remove(loop, h);   /* not running: freed at once */
	event_loop_destroy(loop);
	close(fd);
}

Test(event_loop, a_loop_never_started_is_destroyed_with_its_registrations)
{
	struct kvmini_error err;
	struct event_loop *loop = event_loop_create("idle", &err);
	cr_assert_not_null(loop, "%s", err.msg);
	int fd = eventfd(0, EFD_CLOEXEC);
	cr_assert_not_null(event_loop_add(loop, fd, EPOLLIN, on_readable, NULL, &err));
	struct event_timer *t = event_timer_create(loop, on_timer, NULL, &err);
	cr_assert_not_null(t, "%s", err.msg);
	event_timer_destroy(t);   /* the timer's fd is its own */
	cr_expect_null(event_loop_add(loop, -1, EPOLLIN, on_readable, NULL, &err));
	cr_expect_eq(err.code, KVMINI_E_HOST);
	cr_expect(strstr(err.msg, "cannot watch fd -1") != NULL, "%s", err.msg);
	event_loop_destroy(loop);   /* frees the handler; LeakSanitizer checks */
	close(fd);
	event_loop_destroy(NULL);
}

/* ---- the thread's own set-up (a seccomp filter, in kvmini) ---- */

static int enter_fails(void *ctx, struct kvmini_error *err)
{
	*(pthread_t *)ctx = pthread_self();
	return kvmini_fail(err, KVMINI_E_HOST, "cannot confine the thread");
}

static int enter_ok(void *ctx, struct kvmini_error *err)
{
	(void)err;
	*(pthread_t *)ctx = pthread_self();
	return 0;
}

Test(event_loop, a_failing_enter_is_start_s_error_and_no_thread_runs)
{
	struct kvmini_error err;
	pthread_t entered;
	struct event_loop *loop = event_loop_create("t", &err);
	cr_assert_not_null(loop);
	event_loop_on_enter(loop, enter_fails, &entered);
	cr_assert_eq(event_loop_start(loop, &err), -1);
	cr_assert_str_eq(err.msg, "cannot confine the thread");
	cr_assert_eq(err.code, KVMINI_E_HOST);
	cr_assert(!pthread_equal(entered, pthread_self()), "enter ran on the loop's thread");
	event_loop_stop(loop);   /* nothing to stop: the thread is gone */
	event_loop_destroy(loop);
}

Test(event_loop, enter_runs_on_the_loop_thread_before_start_returns)
{
	struct kvmini_error err;
	pthread_t entered = pthread_self();
	struct event_loop *loop = event_loop_create("t", &err);
	cr_assert_not_null(loop);
	event_loop_on_enter(loop, enter_ok, &entered);
	cr_assert_eq(event_loop_start(loop, &err), 0, "%s", err.msg);
	cr_assert(!pthread_equal(entered, pthread_self()), "start returned before enter ran");
	event_loop_stop(loop);
	event_loop_destroy(loop);
}

/* ---- the lazy start (event_loop_on_want) ---- */

struct want_probe {
	pthread_mutex_t lock;
	unsigned asks;
	pthread_t asker;
	pthread_t entered;
	bool has_entered;
};

static void on_want(void *ctx)
{
	struct want_probe *w = ctx;
	pthread_mutex_lock(&w->lock);
	w->asks++;
	w->asker = pthread_self();
	pthread_mutex_unlock(&w->lock);
}

static int enter_noted(void *ctx, struct kvmini_error *err)
{
	(void)err;
	struct want_probe *w = ctx;
	pthread_mutex_lock(&w->lock);
	w->entered = pthread_self();
	w->has_entered = true;
	pthread_mutex_unlock(&w->lock);
	return 0;
}

static struct event_loop *lazy_loop(struct want_probe *w)
{
	struct kvmini_error err;
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	struct event_loop *loop = event_loop_create("lazy", &err);
	cr_assert_not_null(loop, "%s", err.msg);
	event_loop_on_want(loop, on_want, w);
	event_loop_on_enter(loop, enter_noted, w);
	return loop;
}

static void *arm_from_thread(void *arg)
{
	event_timer_arm_after(arg, 1000000);
	return NULL;
}

Test(event_loop, a_lazy_loop_starts_no_thread_until_a_timer_is_armed_then_asks_once,
     .timeout = 30)
{
	struct want_probe w;
	struct recorder r;
	recorder_init(&r);
	struct event_loop *loop = lazy_loop(&w);
	struct kvmini_error err;
	struct timer_probe p = { .r = &r, .id = 1 };
	struct event_timer *t = event_timer_create(loop, on_timer, &p, &err);
	cr_assert_not_null(t, "%s", err.msg);
	event_timer_disarm(t);   /* a disarmed timer wants nothing */
	cr_assert_eq(event_loop_start(loop, &err), 0, "%s", err.msg);
	cr_expect_not(w.has_entered, "a loop with nothing armed started its thread");
	cr_expect_eq(w.asks, 0);
	pthread_t armer;
	pthread_create(&armer, NULL, arm_from_thread, t);
	pthread_join(armer, NULL);
	cr_assert_eq(w.asks, 1, "the first arm asks the owner");
	cr_expect(pthread_equal(w.asker, armer), "asked on the arming thread");
	cr_expect_not(w.has_entered, "the arming thread started the loop itself");
	event_timer_arm_after(t, 1000000);
	cr_expect_eq(w.asks, 1, "asked only once");
	cr_assert_eq(event_loop_start(loop, &err), 0, "%s", err.msg);   /* the owner's answer */
	cr_expect(w.has_entered);
	cr_assert(wait_count(&r, 1), "the timer armed before the start fired");
	cr_assert_eq(event_loop_start(loop, &err), 0, "a running loop stays as it is");
	event_timer_destroy(t);
	event_loop_destroy(loop);
}

Test(event_loop, a_lazy_loop_with_a_watched_fd_starts_at_once, .timeout = 30)
{
	struct want_probe w;
	struct recorder r;
	recorder_init(&r);
	struct event_loop *loop = lazy_loop(&w);
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct fd_watch fw = { .r = &r, .id = 3 };
	struct kvmini_error err;
	struct event_handler *h = event_loop_add(loop, fd, EPOLLIN, on_readable, &fw, &err);
	cr_assert_not_null(h, "%s", err.msg);
	cr_expect_eq(w.asks, 0, "not deferred yet: nothing to ask");
	cr_assert_eq(event_loop_start(loop, &err), 0, "%s", err.msg);
	cr_expect(w.has_entered, "the loop waits on an fd: it must run");
	signal_fd(fd);
	cr_assert(wait_count(&r, 1));
	event_loop_remove(loop, h);
	event_loop_destroy(loop);
	close(fd);
}

Test(event_loop, a_deferred_loop_asks_when_a_paused_fd_is_resumed, .timeout = 30)
{
	struct want_probe w;
	struct recorder r;
	recorder_init(&r);
	struct event_loop *loop = lazy_loop(&w);
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct fd_watch fw = { .r = &r, .id = 4 };
	struct kvmini_error err;
	struct event_handler *h = event_loop_add(loop, fd, 0, on_readable, &fw, &err);
	cr_assert_not_null(h, "%s", err.msg);
	cr_assert_eq(event_loop_start(loop, &err), 0, "%s", err.msg);
	cr_expect_not(w.has_entered, "a paused fd wants nothing");
	signal_fd(fd);
	cr_assert_eq(event_loop_modify(loop, h, EPOLLIN, &err), 0, "%s", err.msg);
	cr_assert_eq(w.asks, 1);
	cr_assert_eq(event_loop_start(loop, &err), 0, "%s", err.msg);
	cr_assert(wait_count(&r, 1), "the fd ready before the start is reported");
	event_loop_stop(loop);
	event_loop_remove(loop, h);
	event_loop_destroy(loop);
	close(fd);
}

Test(event_loop, a_deferred_loop_is_stopped_and_destroyed_without_a_thread)
{
	struct want_probe w;
	struct event_loop *loop = lazy_loop(&w);
	struct kvmini_error err;
	cr_assert_eq(event_loop_start(loop, &err), 0, "%s", err.msg);
	event_loop_stop(loop);
	struct event_timer *t = event_timer_create(loop, on_timer, NULL, &err);
	cr_assert_not_null(t, "%s", err.msg);
	event_timer_arm_after(t, 1000000000);
	cr_expect_eq(w.asks, 0, "a stopped loop is not deferred: nobody to ask");
	cr_expect_not(w.has_entered);
	event_timer_destroy(t);
	event_loop_destroy(loop);
}

/* ---- the timers share one timerfd ---- */

static unsigned open_fds(void)
{
	unsigned n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

Test(event_loop, timers_cost_no_descriptor_and_an_earlier_one_disarmed_leaves_the_later,
     .timeout = 30)
{
	struct recorder r;
	recorder_init(&r);
	struct event_loop *loop = started_loop();
	struct kvmini_error err;
	unsigned before = open_fds();
	struct timer_probe early = { .r = &r, .id = 1 }, late = { .r = &r, .id = 2 };
	struct event_timer *t[8];
	for (int i = 0; i < 8; i++) {
		t[i] = event_timer_create(loop, on_timer, i ? &late : &early, &err);
		cr_assert_not_null(t[i], "%s", err.msg);
	}
	cr_expect_eq(open_fds(), before, "eight timers opened descriptors");
	/* The fd is set for the early one, which goes: it wakes the loop
	 * for nothing, and the late one still fires, once, not early. */
	late.due = event_loop_now_ns() + 30 * 1000000;
	event_timer_arm_after(t[0], 5 * 1000000);
	event_timer_arm_at(t[1], late.due);
	event_timer_disarm(t[0]);
	cr_assert(wait_count(&r, 1));
	cr_expect_eq(r.order[0], 2, "the disarmed timer fired");
	cr_expect_geq(late.fired_at, late.due);
	for (int i = 0; i < 8; i++)
		event_timer_destroy(t[i]);
	event_loop_destroy(loop);
	cr_expect_eq(r.count, 1);
}

static void *destroy_timer_from_thread(void *arg)
{
	event_timer_destroy(arg);
	return NULL;
}

static void slow_timer(void *ctx)
{
	struct recorder *r = ctx;
	pthread_mutex_lock(&r->lock);
	r->in_callback = true;
	pthread_cond_broadcast(&r->changed);
	while (!r->release)
		pthread_cond_wait(&r->changed, &r->lock);
	r->in_callback = false;
	r->count++;
	pthread_mutex_unlock(&r->lock);
}

Test(event_loop, destroying_a_timer_waits_for_its_running_callback, .timeout = 30)
{
	struct recorder r;
	recorder_init(&r);
	struct event_loop *loop = started_loop();
	struct kvmini_error err;
	struct event_timer *t = event_timer_create(loop, slow_timer, &r, &err);
	cr_assert_not_null(t, "%s", err.msg);
	event_timer_arm_at(t, 0);
	pthread_mutex_lock(&r.lock);
	while (!r.in_callback)
		pthread_cond_wait(&r.changed, &r.lock);
	pthread_mutex_unlock(&r.lock);
	pthread_t destroyer;
	pthread_create(&destroyer, NULL, destroy_timer_from_thread, t);
	pthread_mutex_lock(&r.lock);
	r.release = true;
	pthread_cond_broadcast(&r.changed);
	pthread_mutex_unlock(&r.lock);
	pthread_join(destroyer, NULL);
	pthread_mutex_lock(&r.lock);
	cr_expect_not(r.in_callback, "destroy returned while the callback ran");
	cr_expect_eq(r.count, 1);
	pthread_mutex_unlock(&r.lock);
	event_loop_destroy(loop);
}
