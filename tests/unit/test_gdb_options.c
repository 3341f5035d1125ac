/* `kvmini run --gdb ADDRESS [--gdb-wait]`: what the option parser
 * accepts and refuses (the stub checks addresses fully when it listens;
 * tests/unit/test_gdb_stub.c covers that). */
#include <criterion/criterion.h>
#include <string.h>
#include "cli/options.h"

#define ARGV(...) (char *[]){ "run", __VA_ARGS__, NULL }
#define ARGC(...) (int)(sizeof((char *[]){ "run", __VA_ARGS__ }) / sizeof(char *))
#define PARSE(o, e, ...) parse_run_options(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (o), (e))

Test(gdb_options, off_by_default)
{
	struct run_options o;
	struct kvmini_error err;
	cr_assert_eq(PARSE(&o, &err, "guest.elf"), 0, "%s", err.msg);
	cr_assert_null(o.gdb);
	cr_assert(!o.gdb_wait);
}

Test(gdb_options, tcp_and_unix_addresses)
{
	struct run_options o;
	struct kvmini_error err;
	cr_assert_eq(PARSE(&o, &err, "--gdb", "tcp:127.0.0.1:1234", "guest.elf"), 0, "%s", err.msg);
	cr_assert_str_eq(o.gdb, "tcp:127.0.0.1:1234");
	cr_assert(!o.gdb_wait);
	cr_assert_eq(PARSE(&o, &err, "--gdb", "unix:/tmp/g.sock", "--gdb-wait", "guest.elf"), 0,
		     "%s", err.msg);
	cr_assert_str_eq(o.gdb, "unix:/tmp/g.sock");
	cr_assert(o.gdb_wait);
	cr_assert_eq(PARSE(&o, &err, "--gdb-wait", "--gdb", "tcp:[::1]:0", "guest.elf"), 0,
		     "%s", err.msg);
	cr_assert(o.gdb_wait);
	cr_assert_eq(PARSE(&o, &err, "--gdb=tcp:localhost:1"), 0, "the demo can be debugged too");
	cr_assert(o.demo);
}

Test(gdb_options, malformed_addresses)
{
	const char *bad[] = { "", "tcp:", "tcp:1234", "tcp::1234", "tcp:host:", "unix:",
			      "1234", "serial:/dev/ttyS0", "udp:127.0.0.1:1" };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct run_options o;
		struct kvmini_error err;
		cr_assert_eq(PARSE(&o, &err, "--gdb", (char *)bad[i], "guest.elf"), -1,
			     "accepted '%s'", bad[i]);
		cr_assert_eq(err.code, KVMINI_E_USAGE);
		cr_assert(strstr(err.msg, "tcp:HOST:PORT or unix:PATH"), "%s", err.msg);
	}
}

Test(gdb_options, wait_needs_an_address)
{
	struct run_options o;
	struct kvmini_error err;
	cr_assert_eq(PARSE(&o, &err, "--gdb-wait", "guest.elf"), -1);
	cr_assert_str_eq(err.msg, "--gdb-wait needs --gdb");
	cr_assert_eq(PARSE(&o, &err, "--gdb"), -1);
	cr_assert(strstr(err.msg, "needs a value"), "%s", err.msg);
}
