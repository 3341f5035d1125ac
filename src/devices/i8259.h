/* The 8259A programmable interrupt controller pair of a PC, for the
 * split irqchip (with --irqchip kernel KVM emulates it instead): the
 * master at ports 0x20-0x21 takes ISA IRQs 0-7, the slave at 0xa0-0xa1
 * takes IRQs 8-15 and is cascaded on the master's input 2, and the edge/
 * level control registers (ELCR) sit at 0x4d0 (master) and 0x4d1.
 *
 * Each chip: ICW1-ICW4 initialization (ICW1 clears IMR, ISR and the
 * edge-triggered requests, selects IRR for reads and resets priority),
 * OCW1 (IMR at the data port), OCW2 (non-specific and specific EOI, the
 * rotate variants, set priority, rotate in auto-EOI mode), OCW3 (read
 * IRR or ISR at the command port, poll, special mask mode), auto-EOI
 * (ICW4 bit 1), single mode (ICW1 bit 1), level mode for the whole chip
 * (ICW1 LTIM) or per input (ELCR; IRQs 0, 1, 2, 8 and 13 are always
 * edge-triggered, as on a PIIX, so those ELCR bits read 0).
 *
 * Edge inputs latch a request on a rising edge, which stays in IRR
 * until acknowledged; level inputs show their line in IRR. Priority is
 * fully nested (with rotation). The master's INT output reaches the
 * boot CPU (LINT0, ExtINT); the CPU's acknowledge cycle is
 * i8259_acknowledge(), which returns the vector and, for the cascade,
 * acknowledges the slave too. No request: the spurious IRQ 7 (or 15)
 * vector, with no ISR bit set.
 *
 * Left out: special fully nested mode (ICW4 bit 4), buffered mode and
 * 8080 mode (ICW4 bits 0, 2, 3) and the 8080 call address (ICW1 bits 2,
 * 5-7) are accepted and ignored; the slave ID in ICW3 is not checked
 * (the slave is always on master input 2). */
#ifndef KVMINI_I8259_H
#define KVMINI_I8259_H

#include <stdbool.h>
#include <stdint.h>
#include "bus.h"
#include "error.h"
#include "state.h"

#define I8259_MASTER_PORT 0x20
#define I8259_SLAVE_PORT  0xa0
#define I8259_NPORTS      2       /* command, data */
#define I8259_ELCR_PORT   0x4d0   /* master's ELCR; the slave's follows */
#define I8259_ELCR_NPORTS 2
#define I8259_CASCADE_IRQ 2

/* Where the master's INT output goes. changed() is called with the new
 * level each time it changes, with the PIC's lock held: it must not call
 * back into the PIC. */
struct i8259_output {
	void (*changed)(void *ctx, bool level);
	void *ctx;
};

struct i8259;

/* out may be NULL. Returns NULL when out of memory. */
struct i8259 *i8259_create(const struct i8259_output *out);
void i8259_destroy(struct i8259 *pic);

/* Bus callbacks; opaque is the struct i8259 *. Any thread. */
extern const struct bus_device_ops i8259_master_ops;   /* 0x20-0x21 */
extern const struct bus_device_ops i8259_slave_ops;    /* 0xa0-0xa1 */
extern const struct bus_device_ops i8259_elcr_ops;     /* 0x4d0-0x4d1 */

/* Drive ISA IRQ line `irq` (0-15; 2 is the cascade and is ignored). */
void i8259_set_irq(struct i8259 *pic, unsigned irq, bool level);

/* The master's INT output: an interrupt waits for the CPU. */
bool i8259_output(struct i8259 *pic);

/* The CPU's interrupt acknowledge: the vector to deliver. */
uint8_t i8259_acknowledge(struct i8259 *pic);

/* Both chips' state as a versioned record (a snapshot's): IRR, ISR,
 * IMR, the lines' levels (edge detection), ELCR, ICW2's vector base,
 * the priority rotation, the position in the ICW sequence and every
 * mode bit. i8259_restore() reads it back from hostile bytes: it checks
 * every value and changes nothing when one is impossible (status 2
 * message); otherwise the INT output is computed again and, if it
 * changed, reported. */
void i8259_save(struct i8259 *pic, struct state_writer *w);
int i8259_restore(struct i8259 *pic, struct state_reader *r, struct kvmini_error *err);

#endif
