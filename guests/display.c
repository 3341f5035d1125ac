/* The display seen from a bare-metal guest (docs/display.md): run with
 * --display 320x200. It draws the test pattern (guests/display_pattern.h)
 * into the linear framebuffer at 0xfd000000 (32-bit pixels 0x00RRGGBB,
 * 4 x 320 bytes a row), prints "ready", then echoes every byte the
 * keyboard controller hands it at port 0x60 as "kbd XX" or "aux XX"
 * (polling the status port: no interrupts needed), until Escape is
 * pressed (set 1 code 0x01), and returns 0: debug-exit, kvmini's status 1.
 * Each pixel's unused top byte is written non-zero: the display must
 * ignore it. */
#include "guest.h"
#include "display_pattern.h"

#define FB ((volatile uint32_t *)0xfd000000ul)
#define WIDTH 320
#define HEIGHT 200
#define KBC_DATA 0x60
#define KBC_STATUS 0x64
#define STATUS_OBF 0x01
#define STATUS_AUX 0x20
#define KEY_ESCAPE 0x01

static void draw(void)
{
	for (unsigned y = 0; y < HEIGHT; y++)
		for (unsigned x = 0; x < WIDTH; x++)
			FB[y * WIDTH + x] = test_pattern(x, y) | 0xa5000000u;
}

static void put_byte(uint8_t v)
{
	static const char digits[] = "0123456789abcdef";
	serial_putc(digits[v >> 4]);
	serial_putc(digits[v & 15]);
}

/* The mouse reports only once told to (0xd4 0xf4; its ack follows). */
static void mouse_enable(void)
{
	outb(KBC_STATUS, 0xd4);
	outb(KBC_DATA, 0xf4);
	while (!(inb(KBC_STATUS) & STATUS_OBF))
		;
	inb(KBC_DATA);
}

int main(void)
{
	draw();
	mouse_enable();
	serial_puts("ready\n");
	for (;;) {
		uint8_t st = inb(KBC_STATUS);
		if (!(st & STATUS_OBF))
			continue;
		uint8_t v = inb(KBC_DATA);
		serial_puts(st & STATUS_AUX ? "aux " : "kbd ");
		put_byte(v);
		serial_putc('\n');
		if (!(st & STATUS_AUX) && v == KEY_ESCAPE)
			return 0;
	}
}
