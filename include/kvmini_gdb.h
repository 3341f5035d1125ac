/* libkvmini's gdb stub: the GDB remote protocol for a VM of
 * include/kvmini.h, as a layer of its own above it. The caller (kvmini's
 * command line) creates it for a loaded VM and closes it after the run;
 * the VM itself never knows it is debugged, apart from the exits the
 * stub claims through the run loop's hooks. */
#ifndef KVMINI_GDB_H
#define KVMINI_GDB_H

#include <stdbool.h>
#include "kvmini.h"

struct kvmini_gdb;

/* Serve the GDB remote protocol for vm on address: "tcp:HOST:PORT"
 * (port 0 picks a free port) or "unix:PATH"; where it listens goes to
 * the VM's log fd. Call after kvmini_vm_load() and before
 * kvmini_vm_run(), once per VM; refused for a VM that restarts on a
 * reset (KVMINI_ON_RESET_RESTART). With wait, the guest runs no
 * instruction until gdb continues it. */
struct kvmini_gdb *kvmini_gdb_listen(struct kvmini_vm *vm, const char *address, bool wait,
				     struct kvmini_error *err);
/* Stop serving and free: after kvmini_vm_run() has returned and before
 * kvmini_vm_destroy(). NULL is fine. */
void kvmini_gdb_close(struct kvmini_gdb *gdb);

#endif
