/* The control API's router and handlers: a parsed HTTP request in, a
 * status and JSON body out, following Firecracker's API description
 * (firecracker.yaml) for the endpoints docs/api.md lists. The handlers
 * fill the same struct run_options the command line fills, so a VM
 * configured through the API is built by the CLI's own code.
 *
 * Threads: every call is made on one thread (the API server's loop);
 * the start hook runs there too and may block until the VM started. */
#ifndef KVMINI_API_API_H
#define KVMINI_API_API_H

#include <stdbool.h>
#include "api/http.h"
#include "cli/options.h"

/* Bounds on the strings a client may set; longer is a 400. */
#define API_PATH_MAX 4096
#define API_BOOT_ARGS_MAX 4096
/* Firecracker's bound on vcpu_count. */
#define API_VCPUS_MAX 32

/* InstanceStart: build and start the VM from *opts. 0 once the guest
 * runs, or -1 with the reason in err (the VM then does not exist). */
typedef int api_start_fn(void *ctx, struct kvmini_error *err);

struct api_state {
	struct run_options *opts;   /* what the handlers configure */
	const char *id;             /* GET /'s "id" */
	bool running;               /* InstanceStart done (or an IMAGE was given) */
	bool boot_source_set;
	/* Owned copies of the boot-source strings opts points to. */
	char *kernel_path, *initrd_path, *boot_args;
	api_start_fn *start;
	void *start_ctx;
};

struct api_response {
	int status;
	char *body;                 /* malloc'd JSON, or NULL for none (204) */
};

void api_state_init(struct api_state *api, struct run_options *opts, const char *id,
		    api_start_fn *start, void *start_ctx);
void api_state_free(struct api_state *api);

/* Route one request and run its handler. resp->body is the caller's to
 * free. Never fails: a failure is a response. */
void api_handle(struct api_state *api, const struct http_request *req, struct api_response *resp);

/* A {"fault_message": ...} response with this status. */
void api_fault(struct api_response *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
