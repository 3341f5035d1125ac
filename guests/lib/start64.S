/* Entry of the long-mode C guests: kvmini enters at _start in 64-bit
 * mode on identity-mapped pages (docs/entry-state.md). Set a stack of
 * our own, run main, and report its result through debug-exit. */
	.code64
	.globl _start
_start:
	lea stack_top(%rip), %rsp
	call main
	mov %eax, %edi
	call guest_exit
1:	hlt
	jmp 1b

	.bss
	.balign 16
	.space 16384
stack_top:
	.section .note.GNU-stack,"",@progbits
