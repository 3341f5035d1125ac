/* The I/O APIC (an 82093AA as KVM models it: version 0x11, 24 pins) at
 * MMIO 0xfec00000, for the split irqchip (with --irqchip kernel KVM
 * emulates it instead).
 *
 * Offset 0x00 is IOREGSEL (the register number, low byte), offset 0x10
 * IOWIN (the selected register, 32-bit accesses; a narrower IOWIN write
 * is ignored, a narrower read returns the low bytes). Registers: 0x00 ID
 * (bits 24-31: eight bits, so the ID the firmware tables give, the vCPU
 * count, fits beyond 15 vCPUs), 0x01 version (0x00170011: 24 entries,
 * version 0x11), 0x02 arbitration ID (reads as the ID), 0x10 + 2n and
 * 0x11 + 2n redirection entry n (low and high dword). Delivery status
 * (bit 12) reads 0 and, like remote IRR (bit 14), ignores writes. Every
 * entry starts masked. Other offsets and registers read 0.
 *
 * A pin's level is "asserted" (the polarity bit is stored but the lines
 * kvmini drives are already active-high logic). Edge-triggered: a rising
 * edge on an unmasked pin sends its message once; edges while masked are
 * lost. Level-triggered: an asserted, unmasked pin sends its message and
 * sets remote IRR; a local APIC's EOI of that vector (ioapic_eoi())
 * clears remote IRR and sends again while the pin is still asserted, as
 * does unmasking an asserted pin.
 *
 * The IOAPIC sends nothing itself: each entry is an MSI (address
 * 0xfee00000 | destination << 12 | logical << 2, data = vector |
 * delivery mode << 8 | level << 14 | trigger << 15) that the sink
 * installs and sends. Entries with delivery mode ExtINT (7) send
 * nothing: the 8259's path to the CPU is the boot CPU's LINT0 (virtual
 * wire mode A), not the IOAPIC, and a local APIC ignores such messages. */
#ifndef KVMINI_IOAPIC_H
#define KVMINI_IOAPIC_H

#include <stdbool.h>
#include <stdint.h>
#include "bus.h"
#include "error.h"
#include "state.h"

#define IOAPIC_MMIO_BASE 0xfec00000ULL
#define IOAPIC_MMIO_SIZE 0x1000
#define IOAPIC_PINS      24
#define IOAPIC_VERSION   0x11

struct ioapic_msi {
	uint64_t address;
	uint32_t data;
};

/* Where the messages go; called with the IOAPIC's lock held, so they
 * must not call back into the IOAPIC. */
struct ioapic_sink {
	/* Install the messages of all IOAPIC_PINS pins (after some changed,
	 * and before the next send). */
	void (*program)(void *ctx, const struct ioapic_msi msgs[IOAPIC_PINS]);
	/* Send pin's message, as last programmed. */
	void (*send)(void *ctx, unsigned pin, const struct ioapic_msi *msg);
	void *ctx;
};

struct ioapic;

/* id: the IOAPIC ID register's reset value. sink may be NULL (nothing
 * is delivered). Returns NULL when out of memory. */
struct ioapic *ioapic_create(uint8_t id, const struct ioapic_sink *sink);
void ioapic_destroy(struct ioapic *ioapic);

/* Bus callbacks for [IOAPIC_MMIO_BASE, + IOAPIC_MMIO_SIZE); opaque is
 * the struct ioapic *. Any thread. */
extern const struct bus_device_ops ioapic_ops;

/* Drive input pin `pin` (< IOAPIC_PINS). Any thread. */
void ioapic_set_pin(struct ioapic *ioapic, unsigned pin, bool level);

/* A local APIC's EOI for a level-triggered vector. */
void ioapic_eoi(struct ioapic *ioapic, uint8_t vector);

/* The state as a versioned record (a snapshot's): the ID, IOREGSEL,
 * the pins' levels and every redirection entry (remote IRR included).
 * ioapic_restore() reads it back from hostile bytes: it checks every
 * value and changes nothing when one is impossible (status 2 message);
 * otherwise it installs the restored entries' messages with the sink's
 * program() at once, so KVM's routes are the snapshot's before any pin
 * sends. Nothing is sent: a level pin waiting for its EOI waits on. */
void ioapic_save(struct ioapic *ioapic, struct state_writer *w);
int ioapic_restore(struct ioapic *ioapic, struct state_reader *r, struct kvmini_error *err);

#endif
