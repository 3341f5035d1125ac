/* A minimal virtio-mmio driver for virtio-console (run with --vconsole
 * and no other virtio device, so it sits in the first window): two
 * queues, one line sent on the transmit queue, then one character
 * through the emergency-write register; COM1 says what happened. The
 * used ring is polled (no interrupts). Long mode, ELF64. */
#include "guest.h"

#define BASE 0xd0000000UL
#define QSIZE 8
#define SPINS 100000000UL
#define F_EMERG_WRITE (1u << 2)

enum {
	MAGIC = 0x000, VERSION = 0x004, DEVICE_ID = 0x008, DEVICE_FEATURES = 0x010,
	DEVICE_FEATURES_SEL = 0x014, DRIVER_FEATURES = 0x020, DRIVER_FEATURES_SEL = 0x024,
	QUEUE_SEL = 0x030, QUEUE_NUM_MAX = 0x034, QUEUE_NUM = 0x038, QUEUE_READY = 0x044,
	QUEUE_NOTIFY = 0x050, STATUS = 0x070, QUEUE_DESC = 0x080, QUEUE_AVAIL = 0x090,
	QUEUE_USED = 0x0a0, EMERG_WR = 0x108,   /* config + 8 */
};

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct queue {
	struct desc descs[QSIZE] __attribute__((aligned(16)));
	volatile uint16_t avail[3 + QSIZE] __attribute__((aligned(2)));
	volatile uint32_t used[2 + 2 * QSIZE] __attribute__((aligned(4)));
};

static struct queue queues[2];   /* 0: receive, 1: transmit */
static const char line[] = "hello from hvc0\n";

static uint32_t rd(unsigned off)
{
	return *(volatile uint32_t *)(BASE + off);
}

static void wr(unsigned off, uint32_t v)
{
	*(volatile uint32_t *)(BASE + off) = v;
}

static void wr64(unsigned off, uint64_t v)
{
	wr(off, (uint32_t)v);
	wr(off + 4, (uint32_t)(v >> 32));
}

static int fail(const char *why)
{
	serial_puts("virtio-console: ");
	serial_puts(why);
	serial_putc('\n');
	return 1;
}

static void queue_setup(unsigned q)
{
	wr(QUEUE_SEL, q);
	wr(QUEUE_NUM, QSIZE);
	wr64(QUEUE_DESC, (uint64_t)queues[q].descs);
	wr64(QUEUE_AVAIL, (uint64_t)queues[q].avail);
	wr64(QUEUE_USED, (uint64_t)queues[q].used);
	wr(QUEUE_READY, 1);
}

static int start(void)
{
	if (rd(MAGIC) != 0x74726976 || rd(VERSION) != 2 || rd(DEVICE_ID) != 3)
		return fail("no virtio-console at 0xd0000000");
	wr(STATUS, 0);
	wr(STATUS, 1);
	wr(STATUS, 1 | 2);
	wr(DEVICE_FEATURES_SEL, 0);
	uint32_t f = rd(DEVICE_FEATURES) & F_EMERG_WRITE;
	wr(DRIVER_FEATURES_SEL, 1);
	wr(DRIVER_FEATURES, 1);   /* bit 32: VIRTIO_F_VERSION_1 */
	wr(DRIVER_FEATURES_SEL, 0);
	wr(DRIVER_FEATURES, f);
	wr(STATUS, 1 | 2 | 8);
	if (!(rd(STATUS) & 8) || !f)
		return fail("features refused");
	queue_setup(0);
	queue_setup(1);
	wr(STATUS, 1 | 2 | 4 | 8);
	return rd(STATUS) == (1 | 2 | 4 | 8) ? 0 : fail("DRIVER_OK refused");
}

/* Send the line on the transmit queue; true once the device used it. */
static int send_line(void)
{
	struct queue *q = &queues[1];
	q->descs[0] = (struct desc){ .addr = (uint64_t)line, .len = sizeof(line) - 1 };
	q->avail[2] = 0;
	__atomic_store_n(&q->avail[1], 1, __ATOMIC_RELEASE);
	wr(QUEUE_NOTIFY, 1);
	for (unsigned long i = 0; i < SPINS; i++)
		if ((__atomic_load_n(&q->used[0], __ATOMIC_ACQUIRE) >> 16) == 1)
			return 0;
	return fail("the line was never used");
}

int main(void)
{
	if (start() || send_line())
		return 1;
	wr(EMERG_WR, 'E');
	wr(EMERG_WR, '\n');
	serial_puts("virtio-console: sent\n");
	return 0;
}
