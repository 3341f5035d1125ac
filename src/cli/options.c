#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "error.h"
#include "cli/options.h"
#include "arch/x86/cpuid.h"
#include "display/framebuffer.h"

int parse_u64(const char *text, uint64_t *out)
{
	if (!text || !*text || *text == '-' || *text == '+')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 0);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int parse_size(const char *text, uint64_t *out)
{
	if (!text || !*text || *text == '-' || *text == '+')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 0);
	if (errno || end == text)
		return -1;
	static const char suffixes[] = "KMGT";
	unsigned shift = 0;
	if (*end) {
		const char *s = strchr(suffixes, *end & ~0x20);
		if (!s || !*s)
			return -1;
		shift = 10 * (unsigned)(s - suffixes + 1);
		end++;
		if ((*end & ~0x20) == 'B' || (*end == 'i' && (end[1] & ~0x20) == 'B'))
			end += *end == 'i' ? 2 : 1;
		if (*end)
			return -1;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

enum {
	OPT_MEM = 256, OPT_MODE, OPT_LOAD_ADDR, OPT_ENTRY, OPT_FORMAT, OPT_TIMEOUT,
	OPT_SERIAL, OPT_STRICT_IO, OPT_VERBOSE, OPT_MEM_SHARED, OPT_MEM_PREFAULT,
	OPT_CPUS, OPT_IRQCHIP,
	OPT_GDB, OPT_GDB_WAIT,
	OPT_ON_RESET,
	OPT_CPU_FEATURES,
	OPT_KERNEL, OPT_INITRD, OPT_CMDLINE, OPT_APPEND,
	OPT_DECOMPRESS, OPT_MODULE, OPT_TESTDEV, OPT_NO_HPET,
	OPT_NAME, OPT_API_SOCK, OPT_CONFIG_FILE,
	OPT_DISK, OPT_VCONSOLE,
	OPT_SNAPSHOT, OPT_MEM_FILE, OPT_PAUSED, OPT_TRACK_DIRTY,
	OPT_RNG, OPT_TRANSPORT,
	OPT_NET, OPT_VSOCK,
	OPT_DISPLAY, OPT_VNC, OPT_VNC_PASSWORD_FILE, OPT_SCREENSHOT_ON_EXIT,
	OPT_SECCOMP, OPT_NO_SECCOMP, OPT_UID, OPT_GID, OPT_CHROOT, OPT_CGROUP,
};

static const struct option run_long_options[] = {
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "load-addr", required_argument, NULL, OPT_LOAD_ADDR },
	{ "entry", required_argument, NULL, OPT_ENTRY },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "strict-io", no_argument, NULL, OPT_STRICT_IO },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "mem-shared", no_argument, NULL, OPT_MEM_SHARED },
	{ "mem-prefault", no_argument, NULL, OPT_MEM_PREFAULT },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "irqchip", required_argument, NULL, OPT_IRQCHIP },
	{ "gdb", required_argument, NULL, OPT_GDB },
	{ "gdb-wait", no_argument, NULL, OPT_GDB_WAIT },
	{ "on-reset", required_argument, NULL, OPT_ON_RESET },
	{ "cpu-features", required_argument, NULL, OPT_CPU_FEATURES },
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "append", required_argument, NULL, OPT_APPEND },
	{ "decompress", no_argument, NULL, OPT_DECOMPRESS },
	{ "module", required_argument, NULL, OPT_MODULE },
	{ "testdev", no_argument, NULL, OPT_TESTDEV },
	{ "no-hpet", no_argument, NULL, OPT_NO_HPET },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "api-sock", required_argument, NULL, OPT_API_SOCK },
	{ "display", required_argument, NULL, OPT_DISPLAY },
	{ "vnc", required_argument, NULL, OPT_VNC },
	{ "vnc-password-file", required_argument, NULL, OPT_VNC_PASSWORD_FILE },
	{ "screenshot-on-exit", required_argument, NULL, OPT_SCREENSHOT_ON_EXIT },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "vconsole", required_argument, NULL, OPT_VCONSOLE },
	{ "config-file", required_argument, NULL, OPT_CONFIG_FILE },
	{ "track-dirty-pages", no_argument, NULL, OPT_TRACK_DIRTY },
	{ "rng", optional_argument, NULL, OPT_RNG },
	{ "transport", required_argument, NULL, OPT_TRANSPORT },
	{ "net", required_argument, NULL, OPT_NET },
	{ "vsock", required_argument, NULL, OPT_VSOCK },
	{ "seccomp", required_argument, NULL, OPT_SECCOMP },
	{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
	{ "uid", required_argument, NULL, OPT_UID },
	{ "gid", required_argument, NULL, OPT_GID },
	{ "chroot", required_argument, NULL, OPT_CHROOT },
	{ "cgroup", required_argument, NULL, OPT_CGROUP },
	{ NULL, 0, NULL, 0 },
};

static int bad_value(struct kvmini_error *err, const char *option, const char *value,
		     const char *expected)
{
	return kvmini_fail(err, KVMINI_E_USAGE, "invalid value '%s' for --%s: expected %s",
			   value, option, expected);
}

static int parse_mode(const char *v, struct kvmini_image *img, struct kvmini_error *err)
{
	static const char *names[] = { "real", "protected", "long" };
	for (unsigned i = 0; i < 3; i++) {
		if (strcmp(v, names[i]) == 0) {
			img->mode = (enum kvmini_mode)i;
			img->mode_set = true;
			return 0;
		}
	}
	return bad_value(err, "mode", v, "real, protected or long");
}

static int parse_format(const char *v, struct kvmini_image *img, struct kvmini_error *err)
{
	if (strcmp(v, "raw") == 0)
		img->format = KVMINI_FORMAT_RAW;
	else if (strcmp(v, "elf") == 0)
		img->format = KVMINI_FORMAT_ELF;
	else
		return bad_value(err, "format", v, "raw or elf");
	return 0;
}

static int parse_cpus(const char *v, unsigned *out, struct kvmini_error *err)
{
	uint64_t n;
	if (parse_u64(v, &n) < 0 || n < 1 || n > 4096)
		return bad_value(err, "cpus", v, "a number of vCPUs from 1");
	*out = (unsigned)n;
	return 0;
}

static int parse_irqchip(const char *v, enum kvmini_irqchip *out, struct kvmini_error *err)
{
	if (strcmp(v, "none") == 0)
		*out = KVMINI_IRQCHIP_NONE;
	else if (strcmp(v, "kernel") == 0)
		*out = KVMINI_IRQCHIP_KERNEL;
	else if (strcmp(v, "split") == 0)
		*out = KVMINI_IRQCHIP_SPLIT;
	else
		return bad_value(err, "irqchip", v, "kernel, split or none");
	return 0;
}

/* The list is checked here, so a bad name is a usage error before any
 * KVM work; the VM parses it again from the config. */
static int parse_cpu_features(const char *v, struct run_options *o, struct kvmini_error *err)
{
	struct x86_cpuid_hidden hidden;
	struct kvmini_error why;
	if (x86_cpu_features_parse(v, &hidden, &why) < 0)
		return kvmini_fail(err, KVMINI_E_USAGE, "invalid value '%.100s' for --cpu-features: %.300s",
				   v, why.msg);
	o->cfg.cpu_features = v;
	return 0;
}

static int parse_on_reset(const char *v, enum kvmini_on_reset *out, struct kvmini_error *err)
{
	if (strcmp(v, "exit") == 0)
		*out = KVMINI_ON_RESET_EXIT;
	else if (strcmp(v, "restart") == 0)
		*out = KVMINI_ON_RESET_RESTART;
	else
		return bad_value(err, "on-reset", v, "exit or restart");
	return 0;
}

static int parse_timeout(const char *v, double *out, struct kvmini_error *err)
{
	char *end;
	errno = 0;
	double t = strtod(v, &end);
	if (errno || end == v || *end || !isfinite(t) || t <= 0 || t > 1e7)
		return bad_value(err, "timeout", v, "a number of seconds greater than 0");
	*out = t;
	return 0;
}

static int parse_serial(const char *v, struct run_options *opts, struct kvmini_error *err)
{
	if (strcmp(v, "stdio") != 0 && !(strncmp(v, "file:", 5) == 0 && v[5]))
		return bad_value(err, "serial", v, "stdio or file:PATH");
	opts->serial = v;
	return 0;
}

/* The stub checks the address fully when it listens; catch the obvious
 * mistakes here, with the other usage errors. */
static int parse_gdb(const char *v, struct run_options *opts, struct kvmini_error *err)
{
	const char *colon = strncmp(v, "tcp:", 4) == 0 ? strrchr(v + 4, ':') : NULL;
	bool tcp_ok = colon && colon > v + 4 && colon[1];
	bool unix_ok = strncmp(v, "unix:", 5) == 0 && v[5];
	if (!tcp_ok && !unix_ok)
		return bad_value(err, "gdb", v, "tcp:HOST:PORT or unix:PATH");
	opts->gdb = v;
	return 0;
}

int parse_seccomp_mode(const char *v, enum kvmini_seccomp *out, struct kvmini_error *err)
{
	if (strcmp(v, "kill") == 0)
		*out = KVMINI_SECCOMP_KILL;
	else if (strcmp(v, "log") == 0)
		*out = KVMINI_SECCOMP_LOG;
	else if (strcmp(v, "off") == 0)
		*out = KVMINI_SECCOMP_OFF;
	else
		return bad_value(err, "seccomp", v, "kill, log or off");
	return 0;
}

/* The jail's options (src/cli/jail.h). */
static int apply_jail_option(int opt, const char *v, struct jail_config *j,
			     struct kvmini_error *err)
{
	switch (opt) {
	case OPT_UID:
		j->uid_set = true;
		return jail_parse_id(v, "uid", &j->uid, err);
	case OPT_GID:
		j->gid_set = true;
		return jail_parse_id(v, "gid", &j->gid, err);
	case OPT_CHROOT:
		if (!*v)
			return bad_value(err, "chroot", v, "a directory");
		j->chroot_dir = v;
		return 0;
	case OPT_CGROUP:
		return jail_parse_cgroup(v, j, err);
	}
	return kvmini_fail(err, KVMINI_E_USAGE, "internal: unhandled option %d", opt);
}

/* ---- virtio-blk and virtio-console: --disk, --vconsole ---- */

#define DISK_SYNTAX "PATH[,ro][,serial=ID][,cache=none|writeback]"

/* One ",key[=value]" of --disk (len bytes at opt). */
static int parse_disk_opt(const char *opt, size_t len, struct kvmini_disk *disk, char *serial,
			  struct kvmini_error *err)
{
	if (len == 2 && strncmp(opt, "ro", 2) == 0) {
		disk->read_only = true;
	} else if (len > 7 && strncmp(opt, "serial=", 7) == 0 &&
		   len - 7 <= KVMINI_CLI_SERIAL_MAX) {
		memcpy(serial, opt + 7, len - 7);
		serial[len - 7] = '\0';
		disk->serial = serial;
	} else if (len == 10 && strncmp(opt, "cache=none", 10) == 0) {
		disk->cache_none = true;
	} else if (len == 15 && strncmp(opt, "cache=writeback", 15) == 0) {
		disk->cache_none = false;
	} else {
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "invalid --disk option '%.*s': expected ro, serial=ID (at most "
				   "%d characters), cache=none or cache=writeback", (int)len, opt,
				   KVMINI_CLI_SERIAL_MAX);
	}
	return 0;
}

static int parse_disk(const char *v, struct run_options *o, struct kvmini_error *err)
{
	if (o->cfg.ndisks == KVMINI_CLI_DISKS_MAX)
		return kvmini_fail(err, KVMINI_E_USAGE, "more than %d --disk options",
				   KVMINI_CLI_DISKS_MAX);
	unsigned i = o->cfg.ndisks;
	struct kvmini_disk *disk = &o->disks[i];
	size_t path_len = strcspn(v, ",");
	if (path_len == 0 || path_len >= sizeof(o->disk_paths[i]))
		return bad_value(err, "disk", v, DISK_SYNTAX);
	*disk = (struct kvmini_disk){ .path = o->disk_paths[i] };
	memcpy(o->disk_paths[i], v, path_len);
	o->disk_paths[i][path_len] = '\0';
	for (const char *p = v + path_len; *p == ',';) {
		size_t len = strcspn(p + 1, ",");
		if (parse_disk_opt(p + 1, len, disk, o->disk_serials[i], err) < 0)
			return -1;
		p += 1 + len;
	}
	o->cfg.disks = o->disks;
	o->cfg.ndisks = i + 1;
	return 0;
}

static int parse_vconsole(const char *v, struct run_options *o, struct kvmini_error *err)
{
	bool ok = strcmp(v, "stdio") == 0 || (strncmp(v, "file:", 5) == 0 && v[5]) ||
		  (strncmp(v, "unix:", 5) == 0 && v[5]);
	if (!ok)
		return bad_value(err, "vconsole", v, "stdio, file:PATH or unix:PATH");
	o->vconsole = v;
	o->cfg.vconsole = true;
	return 0;
}

/* ---- virtio-rng and the transport: --rng, --transport ---- */

/* --rng alone: unlimited; --rng=N: at most N bytes a second (N >= 1). */
static int parse_rng(const char *v, struct kvmini_config *cfg, struct kvmini_error *err)
{
	cfg->rng = true;
	cfg->rng_bytes_per_sec = 0;
	if (v && (parse_size(v, &cfg->rng_bytes_per_sec) < 0 || cfg->rng_bytes_per_sec == 0))
		return bad_value(err, "rng", v, "bytes per second, such as 4096 or 1M");
	return 0;
}

static int parse_transport(const char *v, enum kvmini_transport *out, struct kvmini_error *err)
{
	if (strcmp(v, "mmio") == 0)
		*out = KVMINI_TRANSPORT_MMIO;
	else if (strcmp(v, "pci") == 0)
		*out = KVMINI_TRANSPORT_PCI;
	else
		return bad_value(err, "transport", v, "mmio or pci");
	return 0;
}

/* --display WxH[,bochs-display]: QEMU's device name picks the Bochs
 * display PCI function instead of the fixed framebuffer. */
#define DISPLAY_BOCHS ",bochs-display"

static int parse_display(const char *v, struct run_options *o, struct kvmini_error *err)
{
	char size[32];
	const char *comma = strchr(v, ',');
	size_t n = comma ? (size_t)(comma - v) : strlen(v);
	if (comma && strcmp(comma, DISPLAY_BOCHS) != 0)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "--display '%s': the only device is bochs-display "
				   "(WIDTHxHEIGHT,bochs-display)", v);
	if (n >= sizeof(size))
		return kvmini_fail(err, KVMINI_E_USAGE, "--display '%s': expected WIDTHxHEIGHT", v);
	memcpy(size, v, n);
	size[n] = 0;
	o->cfg.display_bochs = comma != NULL;
	return framebuffer_parse_size(size, &o->cfg.display_width, &o->cfg.display_height, err);
}

static int apply_option(int opt, const char *v, struct run_options *o, struct kvmini_error *err)
{
	switch (opt) {
	case OPT_SECCOMP:
		return parse_seccomp_mode(v, &o->cfg.seccomp, err);
	case OPT_NO_SECCOMP:
		o->cfg.seccomp = KVMINI_SECCOMP_OFF;
		return 0;
	case OPT_UID:
	case OPT_GID:
	case OPT_CHROOT:
	case OPT_CGROUP:
		return apply_jail_option(opt, v, &o->jail, err);
	case OPT_MEM:
		o->mem_set = true;
		return parse_size(v, &o->cfg.mem_size) < 0
			? bad_value(err, "mem", v, "a size such as 64M or 1G") : 0;
	case OPT_MODE:
		return parse_mode(v, &o->image, err);
	case OPT_LOAD_ADDR:
		o->image.load_addr_set = true;
		return parse_u64(v, &o->image.load_addr) < 0
			? bad_value(err, "load-addr", v, "an address such as 0x100000") : 0;
	case OPT_ENTRY:
		o->image.entry_set = true;
		return parse_u64(v, &o->image.entry) < 0
			? bad_value(err, "entry", v, "an address such as 0x100000") : 0;
	case OPT_FORMAT:
		return parse_format(v, &o->image, err);
	case OPT_TIMEOUT:
		return parse_timeout(v, &o->cfg.timeout, err);
	case OPT_SERIAL:
		return parse_serial(v, o, err);
	case OPT_TESTDEV:
		o->cfg.testdev = true;
		return 0;
	case OPT_NO_HPET:
		o->cfg.no_hpet = true;
		return 0;
	case OPT_STRICT_IO:
		o->cfg.strict_io = true;
		return 0;
	case OPT_VERBOSE:
		o->cfg.verbose = true;
		return 0;
	case OPT_MEM_SHARED:
		o->cfg.mem_shared = true;
		return 0;
	case OPT_MEM_PREFAULT:
		o->cfg.mem_prefault = true;
		return 0;
	case OPT_CPUS:
		return parse_cpus(v, &o->cfg.cpus, err);
	case OPT_IRQCHIP:
		o->irqchip_set = true;
		return parse_irqchip(v, &o->cfg.irqchip, err);
	case OPT_GDB:
		return parse_gdb(v, o, err);
	case OPT_GDB_WAIT:
		o->gdb_wait = true;
		return 0;
	case OPT_ON_RESET:
		return parse_on_reset(v, &o->cfg.on_reset, err);
	case OPT_NAME:
		if (!*v)
			return bad_value(err, "name", v, "a name for the VM");
		o->cfg.name = v;
		return 0;
	case OPT_API_SOCK:
		if (!*v)
			return bad_value(err, "api-sock", v, "a path for the API's Unix socket");
		o->api_sock = v;
		return 0;
	case OPT_TRACK_DIRTY:
		o->cfg.track_dirty_pages = true;
		return 0;
	case OPT_CONFIG_FILE:
		if (!*v)
			return bad_value(err, "config-file", v, "a Firecracker configuration file");
		o->config_file = v;
		return 0;
	case OPT_KERNEL:
		o->kernel = v;
		return 0;
	case OPT_INITRD:
		o->image.initrd_path = v;
		return 0;
	case OPT_CMDLINE:
		o->image.cmdline = v;
		return 0;
	case OPT_APPEND:
		o->image.cmdline_append = v;
		return 0;
	case OPT_DECOMPRESS:
		o->image.decompress = true;
		return 0;
	case OPT_MODULE:
		if (o->nmodules == KVMINI_CLI_MODULES_MAX)
			return kvmini_fail(err, KVMINI_E_USAGE, "more than %d --module options",
					   KVMINI_CLI_MODULES_MAX);
		if (*v == '\0' || *v == ',')
			return kvmini_fail(err, KVMINI_E_USAGE, "--module needs a FILE before any ARGS");
		o->module_specs[o->nmodules++] = v;
		return 0;
	case OPT_CPU_FEATURES:
		return parse_cpu_features(v, o, err);
	case OPT_DISPLAY:
		return parse_display(v, o, err);
	case OPT_VNC:
		if (!*v)
			return bad_value(err, "vnc", v, "HOST:DISPLAY, :DISPLAY or unix:PATH");
		o->vnc = v;
		return 0;
	case OPT_VNC_PASSWORD_FILE:
		o->vnc_password_file = v;
		return 0;
	case OPT_SCREENSHOT_ON_EXIT:
		if (!*v)
			return bad_value(err, "screenshot-on-exit", v, "a PNG file's path");
		o->screenshot_on_exit = v;
		return 0;
	case OPT_DISK:
		return parse_disk(v, o, err);
	case OPT_VCONSOLE:
		return parse_vconsole(v, o, err);
	case OPT_RNG:
		return parse_rng(v, &o->cfg, err);
	case OPT_TRANSPORT:
		return parse_transport(v, &o->cfg.transport, err);
	case OPT_NET:
		return parse_net_option(v, o, err);
	case OPT_VSOCK:
		return parse_vsock_option(v, o, err);
	}
	return kvmini_fail(err, KVMINI_E_USAGE, "internal: unhandled option %d", opt);
}

static int check_display_options(const struct run_options *o, struct kvmini_error *err)
{
	bool display = o->cfg.display_width != 0;
	if (o->vnc_password_file && !o->vnc)
		return kvmini_fail(err, KVMINI_E_USAGE, "--vnc-password-file needs --vnc");
	if ((o->vnc || o->screenshot_on_exit) && !display)
		return kvmini_fail(err, KVMINI_E_USAGE, "%s needs --display WIDTHxHEIGHT",
				   o->vnc ? "--vnc" : "--screenshot-on-exit");
	return 0;
}

/* --kernel: the kernel is the image, booted by its own protocol. Linux
 * needs timer interrupts to boot, so the irqchip defaults to KVM's. */
static int finish_kernel_options(int argc, char **argv, struct run_options *o,
				 struct kvmini_error *err)
{
	if (optind < argc)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "unexpected argument '%s': --kernel names the image", argv[optind]);
	if (o->image.format != KVMINI_FORMAT_AUTO || o->image.mode_set ||
	    o->image.load_addr_set || o->image.entry_set)
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "--mode, --format, --load-addr and --entry do not apply to --kernel");
	run_options_use_kernel(o);
	return 0;
}

void run_options_use_kernel(struct run_options *o)
{
	o->image.path = o->kernel;
	o->image.format = KVMINI_FORMAT_LINUX;
	if (!o->irqchip_set)
		o->cfg.irqchip = KVMINI_IRQCHIP_KERNEL;
}

/* Several vCPUs need a local APIC to start the others (INIT/SIPI), and
 * users coming from QEMU or kvmtool never name an interrupt controller:
 * without --irqchip, choose KVM's in-kernel one, the model --kernel
 * picks too (README.md says why). An explicit --irqchip none keeps
 * being refused by the VM layer. */
static void choose_smp_irqchip(struct run_options *o)
{
	if (o->irqchip_set || o->cfg.cpus <= 1 || o->cfg.irqchip != KVMINI_IRQCHIP_NONE)
		return;
	o->cfg.irqchip = KVMINI_IRQCHIP_KERNEL;
	o->irqchip_chosen = true;
}

static int parse_run_argv(int argc, char **argv, struct run_options *o,
			  struct kvmini_error *err)
{
	memset(o, 0, sizeof(*o));
	kvmini_config_defaults(&o->cfg);
	o->cfg.seccomp = KVMINI_SECCOMP_KILL;   /* the library's default is off */
	o->serial = "stdio";
	opterr = 0;
	optind = 1;
	int opt;
	/* "+" stops at the first non-option; ":" reports missing arguments. */
	while ((opt = getopt_long(argc, argv, "+:", run_long_options, NULL)) != -1) {
		if (opt == '?')
			return kvmini_fail(err, KVMINI_E_USAGE, "unknown option '%s'",
					   argv[optind - 1]);
		if (opt == ':')
			return kvmini_fail(err, KVMINI_E_USAGE, "option '%s' needs a value",
					   argv[optind - 1]);
		if (apply_option(opt, optarg, o, err) < 0)
			return -1;
	}
	if (o->gdb_wait && !o->gdb)
		return kvmini_fail(err, KVMINI_E_USAGE, "--gdb-wait needs --gdb");
	if (check_display_options(o, err) < 0)
		return -1;
	if (o->config_file && (o->kernel || optind < argc))
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "--config-file names the kernel: no IMAGE or --kernel with it");
	if (jail_check(&o->jail, err) < 0)
		return -1;
	if (o->kernel)
		return finish_kernel_options(argc, argv, o, err);
	if (o->image.initrd_path || o->image.cmdline || o->image.cmdline_append)
		return kvmini_fail(err, KVMINI_E_USAGE, "--initrd, --cmdline and --append need --kernel");
	if (o->nmodules)
		return kvmini_fail(err, KVMINI_E_USAGE, "--module needs --kernel");
	if (o->image.decompress)
		return kvmini_fail(err, KVMINI_E_USAGE, "--decompress needs --kernel");
	if (argc - optind > 1)
		return kvmini_fail(err, KVMINI_E_USAGE, "unexpected argument '%s' after the image",
				   argv[optind + 1]);
	if (optind < argc) {
		o->image.path = argv[optind];
	} else {
		if (o->image.format != KVMINI_FORMAT_AUTO || o->image.mode_set ||
		    o->image.load_addr_set || o->image.entry_set)
			return kvmini_fail(err, KVMINI_E_USAGE,
					   "--mode, --format, --load-addr and --entry need an IMAGE");
		/* With --api-sock and no IMAGE, the API configures the VM;
		 * with --config-file, the file does. */
		o->api_wait = o->api_sock != NULL && !o->config_file;
		o->demo = !o->api_wait && !o->config_file;
		if (o->demo && !o->mem_set)
			o->cfg.mem_size = KVMINI_DEMO_MEM;
	}
	return 0;
}

int parse_run_options(int argc, char **argv, struct run_options *o, struct kvmini_error *err)
{
	if (parse_run_argv(argc, argv, o, err) < 0)
		return -1;
	choose_smp_irqchip(o);
	return 0;
}

/* ---- kvmini restore ---- */

static const struct option restore_long_options[] = {
	{ "snapshot", required_argument, NULL, OPT_SNAPSHOT },
	{ "mem", required_argument, NULL, OPT_MEM_FILE },
	{ "paused", no_argument, NULL, OPT_PAUSED },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "strict-io", no_argument, NULL, OPT_STRICT_IO },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "api-sock", required_argument, NULL, OPT_API_SOCK },
	{ "vconsole", required_argument, NULL, OPT_VCONSOLE },   /* the saved console's ends */
	/* The saved display's viewers. */
	{ "vnc", required_argument, NULL, OPT_VNC },
	{ "vnc-password-file", required_argument, NULL, OPT_VNC_PASSWORD_FILE },
	{ "screenshot-on-exit", required_argument, NULL, OPT_SCREENSHOT_ON_EXIT },
	{ NULL, 0, NULL, 0 },
};

static int apply_restore_option(int opt, const char *v, struct run_options *o,
				struct kvmini_error *err)
{
	switch (opt) {
	case OPT_SNAPSHOT:
		o->restore_snapshot = v;
		return 0;
	case OPT_MEM_FILE:
		if (o->nrestore_mem == KVMINI_CLI_RESTORE_MEM_MAX)
			return kvmini_fail(err, KVMINI_E_USAGE, "at most %d --mem files",
					   KVMINI_CLI_RESTORE_MEM_MAX);
		o->restore_mem[o->nrestore_mem++] = v;
		return 0;
	case OPT_PAUSED:
		o->restore_paused = true;
		return 0;
	default:
		return apply_option(opt, v, o, err);
	}
}

int parse_restore_options(int argc, char **argv, struct run_options *o,
			  struct kvmini_error *err)
{
	memset(o, 0, sizeof(*o));
	kvmini_config_defaults(&o->cfg);
	o->serial = "stdio";
	opterr = 0;
	optind = 1;
	int opt;
	while ((opt = getopt_long(argc, argv, "+:", restore_long_options, NULL)) != -1) {
		if (opt == '?')
			return kvmini_fail(err, KVMINI_E_USAGE, "unknown option '%s'",
					   argv[optind - 1]);
		if (opt == ':')
			return kvmini_fail(err, KVMINI_E_USAGE, "option '%s' needs a value",
					   argv[optind - 1]);
		if (apply_restore_option(opt, optarg, o, err) < 0)
			return -1;
	}
	if (optind < argc)
		return kvmini_fail(err, KVMINI_E_USAGE, "unexpected argument '%s'", argv[optind]);
	if (!o->restore_snapshot || !o->nrestore_mem)
		return kvmini_fail(err, KVMINI_E_USAGE, "restore needs --snapshot FILE and --mem FILE");
	if (o->restore_paused && !o->api_sock)
		return kvmini_fail(err, KVMINI_E_USAGE, "--paused needs --api-sock (to resume it)");
	return 0;
}
