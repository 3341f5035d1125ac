/* Unit tests of the gdb stub's pure parts on plain guest memory, without
 * KVM: the page walk that gives gdb guest-virtual addresses
 * (src/arch/x86/paging.c), breakpoint and watchpoint bookkeeping
 * (src/gdb/breakpoints.c), and the register layouts and target
 * descriptions (src/gdb/regs.c). */
#include <criterion/criterion.h>
#include <stddef.h>
#include <string.h>
#include "arch/x86/paging.h"
#include "gdb/breakpoints.h"
#include "gdb/regs.h"

#define RAM (8ULL << 20)
#define P 1ULL                  /* present */
#define W 2ULL                  /* writable */
#define PS 0x80ULL              /* large page */

static struct guest_memory mem;
static struct gdb_breakpoints bps;

static void setup(void)
{
	struct kvmini_error err;
	cr_assert_eq(guest_memory_init(&mem, RAM, 0, &err), 0, "%s", err.msg);
	gdb_bp_init(&bps);
}

static void teardown(void)
{
	guest_memory_free(&mem);
}

static void put64(uint64_t gpa, uint64_t value)
{
	cr_assert_eq(guest_write(&mem, gpa, &value, 8), 0);
}

static void put32(uint64_t gpa, uint32_t value)
{
	cr_assert_eq(guest_write(&mem, gpa, &value, 4), 0);
}

/* ---- page walk ---- */

TestSuite(paging, .init = setup, .fini = teardown);

static const struct x86_paging long_mode = {
	.cr0 = 0x80000011, .cr3 = 0x10000, .cr4 = 0x20, .efer = 0x500,
};

/* PML4 0x10000 -> PDPT 0x11000 -> PD 0x12000 -> PT 0x13000:
 * 0x400000 (4 KiB) -> 0x200000; 0x600000 (2 MiB) -> 0x600000;
 * 1 GiB at 0x40000000 -> 0; a high-half alias at 0xffff800000000000. */
static void build_long_tables(void)
{
	put64(0x10000, 0x11000 | P | W);
	put64(0x10000 + 256 * 8, 0x11000 | P);          /* PML4[256]: high half */
	put64(0x11000, 0x12000 | P | W);
	put64(0x11000 + 8, 0 | P | PS);                 /* PDPT[1]: 1 GiB page at 0 */
	put64(0x12000 + 2 * 8, 0x13000 | P);            /* PD[2]: 0x400000 */
	put64(0x12000 + 3 * 8, 0x600000 | P | PS);      /* PD[3]: 2 MiB at 0x600000 */
	put64(0x13000, 0x200000 | P);                   /* PT[0] */
}

Test(paging, long_mode_4k_2m_1g_pages)
{
	build_long_tables();
	uint64_t gpa, span;
	cr_assert_eq(x86_translate(&mem, &long_mode, 0x400123, &gpa, &span), 0);
	cr_assert_eq(gpa, 0x200123);
	cr_assert_eq(span, 0x1000 - 0x123);
	cr_assert_eq(x86_translate(&mem, &long_mode, 0x7fffff, &gpa, &span), 0);
	cr_assert(gpa == 0x7fffff && span == 1);
	cr_assert_eq(x86_translate(&mem, &long_mode, 0x600010, &gpa, &span), 0);
	cr_assert(gpa == 0x600010 && span == 0x200000 - 0x10);
	cr_assert_eq(x86_translate(&mem, &long_mode, 0x40001234, &gpa, &span), 0);
	cr_assert(gpa == 0x1234 && span == (1ULL << 30) - 0x1234);
	cr_assert_eq(x86_translate(&mem, &long_mode, 0xffff800000400008ULL, &gpa, &span), 0);
	cr_assert_eq(gpa, 0x200008);
}

Test(paging, long_mode_refuses_unmapped_and_noncanonical)
{
	build_long_tables();
	uint64_t gpa, span;
	cr_assert_eq(x86_translate(&mem, &long_mode, 0x401000, &gpa, &span), -1);   /* PT[1] empty */
	cr_assert_eq(x86_translate(&mem, &long_mode, 0x800000, &gpa, &span), -1);   /* PD[4] empty */
	cr_assert_eq(x86_translate(&mem, &long_mode, 0x0000800000000000ULL, &gpa, &span), -1);
	cr_assert_eq(x86_translate(&mem, &long_mode, 0x8000000000000000ULL, &gpa, &span), -1);
}

Test(paging, tables_outside_ram_end_the_walk)
{
	put64(0x10000, 0x7ffff000000ULL | P);   /* PDPT far beyond RAM */
	uint64_t gpa, span;
	cr_assert_eq(x86_translate(&mem, &long_mode, 0x1000, &gpa, &span), -1);
	struct x86_paging bad_cr3 = long_mode;
	bad_cr3.cr3 = 0xfffff000ULL;            /* in the MMIO hole */
	cr_assert_eq(x86_translate(&mem, &bad_cr3, 0x1000, &gpa, &span), -1);
}

Test(paging, five_level_paging)
{
	struct x86_paging la57 = long_mode;
	la57.cr4 |= 1 << 12;
	put64(0x10000, 0x14000 | P);            /* PML5[0] -> PML4 at 0x14000 */
	put64(0x14000, 0x11000 | P);
	put64(0x11000, 0x12000 | P);
	put64(0x12000, 0x400000 | P | PS);
	uint64_t gpa, span;
	cr_assert_eq(x86_translate(&mem, &la57, 0x1234, &gpa, &span), 0);
	cr_assert_eq(gpa, 0x401234);
	/* 57-bit canonical: 0x0000800000000000 is fine now (unmapped, though) */
	cr_assert_eq(x86_translate(&mem, &la57, 0x00ff000000000000ULL, &gpa, &span), -1);
}

Test(paging, no_paging_is_identity_on_32_bits)
{
	struct x86_paging off = { .cr0 = 0x11 };
	uint64_t gpa, span;
	cr_assert_eq(x86_translate(&mem, &off, 0x100000ULL, &gpa, &span), 0);
	cr_assert(gpa == 0x100000 && span == 0x1000);
	cr_assert_eq(x86_translate(&mem, &off, 0x100000123ULL, &gpa, &span), 0);
	cr_assert_eq(gpa, 0x123);
}

Test(paging, classic_32_bit_with_4m_pages)
{
	struct x86_paging p32 = { .cr0 = 0x80000011, .cr3 = 0x20000, .cr4 = 0x10 };
	put32(0x20000 + 1 * 4, 0x21000 | P);             /* PDE[1]: 0x400000.. -> PT */
	put32(0x21000 + 5 * 4, 0x345000 | P);            /* PTE[5] */
	put32(0x20000 + 2 * 4, 0x400000 | P | PS);       /* PDE[2]: 4 MiB page at 4 MiB */
	uint64_t gpa, span;
	cr_assert_eq(x86_translate(&mem, &p32, 0x405678, &gpa, &span), 0);
	cr_assert_eq(gpa, 0x345678);
	cr_assert_eq(x86_translate(&mem, &p32, 0x812345, &gpa, &span), 0);
	cr_assert(gpa == 0x412345 && span == 0x400000 - 0x12345);
	cr_assert_eq(x86_translate(&mem, &p32, 0xc00000, &gpa, &span), -1);
	cr_assert_eq(x86_translate(&mem, &p32, 0x100000000ULL, &gpa, &span), -1);
	p32.cr4 = 0;   /* without PSE the PS bit is ignored: PDE[2] points at a table */
	cr_assert_eq(x86_translate(&mem, &p32, 0x800000, &gpa, &span), -1);
}

Test(paging, pae)
{
	struct x86_paging pae = { .cr0 = 0x80000011, .cr3 = 0x30020, .cr4 = 0x20 };
	put64(0x30020 + 3 * 8, 0x31000 | P);             /* PDPTE[3]: 0xc0000000.. */
	put64(0x31000 + 1 * 8, 0x32000 | P);             /* PDE[1] -> PT */
	put64(0x32000 + 2 * 8, 0x123000 | P);
	put64(0x31000 + 2 * 8, 0x600000 | P | PS);       /* 2 MiB */
	uint64_t gpa, span;
	cr_assert_eq(x86_translate(&mem, &pae, 0xc0202abcULL, &gpa, &span), 0);
	cr_assert_eq(gpa, 0x123abc);
	cr_assert_eq(x86_translate(&mem, &pae, 0xc0400010ULL, &gpa, &span), 0);
	cr_assert_eq(gpa, 0x600010);
	cr_assert_eq(x86_translate(&mem, &pae, 0x00001000ULL, &gpa, &span), -1);  /* PDPTE[0] empty */
}

/* ---- software breakpoints ---- */

TestSuite(breakpoints, .init = setup, .fini = teardown);

static uint8_t byte_at(uint64_t gpa)
{
	uint8_t b;
	cr_assert_eq(guest_read(&mem, gpa, &b, 1), 0);
	return b;
}

Test(breakpoints, software_breakpoint_plants_and_restores)
{
	uint8_t code[] = { 0x55, 0x48, 0x89, 0xe5 };
	guest_write(&mem, 0x1000, code, sizeof(code));
	cr_assert_eq(gdb_sw_insert(&bps, &mem, 0xffff0001, 0x1001), GDB_BP_OK);
	cr_assert_eq(byte_at(0x1001), GDB_INT3);
	cr_assert_not_null(gdb_sw_find(&bps, 0xffff0001));
	cr_assert_null(gdb_sw_find(&bps, 0x1001));   /* found by the address gdb named */
	cr_assert_eq(gdb_sw_insert(&bps, &mem, 0xffff0001, 0x1001), GDB_BP_OK);   /* idempotent */
	cr_assert_eq(bps.nsw, 1);
	cr_assert_eq(gdb_sw_remove(&bps, &mem, 0xffff0001), GDB_BP_OK);
	cr_assert_eq(byte_at(0x1001), 0x48);
	cr_assert_eq(gdb_sw_remove(&bps, &mem, 0xffff0001), GDB_BP_OK);
	cr_assert_eq(bps.nsw, 0);
}

Test(breakpoints, reads_never_show_the_int3)
{
	uint8_t code[] = { 1, 2, 3, 4, 5, 6 };
	guest_write(&mem, 0x2000, code, sizeof(code));
	gdb_sw_insert(&bps, &mem, 0x2001, 0x2001);
	gdb_sw_insert(&bps, &mem, 0x2004, 0x2004);
	uint8_t seen[6];
	guest_read(&mem, 0x2000, seen, 6);
	cr_assert_eq(seen[1], GDB_INT3);
	gdb_sw_hide(&bps, 0x2000, seen, 6);
	cr_assert(memcmp(seen, code, 6) == 0);
	uint8_t part[2];
	guest_read(&mem, 0x2004, part, 2);
	gdb_sw_hide(&bps, 0x2004, part, 2);
	cr_assert(part[0] == 5 && part[1] == 6);
}

Test(breakpoints, debugger_writes_under_a_breakpoint_keep_it_planted)
{
	uint8_t code[] = { 0x90, 0x90, 0x90 };
	guest_write(&mem, 0x3000, code, sizeof(code));
	gdb_sw_insert(&bps, &mem, 0x3001, 0x3001);
	uint8_t patch[] = { 0xaa, 0xbb, 0xcc };
	guest_write(&mem, 0x3000, patch, sizeof(patch));
	gdb_sw_rewrite(&bps, &mem, 0x3000, 3);
	cr_assert_eq(byte_at(0x3001), GDB_INT3);
	gdb_sw_remove_all(&bps, &mem);
	cr_assert_eq(byte_at(0x3001), 0xbb);
}

Test(breakpoints, a_guest_overwrite_wins_on_removal)
{
	uint8_t nop = 0x90, guest = 0x66;
	guest_write(&mem, 0x4000, &nop, 1);
	gdb_sw_insert(&bps, &mem, 0x4000, 0x4000);
	guest_write(&mem, 0x4000, &guest, 1);    /* the guest rewrote its code */
	gdb_sw_remove(&bps, &mem, 0x4000);
	cr_assert_eq(byte_at(0x4000), 0x66);
}

Test(breakpoints, aliases_of_one_byte_save_the_real_original)
{
	uint8_t orig = 0x31;
	guest_write(&mem, 0x5000, &orig, 1);
	gdb_sw_insert(&bps, &mem, 0x5000, 0x5000);
	gdb_sw_insert(&bps, &mem, 0xffff800000005000ULL, 0x5000);
	cr_assert_eq(bps.sw[1].saved, 0x31);
	gdb_sw_remove(&bps, &mem, 0x5000);
	cr_assert_eq(byte_at(0x5000), GDB_INT3);  /* the alias still needs it */
	gdb_sw_remove(&bps, &mem, 0xffff800000005000ULL);
	cr_assert_eq(byte_at(0x5000), 0x31);
}

Test(breakpoints, table_full_and_faults)
{
	for (unsigned i = 0; i < GDB_MAX_SW_BREAKPOINTS; i++)
		cr_assert_eq(gdb_sw_insert(&bps, &mem, 0x10000 + i, 0x10000 + i), GDB_BP_OK);
	cr_assert_eq(gdb_sw_insert(&bps, &mem, 0x20000, 0x20000), GDB_BP_FULL);
	gdb_sw_remove_all(&bps, &mem);
	cr_assert_eq(gdb_sw_insert(&bps, &mem, 0xdead, RAM + 0x1000), GDB_BP_FAULT);
	cr_assert_eq(bps.nsw, 0);
}

/* ---- debug registers ---- */

Test(breakpoints, debug_register_encoding)
{
	cr_assert_eq(gdb_hw_insert(&bps, GDB_POINT_HW, 0x100110, 1), GDB_BP_OK);
	cr_assert_eq(gdb_hw_insert(&bps, GDB_POINT_WRITE, 0x101000, 8), GDB_BP_OK);
	cr_assert_eq(gdb_hw_insert(&bps, GDB_POINT_READ, 0x101010, 2), GDB_BP_OK);
	cr_assert_eq(gdb_hw_insert(&bps, GDB_POINT_ACCESS, 0x101020, 4), GDB_BP_OK);
	uint64_t dr[8];
	gdb_hw_debugregs(&bps, dr);
	cr_assert(dr[0] == 0x100110 && dr[1] == 0x101000 && dr[2] == 0x101010 && dr[3] == 0x101020);
	/* G0-G3 = 0xaa; slot 1: RW 01, LEN 10; slot 2: RW 11, LEN 01; slot 3: RW 11, LEN 11; GE */
	uint64_t want = 0xaa | 0x200 | (0x1ULL << 20) | (0x2ULL << 22) | (0x3ULL << 24) |
			(0x1ULL << 26) | (0x3ULL << 28) | (0x3ULL << 30);
	cr_assert_eq(dr[7], want, "dr7 %llx, want %llx", (unsigned long long)dr[7],
		     (unsigned long long)want);
	cr_assert_eq(gdb_hw_insert(&bps, GDB_POINT_HW, 0x200000, 1), GDB_BP_FULL);
	cr_assert_eq(gdb_hw_slot_hit(&bps, 0x4004), 2);
	cr_assert_eq(gdb_hw_slot_hit(&bps, 0x4000), -1);
	gdb_hw_remove(&bps, GDB_POINT_READ, 0x101010, 2);
	cr_assert_eq(gdb_hw_slot_hit(&bps, 0x4004), -1);
	cr_assert_eq(gdb_hw_insert(&bps, GDB_POINT_HW, 0x200000, 1), GDB_BP_OK);
}

Test(breakpoints, data_slots_need_aligned_power_of_two_lengths)
{
	cr_assert_eq(gdb_hw_insert(&bps, GDB_POINT_WRITE, 0x1001, 2), GDB_BP_INVALID);
	cr_assert_eq(gdb_hw_insert(&bps, GDB_POINT_WRITE, 0x1000, 3), GDB_BP_INVALID);
	cr_assert_eq(gdb_hw_insert(&bps, GDB_POINT_WRITE, 0x1000, 16), GDB_BP_INVALID);
	cr_assert_eq(gdb_hw_insert(&bps, 7, 0x1000, 1), GDB_BP_INVALID);
	cr_assert_eq(gdb_hw_insert(&bps, GDB_POINT_HW, 0x1003, 99), GDB_BP_OK);  /* kind ignored */
	cr_assert(!bps.hw[1].used && gdb_hw_any(&bps));
}

Test(breakpoints, a_slot_can_serve_a_software_breakpoint)
{
	cr_assert_eq(gdb_hw_insert(&bps, GDB_POINT_SW, 0x7c05, 1), GDB_BP_OK);
	cr_assert_eq(gdb_hw_insert(&bps, GDB_POINT_HW, 0x7c05, 1), GDB_BP_OK);   /* a separate Z1 */
	uint64_t dr[8];
	gdb_hw_debugregs(&bps, dr);
	cr_assert(dr[0] == 0x7c05 && dr[1] == 0x7c05 && dr[7] == 0xa);   /* G0, G1, execute */
	gdb_hw_remove(&bps, GDB_POINT_SW, 0x7c05, 1);
	cr_assert(!bps.hw[0].used && bps.hw[1].used);
}

/* ---- stepped watchpoints ---- */

Test(breakpoints, stepped_watch_sees_changes_once)
{
	uint64_t value = 5, addr = 0;
	guest_write(&mem, 0x6000, &value, 8);
	cr_assert_eq(gdb_watch_insert(&bps, &mem, 0x7f000, 0x6000, 8), GDB_BP_OK);
	cr_assert(!gdb_watch_changed(&bps, &mem, &addr));
	value = 6;
	guest_write(&mem, 0x6000, &value, 8);
	cr_assert(gdb_watch_changed(&bps, &mem, &addr));
	cr_assert_eq(addr, 0x7f000);
	cr_assert(!gdb_watch_changed(&bps, &mem, &addr));   /* reference updated */
	value = 7;
	guest_write(&mem, 0x6000, &value, 8);
	gdb_watch_snapshot(&bps, &mem);                      /* e.g. gdb wrote it */
	cr_assert(!gdb_watch_changed(&bps, &mem, &addr));
	gdb_watch_remove(&bps, 0x7f000, 8);
	cr_assert_eq(bps.nwatch, 0);
	cr_assert_eq(gdb_watch_insert(&bps, &mem, 1, 0x6000, 9), GDB_BP_INVALID);
	cr_assert_eq(gdb_watch_insert(&bps, &mem, 1, 0x6000, 0), GDB_BP_INVALID);
	cr_assert_eq(gdb_watch_insert(&bps, &mem, 1, RAM, 4), GDB_BP_FAULT);
}

/* ---- registers ---- */

TestSuite(regs);

static int reg_number(const struct gdb_arch *arch, const char *name)
{
	for (unsigned n = 0; n < gdb_arch_nregs(arch); n++)
		if (strcmp(gdb_arch_reg(arch, n)->name, name) == 0)
			return (int)n;
	return -1;
}

Test(regs, amd64_layout_matches_gdb_core_order)
{
	const struct gdb_arch *a = &gdb_arch_amd64;
	/* gdb's amd64 numbering: rax..r15 0-15, rip 16, eflags 17, segments 18-23, st0 24,
	 * fop 39, xmm0 40, mxcsr 56; ours continues with fs_base, gs_base, control registers. */
	const char *names[] = { "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp" };
	for (int i = 0; i < 8; i++)
		cr_assert_eq(reg_number(a, names[i]), i);
	cr_assert_eq(reg_number(a, "rip"), 16);
	cr_assert_eq(reg_number(a, "eflags"), 17);
	cr_assert_eq(reg_number(a, "cs"), 18);
	cr_assert_eq(reg_number(a, "st0"), 24);
	cr_assert_eq(reg_number(a, "fop"), 39);
	cr_assert_eq(reg_number(a, "xmm0"), 40);
	cr_assert_eq(reg_number(a, "mxcsr"), 56);
	cr_assert_eq(reg_number(a, "fs_base"), 57);
	cr_assert_eq(reg_number(a, "efer"), 64);
	cr_assert_eq(gdb_arch_nregs(a), 65);
	cr_assert_eq(gdb_arch_regs_size(a), 16 * 8 + 8 + 4 + 6 * 4 + 8 * 10 + 8 * 4 + 16 * 16 + 4 + 2 * 8 + 6 * 8);
	cr_assert_null(gdb_arch_reg(a, 65));
}

Test(regs, i386_layout_uses_hardware_order)
{
	const struct gdb_arch *a = &gdb_arch_i386;
	const char *names[] = { "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags" };
	for (int i = 0; i < 10; i++)
		cr_assert_eq(reg_number(a, names[i]), i);
	cr_assert_eq(reg_number(a, "st0"), 16);
	cr_assert_eq(reg_number(a, "xmm0"), 32);
	cr_assert_eq(reg_number(a, "mxcsr"), 40);
	cr_assert_eq(reg_number(a, "xmm8"), -1);
}

Test(regs, values_map_onto_kvm_structures)
{
	struct gdb_x86_state st;
	memset(&st, 0, sizeof(st));
	st.regs.rbx = 0x1122334455667788ULL;
	st.regs.rip = 0x100000;
	st.regs.rflags = 0x246;
	st.sregs.cs.selector = 0x18;
	st.sregs.fs.base = 0xabcdef;
	st.sregs.cr3 = 0x2000;
	st.fpu_valid = true;
	st.fpu.mxcsr = 0x1f80;
	st.fpu.xmm[1][0] = 0x42;
	uint8_t v[16];
	const struct gdb_arch *a = &gdb_arch_amd64;
	cr_assert_eq(gdb_reg_get(a, 1, &st, v), 8);
	cr_assert_eq(v[0], 0x88);
	cr_assert_eq(v[7], 0x11);
	cr_assert_eq(gdb_reg_get(a, 17, &st, v), 4);
	cr_assert(v[0] == 0x46 && v[1] == 0x02);
	cr_assert_eq(gdb_reg_get(a, 18, &st, v), 4);
	cr_assert(v[0] == 0x18 && v[1] == 0 && v[2] == 0);
	cr_assert_eq(gdb_reg_get(a, 57, &st, v), 8);
	cr_assert_eq(v[0], 0xef);
	cr_assert_eq(gdb_reg_get(a, 41, &st, v), 16);
	cr_assert_eq(v[0], 0x42);
	cr_assert_eq(gdb_reg_get(a, 61, &st, v), 8);   /* cr3 */
	cr_assert_eq(v[1], 0x20);
	cr_assert_eq(gdb_reg_get(&gdb_arch_i386, 3, &st, v), 4);   /* ebx: low half */
	cr_assert(v[0] == 0x88 && v[3] == 0x55);
	cr_assert_eq(gdb_reg_get(a, 99, &st, v), 0);
}

Test(regs, writes_mark_what_changed_and_skip_selectors)
{
	struct gdb_x86_state st;
	memset(&st, 0, sizeof(st));
	st.fpu_valid = true;
	st.regs.rax = 0xffffffff00000000ULL;
	uint8_t v[16] = { 0x78, 0x56, 0x34, 0x12 };
	cr_assert_eq(gdb_reg_set(&gdb_arch_i386, 0, &st, v), 4);      /* eax: low half only */
	cr_assert_eq(st.regs.rax, 0xffffffff12345678ULL);
	cr_assert_eq(st.dirty, GDB_DIRTY_REGS);
	cr_assert_eq(gdb_reg_set(&gdb_arch_amd64, 18, &st, v), 4);    /* cs: ignored */
	cr_assert_eq(st.sregs.cs.selector, 0);
	cr_assert_eq(st.dirty, GDB_DIRTY_REGS);
	cr_assert_eq(gdb_reg_set(&gdb_arch_amd64, 59, &st, v), 8);    /* cr0 */
	cr_assert_eq(st.dirty, GDB_DIRTY_REGS | GDB_DIRTY_SREGS);
	cr_assert_eq(gdb_reg_set(&gdb_arch_amd64, 56, &st, v), 4);    /* mxcsr */
	cr_assert_eq(st.fpu.mxcsr, 0x12345678);
	cr_assert_eq(st.dirty, GDB_DIRTY_REGS | GDB_DIRTY_SREGS | GDB_DIRTY_FPU);
}

Test(regs, missing_fpu_state_reads_as_unavailable)
{
	struct gdb_x86_state st;
	memset(&st, 0xff, sizeof(st));
	st.fpu_valid = false;
	st.dirty = 0;
	uint8_t v[16];
	cr_assert_eq(gdb_reg_get(&gdb_arch_amd64, 24, &st, v), -1);
	cr_assert_eq(v[0], 0);
	cr_assert_eq(gdb_reg_set(&gdb_arch_amd64, 40, &st, v), -1);
	cr_assert_eq(st.dirty, 0);
}

Test(regs, x87_tag_word_conversion)
{
	struct kvm_fpu fpu;
	memset(&fpu, 0, sizeof(fpu));
	cr_assert_eq(gdb_ftag_from_fxsave(&fpu), 0xffff);   /* all empty */
	/* TOP = 7; ST(0) = physical 7 holds 1.0 (valid), ST(1) = physical 0 holds zero. */
	fpu.fsw = 7 << 11;
	fpu.ftwx = 0x81;
	fpu.fpr[0][7] = 0x80;                 /* integer bit */
	fpu.fpr[0][8] = 0xff;
	fpu.fpr[0][9] = 0x3f;                 /* exponent 0x3fff */
	uint16_t tag = gdb_ftag_from_fxsave(&fpu);
	cr_assert_eq(tag, 0x3ffd, "tag %04x", tag);   /* phys 0: zero (01), 1-6 empty, 7 valid (00) */
	fpu.fpr[0][9] = 0x7f;                 /* exponent 0x7fff: special */
	cr_assert_eq(gdb_ftag_from_fxsave(&fpu), 0xbffd);
	cr_assert_eq(gdb_ftag_to_fxsave(0x3ffd), 0x81);
	cr_assert_eq(gdb_ftag_to_fxsave(0xffff), 0);
	cr_assert_eq(gdb_ftag_to_fxsave(0), 0xff);
}

static unsigned count(const char *haystack, const char *needle)
{
	unsigned n = 0;
	for (const char *p = haystack; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

Test(regs, target_descriptions_list_every_register)
{
	static char xml[16384];
	const struct gdb_arch *arches[] = { &gdb_arch_amd64, &gdb_arch_i386 };
	for (int i = 0; i < 2; i++) {
		size_t n = gdb_target_xml(arches[i], xml, sizeof(xml));
		cr_assert_gt(n, 0);
		cr_assert_eq(strlen(xml), n);
		cr_assert_eq(count(xml, "<reg "), gdb_arch_nregs(arches[i]));
		cr_assert_eq(count(xml, "<feature "), count(xml, "</feature>"));
		cr_assert(strstr(xml, "org.gnu.gdb.i386.core") && strstr(xml, "org.gnu.gdb.i386.sse"));
	}
	cr_assert(strstr(xml, "<architecture>i386</architecture>"));
	gdb_target_xml(&gdb_arch_amd64, xml, sizeof(xml));
	cr_assert(strstr(xml, "<architecture>i386:x86-64</architecture>"));
	cr_assert(strstr(xml, "<reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\"/>"));
	cr_assert_eq(gdb_target_xml(&gdb_arch_amd64, xml, 100), 0);
}

Test(regs, architecture_follows_long_mode)
{
	struct kvm_sregs s;
	memset(&s, 0, sizeof(s));
	cr_assert_eq(gdb_arch_for(&s), &gdb_arch_i386);
	s.efer = 0x500;
	cr_assert_eq(gdb_arch_for(&s), &gdb_arch_amd64);
}
