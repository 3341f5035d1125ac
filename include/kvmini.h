/* libkvmini — a small virtual machine monitor on the Linux KVM API.
 *
 * The public interface: configure a VM, load an image into it, run it
 * until it stops, destroy it. Every failure is returned as a value
 * (struct kvmini_error); the library never calls exit(). */
#ifndef KVMINI_H
#define KVMINI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KVMINI_VERSION "0.1.0"

/* Outcome categories. The command-line tool uses them as its exit status;
 * they are even so they never collide with the debug-exit device, whose
 * statuses ((value << 1) | 1) are always odd. */
enum kvmini_status {
	KVMINI_OK = 0,             /* guest halted or powered off */
	KVMINI_E_USAGE = 2,        /* bad option, missing or malformed file */
	KVMINI_E_HOST = 4,         /* KVM unavailable or a host call failed */
	KVMINI_E_GUEST = 6,        /* guest crashed: triple fault, emulation failure */
	KVMINI_E_TIMEOUT = 8,      /* --timeout expired */
	KVMINI_E_STRICT_IO = 10,   /* unclaimed I/O with --strict-io */
	KVMINI_E_STOPPED = 12,     /* stopped by the user (Ctrl-A x, signal) */
};

struct kvmini_error {
	enum kvmini_status code;
	char msg[512];
};

enum kvmini_mode { KVMINI_MODE_REAL, KVMINI_MODE_PROTECTED, KVMINI_MODE_LONG };
/* Interrupt controllers: none (bare guests that poll), KVM's own PIC,
 * IOAPIC, local APICs and PIT (kernel), or KVM's local APICs with
 * kvmini's own IOAPIC, PIC pair and PIT (split). */
enum kvmini_irqchip { KVMINI_IRQCHIP_NONE, KVMINI_IRQCHIP_KERNEL, KVMINI_IRQCHIP_SPLIT };

/* LINUX: a kernel booted by its own protocol (--kernel): a bzImage (64-bit
 * boot protocol), an ELF vmlinux with a PVH entry note, or a Multiboot
 * kernel (src/loaders/multiboot.c says which wins). */
enum kvmini_format { KVMINI_FORMAT_AUTO, KVMINI_FORMAT_RAW, KVMINI_FORMAT_ELF,
		     KVMINI_FORMAT_LINUX };

/* The command line a Linux kernel gets unless the image names its own:
 * the console and early messages on COM1, reset through the keyboard
 * controller (one port write kvmini catches), reboot at once on a panic
 * (so a panic ends the VM instead of hanging it), and no PCI probing
 * unless there is a PCI host bridge (--transport pci): probing a bus
 * that is not there costs a booting kernel time. README.md explains
 * each part. */
#define KVMINI_LINUX_CMDLINE_PCI \
	"console=ttyS0 earlyprintk=serial,ttyS0,115200 reboot=k panic=-1"
#define KVMINI_LINUX_CMDLINE KVMINI_LINUX_CMDLINE_PCI " pci=off"

/* What a guest's reset (i8042 0xfe, port 0x92, port 0xcf9) does: end
 * the run (status 0), or restart the VM from its initial state with the
 * image loaded again; only the CMOS RAM and clock survive, as on a PC. */
enum kvmini_on_reset { KVMINI_ON_RESET_EXIT, KVMINI_ON_RESET_RESTART };

/* virtio devices (docs/virtio.md) and the transport they sit on:
 * DEFAULT lets the board choose (README.md says which and why). */
enum kvmini_transport { KVMINI_TRANSPORT_DEFAULT, KVMINI_TRANSPORT_MMIO, KVMINI_TRANSPORT_PCI };

/* A virtio-blk disk on a raw image file (--disk). */
struct kvmini_disk {
	const char *path;
	bool read_only;
	const char *serial;         /* what VIRTIO_BLK_T_GET_ID answers; NULL: none */
	bool cache_none;            /* O_DIRECT instead of the host's page cache */
};

/* A virtio-net card (--net): a tap device or user-mode networking. */
enum kvmini_net_backend { KVMINI_NET_TAP, KVMINI_NET_USER };
struct kvmini_net {
	enum kvmini_net_backend backend;
	const char *tap_name;       /* TAP: an existing tap device */
	const char *hostfwd;        /* USER: "tcp:HOSTADDR:HOSTPORT-:GUESTPORT,..."; NULL: none */
	bool mac_set;
	uint8_t mac[6];             /* unless mac_set, a stable generated one */
	unsigned mtu;               /* 0: 1500 */
};

/* virtio-vsock with Firecracker's host side (--vsock). */
struct kvmini_vsock {
	bool enabled;
	uint32_t guest_cid;
	const char *uds_path;       /* the host's Unix socket */
};

/* Seccomp filters on the VM's own threads (vCPUs, event loop), one per
 * role (docs/security.md). OFF: none (the library's default: a filter
 * kills the whole process, and the event loop runs the caller's watch
 * callbacks). KILL: a forbidden call prints which thread made it and
 * kills the process with SIGSYS (the command line's default). LOG: the
 * kernel logs a forbidden call and lets it run (finding missing ones). */
enum kvmini_seccomp { KVMINI_SECCOMP_OFF, KVMINI_SECCOMP_KILL, KVMINI_SECCOMP_LOG };

struct kvmini_config {
	uint64_t mem_size;          /* bytes of guest RAM */
	bool mem_shared;            /* back RAM with a memfd instead of anonymous memory */
	bool mem_prefault;          /* populate RAM before the guest runs */
	unsigned cpus;              /* number of vCPUs (>= 1; > 1 needs an irqchip) */
	enum kvmini_irqchip irqchip;
	bool strict_io;             /* unclaimed port/MMIO access stops the guest */
	bool verbose;               /* report unclaimed accesses and exits on stderr */
	double timeout;             /* seconds; 0 = no limit */
	int serial_out_fd;          /* COM1 output */
	int serial_in_fd;           /* COM1 input; -1 for none */
	int debugcon_fd;            /* ports 0xe9 and 0x402 output */
	bool testdev;               /* QEMU's pc-testdev (src/devices/testdev.h) */
	bool no_hpet;               /* leave the HPET (and its ACPI table) out */
	int log_fd;                 /* diagnostics (register dumps, --verbose) */
	/* The VM's name in its log lines ("kvmini[NAME]: ..."; NULL: "kvmini:
	 * ..."); the string must outlive the VM. */
	const char *name;
	enum kvmini_on_reset on_reset;
	/* CPUID features hidden from the guest: "-xsave,-cx16" (names as in
	 * /proc/cpuinfo, each with '-'); NULL or "" for none. */
	const char *cpu_features;
	/* A linear framebuffer of display_width x display_height 32-bit
	 * pixels at guest-physical 0xfd000000 (docs/display.md); 0 x 0: none. */
	unsigned display_width, display_height;
	/* Instead: the Bochs display PCI function (1234:1111) with 16 MiB of
	 * video memory in BAR 0, display_width x display_height its first
	 * mode; the guest sets others through its DISPI registers. */
	bool display_bochs;

	/* KVM logs the pages the guest writes, for diff snapshots. */
	bool track_dirty_pages;

	/* virtio devices; the arrays must outlive the VM. */
	enum kvmini_transport transport;
	const struct kvmini_disk *disks;
	unsigned ndisks;
	const struct kvmini_net *nets;
	unsigned nnets;
	struct kvmini_vsock vsock;
	bool rng;                   /* virtio-rng fed by getrandom() */
	uint64_t rng_bytes_per_sec; /* 0: unlimited */
	bool vconsole;              /* virtio-console (hvc0) */
	int vconsole_out_fd;        /* its output; -1: none */
	int vconsole_in_fd;         /* its input; -1: none */

	enum kvmini_seccomp seccomp;   /* filters on the VM's threads; OFF by default */
};

/* Fill a config with the defaults the command line uses. */
void kvmini_config_defaults(struct kvmini_config *cfg);

/* A Multiboot module: bytes and the string the kernel gets with them. */
struct kvmini_module {
	const char *path;           /* used in error messages */
	const char *cmdline;        /* the module's string (QEMU: "PATH ARGS"); NULL: path */
	const uint8_t *data;
	uint64_t size;
};

struct kvmini_image {
	enum kvmini_format format;  /* AUTO: ELF if the file starts with \x7fELF */
	const char *path;           /* used in error messages */
	const uint8_t *data;        /* the file's bytes */
	uint64_t size;
	bool mode_set;              /* mode given explicitly; otherwise from the format */
	enum kvmini_mode mode;
	bool load_addr_set, entry_set;
	uint64_t load_addr;         /* raw images: where the bytes go */
	uint64_t entry;             /* overrides the image's own entry point */
	/* KVMINI_FORMAT_LINUX only. */
	const char *cmdline;        /* NULL: KVMINI_LINUX_CMDLINE */
	const char *cmdline_append; /* added after the command line and a space; NULL: none */
	const char *initrd_path;    /* used in error messages */
	const uint8_t *initrd;      /* the initrd's bytes; NULL: no initrd */
	uint64_t initrd_size;
	/* A Multiboot kernel's modules after the initrd (which is module 0). */
	const struct kvmini_module *modules;
	unsigned nmodules;
	/* A bzImage's payload decompressed by kvmini and entered at vmlinux's
	 * startup_64, instead of the kernel decompressing itself. */
	bool decompress;
};

/* The image of the built-in demo: real-mode code that adds 2 and 2 and
 * prints "4\n" on COM1, then halts. */
void kvmini_demo_image(struct kvmini_image *img);

struct kvmini_result {
	enum kvmini_status status;  /* category of the stop */
	int exit_status;            /* what a process should exit with */
	char message[512];          /* one line: why the VM stopped; empty for a clean halt */
	bool reset;                 /* the guest reset the machine (status KVMINI_OK) */
};

struct kvmini_vm;

struct kvmini_vm *kvmini_vm_create(const struct kvmini_config *cfg,
				   struct kvmini_error *err);
/* With KVMINI_ON_RESET_RESTART, *img and the bytes it points to must stay
 * valid until kvmini_vm_run() returns: every restart loads them again. */
int kvmini_vm_load(struct kvmini_vm *vm, const struct kvmini_image *img,
		   struct kvmini_error *err);
/* Runs every vCPU until the VM stops; returns the result's exit status.
 * With KVMINI_ON_RESET_RESTART a guest's reset starts the VM again, and
 * the timeout covers every boot together. */
int kvmini_vm_run(struct kvmini_vm *vm, struct kvmini_result *out);
/* Feed bytes to the guest's COM1 receiver (any thread). Returns how many
 * were accepted; fewer than n while the receive FIFO is full. */
size_t kvmini_vm_serial_input(struct kvmini_vm *vm, const uint8_t *bytes, size_t n);
/* A front end's file descriptor on the VM's event loop: the one thread
 * where the library waits on file descriptors (timers, doorbells) and
 * where a front end's own input can wait too, instead of a thread of its
 * own. fn(ctx, fd) runs on that thread whenever fd is readable or hung
 * up (level-triggered: read what is there, or pause the watch), one
 * callback at a time. It may call kvmini_vm_serial_input(),
 * kvmini_vm_stop() and the three calls below, not kvmini_vm_destroy().
 * Watch before or during kvmini_vm_run(): the loop runs while it does,
 * across --on-reset restarts, and ready fds wait until it starts. The
 * fd stays the caller's; unwatch before closing it. */
struct kvmini_watch;
typedef void kvmini_watch_fn(void *ctx, int fd);
struct kvmini_watch *kvmini_vm_watch(struct kvmini_vm *vm, int fd, kvmini_watch_fn *fn,
				     void *ctx, struct kvmini_error *err);
/* Stop (paused) or resume reporting the fd, keeping the watch. */
void kvmini_watch_pause(struct kvmini_vm *vm, struct kvmini_watch *w, bool paused);
/* When this returns fn is not running (unless called from fn itself)
 * and never runs again. NULL is fine. */
void kvmini_vm_unwatch(struct kvmini_vm *vm, struct kvmini_watch *w);
/* Park every vCPU (paused) until resumed, or let them run again; from
 * any thread but a vCPU's. Returns once they are parked. Devices and
 * the event loop go on (a timer still fires; its interrupt waits). -1
 * when the VM is stopping. */
int kvmini_vm_pause(struct kvmini_vm *vm, bool paused, struct kvmini_error *err);
/* Snapshots (docs/snapshot.md). Of a paused VM (kvmini_vm_pause()):
 * its vCPUs', interrupt controllers', clock's and devices' state to
 * snapshot_path, its RAM to mem_path: FULL writes every page that is
 * not zero (a sparse file), DIFF only those written since the last
 * snapshot (needs track_dirty_pages), to be laid over the files before
 * it. Fails, changing nothing, when the VM is not paused or has what a
 * snapshot cannot hold yet (virtio devices, --irqchip split). */
enum kvmini_snapshot_type { KVMINI_SNAPSHOT_FULL, KVMINI_SNAPSHOT_DIFF };
int kvmini_vm_snapshot(struct kvmini_vm *vm, const char *snapshot_path, const char *mem_path,
		       enum kvmini_snapshot_type type, struct kvmini_error *err);
/* A VM that continues from a snapshot, ready for kvmini_vm_run() (in
 * place of kvmini_vm_create() and kvmini_vm_load()). Memory size, vCPUs
 * and irqchip come from the snapshot; cfg gives the rest (output fds,
 * timeout, name...). mem_paths[0] is a full memory file, mapped
 * privately (clones share its pages); later ones are diffs laid over it
 * in order. The snapshot is checked whole before any KVM call: a
 * truncated, corrupted, wrong-version or host-incompatible one fails
 * with KVMINI_E_USAGE. A guest's reset then ends the run. */
struct kvmini_vm *kvmini_vm_restore(const struct kvmini_config *cfg, const char *snapshot_path,
				    const char *const *mem_paths, unsigned nmem,
				    struct kvmini_error *err);
/* Ask a running VM to stop, from any thread (not from a signal handler). */
void kvmini_vm_stop(struct kvmini_vm *vm, enum kvmini_status why);
/* Signals without a thread of their own: once fd is readable (or hung
 * up, or closed), kvmini_vm_run() ends the run as kvmini_vm_stop(vm,
 * KVMINI_E_STOPPED) would, reading what fd holds. Meant for a
 * non-blocking signalfd of signals every thread blocks; the thread in
 * kvmini_vm_run() waits on it. Before kvmini_vm_run(); the fd stays the
 * caller's, open until kvmini_vm_run() returns. */
void kvmini_vm_stop_on_readable(struct kvmini_vm *vm, int fd);
void kvmini_vm_destroy(struct kvmini_vm *vm);

/* The display (with a framebuffer in the config; docs/display.md).
 * A screenshot: the framebuffer as it is now, as a PNG file. */
int kvmini_vm_screenshot(struct kvmini_vm *vm, const char *path, struct kvmini_error *err);
/* Serve the framebuffer over VNC at address ("HOST:DISPLAY", ":DISPLAY"
 * for 127.0.0.1, or "unix:PATH"), with VNC authentication when password
 * is not NULL; the viewers' keys and pointer reach the guest's i8042.
 * Stop it before destroying the VM. */
struct kvmini_vnc;
struct kvmini_vnc *kvmini_vnc_start(struct kvmini_vm *vm, const char *address,
				    const char *password, struct kvmini_error *err);
void kvmini_vnc_stop(struct kvmini_vnc *vnc);

/* Press and release Ctrl+Alt+Del on the guest's PS/2 keyboard (the
 * i8042), as Firecracker's SendCtrlAltDel does; a guest that has not
 * enabled its keyboard drops the keys. Any thread. */
int kvmini_vm_send_ctrl_alt_del(struct kvmini_vm *vm, struct kvmini_error *err);

/* The gdb stub is a layer of its own: include/kvmini_gdb.h. */

/* Host information for `kvmini info`: writes a human-readable report. */
int kvmini_info(int fd, struct kvmini_error *err);

#endif
