/* A VM assembled from libkvmini's internal layers (vm.h, loader.h,
 * cpu_mode.h) in the order machine.c uses them. The public struct
 * kvmini_vm is opaque and its bus is fixed, so benchmarks that need
 * their own device on the bus, or a timestamp at the first exit, build
 * the VM here instead. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "bench.h"
#include "vcpu.h"
#include "arch/x86/cpu_mode.h"
#include "loaders/loader.h"

void lib_vm_config(struct kvmini_config *cfg)
{
	kvmini_config_defaults(cfg);
	cfg->mem_size = BENCH_MEM_SIZE;
	cfg->serial_in_fd = -1;
	/* Guests that print must not disturb the table on stdout. */
	cfg->serial_out_fd = devnull_fd();
	cfg->debugcon_fd = devnull_fd();
}

/* kvmini_vm_load's rule (docs/entry-state.md): real mode stacks below
 * the entry point, other modes at the top of the RAM below the hole.
 * The bench's guests use no stack; it is set only to enter alike. */
static uint64_t initial_stack(const struct guest_memory *mem, const struct load_result *loaded)
{
	if (loaded->mode == KVMINI_MODE_REAL)
		return loaded->entry;
	return mem->regions[0].gpa + mem->regions[0].size;
}

int lib_vm_load(struct vm *vm, const uint8_t *code, size_t len,
		enum kvmini_mode mode, struct kvmini_error *err)
{
	struct kvmini_image img = {
		.format = KVMINI_FORMAT_RAW, .path = "bench guest",
		.data = code, .size = len, .mode_set = true, .mode = mode,
		.load_addr_set = true,
		.load_addr = mode == KVMINI_MODE_REAL ? BENCH_REAL_LOAD_ADDR : BENCH_PROT_LOAD_ADDR,
	};
	struct load_result loaded;
	if (load_flat(&vm->mem, &img, &loaded, err) < 0)
		return -1;
	struct x86_entry entry = {
		.mode = loaded.mode,
		.regs = { .rip = loaded.entry, .rsp = initial_stack(&vm->mem, &loaded) },
	};
	return x86_enter(&vm->mem, vm->vcpus[0].fd, &entry, err);
}

int lib_vm_load_elf(struct vm *vm, const char *path, struct kvmini_error *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return kvmini_fail_errno(err, KVMINI_E_USAGE, errno, "cannot open %s", path);
	static uint8_t image[1 << 20];
	size_t size = fread(image, 1, sizeof(image), f);
	fclose(f);
	struct kvmini_image img = { .format = KVMINI_FORMAT_ELF, .path = path,
				    .data = image, .size = size };
	struct load_result loaded;
	if (load_elf(&vm->mem, &img, &loaded, err) < 0)
		return -1;
	struct x86_entry entry = {
		.mode = loaded.mode,
		.regs = { .rip = loaded.entry, .rsp = initial_stack(&vm->mem, &loaded) },
	};
	return x86_enter(&vm->mem, vm->vcpus[0].fd, &entry, err);
}

static void marker_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)offset, (void)data, (void)len;
	struct marker *m = opaque;
	/* Only the vCPU thread writes; the bench reads after vm_run joins it. */
	if (m->count < MARKER_MAX)
		m->at_ns[m->count++] = now_ns();
}

const struct bus_device_ops marker_ops = { .write = marker_write };

static void counting_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)offset, (void)data, (void)len;
	uint64_t *writes = opaque;
	(*writes)++;
}

const struct bus_device_ops counting_device_ops = { .write = counting_write };

static void debug_exit_stop(void *ctx, int status, const char *reason)
{
	vm_request_stop(ctx, KVMINI_OK, status, "%s", reason);
}

int lib_vm_add_debug_exit(struct vm *vm, struct debug_exit *exit, struct kvmini_error *err)
{
	*exit = (struct debug_exit){ .exit = { .exit = debug_exit_stop, .ctx = vm } };
	return bus_register(&vm->pio, DEBUG_EXIT_PORT, DEBUG_EXIT_SIZE, &debug_exit_ops, exit,
			    "debug-exit", err);
}
