/* (b) Port-I/O exits per second. The same real-mode loop (out %al,(%dx)
 * to port 0x80, PIO_ITERATIONS times, then hlt) runs
 *   raw       in a bare KVM_RUN loop on this thread that only counts exits;
 *   libkvmini in vm_run(): the vCPU thread, handle_exit(), the checks on
 *             the I/O exit and bus_access() into a device that counts.
 * VM creation and loading are untimed; the clock covers the run only
 * (for libkvmini that includes starting and joining the vCPU thread). */
#include <stdio.h>
#include "bench.h"

#define PIO_ITERATIONS 20000
#define PIO_REPS 15

struct pio_sample {
	double exits_per_s;
};

static double rate(uint64_t exits, uint64_t start, uint64_t stop)
{
	return (double)exits / ((double)(stop - start) / 1e9);
}

static int raw_port_io(struct pio_sample *s, char *why, size_t whylen)
{
	uint8_t code[GUEST_CODE_MAX];
	size_t len = guest_port_loop(code, PIO_ITERATIONS);
	struct raw_vm r;
	if (raw_vm_create(&r, BENCH_MEM_SIZE) < 0)
		return fail_with(why, whylen, "%s", r.error);
	if (raw_vm_enter_real(&r, code, len) < 0) {
		fail_with(why, whylen, "%s", r.error);
		raw_vm_destroy(&r);
		return -1;
	}
	uint64_t exits = 0, start = now_ns();
	int reason;
	while ((reason = raw_vm_run(&r)) == KVM_EXIT_IO)
		exits++;
	uint64_t stop = now_ns();
	raw_vm_destroy(&r);
	if (reason != KVM_EXIT_HLT || exits != PIO_ITERATIONS)
		return fail_with(why, whylen, "exit reason %d after %llu I/O exits",
				 reason, (unsigned long long)exits);
	s->exits_per_s = rate(exits, start, stop);
	return 0;
}

static int lib_port_io(struct pio_sample *s, char *why, size_t whylen)
{
	uint8_t code[GUEST_CODE_MAX];
	size_t len = guest_port_loop(code, PIO_ITERATIONS);
	struct kvmini_config cfg;
	lib_vm_config(&cfg);
	struct kvmini_error err;
	struct vm vm;
	if (vm_create(&vm, &cfg, &err) < 0)
		return fail_with(why, whylen, "%s", err.msg);
	uint64_t writes = 0;
	if (bus_register(&vm.pio, BENCH_MARK_PORT, 1, &counting_device_ops, &writes,
			 "counting device", &err) < 0 ||
	    lib_vm_load(&vm, code, len, KVMINI_MODE_REAL, &err) < 0) {
		vm_destroy(&vm);
		return fail_with(why, whylen, "%s", err.msg);
	}
	struct kvmini_result result;
	uint64_t start = now_ns();
	vm_run(&vm, 0, &result);
	uint64_t stop = now_ns();
	vm_destroy(&vm);
	if (result.status != KVMINI_OK || writes != PIO_ITERATIONS)
		return fail_with(why, whylen, "%s after %llu device writes", result.message,
				 (unsigned long long)writes);
	s->exits_per_s = rate(writes, start, stop);
	return 0;
}

/* Run both once, in an order that alternates between rounds so neither
 * always follows the other's VM teardown. */
static int run_pair(unsigned round, struct pio_sample *raw, struct pio_sample *lib)
{
	char why[256];
	for (unsigned k = 0; k < 2; k++) {
		bool raw_turn = (round + k) % 2 == 0;
		int rc = raw_turn ? raw_port_io(raw, why, sizeof(why))
				  : lib_port_io(lib, why, sizeof(why));
		if (rc < 0) {
			print_failure(raw_turn ? "raw KVM_RUN loop" : "libkvmini vm_run", why);
			return -1;
		}
	}
	return 0;
}

void fig_port_io(void)
{
	unsigned n = reps(PIO_REPS);
	double raw[PIO_REPS], lib[PIO_REPS], ratio[PIO_REPS];
	char note[128];
	snprintf(note, sizeof(note), "%d x out %%al,(%%dx) to port 0x%x per run, then hlt; run only",
		 PIO_ITERATIONS, BENCH_MARK_PORT);
	print_heading("(b) port-I/O exits handled per second", note);
	for (unsigned i = 0; i < n; i++) {
		struct pio_sample a = { 0 }, b = { 0 };
		if (run_pair(i, &a, &b) < 0)
			return;
		raw[i] = a.exits_per_s;
		lib[i] = b.exits_per_s;
		/* Back-to-back runs see the same host state: their ratio is
		 * steadier than the ratio of two medians. */
		ratio[i] = b.exits_per_s / a.exits_per_s;
	}
	double raw_rate = median(raw, n), lib_rate = median(lib, n);
	print_row("raw KVM_RUN loop, no dispatch (exits/s)", n, raw_rate, "/s");
	print_row("libkvmini vCPU loop + bus dispatch (exits/s)", n, lib_rate, "/s");
	print_row("raw: time per exit", n, 1e6 / raw_rate, "us");
	print_row("libkvmini: time per exit", n, 1e6 / lib_rate, "us");
	print_ratio("libkvmini / raw (median of pairs)", median(ratio, n), ">=", 0.95);
}
