/* Unit tests of CPU feature hiding (src/arch/x86/cpu_features.c) on a
 * synthetic KVM CPUID table, of the --cpu-features option, and of the
 * boot MSR list (src/arch/x86/msr.c). No KVM needed. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "arch/x86/cpuid.h"
#include "arch/x86/msr.h"
#include "cli/options.h"

static struct x86_cpuid_hidden parse_ok(const char *list)
{
	struct x86_cpuid_hidden h;
	struct kvmini_error err = { 0 };
	cr_assert_eq(x86_cpu_features_parse(list, &h, &err), 0, "'%s': %s", list, err.msg);
	return h;
}

static void parse_refused(const char *list, const char *message)
{
	struct x86_cpuid_hidden h;
	struct kvmini_error err = { 0 };
	cr_assert_eq(x86_cpu_features_parse(list, &h, &err), -1, "'%s' accepted", list);
	cr_assert_eq(err.code, KVMINI_E_USAGE);
	cr_assert_str_eq(err.msg, message);
}

#define BIT(n) (1u << (n))

/* ==== parsing ==== */

Test(cpu_features, nothing_hidden_by_default)
{
	for (int i = 0; i < 2; i++) {
		struct x86_cpuid_hidden h = parse_ok(i ? "" : NULL);
		for (int r = 0; r < X86_CPUID_NREGS; r++)
			cr_assert_eq(h.bits[r], 0);
		cr_assert_not(h.hide_xsave_state);
		cr_assert_not(x86_cpuid_hides_any(&h));
	}
}

Test(cpu_features, names_map_to_their_register_and_bit)
{
	static const struct { const char *name; enum x86_cpuid_reg reg; unsigned bit; } cases[] = {
		{ "-fpu", X86_CPUID_1_EDX, 0 }, { "-tsc", X86_CPUID_1_EDX, 4 },
		{ "-msr", X86_CPUID_1_EDX, 5 }, { "-pae", X86_CPUID_1_EDX, 6 },
		{ "-cx8", X86_CPUID_1_EDX, 8 }, { "-sep", X86_CPUID_1_EDX, 11 },
		{ "-mtrr", X86_CPUID_1_EDX, 12 }, { "-pge", X86_CPUID_1_EDX, 13 },
		{ "-cmov", X86_CPUID_1_EDX, 15 }, { "-pat", X86_CPUID_1_EDX, 16 },
		{ "-clflush", X86_CPUID_1_EDX, 19 }, { "-mmx", X86_CPUID_1_EDX, 23 },
		{ "-fxsr", X86_CPUID_1_EDX, 24 }, { "-sse", X86_CPUID_1_EDX, 25 },
		{ "-sse2", X86_CPUID_1_EDX, 26 }, { "-ht", X86_CPUID_1_EDX, 28 },
		{ "-sse3", X86_CPUID_1_ECX, 0 }, { "-pni", X86_CPUID_1_ECX, 0 },
		{ "-pclmulqdq", X86_CPUID_1_ECX, 1 }, { "-ssse3", X86_CPUID_1_ECX, 9 },
		{ "-fma", X86_CPUID_1_ECX, 12 }, { "-cx16", X86_CPUID_1_ECX, 13 },
		{ "-pcid", X86_CPUID_1_ECX, 17 }, { "-sse4_1", X86_CPUID_1_ECX, 19 },
		{ "-sse4_2", X86_CPUID_1_ECX, 20 }, { "-x2apic", X86_CPUID_1_ECX, 21 },
		{ "-movbe", X86_CPUID_1_ECX, 22 }, { "-popcnt", X86_CPUID_1_ECX, 23 },
		{ "-tsc_deadline_timer", X86_CPUID_1_ECX, 24 }, { "-aes", X86_CPUID_1_ECX, 25 },
		{ "-f16c", X86_CPUID_1_ECX, 29 }, { "-rdrand", X86_CPUID_1_ECX, 30 },
		{ "-hypervisor", X86_CPUID_1_ECX, 31 },
		{ "-fsgsbase", X86_CPUID_7_EBX, 0 }, { "-bmi1", X86_CPUID_7_EBX, 3 },
		{ "-avx2", X86_CPUID_7_EBX, 5 }, { "-smep", X86_CPUID_7_EBX, 7 },
		{ "-bmi2", X86_CPUID_7_EBX, 8 }, { "-erms", X86_CPUID_7_EBX, 9 },
		{ "-invpcid", X86_CPUID_7_EBX, 10 }, { "-rdseed", X86_CPUID_7_EBX, 18 },
		{ "-adx", X86_CPUID_7_EBX, 19 }, { "-smap", X86_CPUID_7_EBX, 20 },
		{ "-sha_ni", X86_CPUID_7_EBX, 29 },
		{ "-umip", X86_CPUID_7_ECX, 2 }, { "-la57", X86_CPUID_7_ECX, 16 },
		{ "-rdpid", X86_CPUID_7_ECX, 22 }, { "-fsrm", X86_CPUID_7_EDX, 4 },
		{ "-syscall", X86_CPUID_80000001_EDX, 11 }, { "-nx", X86_CPUID_80000001_EDX, 20 },
		{ "-pdpe1gb", X86_CPUID_80000001_EDX, 26 }, { "-rdtscp", X86_CPUID_80000001_EDX, 27 },
		{ "-lm", X86_CPUID_80000001_EDX, 29 }, { "-lahf_lm", X86_CPUID_80000001_ECX, 0 },
		{ "-abm", X86_CPUID_80000001_ECX, 5 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct x86_cpuid_hidden h = parse_ok(cases[i].name);
		for (int r = 0; r < X86_CPUID_NREGS; r++)
			cr_assert_eq(h.bits[r], r == (int)cases[i].reg ? BIT(cases[i].bit) : 0u,
				     "%s: register %d is 0x%08x", cases[i].name, r, h.bits[r]);
	}
}

Test(cpu_features, dependents_follow_their_prerequisite)
{
	struct x86_cpuid_hidden h = parse_ok("-xsave,-cx16");
	cr_assert_eq(h.bits[X86_CPUID_1_ECX],
		     BIT(26) | BIT(27) | BIT(28) | BIT(12) | BIT(29) | BIT(13),
		     "xsave osxsave avx fma f16c cx16: 0x%08x", h.bits[X86_CPUID_1_ECX]);
	cr_assert(h.bits[X86_CPUID_7_EBX] & BIT(5), "avx2, through avx");
	cr_assert(h.bits[X86_CPUID_7_EBX] & BIT(16), "avx512f, through avx");
	cr_assert(h.bits[X86_CPUID_7_EBX] & BIT(31), "avx512vl, through avx512f");
	cr_assert(h.bits[X86_CPUID_7_EDX] & BIT(24), "amx_tile");
	cr_assert(h.bits[X86_CPUID_7_1_EAX] & BIT(4), "avx_vnni");
	cr_assert(h.hide_xsave_state);
	cr_assert_eq(h.named[X86_CPUID_1_ECX], BIT(26) | BIT(13), "only what the list named");

	h = parse_ok("-avx2");
	cr_assert_eq(h.bits[X86_CPUID_7_EBX], BIT(5), "avx2 hides nothing else");
	cr_assert_eq(h.bits[X86_CPUID_1_ECX], 0);
	cr_assert_not(h.hide_xsave_state);

	h = parse_ok("-apic");
	cr_assert_eq(h.bits[X86_CPUID_1_ECX], BIT(21) | BIT(24), "x2apic, tsc_deadline_timer");
}

Test(cpu_features, bad_lists_are_refused_naming_the_problem)
{
	parse_refused("-xsave,-bogus", "unknown CPU feature 'bogus'");
	parse_refused("-", "unknown CPU feature ''");
	parse_refused("xsave", "CPU feature 'xsave' has no '-': features can only be hidden (-name)");
	parse_refused("+xsave", "CPU feature '+xsave' has no '-': features can only be hidden (-name)");
	parse_refused("-xsave,", "empty CPU feature in the list");
	parse_refused(",-xsave", "empty CPU feature in the list");
	parse_refused("-XSAVE", "unknown CPU feature 'XSAVE'");
	parse_refused("-xsav", "unknown CPU feature 'xsav'");
	parse_refused("-xsavex", "unknown CPU feature 'xsavex'");
}

/* ==== hiding, on a synthetic table ==== */

static struct kvm_cpuid2 *synthetic_table(void)
{
	static const struct kvm_cpuid_entry2 entries[] = {
		{ .function = 0, .eax = 0xd },
		{ .function = 1, .eax = 0xa10f11, .ecx = 0xfffab223, .edx = 0x178bfbff },
		{ .function = 7, .index = 0, .eax = 1, .ebx = 0xffffffff, .ecx = 0xffffffff, .edx = 0xffffffff },
		{ .function = 7, .index = 1, .eax = 0x30 },
		{ .function = 0xd, .index = 0, .eax = 0xe7, .ebx = 0x980, .ecx = 0x980 },
		{ .function = 0xd, .index = 1, .eax = 0xf },
		{ .function = 0xd, .index = 2, .eax = 0x100, .ebx = 0x240 },
		{ .function = 0x80000001, .ecx = 0x00400393, .edx = 0x2fd3fbff },
	};
	size_t n = sizeof(entries) / sizeof(entries[0]);
	struct kvm_cpuid2 *t = calloc(1, sizeof(*t) + sizeof(entries));
	cr_assert_not_null(t);
	t->nent = (uint32_t)n;
	memcpy(t->entries, entries, sizeof(entries));
	return t;
}

static const struct kvm_cpuid_entry2 *leaf(const struct kvm_cpuid2 *t, uint32_t fn, uint32_t idx)
{
	for (uint32_t i = 0; i < t->nent; i++)
		if (t->entries[i].function == fn && t->entries[i].index == idx)
			return &t->entries[i];
	cr_assert_fail("no leaf 0x%x.%u", fn, idx);
	return NULL;
}

Test(cpu_features, hiding_xsave_and_cx16_clears_them_their_dependents_and_leaf_0xd)
{
	struct kvm_cpuid2 *t = synthetic_table();
	struct x86_cpuid_hidden h = parse_ok("-xsave,-cx16");
	x86_cpuid_hide(t, &h);
	const struct kvm_cpuid_entry2 *l1 = leaf(t, 1, 0);
	cr_assert_eq(l1->ecx, 0xfffab223u & ~(BIT(26) | BIT(27) | BIT(28) | BIT(12) | BIT(29) | BIT(13)),
		     "leaf 1 ECX 0x%08x", l1->ecx);
	cr_assert_eq(l1->edx, 0x178bfbffu, "leaf 1 EDX untouched");
	cr_assert_eq(l1->eax, 0xa10f11u);
	cr_assert_eq(leaf(t, 7, 0)->ebx & BIT(5), 0, "avx2");
	cr_assert_eq(leaf(t, 7, 0)->ebx & BIT(0), BIT(0), "fsgsbase stays");
	cr_assert_eq(leaf(t, 7, 1)->eax, 0x30u & ~(BIT(4) | BIT(5)), "avx_vnni, avx512_bf16");
	for (uint32_t i = 0; i < 3; i++) {
		const struct kvm_cpuid_entry2 *d = leaf(t, 0xd, i);
		cr_assert_eq(d->eax | d->ebx | d->ecx | d->edx, 0, "leaf 0xd.%u emptied", i);
	}
	cr_assert_eq(leaf(t, 0, 0)->eax, 0xd, "leaf 0 untouched");
	cr_assert_eq(leaf(t, 0x80000001, 0)->edx, 0x2fd3fbffu);
	free(t);
}

Test(cpu_features, leaf_1_edx_bits_are_hidden_from_amd_s_copy_too)
{
	struct kvm_cpuid2 *t = synthetic_table();
	struct x86_cpuid_hidden h = parse_ok("-mmx,-sep,-nx,-lahf_lm,-abm");
	x86_cpuid_hide(t, &h);
	cr_assert_eq(leaf(t, 1, 0)->edx, 0x178bfbffu & ~(BIT(23) | BIT(11)));
	/* mmx (23) is mirrored, sep (11) is not: bit 11 there is syscall */
	cr_assert_eq(leaf(t, 0x80000001, 0)->edx, 0x2fd3fbffu & ~(BIT(23) | BIT(20)));
	cr_assert_eq(leaf(t, 0x80000001, 0)->ecx, 0x00400393u & ~(BIT(0) | BIT(5)));
	cr_assert_eq(leaf(t, 0xd, 0)->eax, 0xe7, "xsave state stays");
	free(t);
}

Test(cpu_features, features_kvm_keeps_are_found_named_ones_first)
{
	struct kvm_cpuid2 *t = synthetic_table();
	struct x86_cpuid_hidden h = parse_ok("-xsave,-cx16");
	bool named = false;
	cr_assert_str_eq(x86_cpuid_kept_feature(t, &h, &named), "cx16", "table order: cx16 before xsave");
	cr_assert(named);
	x86_cpuid_hide(t, &h);
	cr_assert_null(x86_cpuid_kept_feature(t, &h, &named), "all hidden");
	/* A KVM that puts FMA back, as PVM puts back what it runs natively: */
	((struct kvm_cpuid_entry2 *)leaf(t, 1, 0))->ecx |= BIT(12);
	cr_assert_str_eq(x86_cpuid_kept_feature(t, &h, &named), "fma");
	cr_assert_not(named, "fma was hidden along with xsave");
	free(t);
}

Test(cpu_features, has_answers_from_the_table_less_the_hidden)
{
	struct x86_cpuid c = { .table = synthetic_table() };
	c.hidden = parse_ok("-mtrr");
	cr_assert_not(x86_cpuid_has(&c, "mtrr"));
	cr_assert(x86_cpuid_has(&c, "pat"));
	cr_assert(x86_cpuid_has(&c, "xsave"));
	cr_assert_not(x86_cpuid_has(&c, "bogus"));
	c.hidden = parse_ok(NULL);
	cr_assert(x86_cpuid_has(&c, "mtrr"));
	free(c.table);
}

/* ==== the option ==== */

Test(cpu_features, the_option_keeps_the_list_or_refuses_it_on_one_line)
{
	struct run_options o;
	struct kvmini_error err = { 0 };
	char *ok[] = { "run", "--cpu-features=-xsave,-cx16", "x.bin", NULL };
	cr_assert_eq(parse_run_options(3, ok, &o, &err), 0, "%s", err.msg);
	cr_assert_str_eq(o.cfg.cpu_features, "-xsave,-cx16");

	char *bad[] = { "run", "--cpu-features", "-xsave,-avx3", "x.bin", NULL };
	cr_assert_eq(parse_run_options(4, bad, &o, &err), -1);
	cr_assert_eq(err.code, KVMINI_E_USAGE);
	cr_assert_str_eq(err.msg, "invalid value '-xsave,-avx3' for --cpu-features:"
			 " unknown CPU feature 'avx3'");

	char *none[] = { "run", "x.bin", NULL };
	cr_assert_eq(parse_run_options(2, none, &o, &err), 0);
	cr_assert_null(o.cfg.cpu_features);
}

/* ==== boot MSRs ==== */

static const struct kvm_msr_entry *msr(const struct kvm_msr_entry *e, unsigned n, uint32_t index)
{
	for (unsigned i = 0; i < n; i++)
		if (e[i].index == index)
			return &e[i];
	return NULL;
}

Test(boot_msrs, every_listed_msr_with_its_boot_value)
{
	static const uint32_t supported[] = {
		0x174, 0x175, 0x176, 0xc0000081, 0xc0000083, 0xc0000102, 0xc0000084,
		0xc0000082, 0x10, 0x1a0, 0x3b, 0x6e0,
	};
	struct kvm_msr_entry e[X86_BOOT_MSRS_MAX];
	unsigned n = x86_boot_msrs(supported, 12, true, 0x1800, e);
	cr_assert_eq(n, 11);
	static const uint32_t zero[] = { 0x174, 0x175, 0x176, 0xc0000081, 0xc0000082, 0xc0000083,
					 0xc0000084, 0xc0000102, 0x10 };
	for (unsigned i = 0; i < sizeof(zero) / sizeof(zero[0]); i++) {
		cr_assert_not_null(msr(e, n, zero[i]), "MSR 0x%x", zero[i]);
		cr_assert_eq(msr(e, n, zero[i])->data, 0, "MSR 0x%x", zero[i]);
	}
	cr_assert_eq(msr(e, n, MSR_IA32_MISC_ENABLE)->data, 0x1801, "KVM's bits kept, fast strings on");
	cr_assert_eq(msr(e, n, MSR_MTRR_DEF_TYPE)->data, 0x806, "MTRRs on, default write-back");
	cr_assert_null(msr(e, n, 0x3b), "only boot MSRs");
}

Test(boot_msrs, only_what_kvm_accepts)
{
	static const uint32_t supported[] = { 0x10, 0x174 };
	struct kvm_msr_entry e[X86_BOOT_MSRS_MAX];
	unsigned n = x86_boot_msrs(supported, 2, false, 0, e);
	cr_assert_eq(n, 2, "TSC and SYSENTER_CS; no MTRR without the CPUID bit");
	cr_assert_eq(e[0].index, 0x174);
	cr_assert_eq(e[1].index, 0x10);
	n = x86_boot_msrs(supported, 0, true, 0, e);
	cr_assert_eq(n, 1);
	cr_assert_eq(e[0].index, MSR_MTRR_DEF_TYPE, "MTRRs follow CPUID, not the list");
}
