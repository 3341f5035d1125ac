/* The public gdb API (include/kvmini_gdb.h): the stub attached to a
 * machine's VM. The machine does not know it (src/machine.h). */
#include <stdlib.h>
#include "kvmini_gdb.h"
#include "machine.h"
#include "gdb/stub.h"

struct kvmini_gdb {
	struct gdb_stub *stub;
};

struct kvmini_gdb *kvmini_gdb_listen(struct kvmini_vm *m, const char *address, bool wait,
				     struct kvmini_error *err)
{
	struct vm *vm = machine_vm_for(m, "the gdb stub", "--gdb", err);
	if (!vm)
		return NULL;
	struct kvmini_gdb *gdb = calloc(1, sizeof(*gdb));
	if (!gdb) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for the gdb stub");
		return NULL;
	}
	gdb->stub = gdb_stub_create(vm, address, wait, err);
	if (!gdb->stub) {
		free(gdb);
		return NULL;
	}
	return gdb;
}

void kvmini_gdb_close(struct kvmini_gdb *gdb)
{
	if (!gdb)
		return;
	gdb_stub_destroy(gdb->stub);
	free(gdb);
}
