/* Never ends: for --timeout. Real mode, raw. Built with -DREADY as
 * loop_ready.bin, it first prints "ready" (guests/ready.h). */
#include "ready.h"
	.code16
	.globl _start
_start:
#ifdef READY
	print_ready
#endif
spin:
	jmp spin
