/* (a) From nothing to the first guest exit: creating the VM and its vCPU,
 * loading the built-in demo and entering the guest, timed three ways:
 *   raw     the hand-written ioctl sequence (raw_vm.c), KVM_RUN on this thread;
 *   layers  libkvmini's internal layers with a timestamping device on COM1,
 *           so the clock stops at the first exit, inside the vCPU thread;
 *   api     kvmini_vm_create + kvmini_vm_load + kvmini_vm_run, timed until
 *           the run returns (the demo's two COM1 writes and its hlt).
 * The raw variant is also timed to its hlt to pair with api. Teardown
 * comes after the clock stops in every variant. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"
#include "arch/x86/cpuid.h"
#include "devices/debug_exit.h"
#include "devices/uart16550.h"

#define STARTUP_REPS 51

struct startup_times {
	double first_exit_ms;
	double stop_ms;
	double tail_ms;         /* last OUT exit -> the run returns (hlt + wind-down) */
	double teardown_ms;     /* destroying the VM, after the clock above stopped */
};

static double ms_since(uint64_t start, uint64_t end)
{
	return (double)(end - start) / 1e6;
}

/* KVM_RUN until the demo halts, noting when the first and last OUT
 * exits came back. Returns the final exit reason (-1: KVM_RUN failed). */
static int raw_run_demo(struct raw_vm *r, uint64_t *first, uint64_t *last)
{
	int reason;
	*first = *last = 0;
	while ((reason = raw_vm_run(r)) == KVM_EXIT_IO) {
		*last = now_ns();
		if (!*first)
			*first = *last;
		raw_vm_write_io(r, devnull_fd());
	}
	return reason;
}

static int raw_startup(struct startup_times *t, char *why, size_t whylen)
{
	struct kvmini_image demo;
	kvmini_demo_image(&demo);
	struct raw_vm r;
	uint64_t start = now_ns(), first, last;
	if (raw_vm_create(&r, BENCH_MEM_SIZE) < 0 ||
	    raw_vm_enter_real(&r, demo.data, demo.size) < 0) {
		fail_with(why, whylen, "%s", r.error);
		raw_vm_destroy(&r);
		return -1;
	}
	int reason = raw_run_demo(&r, &first, &last);
	uint64_t stop = now_ns();
	if (reason != KVM_EXIT_HLT || !first)
		fail_with(why, whylen, "demo stopped with exit reason %d %s", reason,
			  reason < 0 ? r.error : "");
	raw_vm_destroy(&r);
	t->teardown_ms = ms_since(stop, now_ns());
	t->first_exit_ms = ms_since(start, first);
	t->stop_ms = ms_since(start, stop);
	t->tail_ms = ms_since(last, stop);
	return reason == KVM_EXIT_HLT && first ? 0 : -1;
}

/* The devices kvmini_vm_create attaches, except that a marker takes the
 * UART's place to timestamp the demo's first OUT. */
static int layers_attach(struct vm *vm, struct marker *mark, struct debug_exit *exit,
			 struct kvmini_error *err)
{
	if (bus_register(&vm->pio, UART_COM1_BASE, UART_NREGS, &marker_ops, mark,
			 "first-exit marker", err) < 0 ||
	    lib_vm_add_debug_exit(vm, exit, err) < 0)
		return -1;
	return 0;
}

static int layers_startup(struct startup_times *t, char *why, size_t whylen)
{
	struct kvmini_config cfg;
	lib_vm_config(&cfg);
	struct kvmini_image demo;
	kvmini_demo_image(&demo);
	struct marker mark = { .count = 0 };
	struct debug_exit exit;
	struct kvmini_error err;
	struct vm vm;
	uint64_t start = now_ns();
	if (vm_create(&vm, &cfg, &err) < 0)
		return fail_with(why, whylen, "%s", err.msg);
	struct kvmini_result result = { .status = KVMINI_OK };
	int rc = layers_attach(&vm, &mark, &exit, &err) < 0 ||
		 lib_vm_load(&vm, demo.data, demo.size, KVMINI_MODE_REAL, &err) < 0 ? -1 : 0;
	if (rc == 0)
		vm_run(&vm, 0, &result);
	uint64_t stop = now_ns();
	vm_destroy(&vm);
	t->teardown_ms = ms_since(stop, now_ns());
	if (rc < 0)
		return fail_with(why, whylen, "%s", err.msg);
	if (result.status != KVMINI_OK || mark.count != 2)
		return fail_with(why, whylen, "demo did not run: %s", result.message);
	t->first_exit_ms = ms_since(start, mark.at_ns[0]);
	t->stop_ms = ms_since(start, stop);
	t->tail_ms = ms_since(mark.at_ns[1], stop);
	return 0;
}

static int api_startup(struct startup_times *t, char *why, size_t whylen)
{
	struct kvmini_config cfg;
	lib_vm_config(&cfg);
	struct kvmini_image demo;
	kvmini_demo_image(&demo);
	struct kvmini_error err;
	struct kvmini_result result = { .status = KVMINI_OK };
	uint64_t start = now_ns();
	struct kvmini_vm *vm = kvmini_vm_create(&cfg, &err);
	if (!vm)
		return fail_with(why, whylen, "%s", err.msg);
	int rc = kvmini_vm_load(vm, &demo, &err);
	if (rc == 0)
		kvmini_vm_run(vm, &result);
	uint64_t stop = now_ns();
	kvmini_vm_destroy(vm);
	t->teardown_ms = ms_since(stop, now_ns());
	if (rc < 0)
		return fail_with(why, whylen, "%s", err.msg);
	if (result.status != KVMINI_OK)
		return fail_with(why, whylen, "demo did not halt: %s", result.message);
	t->first_exit_ms = t->tail_ms = 0;   /* not observable through the public API */
	t->stop_ms = ms_since(start, stop);
	return 0;
}

typedef int startup_fn(struct startup_times *t, char *why, size_t whylen);

enum { V_RAW, V_LAYERS, V_API, NVARIANTS };
static startup_fn *const variants[NVARIANTS] = { raw_startup, layers_startup, api_startup };
static const char *const variant_names[NVARIANTS] = { "raw", "libkvmini layers", "libkvmini API" };

/* One warm-up round, then n rounds; the order rotates every round so no
 * variant always runs right after another's teardown. */
static int collect(unsigned n, struct startup_times samples[NVARIANTS][STARTUP_REPS])
{
	char why[256];
	for (unsigned round = 0; round <= n; round++) {
		for (unsigned k = 0; k < NVARIANTS; k++) {
			unsigned v = (round + k) % NVARIANTS;
			struct startup_times t;
			if (variants[v](&t, why, sizeof(why)) < 0) {
				print_failure(variant_names[v], why);
				return -1;
			}
			if (round > 0)
				samples[v][round - 1] = t;
		}
	}
	return 0;
}

enum startup_field { FIRST_EXIT, STOP, TAIL, TEARDOWN };

static double median_of(struct startup_times *s, unsigned n, enum startup_field field)
{
	double values[STARTUP_REPS];
	for (unsigned i = 0; i < n; i++)
		values[i] = field == FIRST_EXIT ? s[i].first_exit_ms
			  : field == STOP ? s[i].stop_ms
			  : field == TAIL ? s[i].tail_ms : s[i].teardown_ms;
	return median(values, n);
}

/* One timing of each way to get the supported-CPUID table; returns the
 * table's entry count, 0 on failure. */
static unsigned time_cpuid_once(int kvm_fd, double *raw_ms, double *lib_ms)
{
	uint64_t start = now_ns();
	struct kvm_cpuid2 *table = raw_supported_cpuid(kvm_fd);
	uint64_t mid = now_ns();
	struct x86_cpuid cpuid;
	struct kvmini_error err;
	int rc = x86_cpuid_init(&cpuid, kvm_fd, &err);
	uint64_t end = now_ns();
	unsigned entries = table && rc == 0 ? table->nent : 0;
	free(table);
	if (rc == 0)
		x86_cpuid_free(&cpuid);
	*raw_ms = ms_since(start, mid);
	*lib_ms = ms_since(mid, end);
	return entries;
}

/* The CPUID step alone, where the two differ by more than a few cheap
 * syscalls: KVM builds the table afresh on every call, and on this
 * host (nested, PVM) one call costs a good part of a millisecond. */
static void print_cpuid_breakdown(unsigned n)
{
	double raw[STARTUP_REPS], lib[STARTUP_REPS];
	unsigned entries = 0;
	int kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	for (unsigned i = 0; kvm_fd >= 0 && i < n; i++) {
		entries = time_cpuid_once(kvm_fd, &raw[i], &lib[i]);
		if (!entries)
			break;
	}
	if (kvm_fd >= 0)
		close(kvm_fd);
	if (!entries) {
		print_failure("CPUID breakdown", "KVM_GET_SUPPORTED_CPUID failed");
		return;
	}
	printf("  of which the CPUID table (this host's has %u entries):\n", entries);
	print_row("  raw: one KVM_GET_SUPPORTED_CPUID, 256 slots", n, median(raw, n), "ms");
	print_row("  libkvmini: x86_cpuid_init()", n, median(lib, n), "ms");
}

void fig_startup(void)
{
	static struct startup_times samples[NVARIANTS][STARTUP_REPS];
	unsigned n = reps(STARTUP_REPS);
	print_heading("(a) VM + vCPU creation to the first guest exit (built-in demo)",
		      "64 MiB RAM + MADV_HUGEPAGE, 1 vCPU, real mode at 0x7c00; teardown untimed");
	if (collect(n, samples) < 0)
		return;
	double raw_first = median_of(samples[V_RAW], n, FIRST_EXIT);
	double lay_first = median_of(samples[V_LAYERS], n, FIRST_EXIT);
	double raw_stop = median_of(samples[V_RAW], n, STOP);
	double api_stop = median_of(samples[V_API], n, STOP);
	print_row("raw ioctls: open /dev/kvm -> first IO exit", n, raw_first, "ms");
	print_row("libkvmini layers: vm_create -> first IO exit", n, lay_first, "ms");
	print_ratio("libkvmini layers / raw", lay_first / raw_first, "<=", 1.10);
	print_cpuid_breakdown(n);
	print_row("raw ioctls: open -> hlt (2 IO exits + hlt)", n, raw_stop, "ms");
	print_row("libkvmini API: create+load+run -> stopped", n, api_stop, "ms");
	print_ratio("libkvmini API / raw (to hlt)", api_stop / raw_stop, "<=", 1.10);
	printf("  of which the wind-down, from the last OUT exit to the run returning:\n");
	print_row("  raw: hlt exit, loop ends", n, median_of(samples[V_RAW], n, TAIL), "ms");
	print_row("  libkvmini layers: hlt, stop, join thread", n,
		  median_of(samples[V_LAYERS], n, TAIL), "ms");
	printf("  teardown, after the clock stopped (KVM destroys the VM on close):\n");
	print_row("  raw: munmap, close vcpu/vm/kvm fds", n,
		  median_of(samples[V_RAW], n, TEARDOWN), "ms");
	print_row("  libkvmini API: kvmini_vm_destroy()", n,
		  median_of(samples[V_API], n, TEARDOWN), "ms");
}
