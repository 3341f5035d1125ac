/* The HPET through its MMIO callbacks as a guest drives it: registers on
 * a clock the test sets, then comparators on a real event loop whose
 * interrupts the test waits for (events, never sleeps). */
#include <criterion/criterion.h>
#include <string.h>
#include "devices/hpet.h"
#include "state.h"
#include "line_recorder.h"

struct fake_clock {
	uint64_t ns;
};

static uint64_t fake_now(void *ctx)
{
	return ((struct fake_clock *)ctx)->ns;
}

static struct hpet *h;
static struct fake_clock clk;
static struct event_loop *loop;
static struct line_recorder rec;

static void open_fake(void)
{
	struct kvmini_error err;
	struct hpet_clock c = { fake_now, &clk };
	clk.ns = 1000000;
	line_recorder_init(&rec);
	struct irq_line isa = line_recorder_line(&rec, 0);
	cr_assert_not_null(h = hpet_create(&c, NULL, &isa, &err), "%s", err.msg);
}

/* The real clock and an event loop: timers fire. */
static void open_live(void)
{
	struct kvmini_error err;
	line_recorder_init(&rec);
	struct irq_line isa = line_recorder_line(&rec, 0);
	cr_assert_not_null(loop = event_loop_create("hpet-test", &err), "%s", err.msg);
	cr_assert_not_null(h = hpet_create(NULL, loop, &isa, &err), "%s", err.msg);
	cr_assert_eq(event_loop_start(loop, &err), 0, "%s", err.msg);
}

static void close_all(void)
{
	hpet_destroy(h);
	event_loop_destroy(loop);
	h = NULL;
	loop = NULL;
}

TestSuite(hpet, .fini = close_all);

static uint64_t rd(uint64_t off, uint32_t len)
{
	uint8_t b[8] = { 0 };
	hpet_ops.read(h, off, b, len);
	uint64_t v = 0;
	for (uint32_t i = 0; i < len; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static void wr(uint64_t off, uint64_t v, uint32_t len)
{
	uint8_t b[8];
	for (uint32_t i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	hpet_ops.write(h, off, b, len);
}

#define TCONF(n) (HPET_TIMER(n) + HPET_TN_CONFIG)
#define TCMP(n)  (HPET_TIMER(n) + HPET_TN_CMP)

Test(hpet, capabilities_read_whole_and_in_pieces)
{
	open_fake();
	uint64_t cap = rd(HPET_CAP, 8);
	cr_assert_eq(cap, 0x009896808086a201ULL, "0x%llx",
		     (unsigned long long)cap);
	cr_assert_eq(cap & 0xff, 1, "revision");
	cr_assert_eq((cap >> 8) & 0x1f, 2, "3 timers");
	cr_assert(cap & (1u << 13), "64-bit counter");
	cr_assert(cap & (1u << 15), "legacy replacement");
	cr_assert_eq(cap >> 32, 10000000u, "10 ns in femtoseconds");
	cr_assert_eq(rd(HPET_CAP + 4, 4), 10000000u);
	cr_assert_eq(rd(HPET_CAP, 4), (uint32_t)cap);
	for (unsigned i = 0; i < 8; i++)
		cr_assert_eq(rd(HPET_CAP + i, 1), (cap >> (8 * i)) & 0xff, "byte %u", i);
	cr_assert_eq(rd(HPET_CAP + 2, 2), (cap >> 16) & 0xffff);
	cr_assert_eq(rd(HPET_CAP + 4, 8), (cap >> 32), "an access across two registers");
	wr(HPET_CAP, 0, 8);
	cr_assert_eq(rd(HPET_CAP, 8), cap, "read-only");
	cr_assert_eq(rd(0x30, 8), 0, "reserved");
	cr_assert_eq(rd(HPET_TIMER(3), 8), 0, "no fourth timer");
}

Test(hpet, the_counter_runs_at_100_mhz_only_while_enabled)
{
	open_fake();
	cr_assert_eq(rd(HPET_COUNTER, 8), 0);
	clk.ns += 5000;
	cr_assert_eq(rd(HPET_COUNTER, 8), 0, "halted at power-on");
	wr(HPET_COUNTER, 0x100000000ULL - 100, 8);   /* settable while halted */
	wr(HPET_CONFIG, HPET_CFG_ENABLE, 4);
	clk.ns += 1009;
	cr_assert_eq(rd(HPET_COUNTER, 8), 0x100000000ULL, "100 ticks in 1009 ns");
	cr_assert_eq(rd(HPET_COUNTER + 4, 4), 1, "the high half");
	wr(HPET_COUNTER, 5, 8);
	cr_assert_eq(rd(HPET_COUNTER, 8), 0x100000000ULL, "not settable while running");
	wr(HPET_CONFIG, 0, 4);
	clk.ns += 1000000;
	cr_assert_eq(rd(HPET_COUNTER, 8), 0x100000000ULL, "halted again: holds");
	wr(HPET_CONFIG, HPET_CFG_ENABLE, 1);
	clk.ns += 10;
	cr_assert_eq(rd(HPET_COUNTER, 4), 1, "runs on from where it stopped");
	cr_assert_eq(rd(HPET_CONFIG, 8), HPET_CFG_ENABLE);
	wr(HPET_CONFIG, ~0ULL, 8);
	cr_assert_eq(rd(HPET_CONFIG, 8), HPET_CFG_ENABLE | HPET_CFG_LEGACY, "two bits only");
}

Test(hpet, timer_configuration_keeps_its_capabilities_and_allowed_routes)
{
	open_fake();
	uint64_t conf = rd(TCONF(2), 8);
	cr_assert_eq(conf & 0xffffffff, HPET_TN_PER_CAP | HPET_TN_SIZE_CAP, "power-on");
	cr_assert_eq(conf >> 32, 0x4u, "IOAPIC input 2, as QEMU's PC");
	wr(TCONF(2), 0, 8);
	cr_assert_eq(rd(TCONF(2), 8), conf, "capabilities are read-only");
	wr(TCONF(2), 2u << 9 | HPET_TN_LEVEL, 4);
	cr_assert_eq((rd(TCONF(2), 4) >> 9) & 0x1f, 2);
	cr_assert(rd(TCONF(2), 4) & HPET_TN_LEVEL);
	wr(TCONF(2), 20u << 9, 4);            /* not offered: the old route stays */
	cr_assert_eq((rd(TCONF(2), 4) >> 9) & 0x1f, 2);
	cr_assert_eq(rd(TCMP(2), 8), ~0ULL, "comparators start at all ones");
	wr(TCONF(2), 2u << 9 | HPET_TN_32BIT, 2);
	cr_assert_eq(rd(TCMP(2), 8), 0xffffffffu, "32-bit mode");
	wr(TCMP(2), 0x123456789ULL, 8);
	cr_assert_eq(rd(TCMP(2), 8), 0x23456789u);
}

Test(hpet, a_comparator_write_sets_the_period_and_with_val_set_the_comparator)
{
	open_fake();
	wr(TCONF(0), HPET_TN_PERIODIC, 4);
	wr(TCMP(0), 1000, 8);
	cr_assert_eq(rd(TCMP(0), 8), ~0ULL, "periodic without VAL_SET: the period only");
	wr(TCONF(0), HPET_TN_PERIODIC | HPET_TN_SETVAL, 4);
	wr(TCMP(0), 5000, 8);
	cr_assert_eq(rd(TCMP(0), 8), 5000);
	cr_assert_eq(rd(TCONF(0), 4) & HPET_TN_SETVAL, 0, "VAL_SET clears itself");
	wr(TCMP(0), 700, 4);
	cr_assert_eq(rd(TCMP(0), 8), 5000, "then the period");
	wr(TCONF(0), 0, 4);
	wr(TCMP(0), 42, 4);
	cr_assert_eq(rd(TCMP(0), 8), 42, "one-shot: the comparator");
	wr(TCMP(0) + 4, 1, 4);
	cr_assert_eq(rd(TCMP(0), 8), 0x10000002aULL, "halves merge");
}

/* ---- on a real event loop ---- */

/* Set timer n (config bits) to fire `ticks` after the counter runs on.
 * The counter is halted meanwhile, so a test thread that is slow to
 * write the comparator cannot find it already passed. */
static void fire_in(unsigned n, uint64_t config, uint64_t ticks)
{
	uint64_t c = rd(HPET_CONFIG, 8);
	wr(HPET_CONFIG, c & ~HPET_CFG_ENABLE, 8);
	wr(TCONF(n), config | HPET_TN_SETVAL, 8);
	wr(TCMP(n), rd(HPET_COUNTER, 8) + ticks, 8);
	wr(HPET_CONFIG, c | HPET_CFG_ENABLE, 8);
}

Test(hpet, a_one_shot_comparator_pulses_its_route_once)
{
	open_live();
	fire_in(2, HPET_TN_ENABLE | 2u << 9, 100000);    /* 1 ms, to IOAPIC input 2 */
	cr_assert(line_recorder_wait_events(&rec, 2), "no interrupt");
	struct line_event up = line_recorder_event(&rec, 0), down = line_recorder_event(&rec, 1);
	cr_assert_eq(up.line, 0, "input 2 is ISA line 0's");
	cr_assert(up.level);
	cr_assert_eq(down.line, 0);
	cr_assert_not(down.level, "edge-triggered: a pulse");
	cr_assert_geq(rd(HPET_COUNTER, 8), rd(TCMP(2), 8), "not before the counter got there");
	cr_assert_eq(rd(HPET_STATUS, 8), 0, "no status bit for an edge");
	/* A second one-shot on another timer proves the first stayed quiet. */
	fire_in(1, HPET_TN_ENABLE | 2u << 9, 200000);
	cr_assert(line_recorder_wait_events(&rec, 4));
	cr_assert_eq(line_recorder_rises(&rec), 2, "timer 2 did not fire again");
}

Test(hpet, legacy_replacement_routes_timer_0_to_irq_0_periodically)
{
	open_live();
	wr(HPET_CONFIG, HPET_CFG_LEGACY, 8);
	/* every 2 ms: the first deadline with VAL_SET, then the period */
	uint64_t start = event_loop_now_ns();
	fire_in(0, HPET_TN_ENABLE | HPET_TN_PERIODIC | HPET_TN_32BIT, 200000);   /* route 0: none */
	uint32_t first = (uint32_t)rd(TCMP(0), 4);
	wr(TCMP(0), 200000, 4);
	cr_assert(line_recorder_wait_events(&rec, 10), "fewer than 5 periodic interrupts");
	wr(TCONF(0), 0, 8);
	for (unsigned i = 0; i < 10; i++) {
		struct line_event e = line_recorder_event(&rec, i);
		cr_assert_eq(e.line, 0, "IRQ 0, though the route field drives nothing");
		cr_assert_eq(e.level, i % 2 == 0, "pulses");
	}
	cr_assert_geq(line_recorder_event(&rec, 8).ns - start, 5 * 2000000 - HPET_TICK_NS,
		      "the fifth interrupt comes five periods after the start, not sooner");
	uint32_t moved = (uint32_t)rd(TCMP(0), 4) - first;
	cr_assert_eq(moved % 200000, 0, "the comparator moves by whole periods");
	cr_assert_geq(moved, 5 * 200000);
}

Test(hpet, a_level_triggered_timer_holds_its_line_until_status_is_cleared)
{
	open_live();
	fire_in(1, HPET_TN_ENABLE | HPET_TN_LEVEL | 2u << 9, 50000);
	cr_assert(line_recorder_wait(&rec, 1));
	cr_assert(line_recorder_high(&rec, 0));
	cr_assert_eq(rd(HPET_STATUS, 8), 2, "timer 1's status bit");
	wr(HPET_STATUS, 1, 8);                 /* another timer's bit: nothing */
	cr_assert(line_recorder_high(&rec, 0));
	wr(HPET_STATUS, 2, 1);
	cr_assert_eq(rd(HPET_STATUS, 8), 0);
	cr_assert_not(line_recorder_high(&rec, 0), "cleared: the line drops");
}

Test(hpet, a_one_tick_period_is_paced_by_the_host_bound)
{
	open_live();
	uint64_t start = event_loop_now_ns();
	fire_in(2, HPET_TN_ENABLE | HPET_TN_PERIODIC | 2u << 9, 100000);   /* first in 1 ms */
	wr(TCMP(2), 1, 8);                                                  /* then every tick */
	cr_assert(line_recorder_wait(&rec, 6));
	wr(TCONF(2), 0, 8);
	cr_assert_eq(line_recorder_event(&rec, 0).line, 0);
	cr_assert_geq(line_recorder_event(&rec, 10).ns - start,
		      1000000 + 5 * HPET_MIN_PERIOD_NS - HPET_TICK_NS,
		      "the sixth pulse comes five host periods after the first deadline");
}

Test(hpet, a_disabled_or_halted_timer_stays_quiet)
{
	open_live();
	/* timer 0 due first (level) but its interrupt is off, timer 1 on later */
	uint64_t start = event_loop_now_ns();
	fire_in(0, HPET_TN_LEVEL | 2u << 9, 1000);
	fire_in(1, HPET_TN_ENABLE | 2u << 9, 300000);
	cr_assert(line_recorder_wait(&rec, 1));
	cr_assert_geq(line_recorder_event(&rec, 0).ns - start, 3000000 - HPET_TICK_NS,
		      "the first interrupt is timer 1's, 3 ms on");
	cr_assert_eq(rd(HPET_STATUS, 8), 0, "timer 0 did not fire");
	/* halted: timer 2 (level) armed, then the counter stopped and the
	 * comparator moved 10 s on; timer 1 again */
	fire_in(2, HPET_TN_ENABLE | HPET_TN_LEVEL | 2u << 9, 100000);
	wr(HPET_CONFIG, 0, 8);
	wr(HPET_COUNTER, 0, 8);
	wr(TCMP(2), 1000000000, 8);
	fire_in(1, HPET_TN_ENABLE | 2u << 9, 300000);
	cr_assert(line_recorder_wait(&rec, 2));
	cr_assert_eq(rd(HPET_STATUS, 8), 0, "the halted-then-moved timer 2 did not fire");
}

/* ---- saved state ---- */

Test(hpet, state_round_trips_and_impossible_values_are_refused)
{
	struct kvmini_error err;
	struct state_writer w;
	struct state_reader r;

	open_fake();
	wr(HPET_CONFIG, HPET_CFG_ENABLE, 8);
	wr(TCONF(1), HPET_TN_LEVEL | 2u << 9 | HPET_TN_32BIT, 8);
	wr(TCMP(1), 777, 8);
	clk.ns += 1230;
	state_writer_init(&w);
	hpet_device.save_state(h, &w);
	cr_assert_not(w.failed);
	hpet_device.reset(h);
	cr_assert_eq(rd(HPET_CONFIG, 8), 0);
	state_reader_init(&r, w.data, w.len);
	cr_assert_eq(hpet_device.restore_state(h, &r, &err), 0, "%s", err.msg);
	cr_assert_eq(rd(HPET_COUNTER, 8), 123);
	cr_assert_eq(rd(TCMP(1), 8), 777);
	cr_assert_eq((rd(TCONF(1), 8) >> 9) & 0x1f, 2);

	w.data[8 * 3 + 8 * 3 + 1] = 5 << 1 | 1;/* timer 1 routed to input 5: not offered */
	state_reader_init(&r, w.data, w.len);
	cr_assert_eq(hpet_device.restore_state(h, &r, &err), -1);
	cr_assert(strstr(err.msg, "timer 1"), "%s", err.msg);
	w.data[8 * 3 + 8 * 3 + 1] = 2 << 1 | 1;
	w.data[8 * 3 + 8 * 3 + 8 + 4] = 1;     /* a 32-bit comparator above 32 bits */
	state_reader_init(&r, w.data, w.len);
	cr_assert_eq(hpet_device.restore_state(h, &r, &err), -1);
	w.data[8 * 3 + 8 * 3 + 8 + 4] = 0;
	w.data[8] = 1;                         /* status for edge-triggered timer 0 */
	state_reader_init(&r, w.data, w.len);
	cr_assert_eq(hpet_device.restore_state(h, &r, &err), -1);
	w.data[8] = 0;
	state_reader_init(&r, w.data, w.len - 1);
	cr_assert_eq(hpet_device.restore_state(h, &r, &err), -1);
	cr_assert_eq(rd(TCMP(1), 8), 777, "refused restores changed nothing");
	state_writer_free(&w);
}
