/* The ACPI PM1a blocks: SCI_EN always set, SLP_TYP kept, S5 powers off
 * and S3 suspends only with SLP_EN, status bits clear on a written 1;
 * the RTC's IRQ 8 wakes a suspended guest only with RTC_EN, setting
 * WAK_STS and RTC_STS, at a checked FACS waking vector or by a reset. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include "arch/x86/acpi.h"
#include "devices/acpi_pm.h"

struct recorder {
	int offs, suspends, resumes, resets;
	uint32_t vector;
	char reason[160];
};

static void record_off(void *ctx, const char *reason)
{
	struct recorder *r = ctx;
	r->offs++;
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
}

static void record_suspend(void *ctx)
{
	((struct recorder *)ctx)->suspends++;
}

static void record_resume(void *ctx, uint32_t vector)
{
	struct recorder *r = ctx;
	r->resumes++;
	r->vector = vector;
}

static void record_reset(void *ctx, const char *reason)
{
	struct recorder *r = ctx;
	r->resets++;
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
}

static struct acpi_pm pm;
static struct recorder rec;
static struct guest_memory mem;

#define RAM_SIZE (2u << 20)

static void setup(void)
{
	memset(&rec, 0, sizeof(rec));
	struct power_off_line line = { .off = record_off, .ctx = &rec };
	acpi_pm_init(&pm, &line);
	struct kvmini_error err;
	cr_assert_eq(guest_memory_init(&mem, RAM_SIZE, 0, &err), 0, "%s", err.msg);
	struct sleep_line sleep = { .suspend = record_suspend, .resume = record_resume, .ctx = &rec };
	struct reset_line reset = { .pull = record_reset, .ctx = &rec };
	acpi_pm_init_sleep(&pm, &sleep, &reset, &mem);
}

static void teardown(void)
{
	acpi_pm_destroy(&pm);
	guest_memory_free(&mem);
}

TestSuite(acpi_pm, .init = setup, .fini = teardown);

static void write16(const struct bus_device_ops *ops, uint64_t offset, uint16_t v)
{
	uint8_t data[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	ops->write(&pm, offset, data, 2);
}

static uint16_t read16(const struct bus_device_ops *ops, uint64_t offset)
{
	uint8_t data[2];
	ops->read(&pm, offset, data, 2);
	return (uint16_t)(data[0] | data[1] << 8);
}

Test(acpi_pm, sci_enabled_from_the_start)
{
	cr_assert_eq(read16(&acpi_pm_control_ops, 0) & 1, 1);
}

Test(acpi_pm, s5_with_slp_en_powers_off)
{
	write16(&acpi_pm_control_ops, 0, (5 << 10) | (1 << 13));
	cr_assert_eq(rec.offs, 1);
	cr_assert_str_eq(rec.reason, "guest powered off (ACPI S5)");
}

Test(acpi_pm, s5_without_slp_en_only_sets_the_type)
{
	write16(&acpi_pm_control_ops, 0, 5 << 10);
	cr_assert_eq(rec.offs, 0);
	cr_assert_eq(read16(&acpi_pm_control_ops, 0), (5 << 10) | 1);
}

Test(acpi_pm, other_sleep_states_are_ignored)
{
	for (unsigned type = 0; type < 8; type++) {
		if (type == 5 || type == 3)
			continue;
		write16(&acpi_pm_control_ops, 0, (uint16_t)((type << 10) | (1 << 13)));
	}
	cr_assert_eq(rec.offs, 0);
	cr_assert_eq(rec.suspends, 0);
	cr_assert_eq(read16(&acpi_pm_control_ops, 0) & (1 << 13), 0, "SLP_EN reads 0");
}

Test(acpi_pm, byte_writes_build_the_register)
{
	uint8_t low = 0x00, high = (5 << 2) | (1 << 5);   /* SLP_TYP 5, SLP_EN in the high byte */
	acpi_pm_control_ops.write(&pm, 0, &low, 1);
	cr_assert_eq(rec.offs, 0);
	acpi_pm_control_ops.write(&pm, 1, &high, 1);
	cr_assert_eq(rec.offs, 1);
}

Test(acpi_pm, status_bits_clear_on_one_enable_reads_back)
{
	pm.status = 0x8101;
	write16(&acpi_pm_event_ops, 0, 0x0001);
	cr_assert_eq(read16(&acpi_pm_event_ops, 0), 0x8100);
	write16(&acpi_pm_event_ops, 2, 0x0121);
	cr_assert_eq(read16(&acpi_pm_event_ops, 2), 0x0121);
}

Test(acpi_pm, accesses_past_the_registers_are_harmless)
{
	uint8_t data[4] = { 0xff, 0xff, 0xff, 0xff };
	acpi_pm_control_ops.write(&pm, 1, data, 4);
	acpi_pm_control_ops.read(&pm, 1, data, 4);
	cr_assert_eq(data[3], 0xff);
}

Test(acpi_pm, decode_control)
{
	cr_assert_eq(acpi_pm_decode_control(3 << 10), ACPI_PM_NONE, "no SLP_EN");
	cr_assert_eq(acpi_pm_decode_control((3 << 10) | (1 << 13)), ACPI_PM_SUSPEND);
	cr_assert_eq(acpi_pm_decode_control((5 << 10) | (1 << 13)), ACPI_PM_POWER_OFF);
	cr_assert_eq(acpi_pm_decode_control((3 << 10) | (1 << 13) | 0xc3ff), ACPI_PM_SUSPEND,
		     "other bits do not matter");
	for (unsigned type = 0; type < 8; type++)
		if (type != 3 && type != 5)
			cr_assert_eq(acpi_pm_decode_control((uint16_t)((type << 10) | (1 << 13))),
				     ACPI_PM_NONE, "SLP_TYP %u", type);
}

/* The FACS kvmini writes, with the guest's vector. */
static void facs_put(uint32_t vector)
{
	struct acpi_facs facs = { .length = sizeof(facs), .firmware_waking_vector = vector };
	memcpy(facs.signature, "FACS", 4);
	cr_assert_eq(guest_write(&mem, ACPI_FACS_ADDR, &facs, sizeof(facs)), 0);
}

static void suspend(uint16_t enable)
{
	write16(&acpi_pm_event_ops, 2, enable);
	write16(&acpi_pm_control_ops, 0, (3 << 10) | (1 << 13));
	cr_assert_eq(rec.suspends, 1);
}

Test(acpi_pm, s3_suspends_and_the_rtc_wakes_at_the_vector)
{
	facs_put(0x8000);
	suspend(ACPI_PM1_EN_RTC);
	cr_assert_eq(rec.offs, 0);
	acpi_pm_line_changed(&pm, 8, false);
	acpi_pm_line_changed(&pm, 4, true);
	cr_assert_eq(rec.resumes, 0, "only IRQ 8 rising wakes");
	acpi_pm_line_changed(&pm, 8, true);
	cr_assert_eq(rec.resumes, 1);
	cr_assert_eq(rec.vector, 0x8000);
	cr_assert_eq(read16(&acpi_pm_event_ops, 0), ACPI_PM1_STS_WAK | ACPI_PM1_STS_RTC);
	acpi_pm_line_changed(&pm, 8, true);
	cr_assert_eq(rec.resumes, 1, "awake: no second wake");
	write16(&acpi_pm_event_ops, 0, ACPI_PM1_STS_WAK | ACPI_PM1_STS_RTC);
	cr_assert_eq(read16(&acpi_pm_event_ops, 0), 0);
}

Test(acpi_pm, s3_without_rtc_en_sleeps_on)
{
	facs_put(0x8000);
	suspend(0);
	acpi_pm_line_changed(&pm, 8, true);
	cr_assert_eq(rec.resumes + rec.resets, 0);
	cr_assert_eq(read16(&acpi_pm_event_ops, 0), 0, "no status without the wake");
}

Test(acpi_pm, s3_while_asleep_is_not_suspended_twice)
{
	facs_put(0x8000);
	suspend(ACPI_PM1_EN_RTC);
	write16(&acpi_pm_control_ops, 0, (3 << 10) | (1 << 13));
	cr_assert_eq(rec.suspends, 1);
}

Test(acpi_pm, waking_vectors_out_of_reach_reset_the_machine)
{
	const uint32_t bad[] = { 0, 0x100000, 0xfffffff0, RAM_SIZE + 0x10 };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&rec, 0, sizeof(rec));
		facs_put(bad[i]);
		suspend(ACPI_PM1_EN_RTC);
		acpi_pm_line_changed(&pm, 8, true);
		cr_assert_eq(rec.resumes, 0, "vector 0x%x", bad[i]);
		cr_assert_eq(rec.resets, 1, "vector 0x%x", bad[i]);
		cr_assert(strstr(rec.reason, "without a usable waking vector"), "%s", rec.reason);
	}
}

Test(acpi_pm, waking_vector_needs_the_facs)
{
	facs_put(0x8000);
	cr_assert_eq(acpi_pm_waking_vector(&mem), 0x8000);
	cr_assert_eq(acpi_pm_waking_vector(&mem), 0x8000);
	cr_assert_eq(guest_write(&mem, ACPI_FACS_ADDR, "XXXX", 4), 0);
	cr_assert_eq(acpi_pm_waking_vector(&mem), 0, "no FACS signature");
	cr_assert_eq(acpi_pm_waking_vector(NULL), 0);
}

Test(acpi_pm, reset_wakes_nothing)
{
	facs_put(0x8000);
	suspend(ACPI_PM1_EN_RTC);
	acpi_pm_device.reset(&pm);
	acpi_pm_line_changed(&pm, 8, true);
	cr_assert_eq(rec.resumes, 0);
}

/* A snapshot of a guest asleep in S3 keeps it asleep: the restored
 * block wakes it at the RTC's interrupt. A record cut short, and a sleep
 * state that cannot be, are refused. */
Test(acpi_pm, a_restored_block_is_asleep_as_saved)
{
	facs_put(0x8000);
	suspend(ACPI_PM1_EN_RTC);
	struct state_writer w;
	state_writer_init(&w);
	acpi_pm_device.save_state(&pm, &w);
	cr_assert_eq(w.len, 7);
	struct acpi_pm back;
	struct power_off_line line = { .off = record_off, .ctx = &rec };
	acpi_pm_init(&back, &line);
	struct sleep_line sleep = { .suspend = record_suspend, .resume = record_resume, .ctx = &rec };
	struct reset_line reset = { .pull = record_reset, .ctx = &rec };
	acpi_pm_init_sleep(&back, &sleep, &reset, &mem);
	struct state_reader r;
	struct kvmini_error err = { 0 };
	state_reader_init(&r, w.data, w.len);
	cr_assert_eq(acpi_pm_device.restore_state(&back, &r, &err), 0, "%s", err.msg);
	acpi_pm_line_changed(&back, 8, true);
	cr_assert_eq(rec.resumes, 1, "the restored block did not wake the guest");
	cr_assert_eq(rec.vector, 0x8000);

	state_reader_init(&r, w.data, 6);
	cr_assert_eq(acpi_pm_device.restore_state(&back, &r, &err), -1, "a record cut short");

	w.data[6] = 2;
	state_reader_init(&r, w.data, w.len);
	cr_assert_eq(acpi_pm_device.restore_state(&back, &r, &err), -1);
	cr_assert(strstr(err.msg, "sleep state 2"), "%s", err.msg);
	acpi_pm_destroy(&back);
	state_writer_free(&w);
}
