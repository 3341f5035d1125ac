/* libFuzzer target: the PC's devices driven as a hostile guest drives
 * them, one access after another through the port and MMIO buses, every
 * size and offset: the board's devices (UART, CMOS, i8042, the reset
 * ports, ACPI PM, debug console, debug-exit, fw_cfg, pc-testdev, the
 * HPET's registers) and
 * the split irqchip's models (8259 pair, IOAPIC, 8254 on a clock the
 * input moves), with interrupt acknowledges and EOIs in between. An
 * input whose first byte is odd is instead a saved device state, read
 * back as a snapshot file would be (hostile bytes). No KVM: the VM is a
 * bare struct vm with its two buses. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bare_vm.h"
#include "board/board.h"
#include "devices/hpet.h"
#include "devices/i8254.h"
#include "devices/i8259.h"
#include "devices/ioapic.h"

/* One access: op (bit 0 write, bits 1-2 what), a 16-bit address, a
 * size selector, 4 data bytes. */
struct access {
	uint8_t op, addr_lo, addr_hi, size;
	uint8_t data[4];
};

struct rig {
	struct vm vm;
	struct board board;
	struct kvmini_config cfg;
	struct i8259 *pic;
	struct ioapic *ioapic;
	struct i8254 *pit;
	struct irq_line irq0;
	struct bus chip_pio, chip_mmio;
	uint64_t now;
};

static uint64_t fake_now(void *ctx)
{
	return ((struct rig *)ctx)->now;
}

static void pit_irq0(void *ctx, unsigned line, bool level)
{
	struct rig *r = ctx;
	i8259_set_irq(r->pic, line, level);
	ioapic_set_pin(r->ioapic, 2, level);
}

/* The split irqchip's models on buses of their own, where the split
 * irqchip puts them (src/board/split_irqchip.c): the bus keeps every
 * access inside a range, as for a guest. */
static void irqchip_buses_init(struct rig *r)
{
	struct kvmini_error err;
	bus_init(&r->chip_pio, "port");
	bus_init(&r->chip_mmio, "MMIO");
	if (bus_register(&r->chip_pio, I8259_MASTER_PORT, I8259_NPORTS, &i8259_master_ops, r->pic, "pic", &err) < 0 ||
	    bus_register(&r->chip_pio, I8259_SLAVE_PORT, I8259_NPORTS, &i8259_slave_ops, r->pic, "pic2", &err) < 0 ||
	    bus_register(&r->chip_pio, I8259_ELCR_PORT, I8259_ELCR_NPORTS, &i8259_elcr_ops, r->pic, "elcr", &err) < 0 ||
	    bus_register(&r->chip_pio, I8254_PORT, I8254_NPORTS, &i8254_ops, r->pit, "pit", &err) < 0 ||
	    bus_register(&r->chip_pio, I8254_SPEAKER_PORT, 1, &i8254_speaker_ops, r->pit, "61",
			 &err) < 0 ||
	    bus_register(&r->chip_mmio, IOAPIC_MMIO_BASE, IOAPIC_MMIO_SIZE, &ioapic_ops, r->ioapic,
			 "ioapic", &err) < 0)
		abort();
}

static struct rig *rig_make(bool testdev)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct kvmini_error err;
	if (!r)
		abort();
	bare_vm_init(&r->vm, KVMINI_IRQCHIP_NONE);
	kvmini_config_defaults(&r->cfg);
	r->cfg.serial_out_fd = r->cfg.debugcon_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	r->cfg.testdev = testdev;
	if (board_init(&r->board, &pc_board, &err) < 0 ||
	    board_attach(&r->board, &r->vm, &r->cfg, &err) < 0)
		abort();
	r->pic = i8259_create(NULL);
	r->ioapic = ioapic_create(1, NULL);
	struct i8254_clock clock = { fake_now, r };
	r->irq0 = (struct irq_line){ .set_level = pit_irq0, .ctx = r, .line = 0 };
	r->pit = i8254_create(&clock, &r->irq0, NULL);
	if (!r->pic || !r->ioapic || !r->pit)
		abort();
	irqchip_buses_init(r);
	return r;
}

static void rig_free(struct rig *r)
{
	bus_free(&r->chip_pio);
	bus_free(&r->chip_mmio);
	i8254_destroy(r->pit);
	ioapic_destroy(r->ioapic);
	i8259_destroy(r->pic);
	board_destroy(&r->board);
	bare_vm_free(&r->vm);
	close(r->cfg.serial_out_fd);
	free(r);
}

static void run_access(struct rig *r, const struct access *a)
{
	static const uint32_t sizes[4] = { 1, 2, 4, 8 };
	uint8_t data[8] = { 0 };
	memcpy(data, a->data, sizeof(a->data));
	uint16_t addr = (uint16_t)(a->addr_lo | a->addr_hi << 8);
	uint32_t len = sizes[a->size & 3];
	bool write = a->op & 1;
	switch ((a->op >> 1) & 3) {
	case 0:   /* any port, at most 4 bytes as the CPU allows */
		bus_access(&r->vm.pio, addr, data, len > 4 ? 4 : len, write);
		break;
	case 1:   /* pc-testdev's MMIO window, or (bit 15) the HPET's, and around them */
		if (addr & 0x8000)
			bus_access(&r->vm.mmio, HPET_BASE - 0x10 + (addr & 0x7ff), data, len, write);
		else
			bus_access(&r->vm.mmio, 0xff000000ULL - 0x100 + addr, data, len, write);
		break;
	case 2:   /* the irqchip's ports, or (bit 15) its IOAPIC's registers */
		if (addr & 0x8000)
			bus_access(&r->chip_mmio, IOAPIC_MMIO_BASE + (addr & 0xff), data, len, write);
		else
			bus_access(&r->chip_pio, addr & 0x7fff, data, len > 4 ? 4 : len, write);
		break;
	default:  /* time passes; the chips are acknowledged and EOI'd */
		r->now += (uint64_t)addr * 1000;
		i8254_tick(r->pit);
		if (i8259_output(r->pic))
			ioapic_eoi(r->ioapic, i8259_acknowledge(r->pic));
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct rig *r = rig_make(data[0] & 2);
	if (data[0] & 1) {
		struct kvmini_error err;
		board_restore(&r->board, data + 1, size - 1, &err);
	} else {
		struct access a;
		for (size_t off = 1; off + sizeof(a) <= size; off += sizeof(a)) {
			memcpy(&a, data + off, sizeof(a));
			run_access(r, &a);
		}
	}
	rig_free(r);
	return 0;
}
