/* The ACPI PM1a blocks: SCI_EN always set, SLP_TYP kept, S5 powers off
 * only with SLP_EN, status bits clear on a written 1. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include "devices/acpi_pm.h"

struct recorder {
	int offs;
	char reason[96];
};

static void record_off(void *ctx, const char *reason)
{
	struct recorder *r = ctx;
	r->offs++;
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
}

static struct acpi_pm pm;
static struct recorder rec;

static void setup(void)
{
	memset(&rec, 0, sizeof(rec));
	struct power_off_line line = { .off = record_off, .ctx = &rec };
	acpi_pm_init(&pm, &line);
}

static void teardown(void) { acpi_pm_destroy(&pm); }

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
		if (type == 5)
			continue;
		write16(&acpi_pm_control_ops, 0, (uint16_t)((type << 10) | (1 << 13)));
	}
	cr_assert_eq(rec.offs, 0);
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
