/* The interrupt-line handle a device is given. Devices raise and lower
 * their line through it and never call an ioctl; the machine decides
 * what a line is wired to (nothing, in-kernel irqchip, kvmini's own). */
#ifndef KVMINI_IRQ_H
#define KVMINI_IRQ_H

#include <stdbool.h>
#include <stddef.h>

struct irq_line {
	void (*set_level)(void *ctx, unsigned line, bool level);
	void *ctx;
	unsigned line;     /* ISA IRQ / GSI number */
};

static inline void irq_line_set(const struct irq_line *irq, bool level)
{
	if (irq && irq->set_level)
		irq->set_level(irq->ctx, irq->line, level);
}

#endif
