/* kvmini — the command-line front end: options, the terminal, signals.
 * It drives a VM only through the public headers include/kvmini.h and,
 * for --gdb, include/kvmini_gdb.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>
#include "kvmini.h"
#include "kvmini_gdb.h"
#include "error.h"
#include "thread_name.h"
#include "cli/console.h"
#include "cli/file.h"
#include "cli/exec.h"
#include "cli/options.h"
#include "api/config_file.h"
#include "cli/ctl.h"
#include "cli/jail.h"
#include "seccomp/seccomp.h"
#include "api/server.h"

static const char usage_text[] =
	"usage: kvmini run [options] [IMAGE]   run IMAGE (or the built-in 2+2 demo)\n"
	"       kvmini run [options] --kernel FILE [--initrd FILE]   boot a Linux or\n"
	"                                      Multiboot kernel\n"
	"       kvmini exec [options] PROGRAM [ARGS...]   run a static Linux program\n"
	"                                      in sandbox mode (kvmini exec --help)\n"
	"       kvmini restore --snapshot FILE --mem FILE [--mem DIFF...] [--paused]\n"
	"                      [--timeout S] [--serial ...] [--vconsole ...] [--name N]\n"
	"                      [--vnc ...] [--screenshot-on-exit F] [--api-sock PATH]\n"
	"                                      continue a snapshot (docs/snapshot.md)\n"
	"       kvmini ctl SOCKET info|start|pause|resume|flush-metrics|ctrl-alt-del\n"
	"       kvmini ctl SOCKET screenshot FILE.png   the display as a PNG (needs --display)\n"
	"       kvmini ctl SOCKET get PATH | put PATH JSON | patch PATH JSON\n"
	"                                      talk to a VM's --api-sock (docs/api.md)\n"
	"       kvmini info                    show the host's KVM version and capabilities\n"
	"       kvmini --help | --version\n"
	"\n"
	"run options:\n"
	"  --mem SIZE          guest RAM, e.g. 64M, 1G (default 64M; the demo 1M)\n"
	"  --mode MODE         real, protected or long (default: real for raw images,\n"
	"                      from the ELF class for ELF images)\n"
	"  --format FORMAT     raw or elf (default: ELF when the file starts with \\x7fELF)\n"
	"  --load-addr ADDR    where a raw image goes (default 0x7c00 in real mode,\n"
	"                      0x100000 otherwise)\n"
	"  --entry ADDR        start here instead of the image's entry point\n"
	"  --kernel FILE       boot a kernel instead of an IMAGE: a bzImage (64-bit\n"
	"                      boot protocol), an ELF vmlinux with a PVH entry note, or\n"
	"                      a Multiboot kernel (its command line is \"FILE ARGS\");\n"
	"                      implies --irqchip kernel unless --irqchip is given\n"
	"  --initrd FILE       with --kernel: the initial ramdisk (Multiboot: module 0)\n"
	"  --module FILE[,ARGS]   with a Multiboot --kernel: one more module, whose\n"
	"                      string is \"FILE ARGS\" (repeatable)\n"
	"  --cmdline STRING    with --kernel: the kernel command line (replaces the default\n"
	"                      \"" KVMINI_LINUX_CMDLINE "\";\n"
	"                      without pci=off with --transport pci)\n"
	"  --append STRING     with --kernel: add STRING to the command line\n"
	"  --decompress        with a --kernel bzImage: decompress its payload on the host\n"
	"                      and enter vmlinux at startup_64 (gzip, xz, zstd, lz4)\n"
	"  --timeout SECONDS   stop a guest that runs longer (exit status 8)\n"
	"  --serial stdio|file:PATH   where COM1 output goes (default stdio)\n"
	"  --testdev           add QEMU's pc-testdev (ports 0xe0, 0xe4, 0x2000-0x2017,\n"
	"                      64 KiB at 0xff000000) and pci-testdev (1b36:0005 at PCI\n"
	"                      slot 31), as kvm-unit-tests use them\n"
	"  --no-hpet           leave out the HPET at 0xfed00000 and its ACPI table\n"
	"  --rng[=BYTES_PER_SEC]   add a virtio-rng device fed by the host's getrandom(),\n"
	"                      at most BYTES_PER_SEC (e.g. 4096, 1M) when given\n"
	"  --transport mmio|pci   what virtio devices sit on (default mmio: 4 KiB windows\n"
	"                      from 0xd0000000, IOAPIC lines 16-23; pci: functions of a\n"
	"                      PCI host bridge, MSI-X; docs/virtio.md)\n"
	"  --strict-io         unclaimed port or MMIO access stops the guest (exit status 10)\n"
	"  --cpus N            number of vCPUs (default 1; more than 1 chooses --irqchip\n"
	"                      kernel when no --irqchip is given)\n"
	"  --irqchip MODEL     kernel (KVM's PIC, IOAPIC, local APICs, PIT), split (KVM's\n"
	"                      local APICs; kvmini's IOAPIC, PIC and PIT) or none (default)\n"
	"  --cpu-features -NAME,...   hide CPUID features from the guest, e.g. -xsave,-cx16\n"
	"  --gdb tcp:HOST:PORT|unix:PATH   serve gdb's remote protocol (port 0: any free port)\n"
	"  --gdb-wait          with --gdb: start the guest only when gdb continues it\n"
	"  --on-reset exit|restart   a guest's reset ends kvmini (status 0, default)\n"
	"                      or restarts the VM from its initial state\n"
	"  --mem-shared        back RAM with a memfd (shareable) instead of anonymous memory\n"
	"  --mem-prefault      populate all of RAM before the guest starts\n"
	"  --verbose           report unclaimed accesses and why the VM stopped\n"
	"  --name NAME         the VM's name: the process's (top, pgrep; 15 characters)\n"
	"                      and in kvmini's messages (default: the image's file name)\n"
	"  --api-sock PATH     serve Firecracker's control API on a Unix socket; with no\n"
	"                      IMAGE or --kernel, wait for its InstanceStart (docs/api.md)\n"
	"  --display WxH       a 32-bit linear framebuffer of W x H pixels at 0xfd000000,\n"
	"                      told to Linux as a VESA framebuffer (docs/display.md)\n"
	"  --display WxH,bochs-display   instead, QEMU's bochs-display PCI function\n"
	"                      (1234:1111; 16 MiB of video memory in BAR 0, W x H its first\n"
	"                      mode, others set through its DISPI registers)\n"
	"  --vnc HOST:DISPLAY|:DISPLAY|unix:PATH   serve the display over VNC (port\n"
	"                      5900+DISPLAY; :DISPLAY listens on 127.0.0.1 only)\n"
	"  --vnc-password-file FILE   VNC clients must give the file's first line\n"
	"  --screenshot-on-exit FILE.png   save the display as a PNG when the VM stops\n"
	"  --disk PATH[,ro][,serial=ID][,cache=none|writeback]   a virtio-blk disk on a raw\n"
	"                      image or block device (repeatable; locked, so no second\n"
	"                      kvmini writes it; docs/virtio.md)\n"
	"  --vconsole stdio|file:PATH|unix:PATH   a virtio console (Linux's hvc0): stdio\n"
	"                      takes the terminal's input from COM1; unix: connects to a\n"
	"                      listening socket\n"
	"  --track-dirty-pages log the pages the guest writes, for diff snapshots\n"
	"  --config-file FILE  Firecracker's JSON configuration file (boot-source, drives,\n"
	"                      machine-config, network-interfaces, vsock...); starts at once\n"
	"  --net tap=NAME|user[,mac=MAC][,mtu=N][,hostfwd=tcp:[HADDR]:HPORT-[GADDR]:GPORT]\n"
	"                      a virtio-net card on an existing tap, or on user-mode\n"
	"                      networking (DHCP, DNS, port forwards; docs/networking.md)\n"
	"  --vsock cid=N,uds=PATH   virtio-vsock with Firecracker's host side on PATH\n"
	"  --seccomp kill|log|off   seccomp filters per thread (default kill: a forbidden\n"
	"                      system call kills kvmini, naming thread and call; log: the\n"
	"                      kernel logs it and lets it run; docs/security.md)\n"
	"  --no-seccomp        the same as --seccomp off: UNSAFE, for debugging only\n"
	"  --uid N --gid N     as root: open everything, then drop to these ids with no\n"
	"                      capabilities (the jail, docs/security.md)\n"
	"  --chroot DIR        with --uid/--gid: change root to DIR first (/dev/kvm and\n"
	"                      /dev/urandom are created inside)\n"
	"  --cgroup FILE=VALUE with --uid/--gid: run in a cgroup v2 of its own with this\n"
	"                      limit, e.g. memory.max=1G (repeatable)\n"
	"\n"
	"On a terminal, type Ctrl-A x to quit; Ctrl-A Ctrl-A sends Ctrl-A.\n"
	"Exit status: 0 halted or reset, 2 bad input, 4 KVM/host error, 6 guest crashed,\n"
	"8 timeout, 10 strict-io violation, 12 stopped; odd: debug-exit (v << 1) | 1.\n";

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "kvmini: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (try 'kvmini --help')\n");
	return KVMINI_E_USAGE;
}

/* One line of kvmini's own on stderr; "kvmini[NAME]: " for a VM named
 * with --name, so lines of several VMs sharing a log tell them apart. */
static void say(const char *name, const char *msg)
{
	if (name)
		fprintf(stderr, "kvmini[%s]: %s\n", name, msg);
	else
		fprintf(stderr, "kvmini: %s\n", msg);
}

static int report_for(const char *name, const struct kvmini_error *err)
{
	say(name, err->msg);
	return err->code;
}

static int report(const struct kvmini_error *err)
{
	return report_for(NULL, err);
}

/* The process carries the VM's name (its main thread's, which top, ps
 * and pgrep show), its vCPU threads vcpu0, vcpu1, ... */
static void name_process(const struct run_options *o)
{
	char name[THREAD_NAME_SIZE];
	if (o->cfg.name)
		snprintf(name, sizeof(name), "%s", o->cfg.name);
	else if (o->demo)
		snprintf(name, sizeof(name), "demo");
	else
		thread_name_from_path(name, o->kernel ? o->kernel
				      : o->restore_snapshot ? o->restore_snapshot : o->image.path);
	thread_name_set(name);
}


static int open_serial(const char *spec, int *fd, struct kvmini_error *err)
{
	*fd = STDOUT_FILENO;
	if (strncmp(spec, "file:", 5) != 0)
		return 0;
	*fd = open(spec + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (*fd < 0)
		return kvmini_fail_errno(err, KVMINI_E_USAGE, errno,
					 "cannot open serial output file '%s'", spec + 5);
	return 0;
}

/* ---- signals: blocked in every thread, so no handler runs inside the
 * VMM's locks; the thread in kvmini_vm_run() reads them from a
 * signalfd (kvmini_vm_stop_on_readable). ---- */

static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	int signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	for (unsigned i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		sigaddset(set, signals[i]);
	pthread_sigmask(SIG_BLOCK, set, NULL);
}

/* ---- the serial console ---- */

/* Input that can never carry a byte needs no watch. */
static bool is_dev_null(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) &&
	       major(st.st_rdev) == 1 && minor(st.st_rdev) == 3;
}

/* Where the terminal's input goes: COM1, or with --vconsole stdio the
 * pipe the virtio console reads (feed_fd). */
struct console_target {
	struct kvmini_vm *vm;
	int feed_fd;
};

static size_t deliver_to_guest(void *ctx, const uint8_t *bytes, size_t n)
{
	struct console_target *t = ctx;
	if (t->feed_fd < 0)
		return kvmini_vm_serial_input(t->vm, bytes, n);
	/* Non-blocking: what the pipe does not take is offered again. */
	ssize_t w = write(t->feed_fd, bytes, n);
	return w > 0 ? (size_t)w : 0;
}

static void quit_from_console(void *ctx)
{
	struct console_target *t = ctx;
	kvmini_vm_stop(t->vm, KVMINI_E_STOPPED);
}

/* The console waits on the VM's event loop. */
static void *watch_on_vm(void *vm, int fd, console_ready_fn *ready, void *ctx,
			 struct kvmini_error *err)
{
	return kvmini_vm_watch(vm, fd, ready, ctx, err);
}

static void pause_on_vm(void *vm, void *watch, bool paused)
{
	kvmini_watch_pause(vm, watch, paused);
}

static void unwatch_on_vm(void *vm, void *watch)
{
	kvmini_vm_unwatch(vm, watch);
}

/* ---- the control API's InstanceStart, handed from the API's thread to
 * this one, which builds the VM as for the command line ---- */

struct api_start {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int wake_fd;                  /* eventfd: a start is requested */
	bool answered, started;
	bool closing;                 /* kvmini is ending: refuse new requests */
	struct kvmini_error err;
	struct kvmini_vm *vm;         /* the running VM, for PATCH /vm; under lock */
};

/* PATCH /vm from the API's thread. */
static int api_pause_request(void *ctx, bool paused, struct kvmini_error *err)
{
	struct api_start *st = ctx;
	pthread_mutex_lock(&st->lock);
	int rc = st->vm ? kvmini_vm_pause(st->vm, paused, err)
		: kvmini_fail(err, KVMINI_E_STOPPED, "the VM is not running");
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* PUT /snapshot/create from the API's thread. */
static int api_snapshot_request(void *ctx, bool diff, const char *snapshot_path,
				const char *mem_path, struct kvmini_error *err)
{
	struct api_start *st = ctx;
	pthread_mutex_lock(&st->lock);
	int rc = st->vm ? kvmini_vm_snapshot(st->vm, snapshot_path, mem_path,
					     diff ? KVMINI_SNAPSHOT_DIFF : KVMINI_SNAPSHOT_FULL, err)
		: kvmini_fail(err, KVMINI_E_STOPPED, "the VM is not running");
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* SendCtrlAltDel from the API's thread. */
static int api_ctrl_alt_del_request(void *ctx, struct kvmini_error *err)
{
	struct api_start *st = ctx;
	pthread_mutex_lock(&st->lock);
	int rc = st->vm ? kvmini_vm_send_ctrl_alt_del(st->vm, err)
		: kvmini_fail(err, KVMINI_E_STOPPED, "the VM is not running");
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* PUT /screenshot from the API's thread. */
static int api_screenshot_request(void *ctx, const char *path, struct kvmini_error *err)
{
	struct api_start *st = ctx;
	pthread_mutex_lock(&st->lock);
	int rc = st->vm ? kvmini_vm_screenshot(st->vm, path, err)
		: kvmini_fail(err, KVMINI_E_STOPPED, "the VM is not running");
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* The VM the API may pause: set once it runs, cleared before it goes. */
static void api_start_set_vm(struct api_start *st, struct kvmini_vm *vm)
{
	if (!st)
		return;
	pthread_mutex_lock(&st->lock);
	st->vm = vm;
	pthread_mutex_unlock(&st->lock);
}

/* The API thread's side: ask, then wait until the VM runs or failed. */
static int api_start_request(void *ctx, struct kvmini_error *err)
{
	struct api_start *st = ctx;
	pthread_mutex_lock(&st->lock);
	if (st->closing) {
		pthread_mutex_unlock(&st->lock);
		return kvmini_fail(err, KVMINI_E_STOPPED, "kvmini is stopping");
	}
	st->answered = false;
	uint64_t one = 1;
	if (write(st->wake_fd, &one, sizeof(one)) != sizeof(one)) {
		pthread_mutex_unlock(&st->lock);
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot wake the VM's thread");
	}
	while (!st->answered)
		pthread_cond_wait(&st->cond, &st->lock);
	*err = st->err;
	int result = st->started ? 0 : -1;
	pthread_mutex_unlock(&st->lock);
	return result;
}

/* This thread's side: err NULL when the guest is about to run. */
static void api_start_answer(struct api_start *st, const struct kvmini_error *err)
{
	if (!st)
		return;
	pthread_mutex_lock(&st->lock);
	st->started = !err;
	if (err)
		st->err = *err;
	st->answered = true;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->lock);
}

/* A signal ends kvmini before any VM ran: a request that came with it
 * (the API thread waits for its answer) and any later one are refused,
 * so the API's loop can be stopped. */
static void api_start_close(struct api_start *st)
{
	struct kvmini_error err;
	kvmini_fail(&err, KVMINI_E_STOPPED, "kvmini is stopping");
	pthread_mutex_lock(&st->lock);
	st->closing = true;
	pthread_mutex_unlock(&st->lock);
	api_start_answer(st, &err);
}

/* Wait for a start request or a signal (signals are blocked): true for
 * a start. */
static bool api_start_wait(struct api_start *st, const sigset_t *signals)
{
	int sfd = signalfd(-1, signals, SFD_CLOEXEC);
	struct pollfd fds[2] = { { .fd = st->wake_fd, .events = POLLIN },
				 { .fd = sfd, .events = POLLIN } };
	bool start = false;
	while (sfd >= 0) {
		int ready = poll(fds, 2, -1);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready < 0 || fds[1].revents)
			break;
		uint64_t n;
		if (fds[0].revents && read(st->wake_fd, &n, sizeof(n)) == sizeof(n)) {
			start = true;
			break;
		}
	}
	if (sfd >= 0)
		close(sfd);
	return start;
}

/* Everything is open (VM, image, sockets, terminal, output files): the
 * jail, if asked for, then this thread's own filter, before the guest's
 * first instruction. The threads kvmini_vm_run() starts inherit the
 * filter and narrow it with their own. */
static int confine_main(const struct run_options *o, struct kvmini_error *err)
{
	char name[THREAD_NAME_SIZE] = "";
	pthread_getname_np(pthread_self(), name, sizeof(name));
	if (jail_enter(&o->jail, name[0] ? name : "vm", err) < 0)
		return -1;
	return seccomp_role_install(SECCOMP_ROLE_MAIN, o->cfg.seccomp, err);
}

/* --vnc-password-file: the password is the file's first line. */
static int read_vnc_password(const char *path, char **password, struct kvmini_error *err)
{
	uint8_t *data;
	uint64_t size;
	if (cli_read_file("VNC password file", path, 4096, "4 KiB", &data, &size, err) < 0)
		return -1;
	size_t len = 0;
	while (len < size && data[len] != '\n' && data[len] != '\r' && data[len] != 0)
		len++;
	if (len == 0) {
		free(data);
		return kvmini_fail(err, KVMINI_E_USAGE, "VNC password file %s: the first line is empty",
				   path);
	}
	*password = strndup((char *)data, len);
	free(data);
	return *password ? 0 : kvmini_fail(err, KVMINI_E_HOST, "out of memory");
}

static struct kvmini_vnc *start_vnc(struct kvmini_vm *vm, const struct run_options *o,
				    struct kvmini_error *err)
{
	char *password = NULL;
	if (o->vnc_password_file && read_vnc_password(o->vnc_password_file, &password, err) < 0)
		return NULL;
	struct kvmini_vnc *vnc = kvmini_vnc_start(vm, o->vnc, password, err);
	if (password)
		explicit_bzero(password, strlen(password));
	free(password);
	return vnc;
}

/* --screenshot-on-exit: the screen as the guest left it. */
static int screenshot_on_exit(struct kvmini_vm *vm, const struct run_options *o, int status)
{
	struct kvmini_error err;
	if (!o->screenshot_on_exit || kvmini_vm_screenshot(vm, o->screenshot_on_exit, &err) == 0)
		return status;
	int failed = report_for(o->cfg.name, &err);
	return status ? status : failed;
}

static int run_vm(struct run_options *o, const struct kvmini_image *img, struct api_start *st,
		  int feed_fd, struct kvmini_error *err)
{
	sigset_t signals;
	block_signals(&signals);
	int signal_fd = signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
	if (signal_fd < 0) {
		kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot create a signalfd");
		api_start_answer(st, err);
		return report_for(o->cfg.name, err);
	}
	struct kvmini_vm *vm = o->restore_snapshot
		? kvmini_vm_restore(&o->cfg, o->restore_snapshot, o->restore_mem, o->nrestore_mem, err)
		: kvmini_vm_create(&o->cfg, err);
	struct kvmini_gdb *gdb = NULL;
	struct kvmini_vnc *vnc = NULL;
	if (!vm || (!o->restore_snapshot && kvmini_vm_load(vm, img, err) < 0) ||
	    (o->restore_paused && kvmini_vm_pause(vm, true, err) < 0) ||
	    (o->gdb && !(gdb = kvmini_gdb_listen(vm, o->gdb, o->gdb_wait, err))) ||
	    (o->vnc && !(vnc = start_vnc(vm, o, err)))) {
		api_start_answer(st, err);
		kvmini_gdb_close(gdb);
		kvmini_vnc_stop(vnc);
		kvmini_vm_destroy(vm);
		close(signal_fd);
		return report_for(o->cfg.name, err);
	}
	kvmini_vm_stop_on_readable(vm, signal_fd);
	struct console *console = NULL;
	if (o->cfg.serial_in_fd >= 0 && is_dev_null(o->cfg.serial_in_fd))
		o->cfg.serial_in_fd = -1;
	struct console_loop loop = { .watch = watch_on_vm, .pause = pause_on_vm,
				     .unwatch = unwatch_on_vm, .loop = vm };
	struct console_target target = { .vm = vm, .feed_fd = feed_fd };
	int in_fd = feed_fd >= 0 ? STDIN_FILENO : o->cfg.serial_in_fd;
	if (in_fd >= 0)
		console = console_open(&loop, in_fd, deliver_to_guest, quit_from_console, &target,
				       err);
	struct kvmini_result result;
	int status;
	if ((in_fd >= 0 && !console) || confine_main(o, err) < 0) {
		api_start_answer(st, err);
		status = report_for(o->cfg.name, err);
	} else {
		api_start_set_vm(st, vm);
		api_start_answer(st, NULL);
		status = kvmini_vm_run(vm, &result);
		api_start_set_vm(st, NULL);
		console_close(console);   /* restores the terminal before we print */
		if (result.message[0] && (result.status != KVMINI_OK || o->cfg.verbose))
			say(o->cfg.name, result.message);
	}
	close(signal_fd);
	kvmini_gdb_close(gdb);   /* before the vCPUs it debugs go away */
	kvmini_vnc_stop(vnc);
	status = screenshot_on_exit(vm, o, status);
	kvmini_vm_destroy(vm);
	return status;
}

/* --module FILE[,ARGS]: the file's bytes, and the string QEMU would
 * pass for "-initrd 'FILE ARGS'", the spec with its first comma a space. */
struct cli_modules {
	struct kvmini_module mods[KVMINI_CLI_MODULES_MAX];
	char *paths[KVMINI_CLI_MODULES_MAX], *strings[KVMINI_CLI_MODULES_MAX];
	uint8_t *data[KVMINI_CLI_MODULES_MAX];
	unsigned n;
};

static void modules_free(struct cli_modules *m)
{
	for (unsigned i = 0; i < m->n; i++) {
		free(m->paths[i]);
		free(m->strings[i]);
		free(m->data[i]);
	}
	m->n = 0;
}

static int module_read(const char *spec, uint64_t max, struct cli_modules *m,
		       struct kvmini_error *err)
{
	unsigned i = m->n++;
	char *comma;

	m->paths[i] = strndup(spec, strcspn(spec, ","));
	m->strings[i] = strdup(spec);
	m->data[i] = NULL;
	if (!m->paths[i] || !m->strings[i])
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for --module");
	if ((comma = strchr(m->strings[i], ',')))
		*comma = ' ';
	m->mods[i] = (struct kvmini_module){ .path = m->paths[i], .cmdline = m->strings[i] };
	if (cli_read_file("module", m->paths[i], max, "guest RAM", &m->data[i],
			  &m->mods[i].size, err) < 0)
		return -1;
	m->mods[i].data = m->data[i];
	return 0;
}

static int modules_read(const struct run_options *o, struct cli_modules *m,
			struct kvmini_error *err)
{
	m->n = 0;
	for (unsigned i = 0; i < o->nmodules; i++)
		if (module_read(o->module_specs[i], o->cfg.mem_size, m, err) < 0)
			return -1;
	return 0;
}

/* Everything the image names, read into memory: kernel or image, initrd,
 * modules. */
static int inputs_read(const struct run_options *o, struct kvmini_image *img,
		       uint8_t **data, uint8_t **initrd, struct cli_modules *mods,
		       struct kvmini_error *err)
{
	*data = *initrd = NULL;
	mods->n = 0;
	if (o->restore_snapshot)
		return 0;   /* the snapshot is read by kvmini_vm_restore() */
	if (o->demo) {
		kvmini_demo_image(img);
	} else {
		if (cli_read_file(o->kernel ? "kernel" : "image", img->path, o->cfg.mem_size,
				  "guest RAM", data, &img->size, err) < 0)
			return -1;
		img->data = *data;
	}
	if (img->initrd_path) {
		if (cli_read_file("initrd", img->initrd_path, o->cfg.mem_size, "guest RAM", initrd,
				  &img->initrd_size, err) < 0)
			return -1;
		img->initrd = *initrd;
	}
	if (modules_read(o, mods, err) < 0)
		return -1;
	img->modules = mods->mods;
	img->nmodules = mods->n;
	return 0;
}

/* ---- the virtio console's ends (--vconsole) ---- */

struct vconsole_ends {
	int out_fd, in_fd;   /* the device's (cfg.vconsole_out_fd, _in_fd) */
	int feed_fd;         /* stdio: the pipe's end the terminal console writes */
};

static int vconsole_connect(const char *path, struct vconsole_ends *v, struct kvmini_error *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path))
		return kvmini_fail(err, KVMINI_E_USAGE, "--vconsole unix:%s: the path is too long",
				   path);
	strcpy(addr.sun_path, path);
	v->out_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (v->out_fd < 0 || connect(v->out_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return kvmini_fail_errno(err, KVMINI_E_USAGE, errno,
					 "--vconsole: cannot connect to '%s'", path);
	v->in_fd = fcntl(v->out_fd, F_DUPFD_CLOEXEC, 0);
	return v->in_fd < 0 ? kvmini_fail_errno(err, KVMINI_E_HOST, errno, "dup") : 0;
}

/* stdio: output to stdout; the terminal's input through a pipe the
 * device reads, fed by the terminal console (raw mode, Ctrl-A x), so
 * COM1 gets no input. */
static int vconsole_stdio(struct run_options *o, struct vconsole_ends *v,
			  struct kvmini_error *err)
{
	v->out_fd = STDOUT_FILENO;
	if (is_dev_null(STDIN_FILENO))
		return 0;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0 || fcntl(p[1], F_SETFL, O_NONBLOCK) < 0)
		return kvmini_fail_errno(err, KVMINI_E_HOST, errno, "cannot create a pipe");
	v->in_fd = p[0];
	v->feed_fd = p[1];
	o->cfg.serial_in_fd = -1;
	return 0;
}

static int vconsole_open(struct run_options *o, struct vconsole_ends *v,
			 struct kvmini_error *err)
{
	*v = (struct vconsole_ends){ .out_fd = -1, .in_fd = -1, .feed_fd = -1 };
	const char *spec = o->vconsole;
	int rc = 0;
	if (!spec)
		return 0;
	if (strcmp(spec, "stdio") == 0) {
		rc = vconsole_stdio(o, v, err);
	} else if (strncmp(spec, "unix:", 5) == 0) {
		rc = vconsole_connect(spec + 5, v, err);
	} else {
		v->out_fd = open(spec + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (v->out_fd < 0)
			rc = kvmini_fail_errno(err, KVMINI_E_USAGE, errno,
					       "cannot open --vconsole output file '%s'", spec + 5);
	}
	o->cfg.vconsole_out_fd = v->out_fd;
	o->cfg.vconsole_in_fd = v->in_fd;
	return rc;
}

static void vconsole_close(struct vconsole_ends *v)
{
	int fds[3] = { v->out_fd, v->in_fd, v->feed_fd };
	for (int i = 0; i < 3; i++)
		if (fds[i] > STDERR_FILENO)
			close(fds[i]);
}

/* Read the inputs, run the VM; st (or NULL) hears whether it started. */
static int run_configured(struct run_options *o, struct api_start *st)
{
	struct kvmini_error err;
	struct kvmini_image img = o->image;
	uint8_t *data, *initrd;
	struct cli_modules mods;
	int status;
	struct vconsole_ends vcon = { .out_fd = -1, .in_fd = -1, .feed_fd = -1 };
	o->cfg.serial_out_fd = STDOUT_FILENO;
	if (inputs_read(o, &img, &data, &initrd, &mods, &err) < 0 ||
	    open_serial(o->serial, &o->cfg.serial_out_fd, &err) < 0 ||
	    vconsole_open(o, &vcon, &err) < 0) {
		api_start_answer(st, &err);
		status = report_for(o->cfg.name, &err);
	} else {
		status = run_vm(o, &img, st, vcon.feed_fd, &err);
	}
	if (o->cfg.serial_out_fd != STDOUT_FILENO)
		close(o->cfg.serial_out_fd);
	vconsole_close(&vcon);
	free(data);
	free(initrd);
	modules_free(&mods);
	return status;
}

/* --api-sock with no IMAGE: InstanceStart builds the VM from what the
 * API configured; a start that fails is answered and waited for again. */
static int run_when_started(struct run_options *o, struct api_start *st, const sigset_t *signals)
{
	for (;;) {
		if (!api_start_wait(st, signals)) {
			api_start_close(st);
			return KVMINI_E_STOPPED;
		}
		struct run_options attempt = *o;   /* a failed start leaves o as configured */
		run_options_use_kernel(&attempt);
		name_process(&attempt);
		int status = run_configured(&attempt, st);
		if (st->started)
			return status;
	}
}

/* The API server lives from before the VM until after it: its state is
 * "Running" from the start when an IMAGE, --kernel or --config-file was
 * given. api: what --config-file configured, or (NULL) a fresh state. */
static int run_with_api(struct run_options *o, struct api_state *configured)
{
	struct api_start st = { .lock = PTHREAD_MUTEX_INITIALIZER,
				.cond = PTHREAD_COND_INITIALIZER };
	struct api_state fresh;
	struct api_state *apip = configured ? configured : &fresh;
	struct kvmini_error err;
	sigset_t signals;
	block_signals(&signals);
	if (!configured)
		api_state_init(&fresh, o, o->cfg.name ? o->cfg.name : "anonymous-instance",
			       api_start_request, &st);
	apip->start = api_start_request;
	apip->start_ctx = &st;
	apip->running = !o->api_wait;
	apip->pause = api_pause_request;
	apip->snapshot = api_snapshot_request;
	apip->screenshot = api_screenshot_request;
	apip->ctrl_alt_del = api_ctrl_alt_del_request;
	apip->paused = o->restore_paused;
	st.wake_fd = eventfd(0, EFD_CLOEXEC);
	struct api_server *server = st.wake_fd < 0 ? NULL :
				    api_server_open(o->api_sock, apip, o->cfg.seccomp, &err);
	int status;
	if (st.wake_fd < 0) {
		kvmini_fail_errno(&err, KVMINI_E_HOST, errno, "cannot create an eventfd");
		status = report(&err);
	} else if (!server) {
		status = report_for(o->cfg.name, &err);
	} else if (o->api_wait) {
		status = run_when_started(o, &st, &signals);
	} else {
		status = run_configured(o, &st);
	}
	api_server_close(server);
	if (!configured)
		api_state_free(&fresh);
	if (st.wake_fd >= 0)
		close(st.wake_fd);
	return status;
}

/* --config-file: the file through the API's handlers, then the VM as
 * if its kernel had been given with --kernel (and the API, with
 * --api-sock, reports it Running). */
static int run_config_file(struct run_options *o)
{
	struct kvmini_error err;
	uint8_t *text;
	uint64_t len;
	if (cli_read_file("config file", o->config_file, 1 << 20, "1 MiB", &text, &len, &err) < 0)
		return report(&err);
	struct api_state api;
	api_state_init(&api, o, o->cfg.name ? o->cfg.name : "anonymous-instance", NULL, NULL);
	int rc = api_config_apply(&api, (const char *)text, len, &err);
	free(text);
	if (rc == 0)
		rc = api_apply_devices(&api, &err);
	int status;
	if (rc < 0) {
		struct kvmini_error where;
		kvmini_fail(&where, err.code, "config file '%s': %.400s", o->config_file, err.msg);
		status = report(&where);
	} else {
		run_options_use_kernel(o);
		name_process(o);
		status = o->api_sock ? run_with_api(o, &api) : run_configured(o, NULL);
	}
	api_state_free(&api);
	return status;
}

static int cmd_run(int argc, char **argv)
{
	struct run_options o;
	struct kvmini_error err;
	if (parse_run_options(argc, argv, &o, &err) < 0)
		return usage_error("%s", err.msg);
	if (o.irqchip_chosen && o.cfg.verbose) {
		char line[96];
		snprintf(line, sizeof(line), "%u vCPUs and no --irqchip: using --irqchip kernel",
			 o.cfg.cpus);
		say(o.cfg.name, line);
	}
	if (o.config_file)
		return run_config_file(&o);
	if (!o.api_wait)
		name_process(&o);
	if (o.api_sock)
		return run_with_api(&o, NULL);
	return run_configured(&o, NULL);
}

/* kvmini restore: a snapshot continued, with or without the API. */
static int cmd_restore(int argc, char **argv)
{
	struct run_options o;
	struct kvmini_error err;
	if (parse_restore_options(argc, argv, &o, &err) < 0)
		return usage_error("%s", err.msg);
	name_process(&o);
	if (o.api_sock)
		return run_with_api(&o, NULL);
	return run_configured(&o, NULL);
}

static int cmd_info(int argc, char **argv)
{
	(void)argv;
	if (argc > 1)
		return usage_error("'info' takes no arguments, got '%s'", argv[1]);
	struct kvmini_error err;
	if (kvmini_info(STDOUT_FILENO, &err) < 0)
		return report(&err);
	return 0;
}

static int cmd_ctl(int argc, char **argv)
{
	struct ctl_request r;
	struct kvmini_error err;
	if (ctl_request_parse(argc, argv, &r, &err) < 0)
		return usage_error("%s", err.msg);
	if (ctl_run(&r, STDOUT_FILENO, STDERR_FILENO, &err) < 0)
		return report(&err);
	return 0;
}

int main(int argc, char **argv)
{
	/* A closed output pipe (kvmini run | head -c1) must end the guest's
	 * output, not kill the VMM mid-run: writes then fail with EPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		fputs(usage_text, stderr);
		return KVMINI_E_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("kvmini %s\n", KVMINI_VERSION);
		return 0;
	}
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(cmd, "info") == 0)
		return cmd_info(argc - 1, argv + 1);
	if (strcmp(cmd, "exec") == 0)
		return cmd_exec(argc - 1, argv + 1);
	if (strcmp(cmd, "ctl") == 0)
		return cmd_ctl(argc - 1, argv + 1);
	if (strcmp(cmd, "restore") == 0)
		return cmd_restore(argc - 1, argv + 1);
	return usage_error("unknown command '%s'", cmd);
}
