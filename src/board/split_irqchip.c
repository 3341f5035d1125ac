#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "board/split_irqchip.h"
#include "event_loop.h"
#include "vcpu.h"
#include "arch/x86/firmware.h"
#include "arch/x86/irqchip.h"
#include "devices/i8254.h"
#include "devices/i8259.h"
#include "devices/ioapic.h"

_Static_assert(IOAPIC_MMIO_BASE == X86_IOAPIC_ADDR, "the IOAPIC sits where the tables say");
_Static_assert(IOAPIC_PINS == X86_IOAPIC_PINS, "one KVM route per IOAPIC pin");
_Static_assert(IOAPIC_VERSION == X86_IOAPIC_VERSION, "the tables give the IOAPIC's version");

#define BOOT_CPU 0   /* the vCPU whose LINT0 the 8259 drives */
#define PIT_IRQ 0

struct split_irqchip {
	struct vm *vm;
	struct i8259 *pic;
	struct ioapic *ioapic;
	struct i8254 *pit;
	struct event_loop *loop;
	struct event_timer *pit_timer;
	bool pit_rearmed;          /* atomic: the PIT was reprogrammed since the last tick */
	/* The boot CPU's thread writes these, a snapshot (its vCPU parked)
	 * reads them: an ExtINT vector given to KVM and not yet seen to
	 * enter the guest (split_irqchip_save()). */
	bool extint_pending;
	uint8_t extint_vector;
	/* Set by a restore: the boot CPU's kvm_run is fresh, so its
	 * ready_for_interrupt_injection (0) says nothing yet; read once by
	 * the boot CPU's next pre_run. */
	bool ready_unknown;
	struct vm_irq_router router;
	struct vm_exit_hooks hooks;
};

/* A KVM call made on a device's behalf failed: interrupts are broken,
 * so the VM stops with the reason. */
static void host_failure(struct split_irqchip *c, const struct kvmini_error *err)
{
	vm_request_stop(c->vm, err->code, err->code, "split irqchip: %s", err->msg);
}

/* ---- ISA lines: the wiring of both interrupt controllers ---- */

static void route_line(void *opaque, unsigned line, bool level)
{
	struct split_irqchip *c = opaque;
	if (x86_isa_pic_input(line))
		i8259_set_irq(c->pic, line, level);
	int pin = x86_isa_ioapic_pin(line);
	if (pin >= 0)
		ioapic_set_pin(c->ioapic, (unsigned)pin, level);
}

/* ---- IOAPIC -> KVM's MSI routes ---- */

static void program_routes(void *ctx, const struct ioapic_msi msgs[IOAPIC_PINS])
{
	struct split_irqchip *c = ctx;
	struct x86_msi routes[IOAPIC_PINS];
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		routes[pin] = (struct x86_msi){ .address = msgs[pin].address, .data = msgs[pin].data };
	struct kvmini_error err;
	if (x86_irqchip_route_msis(&c->vm->routes, routes, IOAPIC_PINS, &err) < 0)
		host_failure(c, &err);
}

static void send_route(void *ctx, unsigned pin, const struct ioapic_msi *msg)
{
	(void)msg;   /* programmed as GSI `pin` already */
	struct split_irqchip *c = ctx;
	if (x86_irqchip_set_line(c->vm->fd, pin, true) < 0) {
		struct kvmini_error err;
		kvmini_fail_errno(&err, KVMINI_E_HOST, errno, "KVM_IRQ_LINE for IOAPIC pin %u failed",
				  pin);
		host_failure(c, &err);
	}
}

/* ---- 8259 -> the boot CPU's LINT0 ---- */

static void pic_output_changed(void *ctx, bool level)
{
	struct split_irqchip *c = ctx;
	if (level)
		vm_kick_vcpu(c->vm, BOOT_CPU);
}

/* Before each KVM_RUN of the boot CPU: KVM says at every exit whether
 * the vCPU can take an external interrupt now (IF set, no interrupt
 * shadow, LINT0 unmasked in ExtINT mode, none already waiting).
 * After a restore no exit has said so yet: a VM snapshotted halted with
 * the 8259's INT already high would wait for ever (the window request
 * does not wake a halted vCPU, and INT does not change again to kick
 * it). Its first entry injects at once instead: KVM holds an ExtINT
 * until the guest can take it, and wakes a halted vCPU for it. */
static void pre_run(void *opaque, struct vcpu *vcpu)
{
	struct split_irqchip *c = opaque;
	if (vcpu->index != BOOT_CPU)
		return;
	struct kvm_run *run = vcpu->run;
	bool unknown = __atomic_exchange_n(&c->ready_unknown, false, __ATOMIC_ACQ_REL) &&
		       !__atomic_load_n(&c->extint_pending, __ATOMIC_ACQUIRE);
	if ((run->ready_for_interrupt_injection || unknown) && i8259_output(c->pic)) {
		struct kvmini_error err;
		uint8_t vector = i8259_acknowledge(c->pic);
		if (x86_irqchip_inject_extint(vcpu->fd, vector, &err) < 0) {
			host_failure(c, &err);
		} else {
			c->extint_vector = vector;
			__atomic_store_n(&c->extint_pending, true, __ATOMIC_RELEASE);
		}
		run->ready_for_interrupt_injection = 0;   /* one per KVM_RUN */
	}
	run->request_interrupt_window = i8259_output(c->pic);
}

/* Any exit means KVM_RUN entered the guest, and so took the ExtINT
 * vector it held (a KVM_RUN cut short by a kick, EINTR, reports none). */
static bool claim_exit(void *opaque, struct vcpu *vcpu)
{
	struct split_irqchip *c = opaque;
	if (vcpu->index == BOOT_CPU)
		__atomic_store_n(&c->extint_pending, false, __ATOMIC_RELEASE);
	switch (vcpu->run->exit_reason) {
	case KVM_EXIT_IOAPIC_EOI:
		ioapic_eoi(c->ioapic, vcpu->run->eoi.vector);
		return true;
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		return true;   /* pre_run injects */
	default:
		return false;
	}
}

/* ---- the PIT's clock: a timer on the event loop ----
 *
 * The timer fires at the next rising edge of channel 0's OUT that
 * i8254_tick() reports. A guest reprogramming channel 0 (on a vCPU
 * thread, the PIT's lock held) sets pit_rearmed and arms the timer to
 * fire at once. The tick clears the flag before asking the PIT and
 * checks it after arming: a reprogramming that raced with it either
 * was seen by i8254_tick(), or left the flag set and the tick repeats,
 * so a stale deadline never overwrites a newer one for good. */

static void pit_tick(void *opaque)
{
	struct split_irqchip *c = opaque;
	do {
		__atomic_store_n(&c->pit_rearmed, false, __ATOMIC_SEQ_CST);
		uint64_t deadline = i8254_tick(c->pit);
		if (deadline == I8254_NO_DEADLINE)
			event_timer_disarm(c->pit_timer);
		else
			event_timer_arm_at(c->pit_timer, deadline);
	} while (__atomic_load_n(&c->pit_rearmed, __ATOMIC_SEQ_CST));
}

static void pit_rearm(void *ctx)
{
	struct split_irqchip *c = ctx;
	__atomic_store_n(&c->pit_rearmed, true, __ATOMIC_SEQ_CST);
	event_timer_arm_at(c->pit_timer, 0);   /* in the past: at once */
}

/* ---- set-up ---- */

static int create_devices(struct split_irqchip *c, struct kvmini_error *err)
{
	struct i8259_output pic_out = { .changed = pic_output_changed, .ctx = c };
	struct ioapic_sink sink = { .program = program_routes, .send = send_route, .ctx = c };
	struct irq_line irq0 = vm_irq_line(c->vm, PIT_IRQ);
	struct i8254_wakeup wakeup = { .rearm = pit_rearm, .ctx = c };
	/* The IOAPIC's ID is the one the MP and ACPI tables give it. */
	c->pic = i8259_create(&pic_out);
	c->ioapic = ioapic_create(x86_ioapic_id(c->vm->ncpus), &sink);
	c->pit = i8254_create(NULL, &irq0, &wakeup);
	if (!c->pic || !c->ioapic || !c->pit)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for the split irqchip");
	return 0;
}

static int register_devices(struct split_irqchip *c, struct kvmini_error *err)
{
	struct bus *pio = &c->vm->pio;
	if (bus_register(pio, I8259_MASTER_PORT, I8259_NPORTS, &i8259_master_ops, c->pic,
			 "8259 PIC (master)", err) < 0 ||
	    bus_register(pio, I8259_SLAVE_PORT, I8259_NPORTS, &i8259_slave_ops, c->pic,
			 "8259 PIC (slave)", err) < 0 ||
	    bus_register(pio, I8259_ELCR_PORT, I8259_ELCR_NPORTS, &i8259_elcr_ops, c->pic,
			 "8259 ELCR", err) < 0 ||
	    bus_register(pio, I8254_PORT, I8254_NPORTS, &i8254_ops, c->pit, "8254 PIT", err) < 0 ||
	    bus_register(pio, I8254_SPEAKER_PORT, 1, &i8254_speaker_ops, c->pit,
			 "system control port B (0x61)", err) < 0 ||
	    bus_register(&c->vm->mmio, IOAPIC_MMIO_BASE, IOAPIC_MMIO_SIZE, &ioapic_ops, c->ioapic,
			 "IOAPIC", err) < 0)
		return -1;
	return 0;
}

struct split_irqchip *split_irqchip_create(struct vm *vm, struct event_loop *loop,
					   struct kvmini_error *err)
{
	if (!loop) {
		kvmini_fail(err, KVMINI_E_HOST, "the split irqchip needs an event loop for its PIT");
		return NULL;
	}
	struct split_irqchip *c = calloc(1, sizeof(*c));
	if (!c) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for the split irqchip");
		return NULL;
	}
	c->vm = vm;
	c->loop = loop;
	c->router = (struct vm_irq_router){ .set_line = route_line, .opaque = c };
	c->hooks = (struct vm_exit_hooks){ .pre_run = pre_run, .on_exit = claim_exit, .opaque = c };
	/* The timer exists before the PIT, which may rearm it at once. */
	if (!(c->pit_timer = event_timer_create(loop, pit_tick, c, err)) ||
	    create_devices(c, err) < 0 || register_devices(c, err) < 0 ||
	    vm_add_exit_hooks(vm, &c->hooks, err) < 0) {
		split_irqchip_destroy(c);
		return NULL;
	}
	vm_set_irq_router(vm, &c->router);
	return c;
}

void split_irqchip_destroy(struct split_irqchip *c)
{
	if (!c)
		return;
	event_timer_destroy(c->pit_timer);   /* the last thing that raises IRQ 0 */
	vm_set_irq_router(c->vm, NULL);
	vm_remove_exit_hooks(c->vm, &c->hooks);
	i8254_destroy(c->pit);
	ioapic_destroy(c->ioapic);
	i8259_destroy(c->pic);
	free(c);
}

/* ---- saved state ---- */

#define STATE_VERSION 1

void split_irqchip_save(struct split_irqchip *c, struct state_writer *w)
{
	state_put_u32(w, STATE_VERSION);
	i8259_save(c->pic, w);
	ioapic_save(c->ioapic, w);
	i8254_save(c->pit, w);
	bool pending = __atomic_load_n(&c->extint_pending, __ATOMIC_ACQUIRE);
	state_put_u8(w, pending);
	state_put_u8(w, pending ? c->extint_vector : 0);
}

/* The record into the given models (all checked before any changes),
 * the pending ExtINT to *pending (-1: none). */
static int state_read(struct i8259 *pic, struct ioapic *ioapic, struct i8254 *pit,
		      const uint8_t *data, size_t len, int *pending, struct kvmini_error *err)
{
	struct state_reader r;
	state_reader_init(&r, data, len);
	uint32_t version = state_get_u32(&r);
	if (r.failed)
		return kvmini_fail(err, KVMINI_E_USAGE, "split irqchip: saved state is truncated");
	if (version != STATE_VERSION)
		return kvmini_fail(err, KVMINI_E_USAGE, "split irqchip: saved state version %u is "
				   "not supported", version);
	if (i8259_restore(pic, &r, err) < 0 || ioapic_restore(ioapic, &r, err) < 0 ||
	    i8254_restore(pit, &r, err) < 0)
		return -1;
	uint8_t has = state_get_u8(&r), vector = state_get_u8(&r);
	if (state_reader_finish(&r, "split irqchip state", err) < 0)
		return -1;
	if (has > 1 || (!has && vector))
		return kvmini_fail(err, KVMINI_E_USAGE, "split irqchip: saved pending ExtINT is "
				   "malformed");
	*pending = has ? vector : -1;
	return 0;
}

int split_irqchip_check_state(const uint8_t *data, size_t len, struct kvmini_error *err)
{
	/* Models with nothing wired: restoring into them calls nothing. */
	struct i8259 *pic = i8259_create(NULL);
	struct ioapic *ioapic = ioapic_create(0, NULL);
	struct i8254 *pit = i8254_create(NULL, NULL, NULL);
	int pending;
	int rc = !pic || !ioapic || !pit
		 ? kvmini_fail(err, KVMINI_E_HOST, "out of memory for the split irqchip")
		 : state_read(pic, ioapic, pit, data, len, &pending, err);
	i8254_destroy(pit);
	ioapic_destroy(ioapic);
	i8259_destroy(pic);
	return rc;
}

int split_irqchip_restore(struct split_irqchip *c, const uint8_t *data, size_t len,
			  struct kvmini_error *err)
{
	int pending;
	if (state_read(c->pic, c->ioapic, c->pit, data, len, &pending, err) < 0)
		return -1;
	__atomic_store_n(&c->ready_unknown, true, __ATOMIC_RELEASE);
	if (pending < 0)
		return 0;
	/* KVM held it for the boot CPU's next entry: so it does again. */
	if (x86_irqchip_inject_extint(c->vm->vcpus[BOOT_CPU].fd, (uint8_t)pending, err) < 0)
		return -1;
	c->extint_vector = (uint8_t)pending;
	__atomic_store_n(&c->extint_pending, true, __ATOMIC_RELEASE);
	return 0;
}
