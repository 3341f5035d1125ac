/* `kvmini run --kernel`: the Linux boot options and their rejections. */
#include <criterion/criterion.h>
#include <string.h>
#include "cli/options.h"

#define ARGV(...) (char *[]){ "run", __VA_ARGS__, NULL }
#define ARGC(...) (int)(sizeof((char *[]){ "run", __VA_ARGS__ }) / sizeof(char *))
#define PARSE(o, e, ...) parse_run_options(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (o), (e))

Test(linux_options, kernel_initrd_cmdline_append)
{
	struct run_options o;
	struct kvmini_error err;

	cr_assert_eq(PARSE(&o, &err, "--kernel", "bzImage", "--initrd", "initrd.gz",
			   "--cmdline", "root=/dev/ram0", "--append", "quiet"), 0, "%s", err.msg);
	cr_assert_str_eq(o.image.path, "bzImage");
	cr_assert_eq(o.image.format, KVMINI_FORMAT_LINUX);
	cr_assert_str_eq(o.image.initrd_path, "initrd.gz");
	cr_assert_str_eq(o.image.cmdline, "root=/dev/ram0");
	cr_assert_str_eq(o.image.cmdline_append, "quiet");
	cr_assert_not(o.demo);
}

Test(linux_options, kernel_defaults_to_the_in_kernel_irqchip)
{
	struct run_options o;
	struct kvmini_error err;

	cr_assert_eq(PARSE(&o, &err, "--kernel", "bzImage"), 0, "%s", err.msg);
	cr_assert_eq(o.cfg.irqchip, KVMINI_IRQCHIP_KERNEL);
	cr_assert_null(o.image.cmdline, "NULL: the default command line");
	cr_assert_null(o.image.initrd_path);
}

Test(linux_options, an_explicit_irqchip_wins)
{
	struct run_options o;
	struct kvmini_error err;

	cr_assert_eq(PARSE(&o, &err, "--irqchip", "none", "--kernel", "bzImage"), 0, "%s", err.msg);
	cr_assert_eq(o.cfg.irqchip, KVMINI_IRQCHIP_NONE);
}

Test(linux_options, without_kernel_the_irqchip_default_is_unchanged)
{
	struct run_options o;
	struct kvmini_error err;

	cr_assert_eq(PARSE(&o, &err, "guest.elf"), 0, "%s", err.msg);
	cr_assert_eq(o.cfg.irqchip, KVMINI_IRQCHIP_NONE);
}

static void expect_error(int argc, char **argv, const char *message)
{
	struct run_options o;
	struct kvmini_error err;

	cr_assert_eq(parse_run_options(argc, argv, &o, &err), -1, "accepted: %s", message);
	cr_assert_eq(err.code, KVMINI_E_USAGE);
	cr_assert_str_eq(err.msg, message);
}

#define EXPECT_ERROR(message, ...) expect_error(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), message)

Test(linux_options, rejections)
{
	EXPECT_ERROR("unexpected argument 'guest.elf': --kernel names the image",
		     "--kernel", "bzImage", "guest.elf");
	EXPECT_ERROR("--mode, --format, --load-addr and --entry do not apply to --kernel",
		     "--kernel", "bzImage", "--mode", "long");
	EXPECT_ERROR("--mode, --format, --load-addr and --entry do not apply to --kernel",
		     "--entry", "0x100000", "--kernel", "bzImage");
	EXPECT_ERROR("--initrd, --cmdline and --append need --kernel", "--initrd", "x", "guest.elf");
	EXPECT_ERROR("--initrd, --cmdline and --append need --kernel", "--cmdline", "x");
	EXPECT_ERROR("--initrd, --cmdline and --append need --kernel", "--append", "x");
	EXPECT_ERROR("option '--kernel' needs a value", "--kernel");
}

Test(linux_options, modules_in_order_and_testdev)
{
	struct run_options o;
	struct kvmini_error err;

	cr_assert_eq(PARSE(&o, &err, "--testdev", "--kernel", "mb.elf", "--initrd", "m0",
			   "--module", "m1,a=1 b", "--module", "m2"), 0, "%s", err.msg);
	cr_assert_eq(o.nmodules, 2);
	cr_assert_str_eq(o.module_specs[0], "m1,a=1 b");
	cr_assert_str_eq(o.module_specs[1], "m2");
	cr_assert(o.cfg.testdev);
	cr_assert_eq(PARSE(&o, &err, "--kernel", "mb.elf"), 0, "%s", err.msg);
	cr_assert_not(o.cfg.testdev, "off by default");
}

Test(linux_options, module_rejections)
{
	struct run_options o;
	struct kvmini_error err;

	cr_assert_eq(PARSE(&o, &err, "--module", "m", "guest.elf"), -1);
	cr_assert_str_eq(err.msg, "--module needs --kernel");
	cr_assert_eq(PARSE(&o, &err, "--kernel", "k", "--module", ",args"), -1);
	cr_assert_str_eq(err.msg, "--module needs a FILE before any ARGS");
	cr_assert_eq(PARSE(&o, &err, "--kernel", "k", "--module", "1", "--module", "2",
			   "--module", "3", "--module", "4", "--module", "5", "--module", "6",
			   "--module", "7", "--module", "8", "--module", "9", "--module", "10",
			   "--module", "11", "--module", "12", "--module", "13", "--module", "14",
			   "--module", "15", "--module", "16", "--module", "17"), -1);
	cr_assert_str_eq(err.msg, "more than 16 --module options");
}
