/* `kvmini run --config-file FILE`: Firecracker's JSON configuration
 * file — the objects the API takes (`machine-config`, `boot-source`,
 * `drives`, `network-interfaces`, `vsock`, `logger`, `metrics`), applied
 * through the API's own handlers. */
#ifndef KVMINI_API_CONFIG_FILE_H
#define KVMINI_API_CONFIG_FILE_H

#include <stddef.h>
#include "api/api.h"

/* Apply the file's text to api (and so to its run options). -1 with a
 * one-line error naming the section (`drives[1]: ...`), status 2. */
int api_config_apply(struct api_state *api, const char *text, size_t len,
		     struct kvmini_error *err);

#endif
