/* Shared by the libFuzzer targets of the file-facing parsers: one guest
 * RAM for the whole process (loaders write into it; its contents do not
 * matter between inputs), made on first use. */
#ifndef KVMINI_FUZZ_TARGET_H
#define KVMINI_FUZZ_TARGET_H

#include <stdio.h>
#include <stdlib.h>
#include "memory.h"

#define FUZZ_RAM_SIZE (64ULL << 20)

static inline const struct guest_memory *fuzz_guest_memory(void)
{
	static struct guest_memory mem;
	static int made;
	if (!made) {
		struct kvmini_error err;
		if (guest_memory_init(&mem, FUZZ_RAM_SIZE, 0, &err) < 0) {
			fprintf(stderr, "fuzz: %s\n", err.msg);
			abort();
		}
		made = 1;
	}
	return &mem;
}

#endif
