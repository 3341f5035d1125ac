/* For raw real-mode guests: print "ready\n" on COM1, the line a test
 * waits for before it types at the guest or signals kvmini, so it never
 * has to guess how long start-up takes. Clobbers AL and DX. */
	.macro print_ready
	mov $0x3f8, %dx
	.irp c, 'r', 'e', 'a', 'd', 'y', '\n'
	mov $\c, %al
	out %al, (%dx)
	.endr
	.endm
