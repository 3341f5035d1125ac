/* The address-space bus: registration, overlap rejection, lookup, and
 * dispatch of accesses to the right device at the right offset. */
#include <criterion/criterion.h>
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
	for (unsigned i = 1; i < bus.count; i++)
		cr_assert_lt(bus.ranges[i - 1].base, bus.ranges[i].base);
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
	cr_assert_eq(bus.count, 3);
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
