/* For `make bench` (figure e): announces readiness on port 0x81, then
 * answers every IRQ 4 with a write to port 0x80 from its handler, so
 * the host can time a device raising the line to the handler running.
 * Runs until the host stops it. Needs --irqchip kernel. */
#include "guest.h"
#include "intr.h"

#define HANDLED_PORT 0x80
#define READY_PORT 0x81

__attribute__((interrupt)) static void on_irq4(struct interrupt_frame *frame)
{
	(void)frame;
	outb(HANDLED_PORT, 1);
	pic_eoi(4);
}

int main(void)
{
	idt_set(PIC_VECTOR_BASE + 4, on_irq4);
	pic_init();
	pic_unmask(4);
	outb(READY_PORT, 1);
	for (;;)
		sti_hlt();
}
