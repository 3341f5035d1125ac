/* The board with --transport pci (src/board/pci.c), on a bare VM (no
 * KVM): the host bridge appears beside the PC's devices with port 0xcf9
 * still the reset control register, each virtio device of the machine's
 * set becomes a function at slots 1, 2, ..., the firmware tables gain
 * the MCFG and PCI0, and a detach takes it all away again. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "bare_vm.h"
#include "board/board.h"
#include "board/pci.h"
#include "event_loop.h"
#include "arch/x86/acpi.h"
#include "devices/reset_control.h"
#include "virtio/pci.h"

struct fake {
	struct virtio_device vdev;
};

static const struct virtio_device_ops fake_blk = { .name = "fake-blk",
						   .device_id = VIRTIO_ID_BLOCK };
static const struct virtio_device_ops fake_rng = { .name = "fake-rng",
						   .device_id = VIRTIO_ID_RNG };

static struct vm vm;
static struct board board;
static struct kvmini_config cfg;
static struct event_loop *loop;
static struct fake blk, rng;
static struct virtio_device_set set;
static struct kvmini_error err;

static void setup(void)
{
	bare_vm_init(&vm, KVMINI_IRQCHIP_KERNEL);
	kvmini_config_defaults(&cfg);
	cfg.serial_out_fd = cfg.debugcon_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	cfg.transport = KVMINI_TRANSPORT_PCI;
	cr_assert_not_null(loop = event_loop_create("evloop", &err), "%s", err.msg);
	virtio_device_init(&blk.vdev, &fake_blk, &blk, 0, 0, 1, 64);
	virtio_device_init(&rng.vdev, &fake_rng, &rng, 0, 0, 1, 64);
	set = (struct virtio_device_set){ .devs = { &blk.vdev, &rng.vdev }, .n = 2 };
	cr_assert_eq(board_init(&board, &pc_board, &err), 0, "%s", err.msg);
	board.loop = loop;
	board.virtio = &set;
}

static void teardown(void)
{
	board_destroy(&board);
	virtio_device_destroy(&blk.vdev);
	virtio_device_destroy(&rng.vdev);
	event_loop_destroy(loop);
	bare_vm_free(&vm);
	close(cfg.serial_out_fd);
}

TestSuite(board_pci, .init = setup, .fini = teardown);

static uint32_t config_read(unsigned slot, unsigned reg)
{
	uint32_t a = 0x80000000u | slot << 11 | reg, v = 0;
	cr_assert(bus_access(&vm.pio, 0xcf8, (uint8_t *)&a, 4, true));
	cr_assert(bus_access(&vm.pio, 0xcfc, (uint8_t *)&v, 4, false));
	return v;
}

Test(board_pci, virtio_devices_become_functions_at_slots_from_1)
{
	cr_assert_eq(board_attach(&board, &vm, &cfg, &err), 0, "%s", err.msg);
	cr_assert_eq(config_read(0, 0), PCI_HOST_DEVICE << 16 | PCI_HOST_VENDOR);
	cr_assert_eq(config_read(1, 0), (0x1040u + VIRTIO_ID_BLOCK) << 16 | 0x1af4);
	cr_assert_eq(config_read(2, 0), (0x1040u + VIRTIO_ID_RNG) << 16 | 0x1af4);
	cr_assert_eq(config_read(3, 0), 0xffffffffu);
	cr_assert_eq(config_read(1, PCI_CLASS_REVISION) >> 8, 0x018000);
	/* INTA of slots 1 and 2: IOAPIC pins 17 and 18, as the _PRT says. */
	cr_assert_eq(config_read(1, PCI_INTERRUPT_LINE) & 0xff, 17);
	cr_assert_eq(config_read(2, PCI_INTERRUPT_LINE) & 0xff, 18);
	/* BARs placed in the window, one after the other. */
	cr_assert_eq(config_read(1, PCI_BASE_ADDRESS_0), (uint32_t)X86_PCI_MMIO_BASE);
	cr_assert_eq(config_read(2, PCI_BASE_ADDRESS_0),
		     (uint32_t)X86_PCI_MMIO_BASE + VIRTIO_PCI_BAR_SIZE);
	/* ECAM answers too. */
	uint32_t v = 0;
	cr_assert(bus_access(&vm.mmio, X86_PCI_ECAM_BASE + (2 << 15), (uint8_t *)&v, 4, false));
	cr_assert_eq(v, (0x1040u + VIRTIO_ID_RNG) << 16 | 0x1af4);
	cr_assert_eq(blk.vdev.transport_ctx != NULL, true);
}

Test(board_pci, reset_control_still_answers_at_0xcf9)
{
	cr_assert_eq(board_attach(&board, &vm, &cfg, &err), 0, "%s", err.msg);
	uint8_t b = RESET_CONTROL_HARD;
	cr_assert(bus_access(&vm.pio, 0xcf9, &b, 1, true));
	b = 0;
	cr_assert(bus_access(&vm.pio, 0xcf9, &b, 1, false));
	cr_assert_eq(b, RESET_CONTROL_HARD);
}

Test(board_pci, tables_gain_mcfg_and_pci0)
{
	struct guest_memory mem;
	uint64_t rsdp;
	cr_assert_eq(guest_memory_init(&mem, 2 << 20, 0, &err), 0, "%s", err.msg);
	cr_assert_eq(board_attach(&board, &vm, &cfg, &err), 0, "%s", err.msg);
	cr_assert_eq(board_write_firmware(&board, &mem, 1, &rsdp, &err), 0, "%s", err.msg);
	const uint8_t *xsdt = guest_ptr(&mem, ACPI_XSDT_ADDR, 36 + 4 * 8);
	cr_assert_eq(xsdt[4], 36 + 4 * 8, "FADT, MADT, MCFG and the HPET's");
	cr_assert(memcmp(guest_ptr(&mem, ACPI_MCFG_ADDR, 4), "MCFG", 4) == 0);
	const uint8_t *dsdt = guest_ptr(&mem, ACPI_DSDT_ADDR, ACPI_DSDT_MAX);
	cr_assert_not_null(memmem(dsdt, ACPI_DSDT_MAX, "PCI0", 4));
	guest_memory_free(&mem);
}

Test(board_pci, detach_takes_the_bus_away_and_mmio_transport_gets_none)
{
	cr_assert_eq(board_attach(&board, &vm, &cfg, &err), 0, "%s", err.msg);
	board_detach(&board);
	cr_assert_null(bus_find(&vm.pio, 0xcf8));
	cr_assert_null(bus_find(&vm.pio, 0xcfc));
	cr_assert_null(bus_find(&vm.mmio, X86_PCI_ECAM_BASE));
	cr_assert_not_null(bus_find(&vm.pio, 0xcf9), "the reset control register is back");
	cr_assert_null(blk.vdev.transport);
	/* A boot (a new VM, as a restart makes) with another transport has
	 * no host bridge. */
	bare_vm_free(&vm);
	bare_vm_init(&vm, KVMINI_IRQCHIP_NONE);   /* virtio-mmio's lines need KVM */
	cfg.transport = KVMINI_TRANSPORT_MMIO;
	cr_assert_eq(board_attach(&board, &vm, &cfg, &err), 0, "%s", err.msg);
	cr_assert_null(board.pci);
	cr_assert_null(bus_find(&vm.pio, 0xcfc));
}
