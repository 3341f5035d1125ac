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

/* Firecracker's bounds on resource ids, and ours on how many. */
#define API_ID_MAX 64
#define API_DRIVES_MAX 8
#define API_NETS_MAX 4

/* InstanceStart: build and start the VM from *opts. 0 once the guest
 * runs, or -1 with the reason in err (the VM then does not exist). */
typedef int api_start_fn(void *ctx, struct kvmini_error *err);
/* PATCH /vm: park every vCPU (paused) or let them run again. */
typedef int api_pause_fn(void *ctx, bool paused, struct kvmini_error *err);
/* PUT /snapshot/create of the paused VM (diff: only the pages written
 * since the last snapshot). */
typedef int api_snapshot_fn(void *ctx, bool diff, const char *snapshot_path,
			    const char *mem_path, struct kvmini_error *err);
/* PUT /screenshot (a kvmini extension): the display as a PNG file. */
typedef int api_screenshot_fn(void *ctx, const char *path, struct kvmini_error *err);
/* SendCtrlAltDel: the keyboard's Ctrl+Alt+Del to the guest. */
typedef int api_ctrl_alt_del_fn(void *ctx, struct kvmini_error *err);

/* PUT /drives/{id}: owned strings. */
struct api_drive {
	char id[API_ID_MAX + 1];
	char *path;
	char *partuuid;              /* NULL: none */
	bool root, read_only;
};

/* PUT /network-interfaces/{id}. */
struct api_net {
	char id[API_ID_MAX + 1];
	char *host_dev;
	bool mac_set;
	uint8_t mac[6];
};

struct api_state {
	struct run_options *opts;   /* what the handlers configure */
	const char *id;             /* GET /'s "id" */
	bool running;               /* InstanceStart done (or an IMAGE was given) */
	bool boot_source_set;
	/* Owned copies of the boot-source strings opts points to. */
	char *kernel_path, *initrd_path, *boot_args;
	api_start_fn *start;
	void *start_ctx;
	/* Set by the front end when it can pause or send keys; NULL: the
	 * request is refused as not supported. Called with start_ctx. */
	api_pause_fn *pause;
	api_snapshot_fn *snapshot;
	api_screenshot_fn *screenshot;
	api_ctrl_alt_del_fn *ctrl_alt_del;
	bool paused;
	/* PUT /snapshot/load's files, owned; opts points at them. */
	char *load_snapshot, *load_mem;

	/* Devices, merged into opts at InstanceStart (api_apply_devices)
	 * after those of the command line, the root drive first. */
	struct api_drive drives[API_DRIVES_MAX];
	unsigned ndrives;
	struct api_net nets[API_NETS_MAX];
	unsigned nnets;
	char *vsock_uds;             /* owned; opts->cfg.vsock points at it */
	/* What the command line had, and the merged arrays opts points to. */
	const struct kvmini_disk *cli_disks;
	unsigned cli_ndisks;
	const struct kvmini_net *cli_nets;
	unsigned cli_nnets;
	const char *cli_append;
	struct kvmini_disk *disks;
	struct kvmini_net *netcfg;
	char *append;

	/* PUT /logger and /metrics: files kvmini writes (-1: none). */
	int log_fd;
	int metrics_fd;
	uint64_t requests, faults;   /* counted for the metrics */
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

/* Merge the API's drives and interfaces with the command line's into
 * opts (done by InstanceStart; the root drive becomes /dev/vda and
 * "root=/dev/vda rw|ro" is appended to the command line, as
 * Firecracker does). -1 with err when memory runs out. */
int api_apply_devices(struct api_state *api, struct kvmini_error *err);

/* The route handlers of devices.c and vm.c, for api.c's router. */
void api_drive_put(struct api_state *api, const struct http_request *req,
		   struct api_response *resp);
void api_drive_patch(struct api_state *api, const struct http_request *req,
		     struct api_response *resp);
void api_net_put(struct api_state *api, const struct http_request *req,
		 struct api_response *resp);
void api_vsock_put(struct api_state *api, const struct http_request *req,
		   struct api_response *resp);
void api_vm_patch(struct api_state *api, const struct http_request *req,
		  struct api_response *resp);
void api_logger_put(struct api_state *api, const struct http_request *req,
		    struct api_response *resp);
void api_metrics_put(struct api_state *api, const struct http_request *req,
		     struct api_response *resp);
void api_screenshot_put(struct api_state *api, const struct http_request *req,
			struct api_response *resp);
void api_snapshot_create(struct api_state *api, const struct http_request *req,
			 struct api_response *resp);
void api_snapshot_load(struct api_state *api, const struct http_request *req,
		       struct api_response *resp);
/* FlushMetrics: one JSON line into the metrics file. */
void api_metrics_flush(struct api_state *api, struct api_response *resp);
/* Free what the device handlers own. */
void api_devices_free(struct api_state *api);

/* A {"fault_message": ...} response with this status. */
void api_fault(struct api_response *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
