/* The terminal front end of the serial console: it reads the user's
 * input on an event loop (the VM's, through kvmini_vm_watch()) and
 * hands it to a device (the UART), pacing itself to the device's FIFO
 * with a 1 ms retry timer of its own. No thread of its own.
 *
 * When in_fd is a terminal it is put in raw mode for the console's
 * lifetime (every key, Ctrl-C included, goes to the guest; output
 * processing stays on so a guest's "\n" starts a new line), and the
 * escape Ctrl-A is interpreted:
 *   Ctrl-A x        calls quit (also Ctrl-A X)
 *   Ctrl-A Ctrl-A   sends one literal Ctrl-A (0x01)
 *   Ctrl-A other    sends both bytes unchanged
 * The original terminal settings come back on console_close(), on
 * exit(), and when SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE or SIGABRT
 * would kill the process. Handlers the application installed for those
 * signals before console_open() keep working (they are chained to, and
 * the terminal is then left to console_close() or exit()); install them
 * first. Only one console may own the terminal at a time.
 *
 * When in_fd is not a terminal (a pipe, a file) its bytes pass through
 * untouched: no raw mode, no escape. */
#ifndef KVMINI_CONSOLE_H
#define KVMINI_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"

/* Where the console waits: three calls on an event loop. In kvmini
 * they are kvmini_vm_watch(), kvmini_watch_pause() and
 * kvmini_vm_unwatch() on the VM; a test may use a bare loop. Callbacks
 * are level-triggered and run one at a time on the loop's thread;
 * unwatch must guarantee none runs after it returns, and accept NULL. */
typedef void console_ready_fn(void *ctx, int fd);
struct console_loop {
	void *(*watch)(void *loop, int fd, console_ready_fn *ready, void *ctx,
		       struct kvmini_error *err);
	void (*pause)(void *loop, void *watch, bool paused);
	void (*unwatch)(void *loop, void *watch);
	void *loop;
};

/* Offer input to the device. Returns how many of the n bytes it took
 * (0..n); the rest are offered again about 1 ms later, in order. */
typedef size_t console_deliver_fn(void *ctx, const uint8_t *bytes, size_t n);

/* The user typed Ctrl-A x. */
typedef void console_quit_fn(void *ctx);

struct console;

/* Start reading in_fd on the loop (not taken over: the caller still
 * closes it). deliver is required; quit may be NULL (Ctrl-A x then does
 * nothing). Both run on the loop's thread, never concurrently with each
 * other, and must not call console_close(). Returns NULL and fills err
 * on failure, with the terminal untouched. */
struct console *console_open(const struct console_loop *loop, int in_fd,
			     console_deliver_fn *deliver, console_quit_fn *quit, void *ctx,
			     struct kvmini_error *err);

/* True once in_fd reached end of file (or failed) and every byte read
 * before that has been delivered. */
bool console_input_done(const struct console *console);

/* Stop watching (a callback running now finishes first; none follows),
 * drop undelivered input, restore the terminal and free. Not from the
 * console's own callbacks. NULL is a no-op. */
void console_close(struct console *console);

#endif
