/* The event loop: one thread that waits (epoll) on every file
 * descriptor kvmini watches, and calls a callback when one is ready:
 * console input, timers (timerfd), doorbell eventfds, and later sockets.
 * It depends on nothing but libc and error.h, so every layer may use it.
 *
 * Ownership: the loop belongs to the public VM (struct kvmini_vm in
 * src/machine.c), not to the per-boot struct vm. `--on-reset restart`
 * destroys the boot's struct vm and builds a new one; the loop lives on,
 * so what the front end registered (console input, later the control
 * socket) stays registered across boots, while a boot's devices (the
 * PIT's timer, doorbells) remove their registrations with the boot.
 * kvmini_vm_run() starts it after set-up and stops and joins it before
 * returning, like the vCPUs; registrations may be made before it starts
 * (ready fds wait in epoll until it does).
 *
 * Threads: every function may be called from any thread, including from
 * inside a callback on the loop's thread, except event_loop_stop() and
 * event_loop_destroy() (not from the loop's thread). Callbacks run on the
 * loop's thread one at a time. The thread blocks every signal: the front
 * end waits for them in its own thread. */
#ifndef KVMINI_EVENT_LOOP_H
#define KVMINI_EVENT_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include "error.h"

struct event_loop;
struct event_handler;   /* one fd's registration */
struct event_timer;     /* a deadline on the loop's one timerfd */

/* `events` is epoll's mask of what happened (EPOLLIN, EPOLLHUP, ...).
 * Registrations are level-triggered: a callback that leaves data
 * unread is called again. */
typedef void event_fd_fn(void *ctx, int fd, uint32_t events);
typedef void event_timer_fn(void *ctx);

/* name: the thread's name (at most 15 characters are kept). */
struct event_loop *event_loop_create(const char *name, struct kvmini_error *err);
/* Stops the loop if it runs, frees every registration and timer left
 * (closing only the loop's own fds). NULL is fine. */
void event_loop_destroy(struct event_loop *loop);
/* Start the loop's thread; with event_loop_on_want() set, only once
 * something is watched or a timer armed (else the start is deferred
 * until then). Safe to call again: a running loop stays as it is. */
int event_loop_start(struct event_loop *loop, struct kvmini_error *err);
/* A lazy start, for an owner whose other threads may not start a
 * thread (their seccomp filters allow no clone): a deferred loop that
 * becomes wanted calls fn once, on the thread that wanted it (any
 * thread, possibly inside its own locks: fn only hands over), and the
 * owner then calls event_loop_start() again on its own thread. A start
 * with nothing to wait on costs a thread, its filter and a join for
 * nothing: most bare-metal guests arm no timer. Set before starting. */
typedef void event_want_fn(void *ctx);
void event_loop_on_want(struct event_loop *loop, event_want_fn *fn, void *ctx);
/* Run fn on the loop's thread when it starts, before any callback (its
 * owner's confinement: a seccomp filter). A failure ends the thread and
 * event_loop_start() returns fn's error. Set before starting. */
typedef int event_thread_enter_fn(void *ctx, struct kvmini_error *err);
void event_loop_on_enter(struct event_loop *loop, event_thread_enter_fn *fn, void *ctx);
/* Wake the thread through an eventfd (not a signal) and join it. A
 * callback running now finishes first; ready events not yet dispatched
 * stay in epoll. Nothing when the loop is not running. One stopper at a
 * time (the owner at teardown). */
void event_loop_stop(struct event_loop *loop);
/* True on the loop's own thread. */
bool event_loop_on_thread(struct event_loop *loop);

/* Watch fd for `events` (EPOLLIN, EPOLLOUT...). The fd stays the
 * caller's: it must stay open until the handler is removed. */
struct event_handler *event_loop_add(struct event_loop *loop, int fd, uint32_t events,
				     event_fd_fn *fn, void *ctx, struct kvmini_error *err);
/* Change what fd is watched for; 0 pauses it (not even a hang-up is
 * reported until it is resumed). */
int event_loop_modify(struct event_loop *loop, struct event_handler *h, uint32_t events,
		      struct kvmini_error *err);
/* Stop watching. When this returns the handler's callback is not
 * running (unless this is called from that very callback) and will never
 * be called again, so its context may be freed. NULL is fine. */
void event_loop_remove(struct event_loop *loop, struct event_handler *h);

/* CLOCK_MONOTONIC in nanoseconds: the clock timers are armed on. */
uint64_t event_loop_now_ns(void);

/* A one-shot timer: fn runs once each time it expires. Disarmed when
 * created. Re-arming replaces the previous expiry. */
struct event_timer *event_timer_create(struct event_loop *loop, event_timer_fn *fn, void *ctx,
				       struct kvmini_error *err);
/* At an absolute CLOCK_MONOTONIC time (a time already past fires at
 * once), or `ns` from now. */
void event_timer_arm_at(struct event_timer *t, uint64_t ns);
void event_timer_arm_after(struct event_timer *t, uint64_t ns);
void event_timer_disarm(struct event_timer *t);
/* As event_loop_remove(), then the timer is freed. NULL is fine. */
void event_timer_destroy(struct event_timer *t);

#endif
