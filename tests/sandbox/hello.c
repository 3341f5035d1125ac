/* The smallest test: one line on standard output, exit status 0. */
#include <stdio.h>

int main(void)
{
	printf("Hello from the sandbox!\n");
	return 0;
}
