#include <stdbool.h>
#include "arch/x86/gdt.h"

struct kvm_segment x86_flat_segment(uint16_t selector, enum x86_segment_kind kind,
				    unsigned dpl)
{
	bool code = kind != X86_SEGMENT_DATA;
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = selector,
		.type = code ? 0xb : 0x3,    /* execute/read accessed, read/write accessed */
		.present = 1, .dpl = (uint8_t)(dpl & 3), .s = 1, .g = 1,
		/* 64-bit code has L set and D clear; everything else is 32-bit. */
		.db = kind != X86_SEGMENT_CODE64,
		.l = kind == X86_SEGMENT_CODE64,
	};
}

uint64_t x86_gdt_descriptor(const struct kvm_segment *seg)
{
	/* KVM's limit is in bytes; a page-granular descriptor holds pages - 1. */
	uint64_t limit = seg->g ? seg->limit >> 12 : seg->limit & 0xfffff;
	uint64_t base = seg->base & 0xffffffff;
	return (limit & 0xffff) |
	       (base & 0xffffff) << 16 |
	       (uint64_t)(seg->type & 0xf) << 40 |
	       (uint64_t)(seg->s & 1) << 44 |
	       (uint64_t)(seg->dpl & 3) << 45 |
	       (uint64_t)(seg->present & 1) << 47 |
	       (limit >> 16 & 0xf) << 48 |
	       (uint64_t)(seg->avl & 1) << 52 |
	       (uint64_t)(seg->l & 1) << 53 |
	       (uint64_t)(seg->db & 1) << 54 |
	       (uint64_t)(seg->g & 1) << 55 |
	       (base >> 24 & 0xff) << 56;
}

void x86_gdt_system_descriptor(const struct kvm_segment *seg, uint64_t out[2])
{
	out[0] = x86_gdt_descriptor(seg);
	out[1] = seg->base >> 32;
}
