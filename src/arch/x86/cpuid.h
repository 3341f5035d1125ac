/* CPUID for each vCPU: what the host's KVM supports, with the vCPU's own
 * APIC ID. Without KVM_SET_CPUID2 a vCPU reports no features at all and
 * KVM refuses long mode (EFER.LME needs the LM bit). */
#ifndef KVMINI_X86_CPUID_H
#define KVMINI_X86_CPUID_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>
#include "error.h"

/* The CPUID registers whose feature bits can be hidden by name. */
enum x86_cpuid_reg {
	X86_CPUID_1_ECX, X86_CPUID_1_EDX,
	X86_CPUID_7_EBX, X86_CPUID_7_ECX, X86_CPUID_7_EDX, X86_CPUID_7_1_EAX,
	X86_CPUID_80000001_ECX, X86_CPUID_80000001_EDX,
	X86_CPUID_NREGS
};

/* Feature bits hidden from the guest (set bit = hidden), per register,
 * with their dependents already included; hide_xsave_state also empties
 * leaf 0xD. */
struct x86_cpuid_hidden {
	uint32_t bits[X86_CPUID_NREGS];
	uint32_t named[X86_CPUID_NREGS];   /* the subset the list named itself */
	bool hide_xsave_state;
};

struct x86_cpuid {
	struct kvm_cpuid2 *table;   /* KVM_GET_SUPPORTED_CPUID result */
	struct x86_cpuid_hidden hidden;
};

/* Parse a --cpu-features list: comma-separated names, each prefixed with
 * '-' to hide it ("-xsave,-cx16"); NULL or "" hides nothing. Names are
 * Linux's /proc/cpuinfo flags (sse3 also as pni). Hiding a feature also
 * hides what cannot work without it: xsave -> osxsave, avx, leaf 0xD and
 * the AMX bits; avx -> avx2, fma, f16c, avx512f, vaes, vpclmulqdq,
 * avx_vnni; avx512f -> every other AVX-512 bit; apic -> x2apic and
 * tsc_deadline_timer. An unknown name fails (KVMINI_E_USAGE) naming it. */
int x86_cpu_features_parse(const char *list, struct x86_cpuid_hidden *out,
			   struct kvmini_error *err);

/* Clear the hidden bits in a CPUID table (KVM_GET_SUPPORTED_CPUID's, or
 * a synthetic one in tests); on AMD the leaf 1 EDX bits mirrored in leaf
 * 0x80000001 EDX are cleared there too. */
void x86_cpuid_hide(struct kvm_cpuid2 *table, const struct x86_cpuid_hidden *hidden);

/* Whether any bit is hidden. */
bool x86_cpuid_hides_any(const struct x86_cpuid_hidden *hidden);

/* The name of a hidden feature that is still set in `table` (what
 * KVM_GET_CPUID2 returned), or NULL when every one is clear. Features
 * the list named come first; *named says whether it is one of them. */
const char *x86_cpuid_kept_feature(const struct kvm_cpuid2 *table,
				   const struct x86_cpuid_hidden *hidden, bool *named);

/* Whether the guest sees the named feature: in the table and not hidden.
 * False for unknown names. */
bool x86_cpuid_has(const struct x86_cpuid *cpuid, const char *name);

/* Tell the guest the TSC's rate (kHz): leaf 0x15 (a crystal at that rate,
 * ratio 1/1) and leaf 0x16 (base and maximum MHz, a 100 MHz bus), and
 * raise leaf 0's highest leaf to 0x16. Entries missing are added while
 * the table has room for `capacity` entries. Linux reads leaf 0x15 on
 * Intel CPUs; with KVM_GUEST it takes the rate from kvmclock (which KVM
 * provides whenever its CPUID leaves are passed on) before either. */
void x86_cpuid_set_tsc(struct kvm_cpuid2 *table, unsigned capacity, uint32_t tsc_khz);

int x86_cpuid_init(struct x86_cpuid *cpuid, int kvm_fd, struct kvmini_error *err);
void x86_cpuid_free(struct x86_cpuid *cpuid);
/* Give vCPU `apic_id` of `ncpus` its CPUID: the table patched with its
 * APIC ID and a topology of one package with ncpus single-thread cores,
 * less the features in cpuid->hidden. */
int x86_cpuid_apply(const struct x86_cpuid *cpuid, int vcpu_fd, unsigned apic_id,
		    unsigned ncpus, struct kvmini_error *err);

#endif
