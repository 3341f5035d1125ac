/* Hello in real mode: a raw image at 0x7c00 (cs = ds = 0). Polls the
 * UART's line status for an empty transmitter before each byte. */
	.code16
	.globl _start
_start:
	mov $message, %si
next:
	lodsb
	test %al, %al
	jz done
	mov %al, %bl
	mov $0x3fd, %dx          /* line status register */
wait:
	in (%dx), %al
	test $0x20, %al          /* THRE */
	jz wait
	mov $0x3f8, %dx
	mov %bl, %al
	out %al, (%dx)
	jmp next
done:
	hlt
message:
	.asciz "Hello from real mode!\n"
