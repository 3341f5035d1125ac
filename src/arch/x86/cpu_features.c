/* Hiding CPUID features from the guest by name (--cpu-features), for
 * hosts whose KVM cannot run every instruction a guest kernel would pick
 * when it sees the feature (on PVM, xrstor and cmpxchg16b in kernel
 * code). Only hiding: a feature the host's KVM lacks cannot be added. */
#include <stdio.h>
#include <string.h>
#include "arch/x86/cpuid.h"

struct cpu_feature {
	const char *name;             /* as in Linux's /proc/cpuinfo */
	enum x86_cpuid_reg reg;
	uint8_t bit;
};

#define F(n, r, b) { n, X86_CPUID_##r, b }

static const struct cpu_feature features[] = {
	/* leaf 1 EDX */
	F("fpu", 1_EDX, 0), F("vme", 1_EDX, 1), F("de", 1_EDX, 2), F("pse", 1_EDX, 3),
	F("tsc", 1_EDX, 4), F("msr", 1_EDX, 5), F("pae", 1_EDX, 6), F("mce", 1_EDX, 7),
	F("cx8", 1_EDX, 8), F("apic", 1_EDX, 9), F("sep", 1_EDX, 11), F("mtrr", 1_EDX, 12),
	F("pge", 1_EDX, 13), F("mca", 1_EDX, 14), F("cmov", 1_EDX, 15), F("pat", 1_EDX, 16),
	F("pse36", 1_EDX, 17), F("clflush", 1_EDX, 19), F("mmx", 1_EDX, 23),
	F("fxsr", 1_EDX, 24), F("sse", 1_EDX, 25), F("sse2", 1_EDX, 26), F("ss", 1_EDX, 27),
	F("ht", 1_EDX, 28),
	/* leaf 1 ECX */
	F("sse3", 1_ECX, 0), F("pni", 1_ECX, 0), F("pclmulqdq", 1_ECX, 1),
	F("monitor", 1_ECX, 3), F("vmx", 1_ECX, 5), F("ssse3", 1_ECX, 9), F("fma", 1_ECX, 12),
	F("cx16", 1_ECX, 13), F("pdcm", 1_ECX, 15), F("pcid", 1_ECX, 17),
	F("sse4_1", 1_ECX, 19), F("sse4_2", 1_ECX, 20), F("x2apic", 1_ECX, 21),
	F("movbe", 1_ECX, 22), F("popcnt", 1_ECX, 23), F("tsc_deadline_timer", 1_ECX, 24),
	F("aes", 1_ECX, 25), F("xsave", 1_ECX, 26), F("osxsave", 1_ECX, 27),
	F("avx", 1_ECX, 28), F("f16c", 1_ECX, 29), F("rdrand", 1_ECX, 30),
	F("hypervisor", 1_ECX, 31),
	/* leaf 7 sub-leaf 0 EBX */
	F("fsgsbase", 7_EBX, 0), F("tsc_adjust", 7_EBX, 1), F("bmi1", 7_EBX, 3),
	F("hle", 7_EBX, 4), F("avx2", 7_EBX, 5), F("smep", 7_EBX, 7), F("bmi2", 7_EBX, 8),
	F("erms", 7_EBX, 9), F("invpcid", 7_EBX, 10), F("rtm", 7_EBX, 11), F("mpx", 7_EBX, 14),
	F("avx512f", 7_EBX, 16), F("avx512dq", 7_EBX, 17), F("rdseed", 7_EBX, 18),
	F("adx", 7_EBX, 19), F("smap", 7_EBX, 20), F("avx512ifma", 7_EBX, 21),
	F("clflushopt", 7_EBX, 23), F("clwb", 7_EBX, 24), F("avx512pf", 7_EBX, 26),
	F("avx512er", 7_EBX, 27), F("avx512cd", 7_EBX, 28), F("sha_ni", 7_EBX, 29),
	F("avx512bw", 7_EBX, 30), F("avx512vl", 7_EBX, 31),
	/* leaf 7 sub-leaf 0 ECX */
	F("avx512vbmi", 7_ECX, 1), F("umip", 7_ECX, 2), F("pku", 7_ECX, 3),
	F("ospke", 7_ECX, 4), F("waitpkg", 7_ECX, 5), F("avx512_vbmi2", 7_ECX, 6),
	F("gfni", 7_ECX, 8), F("vaes", 7_ECX, 9), F("vpclmulqdq", 7_ECX, 10),
	F("avx512_vnni", 7_ECX, 11), F("avx512_bitalg", 7_ECX, 12),
	F("avx512_vpopcntdq", 7_ECX, 14), F("la57", 7_ECX, 16), F("rdpid", 7_ECX, 22),
	F("cldemote", 7_ECX, 25), F("movdiri", 7_ECX, 27), F("movdir64b", 7_ECX, 28),
	/* leaf 7 sub-leaf 0 EDX */
	F("avx512_4vnniw", 7_EDX, 2), F("avx512_4fmaps", 7_EDX, 3), F("fsrm", 7_EDX, 4),
	F("avx512_vp2intersect", 7_EDX, 8), F("md_clear", 7_EDX, 10),
	F("serialize", 7_EDX, 14), F("tsxldtrk", 7_EDX, 16), F("amx_bf16", 7_EDX, 22),
	F("avx512_fp16", 7_EDX, 23), F("amx_tile", 7_EDX, 24), F("amx_int8", 7_EDX, 25),
	F("arch_capabilities", 7_EDX, 29),
	/* leaf 7 sub-leaf 1 EAX */
	F("avx_vnni", 7_1_EAX, 4), F("avx512_bf16", 7_1_EAX, 5),
	/* leaf 0x80000001 ECX */
	F("lahf_lm", 80000001_ECX, 0), F("svm", 80000001_ECX, 2), F("abm", 80000001_ECX, 5),
	F("sse4a", 80000001_ECX, 6), F("misalignsse", 80000001_ECX, 7),
	F("3dnowprefetch", 80000001_ECX, 8), F("xop", 80000001_ECX, 11),
	F("fma4", 80000001_ECX, 16), F("tbm", 80000001_ECX, 21),
	/* leaf 0x80000001 EDX */
	F("syscall", 80000001_EDX, 11), F("nx", 80000001_EDX, 20),
	F("mmxext", 80000001_EDX, 22), F("fxsr_opt", 80000001_EDX, 25),
	F("pdpe1gb", 80000001_EDX, 26), F("rdtscp", 80000001_EDX, 27), F("lm", 80000001_EDX, 29),
};

/* Hiding the first feature hides the second: what cannot work, or would
 * mislead a guest, without it. Applied until nothing changes, so chains
 * (xsave -> avx -> avx2) follow. */
static const char *const dependents[][2] = {
	{ "xsave", "osxsave" }, { "xsave", "avx" }, { "xsave", "amx_tile" },
	{ "xsave", "amx_bf16" }, { "xsave", "amx_int8" },
	{ "avx", "avx2" }, { "avx", "fma" }, { "avx", "f16c" }, { "avx", "avx512f" },
	{ "avx", "vaes" }, { "avx", "vpclmulqdq" }, { "avx", "avx_vnni" },
	{ "avx512f", "avx512dq" }, { "avx512f", "avx512ifma" }, { "avx512f", "avx512pf" },
	{ "avx512f", "avx512er" }, { "avx512f", "avx512cd" }, { "avx512f", "avx512bw" },
	{ "avx512f", "avx512vl" }, { "avx512f", "avx512vbmi" }, { "avx512f", "avx512_vbmi2" },
	{ "avx512f", "avx512_vnni" }, { "avx512f", "avx512_bitalg" },
	{ "avx512f", "avx512_vpopcntdq" }, { "avx512f", "avx512_4vnniw" },
	{ "avx512f", "avx512_4fmaps" }, { "avx512f", "avx512_vp2intersect" },
	{ "avx512f", "avx512_fp16" }, { "avx512f", "avx512_bf16" },
	{ "pku", "ospke" },
	{ "apic", "x2apic" }, { "apic", "tsc_deadline_timer" },
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct cpu_feature *find_feature(const char *name, size_t len)
{
	for (size_t i = 0; i < COUNT(features); i++)
		if (strlen(features[i].name) == len && strncmp(features[i].name, name, len) == 0)
			return &features[i];
	return NULL;
}

static bool is_hidden(const struct x86_cpuid_hidden *h, const struct cpu_feature *f)
{
	return h->bits[f->reg] & (1u << f->bit);
}

static void hide_dependents(struct x86_cpuid_hidden *h)
{
	bool changed = true;
	while (changed) {
		changed = false;
		for (size_t i = 0; i < COUNT(dependents); i++) {
			const struct cpu_feature *base = find_feature(dependents[i][0], strlen(dependents[i][0]));
			const struct cpu_feature *dep = find_feature(dependents[i][1], strlen(dependents[i][1]));
			if (is_hidden(h, base) && !is_hidden(h, dep)) {
				h->bits[dep->reg] |= 1u << dep->bit;
				changed = true;
			}
		}
	}
	h->hide_xsave_state = is_hidden(h, find_feature("xsave", 5));
}

/* One list item, `len` bytes at `item`: "-name". */
static int parse_item(const char *item, size_t len, struct x86_cpuid_hidden *h,
		      struct kvmini_error *err)
{
	if (len == 0)
		return kvmini_fail(err, KVMINI_E_USAGE, "empty CPU feature in the list");
	if (item[0] != '-')
		return kvmini_fail(err, KVMINI_E_USAGE,
				   "CPU feature '%.*s' has no '-': features can only be hidden (-name)",
				   (int)(len > 64 ? 64 : len), item);
	const struct cpu_feature *f = find_feature(item + 1, len - 1);
	if (!f)
		return kvmini_fail(err, KVMINI_E_USAGE, "unknown CPU feature '%.*s'",
				   (int)(len - 1 > 64 ? 64 : len - 1), item + 1);
	h->bits[f->reg] |= 1u << f->bit;
	h->named[f->reg] |= 1u << f->bit;
	return 0;
}

int x86_cpu_features_parse(const char *list, struct x86_cpuid_hidden *out,
			   struct kvmini_error *err)
{
	struct x86_cpuid_hidden h = { 0 };
	if (list && *list) {
		for (const char *item = list;; ) {
			const char *comma = strchr(item, ',');
			size_t len = comma ? (size_t)(comma - item) : strlen(item);
			if (parse_item(item, len, &h, err) < 0)
				return -1;
			if (!comma)
				break;
			item = comma + 1;
		}
	}
	hide_dependents(&h);
	*out = h;
	return 0;
}

/* The register of a CPUID entry that `reg` names, or NULL. */
static uint32_t *entry_register(struct kvm_cpuid_entry2 *e, enum x86_cpuid_reg reg)
{
	switch (reg) {
	case X86_CPUID_1_ECX: return e->function == 1 ? &e->ecx : NULL;
	case X86_CPUID_1_EDX: return e->function == 1 ? &e->edx : NULL;
	case X86_CPUID_7_EBX: return e->function == 7 && e->index == 0 ? &e->ebx : NULL;
	case X86_CPUID_7_ECX: return e->function == 7 && e->index == 0 ? &e->ecx : NULL;
	case X86_CPUID_7_EDX: return e->function == 7 && e->index == 0 ? &e->edx : NULL;
	case X86_CPUID_7_1_EAX: return e->function == 7 && e->index == 1 ? &e->eax : NULL;
	case X86_CPUID_80000001_ECX: return e->function == 0x80000001 ? &e->ecx : NULL;
	case X86_CPUID_80000001_EDX: return e->function == 0x80000001 ? &e->edx : NULL;
	case X86_CPUID_NREGS: break;
	}
	return NULL;
}

/* AMD repeats these leaf 1 EDX bits (fpu..apic, mtrr..pse36, mmx, fxsr)
 * in leaf 0x80000001 EDX; Intel leaves them 0 there. */
#define AMD_MIRRORED_EDX 0x0183f3ffu

void x86_cpuid_hide(struct kvm_cpuid2 *table, const struct x86_cpuid_hidden *hidden)
{
	for (uint32_t i = 0; i < table->nent; i++) {
		struct kvm_cpuid_entry2 *e = &table->entries[i];
		for (int r = 0; r < X86_CPUID_NREGS; r++) {
			uint32_t *reg = entry_register(e, (enum x86_cpuid_reg)r);
			if (reg)
				*reg &= ~hidden->bits[r];
		}
		if (e->function == 0x80000001)
			e->edx &= ~(hidden->bits[X86_CPUID_1_EDX] & AMD_MIRRORED_EDX);
		/* Without XSAVE, leaf 0xD (the XSAVE state components) says nothing. */
		if (e->function == 0xd && hidden->hide_xsave_state)
			e->eax = e->ebx = e->ecx = e->edx = 0;
	}
}

bool x86_cpuid_hides_any(const struct x86_cpuid_hidden *hidden)
{
	for (int r = 0; r < X86_CPUID_NREGS; r++)
		if (hidden->bits[r])
			return true;
	return false;
}

/* Whether `table` has feature f's bit set. */
static bool table_has(const struct kvm_cpuid2 *table, const struct cpu_feature *f)
{
	for (uint32_t i = 0; i < table->nent; i++) {
		struct kvm_cpuid_entry2 e = table->entries[i];
		uint32_t *reg = entry_register(&e, f->reg);
		if (reg)
			return *reg & (1u << f->bit);
	}
	return false;
}

const char *x86_cpuid_kept_feature(const struct kvm_cpuid2 *table,
				   const struct x86_cpuid_hidden *hidden, bool *named)
{
	for (int pass = 0; pass < 2; pass++) {
		*named = pass == 0;
		for (size_t i = 0; i < COUNT(features); i++) {
			const struct cpu_feature *f = &features[i];
			const uint32_t *set = *named ? hidden->named : hidden->bits;
			if ((set[f->reg] & (1u << f->bit)) && table_has(table, f))
				return f->name;
		}
	}
	return NULL;
}

bool x86_cpuid_has(const struct x86_cpuid *cpuid, const char *name)
{
	const struct cpu_feature *f = find_feature(name, strlen(name));
	return f && cpuid->table && !is_hidden(&cpuid->hidden, f) && table_has(cpuid->table, f);
}
