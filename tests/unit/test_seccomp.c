/* The per-role seccomp filters without KVM. Each case forks a child; in
 * it a thread named as kvmini names that role's thread installs the
 * role's filter, makes the calls the role needs (each must pass the
 * filter: a call the host refuses, like KVM_RUN on /dev/null, still
 * proves it got through), then one forbidden call. The child must die
 * by SIGSYS with the line naming the thread, its role and the call;
 * meanwhile the child's unfiltered main thread reads the thread's
 * Seccomp and NoNewPrivs lines in /proc. */
#include <criterion/criterion.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "seccomp/seccomp.h"
#include "thread_name.h"

/* Descriptors made before the filter, as kvmini makes its own. */
struct fds {
	int null, event, timer, epoll, listener, dir;
	int image;   /* a disk image, opened at set-up */
};

struct probe {
	enum seccomp_role role;
	enum kvmini_seccomp mode;
	const char *thread;
	void (*allowed)(const struct fds *);
	void (*forbidden)(const struct fds *);
	struct fds fds;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int stage;             /* 1 installed, 2 status read */
	pid_t tid;
	int out;               /* the report pipe, written by both threads */
	char error[600];
};

static void set_stage(struct probe *p, int stage)
{
	pthread_mutex_lock(&p->lock);
	p->stage = stage;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
}

static void wait_stage(struct probe *p, int stage)
{
	pthread_mutex_lock(&p->lock);
	while (p->stage < stage)
		pthread_cond_wait(&p->changed, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

/* ---- calls every role makes ---- */

static void allowed_common(const struct fds *f)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	void *big = malloc(4 << 20);   /* mmap'ed by malloc */
	memset(big, 1, 4 << 20);
	free(big);
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page != MAP_FAILED) {
		mprotect(page, 4096, PROT_READ);
		madvise(page, 4096, MADV_DONTNEED);
		munmap(page, 4096);
	}
	char b;
	getrandom(&b, 1, GRND_NONBLOCK);
	sched_yield();
	pthread_kill(pthread_self(), 0);
	if (write(f->null, "x", 1) != 1)
		abort();
}

static void allowed_vcpu(const struct fds *f)
{
	allowed_common(f);
	if (ioctl(f->null, KVM_RUN, 0) == 0 || ioctl(f->null, KVM_GET_REGS, NULL) == 0 ||
	    ioctl(f->null, KVM_IRQ_LINE, NULL) == 0 || ioctl(f->null, KVM_SET_GSI_ROUTING, NULL) == 0)
		abort();   /* /dev/null is no vCPU: refused by the kernel, not the filter */
	struct pollfd pfd = { .fd = f->null, .events = POLLOUT };
	poll(&pfd, 1, 0);
	struct itimerspec its = { .it_value = { .tv_sec = 100 } };
	timerfd_settime(f->timer, 0, &its, NULL);
	uint64_t v;
	if (read(f->event, &v, sizeof(v)) >= 0 || errno != EAGAIN)
		abort();
	struct epoll_event ev = { .events = EPOLLIN };
	epoll_ctl(f->epoll, EPOLL_CTL_ADD, f->event, &ev);
}

/* An event loop's own calls (the VM's and the control API's). */
static void allowed_loop_io(const struct fds *f)
{
	allowed_common(f);
	struct epoll_event ev;
	epoll_wait(f->epoll, &ev, 1, 0);
	struct itimerspec its = { .it_value = { .tv_sec = 100 } };
	timerfd_settime(f->timer, 0, &its, NULL);
	uint64_t one = 1;
	if (write(f->event, &one, sizeof(one)) != sizeof(one) ||
	    read(f->event, &one, sizeof(one)) != sizeof(one))
		abort();
}

/* The VM's event loop also raises interrupts (timers, doorbells). */
static void allowed_loop(const struct fds *f)
{
	allowed_loop_io(f);
	if (ioctl(f->null, KVM_IRQ_LINE, NULL) == 0 || ioctl(f->null, KVM_IRQFD, NULL) == 0)
		abort();
}

/* PUT /snapshot/create's files, as src/machine_snapshot.c writes them. */
static void api_files(void)
{
	char path[64], renamed[72];
	snprintf(path, sizeof(path), "/tmp/kvmini-seccomp-%d.new", (int)getpid());
	snprintf(renamed, sizeof(renamed), "%s.snap", path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || pwrite(fd, "x", 1, 4096) != 1 || ftruncate(fd, 8192) < 0 ||
	    fdatasync(fd) < 0 || close(fd) < 0 || rename(path, renamed) < 0 || unlink(renamed) < 0)
		abort();
}

static void allowed_api(const struct fds *f)
{
	allowed_loop_io(f);
	api_files();
	if (ioctl(f->null, KVM_GET_LAPIC, NULL) == 0 || ioctl(f->null, KVM_GET_CLOCK, NULL) == 0)
		abort();
	if (accept4(f->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC) >= 0 || errno != EAGAIN)
		abort();
	fcntl(f->listener, F_GETFL);
}

static void allowed_gdb(const struct fds *f)
{
	allowed_common(f);
	struct pollfd pfd = { .fd = f->listener, .events = POLLIN };
	poll(&pfd, 1, 0);
	if (ioctl(f->null, KVM_GET_REGS, NULL) == 0 || ioctl(f->null, KVM_SET_GUEST_DEBUG, NULL) == 0)
		abort();
	int one = 1;
	setsockopt(f->listener, SOL_SOCKET, SO_SNDBUF, &one, sizeof(one));
}

/* libvncserver's loop: select on the listener, a viewer accepted,
 * made non-blocking, TCP_NODELAY, its address, reads and writes; the
 * framebuffer's dirty log and a key's interrupt line. */
static void allowed_vnc(const struct fds *f)
{
	allowed_common(f);
	fd_set in;
	FD_ZERO(&in);
	FD_SET(f->listener, &in);
	struct timeval zero = { 0, 0 };
	select(f->listener + 1, &in, NULL, NULL, &zero);
	if (accept(f->listener, NULL, NULL) >= 0 || errno != EAGAIN)
		abort();
	fcntl(f->listener, F_SETFL, fcntl(f->listener, F_GETFL) | O_NONBLOCK);
	int one = 1;
	setsockopt(f->listener, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	getpeername(f->listener, (struct sockaddr *)&peer, &len);
	char b;
	recv(f->listener, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	struct rlimit lim;
	getrlimit(RLIMIT_NOFILE, &lim);
	if (ioctl(f->null, KVM_GET_DIRTY_LOG, NULL) == 0 || ioctl(f->null, KVM_IRQ_LINE, NULL) == 0)
		abort();
}

static void allowed_exec_calls(const struct fds *f)
{
	allowed_common(f);
	struct open_how how = { .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
				.resolve = RESOLVE_BENEATH };
	long fd = syscall(SYS_openat2, f->dir, ".", &how, sizeof(how));
	if (fd < 0)
		abort();
	char buf[4096];
	syscall(SYS_getdents64, (int)fd, buf, sizeof(buf));
	struct stat st;
	fstat((int)fd, &st);
	close((int)fd);
	if (ioctl(f->null, TCGETS, buf) == 0 || ioctl(f->null, KVM_RUN, 0) == 0)
		abort();
}

static void allowed_exec(const struct fds *f)
{
	allowed_exec_calls(f);
	/* No plain open: refused, not run (glibc's malloc tries one). */
	if (open("/etc/passwd", O_RDONLY | O_CLOEXEC) >= 0 || errno != EACCES)
		abort();
}

/* virtio-blk's I/O threads: requests on the image's fd. */
static void allowed_blkio(const struct fds *f)
{
	allowed_common(f);
	char sector[512] = "sector";
	struct iovec iov = { sector, sizeof(sector) };
	if (pwritev(f->image, &iov, 1, 4096) != sizeof(sector) ||
	    preadv(f->image, &iov, 1, 4096) != sizeof(sector) || fdatasync(f->image) < 0 ||
	    fallocate(f->image, FALLOC_FL_KEEP_SIZE, 8192, 4096) < 0)
		abort();
}

static void *nothing(void *arg)
{
	return arg;
}

static void spawn_thread(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, nothing, NULL) != 0 || pthread_join(t, NULL) != 0)
		abort();
}

/* vm_run()'s wait for a stop: ppoll on its eventfd (and a signalfd),
 * then a read of what woke it. */
static void allowed_runner_wait(const struct fds *f)
{
	struct pollfd pfd = { .fd = f->event, .events = POLLIN };
	struct timespec zero = { 0, 0 };
	uint64_t v;
	if (ppoll(&pfd, 1, &zero, NULL) != 0 || read(f->event, &v, sizeof(v)) >= 0 ||
	    errno != EAGAIN)
		abort();
}

static void allowed_exec_main(const struct fds *f)
{
	allowed_exec_calls(f);
	allowed_runner_wait(f);
	spawn_thread();
}

/* A thread the main thread starts after its filter runs under it, and
 * installs its own on top, as kvmini's vCPUs and event loop do. */
static void *vcpu_under_main(void *arg)
{
	struct kvmini_error err;
	thread_name_set("vcpu0");
	if (seccomp_role_install(SECCOMP_ROLE_VCPU, KVMINI_SECCOMP_KILL, &err) < 0)
		abort();
	allowed_vcpu(arg);
	return NULL;
}

static void allowed_main(const struct fds *f)
{
	allowed_vcpu(f);
	allowed_loop(f);
	allowed_runner_wait(f);
	spawn_thread();
	pthread_t t;
	if (pthread_create(&t, NULL, vcpu_under_main, (void *)f) != 0 ||
	    pthread_join(t, NULL) != 0)
		abort();
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		abort();
	close(fd);
	close(eventfd(0, EFD_CLOEXEC));
	close(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC));
	struct sigaction sa = { .sa_handler = SIG_IGN };
	sigaction(SIGUSR1, &sa, NULL);
	if (ioctl(f->null, KVM_CREATE_VM, 0) == 0 || ioctl(f->null, TCGETS, &sa) == 0)
		abort();
}

/* ---- forbidden calls ---- */

static void forbid_socket(const struct fds *f)
{
	(void)f;
	socket(AF_INET, SOCK_STREAM, 0);
}

static void forbid_vcpu_run(const struct fds *f)
{
	ioctl(f->null, KVM_RUN, 0);
}

static void forbid_exec_mapping(const struct fds *f)
{
	(void)f;
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void forbid_vm_creation(const struct fds *f)
{
	ioctl(f->null, KVM_CREATE_VM, 0);
}

static void forbid_sigsys_handler(const struct fds *f)
{
	(void)f;
	struct sigaction sa = { .sa_handler = SIG_IGN };
	sigaction(SIGSYS, &sa, NULL);
}

static void forbid_signal_elsewhere(const struct fds *f)
{
	(void)f;
	syscall(SYS_tgkill, 1, 1, 0);   /* init: never this process */
}

/* ---- the child ---- */

static void report(int fd, const char *line)
{
	if (write(fd, line, strlen(line)) < 0)
		abort();
}

static void *probe_thread(void *arg)
{
	struct probe *p = arg;
	struct kvmini_error err;
	thread_name_set(p->thread);
	p->tid = (pid_t)syscall(SYS_gettid);
	if (seccomp_role_install(p->role, p->mode, &err) < 0) {
		snprintf(p->error, sizeof(p->error), "install: %s", err.msg);
		set_stage(p, 99);
		return NULL;
	}
	set_stage(p, 1);
	wait_stage(p, 2);
	p->allowed(&p->fds);
	report(p->out, "allowed:ok\n");   /* write(2): kvmini's threads never use stdio on fds */
	p->forbidden(&p->fds);
	report(p->out, "forbidden:survived\n");
	return NULL;
}

static void open_fds(struct fds *f)
{
	f->null = open("/dev/null", O_RDWR | O_CLOEXEC);
	f->event = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	f->epoll = epoll_create1(EPOLL_CLOEXEC);
	f->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };   /* autobind: abstract name */
	bind(f->listener, (struct sockaddr *)&sa, sizeof(sa_family_t));
	listen(f->listener, 1);
	f->dir = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	char path[64];
	snprintf(path, sizeof(path), "/tmp/kvmini-seccomp-image-%d", (int)getpid());
	f->image = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	unlink(path);
}

/* "Seccomp:\t2" and "NoNewPrivs:\t1" for the probe's thread. */
static void check_status(struct probe *p, int out)
{
	char path[64], text[4096] = "";
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)p->tid);
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
	text[n] = '\0';
	if (f)
		fclose(f);
	bool filtered = strstr(text, "\nSeccomp:\t2\n") && strstr(text, "\nNoNewPrivs:\t1\n");
	dprintf(out, "status:%s\n", filtered ? "filtered" : "NOT FILTERED");
}

static void run_child(struct probe *p, int out)
{
	p->out = out;
	open_fds(&p->fds);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->changed, NULL);
	pthread_t t;
	pthread_create(&t, NULL, probe_thread, p);
	wait_stage(p, 1);
	if (p->stage == 99) {
		dprintf(out, "error:%s\n", p->error);
		_exit(3);
	}
	check_status(p, out);
	set_stage(p, 2);
	pthread_join(t, NULL);
	_exit(0);
}

struct outcome {
	int status;
	char report[1024];   /* the child's lines on `out` */
	char stderr_text[4096];
};

static void read_all(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n;
	while (len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
}

/* fn(ctx, out) in a forked child, which must _exit(); `out` is the
 * report pipe, stderr another. */
static struct outcome run_forked(void (*fn)(void *ctx, int out), void *ctx)
{
	int report[2], err[2];
	cr_assert_eq(pipe2(report, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(err, O_CLOEXEC), 0);
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(err[1], STDERR_FILENO);
		close(report[0]);
		close(err[0]);
		fn(ctx, report[1]);
		_exit(70);
	}
	close(report[1]);
	close(err[1]);
	struct outcome o;
	read_all(report[0], o.report, sizeof(o.report));
	read_all(err[0], o.stderr_text, sizeof(o.stderr_text));
	cr_assert_eq(waitpid(pid, &o.status, 0), pid);
	return o;
}

static void probe_child(void *ctx, int out)
{
	run_child(ctx, out);
}

static struct outcome run_probe(struct probe p)
{
	return run_forked(probe_child, &p);
}

/* The role's calls pass; the forbidden one kills the process by SIGSYS
 * with the line naming thread, role and call. */
static void expect_killed(enum seccomp_role role, const char *thread,
			  void (*allowed)(const struct fds *), void (*forbidden)(const struct fds *),
			  const char *call)
{
	struct outcome o = run_probe((struct probe){ .role = role, .mode = KVMINI_SECCOMP_KILL,
						     .thread = thread, .allowed = allowed,
						     .forbidden = forbidden });
	cr_assert(strstr(o.report, "status:filtered\n"), "role %s: %s", seccomp_role_name(role),
		  o.report);
	cr_assert(strstr(o.report, "allowed:ok\n"),
		  "role %s: an allowed call was refused: %s / %s", seccomp_role_name(role),
		  o.report, o.stderr_text);
	cr_assert(!strstr(o.report, "forbidden:survived"), "role %s survived %s",
		  seccomp_role_name(role), call);
	cr_assert(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGSYS,
		  "role %s: status 0x%x, not killed by SIGSYS", seccomp_role_name(role), o.status);
	char line[256];
	snprintf(line, sizeof(line),
		 "kvmini: seccomp: thread %s (role %s) made a forbidden system call: %s; "
		 "killing kvmini\n", thread, seccomp_role_name(role), call);
	cr_assert(strstr(o.stderr_text, line), "expected '%s' in stderr: '%s'", line,
		  o.stderr_text);
}

Test(seccomp, vcpu)
{
	expect_killed(SECCOMP_ROLE_VCPU, "vcpu0", allowed_vcpu, forbid_socket, "socket (41)");
}

Test(seccomp, vcpu_never_creates_vms)
{
	expect_killed(SECCOMP_ROLE_VCPU, "vcpu1", allowed_vcpu, forbid_vm_creation,
		      "ioctl (16, request 0xae01)");   /* KVM_CREATE_VM */
}

Test(seccomp, vcpu_maps_no_code)
{
	expect_killed(SECCOMP_ROLE_VCPU, "vcpu0", allowed_vcpu, forbid_exec_mapping, "mmap (9)");
}

Test(seccomp, evloop)
{
	/* It may open sockets (virtio-net's and vsock's backends), not map code. */
	expect_killed(SECCOMP_ROLE_EVLOOP, "evloop", allowed_loop, forbid_exec_mapping, "mmap (9)");
}

Test(seccomp, evloop_signals_only_this_process)
{
	expect_killed(SECCOMP_ROLE_EVLOOP, "evloop", allowed_loop, forbid_signal_elsewhere,
		      "tgkill (234)");
}

Test(seccomp, api)
{
	expect_killed(SECCOMP_ROLE_API, "api", allowed_api, forbid_socket, "socket (41)");
}

Test(seccomp, gdb)
{
	expect_killed(SECCOMP_ROLE_GDB, "gdb", allowed_gdb, forbid_socket, "socket (41)");
}

Test(seccomp, exec)
{
	expect_killed(SECCOMP_ROLE_EXEC, "vcpu0", allowed_exec, forbid_socket, "socket (41)");
}

Test(seccomp, blkio)
{
	expect_killed(SECCOMP_ROLE_BLKIO, "blkio", allowed_blkio, forbid_socket, "socket (41)");
}

Test(seccomp, vnc)
{
	expect_killed(SECCOMP_ROLE_VNC, "vnc", allowed_vnc, forbid_socket, "socket (41)");
}

Test(seccomp, vnc_runs_no_vcpu)
{
	expect_killed(SECCOMP_ROLE_VNC, "vnc", allowed_vnc, forbid_vcpu_run,
		      "ioctl (16, request 0xae80)");   /* KVM_RUN */
}

Test(seccomp, exec_main)
{
	expect_killed(SECCOMP_ROLE_EXEC_MAIN, "prog", allowed_exec_main, forbid_socket,
		      "socket (41)");
}

Test(seccomp, main)
{
	expect_killed(SECCOMP_ROLE_MAIN, "demo", allowed_main, forbid_exec_mapping, "mmap (9)");
}

Test(seccomp, main_keeps_the_sigsys_handler)
{
	expect_killed(SECCOMP_ROLE_MAIN, "demo", allowed_main, forbid_sigsys_handler,
		      "rt_sigaction (13)");
}

/* LOG: the forbidden call runs (the kernel logs it); nothing dies. */
Test(seccomp, log_mode_lets_calls_run)
{
	struct outcome o = run_probe((struct probe){ .role = SECCOMP_ROLE_VCPU,
						     .mode = KVMINI_SECCOMP_LOG, .thread = "vcpu0",
						     .allowed = allowed_vcpu,
						     .forbidden = forbid_socket });
	cr_assert(strstr(o.report, "status:filtered\n"), "%s", o.report);
	cr_assert(strstr(o.report, "forbidden:survived\n"), "%s / %s", o.report, o.stderr_text);
	cr_assert(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0, "status 0x%x", o.status);
}

/* OFF installs nothing. */
Test(seccomp, off_mode_installs_nothing)
{
	struct outcome o = run_probe((struct probe){ .role = SECCOMP_ROLE_VCPU,
						     .mode = KVMINI_SECCOMP_OFF, .thread = "vcpu0",
						     .allowed = allowed_vcpu,
						     .forbidden = forbid_socket });
	cr_assert(strstr(o.report, "status:NOT FILTERED\n"), "%s", o.report);
	cr_assert(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0, "status 0x%x", o.status);
}

Test(seccomp, names)
{
	cr_assert_str_eq(seccomp_syscall_name(0), "read");
	cr_assert_str_eq(seccomp_syscall_name(16), "ioctl");
	cr_assert_str_eq(seccomp_syscall_name(-1), "?");
	cr_assert_str_eq(seccomp_syscall_name(100000), "?");
	cr_assert_str_eq(seccomp_role_name(SECCOMP_ROLE_EVLOOP), "evloop");
	cr_assert(seccomp_role_lists(SECCOMP_ROLE_VCPU, SYS_ioctl));
	cr_assert(!seccomp_role_lists(SECCOMP_ROLE_VCPU, SYS_socket));
	cr_assert(!seccomp_role_lists(SECCOMP_ROLE_EXEC, SYS_openat), "exec opens only by openat2");
}

/* ---- kvmini's own code under the filters ---- */

#include "bare_vm.h"
#include "board/board.h"
#include "devices/uart16550.h"
#include "event_loop.h"

struct loop_case {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int fired;                 /* callbacks seen: the timer's and the eventfd's */
	int event_fd;
};

static void loop_case_fire(struct loop_case *c)
{
	pthread_mutex_lock(&c->lock);
	c->fired++;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->lock);
}

static void on_timer(void *ctx)
{
	loop_case_fire(ctx);
}

static void on_event(void *ctx, int fd, uint32_t events)
{
	(void)events;
	uint64_t v;
	if (read(fd, &v, sizeof(v)) == sizeof(v))
		loop_case_fire(ctx);
}

static int enter_evloop(void *ctx, struct kvmini_error *err)
{
	(void)ctx;
	return seccomp_role_install(SECCOMP_ROLE_EVLOOP, KVMINI_SECCOMP_KILL, err);
}

/* The event loop's own thread, filtered: timers armed from outside,
 * an eventfd, removal and stop from the (unfiltered) owner. */
static void event_loop_child(void *ctx, int out)
{
	(void)ctx;
	struct loop_case c = { .lock = PTHREAD_MUTEX_INITIALIZER,
			       .changed = PTHREAD_COND_INITIALIZER };
	struct kvmini_error err;
	struct event_loop *loop = event_loop_create("evloop", &err);
	c.event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	event_loop_on_enter(loop, enter_evloop, NULL);
	struct event_timer *t = event_timer_create(loop, on_timer, &c, &err);
	struct event_handler *h = event_loop_add(loop, c.event_fd, EPOLLIN, on_event, &c, &err);
	if (!t || !h || event_loop_start(loop, &err) < 0)
		_exit(3);
	event_timer_arm_after(t, 1000000);
	uint64_t one = 1;
	if (write(c.event_fd, &one, sizeof(one)) != sizeof(one))
		_exit(4);
	pthread_mutex_lock(&c.lock);
	while (c.fired < 2)
		pthread_cond_wait(&c.changed, &c.lock);
	pthread_mutex_unlock(&c.lock);
	event_loop_remove(loop, h);
	event_timer_destroy(t);
	event_loop_stop(loop);
	event_loop_destroy(loop);
	report(out, "loop:ok\n");
	_exit(0);
}

Test(seccomp_paths, the_event_loop_runs_under_its_filter)
{
	struct outcome o = run_forked(event_loop_child, NULL);
	cr_assert(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0, "status 0x%x: %s", o.status,
		  o.stderr_text);
	cr_assert_str_eq(o.report, "loop:ok\n");
}

struct board_case {
	struct vm vm;
	struct board board;
};

static void poke_range(struct vm *vm, const struct resource_range *r)
{
	struct bus *bus = r->space == RESOURCE_SPACE_PORT ? &vm->pio : &vm->mmio;
	uint64_t span = r->len < 8 ? r->len : 8;
	for (uint64_t off = 0; off < span; off++)
		for (uint32_t size = 1; size <= 4 && off + size <= r->len; size *= 2) {
			uint8_t data[4] = { 0x41, 0, 0, 0 };
			bus_access(bus, r->base + off, data, size, false);
			data[0] = 0x41;
			bus_access(bus, r->base + off, data, size, true);
		}
}

/* A vCPU's device work: every range of the PC, read and written at
 * every size, then "hi" on COM1 (8N1, no loopback). */
static void *drive_devices(void *arg)
{
	struct board_case *c = arg;
	struct kvmini_error err;
	thread_name_set("vcpu0");
	if (seccomp_role_install(SECCOMP_ROLE_VCPU, KVMINI_SECCOMP_KILL, &err) < 0)
		abort();
	for (size_t i = 0; i < pc_board.ndevices; i++)
		for (unsigned r = 0; r < pc_board.devices[i]->res.nranges; r++)
			poke_range(&c->vm, &pc_board.devices[i]->res.ranges[r]);
	static const uint8_t setup[][2] = { { 3, 0x03 }, { 4, 0x00 }, { 0, 'h' }, { 0, 'i' },
					    { 0, '\n' } };
	for (unsigned i = 0; i < sizeof(setup) / sizeof(setup[0]); i++) {
		uint8_t v = setup[i][1];
		bus_access(&c->vm.pio, UART_COM1_BASE + setup[i][0], &v, 1, true);
	}
	return NULL;
}

/* Console input as the event loop delivers it. */
static void *type_input(void *arg)
{
	struct board_case *c = arg;
	struct kvmini_error err;
	thread_name_set("evloop");
	if (seccomp_role_install(SECCOMP_ROLE_EVLOOP, KVMINI_SECCOMP_KILL, &err) < 0)
		abort();
	board_input(&c->board, (const uint8_t *)"k", 1);
	return NULL;
}

static void board_child(void *ctx, int out)
{
	(void)ctx;
	struct board_case c;
	struct kvmini_config cfg;
	struct kvmini_error err;
	kvmini_config_defaults(&cfg);
	cfg.serial_out_fd = out;
	cfg.debugcon_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	bare_vm_init(&c.vm, KVMINI_IRQCHIP_NONE);
	if (board_init(&c.board, &pc_board, &err) < 0 ||
	    board_attach(&c.board, &c.vm, &cfg, &err) < 0)
		_exit(3);
	pthread_t t;
	if (pthread_create(&t, NULL, type_input, &c) != 0 || pthread_join(t, NULL) != 0 ||
	    pthread_create(&t, NULL, drive_devices, &c) != 0 || pthread_join(t, NULL) != 0)
		_exit(4);
	board_destroy(&c.board);
	bare_vm_free(&c.vm);
	_exit(0);
}

Test(seccomp_paths, the_pc_devices_run_under_the_vcpu_filter)
{
	struct outcome o = run_forked(board_child, NULL);
	cr_assert(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0, "status 0x%x: %s", o.status,
		  o.stderr_text);
	size_t n = strlen(o.report);
	cr_assert(n >= 3 && strcmp(o.report + n - 3, "hi\n") == 0, "COM1 wrote '%s'", o.report);
}
