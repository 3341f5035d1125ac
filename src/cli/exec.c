/* `kvmini exec [options] PROGRAM [ARGS...]`: the sandbox front end.
 * It drives the sandbox only through include/kvmini_sandbox.h. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "error.h"
#include "cli/exec.h"
#include "cli/file.h"
#include "cli/options.h"
#include "seccomp/seccomp.h"

enum {
	OPT_DIR = 256, OPT_MEM, OPT_TIMEOUT, OPT_MAX_FILES, OPT_ENV, OPT_CWD,
	OPT_VERBOSE, OPT_TRACE, OPT_SERVE, OPT_HELP, OPT_SECCOMP, OPT_NO_SECCOMP,
};

static const struct option exec_long_options[] = {
	{ "dir", required_argument, NULL, OPT_DIR },
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "max-files", required_argument, NULL, OPT_MAX_FILES },
	{ "env", required_argument, NULL, OPT_ENV },
	{ "cwd", required_argument, NULL, OPT_CWD },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "trace", no_argument, NULL, OPT_TRACE },
	{ "serve", no_argument, NULL, OPT_SERVE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "seccomp", required_argument, NULL, OPT_SECCOMP },
	{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
	{ NULL, 0, NULL, 0 },
};

static const char exec_usage[] =
	"usage: kvmini exec [options] PROGRAM [ARGS...]\n"
	"Run a static x86-64 Linux program in a VM with no guest kernel.\n"
	"  --dir HOST[:GUEST][,ro|,rw]  let the program use directory HOST, seen at GUEST\n"
	"                       (default: the same path); read-only unless ,rw\n"
	"  --mem SIZE           memory for the program, e.g. 64M (default 256M, at most 3G)\n"
	"  --timeout SECONDS    stop the program after this long (exit status 124)\n"
	"  --max-files N        open files at once, standard streams included (default 64)\n"
	"  --env NAME=VALUE     add to the program's (otherwise empty) environment;\n"
	"                       --env NAME copies the host's value\n"
	"  --cwd PATH           initial working directory (default: the current directory\n"
	"                       when it is inside a grant, else /)\n"
	"  --verbose            report unsupported system calls and how the program ended\n"
	"  --trace              print every system call on stderr\n"
	"  --serve              call the program once per line of standard input\n"
	"                       (it must use the serve call: docs/sandbox.md)\n"
	"  --seccomp kill|log|off   kvmini's own seccomp filters (default kill;\n"
	"                       docs/security.md); --no-seccomp is off: UNSAFE, debugging only\n"
	"Exit status: the program's; 128+N when signal N killed it; 124 on timeout;\n"
	"2 for bad options or programs; 4 when KVM or the host failed.\n";

static int bad_value(struct kvmini_error *err, const char *option, const char *value,
		     const char *expected)
{
	return kvmini_fail(err, KVMINI_E_USAGE, "invalid value '%s' for --%s: expected %s",
			   value, option, expected);
}

/* HOST[:GUEST][,ro|,rw] */
static int parse_grant(const char *v, struct exec_options *o, struct kvmini_error *err)
{
	if (o->cfg.ngrants == EXEC_MAX_GRANTS)
		return kvmini_fail(err, KVMINI_E_USAGE, "at most %d --dir grants", EXEC_MAX_GRANTS);
	char *text = strdup(v);
	if (!text)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory");
	o->grant_text[o->cfg.ngrants] = text;
	struct kvmini_sandbox_grant *g = &o->grants[o->cfg.ngrants++];
	char *comma = strrchr(text, ',');
	if (comma && (strcmp(comma, ",rw") == 0 || strcmp(comma, ",ro") == 0)) {
		g->writable = comma[2] == 'w';
		*comma = 0;
	}
	char *colon = strchr(text, ':');
	if (colon) {
		*colon = 0;
		g->guest = colon + 1;
		if (g->guest[0] != '/')
			return bad_value(err, "dir", v, "HOST[:GUEST][,ro|,rw] with an absolute GUEST path");
	}
	g->host = text;
	if (!*g->host)
		return bad_value(err, "dir", v, "HOST[:GUEST][,ro|,rw]");
	return 0;
}

static int parse_env(const char *v, struct exec_options *o, struct kvmini_error *err)
{
	if (o->nenv == EXEC_MAX_ENV)
		return kvmini_fail(err, KVMINI_E_USAGE, "at most %d --env settings", EXEC_MAX_ENV);
	if (!*v || *v == '=')
		return bad_value(err, "env", v, "NAME=VALUE or NAME");
	if (strchr(v, '=')) {
		o->env[o->nenv++] = v;
		return 0;
	}
	/* NAME alone: the host's NAME=VALUE string, when it has one. */
	size_t n = strlen(v);
	for (char **e = environ; *e; e++) {
		if (strncmp(*e, v, n) == 0 && (*e)[n] == '=') {
			o->env[o->nenv++] = *e;
			return 0;
		}
	}
	return 0;
}

static int parse_number(const char *v, const char *option, double max, double *out,
			struct kvmini_error *err)
{
	char *end;
	errno = 0;
	double t = strtod(v, &end);
	if (errno || end == v || *end || !isfinite(t) || t <= 0 || t > max)
		return bad_value(err, option, v, "a positive number");
	*out = t;
	return 0;
}

static int apply(int opt, const char *v, struct exec_options *o, struct kvmini_error *err)
{
	double d;
	switch (opt) {
	case OPT_DIR:
		return parse_grant(v, o, err);
	case OPT_MEM:
		return parse_size(v, &o->cfg.mem_size) < 0
			? bad_value(err, "mem", v, "a size such as 64M or 1G") : 0;
	case OPT_TIMEOUT:
		return parse_number(v, "timeout", 1e7, &o->cfg.timeout, err);
	case OPT_MAX_FILES:
		if (parse_number(v, "max-files", 4096, &d, err) < 0 || d != floor(d) || d < 3)
			return bad_value(err, "max-files", v, "a whole number from 3 to 4096");
		o->cfg.max_files = (unsigned)d;
		return 0;
	case OPT_ENV:
		return parse_env(v, o, err);
	case OPT_CWD:
		if (v[0] != '/')
			return bad_value(err, "cwd", v, "an absolute guest path");
		o->cfg.cwd = v;
		return 0;
	case OPT_VERBOSE:
		o->cfg.verbose = true;
		return 0;
	case OPT_TRACE:
		o->cfg.trace = true;
		return 0;
	case OPT_SERVE:
		o->serve = true;
		return 0;
	case OPT_SECCOMP:
		return parse_seccomp_mode(v, &o->cfg.seccomp, err);
	case OPT_NO_SECCOMP:
		o->cfg.seccomp = KVMINI_SECCOMP_OFF;
		return 0;
	}
	return kvmini_fail(err, KVMINI_E_USAGE, "internal: unhandled option %d", opt);
}

int parse_exec_options(int argc, char **argv, struct exec_options *o, struct kvmini_error *err)
{
	memset(o, 0, sizeof(*o));
	kvmini_sandbox_config_defaults(&o->cfg);
	o->cfg.seccomp = KVMINI_SECCOMP_KILL;   /* the library's default is off */
	o->cfg.grants = o->grants;
	o->cfg.envp = o->env;
	opterr = 0;
	optind = 1;
	int opt;
	while ((opt = getopt_long(argc, argv, "+:", exec_long_options, NULL)) != -1) {
		if (opt == '?')
			return kvmini_fail(err, KVMINI_E_USAGE, "unknown option '%s'", argv[optind - 1]);
		if (opt == ':')
			return kvmini_fail(err, KVMINI_E_USAGE, "option '%s' needs a value",
					   argv[optind - 1]);
		if (opt == OPT_HELP)
			return kvmini_fail(err, KVMINI_OK, "help");
		if (apply(opt, optarg, o, err) < 0)
			return -1;
	}
	if (optind >= argc)
		return kvmini_fail(err, KVMINI_E_USAGE, "'exec' needs a PROGRAM to run");
	o->program = argv[optind];
	o->argv = argv + optind;
	o->cfg.argv = (const char *const *)o->argv;
	return 0;
}

void exec_options_free(struct exec_options *o)
{
	for (unsigned i = 0; i < EXEC_MAX_GRANTS; i++)
		free(o->grant_text[i]);
	memset(o->grant_text, 0, sizeof(o->grant_text));
}

/* The host's working directory as the program sees it, when it lies
 * inside a grant. */
static char *default_cwd(const struct exec_options *o)
{
	char here[PATH_MAX];
	if (!getcwd(here, sizeof(here)))
		return NULL;
	for (unsigned i = 0; i < o->cfg.ngrants; i++) {
		char *host = realpath(o->grants[i].host, NULL);
		if (!host)
			continue;
		size_t n = strlen(host);
		const char *guest = o->grants[i].guest ? o->grants[i].guest : host;
		const char *rest = NULL;
		if (n == 1)
			rest = here;   /* the grant is the host's root */
		else if (strncmp(here, host, n) == 0 && (here[n] == 0 || here[n] == '/'))
			rest = here + n;
		char *out = NULL;
		if (rest && strcmp(guest, "/") == 0)
			out = strdup(*rest ? rest : "/");
		else if (rest && asprintf(&out, "%s%s", guest, rest) < 0)
			out = NULL;
		free(host);
		if (out)
			return out;
	}
	return NULL;
}


static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

#define SERVE_REPLY_MAX (1 << 20)

/* One call per line of standard input (without its newline); each reply
 * goes to standard output as the program wrote it. */
static int serve_lines(struct kvmini_sandbox *sb, bool verbose)
{
	struct kvmini_result r;
	if (kvmini_sandbox_start(sb, &r) < 0) {
		fprintf(stderr, "kvmini: %s before its first serve call\n", r.message);
		return r.exit_status ? r.exit_status : KVMINI_E_GUEST;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	uint8_t *reply = malloc(SERVE_REPLY_MAX);
	int status = reply ? 0 : KVMINI_E_HOST;
	while (status == 0 && (n = getline(&line, &cap, stdin)) >= 0) {
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = 0;
		size_t len;
		if (kvmini_sandbox_call(sb, line, (size_t)n, reply, SERVE_REPLY_MAX, &len, &r) < 0) {
			fprintf(stderr, "kvmini: %s\n", r.message);
			status = r.exit_status ? r.exit_status : KVMINI_E_GUEST;
			break;
		}
		if (write_all(STDOUT_FILENO, reply, len < SERVE_REPLY_MAX ? len : SERVE_REPLY_MAX) < 0)
			break;
	}
	free(line);
	free(reply);
	if (verbose) {
		struct kvmini_sandbox_stats s;
		kvmini_sandbox_stats(sb, &s);
		fprintf(stderr, "kvmini: %llu calls, %llu exits, %llu pages restored\n",
			(unsigned long long)s.calls, (unsigned long long)s.exits,
			(unsigned long long)s.pages_restored);
	}
	return status;
}

static int run_program(struct exec_options *o, const uint8_t *data, size_t size)
{
	struct kvmini_error err;
	struct kvmini_sandbox *sb = kvmini_sandbox_create(&o->cfg, data, size, o->program, &err);
	if (!sb) {
		fprintf(stderr, "kvmini: %s\n", err.msg);
		return err.code;
	}
	int status;
	/* Everything is open; from here this thread only runs the program
	 * (its vCPU thread, started below, narrows the filter further). */
	if (seccomp_role_install(SECCOMP_ROLE_EXEC_MAIN, o->cfg.seccomp, &err) < 0) {
		fprintf(stderr, "kvmini: %s\n", err.msg);
		status = err.code;
	} else if (o->serve) {
		status = serve_lines(sb, o->cfg.verbose);
	} else {
		struct kvmini_result r;
		status = kvmini_sandbox_run(sb, &r);
		/* Like a shell, say nothing of a death by SIGPIPE in a pipeline. */
		bool quiet_pipe = r.exit_status == 128 + SIGPIPE && r.status == KVMINI_E_GUEST;
		if (r.message[0] && ((r.status != KVMINI_OK && !quiet_pipe) || o->cfg.verbose ||
				     o->cfg.trace))
			fprintf(stderr, "kvmini: %s\n", r.message);
	}
	kvmini_sandbox_destroy(sb);
	return status;
}

int cmd_exec(int argc, char **argv)
{
	struct exec_options o;
	struct kvmini_error err;
	if (parse_exec_options(argc, argv, &o, &err) < 0) {
		exec_options_free(&o);
		if (err.code == KVMINI_OK) {
			fputs(exec_usage, stdout);
			return 0;
		}
		fprintf(stderr, "kvmini: %s (try 'kvmini exec --help')\n", err.msg);
		return KVMINI_E_USAGE;
	}
	char *cwd = o.cfg.cwd ? NULL : default_cwd(&o);
	if (cwd)
		o.cfg.cwd = cwd;
	uint8_t *data = NULL;
	uint64_t size = 0;
	int status;
	if (cli_read_file("program", o.program, o.cfg.mem_size, "--mem", &data, &size, &err) < 0) {
		fprintf(stderr, "kvmini: %s\n", err.msg);
		status = err.code;
	} else {
		status = run_program(&o, data, size);
	}
	free(data);
	free(cwd);
	exec_options_free(&o);
	return status;
}
