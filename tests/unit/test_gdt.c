/* Unit tests of the GDT builder (src/arch/x86/gdt.c): the exact
 * descriptors of the segments kvmini's entry states and the sandbox use,
 * and a byte-granular system descriptor with a 64-bit base. */
#include <criterion/criterion.h>
#include <stdint.h>
#include "arch/x86/gdt.h"

static uint64_t flat(enum x86_segment_kind kind, unsigned dpl)
{
	struct kvm_segment s = x86_flat_segment(0x08, kind, dpl);
	return x86_gdt_descriptor(&s);
}

Test(gdt, flat_kernel_segments)
{
	cr_assert_eq(flat(X86_SEGMENT_CODE32, 0), 0x00cf9b000000ffffULL);
	cr_assert_eq(flat(X86_SEGMENT_CODE64, 0), 0x00af9b000000ffffULL);
	cr_assert_eq(flat(X86_SEGMENT_DATA, 0), 0x00cf93000000ffffULL);
}

Test(gdt, flat_user_segments)
{
	cr_assert_eq(flat(X86_SEGMENT_CODE32, 3), 0x00cffb000000ffffULL);
	cr_assert_eq(flat(X86_SEGMENT_CODE64, 3), 0x00affb000000ffffULL);
	cr_assert_eq(flat(X86_SEGMENT_DATA, 3), 0x00cff3000000ffffULL);
}

Test(gdt, flat_segment_registers_match_their_kind)
{
	struct kvm_segment c64 = x86_flat_segment(0x10, X86_SEGMENT_CODE64, 0);
	struct kvm_segment c32 = x86_flat_segment(0x08, X86_SEGMENT_CODE32, 0);
	struct kvm_segment d = x86_flat_segment(0x2b, X86_SEGMENT_DATA, 3);

	cr_assert(c64.l == 1 && c64.db == 0 && c64.type == 0xb && c64.selector == 0x10);
	cr_assert(c32.l == 0 && c32.db == 1 && c32.type == 0xb);
	cr_assert(d.l == 0 && d.db == 1 && d.type == 0x3 && d.dpl == 3 && d.selector == 0x2b);
	cr_assert(d.base == 0 && d.limit == 0xffffffff && d.g == 1 && d.present == 1 && d.s == 1);
}

Test(gdt, byte_granular_system_descriptor_with_a_64_bit_base)
{
	struct kvm_segment tss = {
		.base = 0x00007f0012345678ULL, .limit = 0x67, .type = 0xb, .present = 1,
	};
	uint64_t d[2];

	x86_gdt_system_descriptor(&tss, d);
	cr_assert_eq(d[0], 0x12008b3456780067ULL, "got 0x%016llx", (unsigned long long)d[0]);
	cr_assert_eq(d[1], 0x7f00);
}
