#include "guest.h"
#include "intr.h"

struct idt_gate {
	uint16_t offset_low;
	uint16_t selector;
	uint8_t ist;
	uint8_t type;      /* 0x8e: present, DPL 0, 64-bit interrupt gate */
	uint16_t offset_mid;
	uint32_t offset_high;
	uint32_t reserved;
} __attribute__((packed));

static struct idt_gate idt[256] __attribute__((aligned(16)));

void idt_set(uint8_t vector, interrupt_handler *handler)
{
	uint64_t a = (uint64_t)handler;
	idt[vector] = (struct idt_gate){
		.offset_low = (uint16_t)a, .selector = 0x18, .type = 0x8e,
		.offset_mid = (uint16_t)(a >> 16), .offset_high = (uint32_t)(a >> 32),
	};
	struct { uint16_t limit; uint64_t base; } __attribute__((packed)) idtr = {
		sizeof(idt) - 1, (uint64_t)idt,
	};
	__asm__ volatile("lidt %0" : : "m"(idtr));
}

enum { PIC1 = 0x20, PIC2 = 0xa0 };

void pic_init(void)
{
	outb(PIC1, 0x11);                    /* ICW1: init, ICW4 follows */
	outb(PIC2, 0x11);
	outb(PIC1 + 1, PIC_VECTOR_BASE);     /* ICW2: vector base */
	outb(PIC2 + 1, PIC_VECTOR_BASE + 8);
	outb(PIC1 + 1, 0x04);                /* ICW3: slave on IRQ 2 */
	outb(PIC2 + 1, 0x02);
	outb(PIC1 + 1, 0x01);                /* ICW4: 8086 mode */
	outb(PIC2 + 1, 0x01);
	outb(PIC1 + 1, 0xfb);                /* mask all but the cascade */
	outb(PIC2 + 1, 0xff);
}

void pic_unmask(unsigned irq)
{
	uint16_t port = irq < 8 ? PIC1 + 1 : PIC2 + 1;
	outb(port, inb(port) & (uint8_t)~(1u << (irq & 7)));
}

void pic_eoi(unsigned irq)
{
	if (irq >= 8)
		outb(PIC2, 0x20);
	outb(PIC1, 0x20);
}

void pit_start(unsigned hz)
{
	uint32_t divisor = 1193182u / hz;
	outb(0x43, 0x34);                    /* channel 0, lo/hi byte, mode 2 */
	outb(0x40, (uint8_t)divisor);
	outb(0x40, (uint8_t)(divisor >> 8));
}
