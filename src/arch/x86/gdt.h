/* GDT descriptors, built from the struct kvm_segment that KVM_SET_SREGS
 * loads into the segment register's hidden part, so the descriptor in
 * guest memory and the register can never disagree (a guest that
 * reloads a selector gets the segment it already runs on). One builder
 * for the mode-entry GDTs (cpu_mode.c) and the sandbox's (sandbox/cpu.c);
 * layouts are Intel SDM vol. 3, 3.4.5 and 7.2.3. */
#ifndef KVMINI_X86_GDT_H
#define KVMINI_X86_GDT_H

#include <linux/kvm.h>
#include <stdint.h>

enum x86_segment_kind { X86_SEGMENT_CODE32, X86_SEGMENT_CODE64, X86_SEGMENT_DATA };

/* A flat segment: base 0, limit 4 GiB (page granular), present, at
 * privilege level dpl; code is execute/read, data read/write, both with
 * the accessed bit set, so the CPU never writes the descriptor. */
struct kvm_segment x86_flat_segment(uint16_t selector, enum x86_segment_kind kind,
				    unsigned dpl);

/* The 8-byte descriptor of seg: a code or data segment, or the low half
 * of a 64-bit system descriptor. */
uint64_t x86_gdt_descriptor(const struct kvm_segment *seg);

/* A 64-bit system descriptor (TSS, LDT): 16 bytes, the high half holding
 * bits 63:32 of the base. */
void x86_gdt_system_descriptor(const struct kvm_segment *seg, uint64_t out[2]);

#endif
