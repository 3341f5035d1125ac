/* Writes a line to the debug console at port 0xe9, after checking that
 * a read of the port answers 0xe9. Real mode, raw. */
	.code16
	.globl _start
_start:
	in $0xe9, %al
	cmp $0xe9, %al
	jne fail
	mov $message, %si
	mov $(message_end - message), %cx
	mov $0xe9, %dx
	rep outsb
	hlt
fail:
	mov $1, %al
	out %al, $0xf4
message:
	.ascii "debugcon ok\n"
message_end:
