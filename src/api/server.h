/* The control API's Unix socket server. It runs on an event loop of
 * its own (src/event_loop.h, thread "api"), created before the VM and
 * kept after InstanceStart: the VM's loop does not exist until the VM
 * does, and one loop for the socket's whole life means no connection
 * ever moves between loops mid-request. Each connection holds at most
 * one request (HTTP_HEAD_MAX + HTTP_BODY_MAX bytes); a client that sends
 * half a request and waits only holds its own slot. */
#ifndef KVMINI_API_SERVER_H
#define KVMINI_API_SERVER_H

#include "api/api.h"
#include "error.h"

#define API_CONNECTIONS_MAX 16

struct api_server;

/* Listen on `path` (which must not exist yet) and serve `api` on the
 * server's loop thread; api is used only there until api_server_close().
 * The thread installs the API role's seccomp filter (in `seccomp` mode)
 * before it reads a client's first byte. */
struct api_server *api_server_open(const char *path, struct api_state *api,
				   enum kvmini_seccomp seccomp, struct kvmini_error *err);
/* Stop serving, close every connection, remove the socket file. NULL is fine. */
void api_server_close(struct api_server *server);

/* Write one response (status line, headers, body) to fd; false when
 * the client did not take it whole. Shared with the fuzz target. */
bool api_response_write(int fd, const struct api_response *resp, bool keep_alive);

#endif
