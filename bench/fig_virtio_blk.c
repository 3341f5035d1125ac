/* (k) virtio-blk's device side, with no guest: the fake driver of the
 * unit tests (tests/unit/blk_driver.h) posts requests into plain guest
 * RAM and waits for the device's interrupt (an eventfd), while the disk
 * does its I/O through its io_uring and answers on the event loop; next
 * to it, in the same run and on the same image file, the host does the
 * same I/O itself (pread/pwrite at depth 1, its own io_uring at depth
 * 32). The image (64 MiB in $TMPDIR, else /var/tmp) is in the page cache
 * after its first pass, so the ratio is the device's own cost: queue
 * parsing, the event-loop hop, the interrupt. What a real guest adds
 * (its driver, the exits, the doorbell) needs KVM: fig (g) measures the
 * doorbell. The device runs twice: on its io_uring, and on the thread
 * pool it falls back to where io_uring cannot be had
 * (KVMINI_BLK_ENGINE=threads). */
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"
#include "event_loop.h"
#include "virtio/blk.h"
#include "blk_driver.h"

#include "blk_workloads.h"

#define IMAGE_BYTES BLK_IMAGE_BYTES
#define BLK_RAM (128ULL << 20)
#define MAX_DEPTH BLK_MAX_DEPTH

struct blk_rig {
	struct guest_memory mem;
	struct event_loop *loop;
	struct kvmini_config cfg;
	struct kvmini_disk disk;
	struct virtio_device *vdev;
	struct vdrv d;
	struct blk_bufs bufs[MAX_DEPTH];
	char path[4096];
	int fd;               /* the host's own description of the image */
};

int blk_image_make(char *path, size_t path_len)
{
	const char *dir = getenv("TMPDIR");
	snprintf(path, path_len, "%s/kvmini-bench-blk-XXXXXX", dir && *dir ? dir : "/var/tmp");
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	/* Written once, so reads find data in the page cache, not holes. */
	static uint8_t chunk[1 << 20];
	memset(chunk, 0x5a, sizeof(chunk));
	for (uint64_t off = 0; off < IMAGE_BYTES; off += sizeof(chunk))
		if (pwrite(fd, chunk, sizeof(chunk), (off_t)off) != (ssize_t)sizeof(chunk)) {
			close(fd);
			unlink(path);
			return -1;
		}
	return fd;
}

static int rig_up(struct blk_rig *r, char *why, size_t whylen)
{
	struct kvmini_error err = { 0 };
	if ((r->fd = blk_image_make(r->path, sizeof(r->path))) < 0)
		return fail_with(why, whylen, "cannot make a scratch image %s", r->path);
	if (guest_memory_init(&r->mem, BLK_RAM, 0, &err) < 0 ||
	    !(r->loop = event_loop_create("benchblk", &err)) || event_loop_start(r->loop, &err) < 0)
		return fail_with(why, whylen, "%s", err.msg);
	kvmini_config_defaults(&r->cfg);
	r->disk = (struct kvmini_disk){ .path = r->path };
	struct virtio_device_env env = { .loop = r->loop, .log_fd = 2, .cfg = &r->cfg };
	if (!(r->vdev = virtio_blk_create(&env, &r->disk, &err)))
		return fail_with(why, whylen, "%s", err.msg);
	if (vdrv_init_direct(&r->d, r->vdev, &r->mem, 2) < 0 ||
	    !vdrv_start(&r->d, 1ull << VIRTIO_RING_F_EVENT_IDX, 1, 256))
		return fail_with(why, whylen, "the fake driver could not start the disk");
	for (unsigned i = 0; i < MAX_DEPTH; i++)
		if (blk_bufs_alloc(&r->d, &r->bufs[i], 1 << 20, 4096) < 0)
			return fail_with(why, whylen, "guest RAM is too small");
	return 0;
}

static void rig_down(struct blk_rig *r)
{
	if (r->loop)
		event_loop_stop(r->loop);
	if (r->vdev) {
		vdrv_destroy(&r->d);
		virtio_device_destroy(r->vdev);
	}
	event_loop_destroy(r->loop);
	if (r->mem.base)
		guest_memory_free(&r->mem);
	if (r->fd >= 0) {
		close(r->fd);
		unlink(r->path);
	}
}

static uint16_t post(struct blk_rig *r, const struct blk_workload *w, unsigned i, unsigned slot)
{
	uint32_t type = w->write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
	/* Each buffer slot owns descriptors 3 * slot..+2: answers come out
	 * of order (the thread pool), so the driver's round-robin could
	 * hand a head still in flight to a new request. */
	r->d.q[0].next_desc = (uint16_t)(slot * 3);
	return blk_post(&r->d, &r->bufs[slot], type, blk_workload_offset(w, i) / 512, w->size);
}

/* The workload through the device: seconds, or -1. Up to `depth`
 * requests wait in the ring; each answer posts the next. */
static double device_run(struct blk_rig *r, const struct blk_workload *w)
{
	uint16_t head_slot[256];
	unsigned posted = 0, done = 0;
	uint64_t t0 = now_ns();
	for (; posted < w->depth && posted < w->count; posted++)
		head_slot[post(r, w, posted, posted)] = (uint16_t)posted;
	vdrv_kick(&r->d, 0);
	while (done < w->count) {
		uint32_t id;
		if (!vdrv_wait_used(&r->d, 0, &id, NULL) || id >= 256)
			return -1;
		unsigned slot = head_slot[id];
		if (blk_status(&r->d, &r->bufs[slot]) != VIRTIO_BLK_S_OK)
			return -1;
		done++;
		if (posted < w->count) {
			head_slot[post(r, w, posted++, slot)] = (uint16_t)slot;
			vdrv_kick(&r->d, 0);
		}
	}
	return (double)(now_ns() - t0) / 1e9;
}

static double host_sync_run(int fd, const struct blk_workload *w, uint8_t *buf)
{
	uint64_t t0 = now_ns();
	for (unsigned i = 0; i < w->count; i++) {
		off_t off = (off_t)blk_workload_offset(w, i);
		ssize_t n = w->write ? pwrite(fd, buf, w->size, off) : pread(fd, buf, w->size, off);
		if (n != (ssize_t)w->size)
			return -1;
	}
	return (double)(now_ns() - t0) / 1e9;
}

static void host_prep(struct io_uring *ring, int fd, const struct blk_workload *w,
		      unsigned i, uint8_t *buf)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	if (w->write)
		io_uring_prep_write(sqe, fd, buf, w->size, blk_workload_offset(w, i));
	else
		io_uring_prep_read(sqe, fd, buf, w->size, blk_workload_offset(w, i));
}

/* The host at depth > 1: its own io_uring, as the device uses one. */
static double host_ring_run(int fd, const struct blk_workload *w, uint8_t *bufs)
{
	struct io_uring ring;
	if (io_uring_queue_init(MAX_DEPTH, &ring, 0) < 0)
		return -1;
	unsigned posted = 0, done = 0;
	uint64_t t0 = now_ns();
	for (; posted < w->depth && posted < w->count; posted++)
		host_prep(&ring, fd, w, posted, bufs + (size_t)posted * w->size);
	io_uring_submit(&ring);
	bool ok = true;
	while (done < w->count && ok) {
		struct io_uring_cqe *cqe;
		ok = io_uring_wait_cqe(&ring, &cqe) == 0 && cqe->res == (int)w->size;
		io_uring_cqe_seen(&ring, cqe);
		done++;
		if (posted < w->count) {
			host_prep(&ring, fd, w, posted, bufs + (size_t)(posted % w->depth) * w->size);
			posted++;
			io_uring_submit(&ring);
		}
	}
	double s = (double)(now_ns() - t0) / 1e9;
	io_uring_queue_exit(&ring);
	return ok ? s : -1;
}

double blk_host_run(int fd, const struct blk_workload *w, uint8_t *bufs)
{
	return w->depth == 1 ? host_sync_run(fd, w, bufs) : host_ring_run(fd, w, bufs);
}

static void run_workload(struct blk_rig *r, const struct blk_workload *w, uint8_t *bufs,
			 const char *engine)
{
	unsigned n = reps(5);
	double dev[n], host[n];
	for (unsigned i = 0; i < n; i++) {   /* taking turns: drift hits both */
		dev[i] = device_run(r, w);
		host[i] = blk_host_run(r->fd, w, bufs);
		if (dev[i] < 0 || host[i] < 0) {
			print_failure(w->name, dev[i] < 0 ? "a device request failed"
							  : "a host I/O failed");
			return;
		}
	}
	double mb = (double)w->size * w->count / 1e6;
	double dev_s = median(dev, n), host_s = median(host, n);
	char label[96];
	printf("  %s (%s)\n", w->name, engine);
	snprintf(label, sizeof(label), "    device: MB/s");
	print_row(label, n, mb / dev_s, "");
	snprintf(label, sizeof(label), "    device: per request");
	print_row(label, n, dev_s * 1e6 / w->count, "us");
	snprintf(label, sizeof(label), "    host:   MB/s");
	print_row(label, n, mb / host_s, "");
	print_ratio("device / host throughput", host_s / dev_s, NULL, 0);
}

static void run_engine(const char *engine, uint8_t *bufs)
{
	struct blk_rig r = { .fd = -1 };
	char why[256];
	if (strcmp(engine, "threads") == 0)
		setenv("KVMINI_BLK_ENGINE", "threads", 1);
	else
		unsetenv("KVMINI_BLK_ENGINE");
	if (rig_up(&r, why, sizeof(why)) < 0) {
		print_failure("virtio-blk", why);
	} else {
		for (size_t i = 0; i < BLK_NWORKLOADS; i++)
			run_workload(&r, &blk_workloads[i], bufs, engine);
	}
	rig_down(&r);
	unsetenv("KVMINI_BLK_ENGINE");
}

void fig_virtio_blk(void)
{
	print_heading("(k) virtio-blk device side vs the host on the same file",
		      "fake driver, no guest; image in the page cache");
	uint8_t *bufs = aligned_alloc(4096, (size_t)MAX_DEPTH << 20);
	if (!bufs) {
		print_failure("virtio-blk", "out of memory");
		return;
	}
	memset(bufs, 0x33, (size_t)MAX_DEPTH << 20);
	run_engine("io_uring", bufs);
	run_engine("threads", bufs);
	free(bufs);
}
