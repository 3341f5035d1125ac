/* The TSC's rate in the guest's CPUID (x86_cpuid_set_tsc()): leaves
 * 0x15 and 0x16 as Linux's native_calibrate_tsc() and cpu_khz_from_cpuid()
 * read them, on a plain table without KVM. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include "arch/x86/cpuid.h"

static struct kvm_cpuid2 *table(unsigned nent, unsigned capacity, uint32_t max_leaf)
{
	struct kvm_cpuid2 *t = calloc(1, sizeof(*t) + capacity * sizeof(t->entries[0]));
	cr_assert(t);
	t->nent = nent;
	t->entries[0] = (struct kvm_cpuid_entry2){ .function = 0, .eax = max_leaf };
	for (unsigned i = 1; i < nent; i++)
		t->entries[i] = (struct kvm_cpuid_entry2){ .function = i };
	return t;
}

static const struct kvm_cpuid_entry2 *find(const struct kvm_cpuid2 *t, uint32_t fn)
{
	for (unsigned i = 0; i < t->nent; i++)
		if (t->entries[i].function == fn)
			return &t->entries[i];
	return NULL;
}

/* What Linux computes from leaf 0x15: crystal Hz * EBX / EAX, in kHz. */
static uint64_t linux_tsc_khz(const struct kvm_cpuid2 *t)
{
	const struct kvm_cpuid_entry2 *e = find(t, 0x15);
	cr_assert(e && e->eax && e->ebx && e->ecx);
	return (uint64_t)e->ecx / 1000 * e->ebx / e->eax;
}

Test(cpuid_tsc, adds_leaves_0x15_and_0x16)
{
	struct kvm_cpuid2 *t = table(2, 8, 0xd);
	x86_cpuid_set_tsc(t, 8, 2995200);
	cr_assert_eq(t->nent, 4);
	cr_assert_eq(find(t, 0)->eax, 0x16, "leaf 0 names the new highest leaf");
	cr_assert_eq(linux_tsc_khz(t), 2995200);
	cr_assert_eq(find(t, 0x16)->eax, 2995);
	cr_assert_eq(find(t, 0x16)->ecx, 100);
	free(t);
}

Test(cpuid_tsc, keeps_a_higher_max_leaf_and_rewrites_existing_entries)
{
	struct kvm_cpuid2 *t = table(0x20, 0x20, 0x1f);
	x86_cpuid_set_tsc(t, 0x20, 1800000);
	cr_assert_eq(t->nent, 0x20);
	cr_assert_eq(find(t, 0)->eax, 0x1f);
	cr_assert_eq(linux_tsc_khz(t), 1800000);
	free(t);
}

Test(cpuid_tsc, a_rate_past_ecx_range_uses_a_ratio)
{
	struct kvm_cpuid2 *t = table(1, 4, 0x16);
	x86_cpuid_set_tsc(t, 4, 5200000);
	cr_assert_eq(linux_tsc_khz(t), 5200000);
	cr_assert_eq(find(t, 0x15)->ebx, 2);
	free(t);
}

Test(cpuid_tsc, no_rate_or_no_room_changes_nothing)
{
	struct kvm_cpuid2 *t = table(1, 1, 0xd);
	x86_cpuid_set_tsc(t, 1, 3000000);
	cr_assert_eq(t->nent, 1);
	cr_assert_eq(t->entries[0].eax, 0xd);
	x86_cpuid_set_tsc(t, 1, 0);
	cr_assert_eq(t->entries[0].eax, 0xd);
	free(t);
}
