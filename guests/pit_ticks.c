/* Counts 8254 PIT interrupts at 1 kHz through the 8259 PIC and prints
 * the count after each, "tick 1" to "tick 3000", then "done": for the
 * snapshot tests. A VM snapshotted mid-count and restored must count on,
 * each number printed once, so both chips' programming, a request in
 * flight and the PIT's running count must come through the snapshot
 * (a lost one stops the ticks, and the guest halts for ever). Needs an
 * irqchip. */
#include "guest.h"
#include "intr.h"

#define WANTED 3000

static volatile unsigned ticks;

__attribute__((interrupt)) static void on_timer(struct interrupt_frame *frame)
{
	(void)frame;
	ticks++;
	pic_eoi(0);
}

int main(void)
{
	idt_set(PIC_VECTOR_BASE + 0, on_timer);
	pic_init();
	pic_unmask(0);
	serial_puts("ready\n");
	pit_start(1000);
	/* Printing takes longer than a tick may: the count is printed
	 * number by number, however many ticks came meanwhile. */
	unsigned printed = 0;
	while (printed < WANTED) {
		sti_hlt();
		cli();
		while (printed < ticks && printed < WANTED) {
			printed++;
			serial_puts("tick ");
			serial_put_dec(printed);
			serial_putc('\n');
		}
	}
	serial_puts("done\n");
	return 0;
}
