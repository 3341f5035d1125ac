/* Installs an IDT, programs the 8254 PIT at 1 kHz through the 8259 PIC,
 * counts 50 timer interrupts and reports. Needs --irqchip kernel. */
#include "guest.h"
#include "intr.h"

#define WANTED 50

static volatile unsigned ticks;

__attribute__((interrupt)) static void on_timer(struct interrupt_frame *frame)
{
	(void)frame;
	if (ticks < WANTED)   /* one more may come before the cli on a slow host */
		ticks++;
	pic_eoi(0);
}

int main(void)
{
	idt_set(PIC_VECTOR_BASE + 0, on_timer);
	pic_init();
	pic_unmask(0);
	pit_start(1000);
	while (ticks < WANTED)
		sti_hlt();
	cli();
	serial_puts("pit: ");
	serial_put_dec(ticks);
	serial_puts(" interrupts\n");
	return 0;
}
