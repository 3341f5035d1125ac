/* Programs the local APIC timer in periodic mode, counts 50 of its
 * interrupts and reports. Needs --irqchip kernel. */
#include "guest.h"
#include "intr.h"

#define WANTED 50
#define TIMER_VECTOR 0x40

static volatile unsigned ticks;

__attribute__((interrupt)) static void on_timer(struct interrupt_frame *frame)
{
	(void)frame;
	if (ticks < WANTED)   /* one more may come before the cli on a slow host */
		ticks++;
	lapic_write(LAPIC_EOI, 0);
}

int main(void)
{
	idt_set(TIMER_VECTOR, on_timer);
	lapic_write(LAPIC_SVR, 0x1ff);                  /* software-enable the APIC */
	lapic_write(LAPIC_TIMER_DIVIDE, 0x3);            /* divide by 16 */
	lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR | (1u << 17));   /* periodic */
	lapic_write(LAPIC_TIMER_INIT, 100000);
	while (ticks < WANTED)
		sti_hlt();
	cli();
	lapic_write(LAPIC_LVT_TIMER, 1u << 16);          /* masked */
	serial_puts("lapic timer: ");
	serial_put_dec(ticks);
	serial_puts(" interrupts\n");
	return 0;
}
