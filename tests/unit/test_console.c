/* Unit tests of the console front end: a pipe stands in for stdin (bytes
 * pass untouched), a pseudo-terminal for an interactive terminal (raw
 * mode, Ctrl-A escape, restoration on every way out), a bare event loop
 * for the VM's. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/console.h"
#include "event_loop.h"

/* ==== the console's event loop: a bare one per test (per process) ==== */

struct test_watch {
	struct event_handler *handler;
	console_ready_fn *ready;
	void *ctx;
};

static void test_ready(void *ctx, int fd, uint32_t events)
{
	struct test_watch *w = ctx;

	(void)events;
	w->ready(w->ctx, fd);
}

static void *test_watch(void *loop, int fd, console_ready_fn *ready, void *ctx,
			struct kvmini_error *err)
{
	struct test_watch *w = calloc(1, sizeof(*w));

	cr_assert_not_null(w);
	*w = (struct test_watch){ .ready = ready, .ctx = ctx };
	w->handler = event_loop_add(loop, fd, EPOLLIN, test_ready, w, err);
	if (!w->handler) {
		free(w);
		return NULL;
	}
	return w;
}

static void test_pause(void *loop, void *watch, bool paused)
{
	struct test_watch *w = watch;
	struct kvmini_error err;

	cr_assert_eq(event_loop_modify(loop, w->handler, paused ? 0 : EPOLLIN, &err), 0);
}

static void test_unwatch(void *loop, void *watch)
{
	struct test_watch *w = watch;

	if (!w)
		return;
	event_loop_remove(loop, w->handler);
	free(w);
}

static struct console_loop loop;

/* Started on first use, not for every test: a test that forks must not
 * have a thread running (a thread inside malloc at fork() leaves the
 * child's allocator locked for good). */
static const struct console_loop *test_loop(void)
{
	struct kvmini_error err;
	struct event_loop *l;

	if (loop.loop)
		return &loop;
	l = event_loop_create("console-test", &err);
	cr_assert_not_null(l, "%s", err.msg);
	cr_assert_eq(event_loop_start(l, &err), 0, "%s", err.msg);
	loop = (struct console_loop){ .watch = test_watch, .pause = test_pause,
				      .unwatch = test_unwatch, .loop = l };
	return &loop;
}

static void loop_end(void)
{
	event_loop_destroy(loop.loop);
	loop.loop = NULL;
}

TestSuite(console, .fini = loop_end);

#define SINK_MAX 65536
#define WAIT_MS 5000

/* A fake device: records what it accepts and how often quit was asked.
 * refuse_calls makes the first calls accept nothing; per_call caps each
 * call, like a 16-byte FIFO would (0 = no cap). */
struct sink {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	uint8_t bytes[SINK_MAX];
	size_t count;
	unsigned calls;
	unsigned refuse_calls;
	size_t per_call;
	bool refuse_all;
	unsigned quits;
	size_t count_at_quit;    /* bytes delivered when quit was last called */
};

static void sink_init(struct sink *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->changed, NULL);
}

static void sink_free(struct sink *s)
{
	pthread_cond_destroy(&s->changed);
	pthread_mutex_destroy(&s->lock);
}

static size_t sink_deliver(void *ctx, const uint8_t *bytes, size_t n)
{
	struct sink *s = ctx;
	size_t take = n;

	cr_assert_gt(n, 0, "never called with nothing to deliver");
	pthread_mutex_lock(&s->lock);
	s->calls++;
	if (s->refuse_all || s->calls <= s->refuse_calls)
		take = 0;
	if (s->per_call && take > s->per_call)
		take = s->per_call;
	if (take > SINK_MAX - s->count)
		take = SINK_MAX - s->count;
	memcpy(s->bytes + s->count, bytes, take);
	s->count += take;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	return take;
}

static void sink_quit(void *ctx)
{
	struct sink *s = ctx;

	pthread_mutex_lock(&s->lock);
	s->quits++;
	s->count_at_quit = s->count;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

static struct timespec deadline_in(long ms)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* Wait until the sink holds at least count bytes and quits calls. */
static bool sink_wait(struct sink *s, size_t count, unsigned quits)
{
	struct timespec deadline = deadline_in(WAIT_MS);
	bool ok = true;

	pthread_mutex_lock(&s->lock);
	while (ok && (s->count < count || s->quits < quits))
		ok = pthread_cond_timedwait(&s->changed, &s->lock, &deadline) == 0;
	pthread_mutex_unlock(&s->lock);
	return ok || (s->count >= count && s->quits >= quits);
}

/* Until the device has been offered input at least `calls` times. */
static bool sink_wait_calls(struct sink *s, unsigned calls)
{
	struct timespec deadline = deadline_in(WAIT_MS);
	bool ok = true;

	pthread_mutex_lock(&s->lock);
	while (ok && s->calls < calls)
		ok = pthread_cond_timedwait(&s->changed, &s->lock, &deadline) == 0;
	bool reached = s->calls >= calls;
	pthread_mutex_unlock(&s->lock);
	return reached;
}

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static bool wait_input_done(struct console *c)
{
	double give_up = now_ms() + WAIT_MS;

	while (!console_input_done(c)) {
		if (now_ms() > give_up)
			return false;
		usleep(1000);
	}
	return true;
}

/* Until the reader has taken every byte waiting on fd (FIONREAD 0). */
static bool wait_drained(int fd)
{
	double give_up = now_ms() + WAIT_MS;
	int waiting = 1;

	while (ioctl(fd, FIONREAD, &waiting) == 0 && waiting > 0) {
		if (now_ms() > give_up)
			return false;
		usleep(1000);
	}
	return waiting == 0;
}

static void write_all(int fd, const void *data, size_t n)
{
	const uint8_t *p = data;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		cr_assert_gt(w, 0, "write: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
}

static struct console *open_on(int fd, struct sink *s)
{
	struct kvmini_error err = { 0 };
	struct console *c = console_open(test_loop(), fd, sink_deliver, sink_quit, s, &err);

	cr_assert_not_null(c, "console_open: %s", err.msg);
	return c;
}

/* ==== pipes ==== */

Test(console, pipe_bytes_arrive_in_order, .timeout = 20)
{
	static uint8_t data[50000];
	struct sink s;
	int fds[2];

	sink_init(&s);
	cr_assert_eq(pipe(fds), 0);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + i / 256);
	struct console *c = open_on(fds[0], &s);

	write_all(fds[1], data, sizeof(data));
	cr_assert(sink_wait(&s, sizeof(data), 0));
	cr_expect_arr_eq(s.bytes, data, sizeof(data));
	cr_expect_not(console_input_done(c), "the writer is still open");
	console_close(c);
	close(fds[0]);
	close(fds[1]);
	sink_free(&s);
}

Test(console, pipe_eof_ends_input_cleanly, .timeout = 20)
{
	struct sink s;
	int fds[2];

	sink_init(&s);
	cr_assert_eq(pipe(fds), 0);
	struct console *c = open_on(fds[0], &s);

	write_all(fds[1], "last words", 10);
	close(fds[1]);
	cr_assert(wait_input_done(c));
	cr_expect_eq(s.count, 10);
	cr_expect_arr_eq(s.bytes, "last words", 10);
	/* Input is done: the reader has ended, so nothing can follow. */
	cr_expect_eq(s.calls, 1, "one delivery, nothing after EOF");
	console_close(c);
	close(fds[0]);
	sink_free(&s);
}

/* epoll refuses regular files: `kvmini run < file` is read on a timer. */
Test(console, regular_file_is_read_to_its_end, .timeout = 20)
{
	static uint8_t data[10000];
	struct sink s;
	char path[] = "/tmp/kvmini-console-XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	unlink(path);
	sink_init(&s);
	s.per_call = 16;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	write_all(fd, data, sizeof(data));
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	struct console *c = open_on(fd, &s);

	cr_assert(wait_input_done(c));
	cr_expect_eq(s.count, sizeof(data));
	cr_expect_arr_eq(s.bytes, data, sizeof(data));
	console_close(c);
	close(fd);
	sink_free(&s);
}

Test(console, pipe_passes_ctrl_a_through, .timeout = 20)
{
	struct sink s;
	int fds[2];

	sink_init(&s);
	cr_assert_eq(pipe(fds), 0);
	struct console *c = open_on(fds[0], &s);

	write_all(fds[1], "\x01x\x01\x01", 4);
	close(fds[1]);
	cr_assert(wait_input_done(c));
	cr_expect_eq(s.count, 4);
	cr_expect_arr_eq(s.bytes, "\x01x\x01\x01", 4);
	cr_expect_eq(s.quits, 0, "no escape on a pipe");
	console_close(c);
	close(fds[0]);
	sink_free(&s);
}

Test(console, full_device_loses_nothing, .timeout = 20)
{
	static uint8_t data[3000];
	struct sink s;
	int fds[2];

	sink_init(&s);
	s.refuse_calls = 5;
	s.per_call = 16;
	cr_assert_eq(pipe(fds), 0);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i ^ (i >> 8));
	struct console *c = open_on(fds[0], &s);

	write_all(fds[1], data, sizeof(data));
	close(fds[1]);
	cr_assert(wait_input_done(c));
	cr_expect_eq(s.count, sizeof(data));
	cr_expect_arr_eq(s.bytes, data, sizeof(data));
	cr_expect_geq(s.calls, 5 + sizeof(data) / 16, "refused bytes were offered again");
	console_close(c);
	close(fds[0]);
	sink_free(&s);
}

Test(console, retries_about_every_millisecond, .timeout = 20)
{
	struct sink s;
	int fds[2];

	sink_init(&s);
	s.refuse_calls = 20;
	cr_assert_eq(pipe(fds), 0);
	struct console *c = open_on(fds[0], &s);
	double start = now_ms();

	write_all(fds[1], "!", 1);
	cr_assert(sink_wait(&s, 1, 0));
	double took = now_ms() - start;
	/* A lower bound only: a loaded machine makes it later, never sooner.
	 * How late it may be is bounded by sink_wait() and the test's timeout. */
	cr_expect_geq(took, 15.0, "retries are paced, not a busy loop (%.1f ms)", took);
	cr_expect_eq(s.calls, 21, "20 refusals, then the byte");
	console_close(c);
	close(fds[0]);
	close(fds[1]);
	sink_free(&s);
}

Test(console, close_is_prompt_while_idle, .timeout = 20)
{
	struct sink s;
	int fds[2];

	sink_init(&s);
	cr_assert_eq(pipe(fds), 0);
	struct console *c = open_on(fds[0], &s);

	double start = now_ms();
	console_close(c);
	cr_expect_lt(now_ms() - start, (double)WAIT_MS, "close does not wait for input");
	cr_expect_eq(s.calls, 0);
	close(fds[0]);
	close(fds[1]);
	sink_free(&s);
}

Test(console, close_is_prompt_while_device_refuses, .timeout = 20)
{
	struct sink s;
	int fds[2];

	sink_init(&s);
	s.refuse_all = true;
	cr_assert_eq(pipe(fds), 0);
	struct console *c = open_on(fds[0], &s);

	write_all(fds[1], "stuck", 5);
	cr_assert(sink_wait_calls(&s, 2), "the device is asked again");
	double start = now_ms();
	console_close(c);
	cr_expect_lt(now_ms() - start, (double)WAIT_MS, "close does not wait for the device");
	close(fds[0]);
	close(fds[1]);
	sink_free(&s);
}

Test(console, rejects_bad_arguments)
{
	struct kvmini_error err = { 0 };
	struct sink s;

	sink_init(&s);
	cr_expect_null(console_open(test_loop(), -1, sink_deliver, sink_quit, &s, &err));
	cr_expect_eq(err.code, KVMINI_E_USAGE);
	cr_expect_null(console_open(test_loop(), 0, NULL, sink_quit, &s, &err));
	cr_expect_null(console_open(NULL, 0, sink_deliver, sink_quit, &s, &err));
	console_close(NULL);
	sink_free(&s);
}

/* ==== pseudo-terminals ==== */

struct pty {
	int master, slave;
	struct termios original;
};

static void pty_open(struct pty *p)
{
	p->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	cr_assert_geq(p->master, 0, "posix_openpt: %s", strerror(errno));
	cr_assert_eq(grantpt(p->master), 0);
	cr_assert_eq(unlockpt(p->master), 0);
	p->slave = open(ptsname(p->master), O_RDWR | O_NOCTTY | O_CLOEXEC);
	cr_assert_geq(p->slave, 0, "open pty slave: %s", strerror(errno));
	cr_assert_eq(tcgetattr(p->slave, &p->original), 0);
	cr_assert(p->original.c_lflag & ICANON, "a fresh pty is cooked");
}

static void pty_close(struct pty *p)
{
	close(p->slave);
	close(p->master);
}

static bool same_termios(const struct termios *a, const struct termios *b)
{
	return a->c_iflag == b->c_iflag && a->c_oflag == b->c_oflag &&
	       a->c_cflag == b->c_cflag && a->c_lflag == b->c_lflag &&
	       memcmp(a->c_cc, b->c_cc, sizeof(a->c_cc)) == 0;
}

static void expect_raw(int fd)
{
	struct termios t;

	cr_assert_eq(tcgetattr(fd, &t), 0);
	cr_expect_eq(t.c_lflag & (ICANON | ECHO | ISIG | IEXTEN), 0);
	cr_expect_eq(t.c_iflag & (ICRNL | IXON | ISTRIP | INLCR | IGNCR), 0);
	cr_expect(t.c_oflag & OPOST, "output processing kept");
	cr_expect(t.c_oflag & ONLCR, "\\n still shows as a new line");
	cr_expect_eq(t.c_cflag & CSIZE, CS8);
	cr_expect_eq(t.c_cc[VMIN], 1);
}

static void expect_restored(const struct pty *p)
{
	struct termios now;

	cr_assert_eq(tcgetattr(p->slave, &now), 0);
	cr_expect(same_termios(&now, &p->original), "terminal settings restored");
}

Test(console, tty_raw_while_open_restored_after_close, .timeout = 20)
{
	struct sink s;
	struct pty p;

	sink_init(&s);
	pty_open(&p);
	struct console *c = open_on(p.slave, &s);

	expect_raw(p.slave);
	write_all(p.master, "a\rb\x03", 4);
	cr_assert(sink_wait(&s, 4, 0));
	cr_expect_arr_eq(s.bytes, "a\rb\x03", 4, "CR and Ctrl-C reach the guest as is");
	console_close(c);
	expect_restored(&p);
	pty_close(&p);
	sink_free(&s);
}

Test(console, tty_ctrl_a_x_quits, .timeout = 20)
{
	struct sink s;
	struct pty p;

	sink_init(&s);
	pty_open(&p);
	struct console *c = open_on(p.slave, &s);

	write_all(p.master, "ab\x01x", 4);
	cr_assert(sink_wait(&s, 2, 1));
	cr_expect_eq(s.count, 2);
	cr_expect_arr_eq(s.bytes, "ab", 2);
	cr_expect_eq(s.count_at_quit, 2, "bytes typed before the escape go first");
	write_all(p.master, "\x01X", 2);
	cr_assert(sink_wait(&s, 2, 2));
	console_close(c);
	cr_expect_eq(s.count, 2, "the escape itself never reaches the guest");
	pty_close(&p);
	sink_free(&s);
}

Test(console, tty_ctrl_a_ctrl_a_is_literal, .timeout = 20)
{
	struct sink s;
	struct pty p;

	sink_init(&s);
	pty_open(&p);
	struct console *c = open_on(p.slave, &s);

	/* Split the escape across two writes: the state survives reads. */
	write_all(p.master, "\x01", 1);
	cr_assert(wait_drained(p.slave), "the reader took the lone Ctrl-A");
	write_all(p.master, "\x01z\x01q", 4);
	cr_assert(sink_wait(&s, 4, 0));
	cr_expect_eq(s.count, 4);
	cr_expect_arr_eq(s.bytes, "\x01z\x01q", 4, "other escapes pass both bytes");
	cr_expect_eq(s.quits, 0);
	console_close(c);
	pty_close(&p);
	sink_free(&s);
}

Test(console, tty_quit_may_be_null, .timeout = 20)
{
	struct kvmini_error err = { 0 };
	struct sink s;
	struct pty p;

	sink_init(&s);
	pty_open(&p);
	struct console *c = console_open(test_loop(), p.slave, sink_deliver, NULL, &s, &err);

	cr_assert_not_null(c, "%s", err.msg);
	write_all(p.master, "\x01xk", 3);
	cr_assert(sink_wait(&s, 1, 0));
	cr_expect_eq(s.bytes[0], 'k');
	console_close(c);
	pty_close(&p);
	sink_free(&s);
}

Test(console, only_one_console_owns_the_terminal, .timeout = 20)
{
	struct kvmini_error err = { 0 };
	struct sink s;
	struct pty p, q;

	sink_init(&s);
	pty_open(&p);
	pty_open(&q);
	struct console *c = open_on(p.slave, &s);

	cr_expect_null(console_open(test_loop(), q.slave, sink_deliver, sink_quit, &s, &err));
	cr_expect_eq(err.code, KVMINI_E_USAGE);
	struct termios t;
	cr_assert_eq(tcgetattr(q.slave, &t), 0);
	cr_expect(same_termios(&t, &q.original), "the refused terminal is untouched");
	console_close(c);
	c = open_on(q.slave, &s);
	expect_raw(q.slave);
	console_close(c);
	expect_restored(&p);
	expect_restored(&q);
	pty_close(&p);
	pty_close(&q);
	sink_free(&s);
}

/* Run body in a child process holding a console on the pty; returns the
 * child's wait status. The child never returns into Criterion. */
static int in_child(struct pty *p, void (*body)(struct pty *p))
{
	pid_t pid = fork();
	int status;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		body(p);
		_exit(99);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static size_t discard(void *ctx, const uint8_t *bytes, size_t n)
{
	(void)ctx;
	(void)bytes;
	return n;
}

static struct console *child_console(struct pty *p)
{
	struct console *c = console_open(test_loop(), p->slave, discard, NULL, NULL, NULL);

	if (!c)
		_exit(98);
	return c;
}

static void die_by_sigterm(struct pty *p)
{
	child_console(p);
	raise(SIGTERM);
	_exit(97);
}

static void die_by_sighup_from_outside(struct pty *p)
{
	/* Under nohup SIGHUP arrives ignored, and the console rightly leaves
	 * an ignored signal alone: give it the default that would kill. */
	signal(SIGHUP, SIG_DFL);
	child_console(p);
	kill(getpid(), SIGHUP);
	pause();
	_exit(97);
}

static void leave_by_exit(struct pty *p)
{
	child_console(p);
	exit(0);
}

Test(console, tty_restored_when_sigterm_kills, .timeout = 20)
{
	struct pty p;

	pty_open(&p);
	int status = in_child(&p, die_by_sigterm);
	cr_expect(WIFSIGNALED(status), "status %#x", status);
	cr_expect_eq(WTERMSIG(status), SIGTERM, "dies of the same signal");
	expect_restored(&p);
	pty_close(&p);
}

Test(console, tty_restored_when_sighup_kills, .timeout = 20)
{
	struct pty p;

	pty_open(&p);
	int status = in_child(&p, die_by_sighup_from_outside);
	cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGHUP, "status %#x", status);
	expect_restored(&p);
	pty_close(&p);
}

Test(console, tty_restored_by_exit)
{
	struct pty p;

	pty_open(&p);
	int status = in_child(&p, leave_by_exit);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
	expect_restored(&p);
	pty_close(&p);
}

static void count_signal(int sig, siginfo_t *info, void *uctx)
{
	(void)sig;
	(void)info;
	(void)uctx;
}

Test(console, application_handlers_are_kept, .timeout = 20)
{
	struct sigaction mine = { .sa_sigaction = count_signal, .sa_flags = SA_SIGINFO };
	struct sigaction seen;
	struct sink s;
	struct pty p;

	sink_init(&s);
	pty_open(&p);
	sigemptyset(&mine.sa_mask);
	cr_assert_eq(sigaction(SIGHUP, &mine, NULL), 0);
	signal(SIGPIPE, SIG_IGN);
	struct console *c = open_on(p.slave, &s);

	raise(SIGHUP);   /* chained to ours: the process lives on, still raw */
	expect_raw(p.slave);
	cr_assert_eq(sigaction(SIGPIPE, NULL, &seen), 0);
	cr_expect_eq(seen.sa_handler, SIG_IGN, "an ignored signal is left alone");
	console_close(c);
	expect_restored(&p);
	cr_assert_eq(sigaction(SIGHUP, NULL, &seen), 0);
	cr_expect((seen.sa_flags & SA_SIGINFO) && seen.sa_sigaction == count_signal,
		  "the application's handler is back");
	pty_close(&p);
	sink_free(&s);
}
