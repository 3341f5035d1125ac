/* The control API's helpers for responses and hostile JSON bodies,
 * shared by the handler files (api.c, devices.c, vm.c). Each check
 * that fails has already written the 400 the client gets. */
#ifndef KVMINI_API_JSON_H
#define KVMINI_API_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include "api/api.h"

/* 200-style answers: obj (consumed) as the body, or none (204). */
void api_respond_json(struct api_response *resp, int status, cJSON *obj);
void api_respond_empty(struct api_response *resp);
/* "The requested operation is not supported after starting the microVM." */
void api_fault_started(struct api_response *resp);

/* The body as one JSON object, or NULL after a 400. */
cJSON *json_body(const struct http_request *req, struct api_response *resp);
/* Every member named in `allowed` (NULL-ended, at most 32), none twice. */
bool json_fields_check(const cJSON *obj, const char *const *allowed, struct api_response *resp);
/* Whether v is there; missing and required is a 400. */
bool json_field_present(const cJSON *v, const char *name, bool required,
			struct api_response *resp);
/* A whole number in [min, max]. */
bool json_field_integer(const cJSON *v, const char *name, double min, double max,
			uint64_t *out, struct api_response *resp);
/* A string of at most max bytes. */
bool json_field_string(const cJSON *v, const char *name, size_t max, struct api_response *resp);
/* A path: a non-empty string of at most API_PATH_MAX bytes into *out
 * (NULL when absent and not required). */
bool json_field_path(const cJSON *obj, const char *name, bool required, const char **out,
		     struct api_response *resp);
/* A Firecracker option kvmini lacks: absent, or its "off" value only. */
bool json_field_off_only(const cJSON *obj, const char *name, struct api_response *resp);
/* A copy of the string member `name`, NULL when absent (or no memory). */
char *json_strdup_field(const cJSON *obj, const char *name);

#endif
