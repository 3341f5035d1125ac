/* Hello in 32-bit protected mode: an ELF32 executable at 1 MiB. */
	.code32
	.globl _start
_start:
	mov $message, %esi
	mov $0x3f8, %dx
next:
	lodsb
	test %al, %al
	jz done
	out %al, (%dx)
	jmp next
done:
	hlt
message:
	.asciz "Hello from protected mode!\n"
