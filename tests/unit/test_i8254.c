/* Unit tests of the 8254 PIT and port 0x61, driven through their bus
 * callbacks with a clock the test moves, an IRQ 0 line that counts its
 * rising edges, and a timer that counts rearm requests. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "devices/i8254.h"

#define START_NS 1000000000ULL   /* the clock does not start at 0 */

struct rig {
	struct i8254 *pit;
	uint64_t now;
	bool level;
	unsigned edges;      /* IRQ 0 rising edges */
	unsigned rearms;
};

static uint64_t fake_now(void *ctx)
{
	return ((struct rig *)ctx)->now;
}

static void irq_level(void *ctx, unsigned line, bool level)
{
	struct rig *rig = ctx;
	cr_expect_eq(line, 0u);
	if (level && !rig->level)
		rig->edges++;
	rig->level = level;
}

static void count_rearm(void *ctx)
{
	((struct rig *)ctx)->rearms++;
}

static void rig_open(struct rig *rig)
{
	*rig = (struct rig){ .now = START_NS };
	struct i8254_clock clock = { .now_ns = fake_now, .ctx = rig };
	struct irq_line irq0 = { .set_level = irq_level, .ctx = rig, .line = 0 };
	struct i8254_wakeup wakeup = { .rearm = count_rearm, .ctx = rig };
	rig->pit = i8254_create(&clock, &irq0, &wakeup);
	cr_assert_not_null(rig->pit);
}

static void rig_close(struct rig *rig)
{
	i8254_destroy(rig->pit);
}

static void outb(struct rig *rig, unsigned port, uint8_t value)
{
	if (port == I8254_SPEAKER_PORT)
		i8254_speaker_ops.write(rig->pit, 0, &value, 1);
	else
		i8254_ops.write(rig->pit, port - I8254_PORT, &value, 1);
}

static uint8_t inb(struct rig *rig, unsigned port)
{
	uint8_t value = 0;
	if (port == I8254_SPEAKER_PORT)
		i8254_speaker_ops.read(rig->pit, 0, &value, 1);
	else
		i8254_ops.read(rig->pit, port - I8254_PORT, &value, 1);
	return value;
}

/* Program a channel for lo/hi access in `mode` with `count`. */
static void program(struct rig *rig, unsigned channel, unsigned mode, uint16_t count)
{
	outb(rig, 0x43, (uint8_t)(channel << 6 | 0x30 | mode << 1));
	outb(rig, 0x40 + channel, (uint8_t)count);
	outb(rig, 0x40 + channel, (uint8_t)(count >> 8));
}

/* The first nanosecond at which `clocks` PIT clocks have passed. */
static uint64_t ns_for(uint64_t clocks)
{
	return (clocks * 1000000000ULL + I8254_HZ - 1) / I8254_HZ;
}

/* Move the clock to `clocks` PIT clocks after the start. */
static void at_clock(struct rig *rig, uint64_t clocks)
{
	rig->now = START_NS + ns_for(clocks);
}

/* Move the clock on by exactly `clocks` PIT clocks from now. */
static void advance(struct rig *rig, uint64_t clocks)
{
	rig->now += ns_for(clocks);
}

static uint16_t latch_and_read(struct rig *rig, unsigned channel)
{
	outb(rig, 0x43, (uint8_t)(channel << 6));   /* counter latch */
	uint8_t low = inb(rig, 0x40 + channel);
	return (uint16_t)(low | inb(rig, 0x40 + channel) << 8);
}

static uint8_t read_status(struct rig *rig, unsigned channel)
{
	outb(rig, 0x43, (uint8_t)(0xe0 | 2u << channel));   /* read-back: status only */
	return inb(rig, 0x40 + channel);
}

Test(i8254, nothing_counts_or_fires_before_a_count_is_loaded)
{
	struct rig rig;
	rig_open(&rig);
	cr_expect_eq(i8254_tick(rig.pit), I8254_NO_DEADLINE);
	cr_expect_eq(rig.edges, 0u);
	cr_expect_eq(inb(&rig, 0x43), 0xff, "the control port is write-only");
	rig_close(&rig);
}

Test(i8254, mode_2_fires_once_per_period_at_the_right_time)
{
	struct rig rig;
	rig_open(&rig);
	program(&rig, 0, 2, 1193);   /* ~1 kHz, as guests/lib's pit_start(1000) */
	cr_expect_eq(rig.rearms, 2u, "control word and count each rearm the timer");
	uint64_t deadline = i8254_tick(rig.pit);
	cr_expect_eq(rig.edges, 0u);
	/* 1193 clocks = 999847.6 ns: the deadline rounds up. */
	cr_assert_eq(deadline, START_NS + 999848);
	cr_assert_eq(deadline, START_NS + ns_for(1193));
	rig.now = deadline - 1;
	cr_expect_eq(i8254_tick(rig.pit), deadline);
	cr_expect_eq(rig.edges, 0u, "one ns early: nothing yet");
	rig.now = deadline;
	uint64_t next = i8254_tick(rig.pit);
	cr_expect_eq(rig.edges, 1u);
	cr_expect_not(rig.level, "IRQ 0 is pulsed, not held");
	cr_expect_eq(next, START_NS + ns_for(2 * 1193));
	rig.now = next;
	i8254_tick(rig.pit);
	cr_expect_eq(rig.edges, 2u);
	rig_close(&rig);
}

Test(i8254, periods_missed_between_ticks_are_coalesced)
{
	struct rig rig;
	rig_open(&rig);
	program(&rig, 0, 2, 1000);
	at_clock(&rig, 5500);
	uint64_t next = i8254_tick(rig.pit);
	cr_expect_eq(rig.edges, 1u);
	cr_expect_eq(next, START_NS + ns_for(6000));
	rig_close(&rig);
}

Test(i8254, mode_2_counter_reads_count_down_and_reload)
{
	struct rig rig;
	rig_open(&rig);
	program(&rig, 0, 2, 1000);
	cr_expect_eq(latch_and_read(&rig, 0), 1000);
	at_clock(&rig, 250);
	cr_expect_eq(latch_and_read(&rig, 0), 750);
	at_clock(&rig, 1250);
	cr_expect_eq(latch_and_read(&rig, 0), 750, "reloaded at the end of the period");
	at_clock(&rig, 999);
	cr_expect_eq(read_status(&rig, 0) & 0x80, 0, "OUT low on the last clock");
	at_clock(&rig, 1000);
	cr_expect_eq(read_status(&rig, 0) & 0x80, 0x80);
	rig_close(&rig);
}

Test(i8254, a_latched_count_holds_until_read)
{
	struct rig rig;
	rig_open(&rig);
	program(&rig, 0, 2, 1000);
	at_clock(&rig, 100);
	outb(&rig, 0x43, 0x00);
	at_clock(&rig, 400);
	outb(&rig, 0x43, 0x00);   /* a second latch before the read is ignored */
	cr_expect_eq(inb(&rig, 0x40), 900 & 0xff);
	cr_expect_eq(inb(&rig, 0x40), 900 >> 8);
	uint8_t low = inb(&rig, 0x40);
	cr_expect_eq(low | inb(&rig, 0x40) << 8, 600, "then the live count");
	rig_close(&rig);
}

Test(i8254, mode_0_fires_once_at_terminal_count)
{
	struct rig rig;
	rig_open(&rig);
	program(&rig, 0, 0, 500);
	cr_expect_eq(read_status(&rig, 0), 0x30, "OUT low, lo/hi, mode 0, binary");
	uint64_t deadline = i8254_tick(rig.pit);
	cr_expect_eq(deadline, START_NS + ns_for(500));
	at_clock(&rig, 500);
	cr_expect_eq(i8254_tick(rig.pit), I8254_NO_DEADLINE, "one shot");
	cr_expect_eq(rig.edges, 1u);
	cr_expect_eq(read_status(&rig, 0), 0xb0, "OUT stays high");
	at_clock(&rig, 502);
	cr_expect_eq(latch_and_read(&rig, 0), 0xfffe, "the counter wraps on");
	rig_close(&rig);
}

Test(i8254, a_control_word_holds_the_channel_until_a_count_arrives)
{
	struct rig rig;
	rig_open(&rig);
	outb(&rig, 0x43, 0x34);
	cr_expect_eq(read_status(&rig, 0), 0xf4, "OUT high, null count, lo/hi, mode 2");
	cr_expect_eq(i8254_tick(rig.pit), I8254_NO_DEADLINE);
	outb(&rig, 0x40, 0x10);
	cr_expect_eq(i8254_tick(rig.pit), I8254_NO_DEADLINE, "half a count");
	outb(&rig, 0x40, 0x00);
	cr_expect_eq(read_status(&rig, 0), 0xb4);
	cr_expect_neq(i8254_tick(rig.pit), I8254_NO_DEADLINE);
	rig_close(&rig);
}

Test(i8254, mode_3_is_a_square_wave)
{
	struct rig rig;
	rig_open(&rig);
	program(&rig, 0, 3, 100);
	at_clock(&rig, 10);
	cr_expect_eq(read_status(&rig, 0) & 0x80, 0x80);
	cr_expect_eq(latch_and_read(&rig, 0), 80, "counts by two");
	at_clock(&rig, 60);
	cr_expect_eq(read_status(&rig, 0) & 0x80, 0);
	at_clock(&rig, 100);
	i8254_tick(rig.pit);
	cr_expect_eq(rig.edges, 1u, "IRQ 0 on each rising edge");
	rig_close(&rig);
}

Test(i8254, mode_4_strobes_after_the_count)
{
	struct rig rig;
	rig_open(&rig);
	program(&rig, 0, 4, 50);
	at_clock(&rig, 50);
	cr_expect_eq(read_status(&rig, 0) & 0x80, 0, "low for one clock at zero");
	i8254_tick(rig.pit);
	cr_expect_eq(rig.edges, 0u);
	at_clock(&rig, 51);
	cr_expect_eq(i8254_tick(rig.pit), I8254_NO_DEADLINE);
	cr_expect_eq(rig.edges, 1u);
	rig_close(&rig);
}

Test(i8254, low_only_high_only_and_bcd_access)
{
	struct rig rig;
	rig_open(&rig);
	outb(&rig, 0x43, 0x54);      /* channel 1, low byte only, mode 2 */
	outb(&rig, 0x41, 200);
	advance(&rig, 50);
	cr_expect_eq(inb(&rig, 0x41), 150);
	outb(&rig, 0x43, 0x64);      /* channel 1, high byte only, mode 2 */
	outb(&rig, 0x41, 0x02);      /* 0x200 */
	advance(&rig, 256);
	cr_expect_eq(inb(&rig, 0x41), 0x01, "0x100 left");
	outb(&rig, 0x43, 0x71);      /* channel 1, lo/hi, mode 0, BCD */
	outb(&rig, 0x41, 0x00);
	outb(&rig, 0x41, 0x10);      /* 1000 in BCD */
	advance(&rig, 1);
	cr_expect_eq(latch_and_read(&rig, 1), 0x0999);
	cr_expect_eq(rig.rearms, 0u, "channel 1 does not rearm channel 0's timer");
	rig_close(&rig);
}

Test(i8254, read_back_latches_count_and_status_of_several_channels)
{
	struct rig rig;
	rig_open(&rig);
	program(&rig, 0, 2, 1000);
	program(&rig, 1, 0, 300);
	at_clock(&rig, 10);
	outb(&rig, 0x43, 0xc6);      /* read-back: count and status, channels 0 and 1 */
	at_clock(&rig, 20);
	cr_expect_eq(inb(&rig, 0x40), 0xb4, "status comes first");
	cr_expect_eq(inb(&rig, 0x40), 990 & 0xff);
	cr_expect_eq(inb(&rig, 0x40), 990 >> 8);
	cr_expect_eq(inb(&rig, 0x41), 0x30);
	cr_expect_eq(inb(&rig, 0x41), 290 & 0xff);
	cr_expect_eq(inb(&rig, 0x41), 290 >> 8);
	rig_close(&rig);
}

Test(i8254, channel_2_counts_while_port_61_bit_0_opens_its_gate)
{
	struct rig rig;
	rig_open(&rig);
	cr_expect_eq(inb(&rig, 0x61) & 0x21, 0, "gate closed, OUT 2 low at power-on");
	program(&rig, 2, 0, 100);
	advance(&rig, 200);
	cr_expect_eq(latch_and_read(&rig, 2), 100, "gate closed: no counting");
	outb(&rig, 0x61, 0x01);
	advance(&rig, 50);
	cr_expect_eq(latch_and_read(&rig, 2), 50);
	cr_expect_eq(inb(&rig, 0x61) & 0x21, 0x01);
	outb(&rig, 0x61, 0x00);
	advance(&rig, 150);
	cr_expect_eq(latch_and_read(&rig, 2), 50, "held while the gate is closed");
	outb(&rig, 0x61, 0x03);
	advance(&rig, 50);
	cr_expect_eq(inb(&rig, 0x61) & 0x23, 0x23, "gate, speaker and OUT 2 at terminal count");
	cr_expect_eq(rig.edges, 0u, "channel 2 raises no IRQ");
	rig_close(&rig);
}

Test(i8254, port_61_refresh_bit_toggles_with_time)
{
	struct rig rig;
	rig_open(&rig);
	outb(&rig, 0x61, 0x0c);
	uint8_t first = inb(&rig, 0x61);
	cr_expect_eq(first & 0x0c, 0x0c, "bits 2-3 read back");
	rig.now += 15085;
	cr_expect_eq((inb(&rig, 0x61) ^ first) & 0x10, 0x10);
	rig_close(&rig);
}

/* ---- saved state ---- */

static void save(struct rig *rig, struct state_writer *w)
{
	state_writer_init(w);
	i8254_save(rig->pit, w);
	cr_assert_not(w->failed);
}

static int restore(struct rig *rig, const uint8_t *data, size_t len, struct kvmini_error *err)
{
	struct state_reader r;
	state_reader_init(&r, data, len);
	int rc = i8254_restore(rig->pit, &r, err);
	if (rc == 0)
		cr_expect_eq(r.pos, len, "the whole record is read");
	return rc;
}

/* Port 0x61 without the refresh bit, which follows each rig's clock. */
static uint8_t port61(struct rig *rig)
{
	return inb(rig, I8254_SPEAKER_PORT) & (uint8_t)~0x10;
}

Test(i8254, saved_state_counts_on_from_where_it_was_in_another_clock)
{
	struct rig a, b;
	rig_open(&a);
	program(&a, 0, 2, 1000);
	outb(&a, I8254_SPEAKER_PORT, 0x03);      /* gate 2 open, speaker on */
	program(&a, 2, 0, 5000);
	outb(&a, 0x43, 0x70 | 3 << 1);           /* channel 1, lo/hi, mode 3 ... */
	outb(&a, 0x41, 0x34);                    /* ... half its count written */
	at_clock(&a, 2500);
	i8254_tick(a.pit);
	cr_assert_eq(a.edges, 1u, "two periods, one coalesced edge");
	outb(&a, 0x43, 0x80);                    /* latch channel 2's count ... */
	uint8_t low = inb(&a, 0x42);             /* ... and read half of it */
	struct state_writer w;
	save(&a, &w);

	/* Another clock, far from the first: the count is not a time. */
	rig_open(&b);
	b.now = START_NS + 7777777777ULL;
	struct kvmini_error err;
	cr_assert_eq(restore(&b, w.data, w.len, &err), 0, "%s", err.msg);
	cr_expect_eq(b.rearms, 1u, "channel 0's timer is rearmed");
	uint8_t high = inb(&b, 0x42);
	cr_expect_eq(high, inb(&a, 0x42), "the latch's other half");
	cr_expect_eq(low | high << 8, 2500);
	cr_expect_eq(latch_and_read(&b, 2), latch_and_read(&a, 2), "the live count, where it was");
	for (unsigned ch = 0; ch < 3; ch++)
		cr_expect_eq(read_status(&b, ch), read_status(&a, ch), "channel %u", ch);
	cr_expect_eq(latch_and_read(&b, 0), latch_and_read(&a, 0));
	cr_expect_eq(port61(&b), port61(&a));
	/* The same deadline, as seen from each clock, and no edge again. */
	uint64_t due_a = i8254_tick(a.pit), due_b = i8254_tick(b.pit);
	int64_t skew = (int64_t)(due_b - b.now) - (int64_t)(due_a - a.now);
	cr_expect(skew >= -1 && skew <= 1, "deadlines %llu and %llu ns away",
		  (unsigned long long)(due_b - b.now), (unsigned long long)(due_a - a.now));
	cr_expect_eq(b.edges, 0u, "edges already signalled are not signalled again");
	advance(&a, 600);
	advance(&b, 600);
	i8254_tick(a.pit);
	i8254_tick(b.pit);
	cr_expect_eq(a.edges, 2u);
	cr_expect_eq(b.edges, 1u, "the third period's edge, on both");
	cr_expect_eq(latch_and_read(&b, 0), latch_and_read(&a, 0));
	cr_expect_eq(latch_and_read(&b, 2), latch_and_read(&a, 2));
	advance(&a, 3000);
	advance(&b, 3000);
	cr_expect_eq(port61(&b), port61(&a), "channel 2's OUT rose on both");
	cr_expect(port61(&b) & 0x20);
	outb(&a, 0x41, 0x12);                    /* the other half of channel 1's count */
	outb(&b, 0x41, 0x12);
	advance(&a, 100);
	advance(&b, 100);
	cr_expect_eq(latch_and_read(&b, 1), latch_and_read(&a, 1));
	state_writer_free(&w);
	rig_close(&a);
	rig_close(&b);
}

/* Record offsets: version (4 bytes), three channels of 38 bytes (mode,
 * access, 11 flags, reload 4, clocks counted 8, edges 8, low byte,
 * latched bytes, latch 2, status), port 0x61. */
enum { CH0 = 4, CH_SIZE = 38, MODE = 0, ACCESS = 1, GATE = 3, RUNNING = 6, RELOAD = 13,
       HELD = 17, EDGES = 25, LATCHED = 34, PORT61 = 4 + 3 * CH_SIZE };

/* The good record with `width` bytes at `offset` set to `value`. */
static void expect_refused(const struct state_writer *good, size_t offset, unsigned width,
			   uint64_t value, const char *message)
{
	struct rig rig;
	rig_open(&rig);
	uint8_t *bad = malloc(good->len);
	memcpy(bad, good->data, good->len);
	for (unsigned i = 0; i < width; i++)
		bad[offset + i] = (uint8_t)(value >> (8 * i));
	struct kvmini_error err;
	cr_expect_eq(restore(&rig, bad, good->len, &err), -1, "offset %zu", offset);
	cr_expect_str_eq(err.msg, message);
	cr_expect_eq(i8254_tick(rig.pit), I8254_NO_DEADLINE, "a refused state changes nothing");
	cr_expect_eq(rig.rearms, 0u);
	free(bad);
	rig_close(&rig);
}

Test(i8254, malformed_saved_state_is_refused)
{
	struct rig rig;
	rig_open(&rig);
	program(&rig, 0, 2, 1000);
	at_clock(&rig, 1500);
	i8254_tick(rig.pit);
	struct state_writer w;
	save(&rig, &w);
	cr_assert_eq(w.len, (size_t)PORT61 + 1);
	expect_refused(&w, 0, 4, 257, "8254 PIT: saved state version 257 is not supported");
	expect_refused(&w, CH0 + MODE, 1, 6, "8254 PIT: saved channel 0 is impossible");
	expect_refused(&w, CH0 + CH_SIZE + ACCESS, 1, 4, "8254 PIT: saved channel 1 is impossible");
	expect_refused(&w, CH0 + GATE, 1, 0, "8254 PIT: saved channel 0 is impossible");
	expect_refused(&w, CH0 + 2 * CH_SIZE + RUNNING, 1, 1,
		       "8254 PIT: saved channel 2 is impossible");   /* running, never loaded */
	expect_refused(&w, CH0 + 2 * CH_SIZE + RUNNING, 1, 2,
		       "8254 PIT: saved channel 2 is impossible");
	expect_refused(&w, CH0 + RELOAD, 4, 1, "8254 PIT: saved channel 0 is impossible");
	expect_refused(&w, CH0 + RELOAD, 4, 65537, "8254 PIT: saved channel 0 is impossible");
	expect_refused(&w, CH0 + HELD, 8, (1ULL << 51) + 1,
		       "8254 PIT: saved channel 0 is impossible");
	expect_refused(&w, CH0 + EDGES, 8, 1501, "8254 PIT: saved channel 0 is impossible");
	expect_refused(&w, CH0 + LATCHED, 1, 3, "8254 PIT: saved channel 0 is impossible");
	expect_refused(&w, PORT61, 1, 0x81, "8254 PIT: saved port 0x61 value 0x81 is impossible");
	struct kvmini_error err;
	for (size_t len = 0; len < w.len; len++) {
		cr_expect_eq(restore(&rig, w.data, len, &err), -1, "cut at %zu", len);
		cr_expect_str_eq(err.msg, "8254 PIT: saved state is truncated");
	}
	state_writer_free(&w);
	rig_close(&rig);
}
