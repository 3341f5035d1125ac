/* (g) A doorbell's round trip: the guest rings, the host answers with an
 * interrupt, the guest's handler runs, the guest rings again
 * (guests/doorbell.c built PORT_ONLY: ROUND_TRIPS of them, timed between
 * its two writes to port 0x81). Two ways to wire port 0x510:
 *   doorbell: an ioeventfd; a device on the event loop reads it and
 *     writes an irqfd (with --irqchip kernel neither side leaves KVM for
 *     kvmini's vCPU thread; with split the loop also drives kvmini's
 *     IOAPIC, src/irqfd.h);
 *   exit: a bus device; the port-I/O exit's handler raises and lowers
 *     the line on the vCPU thread (vm_irq_line), as devices do today.
 * Under both irqchips, in the same run, taking turns.
 *
 * In the nested KVM VM (QEMU's emulated SVM, docs/testing.md) now and
 * then the answer's interrupt is taken inside sti's interrupt shadow,
 * before the hlt it should wake: the handler runs, then the guest halts
 * for good. A run that ends that way (halted, IF set, the vector neither
 * pending nor in service, no doorbell left unanswered) is counted and
 * run again, at most RETRIES_MAX times per figure; any other failure
 * ends the figure. */
#include <asm/processor-flags.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "bench.h"
#include "event_loop.h"
#include "irqfd.h"
#include "kvm_doorbell.h"
#include "vcpu.h"
#include "board/split_irqchip.h"
#include "devices/debug_exit.h"

#define ROUND_TRIPS 2000   /* as guests/doorbell.c is built for the bench */
#define ROUND_TRIP_REPS 5
#define DOORBELL_PORT 0x510
#define DOORBELL_LINE 10
#define MARK_PORT 0x81
#define RUN_LIMIT_S 10   /* a run takes well under a second */
#define VECTOR 0x42       /* as guests/doorbell.c programs pin 10 */
#define RETRIES_MAX 5
#define RUN_LOST_WAKEUP (-2)

struct bell_vm {
	struct vm vm;
	struct event_loop *loop;
	struct split_irqchip *split;
	struct irqfd *irqfd;
	struct event_handler *device;
	int bell, irq;
	struct kvm_doorbell doorbell;
	struct irq_line line;     /* the exit's handler raises it */
	struct debug_exit exit;
	struct marker marks;
};

static void answer_doorbell(void *ctx, int fd, uint32_t events)
{
	(void)events;
	struct bell_vm *b = ctx;
	uint64_t count, one = 1;
	if (read(fd, &count, sizeof(count)) == sizeof(count) &&
	    write(b->irq, &one, sizeof(one)) != sizeof(one))
		vm_request_stop(&b->vm, KVMINI_E_HOST, KVMINI_E_HOST, "cannot write the irqfd");
}

static void exit_doorbell_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)offset, (void)data, (void)len;
	struct irq_line *line = opaque;
	irq_line_set(line, true);
	irq_line_set(line, false);
}

static const struct bus_device_ops exit_doorbell_ops = { .write = exit_doorbell_write };

static int wire_ioeventfd(struct bell_vm *b, struct kvmini_error *err)
{
	b->bell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	b->irq = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->bell < 0 || b->irq < 0)
		return kvmini_fail(err, KVMINI_E_HOST, "eventfd failed");
	b->doorbell = (struct kvm_doorbell){ .pio = true, .addr = DOORBELL_PORT, .len = 1 };
	if (kvm_ioeventfd_assign(b->vm.fd, b->bell, &b->doorbell, err) < 0 ||
	    !(b->irqfd = irqfd_attach(&b->vm, b->loop, b->irq, DOORBELL_LINE, -1, err)) ||
	    !(b->device = event_loop_add(b->loop, b->bell, EPOLLIN, answer_doorbell, b, err)))
		return -1;
	return 0;
}

static void bell_vm_destroy(struct bell_vm *b)
{
	struct kvmini_error err;
	event_loop_stop(b->loop);
	event_loop_remove(b->loop, b->device);
	irqfd_detach(b->irqfd);
	if (b->bell >= 0 && b->vm.fd >= 0)
		kvm_ioeventfd_deassign(b->vm.fd, b->bell, &b->doorbell, &err);
	split_irqchip_destroy(b->split);
	vm_destroy(&b->vm);
	event_loop_destroy(b->loop);
	if (b->bell >= 0)
		close(b->bell);
	if (b->irq >= 0)
		close(b->irq);
}

static int bell_vm_create(struct bell_vm *b, enum kvmini_irqchip model, bool ioeventfd,
			  const char *guest, struct kvmini_error *err)
{
	struct kvmini_config cfg;
	lib_vm_config(&cfg);
	cfg.irqchip = model;
	memset(b, 0, sizeof(*b));
	b->bell = b->irq = b->vm.fd = -1;
	if (!(b->loop = event_loop_create("evloop", err)))
		return -1;
	if (vm_create(&b->vm, &cfg, err) < 0) {
		event_loop_destroy(b->loop);
		return -1;
	}
	b->line = vm_irq_line(&b->vm, DOORBELL_LINE);
	struct bus *pio = &b->vm.pio;
	if ((model == KVMINI_IRQCHIP_SPLIT && !(b->split = split_irqchip_create(&b->vm, b->loop, err))) ||
	    lib_vm_add_debug_exit(&b->vm, &b->exit, err) < 0 ||
	    bus_register(pio, MARK_PORT, 1, &marker_ops, &b->marks, "marks", err) < 0 ||
	    (ioeventfd ? wire_ioeventfd(b, err)
		       : bus_register(pio, DOORBELL_PORT, 1, &exit_doorbell_ops, &b->line,
				      "doorbell (exit)", err)) < 0 ||
	    lib_vm_load_elf(&b->vm, guest, err) < 0) {
		bell_vm_destroy(b);
		return -1;
	}
	return 0;
}

/* After a timed-out run: the guest halted with interrupts enabled and
 * nothing left to wake it, although the host answered every doorbell
 * (the lost wake-up above, impossible where sti's shadow holds). */
static bool wakeup_was_lost(struct bell_vm *b)
{
	const struct vcpu *v = &b->vm.vcpus[0];
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	struct kvm_lapic_state lapic;
	uint64_t unread;
	if (ioctl(v->fd, KVM_GET_MP_STATE, &mp) < 0 || ioctl(v->fd, KVM_GET_REGS, &regs) < 0 ||
	    ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0)
		return false;
	/* IRR and ISR: 8 registers of 32 vectors each, 16 bytes apart. */
	unsigned word = (VECTOR / 32) * 16, bit = 1u << (VECTOR % 32);
	uint32_t irr, isr;
	memcpy(&irr, &lapic.regs[0x200 + word], sizeof(irr));
	memcpy(&isr, &lapic.regs[0x100 + word], sizeof(isr));
	bool unanswered = b->bell >= 0 && read(b->bell, &unread, sizeof(unread)) == sizeof(unread);
	return mp.mp_state == KVM_MP_STATE_HALTED && (regs.rflags & X86_EFLAGS_IF) &&
	       !(irr & bit) && !(isr & bit) && !unanswered;
}

/* Microseconds per round trip, from one whole run of the guest;
 * RUN_LOST_WAKEUP for the nested VM's lost wake-up. */
static int round_trip_us(enum kvmini_irqchip model, bool ioeventfd, const char *guest,
			 double *us, char *why, size_t whylen)
{
	static struct bell_vm b;
	struct kvmini_error err;
	if (bell_vm_create(&b, model, ioeventfd, guest, &err) < 0)
		return fail_with(why, whylen, "%s", err.msg);
	struct kvmini_result result;
	int rc = event_loop_start(b.loop, &err);
	if (rc == 0)
		vm_run(&b.vm, RUN_LIMIT_S, &result);
	if (rc < 0)
		fail_with(why, whylen, "%s", err.msg);
	else if (result.exit_status == KVMINI_E_TIMEOUT && wakeup_was_lost(&b))
		rc = RUN_LOST_WAKEUP;
	else if (result.exit_status != (((ROUND_TRIPS << 1) | 1) & 0xff) || b.marks.count != 2)
		rc = fail_with(why, whylen, "%s: the guest ended with status %d (%s) after %u marks",
			       ioeventfd ? "doorbell" : "exit", result.exit_status, result.message,
			       b.marks.count);
	else
		*us = (double)(b.marks.at_ns[1] - b.marks.at_ns[0]) / 1e3 / ROUND_TRIPS;
	bell_vm_destroy(&b);
	return rc;
}

/* One figure's run, run again after a lost wake-up (counted in *lost). */
static int round_trip_retried(enum kvmini_irqchip model, bool ioeventfd, const char *guest,
			      double *us, unsigned *lost, char *why, size_t whylen)
{
	int rc;
	while ((rc = round_trip_us(model, ioeventfd, guest, us, why, whylen)) == RUN_LOST_WAKEUP)
		if (++*lost > RETRIES_MAX)
			return fail_with(why, whylen, "%u runs lost a wake-up in sti's shadow", *lost);
	return rc;
}

static void measure_model(enum kvmini_irqchip model, const char *label, const char *guest)
{
	unsigned n = reps(ROUND_TRIP_REPS), lost = 0;
	double bell[ROUND_TRIP_REPS], exits[ROUND_TRIP_REPS], ratio[ROUND_TRIP_REPS];
	char why[256], row[96];
	for (unsigned i = 0; i < n; i++) {
		if (round_trip_retried(model, true, guest, &bell[i], &lost, why, sizeof(why)) < 0 ||
		    round_trip_retried(model, false, guest, &exits[i], &lost, why, sizeof(why)) < 0) {
			print_failure(label, why);
			return;
		}
		ratio[i] = bell[i] / exits[i];
	}
	if (lost)
		printf("  %s: %u run(s) lost a wake-up in sti's shadow and ran again (nested VM flaw)\n",
		       label, lost);
	snprintf(row, sizeof(row), "%s: ioeventfd -> loop -> irqfd", label);
	print_row(row, n, median(bell, n), "us");
	snprintf(row, sizeof(row), "%s: port-I/O exit raises the line", label);
	print_row(row, n, median(exits, n), "us");
	print_ratio("doorbell / exit (median of runs)", median(ratio, n), NULL, 0);
}

void fig_doorbell(const char *guest_dir)
{
	print_heading("(g) doorbell round trip: guest rings, host interrupts, handler runs",
		      "per round trip, 2000 per run; doorbell (no exit) next to a port-I/O exit");
	char guest[512];
	snprintf(guest, sizeof(guest), "%s/doorbell_bench.elf", guest_dir);
	measure_model(KVMINI_IRQCHIP_KERNEL, "kernel", guest);
	measure_model(KVMINI_IRQCHIP_SPLIT, "split", guest);
}
