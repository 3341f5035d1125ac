/* Layer 5, beside vm.h: a paused VM's KVM-held state as snapshot
 * sections, and back.
 *
 *   VCPU (one per vCPU, in order): records of {u32 kind, u32 length,
 *     bytes}: registers, special registers, XSAVE area, XCRs, every MSR
 *     KVM lists that reads back (the TSC and kvmclock's included), the
 *     local APIC (with an irqchip), pending events, MP state, debug
 *     registers, and the CPUID the vCPU was given;
 *   KVMS: the in-kernel PIC pair, IOAPIC and PIT (--irqchip kernel) and
 *     the KVM clock.
 * Decoding (vm_state_decode) is pure: it checks every record's kind and
 * size against the uapi structures, and the CPUID against what this
 * host's KVM supports, before a single ioctl; vm_state_restore() then
 * only hands checked structures to KVM. */
#ifndef KVMINI_VM_STATE_H
#define KVMINI_VM_STATE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include "error.h"
#include "snapshot/format.h"
#include "vm.h"

#define SNAPSHOT_TAG_VCPU SNAPSHOT_TAG('V', 'C', 'P', 'U')
#define SNAPSHOT_TAG_KVMS SNAPSHOT_TAG('K', 'V', 'M', 'S')
#define VM_STATE_MAX_MSRS 1024
#define VM_STATE_MAX_CPUID 256

struct vcpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave xsave;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	bool has_lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp_state;
	struct kvm_debugregs debugregs;
	unsigned nmsrs;
	struct kvm_msr_entry msrs[VM_STATE_MAX_MSRS];
	unsigned ncpuid;
	struct kvm_cpuid_entry2 cpuid[VM_STATE_MAX_CPUID];
};

struct vm_kvm_state {
	bool has_irqchip;                 /* the in-kernel PIC, IOAPIC and PIT */
	struct kvm_irqchip chips[3];      /* PIC master, PIC slave, IOAPIC */
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
};

/* Every vCPU's and the VM's state into b; the vCPUs must be parked. */
int vm_state_save(struct vm *vm, struct snapshot_builder *b, struct kvmini_error *err);

/* The sections' bytes (what vm_state_save() writes). */
void vcpu_state_encode(const struct vcpu_state *s, struct state_writer *w);
void vm_kvm_state_encode(const struct vm_kvm_state *k, struct state_writer *w);
/* One VCPU section's bytes into *out (checked). */
int vcpu_state_decode(const uint8_t *data, uint64_t len, bool with_lapic,
		      struct vcpu_state *out, struct kvmini_error *err);
/* The KVMS section into *out (checked). */
int vm_kvm_state_decode(const uint8_t *data, uint64_t len, bool with_irqchip,
			struct vm_kvm_state *out, struct kvmini_error *err);
/* Whether every feature bit of `saved` is in `supported` (leaves 1,
 * 7.0, 7.1, 0xD.1 and 0x80000001): a snapshot may not ask for what the
 * host cannot give. -1 with a message naming the leaf and bits. */
int vcpu_cpuid_check(const struct kvm_cpuid_entry2 *saved, unsigned nsaved,
		     const struct kvm_cpuid2 *supported, struct kvmini_error *err);

/* Hand the decoded states to KVM: vcpus[i] to vCPU i. Before any vCPU
 * runs. */
int vm_state_restore(struct vm *vm, struct vcpu_state *vcpus,
		     struct vm_kvm_state *kvm, struct kvmini_error *err);

#endif
