/* (e) Interrupt delivery with KVM's in-kernel irqchip, and with the
 * split one (kvmini's 8259 pair and IOAPIC, KVM's local APICs).
 *   injections: KVM_IRQ_LINE raise + lower pairs per second, raw ioctls
 *     on a bare VM fd vs the irq_line handle a kvmini device is given
 *     (vm_irq_line), which ends in the same ioctl; with the split chip
 *     the handle reaches kvmini's 8259 and IOAPIC instead (no guest
 *     runs, so no ioctl follows);
 *   latency: from a device raising IRQ 4 to the guest's handler running,
 *     timed as the handler's OUT exit reaching a port device
 *     (guests/irq_latency.c), next to one bare exit round trip (b). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "bench.h"
#include "vcpu.h"
#include "arch/x86/cpu_mode.h"
#include "loaders/loader.h"
#include "event_loop.h"
#include "board/split_irqchip.h"

#define INJECTIONS 20000
#define INJECT_REPS 9
#define LATENCY_SAMPLES 201
#define WAIT_NS 2000000000ULL
#define IRQ_COM1 4

static double pairs_per_s(uint64_t start, uint64_t stop)
{
	return INJECTIONS / ((double)(stop - start) / 1e9);
}

static int raw_injections(double *rate, char *why, size_t whylen)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int vm = kvm < 0 ? -1 : ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0 || ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) {
		fail_with(why, whylen, "raw VM with irqchip: %s", strerror(errno));
		goto out;
	}
	uint64_t start = now_ns();
	for (unsigned i = 0; i < INJECTIONS; i++) {
		struct kvm_irq_level up = { .irq = IRQ_COM1, .level = 1 };
		struct kvm_irq_level down = { .irq = IRQ_COM1, .level = 0 };
		ioctl(vm, KVM_IRQ_LINE, &up);
		ioctl(vm, KVM_IRQ_LINE, &down);
	}
	*rate = pairs_per_s(start, now_ns());
out:
	if (vm >= 0)
		close(vm);
	if (kvm >= 0)
		close(kvm);
	return vm >= 0 && *rate > 0 ? 0 : -1;
}

/* A benchmark VM with an interrupt controller: KVM's, or the split
 * one, whose devices machine.c would attach. */
struct irq_vm {
	struct vm vm;
	struct event_loop *loop;     /* the PIT's timer; started with the vCPUs */
	struct split_irqchip *split;
};

static void destroy_irqchip_vm(struct irq_vm *v)
{
	event_loop_stop(v->loop);
	split_irqchip_destroy(v->split);
	vm_destroy(&v->vm);
	event_loop_destroy(v->loop);
}

static int create_irqchip_vm(struct irq_vm *v, enum kvmini_irqchip model, char *why,
			     size_t whylen)
{
	struct kvmini_config cfg;
	lib_vm_config(&cfg);
	cfg.irqchip = model;
	struct kvmini_error err;
	v->split = NULL;
	if (!(v->loop = event_loop_create("evloop", &err)))
		return fail_with(why, whylen, "%s", err.msg);
	if (vm_create(&v->vm, &cfg, &err) < 0) {
		event_loop_destroy(v->loop);
		return fail_with(why, whylen, "%s", err.msg);
	}
	if (model == KVMINI_IRQCHIP_SPLIT &&
	    !(v->split = split_irqchip_create(&v->vm, v->loop, &err))) {
		destroy_irqchip_vm(v);
		return fail_with(why, whylen, "%s", err.msg);
	}
	return 0;
}

static int lib_injections(enum kvmini_irqchip model, double *rate, char *why, size_t whylen)
{
	struct irq_vm v;
	if (create_irqchip_vm(&v, model, why, whylen) < 0)
		return -1;
	struct irq_line line = vm_irq_line(&v.vm, IRQ_COM1);
	uint64_t start = now_ns();
	for (unsigned i = 0; i < INJECTIONS; i++) {
		irq_line_set(&line, true);
		irq_line_set(&line, false);
	}
	*rate = pairs_per_s(start, now_ns());
	destroy_irqchip_vm(&v);
	return 0;
}

/* ---- latency ---- */

struct probe {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool ready;
	unsigned handled;
	uint64_t handled_at;
};

static void probe_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)data, (void)len;
	struct probe *p = opaque;
	uint64_t t = now_ns();
	pthread_mutex_lock(&p->lock);
	if (offset == 1) {
		p->ready = true;
	} else {
		p->handled++;
		p->handled_at = t;
	}
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static const struct bus_device_ops probe_ops = { .write = probe_write };

/* Wait until `done(p)` or two seconds pass; false on timeout. */
static bool probe_wait(struct probe *p, bool (*done)(struct probe *, unsigned), unsigned arg)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += WAIT_NS / 1000000000ULL;
	bool ok = true;
	pthread_mutex_lock(&p->lock);
	while (!done(p, arg) && ok)
		ok = pthread_cond_timedwait(&p->cond, &p->lock, &deadline) == 0;
	pthread_mutex_unlock(&p->lock);
	return ok || done(p, arg);
}

static bool is_ready(struct probe *p, unsigned arg) { (void)arg; return p->ready; }
static bool has_handled(struct probe *p, unsigned n) { return p->handled >= n; }

struct runner {
	struct vm *vm;
	struct kvmini_result result;
};

static void *run_vm(void *arg)
{
	struct runner *r = arg;
	vm_run(r->vm, 0, &r->result);
	return NULL;
}

static int measure_latency(enum kvmini_irqchip model, const char *guest, double *samples,
			   char *why, size_t whylen)
{
	struct irq_vm v;
	if (create_irqchip_vm(&v, model, why, whylen) < 0)
		return -1;
	struct vm *vm = &v.vm;
	struct kvmini_error err;
	struct probe p = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	int rc = -1;
	if (bus_register(&vm->pio, BENCH_MARK_PORT, 2, &probe_ops, &p, "irq probe", &err) < 0 ||
	    lib_vm_load_elf(vm, guest, &err) < 0) {
		fail_with(why, whylen, "%s", err.msg);
		destroy_irqchip_vm(&v);
		return -1;
	}
	struct runner runner = { .vm = vm };
	pthread_t thread;
	if (event_loop_start(v.loop, &err) < 0) {
		fail_with(why, whylen, "%s", err.msg);
		destroy_irqchip_vm(&v);
		return -1;
	}
	pthread_create(&thread, NULL, run_vm, &runner);
	struct irq_line line = vm_irq_line(vm, IRQ_COM1);
	if (!probe_wait(&p, is_ready, 0)) {
		fail_with(why, whylen, "the guest never reported ready");
		goto stop;
	}
	for (unsigned i = 0; i < LATENCY_SAMPLES; i++) {
		uint64_t raised = now_ns();
		irq_line_set(&line, true);
		irq_line_set(&line, false);
		if (!probe_wait(&p, has_handled, i + 1)) {
			fail_with(why, whylen, "interrupt %u never reached the handler", i + 1);
			goto stop;
		}
		samples[i] = (double)(p.handled_at - raised) / 1e3;
	}
	rc = 0;
stop:
	vm_request_stop(vm, KVMINI_OK, 0, "bench done");
	pthread_join(thread, NULL);
	destroy_irqchip_vm(&v);
	return rc;
}

void fig_interrupts(const char *guest_dir)
{
	print_heading("(e) interrupt delivery, in-kernel and split irqchip",
		      "KVM_IRQ_LINE raise+lower pairs; latency: IRQ 4 raised -> guest handler's OUT exit");
	double raw[INJECT_REPS], lib[INJECT_REPS], split[INJECT_REPS], ratio[INJECT_REPS];
	char why[256];
	for (unsigned i = 0; i < INJECT_REPS; i++) {
		if (raw_injections(&raw[i], why, sizeof(why)) < 0 ||
		    lib_injections(KVMINI_IRQCHIP_KERNEL, &lib[i], why, sizeof(why)) < 0 ||
		    lib_injections(KVMINI_IRQCHIP_SPLIT, &split[i], why, sizeof(why)) < 0) {
			print_failure("injections", why);
			return;
		}
		ratio[i] = lib[i] / raw[i];
	}
	print_row("raw KVM_IRQ_LINE pairs/s", INJECT_REPS, median(raw, INJECT_REPS), "/s");
	print_row("kvmini irq_line pairs/s", INJECT_REPS, median(lib, INJECT_REPS), "/s");
	print_ratio("kvmini / raw (median of pairs)", median(ratio, INJECT_REPS), NULL, 0);
	print_row("split: irq_line pairs/s (8259+IOAPIC)", INJECT_REPS,
		  median(split, INJECT_REPS), "/s");

	char guest[512];
	snprintf(guest, sizeof(guest), "%s/irq_latency.elf", guest_dir);
	static double samples[LATENCY_SAMPLES];
	static const struct { enum kvmini_irqchip model; const char *label; } latency[] = {
		{ KVMINI_IRQCHIP_KERNEL, "IRQ 4 raised -> handler's OUT exit" },
		{ KVMINI_IRQCHIP_SPLIT, "split: IRQ 4 -> handler (8259, ExtINT)" },
	};
	for (unsigned m = 0; m < 2; m++) {
		if (measure_latency(latency[m].model, guest, samples, why, sizeof(why)) < 0) {
			print_failure(latency[m].label, why);
			continue;
		}
		print_row(latency[m].label, LATENCY_SAMPLES, median(samples, LATENCY_SAMPLES), "us");
	}
}
