/* (d) Guest memory first touch. A 32-bit protected-mode guest writes one
 * byte in every 4 KiB page of its 64 MiB, twice, and marks the start and
 * end of each pass with an OUT that a marker device timestamps. Pass 1
 * pays for faulting memory in; pass 2 runs the same instructions on
 * memory already there, so pass 1 - pass 2 is the fault cost without
 * the (emulated, on this host) instructions. With --mem-prefault the
 * host pages are populated at creation, so that time is shown too. */
#include <stdio.h>
#include "bench.h"

#define TOUCH_REPS 9

struct touch_config {
	const char *name;
	bool shared, prefault;
};

static const struct touch_config touch_configs[] = {
	{ "default: anonymous + THP hint", false, false },
	{ "--mem-prefault", false, true },
	{ "--mem-shared (memfd)", true, false },
};
#define NCONFIGS (sizeof(touch_configs) / sizeof(touch_configs[0]))

struct touch_sample {
	double create_ms, pass1_ms, pass2_ms;
};

static double ms_between(uint64_t a, uint64_t b)
{
	return (double)(b - a) / 1e6;
}

static int touch_run(struct vm *vm, struct marker *mark, struct kvmini_error *err,
		     struct kvmini_result *result)
{
	uint8_t code[GUEST_CODE_MAX];
	size_t len = guest_touch_pages(code, (uint32_t)BENCH_MEM_SIZE);
	if (bus_register(&vm->pio, BENCH_MARK_PORT, 1, &marker_ops, mark,
			 "pass marker", err) < 0 ||
	    lib_vm_load(vm, code, len, KVMINI_MODE_PROTECTED, err) < 0)
		return -1;
	vm_run(vm, 0, result);
	return 0;
}

static int touch_once(const struct touch_config *c, struct touch_sample *s,
		      char *why, size_t whylen)
{
	struct kvmini_config cfg;
	lib_vm_config(&cfg);
	cfg.mem_shared = c->shared;
	cfg.mem_prefault = c->prefault;
	struct kvmini_error err;
	struct kvmini_result result;
	struct marker mark = { .count = 0 };
	struct vm vm;
	uint64_t start = now_ns();
	if (vm_create(&vm, &cfg, &err) < 0)
		return fail_with(why, whylen, "%s", err.msg);
	uint64_t created = now_ns();
	int rc = touch_run(&vm, &mark, &err, &result);
	vm_destroy(&vm);
	if (rc < 0)
		return fail_with(why, whylen, "%s", err.msg);
	if (result.status != KVMINI_OK || mark.count != 3)
		return fail_with(why, whylen, "%u of 3 marks, then: %s", mark.count, result.message);
	s->create_ms = ms_between(start, created);
	s->pass1_ms = ms_between(mark.at_ns[0], mark.at_ns[1]);
	s->pass2_ms = ms_between(mark.at_ns[1], mark.at_ns[2]);
	return 0;
}

static void print_config(const struct touch_config *c, struct touch_sample *s, unsigned n)
{
	double create[TOUCH_REPS], pass1[TOUCH_REPS], pass2[TOUCH_REPS];
	double faults[TOUCH_REPS], total[TOUCH_REPS];
	for (unsigned i = 0; i < n; i++) {
		create[i] = s[i].create_ms;
		pass1[i] = s[i].pass1_ms;
		pass2[i] = s[i].pass2_ms;
		faults[i] = s[i].pass1_ms - s[i].pass2_ms;
		total[i] = s[i].create_ms + faults[i];
	}
	printf("  %s\n", c->name);
	print_row("  VM creation (includes any prefault)", n, median(create, n), "ms");
	print_row("  pass 1: first touch of 16384 pages", n, median(pass1, n), "ms");
	print_row("  pass 2: same loop, pages present", n, median(pass2, n), "ms");
	print_row("  first-touch cost (pass 1 - pass 2)", n, median(faults, n), "ms");
	print_row("  creation + first-touch cost", n, median(total, n), "ms");
}

void fig_first_touch(void)
{
	static struct touch_sample samples[NCONFIGS][TOUCH_REPS];
	unsigned n = reps(TOUCH_REPS);
	char why[256];
	print_heading("(d) guest memory first touch: 64 MiB, one byte per 4 KiB page",
		      "32-bit protected-mode guest; OUT marks timestamp each pass");
	/* Configurations take turns so host drift hits each alike. */
	for (unsigned i = 0; i < n; i++) {
		for (unsigned k = 0; k < NCONFIGS; k++) {
			if (touch_once(&touch_configs[k], &samples[k][i], why, sizeof(why)) < 0) {
				print_failure(touch_configs[k].name, why);
				return;
			}
		}
	}
	for (unsigned k = 0; k < NCONFIGS; k++)
		print_config(&touch_configs[k], samples[k], n);
}
