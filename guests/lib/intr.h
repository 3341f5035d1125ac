/* Interrupts for long-mode C guests: an IDT of interrupt gates, the
 * 8259 PIC pair, the 8254 PIT and the local APIC. */
#ifndef KVMINI_GUEST_INTR_H
#define KVMINI_GUEST_INTR_H

#include <stdint.h>

struct interrupt_frame;
typedef void interrupt_handler(struct interrupt_frame *frame);

#define PIC_VECTOR_BASE 0x20     /* IRQ n arrives as vector 0x20 + n */
#define LAPIC_BASE 0xfee00000UL

/* Install `handler` for `vector` and load the IDT (64-bit code selector 0x18). */
void idt_set(uint8_t vector, interrupt_handler *handler);

void pic_init(void);             /* remap to PIC_VECTOR_BASE, mask everything */
void pic_unmask(unsigned irq);
void pic_eoi(unsigned irq);

/* Program PIT channel 0 as a rate generator at `hz` interrupts a second. */
void pit_start(unsigned hz);

static inline uint32_t lapic_read(unsigned reg)
{
	return *(volatile uint32_t *)(LAPIC_BASE + reg);
}

static inline void lapic_write(unsigned reg, uint32_t value)
{
	*(volatile uint32_t *)(LAPIC_BASE + reg) = value;
}

enum {
	LAPIC_ID = 0x20, LAPIC_EOI = 0xb0, LAPIC_SVR = 0xf0, LAPIC_ICR_LOW = 0x300,
	LAPIC_ICR_HIGH = 0x310, LAPIC_LVT_TIMER = 0x320, LAPIC_TIMER_INIT = 0x380,
	LAPIC_TIMER_CURRENT = 0x390, LAPIC_TIMER_DIVIDE = 0x3e0,
};

static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
/* Enable interrupts and wait for one, with no window between the two. */
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }


#endif
