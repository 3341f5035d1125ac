#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arch/x86/acpi.h"
#include "arch/x86/firmware.h"
#include "devices/acpi_pm.h"
#include "devices/rtc.h"

#define PM1_CNT_SCI_EN   (1u << 0)    /* no SMI command port: always in ACPI mode */
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_TYP  (7u << PM1_CNT_SLP_TYP_SHIFT)
#define PM1_CNT_SLP_EN   (1u << 13)   /* write-only: starts the sleep */
#define PM1_CNT_WRITABLE (PM1_CNT_SLP_TYP | (1u << 1) | (1u << 2))   /* SLP_TYP, BM_RLD, GBL_RLS */
#define REAL_MODE_END    0x100000u    /* CS = vector >> 4 reaches below 1 MiB only */

void acpi_pm_init(struct acpi_pm *pm, const struct power_off_line *power_off)
{
	memset(pm, 0, sizeof(*pm));
	pthread_mutex_init(&pm->lock, NULL);
	pm->control = PM1_CNT_SCI_EN;
	pm->power_off = *power_off;
}

void acpi_pm_init_sleep(struct acpi_pm *pm, const struct sleep_line *sleep,
			const struct reset_line *reset, const struct guest_memory *mem)
{
	pm->sleep = *sleep;
	pm->reset = *reset;
	pm->mem = mem;
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
	pthread_mutex_destroy(&pm->lock);
}

/* Registers are 16 bits; a guest may reach them a byte at a time. */
static uint16_t merge(uint16_t old, uint64_t byte_offset, const uint8_t *data, uint32_t len)
{
	uint16_t value = old;
	for (uint32_t i = 0; i < len && byte_offset + i < 2; i++) {
		unsigned shift = 8 * (unsigned)(byte_offset + i);
		value = (uint16_t)((value & ~(0xffu << shift)) | ((unsigned)data[i] << shift));
	}
	return value;
}

static void put(uint16_t value, uint64_t byte_offset, uint8_t *data, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		data[i] = byte_offset + i < 2 ? (uint8_t)(value >> (8 * (byte_offset + i))) : 0xff;
}

static void event_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;
	pthread_mutex_lock(&pm->lock);
	put(offset < 2 ? pm->status : pm->enable, offset % 2, data, len);
	pthread_mutex_unlock(&pm->lock);
}

static void event_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;
	pthread_mutex_lock(&pm->lock);
	if (offset < 2)
		pm->status &= (uint16_t)~merge(0, offset, data, len);   /* write 1 to clear */
	else
		pm->enable = merge(pm->enable, offset - 2, data, len);
	pthread_mutex_unlock(&pm->lock);
}

static void control_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;
	pthread_mutex_lock(&pm->lock);
	put(pm->control, offset, data, len);
	pthread_mutex_unlock(&pm->lock);
}

enum acpi_pm_request acpi_pm_decode_control(uint16_t written)
{
	if (!(written & PM1_CNT_SLP_EN))
		return ACPI_PM_NONE;
	switch ((written & PM1_CNT_SLP_TYP) >> PM1_CNT_SLP_TYP_SHIFT) {
	case ACPI_PM_SLP_TYP_S3: return ACPI_PM_SUSPEND;
	case ACPI_PM_SLP_TYP_S5: return ACPI_PM_POWER_OFF;
	default: return ACPI_PM_NONE;   /* a state the DSDT does not offer */
	}
}

uint32_t acpi_pm_waking_vector(const struct guest_memory *mem)
{
	struct acpi_facs facs;
	if (!mem || guest_read(mem, ACPI_FACS_ADDR, &facs, sizeof(facs)) < 0 ||
	    memcmp(facs.signature, "FACS", 4) != 0)
		return 0;
	uint32_t vector = facs.firmware_waking_vector;
	if (vector == 0 || vector >= REAL_MODE_END || !guest_ptr(mem, vector, 1))
		return 0;
	return vector;
}

static void control_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;
	pthread_mutex_lock(&pm->lock);
	uint16_t written = merge(pm->control, offset, data, len);
	pm->control = (uint16_t)(PM1_CNT_SCI_EN | (written & PM1_CNT_WRITABLE));
	enum acpi_pm_request request = acpi_pm_decode_control(written);
	if (request == ACPI_PM_SUSPEND && pm->sleep.suspend && !pm->sleeping) {
		/* Under the lock, so a wake event cannot come between the flag
		 * and the suspension (the VM's lock is always taken after ours). */
		pm->sleeping = true;
		pm->sleep.suspend(pm->sleep.ctx);
	}
	pthread_mutex_unlock(&pm->lock);
	if (request == ACPI_PM_POWER_OFF && pm->power_off.off)
		pm->power_off.off(pm->power_off.ctx, "guest powered off (ACPI S5)");
}

/* A wake event with status bit `sts` (its enable at the same bit of
 * PM1_EN): while the guest sleeps with the event enabled, set it and
 * WAK_STS and resume at the waking vector, or reset without one. */
static void wake_event(struct acpi_pm *pm, uint16_t sts)
{
	pthread_mutex_lock(&pm->lock);
	bool wake = pm->sleeping && (pm->enable & sts);
	uint32_t vector = 0;
	if (wake) {
		pm->sleeping = false;
		pm->status |= (uint16_t)(sts | ACPI_PM1_STS_WAK);
		vector = acpi_pm_waking_vector(pm->mem);
		if (vector)
			pm->sleep.resume(pm->sleep.ctx, vector);
	}
	pthread_mutex_unlock(&pm->lock);
	if (wake && !vector)
		reset_line_pull(&pm->reset, "guest woke from ACPI S3 without a usable waking "
					    "vector (0, at or above 1 MiB, or outside RAM)");
}

void acpi_pm_line_changed(struct acpi_pm *pm, unsigned line, bool level)
{
	if (line == RTC_IRQ && level)
		wake_event(pm, ACPI_PM1_STS_RTC);
}

const struct bus_device_ops acpi_pm_event_ops = { .read = event_read, .write = event_write };
const struct bus_device_ops acpi_pm_control_ops = { .read = control_read, .write = control_write };

/* ---- the device interface (src/device.h) ---- */

static void *acpi_pm_create(const struct device_env *env, struct kvmini_error *err)
{
	struct acpi_pm *pm = malloc(sizeof(*pm));
	if (!pm)
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for ACPI PM");
	else {
		acpi_pm_init(pm, &env->power_off);
		acpi_pm_init_sleep(pm, &env->sleep, &env->reset, env->mem);
	}
	return pm;
}

static void acpi_pm_device_destroy(void *dev)
{
	acpi_pm_destroy(dev);
	free(dev);
}

static void acpi_pm_reset(void *dev)
{
	struct acpi_pm *pm = dev;
	pthread_mutex_lock(&pm->lock);
	pm->status = pm->enable = 0;
	pm->control = PM1_CNT_SCI_EN;
	pm->sleeping = false;
	pthread_mutex_unlock(&pm->lock);
}

static void acpi_pm_device_line_changed(void *dev, unsigned line, bool level)
{
	acpi_pm_line_changed(dev, line, level);
}

static void acpi_pm_save(void *dev, struct state_writer *w)
{
	struct acpi_pm *pm = dev;
	pthread_mutex_lock(&pm->lock);
	state_put_u16(w, pm->status);
	state_put_u16(w, pm->enable);
	state_put_u16(w, pm->control);
	state_put_u8(w, pm->sleeping);   /* suspended to RAM, its wake still to come */
	pthread_mutex_unlock(&pm->lock);
}

static int acpi_pm_restore(void *dev, struct state_reader *r, struct kvmini_error *err)
{
	struct acpi_pm *pm = dev;
	uint16_t status = state_get_u16(r), enable = state_get_u16(r), control = state_get_u16(r);
	uint8_t sleeping = state_get_u8(r);
	if (state_reader_finish(r, "ACPI PM", err) < 0)
		return -1;
	if (control != (PM1_CNT_SCI_EN | (control & PM1_CNT_WRITABLE)) || sleeping > 1)
		return kvmini_fail(err, KVMINI_E_USAGE, "ACPI PM: saved PM1_CNT 0x%04x or sleep "
				   "state %u is not one a guest can set", control, sleeping);
	pthread_mutex_lock(&pm->lock);
	pm->status = status;
	pm->enable = enable;
	pm->control = control;
	pm->sleeping = sleeping;
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

const struct device_type acpi_pm_device = {
	.name = "ACPI PM",
	.res = {
		.ranges = {
			{ RESOURCE_SPACE_PORT, ACPI_PM1A_EVT_PORT, ACPI_PM1_EVT_LEN, &acpi_pm_event_ops,
			  "ACPI PM1a event block" },
			{ RESOURCE_SPACE_PORT, ACPI_PM1A_CNT_PORT, ACPI_PM1_CNT_LEN, &acpi_pm_control_ops,
			  "ACPI PM1a control block" },
		},
		.nranges = 2,
		.irqs = { { X86_SCI_IRQ, true } },   /* the SCI: level, active high */
		.nirqs = 1,
	},
	.create = acpi_pm_create, .destroy = acpi_pm_device_destroy, .reset = acpi_pm_reset,
	.save_state = acpi_pm_save, .restore_state = acpi_pm_restore,
	.isa_line_changed = acpi_pm_device_line_changed,
	.watched_lines = 1u << RTC_IRQ,
};
