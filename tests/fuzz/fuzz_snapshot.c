/* libFuzzer target: the snapshot reader (src/snapshot/format.c, the
 * machine and vCPU decoders of src/machine_snapshot.c and vm_state.c,
 * the split irqchip's section, read into models of its own, and the
 * virtio devices' configuration, src/machine_snapshot_virtio.c)
 * on a hostile snapshot file. Nothing may be read outside the file, and
 * a decoded snapshot must be freed without a leak. */
#include <stddef.h>
#include <stdint.h>
#include "machine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct machine_snapshot s;
	struct kvmini_error err;
	if (machine_snapshot_decode(data, size, &s, &err) == 0)
		machine_snapshot_free(&s);
	return 0;
}
