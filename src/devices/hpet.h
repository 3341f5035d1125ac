/* The High Precision Event Timer (IA-PC HPET specification 1.0a), one
 * block of 3 comparators at 0xfed00000 (1 KiB of MMIO), described to the
 * guest by the ACPI HPET table (src/arch/x86/acpi.c) and a PNP0103
 * device in the DSDT.
 *
 *   0x000 capabilities and ID (read-only): revision 1, 3 timers, a 64-bit
 *         counter, legacy replacement capable, vendor 0x8086 (what QEMU's
 *         reports, so guests that check it are content), a period of
 *         10 ns (HPET_PERIOD_FS): the counter runs at 100 MHz
 *   0x010 configuration: bit 0 ENABLE (the counter runs, timers fire),
 *         bit 1 LEG_RT (legacy replacement: timer 0 drives ISA IRQ 0 and
 *         timer 1 IRQ 8, whatever their route fields say)
 *   0x020 interrupt status: bit n set while level-triggered timer n's
 *         interrupt is asserted; writing 1 clears it and lowers the line
 *   0x0f0 main counter: reads the count; writes take effect only while
 *         halted (ENABLE 0), as the specification asks of software
 *   0x100 + 0x20 n  timer n's configuration: bit 1 level-triggered, bit 2
 *         interrupt enabled, bit 3 periodic, bit 4 periodic capable and
 *         bit 5 64-bit capable (read-only, set), bit 6 VAL_SET, bit 8
 *         32-bit mode, bits 9-13 the IOAPIC input (one of bits 32-63,
 *         the read-only routing capability: input 2 only, as QEMU's PC
 *         offers, which kvmini's board wires to ISA line 0; inputs 16-23
 *         are the virtio devices' level-triggered lines, which a timer
 *         must not share; the power-on route 0 is not offered and drives
 *         no line); no FSB (MSI) delivery
 *   0x108 + 0x20 n  the comparator. A write sets the period too; it sets
 *         the comparator itself when the timer is one-shot or VAL_SET
 *         is 1 (then VAL_SET clears), so software sets a periodic timer
 *         by writing the first deadline with VAL_SET, then the period.
 *   everything else reads 0 and ignores writes
 * Any access of 1 to 8 bytes works, at any offset: each register is 64
 * bits, and a narrower access reads or writes its bytes.
 *
 * A timer fires when the counter reaches its comparator (in 32-bit mode
 * the low 32 bits of the counter): an edge-triggered one pulses its line,
 * a level-triggered one sets its status bit and holds the line until the
 * guest clears the bit. A periodic timer then adds its period to the
 * comparator; a one-shot one fires again only when the counter comes
 * round (every 2^32 ticks, about 43 s, in 32-bit mode). Each comparator
 * is a timer on the event loop, armed for the moment the counter reaches
 * it, so nothing runs between deadlines; a periodic timer fires at most
 * every HPET_MIN_PERIOD_NS on the host (missed periods are skipped, not
 * queued), so a guest's period of one tick cannot flood the event loop.
 * Interrupts are delivered only when both ENABLE and the timer's enable
 * bit are set. Not modelled: the PIT and RTC interrupts stay on while
 * legacy replacement is on (an OS that switches to the HPET stops the
 * PIT itself). */
#ifndef KVMINI_HPET_H
#define KVMINI_HPET_H

#include <stdint.h>
#include "bus.h"
#include "device.h"

#define HPET_BASE      0xfed00000ULL
#define HPET_SIZE      0x400ULL
#define HPET_TIMERS    3
#define HPET_PERIOD_FS 10000000ULL          /* 10 ns */
#define HPET_TICK_NS   10ULL
#define HPET_MIN_PERIOD_NS 100000ULL        /* the host's bound: 10 kHz */

/* Register offsets. */
#define HPET_CAP        0x000
#define HPET_CONFIG     0x010
#define HPET_STATUS     0x020
#define HPET_COUNTER    0x0f0
#define HPET_TIMER(n)   (0x100 + 0x20 * (n))
#define HPET_TN_CONFIG  0x00
#define HPET_TN_CMP     0x08

/* Capabilities register fields. */
#define HPET_CAP_REV          0x01ULL
#define HPET_CAP_NUM_TIM_SHIFT 8
#define HPET_CAP_COUNT_64     (1ULL << 13)
#define HPET_CAP_LEGACY       (1ULL << 15)
#define HPET_CAP_VENDOR_SHIFT 16
#define HPET_VENDOR           0x8086ULL

/* Configuration. */
#define HPET_CFG_ENABLE 0x1ULL
#define HPET_CFG_LEGACY 0x2ULL

/* Timer configuration. */
#define HPET_TN_LEVEL      (1ULL << 1)
#define HPET_TN_ENABLE     (1ULL << 2)
#define HPET_TN_PERIODIC   (1ULL << 3)
#define HPET_TN_PER_CAP    (1ULL << 4)
#define HPET_TN_SIZE_CAP   (1ULL << 5)
#define HPET_TN_SETVAL     (1ULL << 6)
#define HPET_TN_32BIT      (1ULL << 8)
#define HPET_TN_ROUTE_SHIFT 9
#define HPET_TN_ROUTE_MASK (0x1fULL << HPET_TN_ROUTE_SHIFT)
#define HPET_TN_ROUTE_CAP  (0x4ULL << 32)          /* IOAPIC input 2 */
#define HPET_ROUTE_IRQ0_PIN 2                      /* input 2 is ISA line 0's */

/* Where the counter's time comes from (CLOCK_MONOTONIC, ns); tests set
 * their own. Timers are armed on the event loop's clock, the same. */
struct hpet_clock {
	uint64_t (*now_ns)(void *ctx);
	void *ctx;
};

/* An HPET whose timers fire on loop (NULL: the counter counts, no timer
 * fires) and raise lines through isa (set_level(ctx, n, level), any n).
 * clock NULL: event_loop_now_ns(). NULL on failure, with *err set. */
struct hpet *hpet_create(const struct hpet_clock *clock, struct event_loop *loop,
			 const struct irq_line *isa, struct kvmini_error *err);
void hpet_destroy(struct hpet *h);

extern const struct bus_device_ops hpet_ops;
extern const struct device_type hpet_device;

#endif
