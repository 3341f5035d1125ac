/* --verbose's line of completions by kind (completion_report(),
 * src/completion.c), from a VM's counters, without KVM. */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>
#include "completion.h"
#include "vm.h"

static void report(struct vm *vm, char *out, size_t size)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	vm->log_fd = fds[1];
	completion_report(vm);
	close(fds[1]);
	ssize_t n = read(fds[0], out, size - 1);
	close(fds[0]);
	out[n > 0 ? n : 0] = '\0';
}

Test(completion_report, one_line_with_each_kind_that_happened)
{
	static struct vm vm;
	char line[512];
	vm.completions[X86_KIND_INT3] = 7;
	vm.completions[X86_KIND_XSAVE] = 2;
	vm.completions[X86_KIND_CMPXCHG] = 1;
	report(&vm, line, sizeof(line));
	cr_assert_str_eq(line, "kvmini: instructions completed in user space: int3 7, "
			       "cmpxchg8b/16b 1, xsave family 2\n");
}

Test(completion_report, nothing_when_nothing_was_completed)
{
	static struct vm vm;
	char line[512];
	report(&vm, line, sizeof(line));
	cr_assert_str_eq(line, "");
}

Test(completion_report, a_named_vm_says_its_name)
{
	static struct vm vm;
	char line[512];
	vm.name = "web";
	vm.completions[X86_KIND_POPCNT] = 3;
	report(&vm, line, sizeof(line));
	cr_assert_str_eq(line, "kvmini[web]: instructions completed in user space: popcnt 3\n");
}

/* How the executor's exceptions reach KVM_SET_VCPU_EVENTS. */
Test(completion_event, faults_traps_and_software_interrupts)
{
	struct kvm_vcpu_events ev = { 0 };
	completion_event(&(struct x86_exception){ .raised = true, .vector = 14, .has_error = true,
						  .error = 0x6 }, &ev);
	cr_assert(ev.exception.injected && ev.exception.nr == 14);
	cr_assert(ev.exception.has_error_code && ev.exception.error_code == 0x6);
	cr_assert(!ev.interrupt.injected);

	memset(&ev, 0, sizeof(ev));
	completion_event(&(struct x86_exception){ .raised = true, .vector = 3 }, &ev);
	cr_assert(ev.exception.injected && ev.exception.nr == 3 && !ev.exception.has_error_code);

	memset(&ev, 0, sizeof(ev));
	completion_event(&(struct x86_exception){ .raised = true, .soft = true, .vector = 0x80 }, &ev);
	cr_assert(ev.interrupt.injected && ev.interrupt.nr == 0x80 && !ev.interrupt.soft);
	cr_assert(!ev.exception.injected);

	memset(&ev, 0, sizeof(ev));
	completion_event(&(struct x86_exception){ .raised = true, .soft = true, .vector = 2 }, &ev);
	cr_assert(ev.interrupt.injected && ev.interrupt.nr == 2, "int 2 is not an NMI exception");
}
