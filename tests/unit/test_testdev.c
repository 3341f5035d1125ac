/* pc-testdev through the buses as a guest drives it, and the board
 * attaching it only with --testdev. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "kvmini.h"
#include "board/board.h"
#include "devices/debugcon.h"
#include "devices/testdev.h"
#include "state.h"
#include "bare_vm.h"

static struct bus pio, mmio;
static void *dev;
static struct { unsigned line; bool level; unsigned calls; } seen;

static void record_level(void *ctx, unsigned line, bool level)
{
	(void)ctx;
	seen.line = line;
	seen.level = level;
	seen.calls++;
}

static void setup(void)
{
	struct kvmini_error err;
	struct device_env env = { .isa_bus = { .set_level = record_level } };
	memset(&seen, 0, sizeof(seen));
	bus_init(&pio, "port");
	bus_init(&mmio, "MMIO");
	cr_assert_not_null(dev = testdev_device.create(&env, &err), "%s", err.msg);
	for (unsigned i = 0; i < testdev_device.res.nranges; i++) {
		const struct resource_range *r = &testdev_device.res.ranges[i];
		struct bus *bus = r->space == RESOURCE_SPACE_PORT ? &pio : &mmio;
		cr_assert_eq(bus_register(bus, r->base, r->len, r->ops, dev, r->name, &err), 0,
			     "%s", err.msg);
	}
}

static void teardown(void)
{
	bus_free(&pio);
	bus_free(&mmio);
	testdev_device.destroy(dev);
}

TestSuite(testdev, .init = setup, .fini = teardown);

static uint32_t in(uint16_t port, uint32_t len)
{
	uint8_t b[4] = { 0 };
	cr_assert(bus_access(&pio, port, b, len, false));
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void out(uint16_t port, uint32_t v, uint32_t len)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	cr_assert(bus_access(&pio, port, b, len, true));
}

Test(testdev, the_latch_reads_back_what_was_written_at_each_width)
{
	out(0xe0, 0x12345678, 4);
	cr_assert_eq(in(0xe0, 4), 0x12345678);
	out(0xe0, 0xabcd, 2);
	cr_assert_eq(in(0xe0, 2), 0xabcd);
	cr_assert_eq(in(0xe0, 4), 0xabcd);      /* zero-extended */
	out(0xe0, 0x5a, 1);
	cr_assert_eq(in(0xe0, 1), 0x5a);
	cr_assert_eq(in(0xe0, 4), 0x5a);
}

Test(testdev, page_flush_takes_writes_and_reads_zero)
{
	out(0xe4, 0x1000, 4);
	cr_assert_eq(in(0xe4, 4), 0);
}

Test(testdev, irq_ports_raise_and_lower_isa_line_n)
{
	out(0x2000 + 5, 1, 1);
	cr_assert_eq(seen.calls, 1);
	cr_assert_eq(seen.line, 5);
	cr_assert(seen.level);
	out(0x2000 + 5, 0, 1);
	cr_assert_eq(seen.line, 5);
	cr_assert_not(seen.level);
	out(0x2000 + 23, 1, 1);
	cr_assert_eq(seen.line, 23);
	cr_assert_eq(seen.calls, 3);
	uint8_t b = 1;
	cr_assert_not(bus_access(&pio, 0x2000 + 24, &b, 1, true));   /* not the device's */
	cr_assert_eq(seen.calls, 3);
}

Test(testdev, mmio_is_64_kib_of_ram)
{
	uint8_t w[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, r[8] = { 0 };
	cr_assert(bus_access(&mmio, TESTDEV_MMIO_BASE, w, 8, true));
	cr_assert(bus_access(&mmio, TESTDEV_MMIO_BASE + 0xfff8, w, 8, true));
	cr_assert(bus_access(&mmio, TESTDEV_MMIO_BASE + 0xfff8, r, 8, false));
	cr_assert_eq(memcmp(r, w, 8), 0);
	cr_assert(bus_access(&mmio, TESTDEV_MMIO_BASE + 2, r, 2, false));
	cr_assert_eq(r[0], 3);
	cr_assert_eq(r[1], 4);
	cr_assert_not(bus_access(&mmio, TESTDEV_MMIO_BASE + TESTDEV_MMIO_SIZE, r, 1, false));
	testdev_device.reset(dev);
	cr_assert(bus_access(&mmio, TESTDEV_MMIO_BASE, r, 4, false));
	cr_assert_eq(r[0] | r[1] | r[2] | r[3], 0);
}

Test(testdev, state_round_trips_and_a_short_state_changes_nothing)
{
	struct kvmini_error err;
	struct state_writer w;
	struct state_reader r;
	uint8_t v[2] = { 0x5a, 0xa5 }, got[2];

	out(0xe0, 0xcafe, 2);
	cr_assert(bus_access(&mmio, TESTDEV_MMIO_BASE + 0x1234, v, 2, true));
	state_writer_init(&w);
	testdev_device.save_state(dev, &w);
	cr_assert_not(w.failed);
	testdev_device.reset(dev);
	state_reader_init(&r, w.data, w.len);
	cr_assert_eq(testdev_device.restore_state(dev, &r, &err), 0, "%s", err.msg);
	cr_assert_eq(in(0xe0, 4), 0xcafe);
	cr_assert(bus_access(&mmio, TESTDEV_MMIO_BASE + 0x1234, got, 2, false));
	cr_assert_eq(memcmp(got, v, 2), 0);

	out(0xe0, 7, 1);
	state_reader_init(&r, w.data, w.len - 1);
	cr_assert_eq(testdev_device.restore_state(dev, &r, &err), -1);
	state_put_u8(&w, 0);   /* a byte left over */
	state_reader_init(&r, w.data, w.len);
	cr_assert_eq(testdev_device.restore_state(dev, &r, &err), -1);
	cr_assert_eq(in(0xe0, 4), 7, "a failed restore changed nothing");
	state_writer_free(&w);
}

/* ---- on the PC board ---- */

static void attach_pc(bool testdev, struct vm *vm, struct board *b, struct kvmini_config *cfg)
{
	struct kvmini_error err = { 0 };
	kvmini_config_defaults(cfg);
	cfg->testdev = testdev;
	cfg->serial_out_fd = cfg->debugcon_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	bare_vm_init(vm, KVMINI_IRQCHIP_NONE);
	cr_assert_eq(board_init(b, &pc_board, &err), 0);
	cr_assert_eq(board_attach(b, vm, cfg, &err), 0, "%s", err.msg);
}

static void detach_pc(struct vm *vm, struct board *b, struct kvmini_config *cfg)
{
	board_destroy(b);
	bare_vm_free(vm);
	close(cfg->serial_out_fd);
}

Test(testdev_board, present_only_with_the_option)
{
	struct vm vm;
	struct board b;
	struct kvmini_config cfg;

	attach_pc(false, &vm, &b, &cfg);
	cr_assert_null(bus_find(&vm.pio, 0xe0));
	cr_assert_null(bus_find(&vm.mmio, TESTDEV_MMIO_BASE));
	cr_assert_str_eq(bus_find(&vm.pio, DEBUGCON_PORT2)->name, "debugcon 0x402");
	detach_pc(&vm, &b, &cfg);

	cr_assert_null(b.pci, "no PCI host bridge either");
	detach_pc(&vm, &b, &cfg);

	attach_pc(true, &vm, &b, &cfg);
	cr_assert_str_eq(bus_find(&vm.pio, 0xe0)->name, "pc-testdev latch");
	cr_assert_str_eq(bus_find(&vm.pio, 0x2017)->name, "pc-testdev irq");
	cr_assert_str_eq(bus_find(&vm.mmio, TESTDEV_MMIO_BASE + 0xffff)->name, "pc-testdev memory");
	/* pci-testdev brings the host bridge: 1b36:0005 at slot 31. */
	cr_assert_not_null(b.pci);
	uint32_t addr = 0x80000000u | 31u << 11, id = 0;
	cr_assert(bus_access(&vm.pio, 0xcf8, (uint8_t *)&addr, 4, true));
	cr_assert(bus_access(&vm.pio, 0xcfc, (uint8_t *)&id, 4, false));
	cr_assert_eq(id, 0x00051b36u);
	detach_pc(&vm, &b, &cfg);
	cr_assert_null(b.pci, "gone with the board");
}
