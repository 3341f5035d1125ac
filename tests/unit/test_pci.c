/* The PCI host bridge (src/pci/pci.c) on two plain buses, as a guest
 * drives it: configuration mechanism #1 at 0xcf8/0xcfc with every size
 * and offset, ECAM, BAR sizing and moving, the command register gating
 * the BARs' ranges, INTx lines shared and ORed, and port 0xcf9 passed
 * through to the range that was there. No KVM. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>
#include "pci/pci.h"

#define ECAM 0xe0000000ull
#define WINDOW 0xc0000000ull

static struct bus pio, mmio;
static struct pci_host host;
static struct pci_function fn;
static struct kvmini_error err;
static int levels[PCI_INTX_LINES], changes[PCI_INTX_LINES];

static void set_level(void *ctx, unsigned line, bool level)
{
	(void)ctx;
	levels[line - 16] = level;
	changes[line - 16]++;
}

/* The function's BAR 0: 4 KiB that answer their offset. */
static int bar_reads;
static void bar_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	(void)opaque;
	bar_reads++;
	for (uint32_t i = 0; i < len; i++)
		data[i] = (uint8_t)(offset + i);
}
static const struct bus_device_ops bar_ops = { .read = bar_read };

/* 0xcf9 as the reset control device has it. */
static uint8_t cf9_value;
static int cf9_writes;
static void cf9_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	memset(data, 0xff, len);
	data[0] = cf9_value;
}
static void cf9_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	(void)len;
	cf9_value = data[0];
	cf9_writes++;
}
static const struct bus_device_ops cf9_ops = { .read = cf9_read, .write = cf9_write };

static void setup(void)
{
	bus_init(&pio, "port");
	bus_init(&mmio, "MMIO");
	memset(levels, 0, sizeof(levels));
	memset(changes, 0, sizeof(changes));
	cf9_value = 0;
	cf9_writes = 0;
	bar_reads = 0;
	cr_assert_eq(bus_register(&pio, 0xcf9, 1, &cf9_ops, NULL, "reset control", &err), 0);
	struct pci_host_config cfg = {
		.pio = &pio, .mmio = &mmio, .ecam_base = ECAM,
		.mmio_base = WINDOW, .mmio_end = WINDOW + (256 << 20),
		.io_base = 0xc000, .io_end = 0x10000,
	};
	for (unsigned i = 0; i < PCI_INTX_LINES; i++)
		cfg.intx[i] = (struct irq_line){ .set_level = set_level, .line = 16 + i };
	cr_assert_eq(pci_host_init(&host, &cfg, &err), 0, "%s", err.msg);
	pci_function_init(&fn, 0x1af4, 0x1044, 0xff0000, 1, 0x1af4, 0x44);
	cr_assert_eq(pci_function_set_bar(&fn, 0, 0x1000, false, &bar_ops, NULL, "test BAR", &err),
		     0, "%s", err.msg);
	cr_assert_eq(pci_host_plug(&host, &fn, 3, &err), 0, "%s", err.msg);
}

static void teardown(void)
{
	pci_host_destroy(&host);
	bus_free(&pio);
	bus_free(&mmio);
}

TestSuite(pci, .init = setup, .fini = teardown);

static uint32_t address(unsigned slot, unsigned reg)
{
	return 0x80000000u | slot << 11 | (reg & 0xfc);
}

static void out32(uint16_t port, uint32_t v)
{
	cr_assert(bus_access(&pio, port, (uint8_t *)&v, 4, true));
}

static uint32_t in(uint16_t port, uint32_t len)
{
	uint32_t v = 0;
	cr_assert(bus_access(&pio, port, (uint8_t *)&v, len, false));
	return v;
}

static void out(uint16_t port, uint32_t v, uint32_t len)
{
	cr_assert(bus_access(&pio, port, (uint8_t *)&v, len, true));
}

/* A dword of config space through 0xcf8/0xcfc. */
static uint32_t cf8_read32(unsigned slot, unsigned reg)
{
	out32(0xcf8, address(slot, reg));
	return in(0xcfc, 4);
}

static void cf8_write32(unsigned slot, unsigned reg, uint32_t v)
{
	out32(0xcf8, address(slot, reg));
	out(0xcfc, v, 4);
}

static uint32_t ecam_read(unsigned slot, unsigned reg, uint32_t len)
{
	uint32_t v = 0;
	cr_assert(bus_access(&mmio, ECAM + (slot << 15) + reg, (uint8_t *)&v, len, false));
	return v;
}

static void ecam_write(unsigned slot, unsigned reg, uint32_t v, uint32_t len)
{
	cr_assert(bus_access(&mmio, ECAM + (slot << 15) + reg, (uint8_t *)&v, len, true));
}

Test(pci, host_bridge_and_function_ids_through_0xcf8)
{
	cr_assert_eq(cf8_read32(0, PCI_VENDOR_ID), PCI_HOST_DEVICE << 16 | PCI_HOST_VENDOR);
	cr_assert_eq(cf8_read32(0, PCI_CLASS_REVISION) >> 8, PCI_CLASS_CODE_HOST_BRIDGE);
	cr_assert_eq(cf8_read32(3, PCI_VENDOR_ID), 0x10441af4u);
	cr_assert_eq(cf8_read32(3, PCI_CLASS_REVISION), 0xff000001u);
	cr_assert_eq(cf8_read32(3, PCI_SUBSYSTEM_VENDOR_ID), 0x00441af4u);
	cr_assert_eq(cf8_read32(3, PCI_INTERRUPT_LINE) & 0xffff, 0x0100u | (16 + 3));
	/* Absent slots, functions, buses read all-ones. */
	cr_assert_eq(cf8_read32(4, PCI_VENDOR_ID), 0xffffffffu);
	out32(0xcf8, address(3, 0) | 1 << 8);
	cr_assert_eq(in(0xcfc, 4), 0xffffffffu);
	out32(0xcf8, address(3, 0) | 1 << 16);
	cr_assert_eq(in(0xcfc, 4), 0xffffffffu);
	/* Without the enable bit, nothing is selected. */
	out32(0xcf8, address(3, 0) & ~0x80000000u);
	cr_assert_eq(in(0xcfc, 4), 0xffffffffu);
}

Test(pci, the_address_register_keeps_only_its_bits)
{
	out32(0xcf8, 0xffffffffu);
	cr_assert_eq(in(0xcf8, 4), 0x80fffffcu);
}

Test(pci, data_window_every_size_and_offset)
{
	out32(0xcf8, address(3, PCI_VENDOR_ID));
	cr_assert_eq(in(0xcfc, 1), 0xf4);
	cr_assert_eq(in(0xcfd, 1), 0x1a);
	cr_assert_eq(in(0xcfe, 1), 0x44);
	cr_assert_eq(in(0xcff, 1), 0x10);
	cr_assert_eq(in(0xcfc, 2), 0x1af4);
	cr_assert_eq(in(0xcfd, 2), 0x441a);
	cr_assert_eq(in(0xcfe, 2), 0x1044);
	/* Bytes and words at each offset write what they say. */
	out32(0xcf8, address(3, PCI_CACHE_LINE_SIZE));
	out(0xcfc, 0x12, 1);
	out(0xcfd, 0x34, 1);
	cr_assert_eq(in(0xcfc, 2), 0x3412);
	out(0xcfd, 0x5678, 2);   /* latency timer 0x78; header type is read-only */
	cr_assert_eq(in(0xcfc, 4), 0x00007812u);
	/* A word at 0xcfe of the interrupt line/pin dword. */
	out32(0xcf8, address(3, PCI_INTERRUPT_LINE));
	out(0xcfc, 0x0b, 1);
	out(0xcfd, 0x07, 1);     /* the pin is read-only */
	cr_assert_eq(in(0xcfc, 2), 0x010b);
}

Test(pci, port_0xcf9_still_reaches_the_reset_control_register)
{
	out(0xcf9, 0x02, 1);
	cr_assert_eq(cf9_writes, 1);
	cr_assert_eq(in(0xcf9, 1), 0x02);
	/* A byte at 0xcf8 or 0xcfa is not the address register, and not 0xcf9's. */
	out32(0xcf8, address(3, 0));
	out(0xcf8, 0, 1);
	out(0xcfa, 0, 2);
	cr_assert_eq(in(0xcf8, 4), address(3, 0));
	cr_assert_eq(in(0xcf8, 1), 0xff);
	cr_assert_eq(cf9_writes, 1);
}

Test(pci, destroy_gives_0xcf9_back)
{
	pci_host_destroy(&host);
	cr_assert_eq(bus_count(&pio), 1);
	cr_assert_eq(bus_count(&mmio), 0);
	out(0xcf9, 0x04, 1);
	cr_assert_eq(cf9_value, 0x04);
	/* teardown's second destroy does nothing */
}

Test(pci, ecam_every_size_and_offset)
{
	cr_assert_eq(ecam_read(3, 0, 4), 0x10441af4u);
	cr_assert_eq(ecam_read(3, 1, 1), 0x1a);
	cr_assert_eq(ecam_read(3, 2, 2), 0x1044);
	cr_assert_eq(ecam_read(3, 3, 1), 0x10);
	uint64_t q = 0;
	cr_assert(bus_access(&mmio, ECAM + (3 << 15), (uint8_t *)&q, 8, false));
	cr_assert_eq(q, 0x0000000010441af4ull);   /* command and status are 0 */
	/* Extended space: present function reads 0, absent all-ones. */
	cr_assert_eq(ecam_read(3, 0x100, 4), 0);
	cr_assert_eq(ecam_read(3, 0xffc, 4), 0);
	cr_assert_eq(ecam_read(5, 0x100, 4), 0xffffffffu);
	cr_assert_eq(ecam_read(0, 0, 2), PCI_HOST_VENDOR);
	/* Function 1 of slot 3 is absent. */
	cr_assert_eq(ecam_read(3, 1 << 12, 4), 0xffffffffu);
	ecam_write(3, PCI_INTERRUPT_LINE, 0x09, 1);
	cr_assert_eq(cf8_read32(3, PCI_INTERRUPT_LINE) & 0xff, 0x09);
	/* An access that straddles two functions' spaces reads all-ones. */
	q = 0;
	cr_assert(bus_access(&mmio, ECAM + (3 << 15) + 0xffc, (uint8_t *)&q, 8, false));
	cr_assert_eq(q, ~0ull);
}

Test(pci, bar_sizing_reads_the_size_mask)
{
	uint32_t placed = cf8_read32(3, PCI_BASE_ADDRESS_0);
	cr_assert_eq(placed, (uint32_t)WINDOW);
	cf8_write32(3, PCI_BASE_ADDRESS_0, 0xffffffffu);
	cr_assert_eq(cf8_read32(3, PCI_BASE_ADDRESS_0), 0xfffff000u);
	cf8_write32(3, PCI_BASE_ADDRESS_0, placed);
	cr_assert_eq(cf8_read32(3, PCI_BASE_ADDRESS_0), placed);
	/* Unused BARs and the ROM BAR stay 0 whatever is written. */
	cf8_write32(3, PCI_BASE_ADDRESS_1, 0xffffffffu);
	cr_assert_eq(cf8_read32(3, PCI_BASE_ADDRESS_1), 0);
	cf8_write32(3, PCI_ROM_ADDRESS, 0xffffffffu);
	cr_assert_eq(cf8_read32(3, PCI_ROM_ADDRESS), 0);
}

Test(pci, io_bar_sizing_keeps_the_space_bit)
{
	struct pci_function io;
	pci_function_init(&io, 0x1af4, 0x1000, 0, 0, 0, 0);
	cr_assert_eq(pci_function_set_bar(&io, 2, 0x20, true, &bar_ops, NULL, "io BAR", &err), 0);
	cr_assert_eq(pci_host_plug(&host, &io, 9, &err), 0);
	cr_assert_eq(cf8_read32(9, PCI_BASE_ADDRESS_2), 0xc001u);
	cf8_write32(9, PCI_BASE_ADDRESS_2, 0xffffffffu);
	cr_assert_eq(cf8_read32(9, PCI_BASE_ADDRESS_2), 0xffffffe1u);
	cf8_write32(9, PCI_BASE_ADDRESS_2, 0xd000);
	cf8_write32(9, PCI_COMMAND, PCI_COMMAND_IO);
	cr_assert_eq(in(0xd005, 1), 5);
	cr_assert_null(bus_find(&mmio, WINDOW));   /* memory decode is still off */
	pci_host_unplug(&host, &io);
	cr_assert_null(bus_find(&pio, 0xd000));
}

Test(pci, bad_bars_are_refused)
{
	struct pci_function f;
	pci_function_init(&f, 1, 2, 0, 0, 0, 0);
	cr_assert_neq(pci_function_set_bar(&f, 6, 0x1000, false, &bar_ops, NULL, "x", &err), 0);
	cr_assert_neq(pci_function_set_bar(&f, 0, 0x1800, false, &bar_ops, NULL, "x", &err), 0);
	cr_assert_neq(pci_function_set_bar(&f, 0, 8, false, &bar_ops, NULL, "x", &err), 0);
	cr_assert_eq(pci_function_set_bar(&f, 0, 1ull << 30, false, &bar_ops, NULL, "big", &err),
		     0);
	cr_assert_neq(pci_host_plug(&host, &f, 3, &err), 0);      /* taken */
	cr_assert_neq(pci_host_plug(&host, &f, 0, &err), 0);      /* the bridge's */
	cr_assert_neq(pci_host_plug(&host, &f, 4, &err), 0);      /* no room in 256 MiB */
	cr_assert(strstr(err.msg, "no room"), "%s", err.msg);
}

Test(pci, command_register_gates_the_bar)
{
	uint8_t b;
	cr_assert_null(bus_find(&mmio, WINDOW));
	cr_assert_not(bus_access(&mmio, WINDOW + 5, &b, 1, false));
	cf8_write32(3, PCI_COMMAND, PCI_COMMAND_MEMORY);
	cr_assert_not_null(bus_find(&mmio, WINDOW));
	cr_assert(bus_access(&mmio, WINDOW + 5, &b, 1, false));
	cr_assert_eq(b, 5);
	cf8_write32(3, PCI_COMMAND, 0);
	cr_assert_null(bus_find(&mmio, WINDOW));
	/* The I/O bit does not decode a memory BAR. */
	cf8_write32(3, PCI_COMMAND, PCI_COMMAND_IO);
	cr_assert_null(bus_find(&mmio, WINDOW));
	/* Only the implemented command bits stick. */
	cf8_write32(3, PCI_COMMAND, 0xffff);
	cr_assert_eq(cf8_read32(3, PCI_COMMAND) & 0xffff, 0x0547);
}

Test(pci, guest_moves_a_bar_and_the_range_follows)
{
	uint8_t b;
	cf8_write32(3, PCI_COMMAND, PCI_COMMAND_MEMORY);
	cf8_write32(3, PCI_BASE_ADDRESS_0, 0xc8000000u);
	cr_assert_null(bus_find(&mmio, WINDOW));
	cr_assert(bus_access(&mmio, 0xc8000010, &b, 1, false));
	cr_assert_eq(b, 0x10);
	/* Onto the ECAM range: refused by the bus, the BAR stays off ... */
	cf8_write32(3, PCI_BASE_ADDRESS_0, (uint32_t)ECAM);
	cr_assert_null(bus_find(&mmio, 0xc8000000));
	cr_assert_eq(bus_find(&mmio, ECAM)->ops->read, bus_find(&mmio, ECAM + 0x1000)->ops->read);
	cr_assert_eq(ecam_read(3, 0, 4), 0x10441af4u);
	/* ... until it is moved somewhere free. */
	cf8_write32(3, PCI_BASE_ADDRESS_0, 0xc0001000u);
	cr_assert(bus_access(&mmio, 0xc0001002, &b, 1, false));
	cr_assert_eq(b, 2);
	/* Sizing while decoding would move it to 0xfffff000: it stays in 4 GiB. */
	cf8_write32(3, PCI_BASE_ADDRESS_0, 0xffffffffu);
	cr_assert_not_null(bus_find(&mmio, 0xfffff000));
	cf8_write32(3, PCI_COMMAND, 0);
	cr_assert_eq(bus_count(&mmio), 1);   /* ECAM only */
}

Test(pci, bar_moves_through_ecam_too)
{
	uint8_t b;
	ecam_write(3, PCI_BASE_ADDRESS_0, 0xc4000000u, 4);
	ecam_write(3, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	cr_assert(bus_access(&mmio, 0xc4000001, &b, 1, false));
	cr_assert_eq(b, 1);
	/* Byte by byte: each write moves it (the guest asked for it). */
	ecam_write(3, PCI_BASE_ADDRESS_0 + 3, 0xc5, 1);
	cr_assert(bus_access(&mmio, 0xc5000003, &b, 1, false));
	cr_assert_eq(b, 3);
}

Test(pci, intx_lines_are_shared_and_ored)
{
	struct pci_function other;
	pci_function_init(&other, 0x1af4, 0x1041, 0, 0, 0, 0);
	cr_assert_eq(pci_host_plug(&host, &other, 3 + PCI_INTX_LINES, &err), 0);
	pci_function_set_intx(&fn, true);
	cr_assert_eq(levels[3], 1);
	cr_assert(cf8_read32(3, PCI_COMMAND) & (PCI_STATUS_INTERRUPT << 16));
	pci_function_set_intx(&other, true);
	pci_function_set_intx(&fn, false);
	cr_assert_eq(levels[3], 1, "the other function still asserts the shared line");
	cr_assert_not(cf8_read32(3, PCI_COMMAND) & (PCI_STATUS_INTERRUPT << 16));
	pci_function_set_intx(&other, false);
	cr_assert_eq(levels[3], 0);
	cr_assert_eq(changes[3], 2);
	/* INTx disable holds the line back; enabling again raises it. */
	cf8_write32(3, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE);
	pci_function_set_intx(&fn, true);
	cr_assert_eq(levels[3], 0);
	cr_assert(cf8_read32(3, PCI_COMMAND) & (PCI_STATUS_INTERRUPT << 16));
	cf8_write32(3, PCI_COMMAND, 0);
	cr_assert_eq(levels[3], 1);
	/* Unplugging releases it. */
	pci_host_unplug(&host, &fn);
	cr_assert_eq(levels[3], 0);
	pci_host_unplug(&host, &other);
}

Test(pci, capability_list_links_in_order)
{
	struct pci_function f;
	pci_function_init(&f, 1, 2, 0, 0, 0, 0);
	uint8_t a[5] = { PCI_CAP_ID_VNDR, 0xee, 5, 1, 2 }, b[12] = { PCI_CAP_ID_MSIX };
	unsigned off_a, off_b;
	cr_assert_eq(pci_function_add_cap(&f, a, sizeof(a), &off_a, &err), 0);
	cr_assert_eq(pci_function_add_cap(&f, b, sizeof(b), &off_b, &err), 0);
	cr_assert_eq(off_a, 0x40);
	cr_assert_eq(off_b, 0x48);
	cr_assert_eq(f.config[PCI_CAPABILITY_LIST], 0x40);
	cr_assert_eq(f.config[0x41], 0x48);
	cr_assert_eq(f.config[0x49], 0);
	cr_assert(f.config[PCI_STATUS] & PCI_STATUS_CAP_LIST);
	uint8_t big[200] = { 9 };
	cr_assert_neq(pci_function_add_cap(&f, big, sizeof(big), &off_a, &err), 0);
}

/* Two vCPUs move the BAR through ECAM while a third reads through it:
 * moves run from inside ECAM callbacks on the bus they change, and a
 * writer that finds the mapper busy leaves the work to it. Nothing may
 * deadlock, and once the writers stop the bus matches the registers. */
struct mover {
	uint32_t a, b;
	int rounds;
};

static void *move_bar(void *arg)
{
	struct mover *m = arg;
	for (int i = 0; i < m->rounds; i++) {
		uint32_t v = i & 1 ? m->a : m->b;
		bus_access(&mmio, ECAM + (3 << 15) + PCI_BASE_ADDRESS_0, (uint8_t *)&v, 4, true);
		uint16_t cmd = i % 3 ? PCI_COMMAND_MEMORY : 0;
		bus_access(&mmio, ECAM + (3 << 15) + PCI_COMMAND, (uint8_t *)&cmd, 2, true);
	}
	return NULL;
}

static bool reader_stop;

static void *read_bars(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&reader_stop, __ATOMIC_SEQ_CST)) {
		uint8_t b;
		if (bus_access(&mmio, 0xc8000007, &b, 1, false) && b != 7)
			return (void *)1;
		if (bus_access(&mmio, 0xc9000007, &b, 1, false) && b != 7)
			return (void *)1;
	}
	return NULL;
}

Test(pci, concurrent_moves_settle_where_the_registers_say)
{
	struct mover m1 = { 0xc8000000u, 0xc9000000u, 2000 }, m2 = { 0xc9000000u, 0xc8000000u, 2000 };
	pthread_t t1, t2, r;
	reader_stop = false;
	cr_assert_eq(pthread_create(&r, NULL, read_bars, NULL), 0);
	cr_assert_eq(pthread_create(&t1, NULL, move_bar, &m1), 0);
	cr_assert_eq(pthread_create(&t2, NULL, move_bar, &m2), 0);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	__atomic_store_n(&reader_stop, true, __ATOMIC_SEQ_CST);
	void *bad;
	pthread_join(r, &bad);
	cr_assert_null(bad, "a read through the BAR reached the wrong offset");
	ecam_write(3, PCI_BASE_ADDRESS_0, 0xc9000000u, 4);
	ecam_write(3, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	cr_assert_not_null(bus_find(&mmio, 0xc9000000));
	cr_assert_null(bus_find(&mmio, 0xc8000000));
	cr_assert_eq(bus_count(&mmio), 2, "ECAM and the BAR, nothing left behind");
	ecam_write(3, PCI_COMMAND, 0, 2);
	cr_assert_eq(bus_count(&mmio), 1);
}
