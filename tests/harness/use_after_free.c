/* A planted bug for the harness's self-test (tests/integration/
 * harness.bats): behaves like a passing guest run — prints "4" and exits
 * with status 1, what debug-exit 0 gives — but reads freed memory on its
 * way out. Built with the sanitizer flags kvmini's tests use; the harness
 * must count it as a failure. */
#include <stdio.h>
#include <stdlib.h>

static char *freed;

static void read_freed_memory(void)
{
	volatile char c = freed[0];
	(void)c;
}

int main(void)
{
	freed = malloc(16);
	freed[0] = '4';
	free(freed);
	atexit(read_freed_memory);
	puts("4");
	fflush(stdout);   /* the report ends the process without a flush */
	return 1;
}
