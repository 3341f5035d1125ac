/* `kvmini exec` option parsing: grants, sizes, environment, errors. */
#include <criterion/criterion.h>
#include <string.h>
#include "cli/exec.h"

static int parse(struct exec_options *o, struct kvmini_error *err, int argc, char **argv)
{
	return parse_exec_options(argc, argv, o, err);
}

#define ARGS(...) (char *[]){ "exec", __VA_ARGS__, NULL }
#define COUNT(...) ((int)(sizeof((char *[]){ "exec", __VA_ARGS__ }) / sizeof(char *)))

Test(exec_options, grants_with_guest_paths_and_modes)
{
	struct exec_options o;
	struct kvmini_error err;
	char *argv[] = { "exec", "--dir", "/tmp", "--dir", "/srv:/data,rw", "--dir", "/a:/b,ro",
			 "prog", "x", NULL };
	cr_assert_eq(parse(&o, &err, 9, argv), 0, "%s", err.msg);
	cr_expect_eq(o.cfg.ngrants, 3);
	cr_expect_str_eq(o.grants[0].host, "/tmp");
	cr_expect_null(o.grants[0].guest);
	cr_expect_not(o.grants[0].writable);
	cr_expect_str_eq(o.grants[1].host, "/srv");
	cr_expect_str_eq(o.grants[1].guest, "/data");
	cr_expect(o.grants[1].writable);
	cr_expect_not(o.grants[2].writable);
	cr_expect_str_eq(o.program, "prog");
	cr_expect_str_eq(o.cfg.argv[0], "prog");
	cr_expect_str_eq(o.cfg.argv[1], "x");
	exec_options_free(&o);
}

Test(exec_options, program_options_stay_with_the_program)
{
	struct exec_options o;
	struct kvmini_error err;
	char *argv[] = { "exec", "--mem", "64M", "prog", "--mem", "1", NULL };
	cr_assert_eq(parse(&o, &err, 6, argv), 0, "%s", err.msg);
	cr_expect_eq(o.cfg.mem_size, 64ULL << 20);
	cr_expect_str_eq(o.cfg.argv[1], "--mem");
	exec_options_free(&o);
}

Test(exec_options, environment)
{
	struct exec_options o;
	struct kvmini_error err;
	setenv("KVMINI_TEST_VAR", "v", 1);
	char *argv[] = { "exec", "--env", "A=1", "--env", "KVMINI_TEST_VAR", "--env", "UNSET_XYZ",
			 "p", NULL };
	cr_assert_eq(parse(&o, &err, 8, argv), 0, "%s", err.msg);
	cr_expect_eq(o.nenv, 2);
	cr_expect_str_eq(o.env[0], "A=1");
	cr_expect_str_eq(o.env[1], "KVMINI_TEST_VAR=v");
	cr_expect_null(o.env[2]);
	exec_options_free(&o);
}

static void expect_error(int argc, char **argv, const char *fragment)
{
	struct exec_options o;
	struct kvmini_error err = { 0 };
	cr_expect_eq(parse(&o, &err, argc, argv), -1, "accepted: %s", fragment);
	cr_expect(strstr(err.msg, fragment), "'%s' lacks '%s'", err.msg, fragment);
	exec_options_free(&o);
}

Test(exec_options, errors)
{
	expect_error(1, (char *[]){ "exec", NULL }, "needs a PROGRAM");
	expect_error(COUNT("--dir", "/x:rel", "p"), ARGS("--dir", "/x:rel", "p"), "absolute GUEST");
	expect_error(COUNT("--dir", ",rw", "p"), ARGS("--dir", ",rw", "p"), "--dir");
	expect_error(COUNT("--mem", "lots", "p"), ARGS("--mem", "lots", "p"), "--mem");
	expect_error(COUNT("--timeout", "-1", "p"), ARGS("--timeout", "-1", "p"), "--timeout");
	expect_error(COUNT("--max-files", "2", "p"), ARGS("--max-files", "2", "p"), "--max-files");
	expect_error(COUNT("--max-files", "3.5", "p"), ARGS("--max-files", "3.5", "p"), "--max-files");
	expect_error(COUNT("--env", "=x", "p"), ARGS("--env", "=x", "p"), "--env");
	expect_error(COUNT("--cwd", "rel", "p"), ARGS("--cwd", "rel", "p"), "--cwd");
	expect_error(COUNT("--bogus", "p"), ARGS("--bogus", "p"), "unknown option '--bogus'");
	expect_error(COUNT("--dir"), ARGS("--dir"), "needs a value");
}
