/* The address-space bus: registration, overlap rejection, lookup, and
 * dispatch of accesses to the right device at the right offset. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include "bus.h"

struct recorder {
	uint64_t offset;
	uint8_t data[8];
	uint32_t len;
	int reads, writes;
};

static void rec_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct recorder *r = opaque;
	r->reads++;
	r->offset = offset;
	r->len = len;
	for (uint32_t i = 0; i < len; i++)
		data[i] = (uint8_t)(0x10 + i);
}

static void rec_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct recorder *r = opaque;
	r->writes++;
	r->offset = offset;
	r->len = len;
	memcpy(r->data, data, len);
}

static const struct bus_device_ops rec_ops = { .read = rec_read, .write = rec_write };
static const struct bus_device_ops no_ops = { 0 };

static struct bus bus;
static struct kvmini_error err;

static void setup(void) { bus_init(&bus, "port"); }
static void teardown(void) { bus_free(&bus); }

TestSuite(bus, .init = setup, .fini = teardown);

Test(bus, finds_registered_ranges_and_nothing_else)
{
	struct recorder a = { 0 }, b = { 0 };
	cr_assert_eq(bus_register(&bus, 0x3f8, 8, &rec_ops, &a, "a", &err), 0);
	cr_assert_eq(bus_register(&bus, 0x60, 1, &rec_ops, &b, "b", &err), 0);
	cr_assert_eq(bus_find(&bus, 0x3f8)->opaque, &a);
	cr_assert_eq(bus_find(&bus, 0x3ff)->opaque, &a);
	cr_assert_null(bus_find(&bus, 0x3f7));
	cr_assert_null(bus_find(&bus, 0x400));
	cr_assert_eq(bus_find(&bus, 0x60)->opaque, &b);
	cr_assert_null(bus_find(&bus, 0x61));
	cr_assert_null(bus_find(&bus, 0));
}

Test(bus, keeps_ranges_sorted_whatever_the_registration_order)
{
	static struct recorder r[64];
	/* Register in a scrambled order; every lookup must still hit. */
	for (unsigned i = 0; i < 64; i++) {
		unsigned slot = (i * 37) % 64;
		cr_assert_eq(bus_register(&bus, slot * 16, 4, &rec_ops, &r[slot], "dev", &err), 0);
	}
	for (unsigned i = 1; i < bus_count(&bus); i++)
		cr_assert_lt(bus.table->ranges[i - 1].base, bus.table->ranges[i].base);
	for (unsigned slot = 0; slot < 64; slot++) {
		cr_assert_eq(bus_find(&bus, slot * 16 + 3)->opaque, &r[slot]);
		cr_assert_null(bus_find(&bus, slot * 16 + 4));
	}
}

Test(bus, rejects_overlaps_on_either_side_and_inside)
{
	struct recorder a = { 0 };
	cr_assert_eq(bus_register(&bus, 0x100, 0x10, &rec_ops, &a, "first", &err), 0);
	cr_assert_eq(bus_register(&bus, 0xf8, 0x9, &rec_ops, &a, "low", &err), -1);
	cr_assert(strstr(err.msg, "overlaps first"), "%s", err.msg);
	cr_assert_eq(bus_register(&bus, 0x10f, 1, &rec_ops, &a, "high", &err), -1);
	cr_assert_eq(bus_register(&bus, 0x104, 2, &rec_ops, &a, "inside", &err), -1);
	cr_assert_eq(bus_register(&bus, 0x0, 0x1000, &rec_ops, &a, "around", &err), -1);
	/* Touching ranges are fine. */
	cr_assert_eq(bus_register(&bus, 0xf0, 0x10, &rec_ops, &a, "below", &err), 0);
	cr_assert_eq(bus_register(&bus, 0x110, 0x10, &rec_ops, &a, "above", &err), 0);
	cr_assert_eq(bus_count(&bus), 3);
}

Test(bus, rejects_empty_and_wrapping_ranges)
{
	struct recorder a = { 0 };
	cr_assert_eq(bus_register(&bus, 0x10, 0, &rec_ops, &a, "empty", &err), -1);
	cr_assert_eq(bus_register(&bus, UINT64_MAX - 1, 4, &rec_ops, &a, "wrap", &err), -1);
	cr_assert_eq(bus_register(&bus, UINT64_MAX, 1, &rec_ops, &a, "last", &err), 0);
	cr_assert_not_null(bus_find(&bus, UINT64_MAX));
}

Test(bus, dispatches_with_offset_and_length)
{
	struct recorder a = { 0 };
	bus_register(&bus, 0x3f8, 8, &rec_ops, &a, "uart", &err);
	uint8_t data[4] = { 0xaa, 0xbb };
	cr_assert(bus_access(&bus, 0x3fb, data, 2, true));
	cr_assert_eq(a.writes, 1);
	cr_assert_eq(a.offset, 3);
	cr_assert_eq(a.len, 2);
	cr_assert_eq(a.data[0], 0xaa);
	cr_assert_eq(a.data[1], 0xbb);
	cr_assert(bus_access(&bus, 0x3f9, data, 4, false));
	cr_assert_eq(a.reads, 1);
	cr_assert_eq(a.offset, 1);
	cr_assert_eq(data[3], 0x13);
}

Test(bus, unclaimed_reads_are_all_ones_and_writes_go_nowhere)
{
	struct recorder a = { 0 };
	bus_register(&bus, 0x3f8, 8, &rec_ops, &a, "uart", &err);
	uint8_t data[4] = { 0 };
	cr_assert_not(bus_access(&bus, 0x80, data, 4, false));
	for (int i = 0; i < 4; i++)
		cr_assert_eq(data[i], 0xff);
	cr_assert_not(bus_access(&bus, 0x80, data, 1, true));
	/* An access running off the end of a range is not claimed either. */
	memset(data, 0, sizeof(data));
	cr_assert_not(bus_access(&bus, 0x3fe, data, 4, false));
	cr_assert_eq(data[0], 0xff);
	cr_assert_eq(a.reads + a.writes, 0);
}

Test(bus, devices_without_callbacks_read_all_ones)
{
	cr_assert_eq(bus_register(&bus, 0x70, 2, &no_ops, NULL, "silent", &err), 0);
	uint8_t data[2] = { 0 };
	cr_assert(bus_access(&bus, 0x70, data, 2, false));
	cr_assert_eq(data[0], 0xff);
	cr_assert_eq(data[1], 0xff);
	cr_assert(bus_access(&bus, 0x71, data, 1, true));
}

Test(bus, unregister_removes_only_that_range)
{
	struct recorder a = { 0 }, b = { 0 };
	cr_assert_eq(bus_register(&bus, 0x60, 1, &rec_ops, &a, "a", &err), 0);
	cr_assert_eq(bus_register(&bus, 0x64, 1, &rec_ops, &b, "b", &err), 0);
	cr_assert_eq(bus_unregister(&bus, 0x60, &err), 0, "%s", err.msg);
	uint8_t data[1] = { 0 };
	cr_assert_not(bus_access(&bus, 0x60, data, 1, false));
	cr_assert_eq(data[0], 0xff);
	cr_assert(bus_access(&bus, 0x64, data, 1, false));
	cr_assert_eq(a.reads, 0);
	cr_assert_eq(b.reads, 1);
	cr_assert_eq(bus_count(&bus), 1);
	/* The freed place can be taken again. */
	cr_assert_eq(bus_register(&bus, 0x60, 1, &rec_ops, &b, "again", &err), 0);
	cr_assert_eq(bus_find(&bus, 0x60)->opaque, &b);
}

Test(bus, unregister_needs_the_exact_base)
{
	struct recorder a = { 0 };
	cr_assert_eq(bus_register(&bus, 0x3f8, 8, &rec_ops, &a, "uart", &err), 0);
	cr_assert_eq(bus_unregister(&bus, 0x3f9, &err), -1);
	cr_assert(strstr(err.msg, "no port range starts at 0x3f9"), "%s", err.msg);
	cr_assert_eq(bus_unregister(&bus, 0x80, &err), -1);
	cr_assert_eq(bus_count(&bus), 1);
}

Test(bus, move_keeps_the_device_and_offsets)
{
	struct recorder a = { 0 }, b = { 0 };
	cr_assert_eq(bus_register(&bus, 0x1000, 0x10, &rec_ops, &a, "bar", &err), 0);
	cr_assert_eq(bus_register(&bus, 0x3000, 0x10, &rec_ops, &b, "other", &err), 0);
	cr_assert_eq(bus_move(&bus, 0x1000, 0x4000, &err), 0, "%s", err.msg);
	uint8_t data[1] = { 0x5a };
	cr_assert_not(bus_access(&bus, 0x1004, data, 1, true));
	cr_assert(bus_access(&bus, 0x4004, data, 1, true));
	cr_assert_eq(a.writes, 1);
	cr_assert_eq(a.offset, 4);
	cr_assert_str_eq(bus_find(&bus, 0x400f)->name, "bar");
	/* Onto a neighbour: refused, and nothing changes. */
	cr_assert_eq(bus_move(&bus, 0x4000, 0x3008, &err), -1);
	cr_assert(strstr(err.msg, "overlaps other"), "%s", err.msg);
	cr_assert_eq(bus_find(&bus, 0x4000)->opaque, &a);
	/* Overlapping its own old place is fine. */
	cr_assert_eq(bus_move(&bus, 0x4000, 0x4008, &err), 0, "%s", err.msg);
	cr_assert_eq(bus_find(&bus, 0x4017)->opaque, &a);
	cr_assert_null(bus_find(&bus, 0x4007));
	cr_assert_eq(bus_count(&bus), 2);
}

/* A device whose write removes its own range (as a guest's write to a
 * BAR moves it): the writer must not wait for its own lookup. */
static void self_remove_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)offset; (void)data; (void)len;
	struct bus *b = opaque;
	struct kvmini_error e;
	cr_assert_eq(bus_unregister(b, 0x500, &e), 0, "%s", e.msg);
	cr_assert_eq(bus_move(b, 0x600, 0x700, &e), 0, "%s", e.msg);
}

Test(bus, a_callback_may_change_its_own_bus)
{
	static const struct bus_device_ops self_ops = { .write = self_remove_write };
	struct recorder a = { 0 };
	cr_assert_eq(bus_register(&bus, 0x500, 4, &self_ops, &bus, "self", &err), 0);
	cr_assert_eq(bus_register(&bus, 0x600, 4, &rec_ops, &a, "moved", &err), 0);
	uint8_t data[1] = { 1 };
	cr_assert(bus_access(&bus, 0x500, data, 1, true));
	cr_assert_null(bus_find(&bus, 0x500));
	cr_assert_eq(bus_find(&bus, 0x700)->opaque, &a);
}

/* ---- lookups while the ranges change ----
 * Reader threads access four ranges without pause while a writer
 * removes, re-adds and moves them. Each device is marked dead as soon as
 * bus_unregister() returns and alive just before it is registered again;
 * a callback that finds its device dead ran after unregister returned,
 * which the bus promises never happens. ASan sees any use of a freed
 * table. Bounded by the writer's iteration count, not by time. */
#define STRESS_DEVICES 4
#define STRESS_READERS 3
#define STRESS_ROUNDS 3000

struct stress_device {
	int alive;                 /* atomic */
	unsigned long calls;       /* atomic */
};

struct stress {
	struct bus *bus;
	struct stress_device dev[STRESS_DEVICES];
	int done;                  /* atomic: the writer finished */
	unsigned long accesses;    /* atomic */
	unsigned long dead_calls;  /* atomic: must stay 0 */
	unsigned long bad_offsets; /* atomic: must stay 0 */
	unsigned readers_started;  /* atomic */
};

static struct stress *stress_of;   /* the one running stress test's state */

static void stress_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct stress_device *d = opaque;
	if (!__atomic_load_n(&d->alive, __ATOMIC_SEQ_CST))
		__atomic_fetch_add(&stress_of->dead_calls, 1, __ATOMIC_SEQ_CST);
	if (offset + len > 16)
		__atomic_fetch_add(&stress_of->bad_offsets, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&d->calls, 1, __ATOMIC_RELAXED);
	memset(data, 0x42, len);
}

static const struct bus_device_ops stress_ops = { .read = stress_read };

static void *stress_reader(void *arg)
{
	struct stress *s = arg;
	__atomic_fetch_add(&s->readers_started, 1, __ATOMIC_SEQ_CST);
	uint64_t addr = 0;
	while (!__atomic_load_n(&s->done, __ATOMIC_SEQ_CST)) {
		uint8_t data[2];
		bus_access(s->bus, 0x1000 + (addr % 0x100), data, 2, false);
		__atomic_fetch_add(&s->accesses, 1, __ATOMIC_RELAXED);
		addr += 7;
	}
	return NULL;
}

/* Device i is removed and stays dead while another device moves away
 * and back (two more publications a late callback could slip through),
 * then comes back. */
static void stress_write_round(struct stress *s, unsigned round)
{
	unsigned i = round % STRESS_DEVICES, j = (i + 1) % STRESS_DEVICES;
	uint64_t base_i = 0x1000 + i * 0x40, base_j = 0x1000 + j * 0x40;
	struct kvmini_error e;
	cr_assert_eq(bus_unregister(s->bus, base_i, &e), 0, "%s", e.msg);
	__atomic_store_n(&s->dev[i].alive, 0, __ATOMIC_SEQ_CST);
	cr_assert_eq(bus_move(s->bus, base_j, base_j + 0x20, &e), 0, "%s", e.msg);
	cr_assert_eq(bus_move(s->bus, base_j + 0x20, base_j, &e), 0, "%s", e.msg);
	__atomic_store_n(&s->dev[i].alive, 1, __ATOMIC_SEQ_CST);
	cr_assert_eq(bus_register(s->bus, base_i, 16, &stress_ops, &s->dev[i], "stress", &e),
		     0, "%s", e.msg);
}

Test(bus, lookups_stay_safe_while_ranges_change, .timeout = 120)
{
	static struct stress s;
	memset(&s, 0, sizeof(s));
	s.bus = &bus;
	stress_of = &s;
	for (unsigned i = 0; i < STRESS_DEVICES; i++) {
		s.dev[i].alive = 1;
		cr_assert_eq(bus_register(&bus, 0x1000 + i * 0x40, 16, &stress_ops, &s.dev[i],
					  "stress", &err), 0);
	}
	pthread_t readers[STRESS_READERS];
	for (unsigned i = 0; i < STRESS_READERS; i++)
		cr_assert_eq(pthread_create(&readers[i], NULL, stress_reader, &s), 0);
	while (__atomic_load_n(&s.readers_started, __ATOMIC_SEQ_CST) < STRESS_READERS)
		sched_yield();
	for (unsigned round = 0; round < STRESS_ROUNDS; round++)
		stress_write_round(&s, round);
	__atomic_store_n(&s.done, 1, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < STRESS_READERS; i++)
		pthread_join(readers[i], NULL);
	cr_assert_eq(s.dead_calls, 0, "%lu callbacks ran after their range was removed",
		     s.dead_calls);
	cr_assert_eq(s.bad_offsets, 0);
	cr_assert_gt(s.accesses, 0);
	unsigned long calls = 0;
	for (unsigned i = 0; i < STRESS_DEVICES; i++)
		calls += s.dev[i].calls;
	cr_assert_gt(calls, 0, "the readers never reached a device");
	cr_assert_eq(bus_count(&bus), STRESS_DEVICES);
	cr_assert_eq(bus.readers[0] + bus.readers[1], 0, "every lookup was counted out");
}
