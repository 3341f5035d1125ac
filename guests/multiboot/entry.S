/* The Multiboot conformance kernel's header and entry. Built twice: as
 * an ELF32 loaded by its program headers (header flags 0 and 1), and
 * with -DKLUDGE as a flat binary that only the header's address fields
 * (flag 16) describe. The CPU state at entry is saved before anything
 * changes it, for check.c. */
#define MB_MAGIC 0x1BADB002
#ifdef KLUDGE
#define MB_FLAGS 0x00010003
#else
#define MB_FLAGS 0x00000003
#endif
#define MSR_EFER 0xc0000080

	.section .text.start, "ax"
	.code32
	.balign 4
mb_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
	/* Address fields (flag 16): the file is the memory image from
	 * load_addr on; BSS up to bss_end_addr. */
	.long mb_header
	.long __load_start
	.long __load_end
	.long _end
	.long mb_start

	.globl mb_start
mb_start:
	mov %eax, entry_regs + 0
	mov %ebx, entry_regs + 4
	mov $boot_stack_top, %esp        /* no stack is promised: use ours */
	pushfl
	popl entry_regs + 8
	mov %cr0, %eax
	mov %eax, entry_regs + 12
	mov %cr4, %eax
	mov %eax, entry_regs + 16
	mov $MSR_EFER, %ecx
	rdmsr
	mov %eax, entry_regs + 20
	movw %cs, entry_regs + 24
	movw %ds, entry_regs + 26
	/* Zero the BSS (the stack in it holds nothing yet). */
	mov $__bss_start, %edi
	mov $_end, %ecx
	sub %edi, %ecx
	xor %eax, %eax
	rep stosb
	mov $boot_stack_top, %esp
	call mb_main
	push %eax
	call guest_exit
1:	hlt
	jmp 1b

	.data
	.balign 4
	.globl entry_regs
entry_regs:                          /* eax, ebx, eflags, cr0, cr4, efer, cs, ds */
	.long 0, 0, 0, 0, 0, 0, 0

	.bss
	.balign 16
	.space 8192
boot_stack_top:
	.section .note.GNU-stack,"",@progbits
