/* Unit tests of the guest memory layer: sizes guest_memory_init accepts,
 * guest_ptr's bounds (end of RAM, empty ranges, 64-bit wrap-around, the
 * MMIO hole below 4 GiB) and the copy helpers. RAM is mapped lazily, so
 * even the multi-GiB layouts cost only the pages a test touches. */
#include <criterion/criterion.h>
#include <string.h>
#include "memory.h"

#define KIB (1ULL << 10)
#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

static void init_ok(struct guest_memory *mem, uint64_t size, unsigned flags)
{
	struct kvmini_error err = { 0 };

	cr_assert_eq(guest_memory_init(mem, size, flags, &err), 0, "%s", err.msg);
}

static void expect_init_rejected(uint64_t size, const char *fragment)
{
	struct guest_memory mem;
	struct kvmini_error err = { 0 };

	cr_assert_eq(guest_memory_init(&mem, size, 0, &err), -1, "size %llu accepted",
		     (unsigned long long)size);
	cr_assert_eq(err.code, KVMINI_E_USAGE, "code %d: %s", err.code, err.msg);
	cr_assert(strstr(err.msg, fragment), "message '%s' lacks '%s'", err.msg, fragment);
	cr_assert_null(mem.base, "a rejected init left a mapping");
	cr_assert_eq(mem.nregions, 0);
	guest_memory_free(&mem);   /* safe on a failed init */
}

/* ==== guest_memory_init ==== */

Test(guest_memory_init, rejects_sizes_out_of_range)
{
	expect_init_rejected(0, "out of range");
	expect_init_rejected(GUEST_MEM_MIN - 4 * KIB, "out of range");
	expect_init_rejected(GUEST_MEM_MAX + 4 * KIB, "out of range");
	expect_init_rejected(UINT64_MAX, "out of range");
}

Test(guest_memory_init, rejects_sizes_not_a_multiple_of_4_kib)
{
	expect_init_rejected(GUEST_MEM_MIN + 1, "multiple of 4 KiB");
	expect_init_rejected(2 * MIB + 2 * KIB, "multiple of 4 KiB");
}

Test(guest_memory_init, accepts_the_limits)
{
	struct guest_memory mem;

	init_ok(&mem, GUEST_MEM_MIN, 0);
	cr_assert_eq(mem.ram_size, GUEST_MEM_MIN);
	cr_assert_eq(guest_ram_end(&mem), GUEST_MEM_MIN);
	guest_memory_free(&mem);

	init_ok(&mem, GUEST_MEM_MAX, 0);
	cr_assert_eq(mem.ram_size, GUEST_MEM_MAX);
	cr_assert_eq(guest_ram_end(&mem), GUEST_MEM_MAX + (GUEST_MMIO_HOLE_END - GUEST_MMIO_HOLE_START));
	guest_memory_free(&mem);
}

Test(guest_memory_init, small_ram_is_one_region_from_zero)
{
	struct guest_memory mem;

	init_ok(&mem, 2 * MIB, 0);
	cr_assert_eq(mem.nregions, 1);
	cr_assert_eq(mem.regions[0].gpa, 0);
	cr_assert_eq(mem.regions[0].size, 2 * MIB);
	cr_assert_eq(guest_ram_end(&mem), 2 * MIB);
	cr_assert_eq(mem.memfd, -1);
	guest_memory_free(&mem);
}

Test(guest_memory_init, ram_up_to_the_hole_needs_no_second_region)
{
	struct guest_memory mem;

	init_ok(&mem, GUEST_MMIO_HOLE_START, 0);
	cr_assert_eq(mem.nregions, 1);
	cr_assert_eq(guest_ram_end(&mem), GUEST_MMIO_HOLE_START);
	guest_memory_free(&mem);
}

Test(guest_memory_init, large_ram_continues_above_4_gib)
{
	struct guest_memory mem;

	init_ok(&mem, 4 * GIB, 0);
	cr_assert_eq(mem.nregions, 2);
	cr_assert_eq(mem.regions[0].gpa, 0);
	cr_assert_eq(mem.regions[0].size, GUEST_MMIO_HOLE_START);
	cr_assert_eq(mem.regions[1].gpa, GUEST_MMIO_HOLE_END);
	cr_assert_eq(mem.regions[1].size, 4 * GIB - GUEST_MMIO_HOLE_START);
	cr_assert_eq(guest_ram_end(&mem), 5 * GIB);
	guest_memory_free(&mem);
}

Test(guest_memory_init, shared_and_prefaulted_memory_work)
{
	struct guest_memory mem;
	uint32_t value = 0x12345678, back = 0;

	init_ok(&mem, 1 * MIB, GUEST_MEM_SHARED | GUEST_MEM_PREFAULT);
	cr_assert_geq(mem.memfd, 0);
	cr_assert_eq(guest_write(&mem, 1 * MIB - 4, &value, sizeof(value)), 0);
	cr_assert_eq(guest_read(&mem, 1 * MIB - 4, &back, sizeof(back)), 0);
	cr_assert_eq(back, value);
	guest_memory_free(&mem);
	cr_assert_eq(mem.memfd, -1);
}

Test(guest_memory_init, fresh_ram_is_zero)
{
	struct guest_memory mem;
	const uint8_t *p;

	init_ok(&mem, 64 * KIB, 0);
	p = guest_ptr(&mem, 0, 64 * KIB);
	cr_assert_not_null(p);
	for (uint64_t i = 0; i < 64 * KIB; i++)
		cr_assert_eq(p[i], 0, "byte 0x%llx", (unsigned long long)i);
	guest_memory_free(&mem);
}

Test(guest_memory_free, is_idempotent)
{
	struct guest_memory mem;

	init_ok(&mem, 64 * KIB, 0);
	guest_memory_free(&mem);
	cr_assert_null(mem.base);
	cr_assert_eq(mem.nregions, 0);
	cr_assert_null(guest_ptr(&mem, 0, 1), "freed memory still reachable");
	cr_assert_eq(guest_ram_end(&mem), 0);
	guest_memory_free(&mem);
}

/* ==== guest_ptr on one region ==== */

Test(guest_ptr, bounds_of_a_single_region)
{
	struct guest_memory mem;
	const uint64_t end = 2 * MIB;

	init_ok(&mem, end, 0);
	cr_assert_eq(guest_ptr(&mem, 0, end), mem.regions[0].host, "all of RAM");
	cr_assert_eq(guest_ptr(&mem, end - 1, 1), mem.regions[0].host + end - 1, "last byte");
	cr_assert_null(guest_ptr(&mem, end, 1), "one past the end");
	cr_assert_null(guest_ptr(&mem, end - 1, 2), "straddles the end");
	cr_assert_null(guest_ptr(&mem, 0, end + 1), "one byte too long");
	cr_assert_null(guest_ptr(&mem, 4 * GIB, 1), "far beyond RAM");
	guest_memory_free(&mem);
}

Test(guest_ptr, empty_ranges)
{
	struct guest_memory mem;
	const uint64_t end = 2 * MIB;

	/* An empty range is "inside" RAM when its address is in [0, end]. */
	init_ok(&mem, end, 0);
	cr_assert_eq(guest_ptr(&mem, 0, 0), mem.regions[0].host);
	cr_assert_eq(guest_ptr(&mem, 0x1234, 0), mem.regions[0].host + 0x1234);
	cr_assert_eq(guest_ptr(&mem, end, 0), mem.regions[0].host + end, "empty range at the end");
	cr_assert_null(guest_ptr(&mem, end + 1, 0), "empty range beyond the end");
	cr_assert_null(guest_ptr(&mem, UINT64_MAX, 0));
	guest_memory_free(&mem);
}

Test(guest_ptr, lengths_that_would_wrap_64_bits)
{
	struct guest_memory mem;

	init_ok(&mem, 2 * MIB, 0);
	cr_assert_null(guest_ptr(&mem, UINT64_MAX, 1));
	cr_assert_null(guest_ptr(&mem, UINT64_MAX, 2), "gpa + len wraps to 1");
	cr_assert_null(guest_ptr(&mem, 1, UINT64_MAX), "gpa + len wraps to 0");
	cr_assert_null(guest_ptr(&mem, 0x1000, UINT64_MAX - 0x1000 + 1), "wraps to exactly 0");
	cr_assert_null(guest_ptr(&mem, 0, UINT64_MAX));
	cr_assert_null(guest_ptr(&mem, UINT64_MAX - 0xfff, 0x2000));
	guest_memory_free(&mem);
}

/* ==== guest_ptr around the MMIO hole ==== */

Test(guest_ptr, the_mmio_hole_is_not_ram)
{
	struct guest_memory mem;
	const uint64_t hole = GUEST_MMIO_HOLE_START, high = GUEST_MMIO_HOLE_END;

	init_ok(&mem, 4 * GIB, 0);
	cr_assert_not_null(guest_ptr(&mem, hole - 1, 1), "last byte below the hole");
	cr_assert_null(guest_ptr(&mem, hole, 1), "first byte of the hole");
	cr_assert_null(guest_ptr(&mem, 0xfee00000, 4), "local APIC page");
	cr_assert_null(guest_ptr(&mem, high - 1, 1), "last byte of the hole");
	cr_assert_not_null(guest_ptr(&mem, high, 1), "first byte above 4 GiB");
	cr_assert_not_null(guest_ptr(&mem, 5 * GIB - 1, 1), "last byte of RAM");
	cr_assert_null(guest_ptr(&mem, 5 * GIB, 1), "one past RAM");
	guest_memory_free(&mem);
}

Test(guest_ptr, ranges_straddling_regions_fail)
{
	struct guest_memory mem;
	const uint64_t hole = GUEST_MMIO_HOLE_START, high = GUEST_MMIO_HOLE_END;

	init_ok(&mem, 4 * GIB, 0);
	cr_assert_null(guest_ptr(&mem, hole - 1, 2), "into the hole");
	cr_assert_null(guest_ptr(&mem, high - 1, 2), "out of the hole");
	cr_assert_null(guest_ptr(&mem, hole - 0x1000, high - hole + 0x2000), "across the hole");
	cr_assert_null(guest_ptr(&mem, 0, 5 * GIB), "all of the address range");
	cr_assert_null(guest_ptr(&mem, high, 4 * GIB), "past the end of the high region");
	cr_assert_not_null(guest_ptr(&mem, 0, hole), "the whole low region");
	cr_assert_not_null(guest_ptr(&mem, high, 1 * GIB), "the whole high region");
	guest_memory_free(&mem);
}

Test(guest_ptr, regions_are_distinct_host_memory)
{
	struct guest_memory mem;
	uint64_t low = 0xa5a5a5a5a5a5a5a5ULL, high = 0x5a5a5a5a5a5a5a5aULL, back;

	init_ok(&mem, 4 * GIB, 0);
	cr_assert_eq(guest_write(&mem, GUEST_MMIO_HOLE_START - 8, &low, 8), 0);
	cr_assert_eq(guest_write(&mem, GUEST_MMIO_HOLE_END, &high, 8), 0);
	cr_assert_eq(guest_read(&mem, GUEST_MMIO_HOLE_START - 8, &back, 8), 0);
	cr_assert_eq(back, low);
	cr_assert_eq(guest_read(&mem, GUEST_MMIO_HOLE_END, &back, 8), 0);
	cr_assert_eq(back, high);
	guest_memory_free(&mem);
}

/* ==== guest_read / guest_write ==== */

Test(guest_copy, round_trip)
{
	struct guest_memory mem;
	const char text[] = "hello, guest";
	char back[sizeof(text)] = { 0 };

	init_ok(&mem, 2 * MIB, 0);
	cr_assert_eq(guest_write(&mem, 0x7c00, text, sizeof(text)), 0);
	cr_assert_eq(guest_read(&mem, 0x7c00, back, sizeof(back)), 0);
	cr_assert_str_eq(back, text);
	cr_assert_eq(memcmp(guest_ptr(&mem, 0x7c00, sizeof(text)), text, sizeof(text)), 0,
		     "guest_write went somewhere else than guest_ptr");
	cr_assert_eq(guest_write(&mem, 2 * MIB - sizeof(text), text, sizeof(text)), 0,
		     "write ending at the last byte");
	guest_memory_free(&mem);
}

Test(guest_copy, out_of_bounds_copies_fail_without_side_effects)
{
	struct guest_memory mem;
	uint8_t buf[16], before[16];

	init_ok(&mem, 2 * MIB, 0);
	memset(buf, 0x77, sizeof(buf));
	memcpy(before, buf, sizeof(buf));
	cr_assert_eq(guest_write(&mem, 2 * MIB - 8, buf, sizeof(buf)), -1);
	cr_assert_eq(*(uint8_t *)guest_ptr(&mem, 2 * MIB - 8, 1), 0, "partial write");
	cr_assert_eq(guest_read(&mem, 2 * MIB - 8, buf, sizeof(buf)), -1);
	cr_assert_arr_eq(buf, before, sizeof(buf), "partial read");
	cr_assert_eq(guest_write(&mem, UINT64_MAX - 3, buf, sizeof(buf)), -1);
	cr_assert_eq(guest_read(&mem, UINT64_MAX - 3, buf, sizeof(buf)), -1);
	guest_memory_free(&mem);
}

Test(guest_copy, empty_copies)
{
	struct guest_memory mem;
	uint8_t byte = 0x42;

	init_ok(&mem, 64 * KIB, 0);
	cr_assert_eq(guest_write(&mem, 64 * KIB, &byte, 0), 0, "empty write at the end");
	cr_assert_eq(guest_read(&mem, 0, &byte, 0), 0);
	cr_assert_eq(byte, 0x42);
	cr_assert_eq(guest_write(&mem, 64 * KIB + 1, &byte, 0), -1, "empty write beyond the end");
	guest_memory_free(&mem);
}
