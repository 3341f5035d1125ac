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
