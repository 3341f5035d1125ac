/* String I/O: one `rep outsb` of a whole line to COM1 (one exit with
 * count > 1), then a `rep insw` of four words from an unclaimed port,
 * which must fill the buffer with all-ones. Real mode, raw. */
	.code16
	.globl _start
_start:
	cld
	mov $line, %si
	mov $(line_end - line), %cx
	mov $0x3f8, %dx
	rep outsb
	xor %ax, %ax
	mov %ax, %es
	mov $buffer, %di
	mov $4, %cx
	mov $0x84, %dx
	rep insw
	mov $buffer, %si
	mov $4, %cx
check:
	lodsw
	cmp $0xffff, %ax
	jne bad
	loop check
	mov $ok, %si
	jmp print
bad:
	mov $not_ok, %si
print:
	mov $3, %cx
	mov $0x3f8, %dx
	rep outsb
	hlt
line:
	.ascii "string I/O works\n"
line_end:
ok:
	.ascii "ff\n"
not_ok:
	.ascii "??\n"
buffer:
	.word 0, 0, 0, 0
