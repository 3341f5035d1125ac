/* Firecracker's --config-file (config_file.h): each object of the file
 * goes through the handler its API request would reach, so the file and
 * the API accept exactly the same things and fail with the same words. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/cjson_dl.h"
#include "api/config_file.h"
#include "error.h"

/* One object through PUT `path`; on a fault, err names where it was. */
static int put_object(struct api_state *api, const char *path, const cJSON *obj,
		      const char *where, struct kvmini_error *err)
{
	char *body = cJSON_PrintUnformatted(obj);
	if (!body)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory");
	struct http_request req = { .body = body, .body_len = strlen(body) };
	snprintf(req.method, sizeof(req.method), "PUT");
	snprintf(req.path, sizeof(req.path), "%s", path);
	struct api_response resp;
	api_handle(api, &req, &resp);
	free(body);
	int rc = 0;
	if (resp.status >= 300) {
		cJSON *fault = resp.body ? cJSON_Parse(resp.body) : NULL;
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(fault, "fault_message");
		rc = kvmini_fail(err, KVMINI_E_USAGE, "%s: %s", where,
				 cJSON_IsString(msg) ? msg->valuestring : "refused");
		cJSON_Delete(fault);
	}
	free(resp.body);
	return rc;
}

/* An array of objects, each PUT to PREFIX/<its id field>. */
static int put_each(struct api_state *api, const cJSON *array, const char *key,
		    const char *prefix, const char *id_field, struct kvmini_error *err)
{
	if (!cJSON_IsArray(array))
		return kvmini_fail(err, KVMINI_E_USAGE, "`%s` must be an array", key);
	unsigned i = 0;
	for (const cJSON *obj = array->child; obj; obj = obj->next, i++) {
		char where[96], path[160];
		snprintf(where, sizeof(where), "%s[%u]", key, i);
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, id_field);
		if (!cJSON_IsObject(obj) || !cJSON_IsString(id) || strlen(id->valuestring) > 64)
			return kvmini_fail(err, KVMINI_E_USAGE,
					   "%s: must be an object with a string `%s` (at most 64 bytes)",
					   where, id_field);
		snprintf(path, sizeof(path), "%s%s", prefix, id->valuestring);
		if (put_object(api, path, obj, where, err))
			return -1;
	}
	return 0;
}

static const struct section {
	const char *key, *path;
	const char *id_field;     /* an array of objects with this id; NULL: one object */
} sections[] = {
	{ "machine-config", "/machine-config", NULL },
	{ "boot-source", "/boot-source", NULL },
	{ "drives", "/drives/", "drive_id" },
	{ "network-interfaces", "/network-interfaces/", "iface_id" },
	{ "vsock", "/vsock", NULL },
	{ "logger", "/logger", NULL },
	{ "metrics", "/metrics", NULL },
};

static const struct section *section_find(const char *key)
{
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (strcmp(sections[i].key, key) == 0)
			return &sections[i];
	return NULL;
}

static int apply_section(struct api_state *api, const struct section *s, const cJSON *v,
			 struct kvmini_error *err)
{
	if (s->id_field)
		return put_each(api, v, s->key, s->path, s->id_field, err);
	if (!cJSON_IsObject(v))
		return kvmini_fail(err, KVMINI_E_USAGE, "`%s` must be an object", s->key);
	return put_object(api, s->path, v, s->key, err);
}

int api_config_apply(struct api_state *api, const char *text, size_t len,
		     struct kvmini_error *err)
{
	if (cjson_open(err) < 0)
		return -1;
	cJSON *root = cJSON_ParseWithLength(text, len);
	if (!root || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return kvmini_fail(err, KVMINI_E_USAGE, "not a JSON object");
	}
	int rc = 0;
	for (const cJSON *m = root->child; m && rc == 0; m = m->next)
		if (!section_find(m->string))
			rc = kvmini_fail(err, KVMINI_E_USAGE, "unknown or unsupported section `%.64s`",
					 m->string);
	/* The machine first, whatever the file's order, as the API would
	 * be driven. */
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]) && rc == 0; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, sections[i].key);
		if (v)
			rc = apply_section(api, &sections[i], v, err);
	}
	if (rc == 0 && !api->boot_source_set)
		rc = kvmini_fail(err, KVMINI_E_USAGE, "the file has no `boot-source`");
	cJSON_Delete(root);
	return rc;
}
