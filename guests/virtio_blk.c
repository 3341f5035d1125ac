/* A minimal virtio-mmio driver for virtio-blk (run with two disks:
 * --disk A,serial=ID --disk B,ro): disk 0 at the board's first window,
 * disk 1 at the second. On disk 0 it writes sector 2, reads it back,
 * flushes and reads the serial; on disk 1 it reads sector 0 and sees a
 * write refused. One line per disk; the test checks the lines and the
 * bytes in the host's image files. The used ring is polled (no
 * interrupts: it works under every --irqchip). Long mode, ELF64.
 *
 * Built with -DBENCH it is figure (l)'s driver instead (bench/
 * fig_virtio_blk_guest.c): the workloads of bench/blk_workloads.h on
 * disk 0, up to 32 requests in flight, each between the lines "b N" and
 * "e N STATUS" that the benchmark timestamps. */
#include "guest.h"

#define WINDOW0 0xd0000000UL
#define WINDOW_SIZE 0x1000UL
#ifdef BENCH
#define QSIZE 128   /* BLK_MAX_DEPTH requests of three descriptors */
#else
#define QSIZE 8
#endif
#define SECTOR 512
#define SPINS 100000000UL

enum {
	MAGIC = 0x000, VERSION = 0x004, DEVICE_ID = 0x008, DEVICE_FEATURES = 0x010,
	DEVICE_FEATURES_SEL = 0x014, DRIVER_FEATURES = 0x020, DRIVER_FEATURES_SEL = 0x024,
	QUEUE_SEL = 0x030, QUEUE_NUM_MAX = 0x034, QUEUE_NUM = 0x038, QUEUE_READY = 0x044,
	QUEUE_NOTIFY = 0x050, STATUS = 0x070, QUEUE_DESC = 0x080, QUEUE_AVAIL = 0x090,
	QUEUE_USED = 0x0a0, CONFIG = 0x100,
};

/* Request types, statuses and feature bits (virtio 1.x, 5.2). */
enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8 };
enum { S_OK = 0, S_IOERR = 1 };
#define F_RO (1u << 5)
#define F_FLUSH (1u << 9)

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct header {
	uint32_t type, ioprio;
	uint64_t sector;
};

struct disk {
	unsigned long base;
	struct desc descs[QSIZE] __attribute__((aligned(16)));
	volatile uint16_t avail[3 + QSIZE] __attribute__((aligned(2)));
	volatile uint32_t used[2 + 2 * QSIZE] __attribute__((aligned(4)));
	uint16_t next_avail;
	struct header hdr;
	volatile uint8_t status;
};

static struct disk disks[2];
static uint8_t out_buf[SECTOR] __attribute__((aligned(SECTOR)));
static volatile uint8_t in_buf[SECTOR] __attribute__((aligned(SECTOR)));

static uint32_t rd(const struct disk *d, unsigned off)
{
	return *(volatile uint32_t *)(d->base + off);
}

static void wr(const struct disk *d, unsigned off, uint32_t v)
{
	*(volatile uint32_t *)(d->base + off) = v;
}

static void wr64(const struct disk *d, unsigned off, uint64_t v)
{
	wr(d, off, (uint32_t)v);
	wr(d, off + 4, (uint32_t)(v >> 32));
}

static int fail(unsigned n, const char *why)
{
	serial_puts("virtio-blk ");
	serial_put_dec(n);
	serial_puts(": ");
	serial_puts(why);
	serial_putc('\n');
	return 1;
}

/* Status 0, ACKNOWLEDGE, DRIVER, VERSION_1 plus what `want` offers of
 * it, FEATURES_OK, queue 0, DRIVER_OK. Returns the low feature word. */
static int start(struct disk *d, unsigned n, uint32_t want, uint32_t *got)
{
	if (rd(d, MAGIC) != 0x74726976 || rd(d, VERSION) != 2 || rd(d, DEVICE_ID) != 2)
		return fail(n, "no virtio-blk in its window");
	wr(d, STATUS, 0);
	wr(d, STATUS, 1);
	wr(d, STATUS, 1 | 2);
	wr(d, DEVICE_FEATURES_SEL, 0);
	*got = rd(d, DEVICE_FEATURES) & want;
	wr(d, DRIVER_FEATURES_SEL, 1);
	wr(d, DRIVER_FEATURES, 1);   /* bit 32: VIRTIO_F_VERSION_1 */
	wr(d, DRIVER_FEATURES_SEL, 0);
	wr(d, DRIVER_FEATURES, *got);
	wr(d, STATUS, 1 | 2 | 8);
	if (!(rd(d, STATUS) & 8))
		return fail(n, "FEATURES_OK refused");
	wr(d, QUEUE_SEL, 0);
	if (rd(d, QUEUE_NUM_MAX) < QSIZE)
		return fail(n, "queue 0 too small");
	wr(d, QUEUE_NUM, QSIZE);
	wr64(d, QUEUE_DESC, (uint64_t)d->descs);
	wr64(d, QUEUE_AVAIL, (uint64_t)d->avail);
	wr64(d, QUEUE_USED, (uint64_t)d->used);
	wr(d, QUEUE_READY, 1);
	wr(d, STATUS, 1 | 2 | 4 | 8);
	return rd(d, STATUS) == (1 | 2 | 4 | 8) ? 0 : fail(n, "DRIVER_OK refused");
}

/* One request: header, data (len bytes at buf; device-writable when
 * `in`; none when len is 0), status. Returns the status, or -1. */
static int request(struct disk *d, uint32_t type, uint64_t sector, volatile void *buf,
		   uint32_t len, int in)
{
	d->hdr = (struct header){ .type = type, .sector = sector };
	d->status = 0xff;
	d->descs[0] = (struct desc){ .addr = (uint64_t)&d->hdr, .len = sizeof(d->hdr),
				     .flags = 1, .next = 1 };
	d->descs[1] = (struct desc){ .addr = (uint64_t)buf, .len = len,
				     .flags = (uint16_t)(1 | (in ? 2 : 0)), .next = 2 };
	d->descs[2] = (struct desc){ .addr = (uint64_t)&d->status, .len = 1, .flags = 2 };
	if (!len)
		d->descs[0].next = 2;
	d->avail[2 + d->next_avail % QSIZE] = 0;   /* ring entry: head 0 */
	d->next_avail++;
	__atomic_store_n(&d->avail[1], d->next_avail, __ATOMIC_RELEASE);
	wr(d, QUEUE_NOTIFY, 0);
	for (unsigned long i = 0; i < SPINS; i++)
		if ((uint16_t)(__atomic_load_n(&d->used[0], __ATOMIC_ACQUIRE) >> 16) == d->next_avail)
			return d->status;
	return -1;
}

static uint64_t capacity(const struct disk *d)
{
	return rd(d, CONFIG) | (uint64_t)rd(d, CONFIG + 4) << 32;
}

static const char pattern[] = "kvmini virtio-blk sector 2";

/* Disk 0: write, read back, flush, serial. */
static int writable_disk(struct disk *d)
{
	uint32_t f;
	if (start(d, 0, F_FLUSH, &f))
		return 1;
	for (unsigned i = 0; i < SECTOR; i++)
		out_buf[i] = i < sizeof(pattern) - 1 ? (uint8_t)pattern[i] : (uint8_t)i;
	if (request(d, T_OUT, 2, out_buf, SECTOR, 0) != S_OK)
		return fail(0, "write failed");
	if (request(d, T_IN, 2, in_buf, SECTOR, 1) != S_OK)
		return fail(0, "read failed");
	for (unsigned i = 0; i < SECTOR; i++)
		if (in_buf[i] != out_buf[i])
			return fail(0, "read back different bytes");
	if (!(f & F_FLUSH) || request(d, T_FLUSH, 0, 0, 0, 0) != S_OK)
		return fail(0, "flush failed");
	for (unsigned i = 0; i < 20; i++)
		in_buf[i] = 0;
	if (request(d, T_GET_ID, 0, in_buf, 20, 1) != S_OK)
		return fail(0, "get-id failed");
	serial_puts("virtio-blk 0: ");
	serial_put_dec(capacity(d));
	serial_puts(" sectors, wrote and read back sector 2, flushed, id ");
	for (unsigned i = 0; i < 20 && in_buf[i]; i++)
		serial_putc((char)in_buf[i]);
	serial_putc('\n');
	return 0;
}

/* Disk 1, read-only: read sector 0, see a write refused. */
static int read_only_disk(struct disk *d)
{
	uint32_t f;
	if (start(d, 1, F_RO, &f))
		return 1;
	if (!(f & F_RO))
		return fail(1, "not read-only");
	if (request(d, T_IN, 0, in_buf, SECTOR, 1) != S_OK)
		return fail(1, "read failed");
	serial_puts("virtio-blk 1: read-only, sector 0 starts ");
	for (unsigned i = 0; i < 8 && in_buf[i] >= ' ' && in_buf[i] < 127; i++)
		serial_putc((char)in_buf[i]);
	int st = request(d, T_OUT, 0, out_buf, SECTOR, 0);
	serial_puts(st == S_IOERR ? ", write refused\n" : ", write NOT refused\n");
	return st == S_IOERR ? 0 : 1;
}

#ifdef BENCH
#include "../bench/blk_workloads.h"

/* Request slot k owns descriptors 3k..3k+2, its header, status and a
 * 1 MiB buffer; answers may come out of order. */
struct slot {
	struct header hdr;
	volatile uint8_t status;
};
static struct slot slots[BLK_MAX_DEPTH];
static uint8_t bufs[BLK_MAX_DEPTH][1 << 20] __attribute__((aligned(4096)));

static void slot_post(struct disk *d, const struct blk_workload *w, unsigned i, unsigned k)
{
	struct slot *s = &slots[k];
	struct desc *dd = &d->descs[3 * k];
	s->hdr = (struct header){ .type = w->write ? T_OUT : T_IN,
				  .sector = blk_workload_offset(w, i) / SECTOR };
	s->status = 0xff;
	dd[0] = (struct desc){ .addr = (uint64_t)&s->hdr, .len = sizeof(s->hdr), .flags = 1,
			       .next = (uint16_t)(3 * k + 1) };
	dd[1] = (struct desc){ .addr = (uint64_t)bufs[k], .len = w->size,
			       .flags = (uint16_t)(1 | (w->write ? 0 : 2)), .next = (uint16_t)(3 * k + 2) };
	dd[2] = (struct desc){ .addr = (uint64_t)&s->status, .len = 1, .flags = 2 };
	d->avail[2 + d->next_avail % QSIZE] = (uint16_t)(3 * k);
	d->next_avail++;
	__atomic_store_n(&d->avail[1], d->next_avail, __ATOMIC_RELEASE);
}

/* Wait for the next used entry: its slot, or -1. No spin limit of
 * its own: where KVM is nested a 1 MiB request under load outlasts
 * SPINS, and the benchmark's --timeout bounds the run. */
static int used_next(struct disk *d, uint16_t *seen)
{
	for (;;) {
		uint16_t idx = (uint16_t)(__atomic_load_n(&d->used[0], __ATOMIC_ACQUIRE) >> 16);
		if (idx != *seen) {
			uint32_t id = d->used[1 + 2 * (*seen % QSIZE)];   /* the element's id */
			(*seen)++;
			return id % 3 == 0 && id / 3 < BLK_MAX_DEPTH ? (int)(id / 3) : -1;
		}
	}
}

/* Workload w: up to w->depth requests in flight, each answer posting the
 * next. Returns 0 when every request ended OK. */
static int workload_run(struct disk *d, const struct blk_workload *w, uint16_t *seen)
{
	unsigned posted = 0, done = 0;
	for (; posted < w->depth && posted < w->count; posted++)
		slot_post(d, w, posted, posted);
	wr(d, QUEUE_NOTIFY, 0);
	while (done < w->count) {
		int k = used_next(d, seen);
		if (k < 0 || slots[k].status != S_OK)
			return 1;
		done++;
		if (posted < w->count) {
			slot_post(d, w, posted++, (unsigned)k);
			wr(d, QUEUE_NOTIFY, 0);
		}
	}
	return 0;
}

int main(void)
{
	uint32_t f;
	uint16_t seen = 0;
	disks[0].base = WINDOW0;
	if (start(&disks[0], 0, 0, &f))
		return 1;
	if (capacity(&disks[0]) * SECTOR < BLK_IMAGE_BYTES)
		return fail(0, "the image is smaller than the workloads' 64 MiB");
	for (unsigned n = 0; n < BLK_NWORKLOADS; n++) {
		serial_puts("b ");
		serial_put_dec(n);
		serial_putc('\n');
		int st = workload_run(&disks[0], &blk_workloads[n], &seen);
		serial_puts("e ");
		serial_put_dec(n);
		serial_puts(st ? " failed\n" : " ok\n");
		if (st)
			return 1;
	}
	return 0;
}
#else
int main(void)
{
	disks[0].base = WINDOW0;
	disks[1].base = WINDOW0 + WINDOW_SIZE;
	if (writable_disk(&disks[0]))
		return 1;
	return read_only_disk(&disks[1]);
}
#endif
