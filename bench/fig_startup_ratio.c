/* (h) Start-up at the floor: `kvmini run` (the 2+2 demo) as a whole
 * process next to raw_sample (bench/tools/raw_sample.c), the smallest
 * VMM there is, linked against libc only, run the same way and taking
 * turns with it. The goal is kvmini / raw_sample <= 1.3. Two
 * more processes say where the rest goes: /bin/true (exec and libc,
 * what every process pays) and `kvmini --version` (loading kvmini's
 * binary and its libraries, no VM). Unlike (c)'s floor, which is this
 * bench binary re-run and so carries whatever the bench links, this
 * floor stays a minimal program.
 * The pair runs again with address-space randomisation off (inherited
 * through posix_spawn and exec, as `setarch -R` does). On an emulated
 * CPU, such as the nested VM's QEMU TCG, whose translated code is
 * looked up by virtual address, a process whose code moves every run
 * pays to translate all of it again: a cost in proportion to how much
 * code a process runs, which a hardware CPU does not have
 * (docs/performance.md). Both ratios are printed; on hardware they agree. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include "bench.h"

#define RATIO_RUNS 201
#define RATIO_GOAL 1.3

enum { TRUE_CMD, RAW_CMD, VERSION_CMD, RUN_CMD, NCMDS };

/* build/bench/raw_sample, next to this program. */
static void raw_sample_path(const char *self, char *path, size_t size)
{
	snprintf(path, size, "%s", self);
	char *slash = strrchr(path, '/');
	size_t dir = slash ? (size_t)(slash - path) + 1 : 0;
	snprintf(path + dir, size - dir, "raw_sample");
}

/* The pair again with randomisation off; the personality is restored. */
static void ratio_at_fixed_addresses(const struct process_command *raw_cmd,
				     const struct process_command *run_cmd, unsigned n,
				     const char *raw)
{
	struct process_command pair[2] = { *raw_cmd, *run_cmd };
	char why[512];
	int was = personality(0xffffffff);
	if (was < 0 || personality((unsigned long)was | ADDR_NO_RANDOMIZE) < 0) {
		print_failure("personality(ADDR_NO_RANDOMIZE)", "refused");
		return;
	}
	int rc = measure_processes(pair, 2, n, why, sizeof(why));
	personality((unsigned long)was);
	if (rc < 0) {
		print_failure(raw, why);
		return;
	}
	double raw_ms = median(pair[0].ms, n), run_ms = median(pair[1].ms, n);
	print_row("raw_sample, randomisation off", n, raw_ms, "ms");
	print_row("kvmini run, randomisation off", n, run_ms, "ms");
	print_ratio("the same, randomisation off", run_ms / raw_ms, "<=", RATIO_GOAL);
}

void fig_startup_ratio(const char *kvmini_path, const char *self)
{
	print_heading("(h) start-up ratio: kvmini run / the minimal raw program, whole processes",
		      "taking turns; stdin /dev/null, stdout a pipe read to EOF and checked");
	char raw[PATH_MAX], why[512];
	raw_sample_path(self, raw, sizeof(raw));
	char *const true_argv[] = { "/bin/true", NULL };
	char *const raw_argv[] = { raw, NULL };
	char *const version_argv[] = { (char *)kvmini_path, "--version", NULL };
	char *const run_argv[] = { (char *)kvmini_path, "run", NULL };
	static double ms[NCMDS][RATIO_RUNS], rss[NCMDS][RATIO_RUNS];
	struct process_command cmds[NCMDS] = {
		[TRUE_CMD] = { true_argv, "", 0, ms[TRUE_CMD], rss[TRUE_CMD] },
		[RAW_CMD] = { raw_argv, "4\n", 0, ms[RAW_CMD], rss[RAW_CMD] },
		[VERSION_CMD] = { version_argv, "kvmini " KVMINI_VERSION "\n", 0, ms[VERSION_CMD],
				  rss[VERSION_CMD] },
		[RUN_CMD] = { run_argv, "4\n", 0, ms[RUN_CMD], rss[RUN_CMD] },
	};
	unsigned n = reps(RATIO_RUNS);
	if (measure_processes(cmds, NCMDS, n, why, sizeof(why)) < 0) {
		print_failure(raw, why);
		return;
	}
	double t[NCMDS];
	for (unsigned c = 0; c < NCMDS; c++)
		t[c] = median(cmds[c].ms, n);
	print_row("/bin/true (exec + libc)", n, t[TRUE_CMD], "ms");
	print_row("raw_sample (bench/tools/raw_sample.c)", n, t[RAW_CMD], "ms");
	print_row("kvmini --version (kvmini's binary, no VM)", n, t[VERSION_CMD], "ms");
	print_row("kvmini run (built-in demo)", n, t[RUN_CMD], "ms");
	print_ratio("kvmini run / raw_sample", t[RUN_CMD] / t[RAW_CMD], "<=", RATIO_GOAL);
	printf("  where kvmini's extra %.3f ms go: loading its binary %.3f ms"
	       " (--version - /bin/true), its VM path beyond the raw one %.3f ms\n",
	       t[RUN_CMD] - t[RAW_CMD], t[VERSION_CMD] - t[TRUE_CMD],
	       (t[RUN_CMD] - t[VERSION_CMD]) - (t[RAW_CMD] - t[TRUE_CMD]));
	ratio_at_fixed_addresses(&cmds[RAW_CMD], &cmds[RUN_CMD], n, raw);
}
