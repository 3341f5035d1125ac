/* The built-in demo: the classic first KVM guest. Real mode, loaded at
 * 0x7c00: add 2 and 2, print the digit and a newline on COM1, halt. */
	.code16
	.globl _start
_start:
	mov $2, %al
	mov $2, %bl
	mov $0x3f8, %dx
	add %bl, %al
	add $'0', %al
	out %al, (%dx)
	mov $'\n', %al
	out %al, (%dx)
	hlt
