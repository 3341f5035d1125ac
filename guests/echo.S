/* Echoes COM1 input back to COM1 until a newline, by polling the line
 * status register's data-ready bit. Real mode, raw. Built with -DREADY
 * as echo_ready.bin, it first prints "ready" (guests/ready.h). */
#include "ready.h"
	.code16
	.globl _start
_start:
#ifdef READY
	print_ready
#endif
	mov $0x3fd, %dx
wait:
	in (%dx), %al
	test $1, %al             /* DR */
	jz wait
	mov $0x3f8, %dx
	in (%dx), %al
	out %al, (%dx)
	mov $0x3fd, %dx
	cmp $'\n', %al
	jne wait
	hlt
