/* Sandbox mode, internal interface (a front end over the vm/vCPU layers).
 *
 * Guest-physical memory is laid out as
 *   [0, SB_KERNEL_END)        the VMM's structures: GDT+TSS, IDT, the CPL0
 *                             stub, a scratch page, the exception stack and
 *                             the kernel half's page tables; mapped
 *                             supervisor-only at SB_KERNEL_VA + gpa
 *   [SB_KERNEL_END, win.gpa)  the user window's page tables
 *   [win.gpa, RAM end)        the user window: every page the program can
 *                             ever use (image, brk heap, mmap area, stack)
 * The window is mapped linearly: guest-virtual win.base + x is always
 * guest-physical win.gpa + x. A page's guest-physical home never changes,
 * so a translation KVM or the TLB still caches after an unmap can only be
 * lenient (the same page), never point at another page's data. Only the
 * leaf PTEs change while the program runs; they are preallocated. */
#ifndef KVMINI_SANDBOX_INTERNAL_H
#define KVMINI_SANDBOX_INTERNAL_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>
#include "kvmini_sandbox.h"
#include "vm.h"
#include "vcpu.h"
#include "arch/x86/cpuid.h"

#define SB_PAGE 4096ULL
#define SB_PAGE_UP(x) (((x) + SB_PAGE - 1) & ~(SB_PAGE - 1))
#define SB_PAGE_DOWN(x) ((x) & ~(SB_PAGE - 1))

/* Guest-physical addresses of the VMM's structures. */
#define SB_GDT_GPA      0x1000ULL   /* GDT, then the TSS in the same page */
#define SB_IDT_GPA      0x2000ULL
#define SB_STUB_GPA     0x3000ULL   /* CPL0 code: syscall door, exception doors */
#define SB_IST_GPA      0x5000ULL   /* two pages of exception stack */
#define SB_IST_TOP_GPA  0x7000ULL
#define SB_PML4_GPA     0x7000ULL
#define SB_KPDPT_GPA    0x8000ULL
#define SB_KPD_GPA      0x9000ULL
#define SB_KPT_GPA      0xa000ULL
#define SB_KERNEL_END   0xb000ULL
#define SB_KERNEL_VA    0x00007f0000000000ULL

/* Offsets in the stub page. */
#define SB_STUB_SYSCALL 0x000       /* out %al,$SB_PORT_SYSCALL; sysretq */
#define SB_STUB_EXC     0x100       /* + 8 * vector: out %al,$(SB_PORT_EXC+v); iretq */


/* The sandbox's ports: one per exception vector, one for system calls. */
#define SB_PORT_EXC     0xc0
#define SB_PORT_SYSCALL 0xe0
#define SB_PORT_COUNT   0x21

/* GDT selectors: Linux's own layout. PVM runs the program on the host's
 * GDT, where only these user selectors mean 64-bit code and data; sysret
 * needs user data at STAR's base + 8 and 64-bit code at base + 16. */
#define SB_SEL_KCODE    0x10
#define SB_SEL_KDATA    0x18
#define SB_SEL_UBASE    0x23
#define SB_SEL_UDATA    0x2b
#define SB_SEL_UCODE    0x33
#define SB_SEL_TSS      0x40

/* One flag byte per window page. R/W/X are the program's protection;
 * MAPPED means the page belongs to a mapping (possibly PROT_NONE);
 * GUARD pages (under the stack) are never handed out by mmap. */
enum {
	SB_PG_R = 1, SB_PG_W = 2, SB_PG_X = 4,
	SB_PG_MAPPED = 8, SB_PG_GUARD = 16,
};
#define SB_PG_PROT (SB_PG_R | SB_PG_W | SB_PG_X)

/* The window's bytes and its leaf PTEs live in guest RAM and are reached
 * only through guest_ptr() and its copy helpers on `mem` (sb_mm_host()). */
struct sb_mm {
	const struct guest_memory *mem;
	gva_t base;               /* the window: guest-virtual [base, base+size) */
	uint64_t size;
	gpa_t gpa;                /* guest-physical address of base */
	uint64_t npages;
	uint8_t *pg;              /* npages flag bytes (host memory, not guest RAM) */
	gva_t pte_va0;            /* the virtual address the first leaf PTE maps */
	gpa_t pt_gpa;             /* guest-physical address of that PTE; the rest follow it */
	gva_t brk_start, brk;     /* the heap: [brk_start, brk) */
	gva_t mmap_top;           /* mmap hands out pages below this */
	gva_t mmap_next;          /* where the next search starts (0: the top) */
	gva_t stack_lo, stack_top;
	uint64_t *host_dirty;     /* bitmap of guest-physical pages the host wrote, or NULL */
};

struct sb_file {
	int host_fd;              /* -1 when the slot is free */
	bool readable, writable, is_dir;
	char *guest_path;         /* absolute; NULL for the standard streams */
};

struct sb_grant {
	char *guest;              /* normalised absolute guest path, no trailing '/' */
	size_t guest_len;
	char *host;
	int root_fd;              /* O_PATH descriptor of the host directory */
	bool writable;
};

struct sb_sigaction {
	uint64_t handler, flags, restorer, mask;
};

struct sb_snapshot;

struct kvmini_sandbox {
	struct vm vm;
	bool vm_ready;            /* vm_create succeeded: vm_destroy is due */
	struct x86_cpuid cpuid;
	bool cpuid_ready;
	struct vcpu *vcpu;
	struct kvm_run *run;
	struct sb_mm mm;

	struct sb_file *files;
	unsigned max_files;
	struct sb_grant *grants;
	unsigned ngrants;
	char *cwd;

	struct sb_sigaction sigact[64];
	uint64_t sigmask, sigpending;
	uint64_t tid_address, robust_list;
	char comm[16];

	int log_fd;
	bool verbose, trace;
	double timeout;
	double deadline;          /* CLOCK_MONOTONIC seconds, for the current run */
	struct vm_exit_hooks hooks;   /* the sandbox on the VM's run loop */
	bool sync_regs;           /* KVM_CAP_SYNC_REGS: registers travel in kvm_run */
	bool regs_dirty;          /* run->s.regs.regs must be loaded before the next entry */
	bool door_iret;           /* the current call came as a #GP at the door (PVM) */
	bool sregs_touched;       /* FS/GS base changed since the snapshot */
	bool files_touched;       /* descriptors opened, closed or duplicated since the snapshot */

	/* the run's end, once known */
	bool finished;
	struct kvmini_result result;

	/* serving (kvmini_sandbox_start/call) */
	bool serving;             /* the serve call is enabled */
	bool at_serve;            /* stopped in a serve call */
	uint64_t serve_in, serve_in_cap, serve_out, serve_out_len;
	struct sb_snapshot *snap;

	struct kvmini_sandbox_stats stats;
};

typedef struct kvmini_sandbox sandbox_t;

/* ---- cpu.c: the VMM's structures and the vCPU's entry state ---- */
/* CPUID (already in sb->cpuid), control and segment registers, syscall
 * MSRs, XCR0, and the entry registers. */
int sb_cpu_setup(sandbox_t *sb, gva_t entry, gva_t sp, struct kvmini_error *err);
/* Write the kernel-half page tables and the CPL0 stub into guest RAM. */
int sb_cpu_write_tables(sandbox_t *sb, struct kvmini_error *err);

/* ---- mm.c: the user window ---- */
/* Lay the window out over RAM; `base` is its first virtual address. */
int sb_mm_init(struct sb_mm *mm, const struct guest_memory *mem, gva_t base,
	       struct kvmini_error *err);
void sb_mm_free(struct sb_mm *mm);
bool sb_mm_contains(const struct sb_mm *mm, gva_t va, uint64_t len);
/* Give [va, va+len) (page-aligned, inside the window) the protection
 * `prot` (SB_PG_* bits) and mark it mapped; zero it when `zero`. */
void sb_mm_map(struct sb_mm *mm, gva_t va, uint64_t len, unsigned prot, bool zero);
void sb_mm_unmap(struct sb_mm *mm, gva_t va, uint64_t len);
void sb_mm_protect(struct sb_mm *mm, gva_t va, uint64_t len, unsigned prot);
/* True when every page of [va, va+len) is mapped. */
bool sb_mm_all_mapped(const struct sb_mm *mm, gva_t va, uint64_t len);
bool sb_mm_none_mapped(const struct sb_mm *mm, gva_t va, uint64_t len);
/* A free run of len bytes below mmap_top and above the heap; 0 if none. */
gva_t sb_mm_find_free(struct sb_mm *mm, uint64_t len);
/* Zero pages and drop KVM's translations of them (see mm.c). */
void sb_mm_zero(struct sb_mm *mm, gva_t va, uint64_t len);
/* Drop KVM's translations of pages that lost rights. */
void sb_mm_forget(struct sb_mm *mm, gva_t va, uint64_t len);
/* Host view of the window's [va, va+len), from guest_ptr(): NULL when
 * the range leaves the window or RAM. Protection is not checked (the
 * VMM's own writes: loading, the stack, mmap of a file); the program's
 * pointers go through sb_uptr(). */
void *sb_mm_host(const struct sb_mm *mm, gva_t va, uint64_t len);
/* The guest-physical address behind window address va (inside it). */
gpa_t sb_mm_gpa(const struct sb_mm *mm, gva_t va);
void sb_mm_mark_dirty(struct sb_mm *mm, gpa_t gpa, uint64_t len);

/* ---- uaccess.c: the program's pointers, checked ---- */
enum { SB_ACCESS_READ = SB_PG_R, SB_ACCESS_WRITE = SB_PG_W };
/* Host pointer for the program's [va, va+len) when every page is mapped
 * with the access; NULL otherwise. len 0 is always allowed. A write
 * access marks the pages dirty. */
void *sb_uptr(sandbox_t *sb, gva_t va, uint64_t len, unsigned access);
int sb_copy_in(sandbox_t *sb, void *dst, gva_t va, uint64_t len);       /* 0 or -EFAULT */
int sb_copy_out(sandbox_t *sb, gva_t va, const void *src, uint64_t len); /* 0 or -EFAULT */
/* Copy a NUL-terminated string of at most cap-1 bytes: its length,
 * -EFAULT, or -ENAMETOOLONG. */
long sb_copy_string(sandbox_t *sb, char *dst, gva_t va, size_t cap);

/* ---- loader.c: the program and its initial stack ---- */
int sb_load_program(sandbox_t *sb, const uint8_t *elf, size_t size, const char *path,
		    const char *const *argv, const char *const *envp,
		    gva_t *entry, gva_t *sp, struct kvmini_error *err);
/* The window base the program needs (for sb_mm_init); validates the file. */
int sb_program_base(const uint8_t *elf, size_t size, const char *path, gva_t *base,
		    struct kvmini_error *err);

/* ---- files.c: grants, paths and the descriptor table ---- */
int sb_files_init(sandbox_t *sb, const struct kvmini_sandbox_config *cfg,
		  struct kvmini_error *err);
void sb_files_free(sandbox_t *sb);
/* Normalise a guest path against base (the cwd or a directory's path):
 * absolute result without ".", ".." or repeated '/'. -ENAMETOOLONG. */
int sb_path_normalise(const char *base, const char *path, char *out, size_t cap);
/* The grant holding an absolute, normalised guest path, and the path
 * relative to the grant's root ("." for the root itself). NULL if none. */
const struct sb_grant *sb_path_grant(const sandbox_t *sb, const char *abs, const char **rel);

/* ---- syscalls.c and sys_*.c: the system-call layer ---- */
typedef long (*sb_syscall_fn)(sandbox_t *sb, const uint64_t a[6]);
struct sb_syscall_desc {
	const char *name;
	sb_syscall_fn fn;
	unsigned nargs;
};
/* The handler for nr, or NULL (then the call returns -ENOSYS). */
const struct sb_syscall_desc *sb_syscall_lookup(uint64_t nr);
/* Perform the system call in the vCPU's registers; the result goes to rax. */
void sb_syscall(sandbox_t *sb, struct kvm_regs *regs);
/* End the run with a result (first caller wins). */
void sb_finish(sandbox_t *sb, enum kvmini_status status, int exit_status,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void sb_log(sandbox_t *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

long sb_sys_read(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_write(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_readv(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_writev(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_pread64(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_pwrite64(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_open(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_openat(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_close(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_fstat(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_stat(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_lstat(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_newfstatat(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_lseek(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_getdents64(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_readlink(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_readlinkat(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_access(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_faccessat(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_faccessat2(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_getcwd(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_chdir(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_ioctl(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_fcntl(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_dup(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_dup2(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_dup3(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_ftruncate(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_fsync(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_unlinkat(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_unlink(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_mkdirat(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_mkdir(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_renameat(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_rename(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_fadvise64(sandbox_t *sb, const uint64_t a[6]);

long sb_sys_brk(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_mmap(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_munmap(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_mprotect(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_mremap(sandbox_t *sb, const uint64_t a[6]);
long sb_sys_madvise(sandbox_t *sb, const uint64_t a[6]);

/* Read a file range into the window (mmap of a file). 0 or -errno. */
int sb_file_read_into(sandbox_t *sb, int fd, uint64_t off, uint8_t *dst, uint64_t len);
/* The open file behind guest fd, or NULL. */
struct sb_file *sb_file_get(sandbox_t *sb, uint64_t fd);
/* Put host_fd in the lowest free guest slot, with like's flags and a copy
 * of its guest path; closes host_fd and returns -EMFILE when full. */
long sb_fd_install(sandbox_t *sb, int host_fd, const struct sb_file *like);

/* ---- run.c: the sandbox on the VM's run loop ---- */
extern const struct bus_device_ops sb_door_ops;
/* Attach the sandbox's exit hooks to its VM; once, before sb_run(). */
int sb_run_attach(sandbox_t *sb, struct kvmini_error *err);
/* Run the vCPU until the program finishes or reaches a serve call (on a
 * vCPU thread of the VM layer; this thread waits). */
void sb_run(sandbox_t *sb);
/* Return `value` from the system call the vCPU is in. */
void sb_set_return(sandbox_t *sb, uint64_t value);
/* Whether the CPU pushes an error code for this exception vector. */
bool sb_vector_has_error_code(unsigned vector);
/* Where to resume a vCPU stopped in a door: past its `out`. */
uint64_t sb_resume_rip(uint64_t rip);
/* Seconds until the current run's deadline (a large number without one). */
double sb_run_seconds_left(const sandbox_t *sb);

/* ---- snapshot.c: the ready state and per-call reset ---- */
int sb_snapshot_take(sandbox_t *sb, struct kvmini_error *err);
int sb_snapshot_restore(sandbox_t *sb, struct kvmini_error *err);
void sb_snapshot_free(sandbox_t *sb);

#endif
