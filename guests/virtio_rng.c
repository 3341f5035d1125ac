/* A minimal virtio-mmio driver for virtio-rng (run with --rng): find
 * the device at the board's first window, negotiate VERSION_1, set up
 * queue 0, post one 16-byte writable buffer, notify, poll the used ring
 * (no interrupts: it works under every --irqchip), acknowledge
 * InterruptStatus, and print the bytes. Long mode, ELF64. */
#include "guest.h"

#define VIRTIO_MMIO_BASE 0xd0000000UL
#define QSIZE 8
#define NBYTES 16
#define SPINS 100000000UL

/* Register offsets (virtio 1.x, 4.2.2). */
enum {
	MAGIC = 0x000, VERSION = 0x004, DEVICE_ID = 0x008,
	DEVICE_FEATURES_SEL = 0x014, DRIVER_FEATURES = 0x020, DRIVER_FEATURES_SEL = 0x024,
	QUEUE_SEL = 0x030, QUEUE_NUM_MAX = 0x034, QUEUE_NUM = 0x038, QUEUE_READY = 0x044,
	QUEUE_NOTIFY = 0x050, INTERRUPT_STATUS = 0x060, INTERRUPT_ACK = 0x064, STATUS = 0x070,
	QUEUE_DESC = 0x080, QUEUE_AVAIL = 0x090, QUEUE_USED = 0x0a0,
};

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static struct desc descs[QSIZE] __attribute__((aligned(16)));
static volatile uint16_t avail[3 + QSIZE] __attribute__((aligned(2)));
static volatile uint32_t used[2 + 2 * QSIZE] __attribute__((aligned(4)));
static volatile uint8_t buffer[NBYTES];

static uint32_t rd(unsigned off)
{
	return *(volatile uint32_t *)(VIRTIO_MMIO_BASE + off);
}

static void wr(unsigned off, uint32_t v)
{
	*(volatile uint32_t *)(VIRTIO_MMIO_BASE + off) = v;
}

static void wr64(unsigned off, uint64_t v)
{
	wr(off, (uint32_t)v);
	wr(off + 4, (uint32_t)(v >> 32));
}

static int fail(const char *why)
{
	serial_puts("virtio-rng: ");
	serial_puts(why);
	serial_putc('\n');
	return 1;
}

/* Status 0, ACKNOWLEDGE, DRIVER, features (VERSION_1 only), FEATURES_OK. */
static int negotiate(void)
{
	wr(STATUS, 0);
	wr(STATUS, 1);
	wr(STATUS, 1 | 2);
	wr(DEVICE_FEATURES_SEL, 1);
	wr(DRIVER_FEATURES_SEL, 1);
	wr(DRIVER_FEATURES, 1);   /* bit 32: VIRTIO_F_VERSION_1 */
	wr(DRIVER_FEATURES_SEL, 0);
	wr(DRIVER_FEATURES, 0);
	wr(STATUS, 1 | 2 | 8);
	return (rd(STATUS) & 8) ? 0 : fail("FEATURES_OK refused");
}

static int queue_setup(void)
{
	wr(QUEUE_SEL, 0);
	if (rd(QUEUE_NUM_MAX) < QSIZE)
		return fail("queue 0 too small");
	wr(QUEUE_NUM, QSIZE);
	wr64(QUEUE_DESC, (uint64_t)descs);
	wr64(QUEUE_AVAIL, (uint64_t)avail);
	wr64(QUEUE_USED, (uint64_t)used);
	wr(QUEUE_READY, 1);
	wr(STATUS, 1 | 2 | 4 | 8);
	return rd(QUEUE_READY) == 1 ? 0 : fail("queue 0 not ready");
}

/* One device-writable buffer; returns the length the device reports. */
static long request(void)
{
	descs[0] = (struct desc){ .addr = (uint64_t)buffer, .len = NBYTES, .flags = 2 };
	avail[2] = 0;                            /* ring[0]: head 0 */
	__atomic_store_n(&avail[1], 1, __ATOMIC_RELEASE);   /* idx */
	wr(QUEUE_NOTIFY, 0);
	for (unsigned long i = 0; i < SPINS; i++)
		if ((__atomic_load_n(&used[0], __ATOMIC_ACQUIRE) >> 16) == 1)   /* used idx */
			return (long)used[2];                /* ring[0].len (ring[0].id is used[1]) */
	return -1;
}

/* The interrupt bit follows the used entry (set on the device's thread). */
static uint32_t wait_isr(void)
{
	uint32_t isr = 0;
	for (unsigned long i = 0; i < SPINS && !(isr = rd(INTERRUPT_STATUS)); i++)
		;
	wr(INTERRUPT_ACK, isr);
	return isr;
}

int main(void)
{
	if (rd(MAGIC) != 0x74726976 || rd(VERSION) != 2 || rd(DEVICE_ID) != 4)
		return fail("no virtio-rng at 0xd0000000");
	if (negotiate() || queue_setup())
		return 1;
	long len = request();
	if (len < 0)
		return fail("no answer");
	uint32_t isr = wait_isr();
	serial_puts("virtio-rng: ");
	serial_put_dec((unsigned long)len);
	serial_puts(" bytes, isr ");
	serial_put_dec(isr);
	serial_puts(" then ");
	serial_put_dec(rd(INTERRUPT_STATUS));
	serial_puts(":");
	uint8_t any = 0;
	for (int i = 0; i < NBYTES; i++) {
		serial_putc(' ');
		serial_putc("0123456789abcdef"[buffer[i] >> 4]);
		serial_putc("0123456789abcdef"[buffer[i] & 15]);
		any |= buffer[i];
	}
	serial_putc('\n');
	return any ? 0 : fail("all zero");
}
