/* kvmini-bench: eleven figures, each measured in this run against its
 * baseline, reported as medians with their repetition counts.
 *   usage: kvmini-bench [--quick] [--only abcdefghikl] [--kvmini PATH]
 * docs/performance.md explains each figure and records results. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"

struct options {
	const char *only;           /* which figures, e.g. "ab" */
	char self[PATH_MAX];        /* this program, for (c) to re-run */
	char kvmini_path[PATH_MAX];
	char guest_dir[PATH_MAX];   /* build/guests, for (e)'s and (g)'s guests */
};

/* build/bench/kvmini-bench finds build/kvmini next to its own directory. */
static void find_paths(struct options *o)
{
	ssize_t n = readlink("/proc/self/exe", o->self, sizeof(o->self) - 1);
	o->self[n > 0 ? n : 0] = '\0';
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", n > 0 ? o->self : "./kvmini-bench");
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	if (snprintf(o->kvmini_path, sizeof(o->kvmini_path), "%s/../kvmini", dir) >=
	    (int)sizeof(o->kvmini_path))
		snprintf(o->kvmini_path, sizeof(o->kvmini_path), "build/kvmini");
	if (snprintf(o->guest_dir, sizeof(o->guest_dir), "%s/../guests", dir) >=
	    (int)sizeof(o->guest_dir))
		snprintf(o->guest_dir, sizeof(o->guest_dir), "build/guests");
}

static int parse_options(int argc, char **argv, struct options *o)
{
	o->only = "abcdefghikl";
	find_paths(o);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			set_quick(true);
		else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			o->only = argv[++i];
		else if (strcmp(argv[i], "--kvmini") == 0 && i + 1 < argc)
			snprintf(o->kvmini_path, sizeof(o->kvmini_path), "%s", argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--quick] [--only abcdefghikl] [--kvmini PATH]\n", argv[0]);
			return -1;
		}
	}
	return 0;
}

static void print_thp_setting(void)
{
	char line[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
	}
	line[strcspn(line, "\n")] = '\0';
	printf("THP: %s\n", line[0] ? line : "unknown");
}

static void print_host(void)
{
	struct utsname u;
	uname(&u);
	time_t t = time(NULL);
	char date[64];
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M %Z", localtime(&t));
	printf("kvmini-bench %s — %s\n", KVMINI_VERSION, date);
	printf("host: %s %s %s, %ld online CPUs\n", u.sysname, u.release, u.machine,
	       sysconf(_SC_NPROCESSORS_ONLN));
	print_thp_setting();
	printf("every ratio compares two things measured in this run; N = repetitions\n");
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], RAW_DEMO_FLAG) == 0)
		return raw_demo_main();
	struct options o;
	if (parse_options(argc, argv, &o) < 0)
		return 2;
	/* A dead child's pipe must not kill the bench (the UART ignores EPIPE). */
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	print_host();
	if (strchr(o.only, 'a'))
		fig_startup();
	if (strchr(o.only, 'b'))
		fig_port_io();
	if (strchr(o.only, 'c'))
		fig_process(o.kvmini_path, o.self);
	if (strchr(o.only, 'd'))
		fig_first_touch();
	if (strchr(o.only, 'e'))
		fig_interrupts(o.guest_dir);
	if (strchr(o.only, 'f'))
		fig_irqchip(o.kvmini_path, o.self);
	if (strchr(o.only, 'g'))
		fig_doorbell(o.guest_dir);
	if (strchr(o.only, 'h'))
		fig_startup_ratio(o.kvmini_path, o.self);
	if (strchr(o.only, 'i'))
		fig_completion();
	if (strchr(o.only, 'k'))
		fig_virtio_blk();
	if (strchr(o.only, 'l'))
		fig_virtio_blk_guest(o.kvmini_path, o.guest_dir);
	return 0;
}
