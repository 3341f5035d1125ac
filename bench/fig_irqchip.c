/* (f) The interrupt-controller models (--irqchip none, split, kernel)
 * on one guest that ends with any of them: the demo's "4\n" on COM1,
 * then the debug-exit port (status 1), as raw bytes at 0x7c00
 * (guest_demo_exit). Two views:
 *   a VM's life inside one process, through the public API:
 *     kvmini_vm_create + kvmini_vm_load, kvmini_vm_run,
 *     kvmini_vm_destroy, each timed on its own;
 *   whole processes, as (c) measures them: `kvmini run --irqchip M
 *     IMAGE` for each model, next to the raw-ioctl VMM floor and the
 *     default `kvmini run` of the built-in demo.
 * The models take turns in every round, so host drift hits each alike. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"

#define LIFECYCLE_RUNS 31
#define PROCESS_RUNS 101
#define MODELS 3
#define TARGET_VS_FLOOR 1.5   /* the whole-process goal for the demo */

static const enum kvmini_irqchip models[MODELS] = {
	KVMINI_IRQCHIP_NONE, KVMINI_IRQCHIP_SPLIT, KVMINI_IRQCHIP_KERNEL,
};
static const char *const model_names[MODELS] = { "none", "split", "kernel" };

/* ---- in the process ---- */

struct lifecycle {
	double create_ms[LIFECYCLE_RUNS], run_ms[LIFECYCLE_RUNS], destroy_ms[LIFECYCLE_RUNS];
};

static double ms_between(uint64_t from, uint64_t to)
{
	return (double)(to - from) / 1e6;
}

static int one_life(enum kvmini_irqchip model, const struct kvmini_image *img,
		    struct lifecycle *l, unsigned slot, char *why, size_t whylen)
{
	struct kvmini_config cfg;
	lib_vm_config(&cfg);
	cfg.irqchip = model;
	cfg.timeout = 10;
	struct kvmini_error err;
	uint64_t t0 = now_ns();
	struct kvmini_vm *vm = kvmini_vm_create(&cfg, &err);
	if (!vm || kvmini_vm_load(vm, img, &err) < 0) {
		kvmini_vm_destroy(vm);
		return fail_with(why, whylen, "%s", err.msg);
	}
	uint64_t t1 = now_ns();
	struct kvmini_result result;
	int status = kvmini_vm_run(vm, &result);
	uint64_t t2 = now_ns();
	kvmini_vm_destroy(vm);
	uint64_t t3 = now_ns();
	if (status != 1)
		return fail_with(why, whylen, "status %d: %s", status, result.message);
	l->create_ms[slot] = ms_between(t0, t1);
	l->run_ms[slot] = ms_between(t1, t2);
	l->destroy_ms[slot] = ms_between(t2, t3);
	return 0;
}

static int measure_lives(const struct kvmini_image *img, struct lifecycle *lives,
			 unsigned n, char *why, size_t whylen)
{
	/* Each round starts with a different model: the one after kernel's
	 * teardown would otherwise always meet its deferred work. */
	for (unsigned i = 0; i < n; i++)
		for (unsigned k = 0; k < MODELS; k++) {
			unsigned m = (i + k) % MODELS;
			if (one_life(models[m], img, &lives[m], i, why, whylen) < 0)
				return -1;
		}
	return 0;
}

static void print_lives(struct lifecycle *lives, unsigned n)
{
	char label[64];
	for (unsigned m = 0; m < MODELS; m++) {
		snprintf(label, sizeof(label), "--irqchip %s: create + load", model_names[m]);
		print_row(label, n, median(lives[m].create_ms, n), "ms");
		snprintf(label, sizeof(label), "--irqchip %s: run", model_names[m]);
		print_row(label, n, median(lives[m].run_ms, n), "ms");
		snprintf(label, sizeof(label), "--irqchip %s: destroy", model_names[m]);
		print_row(label, n, median(lives[m].destroy_ms, n), "ms");
	}
}

/* ---- whole processes ---- */

static int write_image(char *path, size_t size, const uint8_t *code, size_t len,
		       char *why, size_t whylen)
{
	snprintf(path, size, "/tmp/kvmini-bench-demo-exit-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return fail_with(why, whylen, "mkstemp: %s", strerror(errno));
	ssize_t n = write(fd, code, len);
	close(fd);
	if (n != (ssize_t)len) {
		unlink(path);
		return fail_with(why, whylen, "cannot write %s", path);
	}
	return 0;
}

/* Rows: the floor, the default demo, then each model on the image. */
#define PROCESSES (2 + MODELS)

static void measure_whole(const char *kvmini_path, const char *self, const char *image)
{
	char *const floor_argv[] = { (char *)self, RAW_DEMO_FLAG, NULL };
	char *const demo_argv[] = { (char *)kvmini_path, "run", NULL };
	char *model_argv[MODELS][6];
	for (unsigned m = 0; m < MODELS; m++) {
		char *const argv[] = { (char *)kvmini_path, "run", "--irqchip",
				       (char *)model_names[m], (char *)image, NULL };
		memcpy(model_argv[m], argv, sizeof(argv));
	}
	static double ms[PROCESSES][PROCESS_RUNS], rss[PROCESSES][PROCESS_RUNS];
	struct process_command cmds[PROCESSES] = {
		{ floor_argv, "4\n", 0, ms[0], rss[0] },
		{ demo_argv, "4\n", 0, ms[1], rss[1] },
	};
	for (unsigned m = 0; m < MODELS; m++)
		cmds[2 + m] = (struct process_command){ model_argv[m], "4\n", 1, ms[2 + m], rss[2 + m] };
	unsigned n = reps(PROCESS_RUNS);
	char why[512];
	if (measure_processes(cmds, PROCESSES, n, why, sizeof(why)) < 0) {
		print_failure("whole process", why);
		return;
	}
	double floor_ms = median(ms[0], n);
	print_row("raw-ioctl VMM process (the floor, as (c))", n, floor_ms, "ms");
	print_row("kvmini run (built-in demo, default none)", n, median(ms[1], n), "ms");
	print_ratio("kvmini run / floor", median(ms[1], n) / floor_ms, "<=", TARGET_VS_FLOOR);
	char label[64];
	for (unsigned m = 0; m < MODELS; m++) {
		snprintf(label, sizeof(label), "kvmini run --irqchip %s IMAGE", model_names[m]);
		print_row(label, n, median(ms[2 + m], n), "ms");
		snprintf(label, sizeof(label), "--irqchip %s / floor", model_names[m]);
		print_ratio(label, median(ms[2 + m], n) / floor_ms, "<=", TARGET_VS_FLOOR);
	}
}

void fig_irqchip(const char *kvmini_path, const char *self)
{
	print_heading("(f) interrupt-controller models: one VM's life, and whole processes",
		      "guest: \"4\\n\" on COM1, then debug-exit (raw, real mode at 0x7c00)");
	uint8_t code[GUEST_CODE_MAX];
	size_t len = guest_demo_exit(code);
	struct kvmini_image img = {
		.format = KVMINI_FORMAT_RAW, .path = "bench demo with debug-exit",
		.data = code, .size = len, .mode_set = true, .mode = KVMINI_MODE_REAL,
	};
	static struct lifecycle lives[MODELS];
	unsigned n = reps(LIFECYCLE_RUNS);
	char why[512];
	if (measure_lives(&img, lives, n, why, sizeof(why)) < 0)
		print_failure("VM life in the process", why);
	else
		print_lives(lives, n);

	char image[64];
	if (write_image(image, sizeof(image), code, len, why, sizeof(why)) < 0) {
		print_failure("whole process", why);
		return;
	}
	measure_whole(kvmini_path, self, image);
	unlink(image);
}
