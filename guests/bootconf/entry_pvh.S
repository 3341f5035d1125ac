/* The conformance kernel's PVH entry: 32-bit protected mode, paging
 * off, EBX = the hvm_start_info. The Xen note XEN_ELFNOTE_PHYS32_ENTRY
 * (name "Xen", type 18) tells the loader where this entry is. The CPU
 * state at entry is saved before anything changes it, for startinfo.c
 * to check; the slots are 64-bit like the bzImage's, so check.c sees
 * one layout. */
#include "bootconf.h"

#define SLOT(n) (8 * (n))
#define MSR_EFER 0xc0000080
#define XEN_ELFNOTE_PHYS32_ENTRY 18

	.section .note.Xen, "a", @note
	.balign 4
	.long 2f - 1f            /* name size */
	.long 4f - 3f            /* descriptor size */
	.long XEN_ELFNOTE_PHYS32_ENTRY
1:	.asciz "Xen"
2:	.balign 4
3:	.long pvh_start
4:	.balign 4

	.section .text.start, "ax"
	.code32
	.globl pvh_start
pvh_start:
	mov $boot_stack_top, %esp       /* no stack is promised */
	pushfl
	popl entry_state + SLOT(ENTRY_FLAGS)
	mov %ebx, entry_state + SLOT(ENTRY_ARG)
	movw %cs, entry_state + SLOT(ENTRY_CS)
	movw %ds, entry_state + SLOT(ENTRY_DS)
	movw %es, entry_state + SLOT(ENTRY_ES)
	movw %ss, entry_state + SLOT(ENTRY_SS)
	mov %cr0, %eax
	mov %eax, entry_state + SLOT(ENTRY_CR0)
	mov %cr4, %eax
	mov %eax, entry_state + SLOT(ENTRY_CR4)
	mov $MSR_EFER, %ecx
	rdmsr
	mov %eax, entry_state + SLOT(ENTRY_EFER)
	mov %edx, entry_state + SLOT(ENTRY_EFER) + 4
	movl $pvh_start, entry_state + SLOT(ENTRY_LOAD)
	sgdt entry_gdtr
	/* Zero the BSS (the stack in it holds nothing yet). */
	mov $__bss_start, %edi
	mov $_end, %ecx
	sub %edi, %ecx
	xor %eax, %eax
	rep stosb
	mov $boot_stack_top, %esp
	push %ebx
	call pvh_main
	push %eax
	call guest_exit
5:	hlt
	jmp 5b

#include "entry_data.S"
