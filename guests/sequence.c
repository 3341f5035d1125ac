/* A long deterministic sequence for the snapshot tests: "ready", then
 * the lines "0", "1", "2", ... for ever, each computed from the last
 * (an LCG, so the state lives in registers and memory the snapshot must
 * carry). A run cut by a snapshot and continued from it must print
 * exactly what an uninterrupted run prints.
 *
 * Built with TOUCH_RAM (sequence_touch.elf, for bench/snapshot_bench.sh)
 * it first writes one word in every page of its RAM below the device
 * hole (the size asked of fw_cfg), so a snapshot has every page to save. */
#include "guest.h"

#ifdef TOUCH_RAM
#define FW_CFG_SEL 0x510
#define FW_CFG_DATA 0x511
#define FW_CFG_RAM_SIZE 0x03
#define TOUCH_FROM (4ul << 20)      /* above the image and its page tables */
#define TOUCH_STACK (64ul << 10)    /* the stack at the top of RAM stays */
#define HOLE (3ul << 30)

static uint64_t ram_size(void)
{
	uint64_t size = 0;
	outw(FW_CFG_SEL, FW_CFG_RAM_SIZE);
	for (unsigned i = 0; i < 8; i++)
		size |= (uint64_t)inb(FW_CFG_DATA) << (8 * i);
	return size;
}

static void touch_ram(void)
{
	uint64_t end = ram_size();
	if (end > HOLE)
		end = HOLE;
	for (uint64_t a = TOUCH_FROM; a + TOUCH_STACK < end; a += 4096)
		*(volatile uint64_t *)a = a;
}
#endif

int main(void)
{
#ifdef TOUCH_RAM
	touch_ram();
#endif
	serial_puts("ready\n");
	unsigned long x = 1;
	for (unsigned long n = 0;; n++) {
		x = x * 6364136223846793005ul + 1442695040888963407ul;
		serial_put_dec(n);
		serial_putc(' ');
		serial_put_dec(x >> 48);
		serial_putc('\n');
	}
}
