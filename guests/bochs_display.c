/* QEMU's bochs-display (1234:1111) as a driver sees it, run with
 * --display 640x480,bochs-display: find it on bus 0 through
 * configuration mechanism #1, check its class, BAR sizes and EDID, move
 * its video memory (BAR 0) elsewhere in the PCI window, try values the
 * DISPI registers must refuse, set a 320x200 mode with a virtual width
 * of 384 pixels shown from (32, 200), and draw the test pattern
 * (guests/display_pattern.h) there, white around it: the screen must be
 * exactly the pattern. One line per step, then "ready"; it ends (status
 * 1, debug-exit 0) when a byte arrives on COM1, so a viewer can look
 * first. A mismatch prints why and ends with status 5 (debug-exit 2). Long mode, ELF64 (the hole below
 * 4 GiB is identity-mapped). */
#include <stdbool.h>
#include "guest.h"
#include "display_pattern.h"

#define BOCHS_ID      0x11111234u
#define VRAM_SIZE     (16u << 20)
#define MMIO_SIZE     4096u
#define VRAM_MOVED_TO 0xcc000000u   /* inside kvmini's PCI window, 16 MiB aligned */
#define DISPI         0x500u
#define WIDTH         320u
#define HEIGHT        200u
#define VIRT_WIDTH    384u
#define X_OFF         32u
#define Y_OFF         200u
#define WHITE         0xffffffu
#define COM1_LSR      0x3fd
#define LSR_DATA_READY 0x01

enum { ID, XRES, YRES, BPP, ENABLE, BANK, VWIDTH, VHEIGHT, XOFF, YOFF, VMEM64K };

static volatile uint8_t *mmio;

__attribute__((noreturn)) static void fail(const char *why)
{
	serial_puts("FAIL: ");
	serial_puts(why);
	serial_putc('\n');
	guest_exit(2);
}

static uint16_t dispi_get(unsigned index)
{
	return *(volatile uint16_t *)(mmio + DISPI + 2 * index);
}

static void dispi_set(unsigned index, uint16_t v)
{
	*(volatile uint16_t *)(mmio + DISPI + 2 * index) = v;
}

static void expect(unsigned index, uint16_t want, const char *why)
{
	if (dispi_get(index) != want)
		fail(why);
}

static int find(void)
{
	for (unsigned slot = 0; slot < 32; slot++)
		if (cf8_read(slot, 0) == BOCHS_ID)
			return (int)slot;
	return -1;
}

static uint32_t bar_size(unsigned slot, unsigned reg)
{
	uint32_t bar = cf8_read(slot, reg);
	cf8_write(slot, reg, 0xffffffffu);
	uint32_t size = ~(cf8_read(slot, reg) & ~0xfu) + 1;
	cf8_write(slot, reg, bar);
	return size;
}

static void check_function(unsigned slot)
{
	if (cf8_read(slot, 0x08) >> 8 != 0x038000)
		fail("class");
	if ((cf8_read(slot, 0x10) & 0xf) != 0x8)
		fail("BAR 0 is not 32-bit prefetchable memory");
	cf8_write(slot, 0x04, 0);   /* decoding off while sizing, as an OS does */
	if (bar_size(slot, 0x10) != VRAM_SIZE || bar_size(slot, 0x18) != MMIO_SIZE)
		fail("BAR sizes");
	mmio = (volatile uint8_t *)(uint64_t)(cf8_read(slot, 0x18) & ~0xfu);
	cf8_write(slot, 0x10, VRAM_MOVED_TO);
	cf8_write(slot, 0x04, 0x2);   /* memory decoding on */
	serial_puts("bochs-display found, video memory moved\n");
}

static void check_edid(void)
{
	static const uint8_t header[8] = { 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 };
	uint8_t sum = 0;
	for (unsigned i = 0; i < 128; i++)
		sum = (uint8_t)(sum + mmio[i]);
	for (unsigned i = 0; i < 8; i++)
		if (mmio[i] != header[i])
			fail("EDID header");
	if (sum)
		fail("EDID checksum");
	/* The preferred timing: the first mode, 640 x 480. */
	if ((mmio[56] | (mmio[58] >> 4) << 8) != 640 || (mmio[59] | (mmio[61] >> 4) << 8) != 480)
		fail("EDID preferred mode");
	serial_puts("edid ok\n");
}

/* Values the registers must refuse; none may crash or confuse them. */
static void check_refusals(void)
{
	expect(ID, 0xb0c5, "ID");
	expect(VMEM64K, 256, "video memory");
	expect(XRES, 640, "first XRES");
	dispi_set(XRES, 800);   /* enabled: the size is fixed */
	expect(XRES, 640, "XRES changed while enabled");
	dispi_set(ENABLE, 0);
	dispi_set(BPP, 24);
	expect(BPP, 32, "BPP 24 taken");
	dispi_set(XRES, 0);
	dispi_set(YRES, 65535);
	expect(XRES, 640, "XRES 0 taken");
	expect(YRES, 480, "YRES 65535 taken");
	dispi_set(VMEM64K, 1);
	expect(VMEM64K, 256, "video memory written");
	*(volatile uint8_t *)(mmio + DISPI + 2 * XRES) = 0x10;   /* half a register */
	expect(XRES, 640, "byte write taken");
	dispi_set(11, 0x1234);                                   /* past the last */
	expect(11, 0, "register 11");
	dispi_set(XRES, 4096);
	dispi_set(YRES, 4096);   /* 64 MiB: more than the memory */
	dispi_set(ENABLE, 0x41);
	if (dispi_get(ENABLE) & 1)
		fail("a mode larger than memory enabled");
	serial_puts("refusals ok\n");
}

static void set_mode(void)
{
	dispi_set(XRES, WIDTH);
	dispi_set(YRES, HEIGHT);
	dispi_set(BPP, 32);
	dispi_set(ENABLE, 0x41);
	expect(ENABLE, 0x41, "mode not enabled");
	expect(VWIDTH, WIDTH, "virtual width not reset");
	dispi_set(ENABLE, 0x43);   /* GETCAPS: the maxima */
	expect(XRES, 4096, "GETCAPS XRES");
	dispi_set(ENABLE, 0x41);
	expect(XRES, WIDTH, "XRES after GETCAPS");
	dispi_set(VWIDTH, 60000);   /* 200 rows of it: past the memory */
	expect(VWIDTH, WIDTH, "VIRT_WIDTH 60000 taken");
	dispi_set(XOFF, 1);         /* 1 + 320 > 320 */
	expect(XOFF, 0, "X_OFFSET past the virtual width taken");
	dispi_set(YOFF, 65535);
	expect(YOFF, 0, "Y_OFFSET 65535 taken");
	dispi_set(VWIDTH, VIRT_WIDTH);
	dispi_set(XOFF, X_OFF);
	dispi_set(YOFF, Y_OFF);
	expect(VWIDTH, VIRT_WIDTH, "VIRT_WIDTH");
	expect(VHEIGHT, VRAM_SIZE / (VIRT_WIDTH * 4), "VIRT_HEIGHT");
	expect(XOFF, X_OFF, "X_OFFSET");
	expect(YOFF, Y_OFF, "Y_OFFSET");
	serial_puts("mode 320x200 set\n");
}

/* The pattern at (X_OFF, Y_OFF) of the virtual screen, white around
 * it; each pixel's unused top byte non-zero, which must not show. */
static void draw(void)
{
	volatile uint32_t *vram = (volatile uint32_t *)(uint64_t)VRAM_MOVED_TO;
	for (unsigned y = 0; y < Y_OFF + HEIGHT + 8; y++)
		for (unsigned x = 0; x < VIRT_WIDTH; x++) {
			bool in = x >= X_OFF && x < X_OFF + WIDTH && y >= Y_OFF &&
				  y < Y_OFF + HEIGHT;
			uint32_t rgb = in ? test_pattern(x - X_OFF, y - Y_OFF) : WHITE;
			vram[y * VIRT_WIDTH + x] = rgb | 0x5a000000u;
		}
	if ((vram[Y_OFF * VIRT_WIDTH + X_OFF + 20 + 20 * VIRT_WIDTH] & 0xffffff) != 0xff0000)
		fail("video memory does not read back");
	serial_puts("drawn\n");
}

int main(void)
{
	int slot = find();
	if (slot < 0)
		fail("no 1234:1111 on bus 0");
	check_function((unsigned)slot);
	check_edid();
	check_refusals();
	set_mode();
	draw();
	serial_puts("ready\n");
	while (!(inb(COM1_LSR) & LSR_DATA_READY))
		;
	return 0;
}
