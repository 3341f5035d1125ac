/* kvmini-bench: measures libkvmini against hand-written KVM code and
 * QEMU in one run. Each figure lives in its own fig_*.c file; this header
 * holds what they share: a clock, medians, the table printer, a minimal
 * raw-ioctl VM, a VM built from libkvmini's internal layers, and the
 * hand-assembled guests. */
#ifndef KVMINI_BENCH_H
#define KVMINI_BENCH_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kvmini.h"
#include "vm.h"
#include "devices/debug_exit.h"

#define BENCH_MEM_SIZE (64ULL << 20)   /* guest RAM of every benchmark VM */
#define BENCH_REAL_LOAD_ADDR 0x7c00    /* where real-mode guests start */
#define BENCH_PROT_LOAD_ADDR 0x100000  /* where the protected-mode guest starts */
#define BENCH_MARK_PORT 0x80           /* the port guests write to */

/* ---- util.c: clock, statistics, output ---- */

uint64_t now_ns(void);
/* Median of n samples (n >= 1); the array is sorted in place. */
double median(double *samples, size_t n);
/* How many repetitions to run: `wanted`, or about a fifth of it with
 * --quick; always odd and at least 3. */
unsigned reps(unsigned wanted);
void set_quick(bool quick);
/* One shared descriptor on /dev/null for discarded guest output. */
int devnull_fd(void);

void print_heading(const char *title, const char *note);
/* One table row: a label, the repetition count and the median. */
void print_row(const char *label, unsigned n, double value, const char *unit);
/* "ratio  X (target ...: met|MISSED)" under a table; cmp "<=" or ">=",
 * or NULL for a ratio shown without a target. */
void print_ratio(const char *what, double ratio, const char *cmp, double target);
void print_failure(const char *what, const char *why);
/* Format a failure reason into why[whylen]; returns -1. */
int fail_with(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- raw_vm.c: the same VM written directly against the KVM API ---- */

struct raw_vm {
	int kvm_fd, vm_fd, vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	void *map;            /* the whole reservation behind guest RAM */
	size_t map_size;
	uint8_t *ram;         /* guest-physical 0, 2 MiB aligned */
	size_t ram_size;
	char error[160];      /* why the last call failed */
};

/* open → CREATE_VM → SET_TSS_ADDR → RAM (THP hint) → memory slot →
 * CREATE_VCPU → mmap kvm_run → SET_CPUID2 from GET_SUPPORTED_CPUID. */
int raw_vm_create(struct raw_vm *r, size_t ram_size);
/* Copy code to BENCH_REAL_LOAD_ADDR and start the vCPU there in real
 * mode, with the registers libkvmini gives a raw real-mode image. */
int raw_vm_enter_real(struct raw_vm *r, const uint8_t *code, size_t len);
/* KVM_GET_SUPPORTED_CPUID in one call with a table large enough for
 * any current CPU; malloc'd, NULL on failure (errno says why). */
struct kvm_cpuid2 *raw_supported_cpuid(int kvm_fd);
/* One KVM_RUN; returns the exit reason or -1. */
int raw_vm_run(struct raw_vm *r);
/* After an OUT exit: write its bytes to fd. */
void raw_vm_write_io(const struct raw_vm *r, int fd);
void raw_vm_destroy(struct raw_vm *r);

/* ---- lib_vm.c: a VM built from libkvmini's internal layers ----
 * vm_create() (layer 4) plus kvmini_vm_load's steps, minus the devices
 * kvmini_vm_create attaches, so a benchmark can put its own device on
 * the bus and see the exits it times. */

/* A config for benchmark VMs: 64 MiB, one vCPU, output discarded. */
void lib_vm_config(struct kvmini_config *cfg);
/* Load raw bytes in the given mode (at BENCH_REAL_LOAD_ADDR in real
 * mode, BENCH_PROT_LOAD_ADDR otherwise) and set the entry state. */
int lib_vm_load(struct vm *vm, const uint8_t *code, size_t len,
		enum kvmini_mode mode, struct kvmini_error *err);
/* Load an ELF guest (at most 1 MiB) from path and set the entry state. */
int lib_vm_load_elf(struct vm *vm, const char *path, struct kvmini_error *err);

/* Put QEMU's debug-exit device at its port: a guest write stops vm with
 * status (v << 1) | 1. exit must outlive the VM's runs. */
int lib_vm_add_debug_exit(struct vm *vm, struct debug_exit *exit, struct kvmini_error *err);

/* A port device that records when each write arrives, up to
 * MARKER_MAX of them, and otherwise does nothing. */
#define MARKER_MAX 8
struct marker {
	uint64_t at_ns[MARKER_MAX];
	unsigned count;
};
extern const struct bus_device_ops marker_ops;
/* A device that only counts writes (opaque: uint64_t *): as close to a
 * do-nothing device as still lets the bench check the exit count. */
extern const struct bus_device_ops counting_device_ops;

/* ---- guest_code.c: hand-assembled guests ---- */

#define GUEST_CODE_MAX 64
/* Real mode: cx = iterations; out dx,al to BENCH_MARK_PORT in a loop; hlt. */
size_t guest_port_loop(uint8_t *code, uint16_t iterations);
/* Real mode: cx = iterations; popcnt bx into ax in a loop; hlt. KVM's
 * emulator has no popcnt: where it emulates real mode (PVM), each one is
 * an emulation failure kvmini completes. */
size_t guest_popcnt_loop(uint8_t *code, uint16_t iterations);
/* 32-bit protected mode: write one byte per 4 KiB page below ram_end,
 * twice, with an out to BENCH_MARK_PORT before, between and after; hlt. */
size_t guest_touch_pages(uint8_t *code, uint32_t ram_end);
/* Real mode: the demo's "4\n" on COM1, then 0 to the debug-exit port
 * 0xf4 (status 1): a guest that ends with any irqchip, where the demo's
 * hlt would wait for an interrupt. */
size_t guest_demo_exit(uint8_t *code);
/* A 64 KiB BIOS whose reset vector writes "4\n" to COM1 and then 0 to
 * the debug-exit port 0xf4. */
#define BIOS_IMAGE_SIZE 0x10000
void guest_bios_image(uint8_t *image);

/* ---- the figures ---- */

void fig_startup(void);       /* (a) */
void fig_port_io(void);       /* (b) */
/* (c); self is this program, re-run with RAW_DEMO_FLAG as the
 * hand-written VMM process. */
void fig_process(const char *kvmini_path, const char *self);
#define RAW_DEMO_FLAG "--raw-demo-process"
/* The body of that process: the demo on raw ioctls, output on stdout. */
int raw_demo_main(void);
/* A command (c) and (f) spawn: what to run, what it must print on
 * stdout and exit with, and its samples (time in ms, peak RSS in KiB). */
struct process_command {
	char *const *argv;
	const char *output;
	int status;
	double *ms, *rss;
};
/* Run every command n times, taking turns, so host drift during the
 * measurement hits each alike; sample i of each goes to ms[i], rss[i]. */
int measure_processes(struct process_command *cmds, unsigned ncmds, unsigned n, char *why,
		      size_t whylen);

void fig_first_touch(void);   /* (d) */
/* (e); guest_dir holds irq_latency.elf (build/guests). */
void fig_interrupts(const char *guest_dir);
/* (f) the interrupt-controller models: a VM's life in the process, and
 * whole `kvmini run` processes next to the raw-ioctl floor (c). */
void fig_irqchip(const char *kvmini_path, const char *self);
/* (g) a doorbell's round trip: ioeventfd -> event loop -> irqfd, next to
 * a port-I/O exit whose handler raises the line; guest_dir holds
 * doorbell_bench.elf. */
void fig_doorbell(const char *guest_dir);
/* (h) kvmini run next to bench/tools/raw_sample.c (built next to this
 * program) as whole processes, and where the difference goes. */
void fig_startup_ratio(const char *kvmini_path, const char *self);
/* (i) instructions completed in user space per second, next to port-I/O
 * exits in the same run (docs/completion.md) */
void fig_completion(void);

/* (k) virtio-blk's device side through the unit tests' fake driver,
 * next to the host doing the same I/O on the same file. */
void fig_virtio_blk(void);
/* Shared with (l): a 64 MiB scratch image, written once (its path in
 * path[path_len]; the caller closes and unlinks it), and the host's own
 * run of a workload on it (pread/pwrite at depth 1, io_uring deeper):
 * seconds, or -1. */
struct blk_workload;
int blk_image_make(char *path, size_t path_len);
double blk_host_run(int fd, const struct blk_workload *w, uint8_t *bufs);

/* (l) the same workloads from a bare-metal guest driver through a whole
 * `kvmini run --disk` (guest_dir holds virtio_blk_bench.elf). */
void fig_virtio_blk_guest(const char *kvmini_path, const char *guest_dir);

#endif
