#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/api.h"

void api_state_init(struct api_state *api, struct run_options *opts, const char *id,
		    api_start_fn *start, void *start_ctx)
{
	memset(api, 0, sizeof(*api));
	api->opts = opts;
	api->id = id;
	api->start = start;
	api->start_ctx = start_ctx;
}

void api_state_free(struct api_state *api)
{
	free(api->kernel_path);
	free(api->initrd_path);
	free(api->boot_args);
	api->kernel_path = api->initrd_path = api->boot_args = NULL;
}

/* ---- responses ---- */

static void respond_json(struct api_response *resp, int status, cJSON *obj)
{
	resp->status = status;
	resp->body = obj ? cJSON_PrintUnformatted(obj) : NULL;
	cJSON_Delete(obj);
	if (obj && !resp->body)
		resp->status = 500;   /* out of memory: no body rather than a wrong one */
}

void api_fault(struct api_response *resp, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON *obj = cJSON_CreateObject();
	if (obj && !cJSON_AddStringToObject(obj, "fault_message", msg)) {
		cJSON_Delete(obj);
		obj = NULL;
	}
	respond_json(resp, obj ? status : 500, obj);
}

static void respond_empty(struct api_response *resp)
{
	resp->status = 204;
	resp->body = NULL;
}

/* ---- request bodies: hostile JSON ---- */

/* The body as one JSON object, nothing after it but white space. cJSON
 * decodes \u0000 into a NUL that would silently cut a string short, so
 * a body spelling one is refused outright. */
static cJSON *body_object(const struct http_request *req, struct api_response *resp)
{
	if (req->body_len == 0)
		return api_fault(resp, 400, "The request needs a JSON body."), NULL;
	if (memmem(req->body, req->body_len, "\\u0000", 6))
		return api_fault(resp, 400, "The request body holds a NUL character (\\u0000)."), NULL;
	const char *end = NULL;
	cJSON *obj = cJSON_ParseWithLengthOpts(req->body, req->body_len, &end, false);
	if (obj && end) {
		const char *stop = req->body + req->body_len;
		while (end < stop && strchr(" \t\r\n", *end) && *end)
			end++;
		if (end != stop) {
			cJSON_Delete(obj);
			obj = NULL;
		}
	}
	if (!obj)
		return api_fault(resp, 400, "The request body is not valid JSON."), NULL;
	if (!cJSON_IsObject(obj)) {
		cJSON_Delete(obj);
		return api_fault(resp, 400, "The request body must be a JSON object."), NULL;
	}
	return obj;
}

/* Every member named in `allowed` (NULL-ended), none twice: Firecracker
 * refuses unknown fields, and a duplicate leaves the value ambiguous. */
static bool fields_check(const cJSON *obj, const char *const *allowed, struct api_response *resp)
{
	unsigned seen = 0;
	for (const cJSON *m = obj->child; m; m = m->next) {
		unsigned i = 0;
		while (allowed[i] && strcmp(allowed[i], m->string) != 0)
			i++;
		if (!allowed[i]) {
			api_fault(resp, 400, "unknown field `%.100s` in the request body.", m->string);
			return false;
		}
		if (seen & (1u << i)) {
			api_fault(resp, 400, "duplicate field `%s` in the request body.", allowed[i]);
			return false;
		}
		seen |= 1u << i;
	}
	return true;
}

/* A whole number in [min, max], or false with a 400. */
static bool field_integer(const cJSON *v, const char *name, double min, double max,
			  uint64_t *out, struct api_response *resp)
{
	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)) {
		api_fault(resp, 400, "`%s` must be an integer.", name);
		return false;
	}
	if (v->valuedouble < min || v->valuedouble > max) {
		api_fault(resp, 400, "`%s` must be from %.0f to %.0f.", name, min, max);
		return false;
	}
	*out = (uint64_t)v->valuedouble;
	return true;
}

/* A string of at most `max` bytes; false with a 400. */
static bool field_string(const cJSON *v, const char *name, size_t max,
			 struct api_response *resp)
{
	if (!cJSON_IsString(v)) {
		api_fault(resp, 400, "`%s` must be a string.", name);
		return false;
	}
	if (strlen(v->valuestring) > max) {
		api_fault(resp, 400, "`%s` is longer than %zu bytes.", name, max);
		return false;
	}
	return true;
}

/* A Firecracker option kvmini does not have yet: only its "off" value
 * is accepted, so a client asking for more learns it at once. */
static bool field_off_only(const cJSON *obj, const char *name, struct api_response *resp)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (!v)
		return true;
	bool is_bool = cJSON_IsBool(v);
	bool off = is_bool ? cJSON_IsFalse(v)
		: cJSON_IsString(v) && strcmp(v->valuestring, "None") == 0;
	if (off)
		return true;
	if (!is_bool && !cJSON_IsString(v))
		api_fault(resp, 400, "`%s` has the wrong type.", name);
	else
		api_fault(resp, 400, "`%s` is not supported by kvmini yet: only %s is accepted.",
			  name, is_bool ? "false" : "\"None\"");
	return false;
}

static void fault_started(struct api_response *resp)
{
	api_fault(resp, 400, "The requested operation is not supported after starting the microVM.");
}

/* ---- GET / ---- */

static void instance_info_get(struct api_state *api, struct api_response *resp)
{
	cJSON *obj = cJSON_CreateObject();
	if (obj && (!cJSON_AddStringToObject(obj, "id", api->id) ||
		    !cJSON_AddStringToObject(obj, "state", api->running ? "Running" : "Not started") ||
		    !cJSON_AddStringToObject(obj, "vmm_version", KVMINI_VERSION) ||
		    !cJSON_AddStringToObject(obj, "app_name", "kvmini"))) {
		cJSON_Delete(obj);
		obj = NULL;
	}
	if (!obj)
		return api_fault(resp, 500, "out of memory");
	respond_json(resp, 200, obj);
}

/* ---- /machine-config ---- */

static void machine_config_get(struct api_state *api, struct api_response *resp)
{
	const struct kvmini_config *cfg = &api->opts->cfg;
	cJSON *obj = cJSON_CreateObject();
	if (obj && (!cJSON_AddNumberToObject(obj, "vcpu_count", cfg->cpus) ||
		    !cJSON_AddNumberToObject(obj, "mem_size_mib", (double)(cfg->mem_size >> 20)) ||
		    !cJSON_AddFalseToObject(obj, "smt") ||
		    !cJSON_AddFalseToObject(obj, "track_dirty_pages") ||
		    !cJSON_AddStringToObject(obj, "huge_pages", "None"))) {
		cJSON_Delete(obj);
		obj = NULL;
	}
	if (!obj)
		return api_fault(resp, 500, "out of memory");
	respond_json(resp, 200, obj);
}

/* A required field for PUT, optional for PATCH. */
static bool field_present(const cJSON *v, const char *name, bool required,
			  struct api_response *resp)
{
	if (!v && required)
		api_fault(resp, 400, "missing field `%s` in the request body.", name);
	return v != NULL;
}

/* PUT replaces the machine configuration (both sizes required), PATCH
 * changes what it names. Everything is checked before anything is set. */
static void machine_config_set(struct api_state *api, const struct http_request *req,
			       bool whole, struct api_response *resp)
{
	static const char *const allowed[] = { "vcpu_count", "mem_size_mib", "smt",
		"track_dirty_pages", "cpu_template", "huge_pages", NULL };
	if (api->running)
		return fault_started(resp);
	cJSON *obj = body_object(req, resp);
	if (!obj)
		return;
	const cJSON *vcpus = cJSON_GetObjectItemCaseSensitive(obj, "vcpu_count");
	const cJSON *mem = cJSON_GetObjectItemCaseSensitive(obj, "mem_size_mib");
	uint64_t cpus = api->opts->cfg.cpus, mib = api->opts->cfg.mem_size >> 20;
	resp->status = 0;
	bool ok = fields_check(obj, allowed, resp) &&
		  (!field_present(vcpus, "vcpu_count", whole, resp) ||
		   field_integer(vcpus, "vcpu_count", 1, API_VCPUS_MAX, &cpus, resp)) &&
		  resp->status == 0 &&
		  (!field_present(mem, "mem_size_mib", whole, resp) ||
		   field_integer(mem, "mem_size_mib", 1, 1 << 20, &mib, resp)) &&
		  resp->status == 0 &&
		  field_off_only(obj, "smt", resp) && field_off_only(obj, "track_dirty_pages", resp) &&
		  field_off_only(obj, "cpu_template", resp) && field_off_only(obj, "huge_pages", resp);
	cJSON_Delete(obj);
	if (!ok)
		return;
	api->opts->cfg.cpus = (unsigned)cpus;
	api->opts->cfg.mem_size = mib << 20;
	respond_empty(resp);
}

/* ---- PUT /boot-source ---- */

static char *optional_string(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return v ? strdup(v->valuestring) : NULL;
}

static bool boot_source_check(const cJSON *obj, struct api_response *resp)
{
	static const char *const allowed[] = { "kernel_image_path", "initrd_path", "boot_args",
		NULL };
	const cJSON *kernel = cJSON_GetObjectItemCaseSensitive(obj, "kernel_image_path");
	const cJSON *initrd = cJSON_GetObjectItemCaseSensitive(obj, "initrd_path");
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(obj, "boot_args");
	resp->status = 0;
	if (!fields_check(obj, allowed, resp) ||
	    !field_present(kernel, "kernel_image_path", true, resp) ||
	    !field_string(kernel, "kernel_image_path", API_PATH_MAX, resp) ||
	    (initrd && !field_string(initrd, "initrd_path", API_PATH_MAX, resp)) ||
	    (args && !field_string(args, "boot_args", API_BOOT_ARGS_MAX, resp)))
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
		return fault_started(resp);
	cJSON *obj = body_object(req, resp);
	if (!obj)
		return;
	if (!boot_source_check(obj, resp))
		return cJSON_Delete(obj);
	char *kernel = optional_string(obj, "kernel_image_path");
	char *initrd = optional_string(obj, "initrd_path");
	char *args = optional_string(obj, "boot_args");
	bool have_initrd = cJSON_GetObjectItemCaseSensitive(obj, "initrd_path") != NULL;
	bool have_args = cJSON_GetObjectItemCaseSensitive(obj, "boot_args") != NULL;
	cJSON_Delete(obj);
	if (!kernel || (have_initrd && !initrd) || (have_args && !args)) {
		free(kernel), free(initrd), free(args);
		return api_fault(resp, 500, "out of memory");
	}
	api_state_free(api);
	api->kernel_path = kernel;
	api->initrd_path = initrd;
	api->boot_args = args;
	api->opts->kernel = kernel;
	api->opts->image.initrd_path = initrd;
	api->opts->image.cmdline = args;
	api->boot_source_set = true;
	respond_empty(resp);
}

/* ---- PUT /actions ---- */

static void instance_start(struct api_state *api, struct api_response *resp)
{
	if (api->running)
		return fault_started(resp);
	if (!api->boot_source_set)
		return api_fault(resp, 400, "Cannot start the microVM without a boot source: "
				 "PUT /boot-source first.");
	struct kvmini_error err;
	if (api->start(api->start_ctx, &err) < 0)
		return api_fault(resp, 400, "Cannot start the microVM: %s", err.msg);
	api->running = true;
	respond_empty(resp);
}

static void actions_put(struct api_state *api, const struct http_request *req,
			struct api_response *resp)
{
	static const char *const allowed[] = { "action_type", NULL };
	cJSON *obj = body_object(req, resp);
	if (!obj)
		return;
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "action_type");
	resp->status = 0;
	bool ok = fields_check(obj, allowed, resp) &&
		  field_present(type, "action_type", true, resp) &&
		  field_string(type, "action_type", 64, resp);
	char action[65] = "";
	if (ok)
		snprintf(action, sizeof(action), "%s", type->valuestring);
	cJSON_Delete(obj);
	if (!ok)
		return;
	if (strcmp(action, "InstanceStart") == 0)
		return instance_start(api, resp);
	if (strcmp(action, "SendCtrlAltDel") == 0 || strcmp(action, "FlushMetrics") == 0)
		return api_fault(resp, 400, "The action %s is not supported by kvmini yet.", action);
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
};

/* Firecracker's other resources: named, so a client learns they are
 * missing from kvmini rather than misspelt (docs/api.md). */
static const char *const later_prefixes[] = {
	"/drives/", "/network-interfaces/", "/vsock", "/vm", "/snapshot/", "/logger",
	"/metrics", "/mmds", "/balloon", "/entropy", "/cpu-config", "/version", "/serial",
	"/hotplug/",
};

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

void api_handle(struct api_state *api, const struct http_request *req, struct api_response *resp)
{
	resp->body = NULL;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(routes[i].path, req->path) == 0 && strcmp(routes[i].method, req->method) == 0)
			return routes[i].fn(api, req, resp);
	if (path_is_later(req->path))
		return api_fault(resp, 400, "%s %s is not supported by kvmini yet.", req->method,
				 req->path);
	api_fault(resp, 400, "Invalid request method and/or path: %s %s.", req->method, req->path);
}
