/* The serial console's front end: input read on the VM's event loop,
 * raw terminal mode and the Ctrl-A escape. See console.h for the
 * contract. */
#include "cli/console.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <termios.h>
#include <unistd.h>

/* Input read but not yet taken by the device. Large enough that a user
 * who types while the guest ignores its UART can still reach Ctrl-A x. */
#define CONSOLE_BUFFER 4096

/* How long to wait before offering refused bytes to the device again. */
#define CONSOLE_RETRY_NS 1000000L

#define CONSOLE_ESCAPE 0x01   /* Ctrl-A */

struct console {
	struct console_loop loop;
	int in_fd;
	int retry_fd;             /* timerfd: offer refused bytes again */
	void *in_watch, *retry_watch;
	bool escapes;             /* interpret Ctrl-A (in_fd is a terminal) */
	bool in_file;             /* a regular file: epoll refuses it; read on the timer */
	bool owns_terminal;
	console_deliver_fn *deliver;
	console_quit_fn *quit;
	void *ctx;
	atomic_bool input_done;

	/* Owned by the loop's callbacks (one at a time). */
	bool at_eof;
	bool in_paused;           /* in_fd not watched: no room for input */
	bool saw_escape;          /* the last byte read was a lone Ctrl-A */
	size_t npending;
	uint8_t pending[CONSOLE_BUFFER];
};

/* ==== the terminal ====
 *
 * The settings to restore are global because the signal handlers and the
 * atexit hook that restore them receive no context pointer. Writes happen
 * only in console_open()/console_close(), under terminal_lock, before
 * the handlers are installed or after they are removed; `raw` is the one
 * field a handler changes. */

static const int fatal_signals[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGABRT };
#define NFATAL (sizeof(fatal_signals) / sizeof(fatal_signals[0]))

static struct {
	volatile sig_atomic_t raw;   /* the terminal is in raw mode now */
	bool owned;                  /* a console holds the terminal */
	int fd;
	struct termios saved;
	bool handler_installed[NFATAL];
	struct sigaction previous[NFATAL];
} terminal;

static pthread_mutex_t terminal_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atexit_once = PTHREAD_ONCE_INIT;

/* Async-signal-safe. */
static void restore_terminal(void)
{
	if (!terminal.raw)
		return;
	terminal.raw = 0;
	tcsetattr(terminal.fd, TCSANOW, &terminal.saved);
}

static const struct sigaction *previous_action(int sig)
{
	for (size_t i = 0; i < NFATAL; i++)
		if (fatal_signals[i] == sig)
			return &terminal.previous[i];
	return NULL;
}

/* A handler the application installed keeps the signal: it is expected
 * to wind down through console_close() or exit(). Otherwise the signal
 * would kill the process, so put the terminal back first, then die of
 * the same signal once this handler returns. */
static void on_fatal_signal(int sig, siginfo_t *info, void *uctx)
{
	const struct sigaction *prev = previous_action(sig);
	int saved_errno = errno;

	if (prev && (prev->sa_flags & SA_SIGINFO)) {
		prev->sa_sigaction(sig, info, uctx);
	} else if (prev && prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
		prev->sa_handler(sig);
	} else {
		struct sigaction dfl = { .sa_handler = SIG_DFL };

		restore_terminal();
		sigemptyset(&dfl.sa_mask);
		sigaction(sig, &dfl, NULL);
		raise(sig);   /* blocked while we run; delivered on return */
	}
	errno = saved_errno;
}

static void install_signal_handlers(void)
{
	struct sigaction action = { .sa_sigaction = on_fatal_signal,
				    .sa_flags = SA_SIGINFO | SA_RESTART };

	sigfillset(&action.sa_mask);
	for (size_t i = 0; i < NFATAL; i++) {
		struct sigaction *prev = &terminal.previous[i];

		terminal.handler_installed[i] = false;
		if (sigaction(fatal_signals[i], NULL, prev) != 0)
			continue;
		/* An ignored signal cannot kill the process: leave it be. */
		if (!(prev->sa_flags & SA_SIGINFO) && prev->sa_handler == SIG_IGN)
			continue;
		terminal.handler_installed[i] =
			sigaction(fatal_signals[i], &action, NULL) == 0;
	}
}

static void remove_signal_handlers(void)
{
	for (size_t i = 0; i < NFATAL; i++) {
		struct sigaction current;

		if (!terminal.handler_installed[i])
			continue;
		terminal.handler_installed[i] = false;
		/* Someone may have replaced ours since; then theirs stays. */
		if (sigaction(fatal_signals[i], NULL, &current) == 0 &&
		    (current.sa_flags & SA_SIGINFO) &&
		    current.sa_sigaction == on_fatal_signal)
			sigaction(fatal_signals[i], &terminal.previous[i], NULL);
	}
}

static void register_atexit(void)
{
	/* If registration fails, close and the signal handlers still
	 * restore the terminal; only a bare exit() would not. */
	(void)atexit(restore_terminal);
}

/* Raw input for a serial line: every byte reaches the guest unchanged
 * (no line editing, no echo, Ctrl-C/Ctrl-Z/Ctrl-S are data, CR is not
 * turned into LF). Output processing stays on: bare-metal guests often
 * print a lone "\n", which ONLCR still turns into a new line, and a
 * guest's "\r\n" prints the same either way. */
static void make_raw(struct termios *t)
{
	cfmakeraw(t);
	t->c_oflag |= OPOST;
	t->c_cc[VMIN] = 1;
	t->c_cc[VTIME] = 0;
}

static int take_terminal_locked(int fd, struct kvmini_error *err)
{
	struct termios raw;

	if (terminal.owned)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "the terminal is already used by another console");
	if (tcgetattr(fd, &terminal.saved) != 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno,
					 "cannot read the terminal settings");
	terminal.fd = fd;
	pthread_once(&atexit_once, register_atexit);
	install_signal_handlers();
	/* Marked raw before the switch: a signal arriving in between then
	 * restores settings that are still current, which is harmless. */
	terminal.raw = 1;
	raw = terminal.saved;
	make_raw(&raw);
	if (tcsetattr(fd, TCSANOW, &raw) != 0) {
		int saved_errno = errno;

		restore_terminal();
		remove_signal_handlers();
		return kvmini_fail_errno(err, KVMINI_E_HOST, saved_errno,
					 "cannot put the terminal in raw mode");
	}
	terminal.owned = true;
	return 0;
}

static int take_terminal(int fd, struct kvmini_error *err)
{
	pthread_mutex_lock(&terminal_lock);
	int rc = take_terminal_locked(fd, err);
	pthread_mutex_unlock(&terminal_lock);
	return rc;
}

static void release_terminal(void)
{
	pthread_mutex_lock(&terminal_lock);
	restore_terminal();
	remove_signal_handlers();
	terminal.owned = false;
	pthread_mutex_unlock(&terminal_lock);
}

/* ==== input, on the event loop ==== */

static void queue_byte(struct console *c, uint8_t byte)
{
	c->pending[c->npending++] = byte;
}

static void deliver_pending(struct console *c)
{
	if (c->npending == 0)
		return;
	size_t accepted = c->deliver(c->ctx, c->pending, c->npending);

	if (accepted > c->npending)
		accepted = c->npending;
	memmove(c->pending, c->pending + accepted, c->npending - accepted);
	c->npending -= accepted;
}

static void request_quit(struct console *c)
{
	if (!c->quit)
		return;
	/* What was typed before the escape goes to the guest first (one
	 * attempt: a full device must not delay quitting). */
	deliver_pending(c);
	c->quit(c->ctx);
}

/* The Ctrl-A state machine. Each input byte queues at most two bytes,
 * and only the byte after a held Ctrl-A can queue two. */
static void filter_byte(struct console *c, uint8_t byte)
{
	if (!c->saw_escape) {
		if (byte == CONSOLE_ESCAPE)
			c->saw_escape = true;
		else
			queue_byte(c, byte);
		return;
	}
	c->saw_escape = false;
	if (byte == 'x' || byte == 'X') {
		request_quit(c);
	} else if (byte == CONSOLE_ESCAPE) {
		queue_byte(c, CONSOLE_ESCAPE);
	} else {
		queue_byte(c, CONSOLE_ESCAPE);
		queue_byte(c, byte);
	}
}

/* An fd at end of file stays readable: stop watching it for good. */
static void end_of_input(struct console *c)
{
	if (c->at_eof)
		return;
	c->at_eof = true;
	c->loop.unwatch(c->loop.loop, c->in_watch);
	c->in_watch = NULL;
	/* A Ctrl-A with nothing after it is just a byte. */
	if (c->saw_escape && c->npending < CONSOLE_BUFFER) {
		c->saw_escape = false;
		queue_byte(c, CONSOLE_ESCAPE);
	}
}

/* Room to read into: one slot is kept for a Ctrl-A held from the
 * previous read, which may come out as two bytes. */
static size_t read_room(const struct console *c)
{
	size_t room = CONSOLE_BUFFER - c->npending;

	return room > 1 ? room - 1 : 0;
}

/* After every read or retry: input waits in in_fd (not watched) while
 * there is no room for it; refused bytes are offered again by the
 * retry timer (which also reads a regular file, always "ready"); at end
 * of input with nothing left, input is done. */
static void settle(struct console *c)
{
	bool want_input = !c->at_eof && read_room(c) > 0;
	if (c->in_watch && want_input == c->in_paused) {
		c->in_paused = !want_input;
		c->loop.pause(c->loop.loop, c->in_watch, c->in_paused);
	}
	bool again = c->npending > 0 || (c->in_file && want_input);
	struct itimerspec retry = { .it_value.tv_nsec = again ? CONSOLE_RETRY_NS : 0 };
	timerfd_settime(c->retry_fd, 0, &retry, NULL);
	if (c->at_eof && c->npending == 0)
		atomic_store(&c->input_done, true);
}

static void read_input(struct console *c)
{
	uint8_t chunk[CONSOLE_BUFFER];

	if (read_room(c) == 0)
		return;   /* a read of 0 bytes would look like end of file */
	ssize_t n = read(c->in_fd, chunk, read_room(c));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* End of file, or an error such as EIO on a hung-up
		 * terminal: either way no more input will come. */
		end_of_input(c);
	}
	for (ssize_t i = 0; i < n; i++) {
		if (c->escapes)
			filter_byte(c, chunk[i]);
		else
			queue_byte(c, chunk[i]);
	}
}

static void on_input(void *ctx, int fd)
{
	struct console *c = ctx;

	(void)fd;
	read_input(c);
	deliver_pending(c);
	settle(c);
}

static void on_retry(void *ctx, int fd)
{
	struct console *c = ctx;
	uint64_t expirations;

	if (read(fd, &expirations, sizeof(expirations)) != sizeof(expirations))
		return;   /* re-armed meanwhile */
	if (c->in_file && !c->at_eof && read_room(c) > 0)
		read_input(c);
	deliver_pending(c);
	settle(c);
}

/* ==== public API ==== */

static void console_free(struct console *c)
{
	c->loop.unwatch(c->loop.loop, c->in_watch);
	c->loop.unwatch(c->loop.loop, c->retry_watch);
	if (c->retry_fd >= 0)
		close(c->retry_fd);
	free(c);
}

static struct console *console_alloc(const struct console_loop *loop, int in_fd,
				     console_deliver_fn *deliver, console_quit_fn *quit,
				     void *ctx, struct kvmini_error *err)
{
	struct console *c = calloc(1, sizeof(*c));

	if (!c) {
		kvmini_fail(err, KVMINI_E_HOST, "console: out of memory");
		return NULL;
	}
	c->loop = *loop;
	c->in_fd = in_fd;
	c->deliver = deliver;
	c->quit = quit;
	c->ctx = ctx;
	atomic_init(&c->input_done, false);
	c->retry_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (c->retry_fd < 0) {
		kvmini_fail_errno(err, KVMINI_E_HOST, errno, "console: timerfd_create");
		free(c);
		return NULL;
	}
	return c;
}

/* Input is watched last: from then on callbacks may run. A regular
 * file cannot be watched (epoll refuses it) and never blocks: the retry
 * timer reads it, starting now. */
static int watch_input(struct console *c, struct kvmini_error *err)
{
	struct stat st;

	c->in_file = fstat(c->in_fd, &st) == 0 && S_ISREG(st.st_mode);
	c->retry_watch = c->loop.watch(c->loop.loop, c->retry_fd, on_retry, c, err);
	if (!c->retry_watch)
		return -1;
	if (c->in_file) {
		struct itimerspec now = { .it_value.tv_nsec = 1 };
		timerfd_settime(c->retry_fd, 0, &now, NULL);
		return 0;
	}
	c->in_watch = c->loop.watch(c->loop.loop, c->in_fd, on_input, c, err);
	return c->in_watch ? 0 : -1;
}

struct console *console_open(const struct console_loop *loop, int in_fd,
			     console_deliver_fn *deliver, console_quit_fn *quit, void *ctx,
			     struct kvmini_error *err)
{
	if (!loop || in_fd < 0 || !deliver) {
		kvmini_fail(err, KVMINI_E_USAGE, "console: no loop, input fd or deliver callback");
		return NULL;
	}
	struct console *c = console_alloc(loop, in_fd, deliver, quit, ctx, err);

	if (!c)
		return NULL;
	c->escapes = isatty(in_fd);
	if (c->escapes && take_terminal(in_fd, err) < 0) {
		console_free(c);
		return NULL;
	}
	c->owns_terminal = c->escapes;
	if (watch_input(c, err) < 0) {
		if (c->owns_terminal)
			release_terminal();
		console_free(c);
		return NULL;
	}
	return c;
}

bool console_input_done(const struct console *c)
{
	return atomic_load(&c->input_done);
}

void console_close(struct console *c)
{
	if (!c)
		return;
	bool owns_terminal = c->owns_terminal;
	console_free(c);   /* no callback runs once unwatched */
	if (owns_terminal)
		release_terminal();
}
