/* A planted unit-test binary for the harness's self-test: every test
 * passes, yet the binary exits with status 3. run-tests.sh must count
 * that as a failure, not trust the "Passing" count alone. */
#include <criterion/criterion.h>
#include <unistd.h>

static void exit_badly(void)
{
	_exit(3);
}

Test(planted, passes)
{
	cr_expect_eq(2 + 2, 4);
}

/* In the runner process, after Criterion has printed its summary. */
__attribute__((constructor)) static void plant(void)
{
	atexit(exit_badly);
}
