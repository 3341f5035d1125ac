/* The virtio-pci transport (src/virtio/pci.c) driven as Linux's
 * virtio_pci_modern driver drives it, with no KVM: a PCI host bridge on
 * two plain buses, a fake virtio device, the event loop for kicks, and
 * the board's MSI and INTx handles replaced by recorders that signal
 * eventfds. The test finds the capabilities by walking config space,
 * negotiates through BAR 0, posts a buffer, kicks through the notify
 * region and waits for the interrupt as an event. */
#include <criterion/criterion.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "event_loop.h"
#include "virtio/pci.h"
#include "virtio/rng.h"

#define MIB (1ULL << 20)
#define ECAM 0xe0000000ull
#define WINDOW 0xc0000000ull
#define SLOT 2
#define QSIZE 16
#define DESC_GPA 0x100000
#define AVAIL_GPA 0x101000
#define USED_GPA 0x102000
#define BUF_GPA 0x200000

/* ---- the fake device: each kick answers a buffer with "hello" ---- */

struct fake {
	struct virtio_device vdev;
	uint8_t config[8];
	int kicks;
	int done_fd;                 /* written after each kick's work */
};

static void fake_config_read(void *dev, uint32_t off, void *buf, uint32_t len)
{
	memcpy(buf, ((struct fake *)dev)->config + off, len);
}

static void fake_kick(void *dev, unsigned q)
{
	struct fake *f = dev;
	struct virtq_elem e;
	struct kvmini_error err;
	f->kicks++;
	while (virtq_pop(&f->vdev.queues[q], &e, &err) == 1) {
		size_t n = iov_from_buf(virtq_elem_in(&e), e.nin, 0, "hello", 5);
		virtq_push(&f->vdev.queues[q], e.head, (uint32_t)n);
	}
	virtio_device_used(&f->vdev, q);
	uint64_t one = 1;
	if (write(f->done_fd, &one, 8) != 8)
		f->kicks = -1000;
}

static const struct virtio_device_ops fake_ops = {
	.name = "virtio-fake", .device_id = VIRTIO_ID_RNG, .config_read = fake_config_read,
	.queue_kick = fake_kick,
};

/* The function the helpers below talk to, and its buses. */
static unsigned cur_slot = SLOT;
static struct bus *cur_pio, *cur_mmio;

/* ---- the board's handles, recorded ---- */

struct board_rec {
	int msi_fd, intx_fd;
	unsigned routes, sends, last_vector;
	uint64_t route_addr;
	uint32_t route_data;
	bool intx;
};

static int rec_route(void *ctx, unsigned v, uint64_t address, uint32_t data)
{
	struct board_rec *b = ctx;
	b->routes++;
	b->last_vector = v;
	b->route_addr = address;
	b->route_data = data;
	return 0;
}

static void rec_send(void *ctx, unsigned v)
{
	struct board_rec *b = ctx;
	uint64_t one = 1;
	__atomic_fetch_add(&b->sends, 1, __ATOMIC_SEQ_CST);
	b->last_vector = v;
	if (write(b->msi_fd, &one, 8) != 8)
		b->sends = 1000;   /* the test sees a count that cannot be */
}

static void rec_intx(void *ctx, unsigned line, bool level)
{
	struct board_rec *b = ctx;
	uint64_t one = 1;
	if (line != 16 + cur_slot)
		b->sends = 1000;
	__atomic_store_n(&b->intx, level, __ATOMIC_SEQ_CST);
	if (level && write(b->intx_fd, &one, 8) != 8)
		b->sends = 1000;
}

static const struct virtio_pci_board_ops rec_ops = { .msi_route = rec_route,
						      .msi_send = rec_send };

/* ---- the rig ---- */

static struct guest_memory mem;
static struct bus pio, mmio;
static struct pci_host host;
static struct event_loop *loop;
static struct fake f;
static struct board_rec rec;
static struct virtio_pci *vp;
static struct kvmini_error err;
static int log_pipe[2];

/* A host on two buses placing BARs from mmio_base, the fake device on
 * it at SLOT, its interrupts and INTx recorded in rec. */
static void machine_make(struct bus *pio_bus, struct bus *mmio_bus, struct pci_host *h,
			 struct fake *dev, struct board_rec *r, uint64_t mmio_base,
			 struct virtio_pci **out)
{
	memcpy(dev->config, "config!", 8);
	dev->done_fd = eventfd(0, EFD_CLOEXEC);
	r->msi_fd = eventfd(0, EFD_CLOEXEC);
	r->intx_fd = eventfd(0, EFD_CLOEXEC);
	bus_init(pio_bus, "port");
	bus_init(mmio_bus, "MMIO");
	struct pci_host_config cfg = {
		.pio = pio_bus, .mmio = mmio_bus, .ecam_base = ECAM,
		.mmio_base = mmio_base, .mmio_end = WINDOW + (256 << 20), .io_base = 0xc000,
		.io_end = 0x10000,
	};
	for (unsigned i = 0; i < PCI_INTX_LINES; i++)
		cfg.intx[i] = (struct irq_line){ .set_level = rec_intx, .ctx = r, .line = 16 + i };
	cr_assert_eq(pci_host_init(h, &cfg, &err), 0, "%s", err.msg);
	virtio_device_init(&dev->vdev, &fake_ops, dev, 0, sizeof(dev->config), 2, 64);
	struct virtio_pci_env env = {
		.host = h, .slot = SLOT, .loop = loop, .mem = &mem, .log_fd = log_pipe[1],
		.board = &rec_ops, .board_ctx = r,
	};
	cr_assert_not_null(*out = virtio_pci_create(&dev->vdev, &env, &err), "%s", err.msg);
}

static void setup(void)
{
	cur_slot = SLOT;
	cur_pio = &pio;
	cur_mmio = &mmio;
	memset(&f, 0, sizeof(f));
	memset(&rec, 0, sizeof(rec));
	cr_assert_eq(guest_memory_init(&mem, 16 * MIB, 0, &err), 0, "%s", err.msg);
	cr_assert_eq(pipe(log_pipe), 0);
	cr_assert_not_null(loop = event_loop_create("evloop", &err), "%s", err.msg);
	cr_assert_eq(event_loop_start(loop, &err), 0, "%s", err.msg);
	machine_make(&pio, &mmio, &host, &f, &rec, WINDOW, &vp);
}

static void teardown(void)
{
	virtio_pci_destroy(vp);
	event_loop_destroy(loop);
	virtio_device_destroy(&f.vdev);
	pci_host_destroy(&host);
	bus_free(&pio);
	bus_free(&mmio);
	guest_memory_free(&mem);
	close(f.done_fd);
	close(rec.msi_fd);
	close(rec.intx_fd);
	close(log_pipe[0]);
	close(log_pipe[1]);
}

TestSuite(virtio_pci, .init = setup, .fini = teardown);

/* ---- config space through 0xcf8/0xcfc, as the guest's pci layer ---- */

static uint32_t cfg_read(unsigned reg, unsigned len)
{
	uint32_t a = 0x80000000u | cur_slot << 11 | (reg & 0xfc), v = 0;
	cr_assert(bus_access(cur_pio, 0xcf8, (uint8_t *)&a, 4, true));
	cr_assert(bus_access(cur_pio, 0xcfc + (reg & 3), (uint8_t *)&v, len, false));
	return v;
}

static void cfg_write(unsigned reg, uint32_t v, unsigned len)
{
	uint32_t a = 0x80000000u | cur_slot << 11 | (reg & 0xfc);
	cr_assert(bus_access(cur_pio, 0xcf8, (uint8_t *)&a, 4, true));
	cr_assert(bus_access(cur_pio, 0xcfc + (reg & 3), (uint8_t *)&v, len, true));
}

/* virtio_pci_find_capability(): the first vendor capability of a type. */
static unsigned find_cap(uint8_t cfg_type)
{
	unsigned seen = 0;
	for (unsigned pos = cfg_read(PCI_CAPABILITY_LIST, 1); pos; pos = cfg_read(pos + 1, 1)) {
		cr_assert_lt(++seen, 48, "the capability list loops");
		if (cfg_read(pos, 1) == PCI_CAP_ID_VNDR &&
		    cfg_read(pos + VIRTIO_PCI_CAP_CFG_TYPE, 1) == cfg_type)
			return pos;
	}
	return 0;
}

static unsigned find_msix(void)
{
	for (unsigned pos = cfg_read(PCI_CAPABILITY_LIST, 1); pos; pos = cfg_read(pos + 1, 1))
		if (cfg_read(pos, 1) == PCI_CAP_ID_MSIX)
			return pos;
	return 0;
}

/* ---- BAR 0, as the driver's ioread/iowrite ---- */

static uint64_t bar0;

static void enable_bar(void)
{
	bar0 = cfg_read(PCI_BASE_ADDRESS_0, 4) & PCI_BASE_ADDRESS_MEM_MASK;
	cfg_write(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
}

static uint32_t rd(uint64_t off, uint32_t len)
{
	uint32_t v = 0;
	cr_assert(bus_access(cur_mmio, bar0 + off, (uint8_t *)&v, len, false), "0x%lx", (long)off);
	return v;
}

static void wr(uint64_t off, uint32_t v, uint32_t len)
{
	cr_assert(bus_access(cur_mmio, bar0 + off, (uint8_t *)&v, len, true), "0x%lx", (long)off);
}

#define C(field) (VIRTIO_PCI_COMMON_OFF + offsetof(struct virtio_pci_common_cfg, field))

static void negotiate(void)
{
	wr(C(device_status), 0, 1);
	wr(C(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE, 1);
	wr(C(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER, 1);
	wr(C(device_feature_select), 1, 4);
	uint32_t high = rd(C(device_feature), 4);
	cr_assert(high & (1u << (VIRTIO_F_VERSION_1 - 32)));
	wr(C(guest_feature_select), 1, 4);
	wr(C(guest_feature), 1u << (VIRTIO_F_VERSION_1 - 32), 4);
	wr(C(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			     VIRTIO_CONFIG_S_FEATURES_OK, 1);
	cr_assert(rd(C(device_status), 1) & VIRTIO_CONFIG_S_FEATURES_OK);
}

static void queue_setup(uint16_t vector)
{
	wr(C(queue_select), 0, 2);
	cr_assert_eq(rd(C(queue_size), 2), 64);
	wr(C(queue_size), QSIZE, 2);
	wr(C(queue_desc_lo), DESC_GPA, 4);
	wr(C(queue_desc_hi), 0, 4);
	wr(C(queue_avail_lo), AVAIL_GPA, 4);
	wr(C(queue_avail_hi), 0, 4);
	wr(C(queue_used_lo), USED_GPA, 4);
	wr(C(queue_used_hi), 0, 4);
	wr(C(queue_msix_vector), vector, 2);
	wr(C(queue_enable), 1, 2);
	cr_assert_eq(rd(C(queue_enable), 2), 1);
}

static void driver_ok(void)
{
	wr(C(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			     VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK, 1);
	cr_assert_eq(rd(C(device_status), 1), 0x0f);
}

/* One 16-byte device-writable buffer at BUF_GPA, published. */
static void post_buffer(void)
{
	struct vring_desc *d = guest_ptr(&mem, DESC_GPA, 16);
	struct vring_avail *a = guest_ptr(&mem, AVAIL_GPA, 4 + 2 * QSIZE);
	*d = (struct vring_desc){ .addr = BUF_GPA, .len = 16, .flags = VRING_DESC_F_WRITE };
	a->ring[a->idx % QSIZE] = 0;
	__atomic_store_n(&a->idx, (uint16_t)(a->idx + 1), __ATOMIC_RELEASE);
}

static void kick(unsigned q)
{
	unsigned notify = find_cap(VIRTIO_PCI_CAP_NOTIFY_CFG);
	uint32_t off = cfg_read(notify + VIRTIO_PCI_CAP_OFFSET, 4);
	uint32_t mult = cfg_read(notify + VIRTIO_PCI_NOTIFY_CAP_MULT, 4);
	wr(C(queue_select), q, 2);
	uint32_t notify_off = rd(C(queue_notify_off), 2);
	wr(off + notify_off * mult, q, 2);
}

static bool wait_fd(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 10000) != 1)
		return false;
	uint64_t v;
	return read(fd, &v, 8) == 8;
}

static uint16_t used_idx(void)
{
	struct vring_used *u = guest_ptr(&mem, USED_GPA, 4);
	return __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);
}

/* The usual start: decode BAR 0, negotiate, queue 0 on `vector`,
 * DRIVER_OK, one buffer posted and kicked. */
static void run_once(uint16_t vector)
{
	enable_bar();
	negotiate();
	queue_setup(vector);
	driver_ok();
	post_buffer();
	kick(0);
}

/* ---- the tests ---- */

Test(virtio_pci, ids_say_a_modern_virtio_device)
{
	cr_assert_eq(cfg_read(PCI_VENDOR_ID, 2), VIRTIO_PCI_VENDOR);
	cr_assert_eq(cfg_read(PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_RNG);
	cr_assert_eq(cfg_read(PCI_REVISION_ID, 1), 1);
	cr_assert_eq(cfg_read(PCI_SUBSYSTEM_VENDOR_ID, 2), VIRTIO_PCI_VENDOR);
	cr_assert_geq(cfg_read(PCI_SUBSYSTEM_ID, 2), 0x40);
	cr_assert(cfg_read(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	cr_assert_eq(cfg_read(PCI_INTERRUPT_PIN, 1), 1);
}

Test(virtio_pci, capabilities_found_as_linux_finds_them)
{
	struct { uint8_t type; uint32_t off, len; } want[] = {
		{ VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF,
		  sizeof(struct virtio_pci_common_cfg) },
		{ VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF, 2 * VIRTIO_PCI_NOTIFY_MULT },
		{ VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, 1 },
		{ VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF, 8 },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		unsigned pos = find_cap(want[i].type);
		cr_assert_neq(pos, 0, "no capability of type %u", want[i].type);
		cr_assert_eq(cfg_read(pos + VIRTIO_PCI_CAP_BAR, 1), 0);
		cr_assert_eq(cfg_read(pos + VIRTIO_PCI_CAP_OFFSET, 4), want[i].off);
		cr_assert_eq(cfg_read(pos + VIRTIO_PCI_CAP_LENGTH, 4), want[i].len);
		/* Linux checks the region lies inside the BAR. */
		cr_assert_leq(want[i].off + want[i].len, VIRTIO_PCI_BAR_SIZE);
	}
	cr_assert_eq(cfg_read(find_cap(VIRTIO_PCI_CAP_NOTIFY_CFG) + VIRTIO_PCI_NOTIFY_CAP_MULT, 4),
		     VIRTIO_PCI_NOTIFY_MULT);
	cr_assert_neq(find_cap(VIRTIO_PCI_CAP_PCI_CFG), 0);
	unsigned msix = find_msix();
	cr_assert_neq(msix, 0);
	cr_assert_eq(cfg_read(msix + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_QSIZE, 2);   /* 3 vectors */
	cr_assert_eq(cfg_read(msix + PCI_MSIX_TABLE, 4), VIRTIO_PCI_MSIX_OFF);
	cr_assert_eq(cfg_read(msix + PCI_MSIX_PBA, 4), VIRTIO_PCI_PBA_OFF);
	/* BAR 0 sizes as 32 KiB of 32-bit memory. */
	uint32_t placed = cfg_read(PCI_BASE_ADDRESS_0, 4);
	cfg_write(PCI_BASE_ADDRESS_0, 0xffffffffu, 4);
	cr_assert_eq(cfg_read(PCI_BASE_ADDRESS_0, 4), (uint32_t)~(VIRTIO_PCI_BAR_SIZE - 1));
	cfg_write(PCI_BASE_ADDRESS_0, placed, 4);
}

Test(virtio_pci, bar_is_off_the_bus_until_memory_decode)
{
	uint64_t base = cfg_read(PCI_BASE_ADDRESS_0, 4) & PCI_BASE_ADDRESS_MEM_MASK;
	uint8_t b;
	cr_assert_not(bus_access(&mmio, base, &b, 1, false));
	enable_bar();
	cr_assert_eq(rd(C(num_queues), 2), 2);
}

Test(virtio_pci, negotiate_kick_and_intx)
{
	run_once(VIRTIO_MSI_NO_VECTOR);
	cr_assert(wait_fd(rec.intx_fd), "no INTx after the kick");
	cr_assert_eq(used_idx(), 1);
	cr_assert_eq(memcmp(guest_ptr(&mem, BUF_GPA, 5), "hello", 5), 0);
	cr_assert(__atomic_load_n(&rec.intx, __ATOMIC_SEQ_CST));
	cr_assert(cfg_read(PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	/* The ISR says "queue" once, and reading it drops INTA. */
	cr_assert_eq(rd(VIRTIO_PCI_ISR_OFF, 1), 1);
	cr_assert_not(__atomic_load_n(&rec.intx, __ATOMIC_SEQ_CST));
	cr_assert_eq(rd(VIRTIO_PCI_ISR_OFF, 1), 0);
	cr_assert_eq(rec.sends, 0);
}

Test(virtio_pci, enabling_msix_drops_a_pending_intx)
{
	run_once(VIRTIO_MSI_NO_VECTOR);
	cr_assert(wait_fd(rec.intx_fd), "no INTx after the kick");
	cfg_write(find_msix() + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	cr_assert_not(__atomic_load_n(&rec.intx, __ATOMIC_SEQ_CST));
	cr_assert_eq(rd(VIRTIO_PCI_ISR_OFF, 1), 0);
}

Test(virtio_pci, device_config_through_bar)
{
	enable_bar();
	cr_assert_eq(rd(VIRTIO_PCI_DEVICE_OFF, 4), 0x666e6f63u);   /* "conf" */
	cr_assert_eq(rd(VIRTIO_PCI_DEVICE_OFF + 6, 1), '!');
	cr_assert_eq(rd(VIRTIO_PCI_DEVICE_OFF + 8, 1), 0);       /* past its end */
}

/* Program vector v's table entry (it starts masked). */
static void msix_entry(unsigned v, uint32_t addr, uint32_t data, bool masked)
{
	uint64_t e = VIRTIO_PCI_MSIX_OFF + v * PCI_MSIX_ENTRY_SIZE;
	wr(e + PCI_MSIX_ENTRY_LOWER_ADDR, addr, 4);
	wr(e + PCI_MSIX_ENTRY_UPPER_ADDR, 0, 4);
	wr(e + PCI_MSIX_ENTRY_DATA, data, 4);
	wr(e + PCI_MSIX_ENTRY_VECTOR_CTRL, masked, 4);
}

Test(virtio_pci, msix_routes_and_sends_the_queue_vector)
{
	enable_bar();
	unsigned msix = find_msix();
	cfg_write(msix + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	cr_assert_eq(rd(VIRTIO_PCI_MSIX_OFF + PCI_MSIX_ENTRY_VECTOR_CTRL, 4), 1, "starts masked");
	msix_entry(1, 0xfee00000, 0x4041, false);
	cr_assert_eq(rec.routes, 1);
	cr_assert_eq(rec.last_vector, 1);
	cr_assert_eq(rec.route_addr, 0xfee00000ull);
	cr_assert_eq(rec.route_data, 0x4041);
	negotiate();
	wr(C(msix_config), 0, 2);
	cr_assert_eq(rd(C(msix_config), 2), 0);
	queue_setup(1);
	cr_assert_eq(rd(C(queue_msix_vector), 2), 1);
	driver_ok();
	post_buffer();
	kick(0);
	cr_assert(wait_fd(rec.msi_fd), "no MSI after the kick");
	cr_assert_eq(rec.last_vector, 1);
	cr_assert_eq(rec.sends, 1);
	cr_assert_eq(used_idx(), 1);
	/* No ISR bit and no INTx with MSI-X. */
	cr_assert_not(rec.intx);
	cr_assert_eq(rd(VIRTIO_PCI_ISR_OFF, 1), 0);
	cr_assert_eq(rec.routes, 1, "an unchanged entry is not routed again");
}

/* MSI-X on with the function masked, queue 0 on vector 1 (0xfee01000,
 * 0x4052), a buffer answered: vector 1 pending. Returns where the
 * MSI-X capability is. */
static unsigned vector_1_pending(void)
{
	enable_bar();
	unsigned msix = find_msix();
	cfg_write(msix + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, 2);
	msix_entry(1, 0xfee01000, 0x4052, false);
	negotiate();
	queue_setup(1);
	driver_ok();
	post_buffer();
	kick(0);
	cr_assert(wait_fd(f.done_fd), "the device did not answer the kick");
	cr_assert_eq(used_idx(), 1);
	cr_assert_eq(rd(VIRTIO_PCI_PBA_OFF, 4), 2, "vector 1 pending");
	return msix;
}

Test(virtio_pci, masked_vector_is_pending_until_unmasked)
{
	unsigned msix = vector_1_pending();
	cr_assert_eq(rec.sends, 0, "sent while the function was masked");
	/* Entry mask on, function mask off: still pending. */
	wr(VIRTIO_PCI_MSIX_OFF + PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL, 1, 4);
	cfg_write(msix + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	cr_assert_eq(rec.sends, 0);
	wr(VIRTIO_PCI_MSIX_OFF + PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL, 0, 4);
	cr_assert_eq(rec.sends, 1);
	cr_assert_eq(rec.route_addr, 0xfee01000ull);
	cr_assert_eq(rec.route_data, 0x4052);
	cr_assert_eq(rd(VIRTIO_PCI_PBA_OFF, 4), 0);
}

Test(virtio_pci, bad_vectors_read_back_as_no_vector)
{
	enable_bar();
	wr(C(msix_config), 3, 2);
	cr_assert_eq(rd(C(msix_config), 2), VIRTIO_MSI_NO_VECTOR);
	wr(C(queue_select), 1, 2);
	wr(C(queue_msix_vector), 200, 2);
	cr_assert_eq(rd(C(queue_msix_vector), 2), VIRTIO_MSI_NO_VECTOR);
	/* A queue past the device's reads size 0. */
	wr(C(queue_select), 2, 2);
	cr_assert_eq(rd(C(queue_size), 2), 0);
	/* Wrong widths are dropped. */
	wr(C(queue_select), 1, 4);
	cr_assert_eq(rd(C(queue_select), 2), 2);
}

Test(virtio_pci, reset_forgets_vectors_and_queues)
{
	enable_bar();
	negotiate();
	queue_setup(1);
	driver_ok();
	wr(C(device_status), 0, 1);
	cr_assert_eq(rd(C(device_status), 1), 0);
	wr(C(queue_select), 0, 2);
	cr_assert_eq(rd(C(queue_enable), 2), 0);
	cr_assert_eq(rd(C(queue_size), 2), 64);
	cr_assert_eq(rd(C(queue_msix_vector), 2), VIRTIO_MSI_NO_VECTOR);
}

Test(virtio_pci, pci_cfg_window_reaches_bar0_without_the_bar)
{
	unsigned w = find_cap(VIRTIO_PCI_CAP_PCI_CFG);
	unsigned data = w + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data);
	/* Memory decode stays off: only config space is used. */
	cfg_write(w + VIRTIO_PCI_CAP_BAR, 0, 1);
	cfg_write(w + VIRTIO_PCI_CAP_OFFSET, C(num_queues), 4);
	cfg_write(w + VIRTIO_PCI_CAP_LENGTH, 2, 4);
	cr_assert_eq(cfg_read(data, 4) & 0xffff, 2);
	cfg_write(w + VIRTIO_PCI_CAP_OFFSET, C(device_status), 4);
	cfg_write(w + VIRTIO_PCI_CAP_LENGTH, 1, 4);
	cfg_write(data, VIRTIO_CONFIG_S_ACKNOWLEDGE, 4);
	cr_assert_eq(cfg_read(data, 4) & 0xff, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	/* A window past the BAR or of a bad length reads nothing new. */
	cfg_write(w + VIRTIO_PCI_CAP_OFFSET, VIRTIO_PCI_BAR_SIZE, 4);
	cfg_write(data, 0, 4);
	cr_assert_eq(cfg_read(data, 4), 0);
	cfg_write(w + VIRTIO_PCI_CAP_OFFSET, C(device_status), 4);
	cfg_write(w + VIRTIO_PCI_CAP_LENGTH, 3, 4);
	cfg_write(data, 0, 4);
	enable_bar();
	cr_assert_eq(rd(C(device_status), 1), VIRTIO_CONFIG_S_ACKNOWLEDGE);
}

Test(virtio_pci, destroy_takes_the_device_off_the_bus)
{
	enable_bar();
	virtio_pci_destroy(vp);
	vp = NULL;
	uint8_t b;
	cr_assert_not(bus_access(&mmio, bar0, &b, 1, false));
	cr_assert_eq(cfg_read(PCI_VENDOR_ID, 4), 0xffffffffu);
	cr_assert_null(f.vdev.transport);
}

Test(virtio_pci, virtio_rng_answers_through_pci)
{
	struct kvmini_config cfg;
	kvmini_config_defaults(&cfg);
	cfg.rng = true;
	struct virtio_device_env denv = { .loop = loop, .log_fd = log_pipe[1], .cfg = &cfg };
	struct virtio_device *rng = virtio_rng_create(&denv, NULL, &err);
	cr_assert_not_null(rng, "%s", err.msg);
	struct virtio_pci_env env = {
		.host = &host, .slot = 4, .loop = loop, .mem = &mem, .log_fd = log_pipe[1],
		.board = &rec_ops, .board_ctx = &rec,
	};
	struct virtio_pci *t = virtio_pci_create(rng, &env, &err);
	cr_assert_not_null(t, "%s", err.msg);
	cur_slot = 4;
	cr_assert_eq(cfg_read(PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_RNG);
	run_once(VIRTIO_MSI_NO_VECTOR);
	cr_assert(wait_fd(rec.intx_fd), "no INTx after the kick");
	cr_assert_eq(rec.sends, 0, "INTx on another line, or an MSI");
	struct vring_used *u = guest_ptr(&mem, USED_GPA, 4 + 8);
	cr_assert_eq(used_idx(), 1);
	cr_assert_eq(u->ring[0].len, 16, "the whole buffer filled");
	static const uint8_t zeros[16];
	cr_assert_neq(memcmp(guest_ptr(&mem, BUF_GPA, 16), zeros, 16), 0, "entropy, not zeros");
	cr_assert_eq(rd(VIRTIO_PCI_ISR_OFF, 1), 1);
	virtio_pci_destroy(t);
	virtio_device_destroy(rng);
}

/* ---- snapshots ---- */

/* A second machine's host, buses and device, as a restore makes them. */
static struct bus pio2, mmio2;
static struct pci_host host2;
static struct fake f2;
static struct board_rec rec2;
static struct virtio_pci *vp2;

/* It places BARs elsewhere than the first, so a restored BAR is seen
 * to come from the snapshot. */
static void second_machine(void)
{
	machine_make(&pio2, &mmio2, &host2, &f2, &rec2, WINDOW + (64 << 20), &vp2);
}

static void second_machine_end(void)
{
	virtio_pci_destroy(vp2);
	virtio_device_destroy(&f2.vdev);
	pci_host_destroy(&host2);
	bus_free(&pio2);
	bus_free(&mmio2);
	close(f2.done_fd);
	close(rec2.msi_fd);
	close(rec2.intx_fd);
}

/* As the board saves: the device, its function and registers, then the host. */
static void pci_saved(struct state_writer *w)
{
	state_writer_init(w);
	virtio_device_lock(&f.vdev);
	virtio_device_save(&f.vdev, w);
	virtio_pci_save(vp, w);
	virtio_device_unlock(&f.vdev);
	pci_host_save(&host, w);
	cr_assert_not(w->failed);
}

static int pci_restored(const uint8_t *data, size_t len, struct kvmini_error *e)
{
	struct state_reader r;
	state_reader_init(&r, data, len);
	virtio_device_lock(&f2.vdev);
	int rc = virtio_device_restore(&f2.vdev, &r, e);
	if (rc == 0)
		rc = virtio_pci_restore(vp2, &r, e);
	virtio_device_unlock(&f2.vdev);
	if (rc == 0)
		rc = pci_host_restore(&host2, &r, e);
	return rc == 0 ? state_reader_finish(&r, "test", e) : rc;
}

/* The guest moved BAR 0, enabled MSI-X with the function masked and
 * assigned queue 0 vector 1, which is pending at the snapshot. The
 * restored function decodes BAR 0 where the guest put it (not where the
 * new host placed it), reads back the same registers, and sends the
 * pending vector, routed as the guest programmed it, once unmasked. */
Test(virtio_pci, a_restored_function_is_where_the_guest_left_it)
{
	uint64_t moved = WINDOW + (128 << 20);
	cfg_write(PCI_BASE_ADDRESS_0, (uint32_t)moved, 4);
	unsigned msix = vector_1_pending();
	cr_assert_eq(bar0, moved);
	struct state_writer w;
	pci_saved(&w);

	second_machine();
	cr_assert_eq(pci_restored(w.data, w.len, &err), 0, "%s", err.msg);
	cur_pio = &pio2;
	cur_mmio = &mmio2;
	cr_assert_eq(pci_function_bar_address(virtio_pci_function(vp2), 0), moved);
	cr_assert_eq(rd(C(device_status), 1), 0x0f);
	wr(C(queue_select), 0, 2);
	cr_assert_eq(rd(C(queue_msix_vector), 2), 1);
	cr_assert_eq(rd(C(queue_size), 2), QSIZE);
	cr_assert_eq(rd(VIRTIO_PCI_PBA_OFF, 4), 2, "vector 1 still pending");
	cr_assert_eq(rec2.sends, 0);
	cfg_write(msix + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	cr_assert_eq(rec2.sends, 1);
	cr_assert_eq(rec2.route_addr, 0xfee01000ull);
	cr_assert_eq(rec2.route_data, 0x4052);
	/* The restore kicked the enabled queue once: no buffer was waiting. */
	cr_assert(wait_fd(f2.done_fd), "the restored queue was not kicked");
	second_machine_end();
	state_writer_free(&w);
}

/* Each impossible saved value is refused with its reason. */
Test(virtio_pci, a_restore_refuses_what_the_function_cannot_hold)
{
	enable_bar();
	struct state_writer w;
	pci_saved(&w);
	second_machine();
	size_t dev_len;   /* the device's own part, before the function's config space */
	{
		struct state_writer d;
		state_writer_init(&d);
		virtio_device_save(&f.vdev, &d);
		dev_len = d.len;
		state_writer_free(&d);
	}
	struct { size_t at; uint8_t flip; const char *why; } cases[] = {
		{ dev_len + PCI_VENDOR_ID, 0x01, "differs from its function's at read-only byte 0x00" },
		{ dev_len + PCI_CONFIG_SIZE + 4 + 4 + 2, 0x40, "virtio-pci registers are malformed" },
		{ w.len - 1, 0x01, "truncated" },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *copy = malloc(w.len);
		memcpy(copy, w.data, w.len);
		copy[cases[i].at] ^= cases[i].flip;
		size_t len = cases[i].at == w.len - 1 ? w.len - 1 : w.len;
		struct kvmini_error e = { 0 };
		cr_assert_neq(pci_restored(copy, len, &e), 0, "case %u restored", i);
		cr_assert(strstr(e.msg, cases[i].why), "case %u: %s", i, e.msg);
		free(copy);
	}
	second_machine_end();
	state_writer_free(&w);
}
