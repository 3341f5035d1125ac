#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "api/api.h"
#include "api/json.h"

void api_state_init(struct api_state *api, struct run_options *opts, const char *id,
		    api_start_fn *start, void *start_ctx)
{
	memset(api, 0, sizeof(*api));
	api->opts = opts;
	api->id = id;
	api->start = start;
	api->start_ctx = start_ctx;
	api->cli_disks = opts->cfg.disks;
	api->cli_ndisks = opts->cfg.ndisks;
	api->cli_nets = opts->cfg.nets;
	api->cli_nnets = opts->cfg.nnets;
	api->cli_append = opts->image.cmdline_append;
	api->log_fd = -1;
	api->metrics_fd = -1;
}

static void boot_source_free(struct api_state *api)
{
	free(api->kernel_path);
	free(api->initrd_path);
	free(api->boot_args);
	api->kernel_path = api->initrd_path = api->boot_args = NULL;
}

void api_state_free(struct api_state *api)
{
	boot_source_free(api);
	free(api->load_snapshot);
	free(api->load_mem);
	api->load_snapshot = api->load_mem = NULL;
	api_devices_free(api);
	if (api->log_fd >= 0)
		close(api->log_fd);
	if (api->metrics_fd >= 0)
		close(api->metrics_fd);
	api->log_fd = api->metrics_fd = -1;
}

/* ---- GET / ---- */

static void instance_info_get(struct api_state *api, struct api_response *resp)
{
	cJSON *obj = cJSON_CreateObject();
	if (obj && (!cJSON_AddStringToObject(obj, "id", api->id) ||
		    !cJSON_AddStringToObject(obj, "state", !api->running ? "Not started"
					     : api->paused ? "Paused" : "Running") ||
		    !cJSON_AddStringToObject(obj, "vmm_version", KVMINI_VERSION) ||
		    !cJSON_AddStringToObject(obj, "app_name", "kvmini"))) {
		cJSON_Delete(obj);
		obj = NULL;
	}
	if (!obj)
		return api_fault(resp, 500, "out of memory");
	api_respond_json(resp, 200, obj);
}

/* ---- /machine-config ---- */

static void machine_config_get(struct api_state *api, struct api_response *resp)
{
	const struct kvmini_config *cfg = &api->opts->cfg;
	cJSON *obj = cJSON_CreateObject();
	if (obj && (!cJSON_AddNumberToObject(obj, "vcpu_count", cfg->cpus) ||
		    !cJSON_AddNumberToObject(obj, "mem_size_mib", (double)(cfg->mem_size >> 20)) ||
		    !cJSON_AddFalseToObject(obj, "smt") ||
		    !cJSON_AddBoolToObject(obj, "track_dirty_pages", cfg->track_dirty_pages) ||
		    !cJSON_AddStringToObject(obj, "huge_pages", "None"))) {
		cJSON_Delete(obj);
		obj = NULL;
	}
	if (!obj)
		return api_fault(resp, 500, "out of memory");
	api_respond_json(resp, 200, obj);
}

/* track_dirty_pages: a boolean, for diff snapshots. */
static bool dirty_field(const cJSON *obj, bool *track, struct api_response *resp)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "track_dirty_pages");
	if (!v)
		return true;
	if (!cJSON_IsBool(v)) {
		api_fault(resp, 400, "`track_dirty_pages` has the wrong type.");
		return false;
	}
	*track = cJSON_IsTrue(v);
	return true;
}

/* PUT replaces the machine configuration (both sizes required), PATCH
 * changes what it names. Everything is checked before anything is set. */
static void machine_config_set(struct api_state *api, const struct http_request *req,
			       bool whole, struct api_response *resp)
{
	static const char *const allowed[] = { "vcpu_count", "mem_size_mib", "smt",
		"track_dirty_pages", "cpu_template", "huge_pages", NULL };
	if (api->running)
		return api_fault_started(resp);
	cJSON *obj = json_body(req, resp);
	if (!obj)
		return;
	const cJSON *vcpus = cJSON_GetObjectItemCaseSensitive(obj, "vcpu_count");
	const cJSON *mem = cJSON_GetObjectItemCaseSensitive(obj, "mem_size_mib");
	uint64_t cpus = api->opts->cfg.cpus, mib = api->opts->cfg.mem_size >> 20;
	/* PUT resets what it does not name, PATCH keeps it. */
	bool track = whole ? false : api->opts->cfg.track_dirty_pages;
	resp->status = 0;
	bool ok = json_fields_check(obj, allowed, resp) &&
		  (!json_field_present(vcpus, "vcpu_count", whole, resp) ||
		   json_field_integer(vcpus, "vcpu_count", 1, API_VCPUS_MAX, &cpus, resp)) &&
		  resp->status == 0 &&
		  (!json_field_present(mem, "mem_size_mib", whole, resp) ||
		   json_field_integer(mem, "mem_size_mib", 1, 1 << 20, &mib, resp)) &&
		  resp->status == 0 &&
		  json_field_off_only(obj, "smt", resp) && dirty_field(obj, &track, resp) &&
		  json_field_off_only(obj, "cpu_template", resp) && json_field_off_only(obj, "huge_pages", resp);
	cJSON_Delete(obj);
	if (!ok)
		return;
	api->opts->cfg.track_dirty_pages = track;
	api->opts->cfg.cpus = (unsigned)cpus;
	api->opts->cfg.mem_size = mib << 20;
	api_respond_empty(resp);
}

/* ---- PUT /boot-source ---- */

static bool boot_source_check(const cJSON *obj, struct api_response *resp)
{
	static const char *const allowed[] = { "kernel_image_path", "initrd_path", "boot_args",
		NULL };
	const cJSON *kernel = cJSON_GetObjectItemCaseSensitive(obj, "kernel_image_path");
	const cJSON *initrd = cJSON_GetObjectItemCaseSensitive(obj, "initrd_path");
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(obj, "boot_args");
	resp->status = 0;
	if (!json_fields_check(obj, allowed, resp) ||
	    !json_field_present(kernel, "kernel_image_path", true, resp) ||
	    !json_field_string(kernel, "kernel_image_path", API_PATH_MAX, resp) ||
	    (initrd && !json_field_string(initrd, "initrd_path", API_PATH_MAX, resp)) ||
	    (args && !json_field_string(args, "boot_args", API_BOOT_ARGS_MAX, resp)))
		return false;
	if (!*kernel->valuestring || (initrd && !*initrd->valuestring)) {
		api_fault(resp, 400, "A path in the boot source is empty.");
		return false;
	}
	return true;
}

/* The kernel and initrd are read when the VM starts (their size is
 * checked against the memory size then in force), as --kernel's are. */
static void boot_source_put(struct api_state *api, const struct http_request *req,
			    struct api_response *resp)
{
	if (api->running)
		return api_fault_started(resp);
	cJSON *obj = json_body(req, resp);
	if (!obj)
		return;
	if (!boot_source_check(obj, resp))
		return cJSON_Delete(obj);
	char *kernel = json_strdup_field(obj, "kernel_image_path");
	char *initrd = json_strdup_field(obj, "initrd_path");
	char *args = json_strdup_field(obj, "boot_args");
	bool have_initrd = cJSON_GetObjectItemCaseSensitive(obj, "initrd_path") != NULL;
	bool have_args = cJSON_GetObjectItemCaseSensitive(obj, "boot_args") != NULL;
	cJSON_Delete(obj);
	if (!kernel || (have_initrd && !initrd) || (have_args && !args)) {
		free(kernel), free(initrd), free(args);
		return api_fault(resp, 500, "out of memory");
	}
	boot_source_free(api);
	api->kernel_path = kernel;
	api->initrd_path = initrd;
	api->boot_args = args;
	api->opts->kernel = kernel;
	api->opts->image.initrd_path = initrd;
	api->opts->image.cmdline = args;
	api->boot_source_set = true;
	api_respond_empty(resp);
}

/* ---- PUT /actions ---- */

static void instance_start(struct api_state *api, struct api_response *resp)
{
	if (api->running)
		return api_fault_started(resp);
	if (!api->boot_source_set)
		return api_fault(resp, 400, "Cannot start the microVM without a boot source: "
				 "PUT /boot-source first.");
	struct kvmini_error err;
	if (api_apply_devices(api, &err) < 0)
		return api_fault(resp, 500, "%s", err.msg);
	if (api->start(api->start_ctx, &err) < 0)
		return api_fault(resp, 400, "Cannot start the microVM: %s", err.msg);
	api->running = true;
	api_respond_empty(resp);
}

static void ctrl_alt_del(struct api_state *api, struct api_response *resp)
{
	if (!api->running)
		return api_fault(resp, 400, "The microVM is not running: SendCtrlAltDel needs a "
				 "started guest.");
	if (!api->ctrl_alt_del)
		return api_fault(resp, 400, "The action SendCtrlAltDel is not supported by kvmini yet.");
	struct kvmini_error err;
	if (api->ctrl_alt_del(api->start_ctx, &err) < 0)
		return api_fault(resp, 400, "Cannot send Ctrl+Alt+Del: %s", err.msg);
	api_respond_empty(resp);
}

static void actions_put(struct api_state *api, const struct http_request *req,
			struct api_response *resp)
{
	static const char *const allowed[] = { "action_type", NULL };
	cJSON *obj = json_body(req, resp);
	if (!obj)
		return;
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "action_type");
	resp->status = 0;
	bool ok = json_fields_check(obj, allowed, resp) &&
		  json_field_present(type, "action_type", true, resp) &&
		  json_field_string(type, "action_type", 64, resp);
	char action[65] = "";
	if (ok)
		snprintf(action, sizeof(action), "%s", type->valuestring);
	cJSON_Delete(obj);
	if (!ok)
		return;
	if (strcmp(action, "InstanceStart") == 0)
		return instance_start(api, resp);
	if (strcmp(action, "FlushMetrics") == 0)
		return api_metrics_flush(api, resp);
	if (strcmp(action, "SendCtrlAltDel") == 0)
		return ctrl_alt_del(api, resp);
	api_fault(resp, 400, "unknown `action_type` '%s': expected InstanceStart, "
		  "SendCtrlAltDel or FlushMetrics.", action);
}

/* ---- the router ---- */

typedef void route_fn(struct api_state *api, const struct http_request *req,
		      struct api_response *resp);

static void route_info(struct api_state *api, const struct http_request *req,
		       struct api_response *resp)
{
	(void)req;
	instance_info_get(api, resp);
}

static void route_machine_get(struct api_state *api, const struct http_request *req,
			      struct api_response *resp)
{
	(void)req;
	machine_config_get(api, resp);
}

static void route_machine_put(struct api_state *api, const struct http_request *req,
			      struct api_response *resp)
{
	machine_config_set(api, req, true, resp);
}

static void route_machine_patch(struct api_state *api, const struct http_request *req,
				struct api_response *resp)
{
	machine_config_set(api, req, false, resp);
}

/* A path ending in '/' matches every path below it (the {id} ones). */
static const struct route {
	const char *method, *path;
	route_fn *fn;
} routes[] = {
	{ "GET", "/", route_info },
	{ "GET", "/machine-config", route_machine_get },
	{ "PUT", "/machine-config", route_machine_put },
	{ "PATCH", "/machine-config", route_machine_patch },
	{ "PUT", "/boot-source", boot_source_put },
	{ "PUT", "/actions", actions_put },
	{ "PUT", "/drives/", api_drive_put },
	{ "PATCH", "/drives/", api_drive_patch },
	{ "PUT", "/network-interfaces/", api_net_put },
	{ "PUT", "/vsock", api_vsock_put },
	{ "PATCH", "/vm", api_vm_patch },
	{ "PUT", "/logger", api_logger_put },
	{ "PUT", "/metrics", api_metrics_put },
	{ "PUT", "/snapshot/create", api_snapshot_create },
	{ "PUT", "/snapshot/load", api_snapshot_load },
	{ "PUT", "/screenshot", api_screenshot_put },
};

/* Firecracker's other resources: named, so a client learns they are
 * missing from kvmini rather than misspelt (docs/api.md). */
static const char *const later_prefixes[] = {
	"/mmds", "/balloon", "/entropy", "/cpu-config", "/version", "/serial",
	"/hotplug/", "/vm/",
};

static bool route_matches(const struct route *r, const struct http_request *req)
{
	if (strcmp(r->method, req->method) != 0)
		return false;
	size_t n = strlen(r->path);
	if (n > 1 && r->path[n - 1] == '/')
		return strncmp(req->path, r->path, n) == 0;
	return strcmp(req->path, r->path) == 0;
}

static bool path_is_later(const char *path)
{
	for (size_t i = 0; i < sizeof(later_prefixes) / sizeof(later_prefixes[0]); i++) {
		size_t n = strlen(later_prefixes[i]);
		if (strncmp(path, later_prefixes[i], n) == 0 &&
		    (later_prefixes[i][n - 1] == '/' || path[n] == '\0' || path[n] == '/'))
			return true;
	}
	return false;
}

static void route(struct api_state *api, const struct http_request *req,
		  struct api_response *resp)
{
	resp->body = NULL;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (route_matches(&routes[i], req))
			return routes[i].fn(api, req, resp);
	if (path_is_later(req->path))
		return api_fault(resp, 400, "%s %s is not supported by kvmini yet.", req->method,
				 req->path);
	api_fault(resp, 400, "Invalid request method and/or path: %s %s.", req->method, req->path);
}

void api_handle(struct api_state *api, const struct http_request *req, struct api_response *resp)
{
	route(api, req, resp);
	api->requests++;
	if (resp->status >= 400)
		api->faults++;
}
