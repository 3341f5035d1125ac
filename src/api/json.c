/* The API's JSON helpers (json.h): bodies are hostile, so every field
 * is checked for name, type and range before a handler uses it. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/json.h"

void api_respond_json(struct api_response *resp, int status, cJSON *obj)
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
	api_respond_json(resp, obj ? status : 500, obj);
}

void api_respond_empty(struct api_response *resp)
{
	resp->status = 204;
	resp->body = NULL;
}

/* ---- request bodies: hostile JSON ---- */

/* The body as one JSON object, nothing after it but white space. cJSON
 * decodes \u0000 into a NUL that would silently cut a string short, so
 * a body spelling one is refused outright. */
cJSON *json_body(const struct http_request *req, struct api_response *resp)
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
bool json_fields_check(const cJSON *obj, const char *const *allowed, struct api_response *resp)
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
bool json_field_integer(const cJSON *v, const char *name, double min, double max,
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
bool json_field_string(const cJSON *v, const char *name, size_t max,
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
bool json_field_off_only(const cJSON *obj, const char *name, struct api_response *resp)
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

void api_fault_started(struct api_response *resp)
{
	api_fault(resp, 400, "The requested operation is not supported after starting the microVM.");
}

/* A required field for PUT, optional for PATCH. */
bool json_field_present(const cJSON *v, const char *name, bool required,
			  struct api_response *resp)
{
	if (!v && required)
		api_fault(resp, 400, "missing field `%s` in the request body.", name);
	return v != NULL;
}

char *json_strdup_field(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return v ? strdup(v->valuestring) : NULL;
}

bool json_field_path(const cJSON *obj, const char *name, bool required, const char **out,
		     struct api_response *resp)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	*out = NULL;
	if (!json_field_present(v, name, required, resp))
		return !required;
	if (!json_field_string(v, name, API_PATH_MAX, resp))
		return false;
	if (!*v->valuestring) {
		api_fault(resp, 400, "`%s` is empty.", name);
		return false;
	}
	*out = v->valuestring;
	return true;
}
