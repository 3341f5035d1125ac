/* A hostile guest: floods an output port with `rep outsb` of 64 KiB at a
 * time, for ever. Built twice: FLOOD_PORT 0x3f8 (COM1, outs_flood_com1.bin)
 * and 0xe9 (the debug console, outs_flood_debugcon.bin). With nobody
 * reading kvmini's output it must still end at --timeout or a signal.
 * Real mode, raw. */
	.code16
	.globl _start
_start:
	cld
	xor %ax, %ax
	mov %ax, %ds
again:
	mov $FLOOD_PORT, %dx
	mov $0x7c00, %si
	mov $0xffff, %cx
	rep outsb
	jmp again
