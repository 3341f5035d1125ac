/* cJSON, opened when the control API or a config file needs it rather
 * than linked: a shared library costs every start its loading, and most
 * runs have no API (docs/performance.md, figure (h)). The functions of
 * <cjson/cJSON.h> that src/api calls are defined in cjson_dl.c and go
 * to the library opened here, so the rest of src/api calls cJSON as if
 * it were linked. */
#ifndef KVMINI_API_CJSON_DL_H
#define KVMINI_API_CJSON_DL_H

#include "error.h"

/* Open libcjson.so.1 (once per process): 0, or -1 with an error naming
 * the Debian package. Called by api_server_open() and
 * api_config_apply() on the main thread, before any filter, because
 * no filtered thread may map code; a cJSON call before a successful
 * open opens it there, or aborts with the reason. */
int cjson_open(struct kvmini_error *err);

#endif
