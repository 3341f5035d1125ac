/* The stub's listening socket: "tcp:HOST:PORT" (port 0 picks a free one)
 * or "unix:PATH". Kept apart from the protocol so address handling is
 * testable on its own. */
#ifndef KVMINI_GDB_SOCKET_H
#define KVMINI_GDB_SOCKET_H

#include <sys/un.h>
#include "error.h"

struct gdb_listener {
	int fd;
	char where[160];                         /* "tcp:127.0.0.1:1234", for messages */
	char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];   /* to unlink; "" for TCP */
};

/* Errors: KVMINI_E_USAGE for a malformed address, KVMINI_E_HOST when the
 * socket cannot be made (address in use, permissions). */
int gdb_listen(const char *address, struct gdb_listener *l, struct kvmini_error *err);
void gdb_listener_close(struct gdb_listener *l);

/* Accept one client, set up for the protocol (no Nagle delay, bounded
 * send time so a client that stops reading cannot block the stub). */
int gdb_accept(struct gdb_listener *l);

#endif
