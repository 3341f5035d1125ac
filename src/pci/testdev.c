/* pci-testdev (testdev.h). The tests' headers are built once at set-up;
 * what changes is the selected test, its count and where its doorbell
 * is bound, all under the device's lock. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "pci/testdev.h"

static const char *const test_kind[PCI_TESTDEV_TESTS] = {
	"no-eventfd", "wildcard-eventfd", "datamatch-eventfd",
};

static void put_le32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static unsigned test_bar(unsigned t)
{
	return t / PCI_TESTDEV_TESTS;
}

static bool test_matches_data(unsigned t)
{
	return t % PCI_TESTDEV_TESTS != 1;   /* all but the wildcard */
}

static uint32_t bar_size(unsigned bar)
{
	return bar ? PCI_TESTDEV_IO_SIZE : PCI_TESTDEV_MEM_SIZE;
}

/* The header of test t: its written offset is in the BAR's upper half,
 * clear of the header the guest reads. */
static void test_header_build(struct pci_testdev_test *test, unsigned t)
{
	unsigned bar = test_bar(t), kind = t % PCI_TESTDEV_TESTS;
	memset(test->hdr, 0, sizeof(test->hdr));
	test->hdr[PCI_TESTDEV_HDR_TEST] = (uint8_t)kind;
	test->hdr[PCI_TESTDEV_HDR_WIDTH] = 1;
	put_le32(test->hdr + PCI_TESTDEV_HDR_OFFSET, bar_size(bar) / 2 + kind);
	test->hdr[PCI_TESTDEV_HDR_DATA] =
		test_matches_data(t) ? PCI_TESTDEV_DATA : PCI_TESTDEV_WILD_DATA;
	snprintf((char *)test->hdr + PCI_TESTDEV_HDR_NAME,
		 PCI_TESTDEV_HDR_SIZE - PCI_TESTDEV_HDR_NAME, "%s-%s", bar ? "portio" : "mmio",
		 test_kind[kind]);
}

static uint32_t test_offset(const struct pci_testdev_test *test)
{
	return get_le32(test->hdr + PCI_TESTDEV_HDR_OFFSET);
}

static void test_count_add(struct pci_testdev_test *test, uint64_t n)
{
	uint32_t c = get_le32(test->hdr + PCI_TESTDEV_HDR_COUNT);
	put_le32(test->hdr + PCI_TESTDEV_HDR_COUNT, (uint32_t)(c + n));
}

/* What KVM counted on the eventfd since the last look (it clears it). */
static uint64_t test_eventfd_take(struct pci_testdev_test *test)
{
	uint64_t n = 0;
	if (test->efd < 0 || read(test->efd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return 0;   /* EAGAIN: nothing */
	return n;
}

/* ---- the doorbell of the selected test, under the lock ---- */

static void doorbell_unbind(struct pci_testdev *d, struct pci_testdev_test *test)
{
	if (!test->bound)
		return;
	d->doorbell(d->doorbell_ctx, test->efd, &test->bell, false, NULL);
	test->bound = false;
}

/* Bind test t's eventfd at its offset in its BAR, now at bar_addr. A
 * refusal is logged once: the writes then arrive as exits. */
static void doorbell_bind(struct pci_testdev *d, unsigned t, uint64_t bar_addr)
{
	struct pci_testdev_test *test = &d->tests[t];
	if (test->efd < 0 || !d->doorbell)
		return;
	test->bell = (struct kvm_doorbell){
		.pio = test_bar(t) == 1, .addr = bar_addr + test_offset(test), .len = 1,
		.datamatch = test_matches_data(t),
		.data = test->hdr[PCI_TESTDEV_HDR_DATA],
	};
	struct kvmini_error err = { 0 };
	if (d->doorbell(d->doorbell_ctx, test->efd, &test->bell, true, &err) == 0) {
		test->bound = true;
		return;
	}
	if (!d->doorbell_failed && d->log_fd >= 0)
		dprintf(d->log_fd, "kvmini: pci-testdev: ioeventfd: %s\n", err.msg);
	d->doorbell_failed = true;
}

static void test_select(struct pci_testdev *d, unsigned bar, uint8_t index)
{
	if (d->current >= 0)
		doorbell_unbind(d, &d->tests[d->current]);
	d->current = -1;
	if (index >= PCI_TESTDEV_TESTS)
		return;
	unsigned t = bar * PCI_TESTDEV_TESTS + index;
	struct pci_testdev_test *test = &d->tests[t];
	put_le32(test->hdr + PCI_TESTDEV_HDR_COUNT, 0);
	test_eventfd_take(test);   /* what an earlier run left */
	if (d->bar_on[bar])
		doorbell_bind(d, t, d->bar_at[bar]);
	d->current = (int)t;
}

/* ---- the BARs ---- */

/* A write of the selected test's BAR at its offset: counted when it is
 * `width` bytes of `data`, or any write for the wildcard test. */
static void test_write(struct pci_testdev *d, unsigned bar, uint64_t offset,
		       const uint8_t *data, uint32_t len)
{
	if (d->current < 0 || test_bar((unsigned)d->current) != bar)
		return;
	struct pci_testdev_test *test = &d->tests[d->current];
	if (offset != test_offset(test))
		return;
	if (test_matches_data((unsigned)d->current)) {
		uint64_t v = 0;
		for (uint32_t i = 0; i < len && i < sizeof(v); i++)
			v |= (uint64_t)data[i] << (8 * i);
		if (len != test->hdr[PCI_TESTDEV_HDR_WIDTH] || v != test->hdr[PCI_TESTDEV_HDR_DATA])
			return;
	}
	test_count_add(test, 1);
}

static void bar_write(struct pci_testdev *d, unsigned bar, uint64_t offset,
		      const uint8_t *data, uint32_t len)
{
	if (len == 0)
		return;
	pthread_mutex_lock(&d->lock);
	if (offset == PCI_TESTDEV_HDR_TEST)
		test_select(d, bar, data[0]);
	else
		test_write(d, bar, offset, data, len);
	pthread_mutex_unlock(&d->lock);
}

/* Either BAR shows the selected test's header; its count includes what
 * the eventfd counted. */
static void bar_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct pci_testdev *d = opaque;
	memset(data, 0, len);
	pthread_mutex_lock(&d->lock);
	if (d->current >= 0) {
		struct pci_testdev_test *test = &d->tests[d->current];
		test_count_add(test, test_eventfd_take(test));
		for (uint32_t i = 0; i < len; i++)
			if (offset + i < PCI_TESTDEV_HDR_SIZE)
				data[i] = test->hdr[offset + i];
	}
	pthread_mutex_unlock(&d->lock);
}

static void mem_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	bar_write(opaque, 0, offset, data, len);
}

static void io_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	bar_write(opaque, 1, offset, data, len);
}

static const struct bus_device_ops mem_ops = { .read = bar_read, .write = mem_write };
static const struct bus_device_ops io_ops = { .read = bar_read, .write = io_write };

/* A BAR moved or switched off: the selected test's doorbell follows. */
static void bar_mapped(void *opaque, unsigned bar, uint64_t addr, bool mapped)
{
	struct pci_testdev *d = opaque;
	if (bar >= 2)
		return;
	pthread_mutex_lock(&d->lock);
	d->bar_on[bar] = mapped;
	d->bar_at[bar] = addr;
	if (d->current >= 0 && test_bar((unsigned)d->current) == bar) {
		doorbell_unbind(d, &d->tests[d->current]);
		if (mapped)
			doorbell_bind(d, (unsigned)d->current, addr);
	}
	pthread_mutex_unlock(&d->lock);
}

static const struct pci_function_ops function_ops = { .bar_mapped = bar_mapped };

/* ---- set-up ---- */

static void eventfds_close(struct pci_testdev *d)
{
	for (unsigned t = 0; t < 2 * PCI_TESTDEV_TESTS; t++) {
		if (d->tests[t].efd >= 0)
			close(d->tests[t].efd);
		d->tests[t].efd = -1;
	}
}

/* The eventfds exist from set-up on: a test is selected on a vCPU,
 * whose seccomp role creates no file descriptors. */
static int eventfds_open(struct pci_testdev *d, struct kvmini_error *err)
{
	for (unsigned t = 0; t < 2 * PCI_TESTDEV_TESTS; t++)
		d->tests[t].efd = -1;
	for (unsigned t = 0; t < 2 * PCI_TESTDEV_TESTS; t++) {
		if (t % PCI_TESTDEV_TESTS == 0)
			continue;   /* no-eventfd */
		if ((d->tests[t].efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
			int e = errno;
			eventfds_close(d);
			return kvmini_fail(err, KVMINI_E_HOST, "pci-testdev: eventfd: %s", strerror(e));
		}
	}
	return 0;
}

int pci_testdev_init(struct pci_testdev *d, struct pci_host *h, unsigned slot,
		     pci_testdev_doorbell_fn doorbell, void *doorbell_ctx, int log_fd,
		     struct kvmini_error *err)
{
	memset(d, 0, sizeof(*d));
	d->current = -1;
	d->doorbell = doorbell;
	d->doorbell_ctx = doorbell_ctx;
	d->log_fd = log_fd;
	for (unsigned t = 0; t < 2 * PCI_TESTDEV_TESTS; t++)
		test_header_build(&d->tests[t], t);
	if (eventfds_open(d, err) < 0)
		return -1;
	pthread_mutex_init(&d->lock, NULL);
	pci_function_init(&d->fn, PCI_TESTDEV_VENDOR, PCI_TESTDEV_DEVICE, PCI_TESTDEV_CLASS, 0,
			  0, 0);
	d->fn.config[PCI_INTERRUPT_PIN] = 0;   /* it raises nothing */
	d->fn.ops = &function_ops;
	d->fn.opaque = d;
	if (pci_function_set_bar(&d->fn, 0, PCI_TESTDEV_MEM_SIZE, false, &mem_ops, d,
				 "pci-testdev mmio", err) < 0 ||
	    pci_function_set_bar(&d->fn, 1, PCI_TESTDEV_IO_SIZE, true, &io_ops, d,
				 "pci-testdev portio", err) < 0 ||
	    pci_host_plug(h, &d->fn, slot, err) < 0) {
		pthread_mutex_destroy(&d->lock);
		eventfds_close(d);
		return -1;
	}
	return 0;
}

void pci_testdev_destroy(struct pci_testdev *d)
{
	if (d->fn.host)
		pci_host_unplug(d->fn.host, &d->fn);   /* the BARs off: bar_mapped unbinds */
	pthread_mutex_lock(&d->lock);
	if (d->current >= 0)
		doorbell_unbind(d, &d->tests[d->current]);
	d->current = -1;
	pthread_mutex_unlock(&d->lock);
	pthread_mutex_destroy(&d->lock);
	eventfds_close(d);
}

/* ---- snapshots ---- */

void pci_testdev_save(struct pci_testdev *d, struct state_writer *w)
{
	pthread_mutex_lock(&d->lock);
	pci_function_save(&d->fn, w);
	state_put_u8(w, (uint8_t)(d->current < 0 ? 0xff : d->current));
	for (unsigned t = 0; t < 2 * PCI_TESTDEV_TESTS; t++) {
		struct pci_testdev_test *test = &d->tests[t];
		test_count_add(test, test_eventfd_take(test));
		state_put_u32(w, get_le32(test->hdr + PCI_TESTDEV_HDR_COUNT));
	}
	pthread_mutex_unlock(&d->lock);
}

int pci_testdev_restore(struct pci_testdev *d, struct state_reader *r, struct kvmini_error *err)
{
	if (pci_function_restore(&d->fn, r, err) < 0)
		return -1;
	uint8_t current = state_get_u8(r);
	uint32_t counts[2 * PCI_TESTDEV_TESTS];
	for (unsigned t = 0; t < 2 * PCI_TESTDEV_TESTS; t++)
		counts[t] = state_get_u32(r);
	if (r->failed || (current != 0xff && current >= 2 * PCI_TESTDEV_TESTS))
		return kvmini_fail(err, KVMINI_E_USAGE, "pci-testdev: saved state is malformed");
	pthread_mutex_lock(&d->lock);
	if (d->current >= 0)
		doorbell_unbind(d, &d->tests[d->current]);
	for (unsigned t = 0; t < 2 * PCI_TESTDEV_TESTS; t++) {
		test_eventfd_take(&d->tests[t]);
		put_le32(d->tests[t].hdr + PCI_TESTDEV_HDR_COUNT, counts[t]);
	}
	d->current = current == 0xff ? -1 : current;
	pthread_mutex_unlock(&d->lock);
	return 0;
}
