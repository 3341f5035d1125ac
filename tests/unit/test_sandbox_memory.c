/* The sandbox's guest memory without KVM: a real program
 * (build/guests/sandbox/hello.glibc) is laid out in guest RAM by the
 * same functions kvmini_sandbox_create() calls, and the result is
 * checked as the CPU would see it, through the guest's own page tables
 * (the software walker, arch/x86/paging.c): the program's bytes at its
 * entry, the initial stack, the guard page, the GDT, and that the
 * window's host view never reaches past the window. */
#include <criterion/criterion.h>
#include <asm/processor-flags.h>
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arch/x86/paging.h"
#include "arch/x86/regs.h"
#include "loaders/elf_reader.h"
#include "sandbox/sandbox.h"
#include "read_file.h"

#define PROGRAM "build/guests/sandbox/hello.glibc"
#define RAM (16ULL << 20)

static sandbox_t sb;
static uint8_t *elf;
static size_t elf_size;
static gva_t entry, sp;

static const struct x86_paging paging = {
	.cr0 = X86_CR0_PE | X86_CR0_PG, .cr3 = SB_PML4_GPA, .cr4 = X86_CR4_PAE,
	.efer = EFER_LME | EFER_LMA,
};

static void read_program(void)
{
	elf = test_read_file(PROGRAM, &elf_size);
}

static void setup(void)
{
	static const char *const argv[] = { "prog", "arg1", NULL };
	static const char *const envp[] = { "K=V", NULL };
	struct kvmini_error err;
	gva_t base;

	read_program();
	memset(&sb, 0, sizeof(sb));
	cr_assert_eq(guest_memory_init(&sb.vm.mem, RAM, 0, &err), 0, "%s", err.msg);
	cr_assert_eq(sb_cpu_write_tables(&sb, &err), 0, "%s", err.msg);
	cr_assert_eq(sb_program_base(elf, elf_size, PROGRAM, &base, &err), 0, "%s", err.msg);
	cr_assert_eq(sb_mm_init(&sb.mm, &sb.vm.mem, base, &err), 0, "%s", err.msg);
	cr_assert_eq(sb_load_program(&sb, elf, elf_size, PROGRAM, argv, envp, &entry, &sp, &err),
		     0, "%s", err.msg);
}

static void teardown(void)
{
	sb_mm_free(&sb.mm);
	guest_memory_free(&sb.vm.mem);
	free(elf);
}

TestSuite(sandbox_memory, .init = setup, .fini = teardown);

/* Read the guest's [va, va+len) through its page tables. */
static void read_virtual(gva_t va, void *buf, uint64_t len)
{
	gpa_t gpa;
	uint64_t span;
	cr_assert_eq(x86_translate(&sb.vm.mem, &paging, va, &gpa, &span), 0,
		     "0x%llx is not mapped", (unsigned long long)va);
	cr_assert_geq(span, len, "the test reads across a page");
	cr_assert_eq(guest_read(&sb.vm.mem, gpa, buf, len), 0);
}

Test(sandbox_memory, the_entry_holds_the_programs_bytes)
{
	struct elf_file f;
	struct elf_segment s;
	struct kvmini_error err;
	uint8_t code[16];

	cr_assert_eq(elf_read(&f, elf, elf_size, PROGRAM, &(struct elf_rules){ ELF_ACCEPT_64, 0 },
			      &err), 0);
	cr_assert_eq(entry, f.entry, "a static (non-PIE) program enters at e_entry");
	for (unsigned i = 0; elf_next_load(&f, &i, &s);) {
		if (entry < s.vaddr || entry + sizeof(code) > s.vaddr + s.filesz)
			continue;
		read_virtual(entry, code, sizeof(code));
		cr_assert_arr_eq(code, elf + s.offset + (entry - s.vaddr), sizeof(code));
		return;
	}
	cr_assert_fail("no segment holds the entry");
}

Test(sandbox_memory, the_stack_holds_argc_argv_and_envp)
{
	uint64_t words[5];
	char text[8];

	cr_assert_eq(sp % 16, 0);
	read_virtual(sp, words, sizeof(words));
	cr_assert_eq(words[0], 2, "argc");
	cr_assert_eq(words[3], 0, "argv ends");
	cr_assert_eq(words[4] != 0, 1, "envp[0]");
	read_virtual(words[1], text, 5);
	cr_assert_str_eq(text, "prog");
	read_virtual(words[2], text, 5);
	cr_assert_str_eq(text, "arg1");
	read_virtual(words[4], text, 4);
	cr_assert_str_eq(text, "K=V");
}

Test(sandbox_memory, the_guard_page_and_the_kernel_half)
{
	gpa_t gpa;
	uint64_t span, gdt_null;

	cr_assert_eq(x86_translate(&sb.vm.mem, &paging, sb.mm.mmap_top, &gpa, &span), -1,
		     "the guard page under the stack is not mapped");
	cr_assert_eq(x86_translate(&sb.vm.mem, &paging, SB_KERNEL_VA + SB_GDT_GPA, &gpa, &span),
		     0);
	cr_assert_eq(gpa, SB_GDT_GPA);
	read_virtual(SB_KERNEL_VA + SB_GDT_GPA, &gdt_null, 8);
	cr_assert_eq(gdt_null, 0);
}

Test(sandbox_memory, the_gdt_holds_linuxs_segments_and_the_tss)
{
	static const uint64_t want[7] = {
		0,
		0x00cf9b000000ffffULL,   /* 0x08 kernel code, 32-bit */
		0x00af9b000000ffffULL,   /* 0x10 kernel code, 64-bit */
		0x00cf93000000ffffULL,   /* 0x18 kernel data */
		0x00cffb000000ffffULL,   /* 0x20 user code, 32-bit */
		0x00cff3000000ffffULL,   /* 0x28 user data */
		0x00affb000000ffffULL,   /* 0x30 user code, 64-bit */
	};
	uint64_t gdt[7], tss[2];
	gva_t tss_base = SB_KERNEL_VA + SB_GDT_GPA + 0x100;

	cr_assert_eq(guest_read(&sb.vm.mem, SB_GDT_GPA, gdt, sizeof(gdt)), 0);
	for (unsigned i = 0; i < 7; i++)
		cr_assert_eq(gdt[i], want[i], "slot %u: 0x%016llx", i, (unsigned long long)gdt[i]);
	cr_assert_eq(guest_read(&sb.vm.mem, SB_GDT_GPA + SB_SEL_TSS, tss, sizeof(tss)), 0);
	cr_assert_eq(tss[0], 0x67 | (tss_base & 0xffffff) << 16 | 0x8bULL << 40 |
			     (tss_base >> 24 & 0xff) << 56);
	cr_assert_eq(tss[1], tss_base >> 32);
}

Test(sandbox_memory, the_host_view_stays_inside_the_window)
{
	const struct sb_mm *mm = &sb.mm;

	cr_assert_not_null(sb_mm_host(mm, mm->base, mm->size));
	cr_assert_eq(sb_mm_host(mm, mm->base, 1), guest_ptr(&sb.vm.mem, mm->gpa, 1));
	cr_assert_null(sb_mm_host(mm, mm->base, mm->size + 1), "one byte past the window");
	cr_assert_null(sb_mm_host(mm, mm->base - 1, 1), "below the window");
	cr_assert_null(sb_mm_host(mm, mm->base + mm->size - 8, 16), "straddling its end");
	cr_assert_null(sb_mm_host(mm, UINT64_MAX - 4, 8), "wrapping");
}

/* The leaf PTE of va, read from guest RAM as the CPU would. */
static uint64_t leaf_pte(gva_t va)
{
	uint64_t e;
	gpa_t table = SB_PML4_GPA;
	for (unsigned shift = 39; shift >= 12; shift -= 9) {
		cr_assert_eq(guest_read(&sb.vm.mem, (table & PTE_ADDR) + (va >> shift & 511) * 8,
					&e, 8), 0);
		if (shift == 12 || !(e & PTE_P))
			return e;
		table = e;
	}
	return 0;
}

Test(sandbox_memory, map_protect_and_unmap_rewrite_the_ptes_in_guest_ram)
{
	struct sb_mm *mm = &sb.mm;
	gva_t va = sb_mm_find_free(mm, 2 * SB_PAGE);
	const uint8_t byte = 0x5a;
	uint8_t back = 0;

	cr_assert_neq(va, 0);
	cr_assert_eq(leaf_pte(va) & PTE_P, 0, "a free page is not present");
	sb_mm_map(mm, va, 2 * SB_PAGE, SB_PG_R | SB_PG_W, true);
	cr_assert_eq(leaf_pte(va), sb_mm_gpa(mm, va) | PTE_P | PTE_W | PTE_U | PTE_A | PTE_D | PTE_NX);
	cr_assert_eq(sb_copy_out(&sb, va + SB_PAGE + 7, &byte, 1), 0);
	read_virtual(va + SB_PAGE + 7, &back, 1);
	cr_assert_eq(back, byte, "the program sees what the host wrote");

	sb_mm_protect(mm, va, SB_PAGE, SB_PG_R);
	cr_assert_eq(leaf_pte(va) & (PTE_P | PTE_W), PTE_P, "read-only now");
	cr_assert_null(sb_uptr(&sb, va, 1, SB_ACCESS_WRITE), "no host write to a read-only page");
	cr_assert_not_null(sb_uptr(&sb, va, 1, SB_ACCESS_READ));

	sb_mm_unmap(mm, va, 2 * SB_PAGE);
	cr_assert_eq(leaf_pte(va + SB_PAGE), 0, "unmapped: no PTE");
	cr_assert_eq(sb_copy_in(&sb, &back, va + SB_PAGE + 7, 1), -EFAULT);
	sb_mm_map(mm, va, 2 * SB_PAGE, SB_PG_R | SB_PG_W, true);
	cr_assert_eq(sb_copy_in(&sb, &back, va + SB_PAGE + 7, 1), 0);
	cr_assert_eq(back, 0, "a page mapped again reads as zeros");
}
