/* The board's virtio-mmio places as the guest learns them, without KVM:
 * each device's LNRO0005 Device in the DSDT (its _HID, _UID, window and
 * line, read back from the AML bytes and through iasl), the
 * virtio_mmio.device= words a Linux kernel gets, and the options that
 * ask for virtio-rng and a transport. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arch/x86/acpi.h"
#include "arch/x86/mptable.h"
#include "board/board.h"
#include "cli/options.h"
#include "event_loop.h"
#include <linux/virtio_mmio.h>

#define MIB (1ULL << 20)

static struct guest_memory mem;
static struct board_virtio_slot slots[VIRTIO_MAX_DEVICES];
static const struct resources *devices[BOARD_MAX_DEVICES + VIRTIO_MAX_DEVICES];

/* The PC's devices and n virtio-mmio windows, written as ACPI tables. */
static const uint8_t *dsdt_with_virtio(unsigned n, bool level)
{
	struct kvmini_error err = { 0 };
	cr_assert_eq(guest_memory_init(&mem, 2 * MIB, 0, &err), 0, "%s", err.msg);
	struct x86_firmware_desc desc = {
		.ncpus = 1, .devices = devices, .ndevices = board_resources(&pc_board, true, devices),
	};
	for (unsigned i = 0; i < n; i++) {
		slots[i] = (struct board_virtio_slot){ .index = i };
		board_virtio_mmio_describe(&slots[i], level, n > BOARD_VIRTIO_GSIS);
		devices[desc.ndevices++] = &slots[i].res;
	}
	uint64_t rsdp;
	cr_assert_eq(acpi_write_tables(&mem, &desc, &rsdp, &err), 0, "%s", err.msg);
	cr_assert_eq(mptable_write(&mem, &desc, &err), 0, "%s", err.msg);
	const uint8_t *dsdt = guest_ptr(&mem, ACPI_DSDT_ADDR, ACPI_DSDT_MAX);
	cr_assert_not_null(dsdt);
	return dsdt;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Device (name)'s body and its length, or NULL. */
static const uint8_t *find_device(const uint8_t *dsdt, const char *name, size_t *len)
{
	uint32_t total = get32(dsdt + 4);
	for (uint32_t i = 36; i + 8 < total; i++) {
		if (dsdt[i] != 0x5b || dsdt[i + 1] != 0x82)
			continue;
		const uint8_t *pkg = dsdt + i + 2;
		unsigned nbytes = (pkg[0] >> 6) + 1;
		size_t pkg_len = nbytes == 1 ? pkg[0] & 0x3f : pkg[0] & 0x0f;
		for (unsigned k = 1; k < nbytes; k++)
			pkg_len |= (size_t)pkg[k] << (4 + 8 * (k - 1));
		if (memcmp(pkg + nbytes, name, 4) == 0 && i + 2 + pkg_len <= total) {
			*len = pkg_len - nbytes - 4;
			return pkg + nbytes + 4;
		}
	}
	return NULL;
}

static void expect_bytes(const uint8_t *dev, size_t len, const uint8_t *want, size_t n,
			 const char *what, unsigned i)
{
	cr_assert_not_null(memmem(dev, len, want, n), "device %u: no %s", i, what);
}

/* One virtio-mmio Device: its IDs, its window, its line. */
static void expect_window(const uint8_t *dsdt, unsigned i, uint8_t irq_flags)
{
	char name[5];
	snprintf(name, sizeof(name), "VR%02X", i);
	size_t len;
	const uint8_t *dev = find_device(dsdt, name, &len);
	cr_assert_not_null(dev, "no Device (%s)", name);
	static const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0d,
				       'L', 'N', 'R', 'O', '0', '0', '0', '5', 0 };
	expect_bytes(dev, len, hid, sizeof(hid), "_HID \"LNRO0005\"", i);
	const uint8_t uid[] = { 0x08, '_', 'U', 'I', 'D', 0x0c, (uint8_t)i, 0, 0, 0 };
	expect_bytes(dev, len, uid, sizeof(uid), "_UID", i);
	uint32_t base = 0xd0000000u + i * 0x1000u;
	const uint8_t window[] = { 0x86, 9, 0, 1, (uint8_t)base, (uint8_t)(base >> 8),
				   (uint8_t)(base >> 16), (uint8_t)(base >> 24), 0, 0x10, 0, 0 };
	expect_bytes(dev, len, window, sizeof(window), "Memory32Fixed window", i);
	const uint8_t irq[] = { 0x89, 6, 0, irq_flags, 1, (uint8_t)(16 + i % 8), 0, 0, 0 };
	expect_bytes(dev, len, irq, sizeof(irq), "Interrupt descriptor", i);
}

static void teardown(void)
{
	guest_memory_free(&mem);
}

TestSuite(virtio_board, .fini = teardown);

Test(virtio_board, dsdt_has_one_lnro0005_device_per_window)
{
	const uint8_t *dsdt = dsdt_with_virtio(3, true);
	for (unsigned i = 0; i < 3; i++)
		expect_window(dsdt, i, 0x01);   /* consumer, level, active high, exclusive */
	size_t len;
	cr_assert_null(find_device(dsdt, "VR03", &len), "a fourth device");
	cr_assert_not_null(find_device(dsdt, "COM1", &len), "the PC's devices are still there");
}

Test(virtio_board, split_irqchip_lines_are_edges_and_a_ninth_device_shares)
{
	const uint8_t *dsdt = dsdt_with_virtio(10, false);
	for (unsigned i = 0; i < 10; i++)
		expect_window(dsdt, i, 0x01 | 0x02 | 0x08);   /* edge, shared */
	cr_assert_eq(board_virtio_mmio_gsi(8), board_virtio_mmio_gsi(0));
	cr_assert_eq(board_virtio_mmio_gsi(15), 23);
	cr_assert_eq(board_virtio_mmio_base(15) + 0x1000, 0xd0010000u);
}

Test(virtio_board, iasl_reads_the_virtio_devices)
{
	if (system("command -v iasl > /dev/null 2>&1") != 0)
		cr_assert_fail("iasl missing: scripts/install-deps.sh test installs acpica-tools");
	const uint8_t *dsdt = dsdt_with_virtio(2, true);
	char dir[] = "/tmp/kvmini-vmmio-XXXXXX", cmd[512], path[512];
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dsdt.dat", dir);
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(dsdt, 1, get32(dsdt + 4), f), get32(dsdt + 4));
	fclose(f);
	snprintf(cmd, sizeof(cmd), "cd %s && iasl -d dsdt.dat > log 2>&1 && iasl -p back dsdt.dsl >> log 2>&1",
		 dir);
	int status = system(cmd);
	snprintf(path, sizeof(path), "%s/log", dir);
	static char log[1 << 16], dsl[1 << 16];
	f = fopen(path, "r");
	cr_assert_not_null(f);
	log[fread(log, 1, sizeof(log) - 1, f)] = 0;
	fclose(f);
	cr_assert_eq(status, 0, "iasl: %s", log);
	cr_assert(strstr(log, "0 Errors, 0 Warnings, 0 Remarks"), "%s", log);
	snprintf(path, sizeof(path), "%s/dsdt.dsl", dir);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	dsl[fread(dsl, 1, sizeof(dsl) - 1, f)] = 0;
	fclose(f);
	cr_assert(strstr(dsl, "Device (VR01)"), "%s", dsl);
	cr_assert(strstr(dsl, "Name (_HID, \"LNRO0005\")"), "%s", dsl);
	cr_assert(strstr(dsl, "Name (_UID, One)") || strstr(dsl, "Name (_UID, 0x00000001)"),
		  "%s", dsl);
	cr_assert(strstr(dsl, "0xD0001000,         // Address Base"), "%s", dsl);
	cr_assert(strstr(dsl, "Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive, ,, )"),
		  "%s", dsl);
	cr_assert(strstr(dsl, "0x00000011,"), "GSI 17: %s", dsl);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

/* The MP table's I/O interrupt entry for IOAPIC pin `pin`, or NULL. */
static const uint8_t *mp_pin(unsigned pin)
{
	const uint8_t *cfg = guest_ptr(&mem, MP_CONFIG_ADDR, 44);
	uint16_t length = (uint16_t)(cfg[4] | cfg[5] << 8);
	cfg = guest_ptr(&mem, MP_CONFIG_ADDR, length);
	for (const uint8_t *e = cfg + 44; e < cfg + length; e += e[0] == 0 ? 20 : 8)
		if (e[0] == 3 && e[7] == pin)
			return e;
	return NULL;
}

/* For a kernel without ACPI: each line in the MP table, as ISA IRQ n
 * at pin n, level (0xd) or conforming (edge) as in the DSDT. */
Test(virtio_board, mp_table_lists_the_lines_for_kernels_without_acpi)
{
	dsdt_with_virtio(2, true);
	for (unsigned pin = 16; pin < 18; pin++) {
		const uint8_t *e = mp_pin(pin);
		cr_assert_not_null(e, "no MP entry for pin %u", pin);
		cr_assert_eq(e[5], pin, "source IRQ");
		cr_assert_eq(e[2] | e[3] << 8, 0xd, "level, active high");
	}
	cr_assert_null(mp_pin(18));
	teardown();
	dsdt_with_virtio(10, false);
	for (unsigned pin = 16; pin < 24; pin++)
		cr_assert_eq(mp_pin(pin)[2], 0, "pin %u: conforming (edge)", pin);
}

/* ---- what a Linux kernel is told ---- */

Test(virtio_board, command_line_names_each_window_and_line)
{
	static struct board b;
	b.nvirtio = 3;
	for (unsigned i = 0; i < 3; i++) {
		b.virtio_slots[i] = (struct board_virtio_slot){ .index = i };
		board_virtio_mmio_describe(&b.virtio_slots[i], true, false);
	}
	char buf[256];
	cr_assert(board_virtio_cmdline(&b, buf, sizeof(buf)));
	cr_assert_str_eq(buf, "virtio_mmio.device=4K@0xd0000000:16 "
			      "virtio_mmio.device=4K@0xd0001000:17 "
			      "virtio_mmio.device=4K@0xd0002000:18");
	/* A device with nothing to announce (no irqchip) adds nothing. */
	b.virtio_slots[1].cmdline[0] = '\0';
	cr_assert(board_virtio_cmdline(&b, buf, sizeof(buf)));
	cr_assert_str_eq(buf, "virtio_mmio.device=4K@0xd0000000:16 "
			      "virtio_mmio.device=4K@0xd0002000:18");
	cr_assert_not(board_virtio_cmdline(&b, buf, 40), "truncated words accepted");
	b.nvirtio = 0;
	cr_assert(board_virtio_cmdline(&b, buf, sizeof(buf)));
	cr_assert_str_eq(buf, "");
}

/* ---- the options ---- */

#define ARGV(...) (char *[]){ "run", __VA_ARGS__, NULL }
#define ARGC(...) (int)(sizeof((char *[]){ "run", __VA_ARGS__ }) / sizeof(char *))
#define PARSE(o, e, ...) parse_run_options(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (o), (e))

Test(virtio_board, rng_and_transport_options)
{
	static struct run_options o;
	struct kvmini_error err = { 0 };
	cr_assert_eq(PARSE(&o, &err, "x.bin"), 0, "%s", err.msg);
	cr_assert_not(o.cfg.rng);
	cr_assert_eq(o.cfg.transport, KVMINI_TRANSPORT_DEFAULT);
	cr_assert_eq(PARSE(&o, &err, "--rng", "x.bin"), 0, "%s", err.msg);
	cr_assert(o.cfg.rng);
	cr_assert_eq(o.cfg.rng_bytes_per_sec, 0);
	cr_assert_eq(PARSE(&o, &err, "--rng=4096", "--transport", "mmio", "x.bin"), 0, "%s", err.msg);
	cr_assert_eq(o.cfg.rng_bytes_per_sec, 4096);
	cr_assert_eq(o.cfg.transport, KVMINI_TRANSPORT_MMIO);
	cr_assert_eq(PARSE(&o, &err, "--rng=1M", "--transport", "pci", "x.bin"), 0, "%s", err.msg);
	cr_assert_eq(o.cfg.rng_bytes_per_sec, 1 << 20);
	cr_assert_eq(o.cfg.transport, KVMINI_TRANSPORT_PCI);
	const char *bad_rng[] = { "--rng=0", "--rng=fast", "--rng=", "--rng=-5" };
	for (size_t i = 0; i < sizeof(bad_rng) / sizeof(bad_rng[0]); i++) {
		cr_assert_eq(PARSE(&o, &err, (char *)bad_rng[i], "x.bin"), -1, "%s taken", bad_rng[i]);
		cr_assert_eq(err.code, KVMINI_E_USAGE);
		cr_assert(strstr(err.msg, "rng"), "%s", err.msg);
	}
	cr_assert_eq(PARSE(&o, &err, "--transport", "usb", "x.bin"), -1);
	cr_assert(strstr(err.msg, "mmio or pci"), "%s", err.msg);
}

/* ---- the wiring, on a VM without KVM ---- */

/* What board_virtio_attach() uses of a VM: its RAM, its MMIO bus, its
 * irqchip model and fd. With no KVM (fd -1) every ioeventfd fails and
 * QueueNotify takes the exit path; with no irqchip there is no line. */
struct fake_machine {
	struct vm vm;
	struct board board;
	struct event_loop *loop;
	struct virtio_device_set set;
	struct kvmini_config cfg;
};

static void machine_up(struct fake_machine *fm, enum kvmini_transport transport)
{
	struct kvmini_error err = { 0 };
	memset(fm, 0, sizeof(*fm));
	kvmini_config_defaults(&fm->cfg);
	fm->cfg.rng = true;
	fm->cfg.transport = transport;
	fm->vm.fd = -1;
	fm->vm.log_fd = 2;
	fm->vm.irqchip = KVMINI_IRQCHIP_NONE;
	bus_init(&fm->vm.mmio, "MMIO");
	bus_init(&fm->vm.pio, "port");
	cr_assert_eq(guest_memory_init(&fm->vm.mem, 16 * MIB, 0, &err), 0, "%s", err.msg);
	cr_assert(fm->loop = event_loop_create("evloop", &err), "%s", err.msg);
	cr_assert_eq(event_loop_start(fm->loop, &err), 0, "%s", err.msg);
	struct virtio_device_env env = { .loop = fm->loop, .log_fd = 2, .cfg = &fm->cfg };
	cr_assert_eq(virtio_devices_create(&fm->set, &env, &err), 0, "%s", err.msg);
	fm->board.vm = &fm->vm;
	fm->board.loop = fm->loop;
	fm->board.virtio = &fm->set;
}

static void machine_down(struct fake_machine *fm)
{
	board_virtio_detach(&fm->board);
	virtio_devices_destroy(&fm->set);
	event_loop_destroy(fm->loop);
	bus_free(&fm->vm.mmio);
	bus_free(&fm->vm.pio);
	guest_memory_free(&fm->vm.mem);
}

static uint32_t bus_read32(struct fake_machine *fm, uint64_t addr)
{
	uint8_t data[4];
	cr_assert(bus_access(&fm->vm.mmio, addr, data, 4, false), "nothing at 0x%lx", addr);
	return get32(data);
}

Test(virtio_board, rng_gets_the_first_window_on_the_mmio_bus)
{
	static struct fake_machine fm;
	machine_up(&fm, KVMINI_TRANSPORT_DEFAULT);
	struct kvmini_error err = { 0 };
	cr_assert_eq(board_virtio_attach(&fm.board, &fm.cfg, &err), 0, "%s", err.msg);
	cr_assert_eq(fm.board.nvirtio, 1);
	cr_assert_eq(bus_read32(&fm, 0xd0000000), 0x74726976, "magic");
	cr_assert_eq(bus_read32(&fm, 0xd0000000 + VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	uint8_t data[4];
	cr_assert_not(bus_access(&fm.vm.mmio, 0xd0001000, data, 4, false), "a second window");
	/* No irqchip: no line, so nothing for firmware or Linux. */
	cr_assert_null(fm.board.virtio_slots[0].res.acpi_hid);
	cr_assert_str_eq(fm.board.virtio_slots[0].cmdline, "");
	board_virtio_detach(&fm.board);
	cr_assert_eq(bus_count(&fm.vm.mmio), 0, "the window outlived the boot");
	/* The next boot finds the device reset, in the same place. */
	cr_assert_eq(board_virtio_attach(&fm.board, &fm.cfg, &err), 0, "%s", err.msg);
	cr_assert_eq(bus_read32(&fm, 0xd0000000 + VIRTIO_MMIO_STATUS), 0);
	machine_down(&fm);
}

Test(virtio_board, pci_transport_puts_the_rng_at_slot_1_of_a_host_bridge)
{
	static struct fake_machine fm;
	machine_up(&fm, KVMINI_TRANSPORT_PCI);
	struct kvmini_error err = { 0 };
	cr_assert_eq(board_virtio_attach(&fm.board, &fm.cfg, &err), 0, "%s", err.msg);
	cr_assert_not_null(fm.board.pci);
	uint8_t a[4] = { 0x00, 0x08, 0x00, 0x80 }, id[4];   /* bus 0, slot 1, register 0 */
	cr_assert(bus_access(&fm.vm.pio, 0xcf8, a, 4, true));
	cr_assert(bus_access(&fm.vm.pio, 0xcfc, id, 4, false));
	cr_assert_eq(get32(id), (0x1040u + VIRTIO_ID_RNG) << 16 | 0x1af4);
	cr_assert_eq(bus_read32(&fm, 0xe0000000 + (1 << 15)), get32(id), "ECAM says the same");
	/* Nothing for the DSDT or the command line per device: PCI0 says it all. */
	cr_assert_null(fm.board.virtio_slots[0].res.acpi_hid);
	cr_assert_str_eq(fm.board.virtio_slots[0].cmdline, "");
	board_virtio_detach(&fm.board);
	cr_assert_null(fm.board.pci, "the bridge goes with the last device");
	cr_assert_eq(bus_count(&fm.vm.mmio), 0);
	cr_assert_eq(bus_count(&fm.vm.pio), 0);
	machine_down(&fm);
}
