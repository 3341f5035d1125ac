/* A level-triggered IOAPIC interrupt and its EOI: COM1's THR-empty
 * interrupt (IRQ 4, asserted until the guest reads IIR or writes THR)
 * is routed through IOAPIC pin 4 as level-triggered. The handler leaves
 * the line asserted and only EOIs the local APIC, so the interrupt comes
 * back only if the IOAPIC hears the EOI, clears remote IRR and sends
 * again (with --irqchip split: KVM_EXIT_IOAPIC_EOI). After WANTED
 * interrupts the handler disables the UART interrupt, and the guest
 * reports how many came and remote IRR during and after. Needs an
 * irqchip (kernel or split).
 *
 * It waits by spinning rather than in hlt: a PVM host's KVM EOIs a
 * vector as it injects it, and with the split irqchip it reports that
 * EOI (KVM_EXIT_IOAPIC_EOI) only the next time the vCPU enters the
 * guest, which a halted vCPU would not do. */
#include "guest.h"
#include "intr.h"

#define WANTED  10
#define VECTOR  0x41
#define IOAPIC  0xfec00000UL
#define PIN     4
#define RTE_REMOTE_IRR (1u << 14)
#define RTE_LEVEL      (1u << 15)
#define RTE_MASKED     (1u << 16)

static volatile unsigned interrupts;
static volatile uint32_t entry_in_handler;

static uint32_t ioapic_read(unsigned reg)
{
	*(volatile uint32_t *)IOAPIC = reg;
	return *(volatile uint32_t *)(IOAPIC + 0x10);
}

static void ioapic_write(unsigned reg, uint32_t value)
{
	*(volatile uint32_t *)IOAPIC = reg;
	*(volatile uint32_t *)(IOAPIC + 0x10) = value;
}

__attribute__((interrupt)) static void on_com1(struct interrupt_frame *frame)
{
	(void)frame;
	if (interrupts++ == 0)
		entry_in_handler = ioapic_read(0x10 + 2 * PIN);
	if (interrupts == WANTED)
		outb(COM1 + 1, 0);                  /* IER: no interrupts; the line drops */
	lapic_write(LAPIC_EOI, 0);              /* the line stays up until then */
}

int main(void)
{
	idt_set(VECTOR, on_com1);
	pic_init();                              /* every 8259 input masked */
	lapic_write(LAPIC_SVR, 0x1ff);
	ioapic_write(0x11 + 2 * PIN, 0);         /* destination: APIC ID 0 */
	ioapic_write(0x10 + 2 * PIN, VECTOR | RTE_LEVEL);
	outb(COM1 + 4, 0x08);                    /* OUT2 */
	outb(COM1 + 1, 0x02);                    /* IER: THR empty, asserted at once */
	sti();                                   /* wait by spinning, not hlt: see above */
	while (interrupts < WANTED)
		__asm__ volatile("pause");
	cli();
	uint32_t after = ioapic_read(0x10 + 2 * PIN);
	ioapic_write(0x10 + 2 * PIN, VECTOR | RTE_LEVEL | RTE_MASKED);
	serial_puts("ioapic level: ");
	serial_put_dec(interrupts);
	serial_puts(" interrupts, remote irr ");
	serial_put_dec((entry_in_handler & RTE_REMOTE_IRR) != 0);
	serial_puts(" in the handler, ");
	serial_put_dec((after & RTE_REMOTE_IRR) != 0);
	serial_puts(" after\n");
	return 0;
}
