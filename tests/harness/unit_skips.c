/* A planted unit-test binary for the harness's self-test: one test
 * passes, one skips with a reason, one reads freed memory. run-tests.sh
 * must count 1 passed, 1 skipped (printing the reason) and the
 * sanitizer report as a failure. */
#include <criterion/criterion.h>
#include <stdlib.h>

Test(planted, passes)
{
	cr_expect_eq(2 + 2, 4);
}

Test(planted, skips)
{
	cr_skip_test("the planted reason");
}

Test(planted, reads_freed_memory)
{
	char *volatile p = malloc(8);
	free(p);
	volatile char c = p[0];   /* through a volatile pointer: gcc cannot see it */
	(void)c;
}
