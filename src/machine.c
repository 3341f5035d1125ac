/* The machine: which devices sit at which addresses, and the public
 * libkvmini API that wires the layers together. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "vcpu.h"
#include "vm.h"
#include "arch/x86/cpu_mode.h"
#include "devices/debug_exit.h"
#include "devices/debugcon.h"
#include "devices/uart16550.h"
#include "loaders/loader.h"
#include "gdb/stub.h"
#include "demo_image.h"   /* generated from guests/demo.S */

struct kvmini_vm {
	struct vm vm;
	struct uart16550 *uart;
	struct debugcon debugcon;
	struct gdb_stub *gdb;       /* NULL unless kvmini_vm_gdb_listen() */
	double timeout;
	bool loaded;
	bool ran;
};

void kvmini_config_defaults(struct kvmini_config *cfg)
{
	*cfg = (struct kvmini_config){
		.mem_size = 64ULL << 20,
		.cpus = 1,
		.serial_out_fd = STDOUT_FILENO,
		.serial_in_fd = STDIN_FILENO,
		.debugcon_fd = STDOUT_FILENO,
		.log_fd = STDERR_FILENO,
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

static int attach_devices(struct kvmini_vm *m, const struct kvmini_config *cfg,
			  struct kvmini_error *err)
{
	struct irq_line com1_irq = vm_irq_line(&m->vm, UART_COM1_IRQ);
	m->uart = uart16550_create(cfg->serial_out_fd, &com1_irq);
	if (!m->uart)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory for the UART");
	m->debugcon.out_fd = cfg->debugcon_fd;
	struct bus *pio = &m->vm.pio;
	if (bus_register(pio, UART_COM1_BASE, UART_NREGS, &uart16550_ops, m->uart,
			 "uart16550 (COM1)", err) < 0 ||
	    bus_register(pio, DEBUG_EXIT_PORT, DEBUG_EXIT_SIZE, &debug_exit_ops, &m->vm,
			 "debug-exit", err) < 0 ||
	    bus_register(pio, DEBUGCON_PORT, 1, &debugcon_ops, &m->debugcon,
			 "debugcon", err) < 0)
		return -1;
	return 0;
}

struct kvmini_vm *kvmini_vm_create(const struct kvmini_config *cfg,
				   struct kvmini_error *err)
{
	struct kvmini_vm *m = calloc(1, sizeof(*m));
	if (!m) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory");
		return NULL;
	}
	if (vm_create(&m->vm, cfg, err) < 0) {
		free(m);
		return NULL;
	}
	m->timeout = cfg->timeout;
	if (attach_devices(m, cfg, err) < 0) {
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

int kvmini_vm_load(struct kvmini_vm *m, const struct kvmini_image *img,
		   struct kvmini_error *err)
{
	bool elf = img->format == KVMINI_FORMAT_ELF ||
		   (img->format == KVMINI_FORMAT_AUTO && image_is_elf(img->data, img->size));
	struct load_result loaded;
	int r = elf ? load_elf(&m->vm.mem, img, &loaded, err)
		    : load_flat(&m->vm.mem, img, &loaded, err);
	if (r < 0)
		return -1;
	struct x86_entry entry = {
		.mode = loaded.mode,
		.regs = { .rip = loaded.entry, .rsp = initial_stack(&m->vm.mem, loaded.mode, loaded.entry) },
	};
	if (x86_enter(&m->vm.mem, m->vm.vcpus[0].fd, &entry, err) < 0)
		return -1;
	m->loaded = true;
	return 0;
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
	return vm_run(&m->vm, m->timeout, out);
}

size_t kvmini_vm_serial_input(struct kvmini_vm *m, const uint8_t *bytes, size_t n)
{
	return uart16550_receive(m->uart, bytes, n);
}

void kvmini_vm_stop(struct kvmini_vm *m, enum kvmini_status why)
{
	vm_request_stop(&m->vm, why, why, "stopped by the user");
}

int kvmini_vm_gdb_listen(struct kvmini_vm *m, const char *address, bool wait,
			 struct kvmini_error *err)
{
	if (m->gdb || m->ran)
		return kvmini_fail(err, KVMINI_E_USAGE, "%s",
				   m->gdb ? "a gdb stub is listening already"
					  : "the gdb stub must start before the VM runs");
	m->gdb = gdb_stub_create(&m->vm, address, wait, err);
	return m->gdb ? 0 : -1;
}

void kvmini_vm_destroy(struct kvmini_vm *m)
{
	if (!m)
		return;
	gdb_stub_destroy(m->gdb);   /* before the vCPUs it debugs go away */
	vm_destroy(&m->vm);
	if (m->uart)
		uart16550_destroy(m->uart);
	free(m);
}
