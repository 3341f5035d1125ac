/* pci-testdev (src/pci/testdev.c) on a PCI host over two plain buses,
 * as kvm-unit-tests drives it: its config header and BARs, each BAR's
 * three tests and their headers, what counts as a hit, the doorbells
 * bound where KVM would bind them (a fake records them; the test plays
 * KVM by signalling the eventfd), a BAR moved with its doorbell, a
 * refused doorbell, and hostile indexes, offsets and widths. No KVM. */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>
#include "pci/testdev.h"

#define ECAM 0xe0000000ull
#define WINDOW 0xc0000000ull
#define SLOT 31u

static struct bus pio, mmio;
static struct pci_host host;
static struct pci_testdev dev;
static struct kvmini_error err;

/* The fake KVM_IOEVENTFD: the last binding, and how many are live. */
static struct kvm_doorbell last_bell;
static int last_efd, bound, bind_calls;
static bool refuse;

static int fake_doorbell(void *ctx, int efd, const struct kvm_doorbell *d, bool on,
			 struct kvmini_error *e)
{
	(void)ctx;
	if (on && refuse)
		return kvmini_fail(e, KVMINI_E_HOST, "KVM_IOEVENTFD: refused");
	if (on) {
		last_bell = *d;
		last_efd = efd;
		bind_calls++;
	}
	bound += on ? 1 : -1;
	return 0;
}

static void cf8_write32(unsigned reg, uint32_t v)
{
	uint32_t a = 0x80000000u | SLOT << 11 | reg;
	cr_assert(bus_access(&pio, 0xcf8, (uint8_t *)&a, 4, true));
	cr_assert(bus_access(&pio, 0xcfc, (uint8_t *)&v, 4, true));
}

static uint32_t cf8_read32(unsigned reg)
{
	uint32_t a = 0x80000000u | SLOT << 11 | reg, v = 0;
	cr_assert(bus_access(&pio, 0xcf8, (uint8_t *)&a, 4, true));
	cr_assert(bus_access(&pio, 0xcfc, (uint8_t *)&v, 4, false));
	return v;
}

static uint64_t bar_base(unsigned bar)
{
	return pci_function_bar_address(&dev.fn, bar);
}

static struct bus *bar_bus(unsigned bar)
{
	return bar ? &pio : &mmio;
}

static void put(unsigned bar, uint64_t off, uint32_t v, uint32_t len)
{
	cr_assert(bus_access(bar_bus(bar), bar_base(bar) + off, (uint8_t *)&v, len, true));
}

static uint32_t get(unsigned bar, uint64_t off, uint32_t len)
{
	uint32_t v = 0;
	cr_assert(bus_access(bar_bus(bar), bar_base(bar) + off, (uint8_t *)&v, len, false));
	return v;
}

static void setup(void)
{
	bus_init(&pio, "port");
	bus_init(&mmio, "MMIO");
	memset(&last_bell, 0, sizeof(last_bell));
	last_efd = -1;
	bound = bind_calls = 0;
	refuse = false;
	struct pci_host_config cfg = {
		.pio = &pio, .mmio = &mmio, .ecam_base = ECAM,
		.mmio_base = WINDOW, .mmio_end = WINDOW + (256 << 20),
		.io_base = 0xc000, .io_end = 0x10000,
	};
	cr_assert_eq(pci_host_init(&host, &cfg, &err), 0, "%s", err.msg);
	cr_assert_eq(pci_testdev_init(&dev, &host, SLOT, fake_doorbell, NULL, -1, &err), 0, "%s",
		     err.msg);
	cf8_write32(PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
}

static void teardown(void)
{
	pci_testdev_destroy(&dev);
	cr_assert_eq(bound, 0, "every doorbell unbound");
	pci_host_destroy(&host);
	bus_free(&pio);
	bus_free(&mmio);
}

TestSuite(pci_testdev, .init = setup, .fini = teardown);

Test(pci_testdev, config_header_and_bars)
{
	cr_assert_eq(cf8_read32(PCI_VENDOR_ID), 0x00051b36u);
	cr_assert_eq(cf8_read32(PCI_CLASS_REVISION) >> 8, 0xff0000u);
	cr_assert_eq(cf8_read32(PCI_INTERRUPT_LINE) >> 8 & 0xff, 0, "no interrupt pin");
	uint32_t bar0 = cf8_read32(PCI_BASE_ADDRESS_0), bar1 = cf8_read32(PCI_BASE_ADDRESS_1);
	cr_assert_eq(bar0 & 1, 0, "BAR 0 is memory");
	cr_assert_eq(bar1 & 1, 1, "BAR 1 is I/O");
	cf8_write32(PCI_BASE_ADDRESS_0, 0xffffffffu);
	cf8_write32(PCI_BASE_ADDRESS_1, 0xffffffffu);
	cr_assert_eq(~(cf8_read32(PCI_BASE_ADDRESS_0) & ~0xfu) + 1, 4096u);
	cr_assert_eq(~(cf8_read32(PCI_BASE_ADDRESS_1) & ~0x3u) + 1, 256u);
}

/* Every test's header as either BAR shows it once selected. */
Test(pci_testdev, each_bar_lists_three_tests)
{
	static const char *const names[2][3] = {
		{ "mmio-no-eventfd", "mmio-wildcard-eventfd", "mmio-datamatch-eventfd" },
		{ "portio-no-eventfd", "portio-wildcard-eventfd", "portio-datamatch-eventfd" },
	};
	for (unsigned bar = 0; bar < 2; bar++)
		for (unsigned t = 0; t < 3; t++) {
			put(bar, 0, t, 1);
			cr_assert_eq(get(bar, 0, 1), t);
			cr_assert_eq(get(bar, 1, 1), 1, "width");
			cr_assert_eq(get(bar, 4, 4), (bar ? 128u : 2048u) + t, "offset");
			cr_assert_eq(get(bar, 8, 4), t == 1 ? 0xceu : 0xfau, "data");
			cr_assert_eq(get(bar, 12, 4), 0, "count");
			char name[32] = { 0 };
			for (unsigned i = 0; i < sizeof(name) - 1; i++)
				name[i] = (char)get(1 - bar, 16 + i, 1);   /* the other BAR shows it too */
			cr_assert_str_eq(name, names[bar][t]);
		}
	put(0, 0, 3, 1);
	cr_assert_eq(get(0, 0, 4) | get(0, 4, 4) | get(0, 16, 4), 0, "index 3: no test");
}

Test(pci_testdev, no_eventfd_counts_width_bytes_of_data_at_its_offset)
{
	put(0, 0, 0, 1);
	cr_assert_eq(bound, 0, "no doorbell");
	for (int i = 0; i < 5; i++)
		put(0, 2048, 0xfa, 1);
	put(0, 2048, 0xfb, 1);        /* other data */
	put(0, 2048, 0xfa, 2);        /* other width */
	put(0, 2049, 0xfa, 1);        /* other offset */
	put(1, 128, 0xfa, 1);         /* the other BAR's */
	cr_assert_eq(get(0, 12, 4), 5);
	put(0, 0, 0, 1);
	cr_assert_eq(get(0, 12, 4), 0, "selecting starts over");
}

Test(pci_testdev, wildcard_eventfd_binds_any_write_and_counts_the_eventfd)
{
	put(0, 0, 1, 4);              /* a dword write selects by its low byte */
	cr_assert_eq(bound, 1);
	cr_assert_not(last_bell.pio);
	cr_assert_eq(last_bell.addr, bar_base(0) + 2049);
	cr_assert_eq(last_bell.len, 1);
	cr_assert_not(last_bell.datamatch);
	uint64_t five = 5;            /* KVM saw five writes */
	cr_assert_eq(write(last_efd, &five, sizeof(five)), (ssize_t)sizeof(five));
	put(0, 2049, 0x12, 2);        /* a size KVM would not take: an exit, counted */
	cr_assert_eq(get(0, 12, 4), 6);
	cr_assert_eq(get(0, 12, 4), 6, "the eventfd is taken once");
	put(0, 0, 7, 1);
	cr_assert_eq(bound, 0, "deselected: unbound");
}

Test(pci_testdev, datamatch_eventfd_binds_the_port_with_its_data)
{
	put(1, 0, 2, 1);
	cr_assert_eq(bound, 1);
	cr_assert(last_bell.pio);
	cr_assert_eq(last_bell.addr, bar_base(1) + 130);
	cr_assert(last_bell.datamatch);
	cr_assert_eq(last_bell.data, 0xfa);
	uint64_t three = 3;
	cr_assert_eq(write(last_efd, &three, sizeof(three)), (ssize_t)sizeof(three));
	put(1, 130, 0x01, 1);         /* KVM passes a mismatch on: not counted */
	put(1, 130, 0xfa, 1);         /* ... a match that exits anyway is */
	cr_assert_eq(get(1, 12, 4), 4);
}

Test(pci_testdev, an_eventfd_left_from_an_earlier_run_is_dropped)
{
	put(0, 0, 2, 1);
	uint64_t two = 2;
	cr_assert_eq(write(last_efd, &two, sizeof(two)), (ssize_t)sizeof(two));
	put(0, 0, 2, 1);
	cr_assert_eq(get(0, 12, 4), 0);
}

Test(pci_testdev, the_doorbell_follows_its_bar)
{
	put(0, 0, 2, 1);
	cr_assert_eq(bind_calls, 1);
	cf8_write32(PCI_BASE_ADDRESS_0, (uint32_t)WINDOW + 0x100000);
	cr_assert_eq(bound, 1);
	cr_assert_eq(bind_calls, 2);
	cr_assert_eq(last_bell.addr, WINDOW + 0x100000 + 2050);
	cf8_write32(PCI_COMMAND, PCI_COMMAND_IO);   /* memory decode off */
	cr_assert_eq(bound, 0);
	cf8_write32(PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	cr_assert_eq(bound, 1);
	cr_assert_eq(last_bell.addr, WINDOW + 0x100000 + 2050);
}

Test(pci_testdev, a_refused_doorbell_is_logged_once_and_writes_exit)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	dev.log_fd = fds[1];
	refuse = true;
	put(1, 0, 1, 1);
	put(1, 0, 2, 1);
	cr_assert_eq(bound, 0);
	put(1, 130, 0xfa, 1);
	cr_assert_eq(get(1, 12, 4), 1);
	close(fds[1]);
	char buf[256] = { 0 };
	cr_assert_gt(read(fds[0], buf, sizeof(buf) - 1), 0);
	cr_assert_str_eq(buf, "kvmini: pci-testdev: ioeventfd: KVM_IOEVENTFD: refused\n");
	close(fds[0]);
	dev.log_fd = -1;
}

Test(pci_testdev, hostile_indexes_offsets_and_widths)
{
	put(0, 0, 0xff, 1);
	cr_assert_eq(get(0, 1, 1), 0, "index 255: no test");
	put(0, 2048, 0xfa, 1);        /* nothing selected: ignored */
	put(0, 0, 0, 1);
	cr_assert_eq(get(0, 44, 4), 0, "past the name");
	cr_assert_eq(get(0, 46, 4), 0, "across the header's end");
	cr_assert_eq(get(0, 4092, 4), 0, "the BAR's last bytes");
	uint64_t q = 0xfa;
	cr_assert(bus_access(&mmio, bar_base(0) + 2048, (uint8_t *)&q, 8, true));
	put(0, 4095, 0xfa, 1);
	put(0, 12, 0xffffffffu, 4);   /* count is read-only */
	cr_assert_eq(get(0, 12, 4), 0);
	put(0, 2048, 0xfa, 1);
	cr_assert_eq(get(0, 12, 4), 1);
}

/* ---- snapshots ---- */

/* The selected test, its count (with what KVM counted on its eventfd)
 * and the BARs where the guest moved them come back; the doorbell is
 * bound again at the restored BAR when the host maps it. */
Test(pci_testdev, a_restored_device_keeps_its_test_count_and_bars)
{
	cf8_write32(PCI_BASE_ADDRESS_0, (uint32_t)(WINDOW + 0x100000));
	put(0, 0, 1, 1);              /* the wildcard test */
	uint64_t three = 3;
	cr_assert_eq(write(last_efd, &three, sizeof(three)), (ssize_t)sizeof(three));
	put(0, 2049, 0x12, 2);        /* one as an exit */
	struct state_writer w;
	state_writer_init(&w);
	pci_testdev_save(&dev, &w);
	pci_host_save(&host, &w);
	/* The guest moves on: another test, the BAR elsewhere. */
	put(0, 0, 2, 1);
	cf8_write32(PCI_BASE_ADDRESS_0, (uint32_t)(WINDOW + 0x200000));
	struct state_reader r;
	state_reader_init(&r, w.data, w.len);
	cr_assert_eq(pci_testdev_restore(&dev, &r, &err), 0, "%s", err.msg);
	cr_assert_eq(pci_host_restore(&host, &r, &err), 0, "%s", err.msg);
	cr_assert_eq(state_reader_finish(&r, "test", &err), 0, "%s", err.msg);
	cr_assert_eq(bar_base(0), WINDOW + 0x100000);
	cr_assert_eq(get(0, PCI_TESTDEV_HDR_TEST, 1), 1, "the wildcard test selected");
	cr_assert_eq(get(0, PCI_TESTDEV_HDR_COUNT, 4), 4);
	cr_assert_eq(bound, 1);
	cr_assert_eq(last_bell.addr, WINDOW + 0x100000 + 2049);
	/* A test that does not exist is refused. */
	w.data[PCI_CONFIG_SIZE] = 6;
	state_reader_init(&r, w.data, w.len);
	cr_assert_eq(pci_testdev_restore(&dev, &r, &err), -1);
	cr_assert(strstr(err.msg, "pci-testdev: saved state is malformed"), "%s", err.msg);
	state_writer_free(&w);
}
