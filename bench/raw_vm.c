/* The baseline: the ioctl sequence a hand-written VMM needs, with no
 * checks beyond return values and no abstraction. libkvmini is compared
 * against this, so it does the same work as vm_create() + the CPUID
 * setup in machine.c: same RAM size, same 2 MiB alignment and THP hint,
 * same TSS address. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "bench.h"

#define RAW_TSS_ADDR 0xfffbd000UL     /* libkvmini's choice, in the MMIO hole */
#define RAW_HUGE_PAGE (2UL << 20)
#define RAW_CPUID_ENTRIES 256         /* enough for any current CPU, one call */

static int raw_fail(struct raw_vm *r, const char *what)
{
	snprintf(r->error, sizeof(r->error), "%s: %s", what, strerror(errno));
	return -1;
}

/* Over-allocate by one huge page and use the aligned part, so THP can
 * back guest RAM from gpa 0 (what libkvmini's memory layer does). */
static int raw_map_ram(struct raw_vm *r, size_t size)
{
	r->map_size = size + RAW_HUGE_PAGE;
	r->map = mmap(NULL, r->map_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		return raw_fail(r, "mmap guest RAM");
	}
	uintptr_t aligned = ((uintptr_t)r->map + RAW_HUGE_PAGE - 1) & ~(uintptr_t)(RAW_HUGE_PAGE - 1);
	r->ram = (uint8_t *)aligned;
	r->ram_size = size;
	madvise(r->ram, size, MADV_HUGEPAGE);
	return 0;
}

struct kvm_cpuid2 *raw_supported_cpuid(int kvm_fd)
{
	size_t bytes = sizeof(struct kvm_cpuid2) + RAW_CPUID_ENTRIES * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *table = calloc(1, bytes);
	if (!table)
		return NULL;
	table->nent = RAW_CPUID_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, table) < 0) {
		free(table);
		return NULL;
	}
	return table;
}

static int raw_set_cpuid(struct raw_vm *r)
{
	struct kvm_cpuid2 *table = raw_supported_cpuid(r->kvm_fd);
	if (!table)
		return raw_fail(r, "KVM_GET_SUPPORTED_CPUID");
	int rc = ioctl(r->vcpu_fd, KVM_SET_CPUID2, table);
	free(table);
	return rc < 0 ? raw_fail(r, "KVM_SET_CPUID2") : 0;
}

static int raw_open_vm(struct raw_vm *r)
{
	r->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (r->kvm_fd < 0)
		return raw_fail(r, "open /dev/kvm");
	int size = ioctl(r->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < 0)
		return raw_fail(r, "KVM_GET_VCPU_MMAP_SIZE");
	r->run_size = (size_t)size;
	r->vm_fd = ioctl(r->kvm_fd, KVM_CREATE_VM, 0);
	if (r->vm_fd < 0)
		return raw_fail(r, "KVM_CREATE_VM");
	if (ioctl(r->vm_fd, KVM_SET_TSS_ADDR, RAW_TSS_ADDR) < 0)
		return raw_fail(r, "KVM_SET_TSS_ADDR");
	return 0;
}

static int raw_add_ram(struct raw_vm *r, size_t ram_size)
{
	if (raw_map_ram(r, ram_size) < 0)
		return -1;
	struct kvm_userspace_memory_region slot = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = ram_size,
		.userspace_addr = (uint64_t)(uintptr_t)r->ram,
	};
	if (ioctl(r->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		return raw_fail(r, "KVM_SET_USER_MEMORY_REGION");
	return 0;
}

static int raw_add_vcpu(struct raw_vm *r)
{
	r->vcpu_fd = ioctl(r->vm_fd, KVM_CREATE_VCPU, 0);
	if (r->vcpu_fd < 0)
		return raw_fail(r, "KVM_CREATE_VCPU");
	r->run = mmap(NULL, r->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, r->vcpu_fd, 0);
	if (r->run == MAP_FAILED) {
		r->run = NULL;
		return raw_fail(r, "mmap kvm_run");
	}
	return raw_set_cpuid(r);
}

int raw_vm_create(struct raw_vm *r, size_t ram_size)
{
	*r = (struct raw_vm){ .kvm_fd = -1, .vm_fd = -1, .vcpu_fd = -1 };
	if (raw_open_vm(r) < 0 || raw_add_ram(r, ram_size) < 0 || raw_add_vcpu(r) < 0) {
		raw_vm_destroy(r);
		return -1;
	}
	return 0;
}

/* Real mode at 0:BENCH_REAL_LOAD_ADDR, every segment 0, the stack just
 * below the code: the entry state libkvmini gives a raw real-mode image. */
int raw_vm_enter_real(struct raw_vm *r, const uint8_t *code, size_t len)
{
	memcpy(r->ram + BENCH_REAL_LOAD_ADDR, code, len);
	struct kvm_sregs sregs;
	if (ioctl(r->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return raw_fail(r, "KVM_GET_SREGS");
	struct kvm_segment *segs[] = { &sregs.cs, &sregs.ds, &sregs.es,
				       &sregs.fs, &sregs.gs, &sregs.ss };
	for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
		segs[i]->selector = 0;
		segs[i]->base = 0;
	}
	if (ioctl(r->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return raw_fail(r, "KVM_SET_SREGS");
	struct kvm_regs regs = { .rip = BENCH_REAL_LOAD_ADDR, .rsp = BENCH_REAL_LOAD_ADDR,
				 .rflags = 2 };
	if (ioctl(r->vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return raw_fail(r, "KVM_SET_REGS");
	return 0;
}

int raw_vm_run(struct raw_vm *r)
{
	while (ioctl(r->vcpu_fd, KVM_RUN, 0) < 0) {
		if (errno != EINTR)
			return raw_fail(r, "KVM_RUN");
	}
	return (int)r->run->exit_reason;
}

void raw_vm_write_io(const struct raw_vm *r, int fd)
{
	const uint8_t *data = (const uint8_t *)r->run + r->run->io.data_offset;
	/* One write per byte, as libkvmini's UART does. */
	for (uint32_t i = 0; i < r->run->io.count; i++)
		if (write(fd, data + i * r->run->io.size, 1) < 0) {
			/* output is best effort, as in the UART */
		}
}

void raw_vm_destroy(struct raw_vm *r)
{
	if (r->run)
		munmap(r->run, r->run_size);
	if (r->vcpu_fd >= 0)
		close(r->vcpu_fd);
	if (r->vm_fd >= 0)
		close(r->vm_fd);
	if (r->map)
		munmap(r->map, r->map_size);
	if (r->kvm_fd >= 0)
		close(r->kvm_fd);
	r->run = NULL;
	r->map = NULL;
	r->kvm_fd = r->vm_fd = r->vcpu_fd = -1;
}
