/* ACPI PM1a event and control blocks (the ports the FADT names): enough
 * for a guest OS to power the machine off by entering S5 ("poweroff")
 * and to suspend it to RAM (S3). S1, S2 and S4 are not offered (the
 * DSDT names only \_S5 and \_S3).
 *
 * S3: writing PM1_CNT with SLP_EN and SLP_TYP 3 pulls the machine's
 * sleep line: every vCPU stops, RAM and devices keep their state, the
 * event loop (so the RTC's timers) goes on. The one wake event is the
 * RTC's interrupt line (IRQ 8) rising while PM1_EN.RTC_EN is set, which
 * an alarm does when status B's AIE is set (as on chipsets that watch
 * IRQ 8, a periodic or update-ended interrupt wakes too). The wake sets
 * PM1_STS.WAK_STS and RTC_STS and resumes at the FACS's 32-bit
 * firmware_waking_vector, read then: every vCPU reset, the BSP in real
 * mode at CS = vector >> 4, IP = vector & 0xf. A vector of 0, at or
 * above 1 MiB (real mode cannot reach it) or outside RAM is a failed
 * resume: the machine resets (firmware then boots afresh), as
 * --on-reset says. Without RTC_EN nothing wakes the guest: it sleeps
 * until kvmini is stopped (--timeout, a signal, Ctrl-A x, the API).
 * X_Firmware_Waking_Vector is ignored (the FACS does not set
 * 64BIT_WAKE_SUPPORTED_F). No SCI is raised for PM1 events. */
#ifndef KVMINI_ACPI_PM_H
#define KVMINI_ACPI_PM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "bus.h"
#include "device.h"
#include "memory.h"
#include "devices/reset.h"

#define ACPI_PM_SLP_TYP_S5 5   /* must match \_S5 in the DSDT (src/arch/x86/acpi.c) */
#define ACPI_PM_SLP_TYP_S3 3   /* must match \_S3 */

/* PM1_STS bits (PM1_EN has the enables of the events at the same bits). */
#define ACPI_PM1_STS_RTC (1u << 10)
#define ACPI_PM1_STS_WAK (1u << 15)
#define ACPI_PM1_EN_RTC  ACPI_PM1_STS_RTC

/* What a write to PM1_CNT asks for. */
enum acpi_pm_request { ACPI_PM_NONE, ACPI_PM_SUSPEND, ACPI_PM_POWER_OFF };
enum acpi_pm_request acpi_pm_decode_control(uint16_t written);

/* The FACS's 32-bit waking vector in mem, or 0 when there is no FACS or
 * the vector is 0, at or above 1 MiB, or not in RAM. */
uint32_t acpi_pm_waking_vector(const struct guest_memory *mem);

struct acpi_pm {
	pthread_mutex_t lock;
	uint16_t status;   /* PM1_STS: write 1 to clear */
	uint16_t enable;   /* PM1_EN */
	uint16_t control;  /* PM1_CNT, without the write-only SLP_EN */
	struct power_off_line power_off;
	/* S3 (acpi_pm_init_sleep; none: SLP_TYP 3 is ignored) */
	struct sleep_line sleep;
	struct reset_line reset;              /* a resume that cannot happen */
	const struct guest_memory *mem;       /* where the FACS is */
	bool sleeping;
};

void acpi_pm_init(struct acpi_pm *pm, const struct power_off_line *power_off);
/* Offer S3: suspend and resume through `sleep`, the FACS read from
 * `mem`, a failed resume a reset. */
void acpi_pm_init_sleep(struct acpi_pm *pm, const struct sleep_line *sleep,
			const struct reset_line *reset, const struct guest_memory *mem);
void acpi_pm_destroy(struct acpi_pm *pm);
/* A change of ISA line `line`: IRQ 8 rising is the RTC's wake event. */
void acpi_pm_line_changed(struct acpi_pm *pm, unsigned line, bool level);

/* opaque: struct acpi_pm *. The event block is 4 ports, the control block 2. */
extern const struct bus_device_ops acpi_pm_event_ops;
extern const struct bus_device_ops acpi_pm_control_ops;

extern const struct device_type acpi_pm_device;

#endif
