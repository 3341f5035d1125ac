/* Doorbells answered by interrupts: rings DOORBELLS doorbells, each a
 * write to port 0x510 or (every other one, unless PORT_ONLY) a 32-bit
 * write to the MMIO address 0xd0000000, and waits after each for the
 * interrupt it should bring: IOAPIC pin 10, edge-triggered, vector 0x42.
 * On the host the doorbells are ioeventfds (no exit), a device on the
 * event loop answers through an irqfd; or, for the benchmark's
 * comparison, plain port I/O exits whose handler raises the line.
 * Announces the loop's start and end on port 0x81 (for timing), then
 * reports the number of interrupts handled through debug-exit: status
 * (count << 1) | 1. Needs an irqchip (kernel or split); the 8259 stays
 * masked, so only the IOAPIC can deliver. */
#include "guest.h"
#include "intr.h"

#ifndef DOORBELLS
#define DOORBELLS 40
#endif
#define DOORBELL_PORT 0x510
#define DOORBELL_MMIO 0xd0000000UL
#define MARK_PORT     0x81
#define VECTOR        0x42
#define PIN           10
#define IOAPIC        0xfec00000UL

static volatile unsigned handled;

static void ioapic_write(unsigned reg, uint32_t value)
{
	*(volatile uint32_t *)IOAPIC = reg;
	*(volatile uint32_t *)(IOAPIC + 0x10) = value;
}

__attribute__((interrupt)) static void on_doorbell_irq(struct interrupt_frame *frame)
{
	(void)frame;
	handled++;
	lapic_write(LAPIC_EOI, 0);
}

static void ring(unsigned i)
{
#ifdef PORT_ONLY
	(void)i;
	outb(DOORBELL_PORT, 1);
#else
	if (i % 2 == 0)
		outb(DOORBELL_PORT, 1);
	else
		*(volatile uint32_t *)DOORBELL_MMIO = i;
#endif
}

int main(void)
{
	idt_set(VECTOR, on_doorbell_irq);
	pic_init();                              /* every 8259 input masked */
	lapic_write(LAPIC_SVR, 0x1ff);
	ioapic_write(0x11 + 2 * PIN, 0);         /* destination: APIC ID 0 */
	ioapic_write(0x10 + 2 * PIN, VECTOR);    /* fixed, edge, unmasked */
	outb(MARK_PORT, 0);
	for (unsigned i = 0; i < DOORBELLS; i++) {
		ring(i);
		/* cli until the check, sti;hlt: no interrupt slips between. */
		cli();
		while (handled <= i) {
			sti_hlt();
			cli();
		}
	}
	outb(MARK_PORT, 1);
	guest_exit(handled);
}
