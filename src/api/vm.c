/* The control API's running-VM and housekeeping requests: PATCH /vm
 * (pause and resume), PUT /logger, PUT /metrics and FlushMetrics. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "api/json.h"

/* ---- PATCH /vm ---- */

void api_vm_patch(struct api_state *api, const struct http_request *req,
		  struct api_response *resp)
{
	static const char *const allowed[] = { "state", NULL };
	cJSON *obj = json_body(req, resp);
	if (!obj)
		return;
	const cJSON *state = cJSON_GetObjectItemCaseSensitive(obj, "state");
	resp->status = 0;
	bool ok = json_fields_check(obj, allowed, resp) &&
		  json_field_present(state, "state", true, resp) &&
		  json_field_string(state, "state", 16, resp);
	int want = !ok ? -1 : strcmp(state->valuestring, "Paused") == 0 ? 1
		: strcmp(state->valuestring, "Resumed") == 0 ? 0 : 2;
	char name[17] = "";
	if (ok)
		snprintf(name, sizeof(name), "%s", state->valuestring);
	cJSON_Delete(obj);
	if (want < 0)
		return;
	if (want == 2)
		return api_fault(resp, 400, "unknown `state` '%s': expected Paused or Resumed.", name);
	if (!api->running)
		return api_fault(resp, 400, "The microVM is not running: it cannot be %s.",
				 want ? "paused" : "resumed");
	if (!api->pause)
		return api_fault(resp, 400, "Pausing is not supported by this front end.");
	struct kvmini_error err;
	if (api->pause(api->start_ctx, want == 1, &err) < 0)
		return api_fault(resp, 400, "Cannot %s the microVM: %s", want ? "pause" : "resume",
				 err.msg);
	api->paused = want == 1;
	api_respond_empty(resp);
}

/* ---- files kvmini writes: the logger's and the metrics' ---- */

/* Open an existing file or FIFO to append to, without ever blocking:
 * a FIFO with no reader is refused (ENXIO) rather than waited on. */
static int output_open(const char *path, const char *what, struct api_response *resp)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		api_fault(resp, 400, "Cannot open the %s file '%.200s': %s.", what, path,
			  strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode))) {
		close(fd);
		api_fault(resp, 400, "The %s file '%.200s' is not a regular file or a FIFO.", what,
			  path);
		return -1;
	}
	return fd;
}

static void fd_replace(int *slot, int fd)
{
	if (*slot >= 0)
		close(*slot);
	*slot = fd;
}

void api_logger_put(struct api_state *api, const struct http_request *req,
		    struct api_response *resp)
{
	static const char *const allowed[] = { "log_path", "level", "show_level",
		"show_log_origin", "module", NULL };
	static const char *const levels[] = { "Off", "Error", "Warning", "Info", "Debug", "Trace",
		NULL };
	if (api->running)
		return api_fault_started(resp);
	cJSON *obj = json_body(req, resp);
	if (!obj)
		return;
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(obj, "log_path");
	const cJSON *level = cJSON_GetObjectItemCaseSensitive(obj, "level");
	resp->status = 0;
	bool ok = json_fields_check(obj, allowed, resp) &&
		  json_field_present(path, "log_path", true, resp) &&
		  json_field_string(path, "log_path", API_PATH_MAX, resp) &&
		  (!level || json_field_string(level, "level", 16, resp));
	unsigned lvl = 3;   /* Info */
	if (ok && level) {
		lvl = 0;
		while (levels[lvl] && strcasecmp(levels[lvl], level->valuestring) != 0)
			lvl++;
		if (!levels[lvl]) {
			api_fault(resp, 400, "unknown `level` '%.16s'.", level->valuestring);
			ok = false;
		}
	}
	int fd = ok ? output_open(path->valuestring, "log", resp) : -1;
	cJSON_Delete(obj);
	if (fd < 0)
		return;
	fd_replace(&api->log_fd, fd);
	/* kvmini's diagnostics go to the log; Debug and Trace add what
	 * --verbose adds. */
	api->opts->cfg.log_fd = fd;
	api->opts->cfg.verbose = api->opts->cfg.verbose || lvl >= 4;
	api_respond_empty(resp);
}

void api_metrics_put(struct api_state *api, const struct http_request *req,
		     struct api_response *resp)
{
	static const char *const allowed[] = { "metrics_path", NULL };
	if (api->metrics_fd >= 0)
		return api_fault(resp, 400, "The metrics system was already initialized.");
	cJSON *obj = json_body(req, resp);
	if (!obj)
		return;
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(obj, "metrics_path");
	resp->status = 0;
	bool ok = json_fields_check(obj, allowed, resp) &&
		  json_field_present(path, "metrics_path", true, resp) &&
		  json_field_string(path, "metrics_path", API_PATH_MAX, resp);
	int fd = ok ? output_open(path->valuestring, "metrics", resp) : -1;
	cJSON_Delete(obj);
	if (fd < 0)
		return;
	api->metrics_fd = fd;
	api_respond_empty(resp);
}

static const char *state_name(const struct api_state *api)
{
	return !api->running ? "Not started" : api->paused ? "Paused" : "Running";
}

/* One JSON object per line, as Firecracker writes them: what the API
 * served so far and the VM's state. */
void api_metrics_flush(struct api_state *api, struct api_response *resp)
{
	if (api->metrics_fd < 0)
		return api_fault(resp, 400, "The metrics system is not initialized: "
				 "PUT /metrics first.");
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	char line[256];
	int n = snprintf(line, sizeof(line),
			 "{\"utc_timestamp_ms\":%llu,\"api_server\":{\"requests\":%llu,"
			 "\"faults\":%llu},\"vmm\":{\"state\":\"%s\"}}\n",
			 (unsigned long long)now.tv_sec * 1000 + (unsigned long long)now.tv_nsec / 1000000,
			 (unsigned long long)api->requests, (unsigned long long)api->faults,
			 state_name(api));
	/* The file is the client's: a full FIFO loses this line rather
	 * than stall the API. */
	if (write(api->metrics_fd, line, (size_t)n) != n)
		return api_fault(resp, 400, "Cannot write the metrics: %s.",
				 errno == EAGAIN ? "the metrics FIFO is full" : strerror(errno));
	api_respond_empty(resp);
}

/* ---- snapshots ---- */

static bool snapshot_type_parse(const cJSON *obj, bool *diff, struct api_response *resp)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "snapshot_type");
	*diff = false;
	if (!v)
		return true;
	if (!json_field_string(v, "snapshot_type", 16, resp))
		return false;
	if (strcmp(v->valuestring, "Full") != 0 && strcmp(v->valuestring, "Diff") != 0) {
		api_fault(resp, 400, "unknown `snapshot_type` '%s': expected Full or Diff.",
			  v->valuestring);
		return false;
	}
	*diff = v->valuestring[0] == 'D';
	return true;
}

/* PUT /screenshot {"path": FILE}: kvmini's own, not Firecracker's; the
 * display as it is now (running or paused), as a PNG. */
void api_screenshot_put(struct api_state *api, const struct http_request *req,
			struct api_response *resp)
{
	static const char *const allowed[] = { "path", NULL };
	cJSON *obj = json_body(req, resp);
	if (!obj)
		return;
	resp->status = 0;
	const char *path = NULL;
	bool ok = json_fields_check(obj, allowed, resp) && json_field_path(obj, "path", true, &path, resp);
	if (ok && !api->screenshot) {
		api_fault(resp, 400, "Screenshots are not supported by this front end.");
		ok = false;
	}
	struct kvmini_error err;
	if (ok && api->screenshot(api->start_ctx, path, &err) < 0) {
		api_fault(resp, 400, "Cannot take the screenshot: %s", err.msg);
		ok = false;
	}
	cJSON_Delete(obj);
	if (ok)
		api_respond_empty(resp);
}

void api_snapshot_create(struct api_state *api, const struct http_request *req,
			 struct api_response *resp)
{
	static const char *const allowed[] = { "snapshot_type", "snapshot_path", "mem_file_path",
		"version", NULL };
	cJSON *obj = json_body(req, resp);
	if (!obj)
		return;
	bool diff;
	resp->status = 0;
	const char *snap = NULL, *mem = NULL;
	bool ok = json_fields_check(obj, allowed, resp) && snapshot_type_parse(obj, &diff, resp) &&
		  json_field_path(obj, "snapshot_path", true, &snap, resp) &&
		  json_field_path(obj, "mem_file_path", true, &mem, resp);
	if (ok && !api->paused) {
		api_fault(resp, 400, "Cannot create a snapshot: the microVM must be paused "
			  "(PATCH /vm {\"state\": \"Paused\"}).");
		ok = false;
	}
	if (ok && !api->snapshot) {
		api_fault(resp, 400, "Snapshots are not supported by this front end.");
		ok = false;
	}
	struct kvmini_error err;
	if (ok && api->snapshot(api->start_ctx, diff, snap, mem, &err) < 0) {
		api_fault(resp, 400, "Cannot create the snapshot: %s", err.msg);
		ok = false;
	}
	cJSON_Delete(obj);
	if (ok)
		api_respond_empty(resp);
}

/* mem_backend {backend_type "File", backend_path}, or the older
 * mem_file_path; one of them. */
static const char *mem_backend_parse(const cJSON *obj, struct api_response *resp)
{
	static const char *const allowed[] = { "backend_type", "backend_path", NULL };
	const cJSON *backend = cJSON_GetObjectItemCaseSensitive(obj, "mem_backend");
	const cJSON *old = cJSON_GetObjectItemCaseSensitive(obj, "mem_file_path");
	const char *path;
	if (!backend == !old) {
		api_fault(resp, 400, "Give exactly one of `mem_backend` and `mem_file_path`.");
		return NULL;
	}
	if (old)
		return json_field_path(obj, "mem_file_path", true, &path, resp) ? path : NULL;
	if (!cJSON_IsObject(backend)) {
		api_fault(resp, 400, "`mem_backend` must be an object.");
		return NULL;
	}
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(backend, "backend_type");
	if (!json_fields_check(backend, allowed, resp) ||
	    !json_field_present(type, "backend_type", true, resp) ||
	    !json_field_string(type, "backend_type", 16, resp))
		return NULL;
	if (strcmp(type->valuestring, "File") != 0) {
		api_fault(resp, 400, "`backend_type` %s is not supported by kvmini: only File.",
			  type->valuestring);
		return NULL;
	}
	return json_field_path(backend, "backend_path", true, &path, resp) ? path : NULL;
}

static bool configured(const struct api_state *api)
{
	return api->boot_source_set || api->ndrives || api->nnets || api->vsock_uds;
}

void api_snapshot_load(struct api_state *api, const struct http_request *req,
		       struct api_response *resp)
{
	static const char *const allowed[] = { "snapshot_path", "mem_backend", "mem_file_path",
		"enable_diff_snapshots", "resume_vm", NULL };
	if (api->running)
		return api_fault_started(resp);
	if (configured(api))
		return api_fault(resp, 400, "Loading a snapshot is not allowed after configuring "
				 "boot-specific resources.");
	cJSON *obj = json_body(req, resp);
	if (!obj)
		return;
	resp->status = 0;
	const char *snap = NULL, *mem = NULL;
	const cJSON *diff = cJSON_GetObjectItemCaseSensitive(obj, "enable_diff_snapshots");
	const cJSON *resume = cJSON_GetObjectItemCaseSensitive(obj, "resume_vm");
	bool ok = json_fields_check(obj, allowed, resp) &&
		  json_field_path(obj, "snapshot_path", true, &snap, resp) &&
		  (mem = mem_backend_parse(obj, resp));
	if (ok && ((diff && !cJSON_IsBool(diff)) || (resume && !cJSON_IsBool(resume)))) {
		api_fault(resp, 400, "`enable_diff_snapshots` and `resume_vm` must be booleans.");
		ok = false;
	}
	char *snap_copy = ok ? strdup(snap) : NULL, *mem_copy = ok ? strdup(mem) : NULL;
	bool track = cJSON_IsTrue(diff), run = cJSON_IsTrue(resume);
	cJSON_Delete(obj);
	if (!ok || !snap_copy || !mem_copy) {
		free(snap_copy);
		free(mem_copy);
		if (ok)
			api_fault(resp, 500, "out of memory");
		return;
	}
	free(api->load_snapshot);
	free(api->load_mem);
	api->load_snapshot = snap_copy;
	api->load_mem = mem_copy;
	struct run_options *o = api->opts;
	o->restore_snapshot = snap_copy;
	o->restore_mem[0] = mem_copy;
	o->nrestore_mem = 1;
	o->restore_paused = !run;
	o->cfg.track_dirty_pages = track;
	struct kvmini_error err;
	if (api->start(api->start_ctx, &err) < 0) {
		o->restore_snapshot = NULL;
		o->nrestore_mem = 0;
		return api_fault(resp, 400, "Cannot load the snapshot: %s", err.msg);
	}
	api->running = true;
	api->paused = !run;
	api_respond_empty(resp);
}
