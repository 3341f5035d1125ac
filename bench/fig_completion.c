/* (i) Instructions completed in user space per second, next to plain
 * port-I/O exits, both through libkvmini's vm_run() in the same run:
 *   port-I/O   out %al,(%dx) COMPLETION_ITERATIONS times, a counting device;
 *   completion popcnt %bx,%ax as often: on a host whose KVM emulates real
 *              mode (PVM) each is an emulation failure that
 *              src/completion.c reads the vCPU's state for, completes
 *              and writes back. Where the CPU runs it (VT-x's
 *              unrestricted guest) nothing is completed, and the figure
 *              says so instead of a rate. */
#include <stdio.h>
#include "bench.h"

#define COMPLETION_ITERATIONS 5000
#define COMPLETION_REPS 7

/* Run `code` in real mode in a fresh VM; *events counts the device's
 * writes (port loop) or the completions of popcnt. */
static int run_loop(const uint8_t *code, size_t len, bool port, double *per_s,
		    uint64_t *events, char *why, size_t whylen)
{
	struct kvmini_config cfg;
	struct kvmini_error err;
	struct vm vm;
	uint64_t writes = 0;
	lib_vm_config(&cfg);
	if (vm_create(&vm, &cfg, &err) < 0)
		return fail_with(why, whylen, "%s", err.msg);
	if ((port && bus_register(&vm.pio, BENCH_MARK_PORT, 1, &counting_device_ops, &writes,
				  "counting device", &err) < 0) ||
	    lib_vm_load(&vm, code, len, KVMINI_MODE_REAL, &err) < 0) {
		vm_destroy(&vm);
		return fail_with(why, whylen, "%s", err.msg);
	}
	struct kvmini_result result;
	uint64_t start = now_ns();
	vm_run(&vm, 0, &result);
	uint64_t stop = now_ns();
	*events = port ? writes : vm.completions[X86_KIND_POPCNT];
	vm_destroy(&vm);
	if (result.status != KVMINI_OK)
		return fail_with(why, whylen, "%s", result.message);
	*per_s = (double)*events / ((double)(stop - start) / 1e9);
	return 0;
}

void fig_completion(void)
{
	uint8_t port_code[GUEST_CODE_MAX], popcnt_code[GUEST_CODE_MAX];
	size_t port_len = guest_port_loop(port_code, COMPLETION_ITERATIONS);
	size_t popcnt_len = guest_popcnt_loop(popcnt_code, COMPLETION_ITERATIONS);
	unsigned n = reps(COMPLETION_REPS);
	double port[COMPLETION_REPS], done[COMPLETION_REPS];
	char note[128], why[256];
	snprintf(note, sizeof(note), "%d x out, then %d x popcnt, real mode, per run",
		 COMPLETION_ITERATIONS, COMPLETION_ITERATIONS);
	print_heading("(i) instructions completed in user space per second", note);
	for (unsigned i = 0; i < n; i++) {
		uint64_t events;
		if (run_loop(port_code, port_len, true, &port[i], &events, why, sizeof(why)) < 0 ||
		    run_loop(popcnt_code, popcnt_len, false, &done[i], &events, why, sizeof(why)) < 0) {
			print_failure("port-I/O or completion loop", why);
			return;
		}
		if (events == 0) {
			print_failure("completion loop", "no popcnt was completed: this host's CPU "
				      "ran them (no emulation failure to complete)");
			return;
		}
		if (events != COMPLETION_ITERATIONS) {
			snprintf(why, sizeof(why), "%llu of %d popcnt completed",
				 (unsigned long long)events, COMPLETION_ITERATIONS);
			print_failure("completion loop", why);
			return;
		}
	}
	double port_rate = median(port, n), done_rate = median(done, n);
	print_row("port-I/O exits (exits/s)", n, port_rate, "/s");
	print_row("popcnt completions (completions/s)", n, done_rate, "/s");
	print_row("time per port-I/O exit", n, 1e6 / port_rate, "us");
	print_row("time per completion", n, 1e6 / done_rate, "us");
	print_ratio("completions / port-I/O exits", done_rate / port_rate, NULL, 0);
}
