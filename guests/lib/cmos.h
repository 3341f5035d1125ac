/* The CMOS RAM and real-time clock behind ports 0x70 (index) and 0x71
 * (data). */
#ifndef KVMINI_GUEST_CMOS_H
#define KVMINI_GUEST_CMOS_H

#include <stdint.h>
#include "guest.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA  0x71

static inline uint8_t cmos_read(uint8_t reg)
{
	outb(CMOS_INDEX, reg);
	return inb(CMOS_DATA);
}

static inline void cmos_write(uint8_t reg, uint8_t value)
{
	outb(CMOS_INDEX, reg);
	outb(CMOS_DATA, value);
}

#endif
