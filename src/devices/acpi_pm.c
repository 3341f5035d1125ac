#include <string.h>
#include "devices/acpi_pm.h"

#define PM1_CNT_SCI_EN   (1u << 0)    /* no SMI command port: always in ACPI mode */
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_TYP  (7u << PM1_CNT_SLP_TYP_SHIFT)
#define PM1_CNT_SLP_EN   (1u << 13)   /* write-only: starts the sleep */
#define PM1_CNT_WRITABLE (PM1_CNT_SLP_TYP | (1u << 1) | (1u << 2))   /* SLP_TYP, BM_RLD, GBL_RLS */

void acpi_pm_init(struct acpi_pm *pm, const struct power_off_line *power_off)
{
	memset(pm, 0, sizeof(*pm));
	pthread_mutex_init(&pm->lock, NULL);
	pm->control = PM1_CNT_SCI_EN;
	pm->power_off = *power_off;
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

static void control_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;
	pthread_mutex_lock(&pm->lock);
	uint16_t written = merge(pm->control, offset, data, len);
	pm->control = (uint16_t)(PM1_CNT_SCI_EN | (written & PM1_CNT_WRITABLE));
	unsigned sleep_type = (written & PM1_CNT_SLP_TYP) >> PM1_CNT_SLP_TYP_SHIFT;
	bool enter_s5 = (written & PM1_CNT_SLP_EN) && sleep_type == ACPI_PM_SLP_TYP_S5;
	pthread_mutex_unlock(&pm->lock);
	if (enter_s5 && pm->power_off.off)
		pm->power_off.off(pm->power_off.ctx, "guest powered off (ACPI S5)");
}

const struct bus_device_ops acpi_pm_event_ops = { .read = event_read, .write = event_write };
const struct bus_device_ops acpi_pm_control_ops = { .read = control_read, .write = control_write };
