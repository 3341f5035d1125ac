/* ACPI PM1a event and control blocks (the ports the FADT names): enough
 * for a guest OS to power the machine off by entering S5 ("poweroff").
 * Sleep states S1-S4 are not offered (the DSDT names only \_S5). */
#ifndef KVMINI_ACPI_PM_H
#define KVMINI_ACPI_PM_H

#include <pthread.h>
#include <stdint.h>
#include "bus.h"
#include "device.h"
#include "devices/reset.h"

#define ACPI_PM_SLP_TYP_S5 5   /* must match \_S5 in the DSDT (src/arch/x86/acpi.c) */

struct acpi_pm {
	pthread_mutex_t lock;
	uint16_t status;   /* PM1_STS: write 1 to clear */
	uint16_t enable;   /* PM1_EN */
	uint16_t control;  /* PM1_CNT, without the write-only SLP_EN */
	struct power_off_line power_off;
};

void acpi_pm_init(struct acpi_pm *pm, const struct power_off_line *power_off);
void acpi_pm_destroy(struct acpi_pm *pm);

/* opaque: struct acpi_pm *. The event block is 4 ports, the control block 2. */
extern const struct bus_device_ops acpi_pm_event_ops;
extern const struct bus_device_ops acpi_pm_control_ops;

extern const struct device_type acpi_pm_device;

#endif
