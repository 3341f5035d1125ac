/* kvmini's PC: the devices on its ISA bus, each at the place a PC has it
 * (docs/entry-state.md lists the ports). One line per device. */
#include "board/board.h"
#include "devices/acpi_pm.h"
#include "devices/debug_exit.h"
#include "devices/debugcon.h"
#include "devices/fw_cfg.h"
#include "devices/hpet.h"
#include "devices/i8042.h"
#include "devices/i8254.h"
#include "devices/port92.h"
#include "devices/reset_control.h"
#include "devices/rtc.h"
#include "devices/testdev.h"
#include "devices/uart16550.h"

static const struct device_type *const pc_devices[] = {
	&uart16550_device,
	&debug_exit_device,
	&debugcon_device,
	&rtc_device,
	&i8042_device,
	&port92_device,
	&reset_control_device,
	&acpi_pm_device,
	&fw_cfg_device,
	&hpet_device,
	&testdev_device,   /* only with --testdev */
};

/* The 8254 PIT on ISA IRQ 0, which either interrupt controller model
 * brings (KVM's PIT or src/board/split_irqchip.c's). */
static const struct resources pc_pit = {
	.ranges = { { RESOURCE_SPACE_PORT, I8254_PORT, I8254_NPORTS, NULL, "i8254 PIT" } },
	.nranges = 1,
	.irqs = { { 0, false } },
	.nirqs = 1,
	.acpi_name = "TMR_", .acpi_hid = "PNP0100",
};

static const struct resources *const pc_irqchip_devices[] = { &pc_pit };

const struct board_desc pc_board = {
	.name = "pc",
	.devices = pc_devices,
	.ndevices = sizeof(pc_devices) / sizeof(pc_devices[0]),
	.irqchip_devices = pc_irqchip_devices,
	.nirqchip_devices = sizeof(pc_irqchip_devices) / sizeof(pc_irqchip_devices[0]),
};
