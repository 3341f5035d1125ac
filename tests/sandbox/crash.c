/* Crashes the way it is told: segv, write-text, ill, fpe, abort, stack. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* Recurse until the stack runs into its guard page (n never reaches the
 * limit the compiler cannot see through). */
static int depth(volatile char *p, int n, int limit)
{
	volatile char buf[4096];
	buf[0] = (char)n;
	if (n == limit)
		return p ? p[0] : 0;
	return n + depth(buf, n + 1, limit) + buf[0];
}

int main(int argc, char **argv)
{
	const char *how = argc > 1 ? argv[1] : "segv";
	if (strcmp(how, "segv") == 0) {
		volatile int *volatile bad = (int *)16;
		return *bad;
	}
	if (strcmp(how, "write-text") == 0) {
		*(volatile char *)(void *)main = 0;
		return 0;
	}
	if (strcmp(how, "ill") == 0)
		__asm__ volatile("ud2");
	if (strcmp(how, "fpe") == 0)
		__asm__ volatile("xor %%ecx, %%ecx; mov $1, %%eax; cltd; idiv %%ecx"
				 ::: "eax", "ecx", "edx");
	if (strcmp(how, "abort") == 0)
		abort();
	if (strcmp(how, "stack") == 0)
		return depth(NULL, 0, argc > 100 ? 1 : -1);
	return 0;
}
