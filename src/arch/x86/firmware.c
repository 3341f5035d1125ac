#include "arch/x86/firmware.h"

uint16_t x86_firmware_isa_irqs(const struct x86_firmware_desc *desc, uint16_t *level)
{
	uint16_t mask = 0, lvl = 0;
	for (size_t d = 0; d < desc->ndevices; d++) {
		const struct resources *res = desc->devices[d];
		for (unsigned i = 0; i < res->nirqs; i++) {
			unsigned line = res->irqs[i].line;
			if (line >= X86_ISA_IRQS || line == X86_ISA_CASCADE_IRQ)
				continue;
			mask |= (uint16_t)(1u << line);
			if (res->irqs[i].level)
				lvl |= (uint16_t)(1u << line);
		}
	}
	if (level)
		*level = lvl;
	return mask;
}
