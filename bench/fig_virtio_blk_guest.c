/* (l) virtio-blk from a guest: the in-repo bare-metal driver
 * (guests/virtio_blk.c built -DBENCH, build/guests/virtio_blk_bench.elf)
 * runs the workloads of blk_workloads.h through a whole `kvmini run
 * --disk`: its MMIO doorbell (an ioeventfd), the device's io_uring on the
 * event loop, the guest polling the used ring. The guest prints "b N"
 * and "e N ok" around workload N on COM1; this figure timestamps the
 * lines as they arrive on a pipe. Then the host does the same I/O on the
 * same image as (k)'s baseline does, taking turns per repetition. What
 * separates (l) from (k) is the guest's side: its driver, the exits of
 * the doorbell and of the serial lines (a few per line). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "bench.h"
#include "blk_workloads.h"

#define GUEST_RAM "160M"   /* 32 MiB of buffers and the driver */
#define LINE_MAX_LEN 256

struct guest_times {
	double s[BLK_NWORKLOADS];   /* seconds between "b N" and "e N ok" */
};

static pid_t guest_start(const char *kvmini, const char *guest, const char *image, FILE **out)
{
	int p[2];
	char disk[4200];
	if (pipe(p) < 0)
		return -1;
	snprintf(disk, sizeof(disk), "%s", image);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(devnull_fd(), 2);
		close(p[0]);
		close(p[1]);
		execl(kvmini, kvmini, "run", "--mem", GUEST_RAM, "--timeout", "600", "--disk", disk,
		      guest, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return -1;
	}
	*out = fdopen(p[0], "r");
	return pid;
}

/* One run of the guest: every workload's seconds, or -1 with why. */
static int guest_run(const char *kvmini, const char *guest, const char *image,
		     struct guest_times *t, char *why, size_t whylen)
{
	FILE *out = NULL;
	pid_t pid = guest_start(kvmini, guest, image, &out);
	if (pid < 0 || !out)
		return fail_with(why, whylen, "cannot start %s: %s", kvmini, strerror(errno));
	char line[LINE_MAX_LEN];
	uint64_t begin = 0;
	unsigned ended = 0, n;
	while (fgets(line, sizeof(line), out)) {
		uint64_t now = now_ns();
		if (sscanf(line, "b %u", &n) == 1 && n == ended)
			begin = now;
		else if (strncmp(line, "e ", 2) == 0 && sscanf(line, "e %u", &n) == 1 && n == ended &&
			 strstr(line, " ok"))
			t->s[ended++] = (double)(now - begin) / 1e9;
	}
	fclose(out);
	int status = 0;
	waitpid(pid, &status, 0);
	if (ended != BLK_NWORKLOADS)
		return fail_with(why, whylen, "the guest ended after %u of %zu workloads (kvmini "
				 "status %d; on a host without /dev/kvm it cannot run)", ended,
				 BLK_NWORKLOADS, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}

static void rows_print(const struct blk_workload *w, double *dev, double *host, unsigned n)
{
	double mb = (double)w->size * w->count / 1e6;
	double dev_s = median(dev, n), host_s = median(host, n);
	printf("  %s\n", w->name);
	print_row("    guest: MB/s", n, mb / dev_s, "");
	print_row("    guest: per request", n, dev_s * 1e6 / w->count, "us");
	print_row("    host:  MB/s", n, mb / host_s, "");
	print_ratio("guest / host throughput", host_s / dev_s, NULL, 0);
}

/* n repetitions, guest and host taking turns (drift hits both). */
static void workloads_measure(const char *kvmini, const char *guest, const char *image, int fd,
			      uint8_t *bufs)
{
	char why[256];
	unsigned n = reps(5);
	double dev[BLK_NWORKLOADS][n], host[BLK_NWORKLOADS][n];
	for (unsigned r = 0; r < n; r++) {
		struct guest_times t;
		if (guest_run(kvmini, guest, image, &t, why, sizeof(why)) < 0) {
			print_failure("virtio-blk guest", why);
			return;
		}
		for (unsigned w = 0; w < BLK_NWORKLOADS; w++) {
			dev[w][r] = t.s[w];
			host[w][r] = blk_host_run(fd, &blk_workloads[w], bufs);
			if (host[w][r] < 0) {
				print_failure(blk_workloads[w].name, "a host I/O failed");
				return;
			}
		}
	}
	for (unsigned w = 0; w < BLK_NWORKLOADS; w++)
		rows_print(&blk_workloads[w], dev[w], host[w], n);
}

void fig_virtio_blk_guest(const char *kvmini_path, const char *guest_dir)
{
	print_heading("(l) virtio-blk from a bare-metal guest driver vs the host on the same file",
		      "kvmini run --disk, the guest polls; image in the page cache");
	char guest[4200], image[4096];
	snprintf(guest, sizeof(guest), "%s/virtio_blk_bench.elf", guest_dir);
	if (access(guest, R_OK) != 0) {
		print_failure("virtio-blk guest", "build/guests/virtio_blk_bench.elf missing: make all");
		return;
	}
	int fd = blk_image_make(image, sizeof(image));
	uint8_t *bufs = aligned_alloc(4096, (size_t)BLK_MAX_DEPTH << 20);
	if (fd < 0 || !bufs) {
		print_failure("virtio-blk guest", "cannot make the scratch image or its buffers");
	} else {
		memset(bufs, 0x33, (size_t)BLK_MAX_DEPTH << 20);
		workloads_measure(kvmini_path, guest, image, fd, bufs);
	}
	free(bufs);
	if (fd >= 0) {
		close(fd);
		unlink(image);
	}
}
