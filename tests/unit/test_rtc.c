/* Unit tests of the CMOS RTC, driven through its bus callbacks as the
 * vCPU loop drives ports 0x70/0x71, with a clock the test sets. */
#include <criterion/criterion.h>

#include <string.h>
#include <time.h>

#include "devices/rtc.h"
#include "state.h"
#include "line_recorder.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

struct fake_clock {
	struct timespec now;
};

static void fake_now(void *ctx, struct timespec *now)
{
	*now = ((struct fake_clock *)ctx)->now;
}

struct rig {
	struct fake_clock clock;
	struct rtc *rtc;
};

static time_t utc(int year, int mon, int day, int hour, int min, int sec)
{
	struct tm tm = {
		.tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day,
		.tm_hour = hour, .tm_min = min, .tm_sec = sec,
	};
	return timegm(&tm);
}

static void rig_open(struct rig *rig, time_t when, uint64_t below_4g, uint64_t above_4g)
{
	memset(rig, 0, sizeof(*rig));
	rig->clock.now.tv_sec = when;
	rig->clock.now.tv_nsec = 500000000L;   /* mid-second: UIP clear */
	struct rtc_clock clock = { .now = fake_now, .ctx = &rig->clock };
	rig->rtc = rtc_create(&clock, below_4g, above_4g);
	cr_assert_not_null(rig->rtc);
}

static void port_write(struct rig *rig, unsigned port, uint8_t value)
{
	rtc_ops.write(rig->rtc, port - RTC_PORT, &value, 1);
}

static uint8_t port_read(struct rig *rig, unsigned port)
{
	uint8_t value = 0;
	rtc_ops.read(rig->rtc, port - RTC_PORT, &value, 1);
	return value;
}

static uint8_t cmos_read(struct rig *rig, uint8_t reg)
{
	port_write(rig, 0x70, reg);
	return port_read(rig, 0x71);
}

static void cmos_write(struct rig *rig, uint8_t reg, uint8_t value)
{
	port_write(rig, 0x70, reg);
	port_write(rig, 0x71, value);
}

/* The eight time registers, in the order sec min hour dow day month year century. */
static void expect_time(struct rig *rig, const uint8_t want[8])
{
	static const uint8_t regs[8] = { 0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32 };
	for (unsigned i = 0; i < 8; i++)
		cr_expect_eq(cmos_read(rig, regs[i]), want[i], "register 0x%02x: got 0x%02x, want 0x%02x",
			     regs[i], cmos_read(rig, regs[i]), want[i]);
}

static void set_hour(struct rig *rig, int hour, int min)
{
	rig->clock.now.tv_sec = utc(2024, 2, 29, hour, min, 0);
}

/* 2024-02-29 was a Thursday: day of week 5 (Sunday = 1). */
Test(rtc, power_on_reads_bcd_24_hour_time)
{
	struct rig rig;
	rig_open(&rig, utc(2024, 2, 29, 13, 45, 7), 64 * MIB, 0);
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_A), 0x26);
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_B), 0x02);
	expect_time(&rig, (const uint8_t[8]){ 0x07, 0x45, 0x13, 0x05, 0x29, 0x02, 0x24, 0x20 });
	rtc_destroy(rig.rtc);
}

Test(rtc, binary_mode)
{
	struct rig rig;
	rig_open(&rig, utc(2024, 2, 29, 13, 45, 7), 64 * MIB, 0);
	cmos_write(&rig, RTC_STATUS_B, RTC_B_24H | RTC_B_BINARY);
	expect_time(&rig, (const uint8_t[8]){ 7, 45, 13, 5, 29, 2, 24, 20 });
	rig.clock.now.tv_sec = utc(1999, 12, 31, 23, 59, 58);   /* a Friday */
	expect_time(&rig, (const uint8_t[8]){ 58, 59, 23, 6, 31, 12, 99, 19 });
	rtc_destroy(rig.rtc);
}

Test(rtc, twelve_hour_mode_bcd_with_midnight_and_noon)
{
	struct rig rig;
	rig_open(&rig, 0, 64 * MIB, 0);
	cmos_write(&rig, RTC_STATUS_B, 0x00);   /* 12-hour, BCD */
	static const struct { int hour; uint8_t reg; } cases[] = {
		{ 0, 0x12 }, { 1, 0x01 }, { 11, 0x11 }, { 12, 0x92 }, { 13, 0x81 }, { 23, 0x91 },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		set_hour(&rig, cases[i].hour, 30);
		cr_expect_eq(cmos_read(&rig, RTC_HOURS), cases[i].reg, "%d:30 read 0x%02x, want 0x%02x",
			     cases[i].hour, cmos_read(&rig, RTC_HOURS), cases[i].reg);
		cr_expect_eq(cmos_read(&rig, RTC_MINUTES), 0x30);
	}
	rtc_destroy(rig.rtc);
}

Test(rtc, twelve_hour_mode_binary)
{
	struct rig rig;
	rig_open(&rig, 0, 64 * MIB, 0);
	cmos_write(&rig, RTC_STATUS_B, RTC_B_BINARY);
	set_hour(&rig, 0, 0);
	cr_expect_eq(cmos_read(&rig, RTC_HOURS), 12);
	set_hour(&rig, 12, 0);
	cr_expect_eq(cmos_read(&rig, RTC_HOURS), 0x80 | 12);
	set_hour(&rig, 23, 0);
	cr_expect_eq(cmos_read(&rig, RTC_HOURS), 0x80 | 11);
	rtc_destroy(rig.rtc);
}

Test(rtc, writing_hours_in_12_hour_mode)
{
	struct rig rig;
	rig_open(&rig, utc(2024, 2, 29, 8, 0, 0), 64 * MIB, 0);
	cmos_write(&rig, RTC_STATUS_B, 0x00);
	cmos_write(&rig, RTC_HOURS, 0x12);         /* 12 AM: midnight */
	cmos_write(&rig, RTC_STATUS_B, RTC_B_24H);
	cr_expect_eq(cmos_read(&rig, RTC_HOURS), 0x00);
	cmos_write(&rig, RTC_STATUS_B, 0x00);
	cmos_write(&rig, RTC_HOURS, 0x92);         /* 12 PM: noon */
	cmos_write(&rig, RTC_STATUS_B, RTC_B_24H);
	cr_expect_eq(cmos_read(&rig, RTC_HOURS), 0x12);
	cmos_write(&rig, RTC_STATUS_B, 0x00);
	cmos_write(&rig, RTC_HOURS, 0x87);         /* 7 PM */
	cmos_write(&rig, RTC_STATUS_B, RTC_B_24H);
	cr_expect_eq(cmos_read(&rig, RTC_HOURS), 0x19);
	cr_expect_eq(cmos_read(&rig, RTC_DAY), 0x29, "setting the hour must not move the date");
	rtc_destroy(rig.rtc);
}

Test(rtc, update_in_progress_in_the_last_244_us_of_each_second)
{
	struct rig rig;
	rig_open(&rig, utc(2024, 2, 29, 13, 45, 7), 64 * MIB, 0);
	static const struct { long ns; bool uip; } cases[] = {
		{ 0, false }, { 500000000L, false }, { 999755000L, false },
		{ 999756000L, true }, { 999900000L, true }, { 999999999L, true },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rig.clock.now.tv_nsec = cases[i].ns;
		uint8_t a = cmos_read(&rig, RTC_STATUS_A);
		cr_expect_eq(a, cases[i].uip ? 0xa6 : 0x26, "at %ld ns status A is 0x%02x", cases[i].ns, a);
	}
	/* The guest cannot write UIP; while SET holds the clock, UIP is 0. */
	cmos_write(&rig, RTC_STATUS_A, 0xa6);
	rig.clock.now.tv_nsec = 0;
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_A), 0x26);
	cmos_write(&rig, RTC_STATUS_B, RTC_B_SET | RTC_B_24H);
	rig.clock.now.tv_nsec = 999900000L;
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_A), 0x26);
	rtc_destroy(rig.rtc);
}

Test(rtc, nmi_disable_bit_is_masked_off_the_index_and_remembered)
{
	struct rig rig;
	rig_open(&rig, 0, 64 * MIB, 0);
	cr_expect_not(rtc_nmi_disabled(rig.rtc));
	cmos_write(&rig, 0x40, 0x5a);
	port_write(&rig, 0x70, 0x80 | 0x40);
	cr_expect(rtc_nmi_disabled(rig.rtc));
	cr_expect_eq(port_read(&rig, 0x71), 0x5a, "bit 7 must not change the register selected");
	cr_expect_eq(port_read(&rig, 0x70), 0xc0);
	port_write(&rig, 0x70, 0x80 | RTC_STATUS_D);
	cr_expect_eq(port_read(&rig, 0x71), 0x80);
	port_write(&rig, 0x70, RTC_STATUS_D);
	cr_expect_not(rtc_nmi_disabled(rig.rtc));
	rtc_destroy(rig.rtc);
}

Test(rtc, status_c_and_d_are_read_only)
{
	struct rig rig;
	rig_open(&rig, 0, 64 * MIB, 0);
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_C), 0x00);
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_D), 0x80);
	cmos_write(&rig, RTC_STATUS_C, 0xff);
	cmos_write(&rig, RTC_STATUS_D, 0x00);
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_C), 0x00);
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_D), 0x80);
	rtc_destroy(rig.rtc);
}

Test(rtc, registers_past_0x0d_are_ram_except_the_century)
{
	struct rig rig;
	rig_open(&rig, utc(2024, 2, 29, 0, 0, 0), 64 * MIB, 0);
	for (unsigned reg = 0x0e; reg < RTC_RAM_SIZE; reg++) {
		if (reg == RTC_CENTURY)
			continue;
		cmos_write(&rig, (uint8_t)reg, (uint8_t)(reg ^ 0xa5));
	}
	for (unsigned reg = 0x0e; reg < RTC_RAM_SIZE; reg++) {
		if (reg != RTC_CENTURY)
			cr_expect_eq(cmos_read(&rig, (uint8_t)reg), (uint8_t)(reg ^ 0xa5), "register 0x%02x", reg);
	}
	/* The alarm registers are plain storage too. */
	cmos_write(&rig, 0x01, 0x33);
	cmos_write(&rig, 0x05, 0x44);
	cr_expect_eq(cmos_read(&rig, 0x01), 0x33);
	cr_expect_eq(cmos_read(&rig, 0x05), 0x44);
	cr_expect_eq(cmos_read(&rig, RTC_SECONDS), 0x00);
	rtc_destroy(rig.rtc);
}

Test(rtc, sixteen_bit_access_selects_then_writes)
{
	struct rig rig;
	rig_open(&rig, 0, 64 * MIB, 0);
	uint8_t outw[2] = { 0x41, 0x77 };   /* outw to 0x70: index 0x41, data 0x77 */
	rtc_ops.write(rig.rtc, 0, outw, 2);
	cr_expect_eq(cmos_read(&rig, 0x41), 0x77);
	uint8_t inw[2] = { 0, 0 };
	port_write(&rig, 0x70, 0x41);
	rtc_ops.read(rig.rtc, 0, inw, 2);
	cr_expect_eq(inw[0], 0x41);
	cr_expect_eq(inw[1], 0x77);
	rtc_destroy(rig.rtc);
}

static void expect_le16(struct rig *rig, uint8_t reg, unsigned want)
{
	unsigned got = cmos_read(rig, reg) | (unsigned)cmos_read(rig, reg + 1) << 8;
	cr_expect_eq(got, want, "registers 0x%02x-0x%02x: got %u, want %u", reg, reg + 1, got, want);
}

static void expect_memory(uint64_t below_4g, uint64_t above_4g, unsigned base_kib,
			  unsigned ext_kib, unsigned over_16m, unsigned over_4g)
{
	struct rig rig;
	rig_open(&rig, 0, below_4g, above_4g);
	expect_le16(&rig, 0x15, base_kib);
	expect_le16(&rig, 0x17, ext_kib);
	expect_le16(&rig, 0x30, ext_kib);
	expect_le16(&rig, 0x34, over_16m);
	unsigned high = cmos_read(&rig, 0x5b) | (unsigned)cmos_read(&rig, 0x5c) << 8 |
			(unsigned)cmos_read(&rig, 0x5d) << 16;
	cr_expect_eq(high, over_4g, "0x5b-0x5d: got 0x%x, want 0x%x", high, over_4g);
	unsigned sum = 0;
	for (uint8_t reg = 0x10; reg <= 0x2d; reg++)
		sum += cmos_read(&rig, reg);
	cr_expect_eq((unsigned)cmos_read(&rig, 0x2e) << 8 | cmos_read(&rig, 0x2f), sum);
	rtc_destroy(rig.rtc);
}

Test(rtc, memory_size_bytes_for_64_mib)
{
	expect_memory(64 * MIB, 0, 640, 64512, 768, 0);
}

Test(rtc, memory_size_bytes_below_640_kib_and_1_mib)
{
	expect_memory(512 << 10, 0, 512, 0, 0, 0);
	expect_memory(1 * MIB, 0, 640, 0, 0, 0);
}

Test(rtc, memory_size_bytes_for_16_mib_and_just_over)
{
	expect_memory(16 * MIB, 0, 640, 15360, 0, 0);
	expect_memory(16 * MIB + (64 << 10), 0, 640, 15424, 1, 0);
}

Test(rtc, memory_size_bytes_saturate_at_65535)
{
	/* 1 GiB: 1047552 KiB above 1 MiB does not fit in 16 bits. */
	expect_memory(1 * GIB, 0, 640, 0xffff, (1 * GIB - 16 * MIB) >> 16, 0);
}

Test(rtc, memory_above_4_gib_for_4_and_64_gib_of_ram)
{
	/* kvmini keeps 3 GiB below the hole and puts the rest above 4 GiB. */
	expect_memory(3 * GIB, 1 * GIB, 640, 0xffff, 0xbf00, 0x4000);
	expect_memory(3 * GIB, 61 * GIB, 640, 0xffff, 0xbf00, 0xf4000);
}

Test(rtc, setting_the_time_moves_it_against_the_host_clock)
{
	struct rig rig;
	rig_open(&rig, utc(2024, 2, 29, 13, 45, 7), 64 * MIB, 0);
	cmos_write(&rig, RTC_MINUTES, 0x30);
	cr_expect_eq(cmos_read(&rig, RTC_MINUTES), 0x30);
	cr_expect_eq(cmos_read(&rig, RTC_SECONDS), 0x07);
	rig.clock.now.tv_sec += 65;   /* the guest's clock keeps running from there */
	expect_time(&rig, (const uint8_t[8]){ 0x12, 0x31, 0x13, 0x05, 0x29, 0x02, 0x24, 0x20 });
	rtc_destroy(rig.rtc);
}

Test(rtc, setting_the_date_with_set_held_then_released)
{
	struct rig rig;
	rig_open(&rig, utc(2024, 2, 29, 13, 45, 7), 64 * MIB, 0);
	cmos_write(&rig, RTC_STATUS_B, RTC_B_SET | RTC_B_24H | RTC_B_BINARY);
	uint8_t when[][2] = {
		{ RTC_CENTURY, 19 }, { RTC_YEAR, 99 }, { RTC_MONTH, 12 }, { RTC_DAY, 31 },
		{ RTC_HOURS, 23 }, { RTC_MINUTES, 59 }, { RTC_SECONDS, 58 },
	};
	for (unsigned i = 0; i < sizeof(when) / sizeof(when[0]); i++)
		cmos_write(&rig, when[i][0], when[i][1]);
	rig.clock.now.tv_sec += 100;   /* SET holds the registers still */
	cr_expect_eq(cmos_read(&rig, RTC_SECONDS), 58);
	cr_expect_eq(cmos_read(&rig, RTC_YEAR), 99);
	cmos_write(&rig, RTC_STATUS_B, RTC_B_24H | RTC_B_BINARY);
	rig.clock.now.tv_sec += 3;
	/* 2000-01-01 00:00:01 was a Saturday. */
	expect_time(&rig, (const uint8_t[8]){ 1, 0, 0, 7, 1, 1, 0, 20 });
	rtc_destroy(rig.rtc);
}

Test(rtc, writing_the_day_of_week_changes_nothing)
{
	struct rig rig;
	rig_open(&rig, utc(2024, 2, 29, 13, 45, 7), 64 * MIB, 0);
	cmos_write(&rig, RTC_DAY_OF_WEEK, 0x01);
	expect_time(&rig, (const uint8_t[8]){ 0x07, 0x45, 0x13, 0x05, 0x29, 0x02, 0x24, 0x20 });
	rtc_destroy(rig.rtc);
}

Test(rtc, the_default_clock_is_the_hosts_utc_time)
{
	struct rtc *rtc = rtc_create(NULL, 64 * MIB, 0);
	cr_assert_not_null(rtc);
	time_t before = time(NULL);
	uint8_t reg = RTC_STATUS_B, value = RTC_B_24H | RTC_B_BINARY;
	rtc_ops.write(rtc, 0, &reg, 1);
	rtc_ops.write(rtc, 1, &value, 1);
	static const uint8_t regs[] = { RTC_CENTURY, RTC_YEAR, RTC_MONTH, RTC_DAY, RTC_HOURS,
					RTC_MINUTES, RTC_SECONDS };
	uint8_t v[7];
	for (unsigned i = 0; i < 7; i++) {
		reg = regs[i];
		rtc_ops.write(rtc, 0, &reg, 1);
		rtc_ops.read(rtc, 1, &v[i], 1);
	}
	time_t after = time(NULL);
	time_t got = utc(v[0] * 100 + v[1], v[2], v[3], v[4], v[5], v[6]);
	cr_expect(got >= before - 1 && got <= after + 1, "RTC %ld, host %ld..%ld",
		  (long)got, (long)before, (long)after);
	rtc_destroy(rtc);
}

/* ==== interrupts ==== */

/* ---- flags a polling guest sees, on the test's clock ---- */

static void advance(struct rig *rig, long ns)
{
	rig->clock.now.tv_nsec += ns;
	rig->clock.now.tv_sec += rig->clock.now.tv_nsec / 1000000000L;
	rig->clock.now.tv_nsec %= 1000000000L;
}

Test(rtc, status_c_reports_a_periodic_tick_once_and_reading_clears_it)
{
	struct rig rig;
	rig_open(&rig, utc(2024, 2, 29, 13, 45, 7), 64 * MIB, 0);
	cmos_write(&rig, RTC_STATUS_A, 0x2f);    /* rate 15: 2 Hz */
	advance(&rig, 499999999);
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_C), 0, "not yet half a second");
	advance(&rig, 1);   /* 13:45:08.0: a tick, and a new second */
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_C), RTC_C_PF | RTC_C_UF);
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_C), 0, "read: cleared");
	advance(&rig, 1500000000L);               /* three ticks: one flag */
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_C), RTC_C_PF | RTC_C_UF);
	cmos_write(&rig, RTC_STATUS_A, 0x20);    /* rate 0: off */
	advance(&rig, 600000000L);
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_C) & RTC_C_PF, 0);
	rtc_destroy(rig.rtc);
}

Test(rtc, update_ended_comes_each_second_unless_set_holds_the_clock)
{
	struct rig rig;
	rig_open(&rig, utc(2024, 2, 29, 13, 45, 7), 64 * MIB, 0);
	cmos_write(&rig, RTC_STATUS_A, 0x20);    /* no periodic flag in the way */
	advance(&rig, 499999999);
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_C), 0, "still second 7");
	advance(&rig, 1);
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_C), RTC_C_UF, "second 8 began");
	cmos_write(&rig, RTC_STATUS_B, RTC_B_SET | RTC_B_24H);
	advance(&rig, 2000000000L);
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_C), 0, "SET: no update");
	cmos_write(&rig, RTC_STATUS_B, RTC_B_24H);
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_C), 0);
	advance(&rig, 1000000000L);
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_C), RTC_C_UF);
	rtc_destroy(rig.rtc);
}

Test(rtc, the_alarm_flag_sets_in_the_matching_second_and_0xc0_matches_anything)
{
	struct rig rig;
	rig_open(&rig, utc(2024, 2, 29, 13, 45, 7), 64 * MIB, 0);
	cmos_write(&rig, RTC_STATUS_A, 0x20);
	cmos_write(&rig, RTC_ALARM_HOURS, 0x13);
	cmos_write(&rig, RTC_ALARM_MINUTES, 0x45);
	cmos_write(&rig, RTC_ALARM_SECONDS, 0x09);
	advance(&rig, 1000000000L);
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_C), RTC_C_UF, "13:45:08: no alarm");
	advance(&rig, 1000000000L);
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_C), RTC_C_UF | RTC_C_AF, "13:45:09");
	cmos_write(&rig, RTC_ALARM_SECONDS, 0xff);   /* every second of 13:45 */
	cmos_write(&rig, RTC_ALARM_HOURS, 0xc0);     /* of every hour */
	advance(&rig, 1000000000L);
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_C), RTC_C_UF | RTC_C_AF, "13:45:10");
	cmos_write(&rig, RTC_ALARM_MINUTES, 0x46);
	advance(&rig, 1000000000L);
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_C), RTC_C_UF, "minute 45 is not 46");
	rtc_destroy(rig.rtc);
}

Test(rtc, irqf_and_the_line_follow_an_enabled_flag_until_c_is_read)
{
	struct rig rig;
	struct line_recorder rec;
	struct kvmini_error err;
	line_recorder_init(&rec);
	struct irq_line irq8 = line_recorder_line(&rec, RTC_IRQ);
	rig_open(&rig, utc(2024, 2, 29, 13, 45, 7), 64 * MIB, 0);
	cr_assert_eq(rtc_attach(rig.rtc, &irq8, NULL, &err), 0, "%s", err.msg);
	cmos_write(&rig, RTC_STATUS_A, 0x2f);
	advance(&rig, 500000000L);
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_C), RTC_C_PF | RTC_C_UF, "PIE clear: no IRQF");
	cr_expect_eq(line_recorder_rises(&rec), 0);
	advance(&rig, 500000000L);
	cmos_write(&rig, RTC_STATUS_B, RTC_B_24H | RTC_B_PIE);   /* a pending PF and now PIE */
	cr_expect(line_recorder_high(&rec, RTC_IRQ), "IRQ 8 up");
	cr_expect_eq(cmos_read(&rig, RTC_STATUS_C), RTC_C_IRQF | RTC_C_PF);
	cr_expect_not(line_recorder_high(&rec, RTC_IRQ), "reading C lowers it");
	cr_expect_eq(line_recorder_event(&rec, 0).line, RTC_IRQ);
	cmos_write(&rig, RTC_STATUS_B, RTC_B_24H);
	rtc_destroy(rig.rtc);
}

/* ---- on a real event loop and the host's clock: waits on events ---- */

struct live {
	struct rtc *rtc;
	struct event_loop *loop;
	struct line_recorder rec;
};

static void live_open(struct live *l)
{
	struct kvmini_error err;
	line_recorder_init(&l->rec);
	struct irq_line irq8 = line_recorder_line(&l->rec, RTC_IRQ);
	cr_assert_not_null(l->loop = event_loop_create("rtc-test", &err), "%s", err.msg);
	cr_assert_not_null(l->rtc = rtc_create(NULL, 64 * MIB, 0));
	cr_assert_eq(rtc_attach(l->rtc, &irq8, l->loop, &err), 0, "%s", err.msg);
	cr_assert_eq(event_loop_start(l->loop, &err), 0, "%s", err.msg);
}

static void live_close(struct live *l)
{
	rtc_destroy(l->rtc);
	event_loop_destroy(l->loop);
}

static uint8_t live_read(struct live *l, uint8_t reg)
{
	uint8_t v = 0;
	rtc_ops.write(l->rtc, 0, &reg, 1);
	rtc_ops.read(l->rtc, 1, &v, 1);
	return v;
}

static void live_write(struct live *l, uint8_t reg, uint8_t v)
{
	rtc_ops.write(l->rtc, 0, &reg, 1);
	rtc_ops.write(l->rtc, 1, &v, 1);
}

Test(rtc_irq, periodic_interrupts_come_at_the_rate_while_c_is_read)
{
	struct live l;
	live_open(&l);
	live_write(&l, RTC_STATUS_A, 0x20);                   /* off: no flag pending */
	live_read(&l, RTC_STATUS_C);
	uint64_t start = event_loop_now_ns();
	live_write(&l, RTC_STATUS_A, 0x26);                   /* 1024 Hz, counted from now */
	live_write(&l, RTC_STATUS_B, RTC_B_24H | RTC_B_PIE);
	for (unsigned n = 1; n <= 8; n++) {
		cr_assert(line_recorder_wait(&l.rec, n), "interrupt %u did not come", n);
		uint8_t c = live_read(&l, RTC_STATUS_C);
		cr_assert_eq(c & (RTC_C_IRQF | RTC_C_PF), RTC_C_IRQF | RTC_C_PF, "C = 0x%02x", c);
		cr_assert_not(line_recorder_high(&l.rec, RTC_IRQ));
	}
	/* each interrupt is a later tick of 1/1024 s from the rate's start */
	uint64_t eighth = line_recorder_event(&l.rec, 14).ns;
	cr_assert_geq(eighth - start, 8 * 976562 - 1000000, "8 ticks took %llu ns",
		      (unsigned long long)(eighth - start));
	live_write(&l, RTC_STATUS_B, RTC_B_24H);
	live_close(&l);
}

Test(rtc_irq, the_update_interrupt_comes_at_the_next_second_then_the_alarm)
{
	struct live l;
	live_open(&l);
	live_write(&l, RTC_STATUS_A, 0x20);   /* no periodic flag from here on */
	live_read(&l, RTC_STATUS_C);          /* the flags so far (a PF at 1024 Hz) go */
	uint8_t sec = live_read(&l, RTC_SECONDS);
	live_write(&l, RTC_STATUS_B, RTC_B_24H | RTC_B_UIE);
	cr_assert(line_recorder_wait(&l.rec, 1), "no update-ended interrupt");
	cr_assert_neq(live_read(&l, RTC_SECONDS), sec, "it ended a second");
	cr_assert_eq(live_read(&l, RTC_STATUS_C), RTC_C_IRQF | RTC_C_UF);
	/* the alarm alone, every second */
	live_write(&l, RTC_ALARM_HOURS, 0xff);
	live_write(&l, RTC_ALARM_MINUTES, 0xff);
	live_write(&l, RTC_ALARM_SECONDS, 0xff);
	live_write(&l, RTC_STATUS_B, RTC_B_24H | RTC_B_AIE);
	live_read(&l, RTC_STATUS_C);
	unsigned before = line_recorder_rises(&l.rec);
	cr_assert(line_recorder_wait(&l.rec, before + 1), "no alarm interrupt");
	cr_assert_eq(live_read(&l, RTC_STATUS_C), RTC_C_IRQF | RTC_C_AF | RTC_C_UF);
	live_write(&l, RTC_STATUS_B, RTC_B_24H);
	live_close(&l);
}

Test(rtc_irq, a_new_boot_rebinds_the_line_and_the_old_one_hears_nothing)
{
	struct live l;
	struct line_recorder next;
	struct kvmini_error err;
	live_open(&l);
	live_write(&l, RTC_STATUS_A, 0x23);                   /* 8192 Hz */
	live_write(&l, RTC_STATUS_B, RTC_B_24H | RTC_B_PIE);
	cr_assert(line_recorder_wait(&l.rec, 1));
	rtc_detach(l.rtc);
	unsigned heard = l.rec.count;
	line_recorder_init(&next);
	struct irq_line irq8 = line_recorder_line(&next, RTC_IRQ);
	cr_assert_eq(rtc_attach(l.rtc, &irq8, l.loop, &err), 0, "%s", err.msg);
	cr_assert_eq(live_read(&l, RTC_STATUS_B) & RTC_B_PIE, 0, "a reset clears the enables");
	cr_assert_eq(live_read(&l, RTC_STATUS_C), 0, "and the flags");
	live_write(&l, RTC_STATUS_B, RTC_B_24H | RTC_B_PIE);
	cr_assert(line_recorder_wait(&next, 1), "the new line gets the interrupt");
	live_read(&l, RTC_STATUS_C);
	cr_assert(line_recorder_wait(&next, 2));
	cr_assert_eq(line_recorder_event(&l.rec, heard).ns, 0, "the old line heard nothing more");
	cr_assert_eq(l.rec.count, heard);
	live_write(&l, RTC_STATUS_B, RTC_B_24H);
	live_close(&l);
}

Test(rtc_irq, a_restored_irqf_raises_the_line_again)
{
	struct live l;
	struct kvmini_error err;
	struct state_writer w;
	struct state_reader r;
	live_open(&l);
	live_write(&l, RTC_STATUS_A, 0x26);
	live_write(&l, RTC_STATUS_B, RTC_B_24H | RTC_B_PIE);
	cr_assert(line_recorder_wait(&l.rec, 1));
	live_write(&l, RTC_STATUS_B, RTC_B_24H);              /* IRQF stays until C is read */
	state_writer_init(&w);
	rtc_device.save_state(l.rtc, &w);
	live_read(&l, RTC_STATUS_C);
	cr_assert_not(line_recorder_high(&l.rec, RTC_IRQ));
	state_reader_init(&r, w.data, w.len);
	cr_assert_eq(rtc_device.restore_state(l.rtc, &r, &err), 0, "%s", err.msg);
	cr_assert(line_recorder_high(&l.rec, RTC_IRQ), "IRQF came back with the state");
	cr_assert_eq(live_read(&l, RTC_STATUS_C) & RTC_C_IRQF, RTC_C_IRQF);
	state_writer_free(&w);
	live_close(&l);
}
