/* The split irqchip's wiring: `--irqchip split`, the ISA routing both
 * interrupt-controller models share, and what split_irqchip_create()
 * puts on a real VM's buses and takes off again, and its saved state
 * restored into another VM's chip. */
#include <criterion/criterion.h>

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "cli/options.h"
#include "board/split_irqchip.h"
#include "vcpu.h"
#include "arch/x86/irqchip.h"
#include "kvm_skip.h"
#include "bare_vm.h"

#define ARGV(...) (char *[]){ "run", __VA_ARGS__, NULL }
#define ARGC(...) (int)(sizeof((char *[]){ "run", __VA_ARGS__ }) / sizeof(char *))
#define PARSE(o, e, ...) parse_run_options(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (o), (e))

Test(split_irqchip, the_option_takes_three_models)
{
	struct run_options o;
	struct kvmini_error err;
	cr_assert_eq(PARSE(&o, &err, "--irqchip", "split"), 0, "%s", err.msg);
	cr_expect_eq(o.cfg.irqchip, KVMINI_IRQCHIP_SPLIT);
	cr_assert_eq(PARSE(&o, &err, "--irqchip", "kernel"), 0, "%s", err.msg);
	cr_expect_eq(o.cfg.irqchip, KVMINI_IRQCHIP_KERNEL);
	cr_assert_eq(PARSE(&o, &err, "--irqchip", "none"), 0, "%s", err.msg);
	cr_expect_eq(o.cfg.irqchip, KVMINI_IRQCHIP_NONE);
	cr_assert_eq(PARSE(&o, &err, "--irqchip", "Split"), -1);
	cr_expect_eq(err.code, KVMINI_E_USAGE);
	cr_expect_str_eq(err.msg, "invalid value 'Split' for --irqchip: expected kernel, split or none");
	cr_expect_str_eq(x86_irqchip_name(KVMINI_IRQCHIP_SPLIT), "split");
}

Test(split_irqchip, an_explicit_split_holds_with_kernel)
{
	struct run_options o;
	struct kvmini_error err;
	cr_assert_eq(PARSE(&o, &err, "--irqchip", "split", "--kernel", "bzImage"), 0, "%s", err.msg);
	cr_expect_eq(o.cfg.irqchip, KVMINI_IRQCHIP_SPLIT);
}

Test(split_irqchip, isa_lines_reach_the_pins_of_a_pc)
{
	cr_expect_eq(x86_isa_ioapic_pin(0), 2, "IRQ 0 (the PIT) at pin 2");
	cr_expect_eq(x86_isa_ioapic_pin(2), -1, "IRQ 2 is the cascade");
	for (unsigned line = 1; line < 24; line++)
		if (line != 2)
			cr_expect_eq(x86_isa_ioapic_pin(line), (int)line, "line %u", line);
	cr_expect_eq(x86_isa_ioapic_pin(24), -1);
	for (unsigned line = 0; line < 24; line++)
		cr_expect_eq(x86_isa_pic_input(line), line < 16 && line != 2, "line %u", line);
}

static void make_vm(struct vm *vm, enum kvmini_irqchip model)
{
	struct kvmini_config cfg;
	kvmini_config_defaults(&cfg);
	cfg.mem_size = 16 << 20;
	cfg.irqchip = model;
	struct kvmini_error err;
	cr_assert_eq(vm_create(vm, &cfg, &err), 0, "%s", err.msg);
}

Test(split_irqchip, its_devices_sit_where_the_tables_say_and_go_away)
{
	skip_without_kvm();
	struct vm vm;
	make_vm(&vm, KVMINI_IRQCHIP_SPLIT);
	struct kvmini_error err;
	struct event_loop *loop = event_loop_create("test", &err);
	cr_assert_not_null(loop, "%s", err.msg);
	struct split_irqchip *chip = split_irqchip_create(&vm, loop, &err);
	cr_assert_not_null(chip, "%s", err.msg);
	cr_expect_not_null(vm.irq_router);
	cr_expect_eq(vm.nexit_hooks, 1u);
	static const struct { uint64_t port; const char *name; } ports[] = {
		{ 0x20, "8259 PIC (master)" }, { 0x21, "8259 PIC (master)" },
		{ 0xa0, "8259 PIC (slave)" }, { 0xa1, "8259 PIC (slave)" },
		{ 0x4d0, "8259 ELCR" }, { 0x4d1, "8259 ELCR" },
		{ 0x40, "8254 PIT" }, { 0x43, "8254 PIT" },
		{ 0x61, "system control port B (0x61)" },
	};
	for (unsigned i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		const struct bus_range *r = bus_find(&vm.pio, ports[i].port);
		cr_assert_not_null(r, "port 0x%llx", (unsigned long long)ports[i].port);
		cr_expect_str_eq(r->name, ports[i].name);
	}
	const struct bus_range *io = bus_find(&vm.mmio, 0xfec00000);
	cr_assert_not_null(io);
	cr_expect_str_eq(io->name, "IOAPIC");
	cr_expect_eq(io->len, 0x1000u);
	/* The IOAPIC's ID is the one the firmware tables give it: the vCPU count. */
	uint8_t data[4] = { 0 };
	bus_access(&vm.mmio, 0xfec00000, data, 4, true);
	bus_access(&vm.mmio, 0xfec00010, data, 4, false);
	cr_expect_eq(data[3], 1);
	/* A line raised after the chip is gone goes nowhere. */
	split_irqchip_destroy(chip);
	cr_expect_null(vm.irq_router);
	cr_expect_eq(vm.nexit_hooks, 0u);
	struct irq_line line = vm_irq_line(&vm, 4);
	irq_line_set(&line, true);
	vm_destroy(&vm);
	event_loop_destroy(loop);
}

Test(split_irqchip, kvm_keeps_the_local_apics_and_no_pic)
{
	skip_without_kvm();
	struct vm vm;
	make_vm(&vm, KVMINI_IRQCHIP_SPLIT);
	struct kvm_lapic_state lapic;
	cr_expect_eq(ioctl(vm.vcpus[0].fd, KVM_GET_LAPIC, &lapic), 0, "%s", strerror(errno));
	struct kvm_irqchip pic = { .chip_id = KVM_IRQCHIP_PIC_MASTER };
	cr_expect_eq(ioctl(vm.fd, KVM_GET_IRQCHIP, &pic), -1, "no PIC in KVM");
	vm_destroy(&vm);
}

/* ---- the PIT's timer on the event loop, without KVM ----
 * The split chip's devices need only the VM's buses: with the IOAPIC's
 * pins masked (as at reset) and no vCPU to kick, nothing reaches KVM, so
 * a bare struct vm will do. IRQ 0's edges are seen in the 8259's IRR. */

static void port_out(struct vm *vm, uint16_t port, uint8_t value)
{
	bus_access(&vm->pio, port, &value, 1, true);
}

static uint8_t port_in(struct vm *vm, uint16_t port)
{
	uint8_t value = 0;
	bus_access(&vm->pio, port, &value, 1, false);
	return value;
}

/* Wait (polling, bounded) for IRQ 0's request in the master's IRR, then
 * take it as the CPU would (poll command, non-specific EOI). */
static bool take_irq0(struct vm *vm)
{
	for (unsigned tries = 0; tries < 10000; tries++) {
		if (port_in(vm, 0x20) & 1) {       /* OCW3 left at "read IRR" */
			port_out(vm, 0x20, 0x0c);  /* OCW3 poll: acknowledges */
			uint8_t polled = port_in(vm, 0x20);
			port_out(vm, 0x20, 0x20);  /* non-specific EOI */
			port_out(vm, 0x20, 0x0a);  /* OCW3: read IRR again */
			return polled == 0x80;     /* a request, IRQ 0 */
		}
		usleep(1000);
	}
	return false;
}

Test(split_irqchip, the_pit_ticks_from_the_event_loop_once_programmed, .timeout = 60)
{
	struct vm vm;
	bare_vm_init(&vm, KVMINI_IRQCHIP_SPLIT);
	struct kvmini_error err;
	struct event_loop *loop = event_loop_create("test", &err);
	cr_assert_not_null(loop, "%s", err.msg);
	struct split_irqchip *chip = split_irqchip_create(&vm, loop, &err);
	cr_assert_not_null(chip, "%s", err.msg);
	cr_assert_eq(event_loop_start(loop, &err), 0, "%s", err.msg);
	/* The 8259 as a guest sets it up: ICW1-4, all inputs unmasked. */
	port_out(&vm, 0x20, 0x11);
	port_out(&vm, 0x21, 0x20);
	port_out(&vm, 0x21, 0x04);
	port_out(&vm, 0x21, 0x01);
	port_out(&vm, 0x21, 0x00);
	port_out(&vm, 0x20, 0x0a);
	cr_expect_eq(port_in(&vm, 0x20) & 1, 0, "no count loaded, no tick");
	/* Channel 0, low then high byte, mode 2, 1193 counts: ~1 kHz. Only
	 * the rearm from this write can start the (disarmed) timer. */
	port_out(&vm, 0x43, 0x34);
	port_out(&vm, 0x40, 1193 & 0xff);
	port_out(&vm, 0x40, 1193 >> 8);
	for (unsigned i = 0; i < 5; i++)
		cr_assert(take_irq0(&vm), "tick %u", i + 1);
	split_irqchip_destroy(chip);   /* with the loop running: no tick after */
	event_loop_destroy(loop);
	bare_vm_free(&vm);
}

/* ---- saved state: one chip's into another VM's ---- */

struct chip_rig {
	struct vm vm;
	struct event_loop *loop;
	struct split_irqchip *chip;
};

static void chip_rig_open(struct chip_rig *r)
{
	make_vm(&r->vm, KVMINI_IRQCHIP_SPLIT);
	struct kvmini_error err;
	r->loop = event_loop_create("test", &err);
	cr_assert_not_null(r->loop, "%s", err.msg);
	r->chip = split_irqchip_create(&r->vm, r->loop, &err);
	cr_assert_not_null(r->chip, "%s", err.msg);
	cr_assert_eq(event_loop_start(r->loop, &err), 0, "%s", err.msg);
}

static void chip_rig_close(struct chip_rig *r)
{
	split_irqchip_destroy(r->chip);
	event_loop_destroy(r->loop);
	vm_destroy(&r->vm);
}

static uint32_t ioapic_read(struct vm *vm, uint8_t reg)
{
	uint8_t data[4] = { reg };
	bus_access(&vm->mmio, 0xfec00000, data, 4, true);
	bus_access(&vm->mmio, 0xfec00010, data, 4, false);
	return data[0] | data[1] << 8 | data[2] << 16 | (uint32_t)data[3] << 24;
}

Test(split_irqchip, a_restored_chip_ticks_on_and_keeps_the_pending_extint, .timeout = 60)
{
	skip_without_kvm();
	struct chip_rig a, b;
	chip_rig_open(&a);
	port_out(&a.vm, 0x20, 0x11);   /* ICW1-4, vectors at 0x20, all unmasked */
	port_out(&a.vm, 0x21, 0x20);
	port_out(&a.vm, 0x21, 0x04);
	port_out(&a.vm, 0x21, 0x01);
	port_out(&a.vm, 0x21, 0x00);
	uint8_t entry[4] = { 0x10 + 2 * 4 };   /* IOAPIC pin 4: vector 0x34, unmasked */
	bus_access(&a.vm.mmio, 0xfec00000, entry, 4, true);
	entry[0] = 0x34;
	bus_access(&a.vm.mmio, 0xfec00010, entry, 4, true);
	port_out(&a.vm, 0x43, 0x34);   /* channel 0, mode 2, ~1 kHz */
	port_out(&a.vm, 0x40, 1193 & 0xff);
	port_out(&a.vm, 0x40, 1193 >> 8);
	cr_assert(take_irq0(&a.vm));
	/* The next tick's vector goes to KVM as the boot CPU's ExtINT, as
	 * before a KVM_RUN: KVM now holds it, undelivered. */
	for (unsigned tries = 0; tries < 10000 && !(port_in(&a.vm, 0x20) & 1); tries++)
		usleep(1000);
	a.vm.vcpus[0].run->ready_for_interrupt_injection = 1;
	vm_exit_hooks_pre_run(&a.vm, &a.vm.vcpus[0]);
	cr_assert_not(vm_stop_requested(&a.vm));
	struct state_writer w;
	state_writer_init(&w);
	split_irqchip_save(a.chip, &w);
	cr_assert_not(w.failed);
	struct kvmini_error err;
	cr_assert_eq(split_irqchip_check_state(w.data, w.len, &err), 0, "%s", err.msg);

	chip_rig_open(&b);
	cr_assert_eq(split_irqchip_restore(b.chip, w.data, w.len, &err), 0, "%s", err.msg);
	cr_expect_not(vm_stop_requested(&b.vm), "KVM took the IOAPIC's routes");
	struct kvm_interrupt irq = { .irq = 0x30 };
	cr_expect_eq(ioctl(b.vm.vcpus[0].fd, KVM_INTERRUPT, &irq), -1);
	cr_expect_eq(errno, EEXIST, "the saved ExtINT waits in KVM again");
	cr_expect_eq(ioapic_read(&b.vm, 0x18), 0x34u);
	cr_expect_eq(ioapic_read(&b.vm, 0x00), ioapic_read(&a.vm, 0x00));
	port_out(&b.vm, 0x20, 0x0b);   /* OCW3: read ISR */
	cr_expect_eq(port_in(&b.vm, 0x20), 0x01, "IRQ 0 is in service, as it was");
	port_out(&b.vm, 0x20, 0x0a);
	port_out(&b.vm, 0x20, 0x20);   /* its EOI */
	/* Nobody wrote b's PIT: only the restore can have armed its timer. */
	for (unsigned i = 0; i < 3; i++)
		cr_assert(take_irq0(&b.vm), "tick %u", i + 1);
	state_writer_free(&w);
	chip_rig_close(&a);
	chip_rig_close(&b);
}
