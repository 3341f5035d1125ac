/* Compute-bound: mixes a 16 MiB buffer ROUNDS times (default 20) and
 * prints the digest. The benchmark's "same work, sandbox vs native". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define SIZE (16u << 20)

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 20;
	uint64_t *buf = malloc(SIZE);
	if (!buf)
		return 1;
	for (size_t i = 0; i < SIZE / 8; i++)
		buf[i] = i * 0x9e3779b97f4a7c15ULL;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (int r = 0; r < rounds; r++)
		for (size_t i = 0; i < SIZE / 8; i++) {
			h = (h ^ buf[i]) * 0x100000001b3ULL;
			buf[i] = h ^ (h >> 29);
		}
	printf("digest %016llx\n", (unsigned long long)h);
	free(buf);
	return 0;
}
