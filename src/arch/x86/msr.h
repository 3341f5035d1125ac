/* The model-specific registers a kernel expects a BIOS to have set up
 * before it boots, written into every vCPU when it is created. */
#ifndef KVMINI_X86_MSR_H
#define KVMINI_X86_MSR_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>
#include "error.h"

#define MSR_IA32_TSC             0x00000010u
#define MSR_IA32_SYSENTER_CS     0x00000174u
#define MSR_IA32_SYSENTER_ESP    0x00000175u
#define MSR_IA32_SYSENTER_EIP    0x00000176u
#define MSR_IA32_MISC_ENABLE     0x000001a0u
#define MSR_IA32_XSS             0x00000da0u
#define MSR_MTRR_DEF_TYPE        0x000002ffu
#define MSR_STAR                 0xc0000081u
#define MSR_LSTAR                0xc0000082u
#define MSR_CSTAR                0xc0000083u
#define MSR_SYSCALL_MASK         0xc0000084u
#define MSR_FS_BASE              0xc0000100u
#define MSR_GS_BASE              0xc0000101u
#define MSR_KERNEL_GS_BASE       0xc0000102u

#define MISC_ENABLE_FAST_STRINGS (1ull << 0)
/* MTRRs enabled (bit 11), fixed-range MTRRs off, default type 6 (WB):
 * all of memory is write-back until the OS programs variable ranges. */
#define MTRR_DEF_TYPE_BOOT       0x806ull

#define X86_BOOT_MSRS_MAX 11

/* The boot MSRs and their values, keeping only those KVM accepts: the
 * ones in `supported` (KVM_GET_MSR_INDEX_LIST), and MTRR_DEF_TYPE when
 * the guest's CPUID shows MTRRs (KVM then handles the MTRR MSRs without
 * listing them). IA32_MISC_ENABLE becomes `misc_enable` (KVM's current
 * value) with fast strings on. Returns how many entries `out` got. */
unsigned x86_boot_msrs(const uint32_t *supported, unsigned nsupported, bool has_mtrr,
		       uint64_t misc_enable, struct kvm_msr_entry out[X86_BOOT_MSRS_MAX]);

/* KVM_GET_MSR_INDEX_LIST: the MSRs KVM saves and restores for a vCPU
 * (malloc'd; the caller frees it). */
struct kvm_msr_list *x86_msr_index_list(int kvm_fd, struct kvmini_error *err);

/* Write the boot MSRs into a vCPU (after its CPUID is set). */
int x86_boot_msrs_set(int kvm_fd, int vcpu_fd, bool has_mtrr, struct kvmini_error *err);

#endif
