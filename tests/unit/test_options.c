/* `kvmini run` option parsing: sizes, addresses, and each rejection. */
#include <criterion/criterion.h>
#include <string.h>
#include "cli/options.h"

static int parse(struct run_options *o, struct kvmini_error *err, int argc, char **argv)
{
	return parse_run_options(argc, argv, o, err);
}

#define ARGV(...) (char *[]){ "run", __VA_ARGS__, NULL }
#define ARGC(...) (int)(sizeof((char *[]){ "run", __VA_ARGS__ }) / sizeof(char *))
#define PARSE(o, e, ...) parse((o), (e), ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

Test(options, sizes_with_suffixes)
{
	uint64_t v;
	cr_assert_eq(parse_size("4096", &v), 0); cr_assert_eq(v, 4096);
	cr_assert_eq(parse_size("0x1000", &v), 0); cr_assert_eq(v, 4096);
	cr_assert_eq(parse_size("64K", &v), 0); cr_assert_eq(v, 64 << 10);
	cr_assert_eq(parse_size("64M", &v), 0); cr_assert_eq(v, 64ULL << 20);
	cr_assert_eq(parse_size("2g", &v), 0); cr_assert_eq(v, 2ULL << 30);
	cr_assert_eq(parse_size("1T", &v), 0); cr_assert_eq(v, 1ULL << 40);
	cr_assert_eq(parse_size("512MiB", &v), 0); cr_assert_eq(v, 512ULL << 20);
	cr_assert_eq(parse_size("8MB", &v), 0); cr_assert_eq(v, 8ULL << 20);
}

Test(options, malformed_and_overflowing_sizes)
{
	uint64_t v;
	const char *bad[] = { "", "M", "-1", "+5", "12Q", "1MM", "1 M", "99999999999999999999",
			      "17179869184G", "0x", "1.5G" };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse_size(bad[i], &v), -1, "accepted '%s'", bad[i]);
}

Test(options, addresses)
{
	uint64_t v;
	cr_assert_eq(parse_u64("0x100000", &v), 0); cr_assert_eq(v, 0x100000);
	cr_assert_eq(parse_u64("31744", &v), 0); cr_assert_eq(v, 0x7c00);
	cr_assert_eq(parse_u64("0xffffffffffffffff", &v), 0); cr_assert_eq(v, UINT64_MAX);
	cr_assert_eq(parse_u64("0x10000000000000000", &v), -1);
	cr_assert_eq(parse_u64("-1", &v), -1);
	cr_assert_eq(parse_u64("12abc", &v), -1);
	cr_assert_eq(parse_u64("", &v), -1);
}

Test(options, defaults_run_the_demo)
{
	struct run_options o;
	struct kvmini_error err;
	cr_assert_eq(parse(&o, &err, 1, (char *[]){ "run", NULL }), 0);
	cr_assert(o.demo);
	cr_assert_eq(o.cfg.mem_size, KVMINI_DEMO_MEM);   /* the real-mode megabyte */
	cr_assert_eq(o.cfg.cpus, 1);
	cr_assert_str_eq(o.serial, "stdio");
	cr_assert_eq(o.cfg.timeout, 0);
}

Test(options, the_demo_takes_mem_and_an_image_gets_64_mib)
{
	struct run_options o;
	struct kvmini_error err;
	cr_assert_eq(PARSE(&o, &err, "--mem", "64M"), 0, "%s", err.msg);
	cr_assert(o.demo);
	cr_assert_eq(o.cfg.mem_size, 64ULL << 20);
	cr_assert_eq(PARSE(&o, &err, "guest.bin"), 0, "%s", err.msg);
	cr_assert_eq(o.cfg.mem_size, 64ULL << 20);
	cr_assert_eq(PARSE(&o, &err, "--kernel", "bzImage"), 0, "%s", err.msg);
	cr_assert_eq(o.cfg.mem_size, 64ULL << 20);
}

Test(options, every_option_is_applied)
{
	struct run_options o;
	struct kvmini_error err;
	int r = PARSE(&o, &err, "--mem", "128M", "--mode", "long", "--format", "raw",
		      "--load-addr", "0x200000", "--entry", "0x200010", "--timeout", "2.5",
		      "--serial", "file:/tmp/x", "--strict-io", "--verbose", "--mem-shared",
		      "--mem-prefault", "--no-hpet", "guest.bin");
	cr_assert_eq(r, 0, "%s", err.msg);
	cr_assert(o.cfg.no_hpet);
	cr_assert_not(o.demo);
	cr_assert_str_eq(o.image.path, "guest.bin");
	cr_assert_eq(o.cfg.mem_size, 128ULL << 20);
	cr_assert(o.image.mode_set);
	cr_assert_eq(o.image.mode, KVMINI_MODE_LONG);
	cr_assert_eq(o.image.format, KVMINI_FORMAT_RAW);
	cr_assert(o.image.load_addr_set);
	cr_assert_eq(o.image.load_addr, 0x200000);
	cr_assert(o.image.entry_set);
	cr_assert_eq(o.image.entry, 0x200010);
	cr_assert_float_eq(o.cfg.timeout, 2.5, 1e-9);
	cr_assert_str_eq(o.serial, "file:/tmp/x");
	cr_assert(o.cfg.strict_io && o.cfg.verbose && o.cfg.mem_shared && o.cfg.mem_prefault);
}

Test(options, option_values_after_equals_sign)
{
	struct run_options o;
	struct kvmini_error err;
	cr_assert_eq(PARSE(&o, &err, "--mem=1G", "--mode=protected", "x.elf"), 0, "%s", err.msg);
	cr_assert_eq(o.cfg.mem_size, 1ULL << 30);
	cr_assert_eq(o.image.mode, KVMINI_MODE_PROTECTED);
}

Test(options, rejections_name_the_problem)
{
	struct { char *argv[4]; int argc; const char *msg; } cases[] = {
		{ { "run", "--nope" }, 2, "unknown option '--nope'" },
		{ { "run", "--mem" }, 2, "option '--mem' needs a value" },
		{ { "run", "--mode", "unreal" }, 3, "invalid value 'unreal' for --mode" },
		{ { "run", "--format", "pe" }, 3, "invalid value 'pe' for --format" },
		{ { "run", "--timeout", "nan" }, 3, "invalid value 'nan' for --timeout" },
		{ { "run", "--timeout", "inf" }, 3, "invalid value 'inf' for --timeout" },
		{ { "run", "--serial", "tcp:1" }, 3, "invalid value 'tcp:1' for --serial" },
		{ { "run", "a", "b" }, 3, "unexpected argument 'b'" },
		{ { "run", "--entry", "0x10" }, 3, "need an IMAGE" },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run_options o;
		struct kvmini_error err = { 0 };
		cr_assert_eq(parse(&o, &err, cases[i].argc, cases[i].argv), -1, "case %u", i);
		cr_assert_eq(err.code, KVMINI_E_USAGE);
		cr_assert(strstr(err.msg, cases[i].msg), "case %u: '%s'", i, err.msg);
	}
}

Test(options, on_reset_exit_by_default_or_restart)
{
	struct run_options o;
	struct kvmini_error err;
	cr_assert_eq(PARSE(&o, &err, "guest.elf"), 0, "%s", err.msg);
	cr_assert_eq(o.cfg.on_reset, KVMINI_ON_RESET_EXIT);
	cr_assert_eq(PARSE(&o, &err, "--on-reset", "restart", "guest.elf"), 0, "%s", err.msg);
	cr_assert_eq(o.cfg.on_reset, KVMINI_ON_RESET_RESTART);
	cr_assert_eq(PARSE(&o, &err, "--on-reset=exit", "guest.elf"), 0, "%s", err.msg);
	cr_assert_eq(o.cfg.on_reset, KVMINI_ON_RESET_EXIT);
	cr_assert_eq(PARSE(&o, &err, "--on-reset", "Restart", "guest.elf"), -1);
	cr_assert_str_eq(err.msg, "invalid value 'Restart' for --on-reset: expected exit or restart");
}

Test(options, several_cpus_without_irqchip_choose_the_kernel_model)
{
	struct run_options o;
	struct kvmini_error err;
	cr_assert_eq(PARSE(&o, &err, "--cpus", "4"), 0, "%s", err.msg);
	cr_assert_eq(o.cfg.irqchip, KVMINI_IRQCHIP_KERNEL);
	cr_assert(o.irqchip_chosen);
	cr_assert_eq(PARSE(&o, &err, "--cpus", "1"), 0, "%s", err.msg);
	cr_assert_eq(o.cfg.irqchip, KVMINI_IRQCHIP_NONE, "one vCPU needs no chip");
	cr_assert_not(o.irqchip_chosen);
	cr_assert_eq(PARSE(&o, &err, "--cpus", "2", "--irqchip", "split"), 0, "%s", err.msg);
	cr_assert_eq(o.cfg.irqchip, KVMINI_IRQCHIP_SPLIT);
	cr_assert_not(o.irqchip_chosen);
	/* An explicit "none" stays none: the VM layer refuses it. */
	cr_assert_eq(PARSE(&o, &err, "--irqchip", "none", "--cpus", "2"), 0, "%s", err.msg);
	cr_assert_eq(o.cfg.irqchip, KVMINI_IRQCHIP_NONE);
	cr_assert_not(o.irqchip_chosen);
}

Test(options, name)
{
	struct run_options o;
	struct kvmini_error err;
	cr_assert_eq(PARSE(&o, &err, "--name", "web1"), 0, "%s", err.msg);
	cr_assert_str_eq(o.cfg.name, "web1");
	cr_assert_eq(PARSE(&o, &err, "x.elf"), 0, "%s", err.msg);
	cr_assert_null(o.cfg.name, "no --name: plain \"kvmini: \" lines");
	cr_assert_eq(PARSE(&o, &err, "--name", ""), -1);
	cr_assert(strstr(err.msg, "invalid value '' for --name"), "%s", err.msg);
}

Test(options, api_sock_without_image_waits_for_the_api)
{
	struct run_options o;
	struct kvmini_error err;
	cr_assert_eq(PARSE(&o, &err, "--api-sock", "/tmp/s"), 0);
	cr_assert_str_eq(o.api_sock, "/tmp/s");
	cr_assert(o.api_wait);
	cr_assert_not(o.demo);
	cr_assert_eq(PARSE(&o, &err, "--api-sock", "/tmp/s", "img.bin"), 0);
	cr_assert_not(o.api_wait);
	cr_assert_str_eq(o.image.path, "img.bin");
	cr_assert_eq(PARSE(&o, &err, "--api-sock", ""), -1);
	cr_assert_str_eq(err.msg, "invalid value '' for --api-sock: expected a path for the API's Unix socket");
}

Test(options, use_kernel_as_the_api_does)
{
	struct run_options o;
	struct kvmini_error err;
	cr_assert_eq(PARSE(&o, &err, "--api-sock", "/tmp/s"), 0);
	o.kernel = "/k";
	run_options_use_kernel(&o);
	cr_assert_str_eq(o.image.path, "/k");
	cr_assert_eq(o.image.format, KVMINI_FORMAT_LINUX);
	cr_assert_eq(o.cfg.irqchip, KVMINI_IRQCHIP_KERNEL);
	cr_assert_eq(PARSE(&o, &err, "--api-sock", "/tmp/s", "--irqchip", "split"), 0);
	o.kernel = "/k";
	run_options_use_kernel(&o);
	cr_assert_eq(o.cfg.irqchip, KVMINI_IRQCHIP_SPLIT);
}

/* ---- virtio-blk and virtio-console: --disk, --vconsole ---- */

Test(options, disks_with_their_options_in_order)
{
	struct run_options o;
	struct kvmini_error err = { 0 };
	cr_assert_eq(PARSE(&o, &err, "--disk", "a.img", "--disk",
			   "/x/b.img,ro,serial=SER-1,cache=none", "--disk", "c,cache=writeback"),
		     0, "%s", err.msg);
	cr_assert_eq(o.cfg.ndisks, 3);
	cr_assert_eq(o.cfg.disks, o.disks);
	cr_assert_str_eq(o.cfg.disks[0].path, "a.img");
	cr_assert_not(o.cfg.disks[0].read_only);
	cr_assert_null(o.cfg.disks[0].serial);
	cr_assert_not(o.cfg.disks[0].cache_none);
	cr_assert_str_eq(o.cfg.disks[1].path, "/x/b.img");
	cr_assert(o.cfg.disks[1].read_only);
	cr_assert_str_eq(o.cfg.disks[1].serial, "SER-1");
	cr_assert(o.cfg.disks[1].cache_none);
	cr_assert_str_eq(o.cfg.disks[2].path, "c");
	cr_assert_not(o.cfg.disks[2].cache_none);
}

Test(options, disk_and_vconsole_rejections)
{
	struct { char *argv[4]; int argc; const char *msg; } cases[] = {
		{ { "run", "--disk", "" }, 3, "invalid value '' for --disk" },
		{ { "run", "--disk", ",ro" }, 3, "invalid value ',ro' for --disk" },
		{ { "run", "--disk", "a,rw" }, 3, "invalid --disk option 'rw'" },
		{ { "run", "--disk", "a,ro," }, 3, "invalid --disk option ''" },
		{ { "run", "--disk", "a,cache=unsafe" }, 3, "invalid --disk option 'cache=unsafe'" },
		{ { "run", "--disk", "a,serial=123456789012345678901" }, 3, "at most 20" },
		{ { "run", "--disk", "a,serial=" }, 3, "invalid --disk option 'serial='" },
		{ { "run", "--vconsole", "pty" }, 3, "invalid value 'pty' for --vconsole" },
		{ { "run", "--vconsole", "file:" }, 3, "invalid value 'file:' for --vconsole" },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run_options o;
		struct kvmini_error err = { 0 };
		cr_assert_eq(parse(&o, &err, cases[i].argc, cases[i].argv), -1, "case %u", i);
		cr_assert_eq(err.code, KVMINI_E_USAGE);
		cr_assert(strstr(err.msg, cases[i].msg), "case %u: '%s'", i, err.msg);
	}
}

Test(options, too_many_disks)
{
	struct run_options o;
	struct kvmini_error err = { 0 };
	char *argv[2 + 2 * (KVMINI_CLI_DISKS_MAX + 1)];
	int argc = 0;
	argv[argc++] = "run";
	for (int i = 0; i <= KVMINI_CLI_DISKS_MAX; i++) {
		argv[argc++] = "--disk";
		argv[argc++] = "d.img";
	}
	argv[argc] = NULL;
	cr_assert_eq(parse(&o, &err, argc, argv), -1);
	cr_assert(strstr(err.msg, "more than 8 --disk"), "%s", err.msg);
}

Test(options, vconsole_targets)
{
	const char *specs[] = { "stdio", "file:/tmp/hvc0.txt", "unix:/run/con.sock" };
	for (unsigned i = 0; i < 3; i++) {
		struct run_options o;
		struct kvmini_error err = { 0 };
		cr_assert_eq(PARSE(&o, &err, "--vconsole", (char *)specs[i]), 0, "%s", err.msg);
		cr_assert(o.cfg.vconsole);
		cr_assert_str_eq(o.vconsole, specs[i]);
	}
	struct run_options o;
	struct kvmini_error err = { 0 };
	cr_assert_eq(PARSE(&o, &err, "--mem", "64M"), 0);
	cr_assert_not(o.cfg.vconsole);
	cr_assert_eq(o.cfg.ndisks, 0);
}

/* ---- --net and --vsock (src/cli/net_options.c) ---- */

static int parse_argv_list(struct run_options *o, struct kvmini_error *err, int argc, char **argv)
{
	return parse_run_options(argc, argv, o, err);
}

Test(net_options, tap_with_mac_and_mtu)
{
	struct run_options o;
	struct kvmini_error err = { 0 };
	char *argv[] = { "run", "--net", "tap=tap0,mac=02:00:00:00:00:07,mtu=9000", "img", NULL };
	cr_assert_eq(parse_argv_list(&o, &err, 4, argv), 0, "%s", err.msg);
	cr_assert_eq(o.cfg.nnets, 1);
	cr_assert_eq(o.cfg.nets[0].backend, KVMINI_NET_TAP);
	cr_assert_str_eq(o.cfg.nets[0].tap_name, "tap0");
	cr_assert(o.cfg.nets[0].mac_set);
	cr_assert_arr_eq(o.cfg.nets[0].mac, "\x02\x00\x00\x00\x00\x07", 6);
	cr_assert_eq(o.cfg.nets[0].mtu, 9000);
}

Test(net_options, user_with_two_forwards)
{
	struct run_options o;
	struct kvmini_error err = { 0 };
	char *argv[] = { "run", "--net", "user,hostfwd=tcp::2222-:22,hostfwd=tcp:0.0.0.0:8080-:80",
			 "--net", "user", "img", NULL };
	cr_assert_eq(parse_argv_list(&o, &err, 6, argv), 0, "%s", err.msg);
	cr_assert_eq(o.cfg.nnets, 2);
	cr_assert_eq(o.cfg.nets[0].backend, KVMINI_NET_USER);
	cr_assert_str_eq(o.cfg.nets[0].hostfwd, "tcp::2222-:22,tcp:0.0.0.0:8080-:80");
	cr_assert_null(o.cfg.nets[1].hostfwd);
}

Test(net_options, bad_values_are_refused)
{
	const char *bad[] = { "tap=", "tap=waytoolongname0123", "user,mac=01:00:00:00:00:01",
			      "user,mac=00:00:00:00:00:00", "user,mtu=10", "tap=t0,hostfwd=x",
			      "bridge=br0", "user,speed=10" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct run_options o;
		struct kvmini_error err = { 0 };
		char *argv[] = { "run", "--net", (char *)bad[i], "img", NULL };
		cr_assert_eq(parse_argv_list(&o, &err, 4, argv), -1, "accepted %s", bad[i]);
		cr_assert(strstr(err.msg, "--net"), "%s", err.msg);
	}
}

Test(net_options, vsock_cid_and_path)
{
	struct run_options o;
	struct kvmini_error err = { 0 };
	char *argv[] = { "run", "--vsock", "cid=3,uds=/tmp/v,1.sock", "img", NULL };
	cr_assert_eq(parse_argv_list(&o, &err, 4, argv), 0, "%s", err.msg);
	cr_assert(o.cfg.vsock.enabled);
	cr_assert_eq(o.cfg.vsock.guest_cid, 3);
	cr_assert_str_eq(o.cfg.vsock.uds_path, "/tmp/v,1.sock");
	const char *bad[] = { "cid=2,uds=/tmp/v", "cid=3", "uds=/tmp/v", "cid=x,uds=/tmp/v",
			      "cid=4294967295,uds=/tmp/v", "cid=3,uds=" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *a2[] = { "run", "--vsock", (char *)bad[i], "img", NULL };
		cr_assert_eq(parse_argv_list(&o, &err, 4, a2), -1, "accepted %s", bad[i]);
	}
}
