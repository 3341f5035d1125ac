/* (c) Whole-process cost: spawn a VMM, let it run a guest that prints
 * "4\n" on COM1 and stops, and wait for it. Three VMMs:
 *   kvmini run           the built-in demo;
 *   raw-ioctl VMM        this program re-run with RAW_DEMO_FLAG: the same
 *                        demo on raw_vm.c, the floor for any VMM here;
 *   qemu microvm         a 64 KiB BIOS of our own (guest_bios_image) whose
 *                        reset vector prints and leaves by isa-debug-exit.
 * stdin is /dev/null, stdout a pipe that is read to EOF and checked,
 * stderr is kept only to explain a failure. The clock runs from
 * posix_spawn (vfork + exec) to wait4, which also gives the peak RSS. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "bench.h"

#define KVMINI_RUNS 201
#define QEMU_RUNS 21
#define QEMU_BINARY "qemu-system-x86_64"
#define EXPECTED_OUTPUT "4\n"

extern char **environ;

struct process_sample {
	double wall_ms;
	long maxrss_kib;
};

struct spawn_io {
	int stderr_fd;        /* memfd collecting the child's stderr */
	char output[64];      /* the start of its stdout */
};

static size_t read_all(int fd, char *buf, size_t size)
{
	size_t got = 0;
	char sink[256];
	for (;;) {
		char *dst = got < size - 1 ? buf + got : sink;
		size_t room = got < size - 1 ? size - 1 - got : sizeof(sink);
		ssize_t n = read(fd, dst, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (dst != sink)
			got += (size_t)n;
	}
	buf[got] = '\0';
	return got;
}

static void reset_stderr(struct spawn_io *io)
{
	if (ftruncate(io->stderr_fd, 0) < 0) {
		/* a stale message only makes a failure report longer */
	}
	lseek(io->stderr_fd, 0, SEEK_SET);
}

/* Run argv once; returns the wait status or -1 (why says). */
static int spawn_once(char *const argv[], struct spawn_io *io, struct process_sample *s,
		      char *why, size_t whylen)
{
	int out[2];
	if (pipe2(out, O_CLOEXEC) < 0)
		return fail_with(why, whylen, "pipe: %s", strerror(errno));
	reset_stderr(io);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, devnull_fd(), STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, io->stderr_fd, STDERR_FILENO);
	pid_t pid;
	uint64_t start = now_ns();
	int e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(out[1]);
	if (e) {
		close(out[0]);
		return fail_with(why, whylen, "cannot run %s: %s", argv[0], strerror(e));
	}
	read_all(out[0], io->output, sizeof(io->output));
	close(out[0]);
	int status;
	struct rusage ru;
	pid_t waited;
	while ((waited = wait4(pid, &status, 0, &ru)) < 0 && errno == EINTR)
		continue;
	if (waited < 0)
		return fail_with(why, whylen, "wait4: %s", strerror(errno));
	s->wall_ms = (double)(now_ns() - start) / 1e6;
	s->maxrss_kib = ru.ru_maxrss;
	return status;
}

/* The last line the child wrote on stderr, for a failure message: the
 * fatal error comes last, after any warnings (QEMU warns about CPUID
 * features this host lacks on every run). */
static const char *stderr_line(struct spawn_io *io, char *buf, size_t size)
{
	lseek(io->stderr_fd, 0, SEEK_SET);
	size_t len = read_all(io->stderr_fd, buf, size);
	while (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	char *last = strrchr(buf, '\n');
	const char *line = last ? last + 1 : buf;
	return line[0] ? line : "(nothing on stderr)";
}

/* One run of cmd; stores its sample at index slot unless slot < 0. */
static int run_command(struct process_command *cmd, struct spawn_io *io, int slot,
		       char *why, size_t whylen)
{
	struct process_sample s = { 0, 0 };
	int status = spawn_once(cmd->argv, io, &s, why, whylen);
	char err[200];
	if (status < 0)
		return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != cmd->status ||
	    strcmp(io->output, cmd->output) != 0)
		return fail_with(why, whylen, "%s: wait status 0x%x, stdout \"%.20s\", stderr: %s",
				 cmd->argv[0], status, io->output,
				 stderr_line(io, err, sizeof(err)));
	if (slot >= 0) {
		cmd->ms[slot] = s.wall_ms;
		cmd->rss[slot] = (double)s.maxrss_kib;
	}
	return 0;
}

/* Round -1 warms caches and is not kept. */
int measure_processes(struct process_command *cmds, unsigned ncmds, unsigned n, char *why,
		      size_t whylen)
{
	struct spawn_io io = { .stderr_fd = memfd_create("bench-stderr", MFD_CLOEXEC) };
	if (io.stderr_fd < 0)
		return fail_with(why, whylen, "memfd_create: %s", strerror(errno));
	int rc = 0;
	for (int round = -1; rc == 0 && round < (int)n; round++)
		for (unsigned c = 0; rc == 0 && c < ncmds; c++)
			rc = run_command(&cmds[c], &io, round, why, whylen);
	close(io.stderr_fd);
	return rc;
}

static struct process_sample medians(struct process_command *cmd, unsigned n)
{
	return (struct process_sample){
		.wall_ms = median(cmd->ms, n),
		.maxrss_kib = (long)median(cmd->rss, n),
	};
}

static int write_bios(char *path, size_t size, char *why, size_t whylen)
{
	snprintf(path, size, "/tmp/kvmini-bench-bios-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return fail_with(why, whylen, "mkstemp: %s", strerror(errno));
	static uint8_t image[BIOS_IMAGE_SIZE];
	guest_bios_image(image);
	ssize_t n = write(fd, image, sizeof(image));
	close(fd);
	if (n != (ssize_t)sizeof(image)) {
		unlink(path);
		return fail_with(why, whylen, "cannot write %s", path);
	}
	return 0;
}

static int measure_qemu(const char *bios, struct process_sample *med, char *why, size_t whylen)
{
	/* microvm with everything it can drop; the default CPU model, since
	 * -cpu host makes this host's KVM refuse an MSR. debug-exit value 0
	 * makes QEMU exit with status 1. */
	char *const argv[] = {
		QEMU_BINARY, "-M", "microvm,x-option-roms=off,rtc=off,pit=off,pic=off,isa-serial=on",
		"-enable-kvm", "-m", "64M", "-smp", "1", "-nodefaults", "-no-user-config",
		"-display", "none", "-serial", "stdio", "-no-reboot",
		"-bios", (char *)bios, "-device", "isa-debug-exit,iobase=0xf4,iosize=4", NULL,
	};
	printf("  qemu command: %s -M %s -enable-kvm -m 64M -smp 1 -nodefaults"
	       " -no-user-config -display none -serial stdio -no-reboot -bios BIOS"
	       " -device isa-debug-exit,iobase=0xf4,iosize=4\n", argv[0], argv[2]);
	unsigned n = reps(QEMU_RUNS);
	double ms[QEMU_RUNS], rss[QEMU_RUNS];
	struct process_command qemu = { argv, EXPECTED_OUTPUT, 1, ms, rss };
	if (measure_processes(&qemu, 1, n, why, whylen) < 0)
		return -1;
	*med = medians(&qemu, n);
	return 0;
}

/* A child started by vfork + exec reports at least the peak RSS of its
 * parent (the kernel carries the old mm's high-water mark over exec), so
 * a figure not above this bench's own peak says only "at most that". */
static void print_rss(const char *label, unsigned n, const struct process_sample *s)
{
	struct rusage self;
	if (getrusage(RUSAGE_SELF, &self) == 0 && s->maxrss_kib <= self.ru_maxrss) {
		printf("  %-44s %5u <= %.3f MiB (the bench's own peak: wait4 cannot see below it)\n",
		       label, n, (double)self.ru_maxrss / 1024);
		return;
	}
	print_row(label, n, (double)s->maxrss_kib / 1024, "MiB");
}

static void print_qemu_rows(const struct process_sample *raw, const struct process_sample *kvmini,
			    const struct process_sample *qemu)
{
	print_row("qemu-system-x86_64 -M microvm, own BIOS", reps(QEMU_RUNS), qemu->wall_ms, "ms");
	print_ratio("qemu / kvmini (wall time)", qemu->wall_ms / kvmini->wall_ms, ">=", 20);
	/* No VMM on this host's KVM can beat the raw one. */
	print_ratio("qemu / raw-ioctl VMM (the ceiling)", qemu->wall_ms / raw->wall_ms, ">=", 20);
	print_rss("peak RSS, qemu microvm", reps(QEMU_RUNS), qemu);
}

int raw_demo_main(void)
{
	struct kvmini_image demo;
	kvmini_demo_image(&demo);
	struct raw_vm r;
	if (raw_vm_create(&r, BENCH_MEM_SIZE) < 0 || raw_vm_enter_real(&r, demo.data, demo.size) < 0) {
		fprintf(stderr, "raw demo: %s\n", r.error);
		raw_vm_destroy(&r);
		return KVMINI_E_HOST;
	}
	int reason;
	while ((reason = raw_vm_run(&r)) == KVM_EXIT_IO)
		raw_vm_write_io(&r, STDOUT_FILENO);
	/* Tear down like kvmini does; exit would do the same work anyway. */
	raw_vm_destroy(&r);
	return reason == KVM_EXIT_HLT ? 0 : KVMINI_E_GUEST;
}

/* The raw VMM and kvmini itself: the floor and the figure. */
static int measure_kvmini(const char *kvmini_path, const char *self, char *why, size_t whylen,
			  struct process_sample *raw, struct process_sample *kvmini)
{
	char *const raw_argv[] = { (char *)self, RAW_DEMO_FLAG, NULL };
	char *const kvmini_argv[] = { (char *)kvmini_path, "run", NULL };
	static double ms[2][KVMINI_RUNS], rss[2][KVMINI_RUNS];
	struct process_command cmds[2] = {
		{ raw_argv, EXPECTED_OUTPUT, 0, ms[0], rss[0] },
		{ kvmini_argv, EXPECTED_OUTPUT, 0, ms[1], rss[1] },
	};
	unsigned n = reps(KVMINI_RUNS);
	if (measure_processes(cmds, 2, n, why, whylen) < 0)
		return -1;
	*raw = medians(&cmds[0], n);
	*kvmini = medians(&cmds[1], n);
	return 0;
}

void fig_process(const char *kvmini_path, const char *self)
{
	char why[512], bios[64];
	print_heading("(c) whole process: spawn -> exit, guest prints \"4\\n\" on COM1",
		      "stdin /dev/null, stdout a pipe read to EOF and checked");
	struct process_sample raw, kvmini, qemu;
	if (measure_kvmini(kvmini_path, self, why, sizeof(why), &raw, &kvmini) < 0) {
		print_failure(kvmini_path, why);
		return;
	}
	print_row("raw-ioctl VMM process (this program)", reps(KVMINI_RUNS), raw.wall_ms, "ms");
	print_row("kvmini run (built-in demo)", reps(KVMINI_RUNS), kvmini.wall_ms, "ms");
	print_ratio("kvmini / raw-ioctl VMM", kvmini.wall_ms / raw.wall_ms, NULL, 0);
	if (write_bios(bios, sizeof(bios), why, sizeof(why)) < 0) {
		print_failure("QEMU BIOS image", why);
		return;
	}
	print_rss("peak RSS, raw-ioctl VMM process", reps(KVMINI_RUNS), &raw);
	print_rss("peak RSS, kvmini run", reps(KVMINI_RUNS), &kvmini);
	int rc = measure_qemu(bios, &qemu, why, sizeof(why));
	unlink(bios);
	if (rc < 0)
		print_failure("QEMU comparison skipped (make bench installs qemu-system-x86)", why);
	else
		print_qemu_rows(&raw, &kvmini, &qemu);
}
