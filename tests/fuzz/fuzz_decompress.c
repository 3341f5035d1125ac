/* libFuzzer target: the host-side decompressors behind --decompress
 * (src/loaders/decompress.c: gzip, xz, zstd, lz4 through Debian's
 * libraries) on a hostile payload, with the output bound a small guest
 * would set: the bound must hold whatever the stream claims. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "loaders/decompress.h"

#define FUZZ_MAX_OUT (4u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum payload_format format = payload_detect(data, size);
	(void)payload_format_name(format);
	uint8_t *out = NULL;
	size_t out_size = 0;
	struct kvmini_error err;
	if (payload_decompress("fuzz", data, size, FUZZ_MAX_OUT, "the bound", &out, &out_size,
			       &err) == 0 && out_size > FUZZ_MAX_OUT)
		abort();   /* the bound did not hold */
	free(out);
	return 0;
}
