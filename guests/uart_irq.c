/* Interrupt-driven COM1 echo: the receive interrupt (IRQ 4 through the
 * PIC) drains the FIFO and echoes each byte; a newline ends the guest.
 * Nothing polls for input. Needs --irqchip kernel. */
#include "guest.h"
#include "intr.h"

static volatile int done;
static volatile unsigned interrupts;

__attribute__((interrupt)) static void on_com1(struct interrupt_frame *frame)
{
	(void)frame;
	interrupts++;
	while (inb(COM1 + 5) & 0x01) {           /* data ready */
		char c = (char)inb(COM1);
		serial_putc(c);
		if (c == '\n')
			done = 1;
	}
	pic_eoi(4);
}

int main(void)
{
	idt_set(PIC_VECTOR_BASE + 4, on_com1);
	pic_init();
	pic_unmask(4);
	outb(COM1 + 4, 0x0b);                    /* DTR, RTS, OUT2 (IRQ enable on PCs) */
	outb(COM1 + 1, 0x01);                    /* IER: received data available */
	while (!done)
		sti_hlt();
	cli();
	serial_puts(interrupts ? "uart irq: echoed by interrupt\n" : "uart irq: no interrupt\n");
	return 0;
}
