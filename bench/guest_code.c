/* Guests assembled by hand, so the bench needs no cross tools and the
 * exact instructions are visible. Real and protected-mode kernel code is
 * emulated on this host (PVM), so every loop is as short as it can be. */
#include <string.h>
#include "bench.h"

struct emitter {
	uint8_t *code;
	size_t len;
};

static void emit8(struct emitter *e, uint8_t b)
{
	e->code[e->len++] = b;
}

static void emit16(struct emitter *e, uint16_t v)
{
	emit8(e, (uint8_t)v);
	emit8(e, (uint8_t)(v >> 8));
}

static void emit32(struct emitter *e, uint32_t v)
{
	emit16(e, (uint16_t)v);
	emit16(e, (uint16_t)(v >> 16));
}

/* A short backward jump: rel8 counts from the end of the instruction. */
static void emit_rel8_to(struct emitter *e, size_t target)
{
	emit8(e, (uint8_t)(int8_t)((long)target - (long)(e->len + 1)));
}

static void emit_out_mark(struct emitter *e)
{
	emit8(e, 0xe6);                 /* out $BENCH_MARK_PORT, %al */
	emit8(e, BENCH_MARK_PORT);
}

size_t guest_port_loop(uint8_t *code, uint16_t iterations)
{
	struct emitter e = { code, 0 };
	emit8(&e, 0xb9);                /* mov $iterations, %cx */
	emit16(&e, iterations);
	emit8(&e, 0xba);                /* mov $BENCH_MARK_PORT, %dx */
	emit16(&e, BENCH_MARK_PORT);
	size_t top = e.len;
	emit8(&e, 0xee);                /* top: out %al, (%dx) */
	emit8(&e, 0xe2);                /* loop top */
	emit_rel8_to(&e, top);
	emit8(&e, 0xf4);                /* hlt */
	return e.len;
}

size_t guest_popcnt_loop(uint8_t *code, uint16_t iterations)
{
	struct emitter e = { code, 0 };
	emit8(&e, 0xb9);                /* mov $iterations, %cx */
	emit16(&e, iterations);
	size_t top = e.len;
	emit8(&e, 0xf3);                /* top: popcnt %bx, %ax */
	emit8(&e, 0x0f);
	emit8(&e, 0xb8);
	emit8(&e, 0xc3);
	emit8(&e, 0xe2);                /* loop top */
	emit_rel8_to(&e, top);
	emit8(&e, 0xf4);                /* hlt */
	return e.len;
}

/* One pass: for (ebx = 0xfff; ebx < ram_end; ebx += 4096) *ebx = al.
 * The last byte of each page: clear of the GDT at 0x1000 and of this
 * code at the start of its page. */
static void emit_touch_pass(struct emitter *e, uint32_t ram_end)
{
	emit8(e, 0xbb);                 /* mov $0xfff, %ebx */
	emit32(e, 0xfff);
	size_t top = e->len;
	emit8(e, 0x88);                 /* top: mov %al, (%ebx) */
	emit8(e, 0x03);
	emit8(e, 0x81);                 /* add $4096, %ebx */
	emit8(e, 0xc3);
	emit32(e, 4096);
	emit8(e, 0x81);                 /* cmp $ram_end, %ebx */
	emit8(e, 0xfb);
	emit32(e, ram_end);
	emit8(e, 0x72);                 /* jb top */
	emit_rel8_to(e, top);
}

size_t guest_touch_pages(uint8_t *code, uint32_t ram_end)
{
	struct emitter e = { code, 0 };
	emit_out_mark(&e);              /* mark 0: guest started */
	emit_touch_pass(&e, ram_end);   /* pass 1 faults every page in */
	emit_out_mark(&e);              /* mark 1 */
	emit_touch_pass(&e, ram_end);   /* pass 2: same instructions, no faults */
	emit_out_mark(&e);              /* mark 2 */
	emit8(&e, 0xf4);                /* hlt */
	return e.len;
}

/* Print "4\n" on COM1, then leave through the debug-exit port. */
static void emit_print_and_exit(struct emitter *e)
{
	emit8(e, 0xba);                 /* mov $0x3f8, %dx */
	emit16(e, 0x3f8);
	emit8(e, 0xb0);                 /* mov $'4', %al */
	emit8(e, '4');
	emit8(e, 0xee);                 /* out %al, (%dx) */
	emit8(e, 0xb0);                 /* mov $'\n', %al */
	emit8(e, '\n');
	emit8(e, 0xee);                 /* out %al, (%dx) */
	emit8(e, 0x30);                 /* xor %al, %al */
	emit8(e, 0xc0);
	emit8(e, 0xe6);                 /* out %al, $0xf4: debug-exit, status 1 */
	emit8(e, 0xf4);
	emit8(e, 0xf4);                 /* hlt, should the exit device be missing */
}

size_t guest_demo_exit(uint8_t *code)
{
	struct emitter e = { code, 0 };
	emit_print_and_exit(&e);
	return e.len;
}

void guest_bios_image(uint8_t *image)
{
	/* Fill with hlt, so a stray jump stops instead of running garbage. */
	memset(image, 0xf4, BIOS_IMAGE_SIZE);
	/* The reset vector: the last 16 bytes, at 0xffff:0xfff0 seen from
	 * real mode with cs.base = 0xffff0000. Fourteen bytes fit there. */
	struct emitter e = { image, BIOS_IMAGE_SIZE - 16 };
	emit_print_and_exit(&e);
}
