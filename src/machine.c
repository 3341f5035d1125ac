/* The public libkvmini API: a VM and its board (src/board/: which
 * devices sit where), load, run with the --on-reset restart loop, stop,
 * destroy. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "machine.h"
#include "machine_impl.h"
#include "completion.h"
#include "event_loop.h"
#include "vcpu.h"
#include "vm.h"
#include "arch/x86/cpu_mode.h"
#include "arch/x86/firmware.h"
#include "board/board.h"
#include "board/pci.h"
#include "display/framebuffer.h"
#include "display/screen_info.h"
#include "display/screenshot.h"
#include "loaders/linux_boot.h"
#include "seccomp/seccomp.h"
#include "loaders/loader.h"
#include "virtio/devices.h"
#include <asm/bootparam.h>
#include <stddef.h>
#include "demo_image.h"   /* generated from guests/demo.S */

void kvmini_config_defaults(struct kvmini_config *cfg)
{
	*cfg = (struct kvmini_config){
		.mem_size = 64ULL << 20,
		.cpus = 1,
		.serial_out_fd = STDOUT_FILENO,
		.serial_in_fd = STDIN_FILENO,
		.debugcon_fd = STDOUT_FILENO,
		.log_fd = STDERR_FILENO,
		.vconsole_out_fd = -1,
		.vconsole_in_fd = -1,
	};
}

void kvmini_demo_image(struct kvmini_image *img)
{
	*img = (struct kvmini_image){
		.format = KVMINI_FORMAT_RAW,
		.path = "built-in demo",
		.data = demo_image,
		.size = sizeof(demo_image),
		.mode_set = true,
		.mode = KVMINI_MODE_REAL,
	};
}

/* The event loop's thread confines itself before its first callback. */
static int enter_event_loop(void *ctx, struct kvmini_error *err)
{
	const struct kvmini_vm *m = ctx;
	return seccomp_role_install(SECCOMP_ROLE_EVLOOP, m->cfg.seccomp, err);
}

/* The loop is wanted (a timer armed, a doorbell watched): on a vCPU,
 * whose filter allows no clone, inside device locks. */
static void loop_wanted(void *ctx)
{
	struct kvmini_vm *m = ctx;
	pthread_mutex_lock(&m->want_lock);
	if (m->boot_running)
		vm_ask_runner(&m->vm);
	pthread_mutex_unlock(&m->want_lock);
}

/* On the thread in vm_run(). */
static void loop_start(void *ctx)
{
	struct kvmini_vm *m = ctx;
	struct kvmini_error err;
	if (event_loop_start(m->loop, &err) < 0)
		vm_request_stop(&m->vm, err.code, err.code, "%s", err.msg);
}

/* This boot's VM gets the framebuffer as a memory slot of its own, with
 * KVM's dirty log on, so the display finds the pages the guest wrote. */
static int framebuffer_attach(struct kvmini_vm *m, struct kvmini_error *err)
{
	m->fb_region = -1;
	if (!m->fb.pixels)
		return 0;
	if (m->cfg.display_bochs) {
		/* The board's Bochs display puts it wherever BAR 0 is. */
		m->fb_region = VM_MOVABLE_SLOT;
		return 0;
	}
	int region = framebuffer_map(&m->fb, &m->vm.mem, err);
	if (region < 0 || vm_map_region(&m->vm, (unsigned)region, err) < 0 ||
	    vm_set_dirty_logging(&m->vm, (unsigned)region, true, err) < 0)
		return -1;
	m->fb_region = region;
	return 0;
}

static int framebuffer_create(struct kvmini_vm *m, const struct kvmini_config *cfg,
			      struct kvmini_error *err)
{
	if (!cfg->display_width && !cfg->display_height)
		return 0;
	if (screenshot_prepare(err) < 0)
		return -1;
	/* A display device's video memory holds any mode --display takes. */
	if (cfg->display_bochs)
		return framebuffer_init_vram(&m->fb, FB_MAX_BYTES, cfg->display_width,
					     cfg->display_height, err);
	return framebuffer_init(&m->fb, cfg->display_width, cfg->display_height, err);
}

struct kvmini_vm *kvmini_vm_create(const struct kvmini_config *cfg,
				   struct kvmini_error *err)
{
	return machine_create(cfg, -1, err);
}

struct kvmini_vm *machine_create(const struct kvmini_config *cfg, int mem_fd,
				 struct kvmini_error *err)
{
	struct kvmini_vm *m = calloc(1, sizeof(*m));
	if (!m) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->want_lock, NULL);
	m->cfg = *cfg;
	m->fb_region = -1;
	m->stop_fd = -1;
	if (board_virtio_check(cfg, err) < 0 || framebuffer_create(m, cfg, err) < 0 ||
	    !(m->loop = event_loop_create("evloop", err)) ||
	    vm_create_from_file(&m->vm, cfg, mem_fd, err) < 0) {
		event_loop_destroy(m->loop);
		framebuffer_free(&m->fb);
		pthread_mutex_destroy(&m->want_lock);
		pthread_mutex_destroy(&m->lock);
		free(m);
		return NULL;
	}
	event_loop_on_enter(m->loop, enter_event_loop, m);
	event_loop_on_want(m->loop, loop_wanted, m);
	m->vm_live = true;
	m->timeout = cfg->timeout;
	int rc = board_init(&m->board, &pc_board, err);
	m->board.loop = m->loop;   /* the devices' and the split irqchip's timers */
	m->board.virtio = &m->virtio;
	m->board.display = m->fb.pixels ? &m->fb : NULL;
	struct virtio_device_env venv = { .loop = m->loop, .log_fd = cfg->log_fd, .cfg = &m->cfg };
	if (rc < 0 || framebuffer_attach(m, err) < 0 ||
	    virtio_devices_create(&m->virtio, &venv, err) < 0 ||
	    board_attach(&m->board, &m->vm, cfg, err) < 0) {
		kvmini_vm_destroy(m);
		return NULL;
	}
	return m;
}

/* Real mode: the stack grows down from the entry point within its
 * segment, as below a boot sector. Otherwise: from the top of the RAM
 * below the device hole, far from the image and the VMM's tables.
 * docs/entry-state.md documents both. */
static uint64_t initial_stack(const struct guest_memory *mem, enum kvmini_mode mode,
			      uint64_t entry)
{
	if (mode == KVMINI_MODE_REAL)
		return entry;
	return mem->regions[0].gpa + mem->regions[0].size;
}

/* The MP and ACPI tables, for a VM with an interrupt controller, in the
 * kernel or split (without one there is no local APIC or IOAPIC to
 * describe), whose RAM covers the firmware area. docs/entry-state.md
 * lists the addresses. */
static bool vm_gets_tables(struct kvmini_vm *m)
{
	return m->vm.irqchip != KVMINI_IRQCHIP_NONE &&
	       guest_ptr(&m->vm.mem, X86_FIRMWARE_START, X86_FIRMWARE_END - X86_FIRMWARE_START);
}

static int write_firmware_tables(struct kvmini_vm *m, struct kvmini_error *err)
{
	m->acpi_rsdp = 0;
	if (!vm_gets_tables(m))
		return 0;
	return board_write_firmware(&m->board, &m->vm.mem, m->vm.ncpus, &m->acpi_rsdp, err);
}

/* A bzImage's zero page describes the framebuffer to Linux
 * (src/display/screen_info.h); PVH's start info has no place for it. */
static int write_screen_info(struct kvmini_vm *m, const struct load_result *loaded,
			     struct kvmini_error *err)
{
	if (!m->fb.pixels || loaded->abi != X86_ABI_LINUX64)
		return 0;
	struct screen_info si;
	uint64_t base = m->cfg.display_bochs ? board_pci_display_address(&m->board) : FB_GPA;
	screen_info_fill(&si, &m->fb, base);
	if (guest_write(&m->vm.mem, BOOT_PARAMS_ADDR + offsetof(struct boot_params, screen_info),
			&si, sizeof(si)) < 0)
		return kvmini_fail(err, KVMINI_E_HOST, "internal: no zero page for screen_info");
	return 0;
}

/* The NUL-terminated string a loader wrote at gpa (at most max bytes
 * before the NUL), or NULL. */
static const char *loaded_string(const struct guest_memory *mem, gpa_t gpa, uint64_t max)
{
	for (uint64_t n = 0; n <= max; n++) {
		const char *c = guest_ptr(mem, gpa + n, 1);
		if (!c)
			return NULL;
		if (!*c)
			return guest_ptr(mem, gpa, n + 1);
	}
	return NULL;
}

/* The devices learn what the loader did (fw_cfg: the command line). */
static int tell_devices(struct kvmini_vm *m, const struct load_result *loaded,
			struct kvmini_error *err)
{
	struct device_boot boot = { .cmdline_addr = loaded->cmdline };
	if (loaded->cmdline)
		boot.cmdline = loaded_string(&m->vm.mem, loaded->cmdline, BOOT_CMDLINE_MAX);
	return board_booted(&m->board, &boot, err);
}

/* A Linux kernel learns of the virtio devices from its command line as
 * well as from the DSDT (docs/virtio.md says why both). With a PCI host
 * bridge the default command line lets it probe PCI. */
static int load_kernel(struct kvmini_vm *m, const struct kvmini_image *img,
		       struct load_result *loaded, struct kvmini_error *err)
{
	char devices[VIRTIO_MAX_DEVICES * sizeof(m->board.virtio_slots[0].cmdline)];
	if (!board_virtio_cmdline(&m->board, devices, sizeof(devices)))
		return kvmini_fail(err, KVMINI_E_HOST, "internal: the virtio command line is too long");
	struct kvmini_image linux_img = *img;
	if (!linux_img.cmdline && m->board.pci)
		linux_img.cmdline = KVMINI_LINUX_CMDLINE_PCI;
	return load_linux_devices(&m->vm.mem, &linux_img, m->acpi_rsdp, devices, loaded, err);
}

/* Everything a boot writes into guest memory or vCPU state before the
 * first instruction: a restart calls this again on the new VM. */
static int load_image(struct kvmini_vm *m, const struct kvmini_image *img,
		      struct kvmini_error *err)
{
	bool elf = img->format == KVMINI_FORMAT_ELF ||
		   (img->format == KVMINI_FORMAT_AUTO && image_is_elf(img->data, img->size));
	struct load_result loaded;
	int r;
	/* Loaders keep images off the tables' ranges, and only those. */
	if (vm_gets_tables(m) && x86_firmware_reserve(&m->vm.mem) < 0)
		return kvmini_fail(err, KVMINI_E_HOST, "internal: cannot reserve the firmware tables");
	if (img->format == KVMINI_FORMAT_LINUX) {
		/* A Linux kernel is told where the RSDP is: tables first. */
		r = write_firmware_tables(m, err) < 0 ? -1 : load_kernel(m, img, &loaded, err);
	} else {
		r = elf ? load_elf(&m->vm.mem, img, &loaded, err)
			: load_flat(&m->vm.mem, img, &loaded, err);
		if (r == 0)
			r = write_firmware_tables(m, err);
	}
	if (r < 0 || tell_devices(m, &loaded, err) < 0)
		return -1;
	struct x86_entry entry = {
		.mode = loaded.mode, .abi = loaded.abi,
		.regs = { .rip = loaded.entry, .rax = loaded.rax, .rsi = loaded.rsi,
			  .rbx = loaded.rbx,
			  .rsp = loaded.stack ? loaded.stack
					      : initial_stack(&m->vm.mem, loaded.mode, loaded.entry) },
	};
	if (x86_enter(&m->vm.mem, m->vm.vcpus[0].fd, &entry, err) < 0)
		return -1;
	return write_screen_info(m, &loaded, err);
}

int kvmini_vm_load(struct kvmini_vm *m, const struct kvmini_image *img,
		   struct kvmini_error *err)
{
	if (load_image(m, img, err) < 0)
		return -1;
	m->image = *img;
	m->loaded = true;
	return 0;
}

/* ---- --on-reset restart ----
 *
 * A restart rebuilds the VM rather than resetting it in place: the
 * boot's VM and its per-boot devices are destroyed (end_boot), and a new
 * VM is created from the same config, the same devices attached and the
 * image loaded again (start_boot), through the very functions the first
 * boot used. A new VM holds no vCPU register, MSR, local APIC, PIC,
 * IOAPIC, PIT or device state from the last boot by construction, on
 * VT-x as on PVM, while an in-place reset would have to enumerate and
 * restore each of those (and every device added later) and would break
 * silently when one is missed. Its cost, a few milliseconds of KVM
 * teardown (most of it the in-kernel irqchip), is small next to a boot.
 * Only the RTC outlives a restart, as the battery-backed CMOS does on a
 * PC. m->lock keeps the front end's threads away from the VM while it
 * is rebuilt. A reset loop ends like any run:
 * --timeout counts every boot together, Ctrl-A x (kvmini_vm_stop) is
 * honoured between two boots as during one, and a signal on the stop
 * fd (kvmini_vm_stop_on_readable) waits there until the next boot's
 * first look, a moment later. */

static void end_boot(struct kvmini_vm *m)
{
	board_detach(&m->board);   /* before the VM fd the split irqchip uses closes */
	if (m->vm_live && m->cfg.verbose)
		completion_report(&m->vm);
	if (m->vm_live)
		vm_destroy(&m->vm);
	m->vm_live = false;
	m->fb_region = -1;
}

static int start_boot(struct kvmini_vm *m, struct kvmini_error *err)
{
	if (vm_create(&m->vm, &m->cfg, err) < 0)
		return -1;
	m->vm_live = true;
	if (framebuffer_attach(m, err) < 0 || board_attach(&m->board, &m->vm, &m->cfg, err) < 0 ||
	    load_image(m, &m->image, err) < 0)
		return -1;
	return 0;
}

static void set_result(struct kvmini_result *out, enum kvmini_status status,
		       const char *message)
{
	*out = (struct kvmini_result){ .status = status, .exit_status = status };
	snprintf(out->message, sizeof(out->message), "%s", message);
}

/* After a reset: false (with *out filled) when the run ends instead. */
static bool restart(struct kvmini_vm *m, unsigned next_boot, struct kvmini_result *out)
{
	struct kvmini_error err;
	bool restarted = false;
	pthread_mutex_lock(&m->lock);
	if (m->user_stopped) {
		set_result(out, m->user_stop_why, "stopped by the user");
	} else {
		if (m->cfg.verbose)
			vm_log(&m->vm, "kvmini: %s; restarting the VM (boot %u)\n", out->message,
			       next_boot);
		end_boot(m);
		restarted = start_boot(m, &err) == 0;
		if (!restarted) {
			set_result(out, err.code, "");
			snprintf(out->message, sizeof(out->message),
				 "cannot restart the VM after a reset: %.400s", err.msg);
		}
	}
	pthread_mutex_unlock(&m->lock);
	return restarted;
}

static double seconds_since(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void boot_running_set(struct kvmini_vm *m, bool running)
{
	pthread_mutex_lock(&m->want_lock);
	m->boot_running = running;
	pthread_mutex_unlock(&m->want_lock);
}

/* One boot; the event loop starts first if this boot's set-up (or an
 * earlier boot) already wants it. */
static int boot_run(struct kvmini_vm *m, double left, struct kvmini_result *out)
{
	struct kvmini_error err;
	m->vm.runner_task = loop_start;
	m->vm.runner_ctx = m;
	m->vm.stop_fd = m->stop_fd;
	boot_running_set(m, true);
	if (event_loop_start(m->loop, &err) < 0) {
		boot_running_set(m, false);
		set_result(out, err.code, err.msg);
		return -1;
	}
	vm_run(&m->vm, left, out);
	boot_running_set(m, false);
	return 0;
}

/* The whole run's limit, not one boot's. Formatted only when it comes:
 * printf's floating-point path costs a start-up that never times out
 * (docs/performance.md, figure (h)). */
static void timed_out_say(const struct kvmini_vm *m, struct kvmini_result *out)
{
	snprintf(out->message, sizeof(out->message),
		 "guest still running after the %g-second timeout", m->timeout);
}

static int run_boots(struct kvmini_vm *m, struct kvmini_result *out)
{
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (unsigned boot = 1;; boot++) {
		double left = m->timeout > 0 ? m->timeout - seconds_since(&start) : 0;
		if (m->timeout > 0 && left <= 0) {
			set_result(out, KVMINI_E_TIMEOUT, "");
			timed_out_say(m, out);
			return out->exit_status;
		}
		if (boot_run(m, left, out) < 0)
			return out->exit_status;
		if (out->status == KVMINI_E_TIMEOUT)
			timed_out_say(m, out);
		if (!out->reset || m->cfg.on_reset != KVMINI_ON_RESET_RESTART ||
		    !restart(m, boot + 1, out))
			return out->exit_status;
	}
}

int kvmini_vm_run(struct kvmini_vm *m, struct kvmini_result *out)
{
	if (!m->loaded || m->ran) {
		*out = (struct kvmini_result){ .status = KVMINI_E_USAGE, .exit_status = KVMINI_E_USAGE };
		snprintf(out->message, sizeof(out->message), "%s",
			 m->ran ? "a VM runs only once" : "no image loaded");
		return out->exit_status;
	}
	m->ran = true;
	run_boots(m, out);
	event_loop_stop(m->loop);
	return out->exit_status;
}

size_t kvmini_vm_serial_input(struct kvmini_vm *m, const uint8_t *bytes, size_t n)
{
	pthread_mutex_lock(&m->lock);   /* between boots there is no UART */
	size_t taken = board_input(&m->board, bytes, n);
	pthread_mutex_unlock(&m->lock);
	return taken;
}

/* ---- front ends' fds on the event loop ---- */

struct kvmini_watch {
	struct event_handler *handler;
	kvmini_watch_fn *fn;
	void *ctx;
};

static void watch_ready(void *ctx, int fd, uint32_t events)
{
	(void)events;
	struct kvmini_watch *w = ctx;
	w->fn(w->ctx, fd);
}

struct kvmini_watch *kvmini_vm_watch(struct kvmini_vm *m, int fd, kvmini_watch_fn *fn,
				     void *ctx, struct kvmini_error *err)
{
	struct kvmini_watch *w = calloc(1, sizeof(*w));
	if (!w) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for a watch");
		return NULL;
	}
	*w = (struct kvmini_watch){ .fn = fn, .ctx = ctx };
	w->handler = event_loop_add(m->loop, fd, EPOLLIN, watch_ready, w, err);
	if (!w->handler) {
		free(w);
		return NULL;
	}
	return w;
}

/* EPOLL_CTL_MOD on a registered fd cannot fail for lack of anything. */
void kvmini_watch_pause(struct kvmini_vm *m, struct kvmini_watch *w, bool paused)
{
	struct kvmini_error err;
	event_loop_modify(m->loop, w->handler, paused ? 0 : EPOLLIN, &err);
}

/* From the watch's own callback the handler is freed by the loop later,
 * but `w` at once: watch_ready touches nothing after fn returns. */
void kvmini_vm_unwatch(struct kvmini_vm *m, struct kvmini_watch *w)
{
	if (!w)
		return;
	event_loop_remove(m->loop, w->handler);
	free(w);
}

void kvmini_vm_stop(struct kvmini_vm *m, enum kvmini_status why)
{
	pthread_mutex_lock(&m->lock);
	if (!m->user_stopped) {
		m->user_stopped = true;   /* also ends a restart loop between boots */
		m->user_stop_why = why;
	}
	if (m->vm_live)
		vm_request_stop(&m->vm, why, why, "stopped by the user");
	pthread_mutex_unlock(&m->lock);
}

void kvmini_vm_stop_on_readable(struct kvmini_vm *m, int fd)
{
	m->stop_fd = fd;
}

int kvmini_vm_pause(struct kvmini_vm *m, bool paused, struct kvmini_error *err)
{
	int rc = 0;
	pthread_mutex_lock(&m->lock);
	if (!m->vm_live || m->user_stopped)
		rc = kvmini_fail(err, KVMINI_E_STOPPED, "the VM is stopping");
	else if (!paused)
		vm_resume_all(&m->vm);
	else if (!vm_pause_all(&m->vm))
		rc = kvmini_fail(err, KVMINI_E_STOPPED, "the VM is stopping");
	pthread_mutex_unlock(&m->lock);
	return rc;
}

struct vm *machine_vm_for(struct kvmini_vm *m, const char *who, const char *option,
			  struct kvmini_error *err)
{
	if (m->ran) {
		kvmini_fail(err, KVMINI_E_USAGE, "%s must start before the VM runs", who);
		return NULL;
	}
	/* What attaches holds this boot's vCPUs; a restart replaces them. */
	if (m->cfg.on_reset == KVMINI_ON_RESET_RESTART) {
		kvmini_fail(err, KVMINI_E_USAGE,
			    "%s cannot follow a restart: use --on-reset exit with %s", who, option);
		return NULL;
	}
	return &m->vm;
}

void kvmini_vm_destroy(struct kvmini_vm *m)
{
	if (!m)
		return;
	event_loop_stop(m->loop);   /* kvmini_vm_run() did, unless it never ran */
	end_boot(m);
	board_destroy(&m->board);   /* and what outlived the boots */
	virtio_devices_destroy(&m->virtio);   /* their timers are on the loop */
	free(m->restored_virtio);             /* after the disks that named it */
	event_loop_destroy(m->loop);
	framebuffer_free(&m->fb);
	pthread_mutex_destroy(&m->want_lock);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* ---- the display's view of the machine (src/machine.h) ---- */

const struct framebuffer *machine_framebuffer(struct kvmini_vm *m)
{
	return m->fb.pixels ? &m->fb : NULL;
}

enum kvmini_seccomp machine_seccomp(const struct kvmini_vm *m)
{
	return m->cfg.seccomp;
}

bool machine_framebuffer_dirty_log(struct kvmini_vm *m, uint64_t *bitmap)
{
	struct kvmini_error err;
	pthread_mutex_lock(&m->lock);   /* between boots there is no slot */
	bool logged = m->vm_live && m->fb_region >= 0 &&
		      vm_get_dirty_log(&m->vm, (unsigned)m->fb_region, bitmap, &err) == 0;
	pthread_mutex_unlock(&m->lock);
	return logged;
}

void machine_key_event(struct kvmini_vm *m, uint16_t key, bool down)
{
	pthread_mutex_lock(&m->lock);
	board_key_event(&m->board, key, down);
	pthread_mutex_unlock(&m->lock);
}

/* Set 1: left Ctrl, left Alt, Delete (0xe0 0x53), then released in turn. */
int kvmini_vm_send_ctrl_alt_del(struct kvmini_vm *m, struct kvmini_error *err)
{
	static const uint16_t keys[] = { 0x1d, 0x38, 0xe053 };
	pthread_mutex_lock(&m->lock);
	bool live = m->vm_live;
	for (unsigned i = 0; live && i < 6; i++)
		board_key_event(&m->board, keys[i < 3 ? i : 5 - i], i < 3);
	pthread_mutex_unlock(&m->lock);
	return live ? 0 : kvmini_fail(err, KVMINI_E_STOPPED, "the VM is between two boots");
}

void machine_pointer_event(struct kvmini_vm *m, int dx, int dy, unsigned buttons)
{
	pthread_mutex_lock(&m->lock);
	board_pointer_event(&m->board, dx, dy, buttons);
	pthread_mutex_unlock(&m->lock);
}
