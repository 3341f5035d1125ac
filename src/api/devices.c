/* The control API's devices: PUT/PATCH /drives/{id}, PUT
 * /network-interfaces/{id}, PUT /vsock (Firecracker's fields and
 * faults). They are recorded here and become the config's virtio
 * devices at InstanceStart (api_apply_devices), after those the command
 * line gave. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/json.h"
#include "error.h"

/* ---- ids: the last path segment, [A-Za-z0-9_]{1,64} ---- */

static bool id_valid(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > API_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(id[i] == '_' || (id[i] >= '0' && id[i] <= '9') ||
		      (id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z')))
			return false;
	return true;
}

/* The id from path PREFIX/ID, checked, and the body's id field equal to
 * it (Firecracker requires both). */
static bool path_id(const struct http_request *req, const char *prefix, const cJSON *obj,
		    const char *field, char *id, struct api_response *resp)
{
	const char *p = req->path + strlen(prefix);
	if (!id_valid(p)) {
		api_fault(resp, 400, "Invalid ID in the path: it must be 1 to %d letters, digits "
			  "or underscores.", API_ID_MAX);
		return false;
	}
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
	if (!json_field_present(v, field, true, resp) || !json_field_string(v, field, API_ID_MAX, resp))
		return false;
	if (strcmp(v->valuestring, p) != 0) {
		api_fault(resp, 400, "The id from the path does not match the id from the body!");
		return false;
	}
	snprintf(id, API_ID_MAX + 1, "%s", p);
	return true;
}

static bool bool_field(const cJSON *obj, const char *name, bool required, bool *out,
		       struct api_response *resp)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (!json_field_present(v, name, required, resp))
		return !required;
	if (!cJSON_IsBool(v)) {
		api_fault(resp, 400, "`%s` must be a boolean.", name);
		return false;
	}
	*out = cJSON_IsTrue(v);
	return true;
}

/* A string field that may be absent or null; *out NULL then. */
static bool nullable_string(const cJSON *obj, const char *name, size_t max, const char **out,
			    struct api_response *resp)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return true;
	if (!json_field_string(v, name, max, resp))
		return false;
	*out = v->valuestring;
	return true;
}

/* One of `choices` (NULL-ended), or absent. */
static bool enum_field(const cJSON *obj, const char *name, const char *const *choices,
		       struct api_response *resp)
{
	const char *s;
	if (!nullable_string(obj, name, 64, &s, resp))
		return false;
	if (!s)
		return true;
	for (unsigned i = 0; choices[i]; i++)
		if (strcmp(s, choices[i]) == 0)
			return true;
	api_fault(resp, 400, "`%s` has an unknown value '%s'.", name, s);
	return false;
}

/* Rate limiters are not built: absent or null only. */
static bool no_rate_limiter(const cJSON *obj, const char *name, struct api_response *resp)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (!v || cJSON_IsNull(v))
		return true;
	api_fault(resp, 400, "`%s` is not supported by kvmini yet: only null is accepted.", name);
	return false;
}

/* ---- drives ---- */

static struct api_drive *drive_find(struct api_state *api, const char *id)
{
	for (unsigned i = 0; i < api->ndrives; i++)
		if (strcmp(api->drives[i].id, id) == 0)
			return &api->drives[i];
	return NULL;
}

static void drive_free(struct api_drive *d)
{
	free(d->path);
	free(d->partuuid);
	d->path = d->partuuid = NULL;
}

struct drive_body {
	char id[API_ID_MAX + 1];
	const char *path, *partuuid;
	bool root, read_only;
};

static bool drive_body_parse(const struct http_request *req, const cJSON *obj,
			     struct drive_body *b, struct api_response *resp)
{
	static const char *const allowed[] = { "drive_id", "path_on_host", "is_root_device",
		"is_read_only", "partuuid", "cache_type", "rate_limiter", "io_engine", "socket",
		NULL };
	static const char *const caches[] = { "Unsafe", "Writeback", NULL };
	static const char *const engines[] = { "Sync", "Async", NULL };
	resp->status = 0;
	if (!json_fields_check(obj, allowed, resp) || !path_id(req, "/drives/", obj, "drive_id", b->id, resp))
		return false;
	if (cJSON_GetObjectItemCaseSensitive(obj, "socket")) {
		api_fault(resp, 400, "`socket` (vhost-user drives) is not supported by kvmini.");
		return false;
	}
	return json_field_path(obj, "path_on_host", true, &b->path, resp) &&
	       bool_field(obj, "is_root_device", true, &b->root, resp) &&
	       bool_field(obj, "is_read_only", false, &b->read_only, resp) &&
	       nullable_string(obj, "partuuid", 64, &b->partuuid, resp) &&
	       enum_field(obj, "cache_type", caches, resp) &&
	       enum_field(obj, "io_engine", engines, resp) &&
	       no_rate_limiter(obj, "rate_limiter", resp);
}

static bool drive_store(struct api_drive *d, const struct drive_body *b)
{
	char *path = strdup(b->path);
	char *partuuid = b->partuuid ? strdup(b->partuuid) : NULL;
	if (!path || (b->partuuid && !partuuid)) {
		free(path);
		free(partuuid);
		return false;
	}
	drive_free(d);
	snprintf(d->id, sizeof(d->id), "%s", b->id);
	d->path = path;
	d->partuuid = partuuid;
	d->root = b->root;
	d->read_only = b->read_only;
	return true;
}

/* PUT creates the drive or replaces it whole. Only one root device. */
void api_drive_put(struct api_state *api, const struct http_request *req,
		   struct api_response *resp)
{
	if (api->running)
		return api_fault_started(resp);
	cJSON *obj = json_body(req, resp);
	if (!obj)
		return;
	struct drive_body b = { 0 };
	if (!drive_body_parse(req, obj, &b, resp))
		return cJSON_Delete(obj);
	struct api_drive *d = drive_find(api, b.id);
	for (unsigned i = 0; b.root && i < api->ndrives; i++)
		if (api->drives[i].root && &api->drives[i] != d) {
			cJSON_Delete(obj);
			return api_fault(resp, 400, "A root block device already exists!");
		}
	if (!d && api->ndrives == API_DRIVES_MAX) {
		cJSON_Delete(obj);
		return api_fault(resp, 400, "kvmini takes at most %d drives.", API_DRIVES_MAX);
	}
	struct api_drive fresh = { 0 };
	bool stored = drive_store(d ? d : &fresh, &b);
	cJSON_Delete(obj);
	if (!stored)
		return api_fault(resp, 500, "out of memory");
	if (!d)
		api->drives[api->ndrives++] = fresh;
	api_respond_empty(resp);
}

/* PATCH changes an existing drive's file (before the start: once the
 * guest runs, kvmini cannot swap a disk's file under it yet). */
void api_drive_patch(struct api_state *api, const struct http_request *req,
		     struct api_response *resp)
{
	static const char *const allowed[] = { "drive_id", "path_on_host", "rate_limiter", NULL };
	cJSON *obj = json_body(req, resp);
	if (!obj)
		return;
	char id[API_ID_MAX + 1];
	const char *path = NULL;
	resp->status = 0;
	bool ok = json_fields_check(obj, allowed, resp) &&
		  path_id(req, "/drives/", obj, "drive_id", id, resp) &&
		  json_field_path(obj, "path_on_host", false, &path, resp) &&
		  no_rate_limiter(obj, "rate_limiter", resp);
	char *copy = ok && path ? strdup(path) : NULL;
	cJSON_Delete(obj);
	if (!ok)
		return;
	struct api_drive *d = drive_find(api, id);
	if (!d) {
		free(copy);
		return api_fault(resp, 400, "Could not find a drive with the id %s.", id);
	}
	if (api->running) {
		free(copy);
		return api_fault(resp, 400, "Changing a drive after the start is not supported by "
				 "kvmini yet.");
	}
	if (path && !copy)
		return api_fault(resp, 500, "out of memory");
	if (copy) {
		free(d->path);
		d->path = copy;
	}
	api_respond_empty(resp);
}

/* ---- network interfaces ---- */

static bool mac_parse(const char *text, uint8_t mac[6])
{
	unsigned v[6];
	char end;
	if (strlen(text) != 17 ||
	    sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &end) != 6)
		return false;
	for (int i = 0; i < 6; i++) {
		if (text[3 * i + 2] != ':' && i < 5)
			return false;
		mac[i] = (uint8_t)v[i];
	}
	return !(mac[0] & 1);   /* a multicast address cannot be a card's */
}

static bool net_body_parse(const struct http_request *req, const cJSON *obj, struct api_net *n,
			   const char **host_dev, struct api_response *resp)
{
	static const char *const allowed[] = { "iface_id", "host_dev_name", "guest_mac",
		"rx_rate_limiter", "tx_rate_limiter", NULL };
	const char *mac = NULL;
	resp->status = 0;
	if (!json_fields_check(obj, allowed, resp) ||
	    !path_id(req, "/network-interfaces/", obj, "iface_id", n->id, resp) ||
	    !json_field_path(obj, "host_dev_name", true, host_dev, resp) ||
	    !nullable_string(obj, "guest_mac", 17, &mac, resp) ||
	    !no_rate_limiter(obj, "rx_rate_limiter", resp) ||
	    !no_rate_limiter(obj, "tx_rate_limiter", resp))
		return false;
	if (strlen(*host_dev) >= 16) {
		api_fault(resp, 400, "`host_dev_name` is longer than a network device's 15 bytes.");
		return false;
	}
	if (mac && !mac_parse(mac, n->mac)) {
		api_fault(resp, 400, "`guest_mac` '%s' is not a unicast MAC address "
			  "(xx:xx:xx:xx:xx:xx).", mac);
		return false;
	}
	n->mac_set = mac != NULL;
	return true;
}

void api_net_put(struct api_state *api, const struct http_request *req,
		 struct api_response *resp)
{
	if (api->running)
		return api_fault_started(resp);
	cJSON *obj = json_body(req, resp);
	if (!obj)
		return;
	struct api_net n = { 0 };
	const char *host_dev = NULL;
	bool ok = net_body_parse(req, obj, &n, &host_dev, resp);
	n.host_dev = ok ? strdup(host_dev) : NULL;
	cJSON_Delete(obj);
	if (!ok)
		return;
	if (!n.host_dev)
		return api_fault(resp, 500, "out of memory");
	unsigned i = 0;
	while (i < api->nnets && strcmp(api->nets[i].id, n.id) != 0)
		i++;
	if (i == API_NETS_MAX) {
		free(n.host_dev);
		return api_fault(resp, 400, "kvmini takes at most %d network interfaces.",
				 API_NETS_MAX);
	}
	if (i == api->nnets)
		api->nnets++;
	else
		free(api->nets[i].host_dev);
	api->nets[i] = n;
	api_respond_empty(resp);
}

/* ---- vsock ---- */

void api_vsock_put(struct api_state *api, const struct http_request *req,
		   struct api_response *resp)
{
	static const char *const allowed[] = { "vsock_id", "guest_cid", "uds_path", NULL };
	if (api->running)
		return api_fault_started(resp);
	cJSON *obj = json_body(req, resp);
	if (!obj)
		return;
	const char *uds = NULL, *vsock_id = NULL;
	uint64_t cid = 0;
	resp->status = 0;
	/* CIDs 0-2 are the hypervisor's, the host's and reserved. */
	bool ok = json_fields_check(obj, allowed, resp) &&
		  nullable_string(obj, "vsock_id", API_ID_MAX, &vsock_id, resp) &&
		  json_field_present(cJSON_GetObjectItemCaseSensitive(obj, "guest_cid"), "guest_cid",
				     true, resp) &&
		  json_field_integer(cJSON_GetObjectItemCaseSensitive(obj, "guest_cid"), "guest_cid",
				     3, 4294967294.0, &cid, resp) &&
		  json_field_path(obj, "uds_path", true, &uds, resp);
	char *copy = ok ? strdup(uds) : NULL;
	cJSON_Delete(obj);
	if (!ok)
		return;
	if (!copy)
		return api_fault(resp, 500, "out of memory");
	free(api->vsock_uds);
	api->vsock_uds = copy;
	api->opts->cfg.vsock = (struct kvmini_vsock){ .enabled = true, .guest_cid = (uint32_t)cid,
						      .uds_path = copy };
	api_respond_empty(resp);
}

/* ---- InstanceStart: into the config ---- */

static int append_root(struct api_state *api, const struct api_drive *root)
{
	const char *base = api->cli_append;
	char *s = NULL;
	int n;
	if (root->partuuid)
		n = asprintf(&s, "%s%sroot=PARTUUID=%s %s", base ? base : "", base ? " " : "",
			     root->partuuid, root->read_only ? "ro" : "rw");
	else
		n = asprintf(&s, "%s%sroot=/dev/vda %s", base ? base : "", base ? " " : "",
			     root->read_only ? "ro" : "rw");
	if (n < 0)
		return -1;
	free(api->append);
	api->append = s;
	api->opts->image.cmdline_append = s;
	return 0;
}

static struct kvmini_disk disk_of(const struct api_drive *d)
{
	return (struct kvmini_disk){ .path = d->path, .read_only = d->read_only };
}

static int apply_drives(struct api_state *api)
{
	unsigned total = api->cli_ndisks + api->ndrives, n = 0;
	struct kvmini_disk *disks = calloc(total ? total : 1, sizeof(*disks));
	if (!disks)
		return -1;
	const struct api_drive *root = NULL;
	for (unsigned i = 0; i < api->ndrives; i++)
		if (api->drives[i].root)
			root = &api->drives[i];
	if (root)
		disks[n++] = disk_of(root);
	for (unsigned i = 0; i < api->cli_ndisks; i++)
		disks[n++] = api->cli_disks[i];
	for (unsigned i = 0; i < api->ndrives; i++)
		if (&api->drives[i] != root)
			disks[n++] = disk_of(&api->drives[i]);
	free(api->disks);
	api->disks = disks;
	api->opts->cfg.disks = disks;
	api->opts->cfg.ndisks = n;
	return root ? append_root(api, root) : 0;
}

static int apply_nets(struct api_state *api)
{
	unsigned total = api->cli_nnets + api->nnets;
	struct kvmini_net *nets = calloc(total ? total : 1, sizeof(*nets));
	if (!nets)
		return -1;
	for (unsigned i = 0; i < api->cli_nnets; i++)
		nets[i] = api->cli_nets[i];
	for (unsigned i = 0; i < api->nnets; i++) {
		struct kvmini_net *n = &nets[api->cli_nnets + i];
		*n = (struct kvmini_net){ .backend = KVMINI_NET_TAP,
					  .tap_name = api->nets[i].host_dev,
					  .mac_set = api->nets[i].mac_set };
		memcpy(n->mac, api->nets[i].mac, sizeof(n->mac));
	}
	free(api->netcfg);
	api->netcfg = nets;
	api->opts->cfg.nets = nets;
	api->opts->cfg.nnets = total;
	return 0;
}

int api_apply_devices(struct api_state *api, struct kvmini_error *err)
{
	if (apply_drives(api) || apply_nets(api))
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory");
	return 0;
}

void api_devices_free(struct api_state *api)
{
	for (unsigned i = 0; i < api->ndrives; i++)
		drive_free(&api->drives[i]);
	for (unsigned i = 0; i < api->nnets; i++)
		free(api->nets[i].host_dev);
	api->ndrives = api->nnets = 0;
	free(api->vsock_uds);
	free(api->disks);
	free(api->netcfg);
	free(api->append);
	api->vsock_uds = NULL;
	api->disks = NULL;
	api->netcfg = NULL;
	api->append = NULL;
}
