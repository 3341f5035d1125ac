/* KVM's doorbells: the wrappers' checks and the GSI table's arithmetic
 * without KVM, then a real guest (guests/doorbell.c) that rings a
 * doorbell 40 times, by port and by MMIO, each answered by an interrupt
 * along ioeventfd -> event loop -> irqfd -> IOAPIC -> handler, under
 * --irqchip kernel and split. The guest reports how many interrupts its
 * handler saw; the tests wait for the VM to stop, never on time. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "event_loop.h"
#include "irqfd.h"
#include "kvm_doorbell.h"
#include "kvm_skip.h"
#include "vcpu.h"
#include "arch/x86/cpu_mode.h"
#include "arch/x86/irqchip.h"
#include "board/split_irqchip.h"
#include "devices/debug_exit.h"
#include "loaders/loader.h"

#define GUEST "build/guests/doorbell.elf"
#define DOORBELLS 40             /* as guests/doorbell.c is built */
#define DOORBELL_PORT 0x510
#define DOORBELL_MMIO 0xd0000000ULL
#define DOORBELL_LINE 10

/* ---- without KVM ---- */

Test(doorbell, widths_kvm_cannot_match_are_refused_before_any_ioctl)
{
	struct kvmini_error err;
	struct kvm_doorbell odd = { .pio = true, .addr = 0x510, .len = 3 };
	cr_expect_eq(kvm_ioeventfd_assign(-1, -1, &odd, &err), -1);
	cr_expect_eq(err.code, KVMINI_E_USAGE);
	cr_expect_str_eq(err.msg, "a port doorbell at 0x510 cannot be 3 bytes wide");
	struct kvm_doorbell any_port = { .pio = true, .addr = 0x510, .len = 0 };
	cr_expect_eq(kvm_ioeventfd_assign(-1, -1, &any_port, &err), -1);
	cr_expect_eq(err.code, KVMINI_E_USAGE);
	struct kvm_doorbell any_matching = { .addr = 0xd0000000, .datamatch = true };
	cr_expect_eq(kvm_ioeventfd_assign(-1, -1, &any_matching, &err), -1);
	cr_expect_str_eq(err.msg, "a MMIO doorbell at 0xd0000000 cannot be 0 bytes wide");
	/* A valid doorbell reaches the ioctl, which names itself. */
	struct kvm_doorbell fine = { .addr = 0xd0000000, .len = 0 };
	cr_expect_eq(kvm_ioeventfd_assign(-1, -1, &fine, &err), -1);
	cr_expect_eq(err.code, KVMINI_E_HOST);
	cr_expect(strstr(err.msg, "KVM_IOEVENTFD failed") != NULL, "%s", err.msg);
	cr_expect_eq(kvm_irqfd_assign(-1, -1, 5, -1, &err), -1);
	cr_expect(strstr(err.msg, "KVM_IRQFD failed") != NULL, "%s", err.msg);
}

static struct kvm_irq_routing_entry msi(unsigned gsi, uint32_t data)
{
	return (struct kvm_irq_routing_entry){ .gsi = gsi, .type = KVM_IRQ_ROUTING_MSI,
					       .u.msi = { .address_lo = 0xfee00000, .data = data } };
}

Test(doorbell, an_update_replaces_only_the_gsis_it_names)
{
	struct kvm_irq_routing_entry isa[X86_ISA_ROUTES];
	unsigned n_isa;
	x86_irqchip_isa_routes(isa, &n_isa);
	cr_assert_eq(n_isa, X86_ISA_ROUTES);
	struct kvm_irq_routing_entry out[X86_ISA_ROUTES + 2];
	/* GSI 4 has two entries (8259 and IOAPIC); one MSI replaces both. */
	struct kvm_irq_routing_entry add[2] = { msi(4, 0x41), msi(30, 0x50) };
	unsigned n = kvm_gsi_routes_merge(isa, n_isa, add, 2, out);
	cr_expect_eq(n, X86_ISA_ROUTES - 2 + 2);
	unsigned gsi4 = 0, gsi30 = 0, gsi5 = 0;
	for (unsigned i = 0; i < n; i++) {
		gsi4 += out[i].gsi == 4;
		gsi30 += out[i].gsi == 30;
		gsi5 += out[i].gsi == 5;
		if (out[i].gsi == 4)
			cr_expect_eq(out[i].u.msi.data, 0x41);
	}
	cr_expect_eq(gsi4, 1);
	cr_expect_eq(gsi30, 1);
	cr_expect_eq(gsi5, 2, "the other ISA lines keep 8259 and IOAPIC");
}

Test(doorbell, no_irqchip_means_no_interrupt_doorbell)
{
	struct vm vm = { .irqchip = KVMINI_IRQCHIP_NONE, .fd = -1 };
	struct kvmini_error err;
	cr_expect_null(irqfd_attach(&vm, NULL, -1, 10, -1, &err));
	cr_expect_eq(err.code, KVMINI_E_USAGE);
	cr_expect_str_eq(err.msg, "an interrupt doorbell needs an irqchip");
	irqfd_detach(NULL);
}

Test(doorbell, the_split_irqchip_refuses_a_level_triggered_irqfd)
{
	struct vm vm = { .irqchip = KVMINI_IRQCHIP_SPLIT, .fd = -1 };
	struct kvmini_error err;
	cr_expect_null(irqfd_attach(&vm, NULL, -1, 10, 3, &err));
	cr_expect_eq(err.code, KVMINI_E_USAGE);
	cr_expect_str_eq(err.msg, "a level-triggered irqfd (resample) needs --irqchip kernel");
}

/* ---- a real guest ---- */

/* The device on the event loop: each doorbell it hears is answered by
 * one write to the irqfd. */
struct rig {
	struct vm vm;
	struct debug_exit exit;   /* the port's device: its exit line stops vm */
	struct event_loop *loop;
	struct split_irqchip *split;
	struct irqfd *irqfd;
	struct event_handler *device;
	int bell, irq;
	unsigned rung;   /* loop thread only, read after it is joined */
	struct kvm_doorbell port, mmio;
};

static void answer_doorbell(void *ctx, int fd, uint32_t events)
{
	(void)events;
	struct rig *r = ctx;
	uint64_t count, one = 1;
	if (read(fd, &count, sizeof(count)) != sizeof(count))
		return;
	r->rung += (unsigned)count;
	cr_assert_eq(write(r->irq, &one, sizeof(one)), sizeof(one));
}

/* debug-exit's exit line, as the board wires it: the guest's status ends the run. */
static void guest_exit(void *ctx, int status, const char *reason)
{
	vm_request_stop(ctx, KVMINI_OK, status, "%s", reason);
}

static void load_guest(struct vm *vm)
{
	static uint8_t image[1 << 20];
	FILE *f = fopen(GUEST, "rb");
	cr_assert_not_null(f, "%s: %s (build it with make guests)", GUEST, strerror(errno));
	size_t size = fread(image, 1, sizeof(image), f);
	fclose(f);
	struct kvmini_image img = { .format = KVMINI_FORMAT_ELF, .path = GUEST,
				    .data = image, .size = size };
	struct load_result loaded;
	struct kvmini_error err;
	cr_assert_eq(load_elf(&vm->mem, &img, &loaded, &err), 0, "%s", err.msg);
	struct x86_entry entry = {
		.mode = loaded.mode,
		.regs = { .rip = loaded.entry,
			  .rsp = vm->mem.regions[0].gpa + vm->mem.regions[0].size },
	};
	cr_assert_eq(x86_enter(&vm->mem, vm->vcpus[0].fd, &entry, &err), 0, "%s", err.msg);
}

static void rig_up(struct rig *r, enum kvmini_irqchip model, bool datamatch)
{
	struct kvmini_config cfg;
	struct kvmini_error err;
	kvmini_config_defaults(&cfg);
	cfg.mem_size = 16 << 20;
	cfg.irqchip = model;
	memset(r, 0, sizeof(*r));
	r->loop = event_loop_create("evloop", &err);
	cr_assert_not_null(r->loop, "%s", err.msg);
	cr_assert_eq(vm_create(&r->vm, &cfg, &err), 0, "%s", err.msg);
	if (model == KVMINI_IRQCHIP_SPLIT)
		cr_assert_not_null(r->split = split_irqchip_create(&r->vm, r->loop, &err), "%s",
				   err.msg);
	/* debug_exit_ops takes its struct debug_exit, never the VM itself. */
	r->exit.exit = (struct exit_line){ .exit = guest_exit, .ctx = &r->vm };
	cr_assert_eq(bus_register(&r->vm.pio, DEBUG_EXIT_PORT, DEBUG_EXIT_SIZE, &debug_exit_ops,
				  &r->exit, "debug-exit", &err), 0, "%s", err.msg);
	load_guest(&r->vm);
	r->bell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r->irq = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	/* The port doorbell: the guest writes the byte 1. */
	r->port = (struct kvm_doorbell){ .pio = true, .addr = DOORBELL_PORT, .len = 1,
					 .datamatch = datamatch, .data = 1 };
	r->mmio = (struct kvm_doorbell){ .addr = DOORBELL_MMIO, .len = 4 };
	cr_assert_eq(kvm_ioeventfd_assign(r->vm.fd, r->bell, &r->port, &err), 0, "%s", err.msg);
	cr_assert_eq(kvm_ioeventfd_assign(r->vm.fd, r->bell, &r->mmio, &err), 0, "%s", err.msg);
	r->irqfd = irqfd_attach(&r->vm, r->loop, r->irq, DOORBELL_LINE, -1, &err);
	cr_assert_not_null(r->irqfd, "%s", err.msg);
	r->device = event_loop_add(r->loop, r->bell, EPOLLIN, answer_doorbell, r, &err);
	cr_assert_not_null(r->device, "%s", err.msg);
}

static void rig_down(struct rig *r)
{
	struct kvmini_error err;
	event_loop_stop(r->loop);
	event_loop_remove(r->loop, r->device);
	irqfd_detach(r->irqfd);
	cr_expect_eq(kvm_ioeventfd_deassign(r->vm.fd, r->bell, &r->port, &err), 0, "%s", err.msg);
	cr_expect_eq(kvm_ioeventfd_deassign(r->vm.fd, r->bell, &r->mmio, &err), 0, "%s", err.msg);
	split_irqchip_destroy(r->split);
	vm_destroy(&r->vm);
	event_loop_destroy(r->loop);
	close(r->bell);
	close(r->irq);
}

static void ring_doorbells(enum kvmini_irqchip model, bool datamatch)
{
	static struct rig r;
	rig_up(&r, model, datamatch);
	struct kvmini_error err;
	cr_assert_eq(event_loop_start(r.loop, &err), 0, "%s", err.msg);
	struct kvmini_result result;
	vm_run(&r.vm, 120, &result);   /* the bound only turns a hang into a failure */
	event_loop_stop(r.loop);
	cr_expect_eq(result.exit_status, (DOORBELLS << 1) | 1,
		     "status %d (%s): the handler ran %d times, the device heard %u doorbells",
		     result.exit_status, result.message, result.exit_status >> 1, r.rung);
	cr_expect_eq(r.rung, DOORBELLS, "no doorbell was lost or invented");
	rig_down(&r);
}

Test(doorbell, interrupts_reach_the_guest_with_the_kernel_irqchip, .timeout = 180)
{
	skip_without_kvm();
	ring_doorbells(KVMINI_IRQCHIP_KERNEL, false);
}

Test(doorbell, interrupts_reach_the_guest_with_the_split_irqchip, .timeout = 180)
{
	skip_without_kvm();
	ring_doorbells(KVMINI_IRQCHIP_SPLIT, false);
}

Test(doorbell, a_doorbell_matching_its_data_still_rings, .timeout = 180)
{
	skip_without_kvm();
	ring_doorbells(KVMINI_IRQCHIP_KERNEL, true);
}

/* KVM takes a level-triggered irqfd (with its resample fd) on an ISA
 * line of its own IOAPIC, and lets it go again. */
Test(doorbell, the_kernel_irqchip_takes_a_resampled_irqfd)
{
	skip_without_kvm();
	struct kvmini_config cfg;
	struct kvmini_error err;
	kvmini_config_defaults(&cfg);
	cfg.mem_size = 16 << 20;
	cfg.irqchip = KVMINI_IRQCHIP_KERNEL;
	struct vm vm;
	cr_assert_eq(vm_create(&vm, &cfg, &err), 0, "%s", err.msg);
	struct event_loop *loop = event_loop_create("test", &err);
	int efd = eventfd(0, EFD_CLOEXEC), resample = eventfd(0, EFD_CLOEXEC);
	struct irqfd *f = irqfd_attach(&vm, loop, efd, DOORBELL_LINE, resample, &err);
	cr_expect_not_null(f, "%s", err.msg);
	irqfd_detach(f);
	/* Detached: the same fd may be attached again. */
	f = irqfd_attach(&vm, loop, efd, DOORBELL_LINE, -1, &err);
	cr_expect_not_null(f, "%s", err.msg);
	irqfd_detach(f);
	vm_destroy(&vm);
	event_loop_destroy(loop);
	close(efd);
	close(resample);
}

/* The split chip's IOAPIC rewrites GSIs 0-23 whenever the guest changes
 * a redirection entry; a GSI handed out for an MSI must survive that. */
Test(doorbell, allocated_msi_routes_survive_the_ioapic_reprogramming)
{
	skip_without_kvm();
	struct kvmini_config cfg;
	struct kvmini_error err;
	kvmini_config_defaults(&cfg);
	cfg.mem_size = 16 << 20;
	cfg.irqchip = KVMINI_IRQCHIP_SPLIT;
	struct vm vm;
	cr_assert_eq(vm_create(&vm, &cfg, &err), 0, "%s", err.msg);
	unsigned gsi, second;
	cr_assert_eq(kvm_gsi_alloc(&vm.routes, &gsi, &err), 0, "%s", err.msg);
	cr_expect_eq(gsi, X86_IOAPIC_PINS, "the first GSI above the IOAPIC's pins");
	cr_assert_eq(kvm_gsi_route_msi(&vm.routes, gsi, 0xfee00000, 0x45, &err), 0, "%s", err.msg);
	struct x86_msi pins[X86_IOAPIC_PINS] = { 0 };
	cr_assert_eq(x86_irqchip_route_msis(&vm.routes, pins, X86_IOAPIC_PINS, &err), 0, "%s",
		     err.msg);
	cr_expect_eq(kvm_gsi_routes_count(&vm.routes, gsi), 1);
	cr_expect_eq(kvm_gsi_routes_count(&vm.routes, 0), 1);
	cr_assert_eq(kvm_gsi_alloc(&vm.routes, &second, &err), 0, "%s", err.msg);
	cr_expect_eq(second, gsi + 1);
	/* An MSI route takes an irqfd under the split chip too. */
	int efd = eventfd(0, EFD_CLOEXEC);
	cr_expect_eq(kvm_irqfd_assign(vm.fd, efd, gsi, -1, &err), 0, "%s", err.msg);
	cr_expect_eq(kvm_irqfd_deassign(vm.fd, efd, gsi, &err), 0, "%s", err.msg);
	cr_assert_eq(kvm_gsi_release(&vm.routes, gsi, &err), 0, "%s", err.msg);
	cr_expect_eq(kvm_gsi_routes_count(&vm.routes, gsi), 0);
	cr_expect_eq(kvm_gsi_release(&vm.routes, gsi, &err), -1, "released twice");
	cr_assert_eq(kvm_gsi_alloc(&vm.routes, &second, &err), 0, "%s", err.msg);
	cr_expect_eq(second, gsi, "a released GSI is handed out again");
	vm_destroy(&vm);
	close(efd);
}
