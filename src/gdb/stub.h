/* The gdb stub: a GDB remote-serial-protocol server for one VM, on a TCP
 * or Unix socket, in a thread of its own. Threads are vCPUs (thread id =
 * vCPU index + 1). One client at a time. The guest stops when a client
 * sends its first well-formed packet (a client that only sends junk never
 * stops it); when the client detaches or drops the connection, every
 * breakpoint is removed, the guest runs on, and the stub waits for the
 * next client. The VM side is gdb/target.h; the wire
 * format is gdb/packet.h. */
#ifndef KVMINI_GDB_STUB_H
#define KVMINI_GDB_STUB_H

#include <stdbool.h>
#include "vm.h"

struct gdb_stub;

/* Listen on address ("tcp:HOST:PORT", port 0 picks a free one, or
 * "unix:PATH") and serve it; call before vm_run(). With wait, no vCPU
 * runs an instruction until a client resumes it. Writes where it listens
 * to the VM's log. */
struct gdb_stub *gdb_stub_create(struct vm *vm, const char *address, bool wait,
				 struct kvmini_error *err);
/* Stop serving (closing any connection) and free; after vm_run(). */
void gdb_stub_destroy(struct gdb_stub *stub);

#endif
