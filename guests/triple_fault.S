/* Triple-faults on purpose: with an empty IDT, the invalid opcode (#UD)
 * cannot be delivered (#GP), nor can that (#DF): the CPU shuts down. */
	.code32
	.globl _start
_start:
	lidt empty_idt
	ud2
empty_idt:
	.word 0
	.long 0
