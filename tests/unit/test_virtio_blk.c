/* virtio-blk (src/virtio/blk.c) driven by the fake driver with no KVM:
 * every request's outcome is checked in the status byte, the used
 * length and the bytes of the host image file. Completions come from
 * the disk's engine (io_uring, or its thread pool) through a real event
 * loop; the test waits for the device's interrupt (an eventfd), never
 * for a time. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include "event_loop.h"
#include "seccomp/seccomp.h"
#include "virtio/blk.h"
#include "blk_driver.h"

#define MIB (1ULL << 20)
#define IMAGE_SIZE (1 * MIB)
#define SECTORS (IMAGE_SIZE / 512)
#define ALL_FEATURES ((1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_DISCARD) | \
		      (1ull << VIRTIO_BLK_F_WRITE_ZEROES) | (1ull << VIRTIO_BLK_F_RO) | \
		      (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) | \
		      (1ull << VIRTIO_BLK_F_SIZE_MAX) | (1ull << VIRTIO_RING_F_EVENT_IDX))

static struct guest_memory mem;
static struct event_loop *loop;
static struct kvmini_config cfg;
static struct virtio_device_env env;
static struct virtio_device *vdev;
static struct vdrv d;
static char dir[64], image[96];
static int log_pipe[2];
static int image_fd = -1;

/* The loop's thread carries kvmini's event-loop filter, and the I/O
 * threads (KVMINI_BLK_ENGINE=threads) their own, as in kvmini run: a
 * call either role lacks kills the test with the call named. */
static int enter_filtered(void *ctx, struct kvmini_error *err)
{
	(void)ctx;
	return seccomp_role_install(SECCOMP_ROLE_EVLOOP, KVMINI_SECCOMP_KILL, err);
}

static void setup(void)
{
	struct kvmini_error err = { 0 };
	cr_assert_eq(guest_memory_init(&mem, 16 * MIB, 0, &err), 0, "%s", err.msg);
	loop = event_loop_create("blktest", &err);
	cr_assert_not_null(loop, "%s", err.msg);
	event_loop_on_enter(loop, enter_filtered, NULL);
	cr_assert_eq(event_loop_start(loop, &err), 0, "%s", err.msg);
	cr_assert_eq(pipe2(log_pipe, O_NONBLOCK | O_CLOEXEC), 0);
	kvmini_config_defaults(&cfg);
	cfg.seccomp = KVMINI_SECCOMP_KILL;
	env = (struct virtio_device_env){ .loop = loop, .log_fd = log_pipe[1], .cfg = &cfg };
	snprintf(dir, sizeof(dir), "/tmp/kvmini-blk-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(image, sizeof(image), "%s/disk.img", dir);
	image_fd = open(image, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	cr_assert_geq(image_fd, 0);
	cr_assert_eq(ftruncate(image_fd, IMAGE_SIZE), 0);
}

static void disk_down(void)
{
	if (vdev) {
		vdrv_destroy(&d);
		virtio_device_destroy(vdev);
		vdev = NULL;
	}
}

static void teardown(void)
{
	event_loop_stop(loop);
	disk_down();
	event_loop_destroy(loop);
	guest_memory_free(&mem);
	close(image_fd);
	unlink(image);
	rmdir(dir);
	close(log_pipe[0]);
	close(log_pipe[1]);
}

static struct virtio_device *disk_create(const char *path, const char *opts,
					 struct kvmini_error *err)
{
	static struct kvmini_disk disk;
	disk = (struct kvmini_disk){ .path = path, .read_only = strstr(opts, "ro") != NULL,
				     .serial = strstr(opts, "serial") ? "kvmini-disk-0001" : NULL,
				     .cache_none = strstr(opts, "direct") != NULL };
	return virtio_blk_create(&env, &disk, err);
}

/* A disk on the test's image, started with every feature it offers. */
static void disk_up(const char *opts)
{
	struct kvmini_error err = { 0 };
	vdev = disk_create(image, opts, &err);
	cr_assert_not_null(vdev, "%s", err.msg);
	cr_assert_eq(vdrv_init_direct(&d, vdev, &mem, log_pipe[1]), 0);
	cr_assert(vdrv_start(&d, ALL_FEATURES, 1, 256), "the disk did not start");
}

static bool offered(unsigned bit)
{
	return d.features & (1ull << bit);
}

static void fill(void *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		((uint8_t *)p)[i] = (uint8_t)(i * 7 + seed);
}

static void image_read(uint64_t off, void *buf, size_t n)
{
	cr_assert_eq(pread(image_fd, buf, n, (off_t)off), (ssize_t)n);
}

/* Every test runs twice: on io_uring (virtio_blk) and on the thread
 * pool that replaces it where io_uring cannot be had (virtio_blk_threads,
 * forced with KVMINI_BLK_ENGINE=threads; Criterion runs each test in a
 * process of its own). */
static void setup_threads(void)
{
	setenv("KVMINI_BLK_ENGINE", "threads", 1);
	setup();
}

TestSuite(virtio_blk, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(virtio_blk_threads, .init = setup_threads, .fini = teardown, .timeout = 60);

#define BLK_TEST(name)                                        \
	static void name##_body(void);                        \
	Test(virtio_blk, name) { name##_body(); }             \
	Test(virtio_blk_threads, name) { name##_body(); }     \
	static void name##_body(void)

BLK_TEST(config_space_describes_the_disk)
{
	disk_up("");
	struct virtio_blk_config c;
	vdrv_config_read(&d, 0, &c, sizeof(c));
	cr_assert_eq(c.capacity, SECTORS);
	cr_assert_eq(c.seg_max, VIRTQ_MAX_SEGS - 2);
	cr_assert_eq(c.blk_size, 512);
	cr_assert_gt(c.size_max, 0);
	cr_assert(offered(VIRTIO_BLK_F_FLUSH));
	cr_assert_not(offered(VIRTIO_BLK_F_RO));
	if (offered(VIRTIO_BLK_F_DISCARD)) {
		cr_assert_eq(c.max_discard_seg, 1);
		cr_assert_gt(c.max_discard_sectors, 0);
	}
}

BLK_TEST(written_sectors_reach_the_image_and_read_back)
{
	disk_up("");
	struct blk_bufs b;
	cr_assert_eq(blk_bufs_alloc(&d, &b, 8 * 512, 512), 0);
	uint8_t want[8 * 512], got[8 * 512];
	fill(want, sizeof(want), 3);
	memcpy(blk_ptr(&d, b.data, sizeof(want)), want, sizeof(want));
	uint32_t used = 99;
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_OUT, 3, sizeof(want), &used), VIRTIO_BLK_S_OK);
	cr_assert_eq(used, 1, "a write writes only the status byte");
	image_read(3 * 512, got, sizeof(got));
	cr_assert_arr_eq(got, want, sizeof(want), "the image file does not hold the written bytes");

	memset(blk_ptr(&d, b.data, sizeof(want)), 0, sizeof(want));
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_IN, 3, sizeof(want), &used), VIRTIO_BLK_S_OK);
	cr_assert_eq(used, sizeof(want) + 1);
	cr_assert_arr_eq(blk_ptr(&d, b.data, sizeof(want)), want, sizeof(want));
}

BLK_TEST(reads_what_the_host_put_in_the_image)
{
	uint8_t want[2 * 512];
	fill(want, sizeof(want), 11);
	cr_assert_eq(pwrite(image_fd, want, sizeof(want), (SECTORS - 2) * 512), (ssize_t)sizeof(want));
	disk_up("");
	struct blk_bufs b;
	cr_assert_eq(blk_bufs_alloc(&d, &b, sizeof(want), 8), 0);
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_IN, SECTORS - 2, sizeof(want), NULL),
		     VIRTIO_BLK_S_OK);
	cr_assert_arr_eq(blk_ptr(&d, b.data, sizeof(want)), want, sizeof(want));
}

/* A chain split anywhere, header and data sharing a buffer: the device
 * must not assume Linux's layout (5.2.6.4). */
BLK_TEST(a_request_split_at_odd_boundaries)
{
	disk_up("");
	gpa_t out = vdrv_alloc(&d, 16 + 1024, 8), in = vdrv_alloc(&d, 1, 1);
	struct virtio_blk_outhdr h = { .type = VIRTIO_BLK_T_OUT, .sector = 10 };
	uint8_t *p = blk_ptr(&d, out, 16 + 1024);
	memcpy(p, &h, sizeof(h));
	fill(p + 16, 1024, 5);
	struct vdrv_buf bufs[4] = {
		{ .gpa = out, .len = 5 }, { .gpa = out + 5, .len = 400 },
		{ .gpa = out + 405, .len = 16 + 1024 - 405 }, { .gpa = in, .len = 1, .write = true },
	};
	uint16_t head = vdrv_post(&d, 0, bufs, 4);
	vdrv_kick(&d, 0);
	uint32_t id;
	cr_assert(vdrv_wait_used(&d, 0, &id, NULL));
	cr_assert_eq(id, head);
	cr_assert_eq(*(uint8_t *)blk_ptr(&d, in, 1), VIRTIO_BLK_S_OK);
	uint8_t got[1024];
	image_read(10 * 512, got, sizeof(got));
	cr_assert_arr_eq(got, p + 16, sizeof(got));
}

BLK_TEST(a_read_only_disk_refuses_writes)
{
	uint8_t zeros[512] = { 0 }, got[512];
	disk_up("ro");
	cr_assert(offered(VIRTIO_BLK_F_RO));
	cr_assert_not(offered(VIRTIO_BLK_F_DISCARD), "discard offered on a read-only disk");
	struct blk_bufs b;
	cr_assert_eq(blk_bufs_alloc(&d, &b, 512, 512), 0);
	memset(blk_ptr(&d, b.data, 512), 0xab, 512);
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_OUT, 0, 512, NULL), VIRTIO_BLK_S_IOERR);
	image_read(0, got, sizeof(got));
	cr_assert_arr_eq(got, zeros, sizeof(got), "a read-only image was written");
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_IN, 0, 512, NULL), VIRTIO_BLK_S_OK);
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_FLUSH, 0, 0, NULL), VIRTIO_BLK_S_OK);
}

BLK_TEST(flush_succeeds)
{
	disk_up("");
	struct blk_bufs b;
	cr_assert_eq(blk_bufs_alloc(&d, &b, 512, 512), 0);
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_OUT, 1, 512, NULL), VIRTIO_BLK_S_OK);
	uint32_t used = 0;
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_FLUSH, 0, 0, &used), VIRTIO_BLK_S_OK);
	cr_assert_eq(used, 1);
}

BLK_TEST(get_id_answers_the_serial)
{
	disk_up("serial");
	struct blk_bufs b;
	cr_assert_eq(blk_bufs_alloc(&d, &b, VIRTIO_BLK_ID_BYTES, 8), 0);
	uint32_t used = 0;
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_GET_ID, 0, VIRTIO_BLK_ID_BYTES, &used),
		     VIRTIO_BLK_S_OK);
	cr_assert_eq(used, VIRTIO_BLK_ID_BYTES + 1);
	char want[VIRTIO_BLK_ID_BYTES] = "kvmini-disk-0001";
	cr_assert_arr_eq(blk_ptr(&d, b.data, sizeof(want)), want, sizeof(want));
}

static bool image_has_data_at(off_t off)
{
	off_t data = lseek(image_fd, off, SEEK_DATA);
	return data == off;
}

BLK_TEST(discard_punches_a_hole_that_reads_zeros)
{
	disk_up("");
	if (!offered(VIRTIO_BLK_F_DISCARD))
		cr_skip_test("the file system of %s does not punch holes", dir);
	uint8_t block[64 * 1024];
	fill(block, sizeof(block), 1);
	cr_assert_eq(pwrite(image_fd, block, sizeof(block), 0), (ssize_t)sizeof(block));
	cr_assert_eq(fsync(image_fd), 0);
	cr_assert(image_has_data_at(0));
	struct blk_bufs b;
	cr_assert_eq(blk_bufs_alloc(&d, &b, sizeof(struct virtio_blk_discard_write_zeroes), 8), 0);
	struct virtio_blk_discard_write_zeroes *seg = blk_ptr(&d, b.data, sizeof(*seg));
	*seg = (struct virtio_blk_discard_write_zeroes){ .sector = 0, .num_sectors = 128 };
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_DISCARD, 0, sizeof(*seg), NULL), VIRTIO_BLK_S_OK);
	cr_assert_not(image_has_data_at(0), "no hole where the guest discarded");
	uint8_t got[64 * 1024], zeros[64 * 1024] = { 0 };
	image_read(0, got, sizeof(got));
	cr_assert_arr_eq(got, zeros, sizeof(got));
	/* Discard with the unmap flag is refused as the specification says. */
	seg->flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_DISCARD, 0, sizeof(*seg), NULL),
		     VIRTIO_BLK_S_UNSUPP);
}

BLK_TEST(write_zeroes_zeroes_the_range_on_disk)
{
	disk_up("");
	if (!offered(VIRTIO_BLK_F_WRITE_ZEROES))
		cr_skip_test("the file system of %s does not zero ranges", dir);
	uint8_t block[8192];
	fill(block, sizeof(block), 9);
	cr_assert_eq(pwrite(image_fd, block, sizeof(block), 4096), (ssize_t)sizeof(block));
	struct blk_bufs b;
	cr_assert_eq(blk_bufs_alloc(&d, &b, sizeof(struct virtio_blk_discard_write_zeroes), 8), 0);
	struct virtio_blk_discard_write_zeroes *seg = blk_ptr(&d, b.data, sizeof(*seg));
	/* Sectors 9..12: inside the written 8 KiB at 4 KiB. */
	*seg = (struct virtio_blk_discard_write_zeroes){ .sector = 9, .num_sectors = 4 };
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_WRITE_ZEROES, 0, sizeof(*seg), NULL),
		     VIRTIO_BLK_S_OK);
	uint8_t got[8192], want[8192];
	memcpy(want, block, sizeof(want));
	memset(want + 9 * 512 - 4096, 0, 4 * 512);
	image_read(4096, got, sizeof(got));
	cr_assert_arr_eq(got, want, sizeof(got), "write-zeroes did not zero exactly its range");
	/* With unmap: a hole. */
	*seg = (struct virtio_blk_discard_write_zeroes){
		.sector = 8, .num_sectors = 16, .flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP };
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_WRITE_ZEROES, 0, sizeof(*seg), NULL),
		     VIRTIO_BLK_S_OK);
	cr_assert_not(image_has_data_at(4096));
}

BLK_TEST(sectors_outside_the_disk_are_refused)
{
	disk_up("");
	struct blk_bufs b;
	cr_assert_eq(blk_bufs_alloc(&d, &b, 1024, 512), 0);
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_IN, SECTORS, 512, NULL), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_IN, SECTORS - 1, 1024, NULL), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_OUT, SECTORS - 1, 1024, NULL), VIRTIO_BLK_S_IOERR);
	/* sector * 512 overflows 64 bits. */
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_IN, UINT64_MAX / 256, 512, NULL),
		     VIRTIO_BLK_S_IOERR);
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_IN, UINT64_MAX, 512, NULL), VIRTIO_BLK_S_IOERR);
	/* The last sector is inside. */
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_IN, SECTORS - 1, 512, NULL), VIRTIO_BLK_S_OK);
	struct stat st;
	cr_assert_eq(fstat(image_fd, &st), 0);
	cr_assert_eq(st.st_size, IMAGE_SIZE, "the image grew");
}

BLK_TEST(partial_sectors_and_unknown_types_are_refused)
{
	disk_up("");
	struct blk_bufs b;
	cr_assert_eq(blk_bufs_alloc(&d, &b, 1024, 512), 0);
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_IN, 0, 100, NULL), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_OUT, 0, 513, NULL), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(blk_do(&d, &b, 0x7777, 0, 512, NULL), VIRTIO_BLK_S_UNSUPP);
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_SECURE_ERASE, 0, 16, NULL), VIRTIO_BLK_S_UNSUPP);
}

BLK_TEST(a_short_header_is_an_io_error)
{
	disk_up("");
	gpa_t hdr = vdrv_alloc(&d, 8, 8), st = vdrv_alloc(&d, 1, 1);
	memset(blk_ptr(&d, hdr, 8), 0, 8);
	struct vdrv_buf bufs[2] = { { .gpa = hdr, .len = 8 }, { .gpa = st, .len = 1, .write = true } };
	vdrv_post(&d, 0, bufs, 2);
	vdrv_kick(&d, 0);
	cr_assert(vdrv_wait_used(&d, 0, NULL, NULL));
	cr_assert_eq(*(uint8_t *)blk_ptr(&d, st, 1), VIRTIO_BLK_S_IOERR);
}

BLK_TEST(a_request_without_a_status_byte_needs_a_reset)
{
	disk_up("");
	gpa_t hdr = vdrv_alloc(&d, 16 + 512, 8);
	memset(blk_ptr(&d, hdr, 16), 0, 16);
	struct vdrv_buf buf = { .gpa = hdr, .len = 16 + 512 };
	vdrv_post(&d, 0, &buf, 1);
	vdrv_kick(&d, 0);
	cr_assert(vdrv_wait_irq(&d, VDRV_TIMEOUT_MS), "no config interrupt");
	cr_assert(vdrv_status(&d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	char line[256] = { 0 };
	cr_assert_gt(read(log_pipe[0], line, sizeof(line) - 1), 0);
	cr_assert(strstr(line, "no status byte"), "log: %s", line);
	/* The driver resets and the disk works again. */
	cr_assert(vdrv_start(&d, ALL_FEATURES, 1, 256));
	struct blk_bufs b;
	cr_assert_eq(blk_bufs_alloc(&d, &b, 512, 512), 0);
	cr_assert_eq(blk_do(&d, &b, VIRTIO_BLK_T_IN, 0, 512, NULL), VIRTIO_BLK_S_OK);
}

/* 32 requests posted before one kick: all answered, each with its own
 * sector's bytes. */
BLK_TEST(many_requests_in_flight)
{
	enum { N = 32 };
	uint8_t all[N * 4096];
	fill(all, sizeof(all), 77);
	cr_assert_eq(pwrite(image_fd, all, sizeof(all), 0), (ssize_t)sizeof(all));
	disk_up("");
	struct blk_bufs b[N];
	uint16_t heads[N];
	for (unsigned i = 0; i < N; i++) {
		cr_assert_eq(blk_bufs_alloc(&d, &b[i], 4096, 4096), 0);
		heads[i] = blk_post(&d, &b[i], VIRTIO_BLK_T_IN, i * 8, 4096);
	}
	vdrv_kick(&d, 0);
	bool seen[N] = { false };
	for (unsigned n = 0; n < N; n++) {
		uint32_t id;
		cr_assert(vdrv_wait_used(&d, 0, &id, NULL), "only %u of %d answered", n, N);
		unsigned i = 0;
		while (i < N && heads[i] != id)
			i++;
		cr_assert_lt(i, N);
		cr_assert_not(seen[i]);
		seen[i] = true;
		cr_assert_eq(blk_status(&d, &b[i]), VIRTIO_BLK_S_OK);
		cr_assert_arr_eq(blk_ptr(&d, b[i].data, 4096), all + i * 4096, 4096);
	}
}

/* A reset while requests are in flight waits for them and forgets
 * them; the disk then starts again cleanly (ASan watches for the I/O
 * landing in freed state). */
BLK_TEST(a_reset_with_requests_in_flight)
{
	disk_up("");
	struct blk_bufs b[16];
	for (unsigned i = 0; i < 16; i++) {
		cr_assert_eq(blk_bufs_alloc(&d, &b[i], 64 * 1024, 4096), 0);
		blk_post(&d, &b[i], i % 2 ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, i * 128, 64 * 1024);
	}
	vdrv_kick(&d, 0);
	vdrv_set_status(&d, 0);
	cr_assert_eq(vdrv_status(&d), 0);
	cr_assert(vdrv_start(&d, ALL_FEATURES, 1, 256));
	struct blk_bufs one;
	cr_assert_eq(blk_bufs_alloc(&d, &one, 512, 512), 0);
	cr_assert_eq(blk_do(&d, &one, VIRTIO_BLK_T_IN, 0, 512, NULL), VIRTIO_BLK_S_OK);
}

BLK_TEST(a_second_writer_is_refused_by_the_lock)
{
	disk_up("");
	struct kvmini_error err = { 0 };
	struct virtio_device *second = disk_create(image, "", &err);
	cr_assert_null(second, "two writers on one image");
	cr_assert(strstr(err.msg, "in use"), "message: %s", err.msg);
	second = disk_create(image, "ro", &err);
	cr_assert_null(second, "a reader beside a writer");
}

BLK_TEST(readers_share_a_read_only_image)
{
	disk_up("ro");
	struct kvmini_error err = { 0 };
	struct virtio_device *second = disk_create(image, "ro", &err);
	cr_assert_not_null(second, "%s", err.msg);
	virtio_device_destroy(second);
	second = disk_create(image, "", &err);
	cr_assert_null(second, "a writer beside readers");
}

BLK_TEST(cache_none_serves_aligned_and_misaligned_buffers)
{
	struct kvmini_error err = { 0 };
	vdev = disk_create(image, "direct", &err);
	if (!vdev && strstr(err.msg, "O_DIRECT"))
		cr_skip_test("%s", err.msg);
	cr_assert_not_null(vdev, "%s", err.msg);
	cr_assert_eq(vdrv_init_direct(&d, vdev, &mem, log_pipe[1]), 0);
	cr_assert(vdrv_start(&d, ALL_FEATURES, 1, 256));
	struct blk_bufs aligned, odd;
	cr_assert_eq(blk_bufs_alloc(&d, &aligned, 8192, 4096), 0);
	cr_assert_eq(blk_bufs_alloc(&d, &odd, 8192 + 8, 4096), 0);
	odd.data += 8;   /* misaligned for O_DIRECT */
	uint8_t want[8192], got[8192];
	fill(want, sizeof(want), 21);
	memcpy(blk_ptr(&d, odd.data, 8192), want, 8192);
	cr_assert_eq(blk_do(&d, &odd, VIRTIO_BLK_T_OUT, 16, 8192, NULL), VIRTIO_BLK_S_OK);
	cr_assert_eq(blk_do(&d, &aligned, VIRTIO_BLK_T_IN, 16, 8192, NULL), VIRTIO_BLK_S_OK);
	cr_assert_arr_eq(blk_ptr(&d, aligned.data, 8192), want, 8192);
	image_read(16 * 512, got, sizeof(got));
	cr_assert_arr_eq(got, want, sizeof(got));
}

/* A host I/O error: the image sits on a tmpfs the test mounts and fills,
 * so the write the guest asks for cannot be stored (ENOSPC). */
BLK_TEST(a_host_io_error_is_an_io_error)
{
	char mnt[96], path[128], filler[128];
	snprintf(mnt, sizeof(mnt), "%s/small", dir);
	cr_assert_eq(mkdir(mnt, 0755), 0);
	/* In a mount namespace of this test's own process: the tmpfs goes
	 * with it, whatever happens to the test. */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("kvmini-test", mnt, "tmpfs", 0, "size=64k") < 0) {
		rmdir(mnt);
		cr_skip_test("cannot mount a small tmpfs to fill (%s): needs root", strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/disk.img", mnt);
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, IMAGE_SIZE), 0);   /* sparse: takes no space */
	int ffd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	static uint8_t junk[4096];
	while (write(ffd, junk, sizeof(junk)) > 0)
		;
	close(ffd);
	struct kvmini_error err = { 0 };
	vdev = disk_create(path, "", &err);
	cr_assert_not_null(vdev, "%s", err.msg);
	cr_assert_eq(vdrv_init_direct(&d, vdev, &mem, log_pipe[1]), 0);
	cr_assert(vdrv_start(&d, ALL_FEATURES, 1, 256));
	struct blk_bufs b;
	cr_assert_eq(blk_bufs_alloc(&d, &b, 64 * 1024, 4096), 0);
	uint8_t st = blk_do(&d, &b, VIRTIO_BLK_T_OUT, 256, 64 * 1024, NULL);
	disk_down();
	close(fd);
	umount2(mnt, MNT_DETACH);
	rmdir(mnt);
	cr_assert_eq(st, VIRTIO_BLK_S_IOERR);
	char line[256] = { 0 };
	cr_assert_gt(read(log_pipe[0], line, sizeof(line) - 1), 0);
	cr_assert(strstr(line, "host I/O error"), "log: %s", line);
}

/* Destroyed while the event loop runs and I/O is in flight: the ring's
 * watch goes first (detach), then the reset waits for the I/O, so no
 * completion callback can touch the freed disk (ASan would say). */
BLK_TEST(destroyed_with_the_loop_running_and_io_in_flight)
{
	disk_up("");
	struct blk_bufs b[16];
	for (unsigned i = 0; i < 16; i++) {
		cr_assert_eq(blk_bufs_alloc(&d, &b[i], 64 * 1024, 4096), 0);
		blk_post(&d, &b[i], i % 2 ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_FLUSH, i * 128,
			 i % 2 ? 64 * 1024 : 0);
	}
	vdrv_kick(&d, 0);
	disk_down();
	/* The lock was released: a new writer may open the image. */
	struct kvmini_error err = { 0 };
	vdev = disk_create(image, "", &err);
	cr_assert_not_null(vdev, "%s", err.msg);
	cr_assert_eq(vdrv_init_direct(&d, vdev, &mem, log_pipe[1]), 0);
}
