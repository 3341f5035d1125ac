/* The probe is a user of the VM layer like any other: a scratch VM,
 * one run of the one KVM_RUN loop per setting, and an exit hook that
 * records the first exit and stops the VM. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "vcpu.h"
#include "vm.h"
#include "arch/x86/cpu_mode.h"
#include "gdb/probe.h"

#define CODE_ADDR 0x8000ULL
#define DATA_ADDR 0x9000ULL
#define HLT_ADDR  (CODE_ADDR + 6)
#define INT3_ADDR (CODE_ADDR + 7)
/* Real mode: int3 at REAL_INT3 (cs = 0); vector 3 of the guest's table
 * points at a hlt, so an int3 the host delivers to the guest ends there. */
#define REAL_INT3 0x7000ULL
#define REAL_HANDLER 0x7010ULL

/* mov %eax, DATA_ADDR; hlt; int3; hlt (32-bit protected mode) */
static const uint8_t probe_code[] = {
	0x89, 0x05, 0x00, 0x90, 0x00, 0x00, 0xf4, 0xcc, 0xf4,
};

#define DR7_G0        (1ULL << 1)
#define DR7_WRITE0    (1ULL << 16)
#define DR7_LEN4_0    (3ULL << 18)
#define DR6_B0        (1ULL << 0)
#define DR6_BS        (1ULL << 14)

/* Long enough for the few instructions of a probe at emulation speed;
 * a run that outlasts it reports the timeout as its failure. */
#define PROBE_TIMEOUT_SECONDS 10.0

struct probe_exit {
	bool seen;
	uint32_t reason;
	uint32_t exception, suberror;
	uint64_t pc, dr6;
	char failure[128];        /* why no exit was seen */
};

static const char *exit_name(uint32_t reason)
{
	switch (reason) {
	case KVM_EXIT_DEBUG: return "KVM_EXIT_DEBUG";
	case KVM_EXIT_HLT: return "KVM_EXIT_HLT";
	case KVM_EXIT_INTERNAL_ERROR: return "KVM_EXIT_INTERNAL_ERROR";
	case KVM_EXIT_SHUTDOWN: return "KVM_EXIT_SHUTDOWN";
	case KVM_EXIT_MMIO: return "KVM_EXIT_MMIO";
	case KVM_EXIT_IO: return "KVM_EXIT_IO";
	default: return "another exit";
	}
}

static void describe(char *note, size_t cap, const char *what, const struct probe_exit *e)
{
	if (!e->seen) {
		snprintf(note, cap, "%s: %s", what, e->failure);
		return;
	}
	int n = snprintf(note, cap, "%s: KVM_RUN gave %s", what, exit_name(e->reason));
	if (n < 0 || (size_t)n >= cap)
		return;
	if (e->reason == KVM_EXIT_DEBUG)
		snprintf(note + n, cap - (size_t)n, " (exception %u, pc 0x%llx, dr6 0x%llx)",
			 e->exception, (unsigned long long)e->pc, (unsigned long long)e->dr6);
	else if (e->reason == KVM_EXIT_INTERNAL_ERROR)
		snprintf(note + n, cap - (size_t)n, " (suberror %u, pc 0x%llx)", e->suberror,
			 (unsigned long long)e->pc);
}

/* The exit hook: the first exit is the answer, and ends the run. */
static bool record_exit(void *opaque, struct vcpu *vcpu)
{
	struct probe_exit *e = opaque;
	const struct kvm_run *run = vcpu->run;
	struct kvm_regs regs;
	e->seen = true;
	e->reason = run->exit_reason;
	e->exception = run->debug.arch.exception;
	e->pc = run->debug.arch.pc;
	e->dr6 = run->debug.arch.dr6;
	if (e->reason == KVM_EXIT_INTERNAL_ERROR) {
		e->suberror = run->internal.suberror;
		if (vcpu_get_regs(vcpu, &regs, NULL) == 0)
			e->pc = regs.rip;
	}
	vm_request_stop(vcpu->vm, KVMINI_OK, 0, "probe done");
	return true;
}

/* Run the probe vCPU from rip with one guest-debug setting. */
static struct probe_exit run_with(struct vm *vm, uint64_t rip, uint32_t control,
				  uint64_t dr0, uint64_t dr7)
{
	struct probe_exit e = { .seen = false };
	struct vm_exit_hooks hooks = { .on_exit = record_exit, .opaque = &e };
	struct kvm_regs regs = { .rip = rip, .rflags = 2 };
	struct kvm_guest_debug dbg;
	memset(&dbg, 0, sizeof(dbg));
	dbg.control = control;
	dbg.arch.debugreg[0] = dr0;
	dbg.arch.debugreg[7] = dr7;
	struct kvmini_error err;
	struct kvmini_result result;
	if (vcpu_set_regs(&vm->vcpus[0], &regs, &err) < 0 ||
	    vcpu_set_guest_debug(&vm->vcpus[0], &dbg, &err) < 0 ||
	    vm_add_exit_hooks(vm, &hooks, &err) < 0) {
		snprintf(e.failure, sizeof(e.failure), "%.120s", err.msg);
		return e;
	}
	vm_clear_stop(vm);
	vm_run(vm, PROBE_TIMEOUT_SECONDS, &result);
	vm_remove_exit_hooks(vm, &hooks);
	if (!e.seen)
		snprintf(e.failure, sizeof(e.failure), "%.120s", result.message);
	return e;
}

static bool debug_exit(const struct probe_exit *e, uint32_t exception, uint64_t dr6_bit,
		       uint64_t pc)
{
	return e->seen && e->reason == KVM_EXIT_DEBUG && e->exception == exception &&
	       (e->dr6 & dr6_bit) && e->pc == pc;
}

static void probe_real_mode_int3(struct vm *vm, struct gdb_host_debug *h)
{
	struct kvmini_error err;
	const uint8_t int3 = 0xcc, hlt = 0xf4;
	const uint16_t vector3[2] = { (uint16_t)REAL_HANDLER, 0 };
	struct x86_entry entry = {
		.mode = KVMINI_MODE_REAL, .regs = { .rip = REAL_INT3, .rsp = REAL_INT3 },
	};
	struct probe_exit e = { .failure = "cannot set up the real-mode probe" };
	if (guest_write(&vm->mem, REAL_INT3, &int3, 1) == 0 &&
	    guest_write(&vm->mem, REAL_HANDLER, &hlt, 1) == 0 &&
	    guest_write(&vm->mem, 3 * 4, vector3, sizeof(vector3)) == 0 &&
	    x86_enter(&vm->mem, vm->vcpus[0].fd, &entry, &err) == 0)
		e = run_with(vm, REAL_INT3, KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP, 0, 0);
	h->int3_real_mode = e.seen && e.reason == KVM_EXIT_DEBUG && e.exception == 3;
	describe(h->int3_real_note, sizeof(h->int3_real_note),
		 "KVM_GUESTDBG_USE_SW_BP, int3 in real mode", &e);
}

static void probe_all(struct vm *vm, struct gdb_host_debug *h)
{
	const uint32_t hw = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
	struct probe_exit e = run_with(vm, CODE_ADDR,
				       KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP, 0, 0);
	h->single_step = debug_exit(&e, 1, DR6_BS, HLT_ADDR);
	describe(h->single_step_note, sizeof(h->single_step_note), "KVM_GUESTDBG_SINGLESTEP", &e);

	e = run_with(vm, CODE_ADDR, hw, HLT_ADDR, DR7_G0);
	h->exec_breakpoints = debug_exit(&e, 1, DR6_B0, HLT_ADDR);
	describe(h->exec_note, sizeof(h->exec_note), "KVM_GUESTDBG_USE_HW_BP, DR7 execute slot", &e);

	e = run_with(vm, CODE_ADDR, hw, DATA_ADDR, DR7_G0 | DR7_WRITE0 | DR7_LEN4_0);
	h->data_breakpoints = debug_exit(&e, 1, DR6_B0, HLT_ADDR);
	describe(h->data_note, sizeof(h->data_note), "KVM_GUESTDBG_USE_HW_BP, DR7 write slot", &e);

	e = run_with(vm, INT3_ADDR, KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP, 0, 0);
	if (e.seen && e.reason == KVM_EXIT_DEBUG && e.exception == 3)
		h->int3 = GDB_INT3_DEBUG_EXIT;
	else if (e.seen && e.reason == KVM_EXIT_INTERNAL_ERROR &&
		 e.suberror == KVM_INTERNAL_ERROR_EMULATION && e.pc == INT3_ADDR)
		h->int3 = GDB_INT3_EMULATION_FAILURE;
	else
		h->int3 = GDB_INT3_OTHER;
	describe(h->int3_note, sizeof(h->int3_note), "KVM_GUESTDBG_USE_SW_BP, int3", &e);
}

int gdb_probe_host(struct gdb_host_debug *host, struct kvmini_error *err)
{
	memset(host, 0, sizeof(*host));
	/* The VM layer's own config, with nothing of the machine's defaults:
	 * no devices, no irqchip, and diagnostics (there should be none) on
	 * stderr. */
	const struct kvmini_config cfg = {
		.mem_size = GUEST_MEM_MIN, .cpus = 1, .irqchip = KVMINI_IRQCHIP_NONE,
		.log_fd = STDERR_FILENO,
	};
	struct vm vm;
	if (vm_create(&vm, &cfg, err) < 0)
		return -1;
	struct x86_entry entry = { .mode = KVMINI_MODE_PROTECTED, .regs = { .rip = CODE_ADDR } };
	int r = -1;
	/* Real mode first: x86_enter() expects a vCPU fresh from reset. */
	probe_real_mode_int3(&vm, host);
	if (guest_write(&vm.mem, CODE_ADDR, probe_code, sizeof(probe_code)) < 0)
		kvmini_fail(err, KVMINI_E_HOST, "gdb probe: no room for its code");
	else if (x86_enter(&vm.mem, vm.vcpus[0].fd, &entry, err) == 0)
		r = 0;
	if (r == 0)
		probe_all(&vm, host);
	vm_destroy(&vm);
	return r;
}
