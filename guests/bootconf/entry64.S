/* The protected-mode part of the conformance bzImage. Offset 0 would be
 * the 32-bit entry, which this kernel does not offer (only the 64-bit
 * boot protocol can start it); the 64-bit entry is at offset 0x200, as
 * XLF_KERNEL_64 promises. Position-independent: a relocatable kernel
 * may be loaded anywhere kernel_alignment allows. The CPU state at entry
 * is saved before anything changes it, for zeropage.c to check. */
#include "bootconf.h"

#define SLOT(n) (8 * (n))
#define MSR_EFER 0xc0000080

	.section .text.head, "ax"
	.code32
	.globl startup_32
startup_32:
1:	hlt
	jmp 1b

	.org 0x200
	.code64
	.globl startup_64
startup_64:
	/* No stack is promised: take our own before pushfq. */
	lea boot_stack_top(%rip), %rsp
	pushfq
	pop %rax
	lea entry_state(%rip), %rdi
	mov %rax, SLOT(ENTRY_FLAGS)(%rdi)
	mov %rsi, SLOT(ENTRY_ARG)(%rdi)
	movw %cs, SLOT(ENTRY_CS)(%rdi)
	movw %ds, SLOT(ENTRY_DS)(%rdi)
	movw %es, SLOT(ENTRY_ES)(%rdi)
	movw %ss, SLOT(ENTRY_SS)(%rdi)
	mov %cr0, %rax
	mov %rax, SLOT(ENTRY_CR0)(%rdi)
	mov %cr4, %rax
	mov %rax, SLOT(ENTRY_CR4)(%rdi)
	mov %rsi, %rbx                  /* keep the zero page */
	mov $MSR_EFER, %ecx
	rdmsr
	mov %eax, SLOT(ENTRY_EFER)(%rdi)
	mov %edx, SLOT(ENTRY_EFER) + 4(%rdi)
	lea startup_32(%rip), %rax
	mov %rax, SLOT(ENTRY_LOAD)(%rdi)
	sgdt entry_gdtr(%rip)
	/* Zero the BSS (the stack in it holds nothing yet). */
	lea __bss_start(%rip), %rdi
	lea _end(%rip), %rcx
	sub %rdi, %rcx
	xor %eax, %eax
	rep stosb
	lea boot_stack_top(%rip), %rsp
	mov %rbx, %rdi
	call bzimage_main
	mov %eax, %edi
	call guest_exit
2:	hlt
	jmp 2b

#include "entry_data.S"
