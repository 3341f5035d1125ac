/* `kvmini exec`: run a static Linux program in sandbox mode. Option
 * parsing is apart from running so the unit tests can drive it. */
#ifndef KVMINI_CLI_EXEC_H
#define KVMINI_CLI_EXEC_H

#include "kvmini_sandbox.h"

#define EXEC_MAX_GRANTS 32
#define EXEC_MAX_ENV 256

struct exec_options {
	struct kvmini_sandbox_config cfg;
	struct kvmini_sandbox_grant grants[EXEC_MAX_GRANTS];
	char *grant_text[EXEC_MAX_GRANTS];   /* owned copies the grants point into */
	const char *env[EXEC_MAX_ENV + 1];
	unsigned nenv;
	const char *program;
	char **argv;                         /* program's argv: PROGRAM ARGS... */
	bool serve;
};

/* argv[0] is "exec". Returns 0, or -1 with a one-line message in err. */
int parse_exec_options(int argc, char **argv, struct exec_options *o,
		       struct kvmini_error *err);
void exec_options_free(struct exec_options *o);

/* The `kvmini exec` command; returns the process exit status. */
int cmd_exec(int argc, char **argv);

#endif
