/* What both entry paths of the conformance kernel share: where the entry
 * code saves the CPU state it found (entry_state, read by the checks),
 * the GDTR it found, and the boot stack. Included at the end of
 * entry64.S and entry_pvh.S. */
	.data
	.balign 8
	.globl entry_state, entry_gdtr
entry_state:
	.quad 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
entry_gdtr:
	.quad 0, 0

	.bss
	.balign 16
	.space 8192
boot_stack_top:
	.section .note.GNU-stack,"",@progbits
