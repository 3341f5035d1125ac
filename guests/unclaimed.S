/* Reads an unclaimed port (must read all-ones), prints "ff" or "??",
 * then writes an unclaimed port (ignored unless --strict-io). */
	.code16
	.globl _start
_start:
	mov $0x3f8, %dx
	in $0x81, %al
	cmp $0xff, %al
	jne bad
	mov $'f', %al
	out %al, (%dx)
	out %al, (%dx)
	jmp written
bad:
	mov $'?', %al
	out %al, (%dx)
	out %al, (%dx)
written:
	mov $'\n', %al
	out %al, (%dx)
	out %al, $0x80
	hlt
