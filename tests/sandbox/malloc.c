/* A malloc-heavy program: many small and large blocks (brk and mmap),
 * realloc growth (mremap), frees in a scrambled order. Prints a checksum
 * that must match a native run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 1024

static uint64_t rng = 88172645463325252ULL;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(void)
{
	static unsigned char *slot[SLOTS];
	static size_t size[SLOTS];
	uint64_t sum = 0;
	for (int round = 0; round < 200000; round++) {
		unsigned i = (unsigned)(next() % SLOTS);
		if (slot[i]) {
			for (size_t k = 0; k < size[i]; k += 61)
				sum = sum * 31 + slot[i][k];
			if (next() % 4 == 0 && size[i] < (256u << 10)) {
				size_t grown = size[i] * 2 + 1;
				unsigned char *p = realloc(slot[i], grown);
				if (!p) {
					printf("realloc failed\n");
					return 1;
				}
				slot[i] = p;
				memset(slot[i] + size[i], (int)(round & 0xff), grown - size[i]);
				size[i] = grown;
				continue;
			}
			free(slot[i]);
			slot[i] = NULL;
			continue;
		}
		uint64_t r = next();
		size[i] = r % 16 == 0 ? 64 * 1024 + r % (256 * 1024) : 1 + r % 512;
		slot[i] = malloc(size[i]);
		if (!slot[i]) {
			printf("malloc failed\n");
			return 1;
		}
		memset(slot[i], (int)(r & 0xff), size[i]);
	}
	for (int i = 0; i < SLOTS; i++)
		free(slot[i]);
	printf("checksum %016llx\n", (unsigned long long)sum);
	return 0;
}
