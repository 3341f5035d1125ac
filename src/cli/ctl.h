/* `kvmini ctl SOCKET COMMAND`: a client of the control API (docs/api.md).
 * COMMAND is a shortcut (info, start, pause, resume, flush-metrics,
 * ctrl-alt-del, screenshot FILE.png) or a raw request (get PATH, put
 * PATH JSON, patch PATH JSON). */
#ifndef KVMINI_CLI_CTL_H
#define KVMINI_CLI_CTL_H

#include <stddef.h>
#include "error.h"

#define CTL_FILE_MAX 4096

struct ctl_request {
	const char *socket;
	const char *method, *path, *body;   /* body NULL: none */
	char body_buf[2 * CTL_FILE_MAX + 32];   /* a body built from arguments */
};

/* argv[0] is "ctl". */
int ctl_request_parse(int argc, char **argv, struct ctl_request *r, struct kvmini_error *err);
/* The answer's status and body (inside answer); -1 when it is not HTTP. */
int ctl_answer_parse(const char *answer, size_t len, int *status, const char **body);
/* Send it, print the body (to out_fd for 2xx, else to err_fd); -1 with
 * err for a refused request (status 2) or no API (status 4). */
int ctl_run(const struct ctl_request *r, int out_fd, int err_fd, struct kvmini_error *err);

#endif
