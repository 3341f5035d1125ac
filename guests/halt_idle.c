/* Waits for ever in hlt (issue 14: the host CPU must stay idle while a
 * guest does): announces it, then `cli; hlt` -- or, built with
 * -DSTI_HLT, `sti; hlt` with every interrupt source masked, so nothing
 * ever wakes it. kvmini must sleep until --timeout ends it. */
#include "guest.h"
#include "intr.h"

int main(void)
{
	pic_init();                        /* every 8259 line masked */
#ifdef STI_HLT
	serial_puts("halt: waiting in sti; hlt\n");
	for (;;)
		sti_hlt();
#else
	serial_puts("halt: waiting in cli; hlt\n");
	for (;;)
		__asm__ volatile("cli; hlt" ::: "memory");
#endif
}
