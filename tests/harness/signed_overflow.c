/* A planted bug for the harness's self-test: signed integer overflow,
 * which UBSan reports, in a program that otherwise looks like a passing
 * guest run (prints "4", exits with status 1). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	(void)argv;
	puts("4");
	fflush(stdout);   /* the report ends the process without a flush */
	volatile int big = INT_MAX;
	volatile int sum = big + argc;   /* argc >= 1: past INT_MAX */
	(void)sum;
	return 1;
}
