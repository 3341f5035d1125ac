/* Never ends: for --timeout. Real mode, raw. */
	.code16
	.globl _start
_start:
	jmp _start
