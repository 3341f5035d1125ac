/* The i8042's keyboard and mouse, driven as a guest drives them (ports
 * 0x60 and 0x64 through the bus ops) and fed as the VNC server feeds
 * them: scan codes in set 1 (translated) and set 2, the interrupt
 * lines' edges, disabled ports, the mouse's commands and packets. */
#include <criterion/criterion.h>
#include "devices/i8042.h"

struct lines {
	bool level[16];
	unsigned rises[16];
};

static void set_level(void *ctx, unsigned line, bool level)
{
	struct lines *l = ctx;
	if (level && !l->level[line])
		l->rises[line]++;
	l->level[line] = level;
}

static struct lines lines;
static struct i8042 *kbc;

static void setup(void)
{
	lines = (struct lines){ .rises = { 0 } };
	kbc = i8042_create(NULL);
	cr_assert_not_null(kbc);
	struct irq_line kbd = { set_level, &lines, 1 }, aux = { set_level, &lines, 12 };
	i8042_set_irqs(kbc, &kbd, &aux);
}

static void teardown(void)
{
	i8042_destroy(kbc);
}

static uint8_t status(void)
{
	uint8_t v;
	i8042_command_ops.read(kbc, 0, &v, 1);
	return v;
}

static uint8_t data_read(void)
{
	uint8_t v;
	i8042_data_ops.read(kbc, 0, &v, 1);
	return v;
}

static void command(uint8_t c)
{
	i8042_command_ops.write(kbc, 0, &c, 1);
}

static void data_write(uint8_t d)
{
	i8042_data_ops.write(kbc, 0, &d, 1);
}

/* Every byte waiting, in order; asserts they number n. */
static void expect_bytes(const uint8_t *want, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		cr_assert(status() & I8042_STATUS_OBF, "byte %u of %u missing", i, n);
		uint8_t got = data_read();
		cr_assert_eq(got, want[i], "byte %u: 0x%02x, want 0x%02x", i, got, want[i]);
	}
	cr_assert_not(status() & I8042_STATUS_OBF, "more than %u bytes", n);
}

#define EXPECT(...) do { const uint8_t w_[] = { __VA_ARGS__ }; expect_bytes(w_, sizeof(w_)); } while (0)

static void write_command_byte(uint8_t v)
{
	command(0x60);
	data_write(v);
}

TestSuite(i8042_keyboard, .init = setup, .fini = teardown);

Test(i8042_keyboard, sends_set_1_when_translating)
{
	cr_assert(i8042_key(kbc, 0x1e, true));      /* A */
	cr_assert(i8042_key(kbc, 0x1e, false));
	cr_assert(i8042_key(kbc, 0xe048, true));    /* Up */
	cr_assert(i8042_key(kbc, 0xe048, false));
	EXPECT(0x1e, 0x9e, 0xe0, 0x48, 0xe0, 0xc8);
}

Test(i8042_keyboard, sends_set_2_without_translation)
{
	write_command_byte(0x04);   /* system flag only: no translation */
	cr_assert(i8042_key(kbc, 0x1e, true));      /* A */
	cr_assert(i8042_key(kbc, 0x1e, false));
	cr_assert(i8042_key(kbc, 0x1c, true));      /* Enter */
	cr_assert(i8042_key(kbc, 0xe04b, false));   /* Left, released */
	cr_assert(i8042_key(kbc, 0xe05b, true));    /* left Windows */
	cr_assert(i8042_key(kbc, 0x58, true));      /* F12 */
	EXPECT(0x1c, 0xf0, 0x1c, 0x5a, 0xe0, 0xf0, 0x6b, 0xe0, 0x1f, 0x07);
}

Test(i8042_keyboard, refuses_keys_without_a_code)
{
	cr_assert_not(i8042_key(kbc, 0, true));
	cr_assert_not(i8042_key(kbc, 0x80, true));
	cr_assert_not(i8042_key(kbc, 0x1234, true));
	EXPECT();
}

Test(i8042_keyboard, raises_irq_1_per_byte_when_enabled)
{
	i8042_key(kbc, 0x10, true);
	cr_assert_not(lines.level[1], "the reset command byte enables no interrupt");
	EXPECT(0x10);
	write_command_byte(0x45);   /* translate, system, keyboard interrupt */
	i8042_key(kbc, 0x10, true);
	i8042_key(kbc, 0x10, false);
	cr_assert(lines.level[1]);
	cr_assert_eq(lines.rises[1], 1);
	cr_assert_eq(data_read(), 0x10);
	cr_assert(lines.level[1], "the next byte raises it again");
	cr_assert_eq(lines.rises[1], 2, "a new edge for the second byte");
	cr_assert_eq(data_read(), 0x90);
	cr_assert_not(lines.level[1]);
	cr_assert_not(lines.level[12]);
}

Test(i8042_keyboard, drops_keys_while_disabled)
{
	data_write(0xf5);   /* keyboard: stop scanning */
	EXPECT(0xfa);
	cr_assert_not(i8042_key(kbc, 0x1e, true));
	data_write(0xf4);
	EXPECT(0xfa);
	command(0xad);      /* controller: keyboard port off */
	cr_assert_not(i8042_key(kbc, 0x1e, true));
	command(0xae);
	cr_assert(i8042_key(kbc, 0x1e, true));
	EXPECT(0x1e);
}

Test(i8042_keyboard, answers_its_commands)
{
	data_write(0xf0);   /* scan code set: read it */
	data_write(0x00);
	EXPECT(0xfa, 0xfa, 0x41);
	data_write(0xed);   /* LEDs: the argument is acknowledged, not taken as a command */
	data_write(0xf5 & 0x07);
	EXPECT(0xfa, 0xfa);
	data_write(0xff);
	EXPECT(0xfa, 0xaa);
}

Test(i8042_keyboard, drops_a_whole_event_when_the_queue_is_full)
{
	unsigned queued = 0;
	while (i8042_key(kbc, 0xe048, true))
		queued++;
	cr_assert_eq(queued, 32, "64 bytes hold 32 two-byte events");
	cr_assert(i8042_key(kbc, 0x48, true) == false, "a full queue takes nothing");
	for (unsigned i = 0; i < queued; i++) {
		cr_assert_eq(data_read(), 0xe0);
		cr_assert_eq(data_read(), 0x48);
	}
}

TestSuite(i8042_mouse, .init = setup, .fini = teardown);

static void mouse_write(uint8_t b)
{
	command(0xd4);
	data_write(b);
}

Test(i8042_mouse, resets_identifies_and_reports_status)
{
	mouse_write(0xff);
	EXPECT(0xfa, 0xaa, 0x00);
	mouse_write(0xf2);
	EXPECT(0xfa, 0x00);
	mouse_write(0xf3);
	mouse_write(40);
	mouse_write(0xe8);
	mouse_write(3);
	mouse_write(0xe9);
	EXPECT(0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0x00, 3, 40);
	cr_assert_eq(status() & I8042_STATUS_AUX, 0);
}

Test(i8042_mouse, sends_packets_only_when_reporting)
{
	cr_assert_not(i8042_mouse(kbc, 5, 5, 0), "stream reporting starts off");
	write_command_byte(0x47);   /* both interrupts on */
	mouse_write(0xf4);
	cr_assert(status() & I8042_STATUS_AUX, "the ack comes from the mouse");
	cr_assert(lines.level[12]);
	EXPECT(0xfa);
	cr_assert(i8042_mouse(kbc, 10, -3, 1));
	cr_assert(i8042_mouse(kbc, -400, 300, 6));
	cr_assert(lines.level[12]);
	cr_assert_not(lines.level[1]);
	EXPECT(0x08 | 0x01 | 0x20, 10, 0xfd,
	       0x08 | 0x06 | 0x10, 0x01 /* -255 */, 0xff /* 255 */);
	command(0xa7);   /* mouse port off */
	cr_assert_not(i8042_mouse(kbc, 1, 1, 0));
}

Test(i8042_mouse, its_mode_survives_save_and_restore)
{
	mouse_write(0xf4);   /* reporting on */
	mouse_write(0xe8);   /* resolution: its argument still pending */
	data_write(0xf5);    /* the keyboard stops scanning */
	EXPECT(0xfa, 0xfa, 0xfa);
	struct state_writer w;
	state_writer_init(&w);
	i8042_device.save_state(kbc, &w);
	cr_assert_not(w.failed);
	struct i8042 *copy = i8042_create(NULL);
	struct state_reader r;
	state_reader_init(&r, w.data, w.len);
	struct kvmini_error err = { 0 };
	cr_assert_eq(i8042_device.restore_state(copy, &r, &err), 0, "%s", err.msg);
	state_writer_free(&w);
	cr_assert(i8042_mouse(copy, 1, 1, 0), "reporting was restored");
	cr_assert_not(i8042_key(copy, 0x1e, true), "so was the keyboard's silence");
	uint8_t b = 0x01;
	i8042_command_ops.write(copy, 0, (uint8_t[]){ 0xd4 }, 1);
	i8042_data_ops.write(copy, 0, &b, 1);   /* the pending resolution's argument */
	uint8_t v;
	for (int i = 0; i < 4; i++)   /* the packet, then the argument's ack */
		i8042_data_ops.read(copy, 0, &v, 1);
	cr_assert_eq(v, 0xfa);
	i8042_destroy(copy);
}
