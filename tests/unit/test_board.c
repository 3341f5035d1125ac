/* The device registry (src/board/) and the device interface
 * (src/device.h): a device added through a board's table gets its ranges
 * on the buses, its lines and its lifetime; persistent devices survive a
 * detach; every device with state goes to bytes and back into a fresh
 * device with the same register reads; and a saved state, hostile input,
 * is refused when truncated, padded or malformed. No KVM: the VM is a
 * bare struct vm with its two buses. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "board/board.h"
#include "bare_vm.h"
#include "devices/acpi_pm.h"
#include "devices/fw_cfg.h"
#include "devices/hpet.h"
#include "arch/x86/acpi.h"
#include "devices/i8042.h"
#include "devices/port92.h"
#include "devices/reset_control.h"
#include "devices/rtc.h"
#include "devices/uart16550.h"

static struct kvmini_config config(void)
{
	struct kvmini_config cfg;
	kvmini_config_defaults(&cfg);
	cfg.serial_out_fd = cfg.debugcon_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	cr_assert_geq(cfg.serial_out_fd, 0);
	return cfg;
}

/* ---- a device added through a board ---- */

struct probe {
	struct irq_line irq;
	unsigned writes, unbinds, rebinds;
	uint64_t last_offset;
};

static unsigned probes_alive;   /* created and not yet destroyed */

static void probe_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)data; (void)len;
	struct probe *p = opaque;
	p->writes++;
	p->last_offset = offset;
}

static const struct bus_device_ops probe_ops = { .write = probe_write };

static void *probe_create(const struct device_env *env, struct kvmini_error *err)
{
	(void)err;
	struct probe *p = calloc(1, sizeof(*p));
	cr_assert_not_null(p);
	p->irq = env->irqs[0];
	probes_alive++;
	return p;
}

static void probe_destroy(void *dev)
{
	probes_alive--;
	free(dev);
}

static const struct device_type probe_device = {
	.name = "probe",
	.res = {
		.ranges = { { RESOURCE_SPACE_PORT, 0x300, 4, &probe_ops, "probe ports" },
			    { RESOURCE_SPACE_MMIO, 0xd0000000, 0x1000, &probe_ops, "probe MMIO" } },
		.nranges = 2,
		.irqs = { { 5, false } }, .nirqs = 1,
	},
	.create = probe_create, .destroy = probe_destroy,
};

static void probe_unbind(void *dev)
{
	struct probe *p = dev;
	p->unbinds++;
	p->irq = (struct irq_line){ 0 };
}

static void probe_rebind(void *dev, const struct device_env *env)
{
	struct probe *p = dev;
	p->rebinds++;
	p->irq = env->irqs[0];
}

static const struct device_type persistent_probe_device = {
	.name = "persistent probe",
	.res = { .ranges = { { RESOURCE_SPACE_PORT, 0x310, 1, &probe_ops, "kept" } }, .nranges = 1,
		 .irqs = { { 4, false } }, .nirqs = 1 },
	.persistent = true,
	.create = probe_create, .destroy = probe_destroy,
	.unbind = probe_unbind, .rebind = probe_rebind,
};

static const struct device_type *const probe_devices[] = {
	&probe_device, &persistent_probe_device,
};
static const struct board_desc probe_board = {
	.name = "probe", .devices = probe_devices, .ndevices = 2,
};

Test(board, a_listed_device_gets_its_ranges_line_and_lifetime)
{
	struct kvmini_config cfg = config();
	struct kvmini_error err = { 0 };
	struct vm vm;
	struct board b;
	bare_vm_init(&vm, KVMINI_IRQCHIP_NONE);
	cr_assert_eq(board_init(&b, &probe_board, &err), 0, "%s", err.msg);
	cr_assert_eq(board_attach(&b, &vm, &cfg, &err), 0, "%s", err.msg);
	cr_assert_eq(probes_alive, 2);
	struct probe *p = b.slots[0].dev, *kept = b.slots[1].dev;
	cr_assert_eq(p->irq.line, 5, "the line it declared");
	cr_assert_eq(p->irq.ctx, &vm);
	uint8_t byte = 1;
	cr_assert(bus_access(&vm.pio, 0x302, &byte, 1, true));
	cr_assert(bus_access(&vm.mmio, 0xd0000010, &byte, 1, true));
	cr_assert_eq(p->writes, 2);
	cr_assert_eq(p->last_offset, 0x10);
	cr_assert_str_eq(bus_find(&vm.pio, 0x310)->name, "kept");

	/* A restart: per-boot devices go, the persistent one stays and is
	 * registered again on the new VM. */
	cr_assert_eq(kept->irq.line, 4);
	board_detach(&b);
	cr_assert_eq(kept->unbinds, 1, "unbound before the VM goes");
	cr_assert_null(kept->irq.set_level);
	bare_vm_free(&vm);
	cr_assert_eq(probes_alive, 1);
	cr_assert_null(b.slots[0].dev);
	cr_assert_eq(b.slots[1].dev, kept);
	bare_vm_init(&vm, KVMINI_IRQCHIP_NONE);
	cr_assert_eq(board_attach(&b, &vm, &cfg, &err), 0, "%s", err.msg);
	cr_assert_eq(b.slots[1].dev, kept);
	cr_assert_eq(kept->rebinds, 1, "the next boot's line");
	cr_assert_eq(kept->irq.line, 4);
	cr_assert_eq(kept->irq.ctx, &vm);
	cr_assert_eq(bus_find(&vm.pio, 0x310)->opaque, kept);
	cr_assert_eq(probes_alive, 2);
	board_destroy(&b);
	cr_assert_eq(probes_alive, 0);
	bare_vm_free(&vm);
	close(cfg.serial_out_fd);
}

Test(board, a_range_clash_between_devices_is_an_error)
{
	static const struct device_type *const twice[] = { &probe_device, &probe_device };
	static const struct board_desc clash = { .name = "clash", .devices = twice, .ndevices = 2 };
	struct kvmini_config cfg = config();
	struct kvmini_error err = { 0 };
	struct vm vm;
	struct board b;
	bare_vm_init(&vm, KVMINI_IRQCHIP_NONE);
	cr_assert_eq(board_init(&b, &clash, &err), 0);
	cr_assert_eq(board_attach(&b, &vm, &cfg, &err), -1);
	cr_assert(strstr(err.msg, "probe ports: port range [0x300, 0x303] overlaps probe ports"),
		  "%s", err.msg);
	board_destroy(&b);
	cr_assert_eq(probes_alive, 0);
	bare_vm_free(&vm);
	close(cfg.serial_out_fd);
}

Test(board, the_pc_registers_every_declared_range)
{
	struct kvmini_config cfg = config();
	struct kvmini_error err = { 0 };
	struct vm vm;
	struct board b;
	bare_vm_init(&vm, KVMINI_IRQCHIP_NONE);
	cr_assert_eq(board_init(&b, &pc_board, &err), 0);
	cr_assert_eq(board_attach(&b, &vm, &cfg, &err), 0, "%s", err.msg);
	size_t ranges = 0, mmio = 0;
	for (size_t i = 0; i < pc_board.ndevices; i++) {
		const struct resources *res = &pc_board.devices[i]->res;
		if (pc_board.devices[i]->wanted && !pc_board.devices[i]->wanted(&cfg))
			continue;   /* pc-testdev: only with --testdev */
		for (unsigned r = 0; r < res->nranges; r++) {
			const struct resource_range *range = &res->ranges[r];
			bool port = range->space == RESOURCE_SPACE_PORT;
			*(port ? &ranges : &mmio) += 1;
			cr_assert_str_eq(bus_find(port ? &vm.pio : &vm.mmio, range->base)->name,
					 range->name);
		}
	}
	cr_assert_eq(bus_count(&vm.pio), ranges);
	cr_assert_eq(bus_count(&vm.mmio), mmio);
	/* with debugcon's 0x402 and fw_cfg's 0x510-0x511 and DMA 0x514-0x51b */
	cr_assert_eq(ranges, 13);
	/* Console input reaches COM1's receive FIFO: LSR.DR, then RBR. */
	cr_assert_eq(board_input(&b, (const uint8_t *)"k", 1), 1);
	uint8_t lsr = 0, rbr = 0;
	bus_access(&vm.pio, UART_COM1_BASE + 5, &lsr, 1, false);
	bus_access(&vm.pio, UART_COM1_BASE, &rbr, 1, false);
	cr_assert_eq(lsr & 1, 1);
	cr_assert_eq(rbr, 'k');
	board_destroy(&b);
	bare_vm_free(&vm);
	close(cfg.serial_out_fd);
}

/* A device that watches ISA line 5 (as the ACPI PM watches the RTC's
 * IRQ 8): told of each change the probe makes on it, not of line 4. */
struct watch_log {
	unsigned calls;
	unsigned line;
	bool level;
};

static struct watch_log watched;

static void *watcher_create(const struct device_env *env, struct kvmini_error *err)
{
	(void)env; (void)err;
	return &watched;
}

static void watcher_destroy(void *dev) { (void)dev; }

static void watcher_line_changed(void *dev, unsigned line, bool level)
{
	struct watch_log *w = dev;
	w->calls++;
	w->line = line;
	w->level = level;
}

static const struct device_type watcher_device = {
	.name = "watcher",
	.create = watcher_create, .destroy = watcher_destroy,
	.isa_line_changed = watcher_line_changed, .watched_lines = 1u << 5,
};

static const struct device_type *const watched_devices[] = {
	&probe_device, &persistent_probe_device, &watcher_device,
};
static const struct board_desc watched_board = {
	.name = "watched", .devices = watched_devices, .ndevices = 3,
};

Test(board, a_watched_line_is_shown_to_its_watcher)
{
	struct kvmini_config cfg = config();
	struct kvmini_error err = { 0 };
	struct vm vm;
	struct board b;
	memset(&watched, 0, sizeof(watched));
	bare_vm_init(&vm, KVMINI_IRQCHIP_NONE);
	cr_assert_eq(board_init(&b, &watched_board, &err), 0, "%s", err.msg);
	cr_assert_eq(board_attach(&b, &vm, &cfg, &err), 0, "%s", err.msg);
	struct probe *p = b.slots[0].dev, *kept = b.slots[1].dev;
	cr_assert_eq(p->irq.line, 5);
	irq_line_set(&p->irq, true);
	cr_assert_eq(watched.calls, 1);
	cr_assert_eq(watched.line, 5);
	cr_assert(watched.level);
	irq_line_set(&p->irq, false);
	cr_assert_eq(watched.calls, 2);
	cr_assert_not(watched.level);
	cr_assert_eq(kept->irq.ctx, &vm, "an unwatched line goes straight to the VM");
	irq_line_set(&kept->irq, true);
	cr_assert_eq(watched.calls, 2);
	board_detach(&b);
	board_destroy(&b);
	bare_vm_free(&vm);
	close(cfg.serial_out_fd);
}

/* The HPET is on the PC unless --no-hpet leaves it out, and the ACPI
 * tables describe only what is attached: no HPET table without it. */
static uint32_t xsdt_length_with(bool no_hpet, bool *on_bus)
{
	struct kvmini_config cfg = config();
	struct kvmini_error err = { 0 };
	struct guest_memory mem;
	struct vm vm;
	struct board b;
	uint64_t rsdp = 0;
	cfg.no_hpet = no_hpet;
	bare_vm_init(&vm, KVMINI_IRQCHIP_NONE);
	cr_assert_eq(guest_memory_init(&mem, 2u << 20, 0, &err), 0, "%s", err.msg);
	cr_assert_eq(board_init(&b, &pc_board, &err), 0);
	cr_assert_eq(board_attach(&b, &vm, &cfg, &err), 0, "%s", err.msg);
	*on_bus = bus_find(&vm.mmio, HPET_BASE + 0x3ff) != NULL;
	cr_assert_eq(board_write_firmware(&b, &mem, 1, &rsdp, &err), 0, "%s", err.msg);
	uint32_t len = 0;
	cr_assert_eq(guest_read(&mem, ACPI_XSDT_ADDR + 4, &len, 4), 0);
	board_destroy(&b);
	bare_vm_free(&vm);
	guest_memory_free(&mem);
	close(cfg.serial_out_fd);
	return len;
}

Test(board, the_hpet_and_its_table_are_there_unless_left_out)
{
	bool on_bus;
	cr_assert_eq(xsdt_length_with(false, &on_bus), 36 + 3 * 8, "FADT, MADT, HPET");
	cr_assert(on_bus);
	cr_assert_eq(xsdt_length_with(true, &on_bus), 36 + 2 * 8, "FADT, MADT");
	cr_assert_not(on_bus);
}

/* ---- state: bytes and back ---- */

struct poke {
	unsigned range;
	uint64_t offset;
	uint16_t value;
	uint32_t len;
};

struct state_case {
	const struct device_type *type;
	struct poke pokes[8];
	const char *input;                /* console bytes, for the UART */
};

static const struct state_case cases[] = {
	{ &uart16550_device, {
		{ 0, 3, 0x83, 1 }, { 0, 0, 0x01, 1 }, { 0, 1, 0x00, 1 }, { 0, 3, 0x1b, 1 },
		{ 0, 1, 0x05, 1 }, { 0, 4, 0x0b, 1 }, { 0, 7, 0x5a, 1 }, { 0, 2, 0xc1, 1 } }, "hi" },
	{ &rtc_device, { { 0, 0, 0x40, 1 }, { 0, 1, 0x77, 1 }, { 0, 0, 0x41, 1 },
			 { 0, 1, 0x88, 1 }, { 0, 0, 0x0b, 1 }, { 0, 1, 0x86, 1 },
			 { 0, 0, 0x42, 1 } }, NULL },
	{ &i8042_device, { { 1, 0, 0x60, 1 }, { 0, 0, 0x25, 1 }, { 0, 0, 0xf2, 1 },
			   { 1, 0, 0xd3, 1 } }, NULL },
	{ &port92_device, { { 0, 0, 0x00, 1 } }, NULL },
	{ &reset_control_device, { { 0, 0, 0x0a, 1 } }, NULL },
	{ &acpi_pm_device, { { 0, 2, 0x0120, 2 }, { 1, 0, 3u << 10, 2 } }, NULL },
	{ &fw_cfg_device, { { 0, 0, FW_CFG_FILE_DIR, 2 } }, NULL },
};

static void *device_new(const struct device_type *type, const struct kvmini_config *cfg)
{
	struct device_env env = { .config = cfg, .ram_below_4g = 64u << 20 };
	struct kvmini_error err = { 0 };
	void *dev = type->create(&env, &err);
	cr_assert_not_null(dev, "%s: %s", type->name, err.msg);
	return dev;
}

static void device_drive(const struct state_case *c, void *dev)
{
	for (size_t i = 0; i < 8 && c->pokes[i].len; i++) {
		const struct poke *p = &c->pokes[i];
		uint8_t data[2] = { (uint8_t)p->value, (uint8_t)(p->value >> 8) };
		c->type->res.ranges[p->range].ops->write(dev, p->offset, data, p->len);
	}
	if (c->input)
		c->type->input(dev, (const uint8_t *)c->input, strlen(c->input));
}

static struct state_writer device_save(const struct device_type *type, void *dev)
{
	struct state_writer w;
	state_writer_init(&w);
	type->save_state(dev, &w);
	cr_assert_not(w.failed);
	return w;
}

static int device_restore(const struct device_type *type, void *dev, const uint8_t *bytes,
			  size_t len, struct kvmini_error *err)
{
	struct state_reader r;
	state_reader_init(&r, bytes, len);
	return type->restore_state(dev, &r, err);
}

/* Every byte of every range read in order, which pops FIFOs and clears
 * sticky bits the same way on both devices. The RTC's clock registers
 * are left out: they follow the host's clock between the two reads. */
static void expect_same_reads(const struct device_type *type, void *a, void *b)
{
	for (unsigned r = 0; r < type->res.nranges; r++) {
		const struct resource_range *range = &type->res.ranges[r];
		for (uint64_t off = 0; off < range->len; off++) {
			uint8_t x = 0, y = 0;
			range->ops->read(a, off, &x, 1);
			range->ops->read(b, off, &y, 1);
			cr_assert_eq(x, y, "%s: offset %llu of %s reads 0x%02x, restored 0x%02x",
				     type->name, (unsigned long long)off, range->name, x, y);
		}
	}
}

Test(device_state, every_device_round_trips_through_bytes)
{
	struct kvmini_config cfg = config();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct device_type *type = cases[i].type;
		void *a = device_new(type, &cfg), *b = device_new(type, &cfg);
		struct state_writer fresh = device_save(type, b);
		device_drive(&cases[i], a);
		struct state_writer w = device_save(type, a);
		cr_assert(w.len != fresh.len || memcmp(w.data, fresh.data, w.len) != 0,
			  "%s: the pokes changed nothing", type->name);
		struct kvmini_error err = { 0 };
		cr_assert_eq(device_restore(type, b, w.data, w.len, &err), 0, "%s: %s", type->name,
			     err.msg);
		struct state_writer again = device_save(type, b);
		cr_assert_eq(again.len, w.len, "%s", type->name);
		cr_assert(memcmp(again.data, w.data, w.len) == 0, "%s: other bytes back", type->name);
		expect_same_reads(type, a, b);
		state_writer_free(&fresh);
		state_writer_free(&w);
		state_writer_free(&again);
		type->destroy(a);
		type->destroy(b);
	}
	close(cfg.serial_out_fd);
}

/* reset: the state a fresh device has, whatever the guest did. The
 * CMOS has no reset (it survives one, as on a PC). */
Test(device_state, reset_returns_a_device_to_its_power_on_state)
{
	struct kvmini_config cfg = config();
	unsigned reset = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct device_type *type = cases[i].type;
		if (!type->reset) {
			cr_assert(type->persistent, "%s has no reset and is not persistent", type->name);
			continue;
		}
		void *a = device_new(type, &cfg), *fresh = device_new(type, &cfg);
		device_drive(&cases[i], a);
		type->reset(a);
		struct state_writer w = device_save(type, a), f = device_save(type, fresh);
		cr_assert(w.len == f.len && memcmp(w.data, f.data, w.len) == 0,
			  "%s: reset leaves other state than power-on", type->name);
		expect_same_reads(type, a, fresh);
		state_writer_free(&w);
		state_writer_free(&f);
		type->destroy(a);
		type->destroy(fresh);
		reset++;
	}
	cr_assert_eq(reset, 6);
	close(cfg.serial_out_fd);
}

/* A restore that fails leaves the device as it was. */
static void expect_refused(const struct device_type *type, const uint8_t *bytes, size_t len,
			   const char *why, const struct kvmini_config *cfg)
{
	void *dev = device_new(type, cfg);
	struct state_writer before = device_save(type, dev);
	struct kvmini_error err = { 0 };
	cr_assert_eq(device_restore(type, dev, bytes, len, &err), -1,
		     "%s accepted %zu bytes (%s)", type->name, len, why);
	cr_assert(strstr(err.msg, why), "%s: '%s' lacks '%s'", type->name, err.msg, why);
	cr_assert_eq(err.code, KVMINI_E_USAGE);
	struct state_writer after = device_save(type, dev);
	cr_assert(after.len == before.len && memcmp(after.data, before.data, after.len) == 0,
		  "%s changed by a refused restore", type->name);
	state_writer_free(&before);
	state_writer_free(&after);
	type->destroy(dev);
}

Test(device_state, truncated_or_padded_states_are_refused)
{
	struct kvmini_config cfg = config();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct device_type *type = cases[i].type;
		void *a = device_new(type, &cfg);
		device_drive(&cases[i], a);
		struct state_writer w = device_save(type, a);
		for (size_t len = 0; len < w.len; len++)
			expect_refused(type, w.data, len, "truncated", &cfg);
		uint8_t padded[512];
		cr_assert_lt(w.len, sizeof(padded));
		memcpy(padded, w.data, w.len);
		padded[w.len] = 0;
		expect_refused(type, padded, w.len + 1, "1 bytes left over", &cfg);
		state_writer_free(&w);
		type->destroy(a);
	}
	close(cfg.serial_out_fd);
}

/* One byte of a valid state set to a value no guest could produce. */
struct malformed {
	const struct device_type *type;
	size_t at;
	uint8_t value;
	const char *why;
};

Test(device_state, impossible_values_are_refused)
{
	static const struct malformed bad[] = {
		{ &uart16550_device, 0, 17, "FIFO holds 17 bytes, more than 16" },
		{ &i8042_device, 36, 65, "queue holds 65 bytes, more than 64" },
		{ &i8042_device, 33, 0x42, "impossible value" },   /* pending: not a command */
		{ &i8042_device, 37, 2, "impossible value" },      /* keyboard scanning: 0 or 1 */
		{ &i8042_device, 38, 0x42, "impossible value" },   /* keyboard: no such command */
		{ &i8042_device, 42, 4, "impossible value" },      /* mouse resolution 0-3 */
		{ &reset_control_device, 0, 0x04, "keeps bits it cannot" },
		{ &acpi_pm_device, 4, 0x00, "PM1_CNT 0x0000" },
		{ &rtc_device, 136, 0x7f, "clock is out of range" },
		{ &rtc_device, 138, 0x01, "clock is out of range" },   /* held tm_sec >= 256 */
	};
	struct kvmini_config cfg = config();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		void *dev = device_new(bad[i].type, &cfg);
		struct state_writer w = device_save(bad[i].type, dev);
		cr_assert_lt(bad[i].at, w.len, "%s", bad[i].type->name);
		w.data[bad[i].at] = bad[i].value;
		expect_refused(bad[i].type, w.data, w.len, bad[i].why, &cfg);
		state_writer_free(&w);
		bad[i].type->destroy(dev);
	}
	close(cfg.serial_out_fd);
}

/* ---- the whole board's state ---- */

Test(board_state, the_pc_saves_and_restores_every_device_and_refuses_bad_blobs)
{
	struct kvmini_config cfg = config();
	struct kvmini_error err = { 0 };
	struct vm vm_a, vm_b;
	struct board a, b;
	bare_vm_init(&vm_a, KVMINI_IRQCHIP_NONE);
	bare_vm_init(&vm_b, KVMINI_IRQCHIP_NONE);
	cr_assert_eq(board_init(&a, &pc_board, &err), 0);
	cr_assert_eq(board_init(&b, &pc_board, &err), 0);
	cr_assert_eq(board_attach(&a, &vm_a, &cfg, &err), 0, "%s", err.msg);
	cr_assert_eq(board_attach(&b, &vm_b, &cfg, &err), 0, "%s", err.msg);
	uint8_t v = 0x5a;
	bus_access(&vm_a.pio, UART_COM1_BASE + 7, &v, 1, true);   /* scratch register */
	struct state_writer w;
	state_writer_init(&w);
	board_save(&a, &w);
	cr_assert_not(w.failed);
	cr_assert_eq(board_restore(&b, w.data, w.len, &err), 0, "%s", err.msg);
	uint8_t scr = 0;
	bus_access(&vm_b.pio, UART_COM1_BASE + 7, &scr, 1, false);
	cr_assert_eq(scr, 0x5a);
	/* Every shorter blob is refused, and so is a renamed device. */
	for (size_t len = 0; len < w.len; len++)
		cr_assert_eq(board_restore(&b, w.data, len, &err), -1, "%zu of %zu bytes", len, w.len);
	w.data[1] ^= 0x20;   /* "uart16550" -> "Uart16550" */
	cr_assert_eq(board_restore(&b, w.data, w.len, &err), -1);
	cr_assert(strstr(err.msg, "saved state has device 'Uart16550 (COM1)' where 'uart16550 (COM1)' is"),
		  "%s", err.msg);
	w.data[1] ^= 0x20;
	w.data[1 + 16 + 3] = 0xff;   /* the UART's length's top byte: far past the end */
	cr_assert_eq(board_restore(&b, w.data, w.len, &err), -1);
	cr_assert(strstr(err.msg, "runs past the end"), "%s", err.msg);
	state_writer_free(&w);
	board_destroy(&a);
	board_destroy(&b);
	bare_vm_free(&vm_a);
	bare_vm_free(&vm_b);
	close(cfg.serial_out_fd);
}
