/* The run loop's exit hooks (src/vm.h): in what order hooks see exits
 * and the moment before KVM_RUN, what a claimed exit hides from later
 * hooks and from the loop, and a stop, a pause and a second run asked
 * for from a hook. The first tests drive the dispatch alone with a
 * made-up exit; the others run a real guest (they need /dev/kvm).
 *
 * The guest is real-mode code at 0x7c00:
 *   mov $1, %al; out %al, $0x80; mov $2, %al; out %al, $0x80;
 *   mov $3, %al; out %al, $0x80; hlt
 * Nothing sits on port 0x80: unclaimed, each `out` is ignored (and
 * stops the VM with status 10 under --strict-io). */
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <criterion/options.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "kvm_skip.h"
#include "vcpu.h"
#include "vm.h"
#include "arch/x86/cpu_mode.h"

#define CODE 0x7c00ULL
#define PORT 0x80
static const uint8_t guest_code[] = {
	0xb0, 0x01, 0xe6, PORT, 0xb0, 0x02, 0xe6, PORT, 0xb0, 0x03, 0xe6, PORT, 0xf4,
};

/* Vm threads and Criterion's parallel runner do not mix (see test_gdb_stub.c). */
ReportHook(PRE_ALL)(struct criterion_test_set *tests)
{
	(void)tests;
	criterion_options.jobs = 1;
}

/* One hook's view: a letter for its entries in the shared log, and what
 * it does at the exit that carries value `act_at` (0: never). */
enum act { ACT_NONE, ACT_CLAIM, ACT_STOP, ACT_PAUSE };
struct probe_hook {
	struct vm_exit_hooks hooks;
	char name;
	enum act act;
	unsigned act_at;
	bool claim_port;             /* claim every exit to PORT */
	unsigned pre_runs, stops;
	uint8_t values[8];           /* values of the port exits it saw */
	unsigned nvalues;
	uint32_t reasons[16];        /* every exit it was offered */
	unsigned nreasons;
};

static char trace[256];
static size_t trace_len;
static sem_t paused_sem;

static void note(char what, char who)
{
	if (trace_len + 2 < sizeof(trace)) {
		trace[trace_len++] = what;
		trace[trace_len++] = who;
		trace[trace_len] = 0;
	}
}

static void on_pre_run(void *opaque, struct vcpu *vcpu)
{
	(void)vcpu;
	struct probe_hook *h = opaque;
	h->pre_runs++;
	note('p', h->name);
}

static bool port_exit(const struct kvm_run *run)
{
	return run->exit_reason == KVM_EXIT_IO && run->io.port == PORT &&
	       run->io.direction == KVM_EXIT_IO_OUT && run->io.size == 1;
}

static bool on_hook_exit(void *opaque, struct vcpu *vcpu)
{
	struct probe_hook *h = opaque;
	const struct kvm_run *run = vcpu->run;
	note('e', h->name);
	if (h->nreasons < 16)
		h->reasons[h->nreasons++] = run->exit_reason;
	if (!port_exit(run))
		return false;
	uint8_t value = *((const uint8_t *)run + run->io.data_offset);
	if (h->nvalues < 8)
		h->values[h->nvalues++] = value;
	if (value != h->act_at || h->act == ACT_NONE)
		return h->claim_port;
	if (h->act == ACT_STOP)
		vm_request_stop(vcpu->vm, KVMINI_E_GUEST, 42, "hook %c stopped at %u", h->name, value);
	if (h->act == ACT_PAUSE) {
		vm_request_pause(vcpu->vm);
		sem_post(&paused_sem);
	}
	return true;
}

static void on_hook_stop(void *opaque)
{
	struct probe_hook *h = opaque;
	h->stops++;
}

static void hook_init(struct probe_hook *h, char name)
{
	memset(h, 0, sizeof(*h));
	h->name = name;
	h->hooks = (struct vm_exit_hooks){
		.pre_run = on_pre_run, .on_exit = on_hook_exit, .on_stop = on_hook_stop, .opaque = h,
	};
}

/* Hooks A and B on vm, in that order. */
static void attach_two(struct vm *vm, struct probe_hook *a, struct probe_hook *b)
{
	hook_init(a, 'A');
	hook_init(b, 'B');
	cr_assert_eq(vm_add_exit_hooks(vm, &a->hooks, NULL), 0);
	cr_assert_eq(vm_add_exit_hooks(vm, &b->hooks, NULL), 0);
}

/* ---- the dispatch alone: a VM with no KVM behind it ---- */

struct fake {
	struct vm vm;
	struct vcpu vcpu;
	union {
		struct kvm_run run;
		uint8_t bytes[4096];
	} area;
};

static void fake_init(struct fake *f, uint8_t value)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->vm.lock, NULL);
	pthread_cond_init(&f->vm.changed, NULL);
	f->vcpu.vm = &f->vm;
	f->vcpu.run = &f->area.run;
	f->area.run.exit_reason = KVM_EXIT_IO;
	f->area.run.io = (typeof(f->area.run.io)){
		.direction = KVM_EXIT_IO_OUT, .size = 1, .port = PORT, .count = 1,
		.data_offset = 1024,
	};
	f->area.bytes[1024] = value;
	trace_len = 0;
	trace[0] = 0;
}

static void fake_fini(struct fake *f)
{
	pthread_cond_destroy(&f->vm.changed);
	pthread_mutex_destroy(&f->vm.lock);
}

Test(vm_hooks, pre_run_and_exits_go_to_hooks_in_the_order_they_were_added)
{
	struct fake f;
	struct probe_hook a, b;
	fake_init(&f, 1);
	attach_two(&f.vm, &a, &b);
	vm_exit_hooks_pre_run(&f.vm, &f.vcpu);
	cr_expect_not(vm_exit_hooks_claim(&f.vm, &f.vcpu), "nobody claims: the loop handles it");
	cr_expect_str_eq(trace, "pApBeAeB");
	fake_fini(&f);
}

Test(vm_hooks, a_claimed_exit_reaches_no_later_hook)
{
	struct fake f;
	struct probe_hook a, b;
	fake_init(&f, 1);
	attach_two(&f.vm, &a, &b);
	a.claim_port = true;
	cr_expect(vm_exit_hooks_claim(&f.vm, &f.vcpu));
	cr_expect_str_eq(trace, "eA");
	cr_expect_eq(b.nreasons, 0u);
	fake_fini(&f);
}

Test(vm_hooks, removing_a_hook_keeps_the_others_order_and_the_table_is_bounded)
{
	struct fake f;
	struct probe_hook h[VM_EXIT_HOOKS_MAX + 1];
	fake_init(&f, 1);
	for (unsigned i = 0; i <= VM_EXIT_HOOKS_MAX; i++)
		hook_init(&h[i], (char)('A' + i));
	for (unsigned i = 0; i < VM_EXIT_HOOKS_MAX; i++)
		cr_assert_eq(vm_add_exit_hooks(&f.vm, &h[i].hooks, NULL), 0);
	struct kvmini_error err;
	cr_expect_eq(vm_add_exit_hooks(&f.vm, &h[VM_EXIT_HOOKS_MAX].hooks, &err), -1);
	cr_expect_eq(err.code, KVMINI_E_HOST);
	vm_remove_exit_hooks(&f.vm, &h[1].hooks);
	vm_remove_exit_hooks(&f.vm, &h[1].hooks);   /* not attached: nothing */
	cr_expect_eq(f.vm.nexit_hooks, (unsigned)VM_EXIT_HOOKS_MAX - 1);
	vm_exit_hooks_pre_run(&f.vm, &f.vcpu);
	cr_expect_str_eq(trace, "pApCpD");
	fake_fini(&f);
}

Test(vm_hooks, every_hook_hears_of_a_stop_once_and_the_first_reason_wins)
{
	struct fake f;
	struct probe_hook a, b;
	fake_init(&f, 1);
	attach_two(&f.vm, &a, &b);
	vm_request_stop(&f.vm, KVMINI_E_GUEST, 42, "first");
	vm_request_stop(&f.vm, KVMINI_E_HOST, 4, "second");
	cr_expect_eq(a.stops, 1u);
	cr_expect_eq(b.stops, 1u);
	cr_expect(vm_stop_requested(&f.vm));
	cr_expect_str_eq(f.vm.result.message, "first");
	vm_clear_stop(&f.vm);
	cr_expect_not(vm_stop_requested(&f.vm));
	cr_expect_str_eq(f.vm.result.message, "");
	vm_request_stop(&f.vm, KVMINI_E_HOST, 4, "after a clear");
	cr_expect_eq(a.stops, 2u);
	cr_expect_eq(f.vm.result.exit_status, 4);
	fake_fini(&f);
}

/* ---- a real guest ---- */

static void guest_vm(struct vm *vm, bool strict_io)
{
	const struct kvmini_config cfg = {
		.mem_size = 1 << 20, .cpus = 1, .strict_io = strict_io,
		.log_fd = STDERR_FILENO,
	};
	struct kvmini_error err;
	cr_assert_eq(vm_create(vm, &cfg, &err), 0, "%s", err.msg);
	cr_assert_eq(guest_write(&vm->mem, CODE, guest_code, sizeof(guest_code)), 0);
	struct x86_entry entry = { .mode = KVMINI_MODE_REAL, .regs = { .rip = CODE, .rsp = CODE } };
	cr_assert_eq(x86_enter(&vm->mem, vm->vcpus[0].fd, &entry, &err), 0, "%s", err.msg);
	trace_len = 0;
	trace[0] = 0;
}

/* A guest VM with one hook A that acts at the exit carrying `at`. */
static void guest_vm_acting(struct vm *vm, struct probe_hook *a, enum act act, unsigned at)
{
	guest_vm(vm, false);
	hook_init(a, 'A');
	a->act = act;
	a->act_at = at;
	cr_assert_eq(vm_add_exit_hooks(vm, &a->hooks, NULL), 0);
}

static void expect_values(const struct probe_hook *h, const char *expected)
{
	char seen[16] = "";
	for (unsigned i = 0; i < h->nvalues && i + 1 < sizeof(seen); i++)
		seen[i] = (char)('0' + h->values[i]);
	cr_expect_str_eq(seen, expected, "hook %c saw the values %s", h->name, seen);
}

Test(vm_hooks, a_guest_runs_past_exits_no_hook_claims)
{
	skip_without_kvm();
	struct vm vm;
	struct probe_hook a, b;
	guest_vm(&vm, false);
	attach_two(&vm, &a, &b);
	struct kvmini_result r;
	cr_expect_eq(vm_run(&vm, 30, &r), 0, "%s", r.message);
	cr_expect_str_eq(r.message, "vCPU 0 halted");
	expect_values(&a, "123");
	expect_values(&b, "123");
	cr_expect_eq(a.nreasons, 4u, "three port exits and the hlt");
	cr_expect_eq(a.reasons[3], (uint32_t)KVM_EXIT_HLT);
	cr_expect_eq(a.pre_runs, 4u);
	cr_expect_eq(a.stops, 1u);
	/* A before B at every step; no kick, so one pre_run per KVM_RUN. */
	cr_expect_str_eq(trace, "pApBeAeB" "pApBeAeB" "pApBeAeB" "pApBeAeB");
	vm_destroy(&vm);
}

Test(vm_hooks, a_claimed_exit_never_reaches_the_loop)
{
	skip_without_kvm();
	struct vm vm;
	struct probe_hook a, b;
	guest_vm(&vm, true);   /* unclaimed, the first `out` would end the run */
	attach_two(&vm, &a, &b);
	a.claim_port = true;
	struct kvmini_result r;
	cr_expect_eq(vm_run(&vm, 30, &r), 0, "%s", r.message);
	cr_expect_eq(r.status, KVMINI_OK);
	expect_values(&a, "123");
	cr_expect_eq(b.nreasons, 1u, "B sees only the hlt");
	cr_expect_eq(b.reasons[0], (uint32_t)KVM_EXIT_HLT);
	vm_destroy(&vm);
}

Test(vm_hooks, a_stop_from_a_hook_ends_the_run_and_a_cleared_stop_runs_on)
{
	skip_without_kvm();
	struct vm vm;
	struct probe_hook a;
	guest_vm_acting(&vm, &a, ACT_STOP, 2);
	struct kvmini_result r;
	cr_expect_eq(vm_run(&vm, 30, &r), 42);
	cr_expect_eq(r.status, KVMINI_E_GUEST);
	cr_expect_str_eq(r.message, "hook A stopped at 2");
	expect_values(&a, "12");
	/* The vCPU goes on after the `out` that stopped it. */
	vm_clear_stop(&vm);
	cr_expect_eq(vm_run(&vm, 30, &r), 0, "%s", r.message);
	cr_expect_str_eq(r.message, "vCPU 0 halted");
	expect_values(&a, "123");
	cr_expect_eq(a.stops, 2u);
	vm_destroy(&vm);
}

struct runner {
	struct vm *vm;
	struct kvmini_result result;
};

static void *run_thread(void *arg)
{
	struct runner *r = arg;
	vm_run(r->vm, 30, &r->result);
	return NULL;
}

Test(vm_hooks, a_pause_from_a_hook_parks_the_vcpu_until_resumed)
{
	skip_without_kvm();
	struct vm vm;
	struct probe_hook a;
	guest_vm_acting(&vm, &a, ACT_PAUSE, 2);
	cr_assert_eq(sem_init(&paused_sem, 0, 0), 0);
	struct runner r = { .vm = &vm };
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, run_thread, &r), 0);
	/* The hook has asked; now wait until the vCPU is out of KVM_RUN. */
	sem_wait(&paused_sem);
	cr_assert(vm_wait_paused(&vm));
	expect_values(&a, "12");
	struct kvm_regs regs;
	struct kvmini_error err;
	cr_assert_eq(vcpu_get_regs(&vm.vcpus[0], &regs, &err), 0, "%s", err.msg);
	cr_expect_eq(regs.rax & 0xff, 2u, "parked after the second `out`");
	vm_resume_all(&vm);
	pthread_join(t, NULL);
	cr_expect_eq(r.result.status, KVMINI_OK, "%s", r.result.message);
	expect_values(&a, "123");
	sem_destroy(&paused_sem);
	vm_destroy(&vm);
}
