/* Command-line parsing for `kvmini run`, kept apart from main() so the
 * unit tests can drive it. */
#ifndef KVMINI_CLI_OPTIONS_H
#define KVMINI_CLI_OPTIONS_H

#include "kvmini.h"
#include "cli/jail.h"

#define KVMINI_CLI_MODULES_MAX 16
#define KVMINI_CLI_DISKS_MAX 8
#define KVMINI_CLI_SERIAL_MAX 20      /* VIRTIO_BLK_ID_BYTES */
#define KVMINI_CLI_RESTORE_MEM_MAX 16
#define KVMINI_CLI_NETS_MAX 4
/* The demo is real-mode code at 0x7c00: the real-mode megabyte is all
 * it can address. More RAM would only cost its start: the loader's one
 * write into a 2 MiB-aligned range makes the kernel clear a whole huge
 * page where transparent huge pages are on (docs/performance.md (h)). */
#define KVMINI_DEMO_MEM (1ULL << 20)

struct run_options {
	struct kvmini_config cfg;
	struct kvmini_image image;    /* data/size filled later from image.path */
	const char *serial;           /* "stdio" or "file:PATH" */
	bool demo;                    /* no IMAGE given: the built-in demo */
	bool mem_set;                 /* --mem given; else the demo gets KVMINI_DEMO_MEM */
	const char *gdb;              /* --gdb tcp:HOST:PORT or unix:PATH; NULL for none */
	bool gdb_wait;                /* --gdb-wait: first instruction waits for gdb */
	/* --kernel FILE boots Linux: image.format is then KVMINI_FORMAT_LINUX
	 * and image.path the kernel; --initrd, --cmdline and --append fill
	 * image.initrd_path, image.cmdline and image.cmdline_append. */
	const char *kernel;
	/* --module FILE[,ARGS], in order (a Multiboot kernel's modules). */
	const char *module_specs[KVMINI_CLI_MODULES_MAX];
	unsigned nmodules;
	bool irqchip_set;             /* --irqchip given; else --kernel picks kernel */
	bool irqchip_chosen;          /* no --irqchip, --cpus > 1: kvmini chose the model */
	/* --api-sock PATH serves the control API (src/api); with no IMAGE
	 * or --kernel, the VM waits for InstanceStart (api_wait). */
	const char *api_sock;
	bool api_wait;
	/* The display (docs/display.md): --display WxH fills cfg's size;
	 * --vnc ADDRESS serves it, with the password in the first line of
	 * --vnc-password-file; --screenshot-on-exit FILE.png saves it when
	 * the VM stops. */
	const char *vnc;
	const char *vnc_password_file;
	const char *screenshot_on_exit;
	/* --disk PATH[,ro][,serial=ID][,cache=...] (cfg.disks points at
	 * disks) and --vconsole stdio|file:PATH|unix:PATH (cfg.vconsole). */
	struct kvmini_disk disks[KVMINI_CLI_DISKS_MAX];
	char disk_paths[KVMINI_CLI_DISKS_MAX][1024];
	char disk_serials[KVMINI_CLI_DISKS_MAX][KVMINI_CLI_SERIAL_MAX + 1];
	const char *vconsole;
	/* --config-file FILE: Firecracker's configuration file, applied
	 * through the API's handlers; the VM starts at once. */
	const char *config_file;
	/* kvmini restore / PUT /snapshot/load: continue a snapshot instead
	 * of loading an image; the first memory file is full, later ones
	 * diffs; restore_paused: leave it paused (until PATCH /vm). */
	const char *restore_snapshot;
	const char *restore_mem[KVMINI_CLI_RESTORE_MEM_MAX];
	unsigned nrestore_mem;
	bool restore_paused;
	/* --net (up to KVMINI_CLI_NETS_MAX) and --vsock: the storage
	 * cfg.nets and cfg.vsock point into (src/cli/net_options.c). */
	struct kvmini_net nets[KVMINI_CLI_NETS_MAX];
	unsigned nnets;
	char net_tap[KVMINI_CLI_NETS_MAX][16];
	char net_hostfwd[KVMINI_CLI_NETS_MAX][512];
	char vsock_uds[108];
	/* --uid/--gid, --chroot, --cgroup: entered after everything is open,
	 * before the guest runs (src/cli/jail.h). */
	struct jail_config jail;
};

/* "--seccomp kill|log|off" (and --no-seccomp, which is "off"). */
int parse_seccomp_mode(const char *v, enum kvmini_seccomp *out, struct kvmini_error *err);

/* Parse "64M", "1G", "4096", "0x1000" (K/M/G/T suffixes, powers of 1024). */
int parse_size(const char *text, uint64_t *out);
/* Parse a 64-bit address or number, decimal or 0x-hex; whole string. */
int parse_u64(const char *text, uint64_t *out);

/* argv[0] is "run". Returns 0, or -1 with a one-line message in err. */
int parse_run_options(int argc, char **argv, struct run_options *opts,
		      struct kvmini_error *err);

/* argv[0] is "restore": --snapshot FILE --mem FILE [--mem DIFF...] and
 * the run options that do not describe the machine (--timeout,
 * --serial, --verbose, --name, --api-sock, --strict-io), plus --paused. */
int parse_restore_options(int argc, char **argv, struct run_options *opts,
			  struct kvmini_error *err);
/* --net tap=NAME|user[,mac=MAC][,mtu=N][,hostfwd=RULE...] and
 * --vsock cid=N,uds=PATH (src/cli/net_options.c). */
int parse_net_option(const char *v, struct run_options *opts, struct kvmini_error *err);
int parse_vsock_option(const char *v, struct run_options *opts, struct kvmini_error *err);

/* Once `kernel` is set (by --kernel or the API's boot source): the
 * kernel becomes the image, booted by its own protocol, with the
 * irqchip --kernel implies unless one was chosen. */
void run_options_use_kernel(struct run_options *opts);

#endif
