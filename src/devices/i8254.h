/* The 8254 programmable interval timer at ports 0x40-0x43 and the PC's
 * system control port B at 0x61, for the split irqchip (with --irqchip
 * kernel KVM emulates both instead).
 *
 * Three channels count down at 1.193182 MHz, read from a clock
 * (CLOCK_MONOTONIC unless a test injects one); counting is computed from
 * the time of the last count load, so nothing runs between accesses.
 * Control word (port 0x43): channel, access mode (latch command, low
 * byte, high byte, low then high byte), mode 0-5 (6 and 7 are 2 and 3),
 * BCD. The read-back command (0xc0 | ...) latches the count and/or the
 * status (bit 7 OUT, bit 6 null count, bits 5-0 as programmed) of the
 * channels it selects. A latched count or status is read before the live
 * count; in low-then-high mode reads and writes alternate bytes.
 *
 * Modes, for a count N (0 means 65536, or 10000 in BCD):
 *   0 interrupt on terminal count: OUT low, high after N clocks, stays;
 *   1 hardware one-shot: a gate rising edge starts it, OUT low for N;
 *   2 rate generator: OUT low for the last clock of every N;
 *   3 square wave: OUT high for the first ceil(N/2) clocks of every N;
 *   4 software strobe: OUT low for one clock N clocks after the load;
 *   5 hardware strobe: as 4, started by a gate rising edge.
 * A count written takes effect at once (a real 8254 waits for the end of
 * the current period in modes 2 and 3). The counter's value in mode 3
 * steps by 2 within each half period, as the chip's does.
 *
 * Gates: channels 0 and 1 are always enabled; channel 2's gate is port
 * 0x61 bit 0. A low gate stops counting in modes 0, 2, 3 and 4 (and
 * holds OUT high in 2 and 3); its rising edge restarts modes 1, 2, 3
 * and 5 from N. Port 0x61 reads: bit 0 gate 2, bit 1 speaker data
 * enable, bits 2-3 as written, bit 4 the refresh toggle (flips every
 * 15 us), bit 5 channel 2's OUT; writes set bits 0-3. No sound.
 *
 * Channel 0 drives ISA IRQ 0: each rising edge of its OUT raises and
 * lowers the line (an edge). Edges that pass between two i8254_tick()
 * calls are coalesced into one, as an edge-triggered input that was not
 * acknowledged would coalesce them. Before any count is loaded a
 * channel does not count and OUT is low. */
#ifndef KVMINI_I8254_H
#define KVMINI_I8254_H

#include <stdbool.h>
#include <stdint.h>
#include "bus.h"
#include "error.h"
#include "irq.h"
#include "state.h"

#define I8254_PORT         0x40
#define I8254_NPORTS       4
#define I8254_SPEAKER_PORT 0x61
#define I8254_HZ           1193182ULL
#define I8254_NO_DEADLINE  UINT64_MAX

/* The clock the PIT counts from, in nanoseconds (tests inject one). */
struct i8254_clock {
	uint64_t (*now_ns)(void *ctx);
	void *ctx;
};

/* Channel 0 was reprogrammed: the owner's timer should call
 * i8254_tick() now for the new deadline. Called with the PIT's lock
 * held: must not call back into the PIT. */
struct i8254_wakeup {
	void (*rearm)(void *ctx);
	void *ctx;
};

struct i8254;

/* clock NULL: CLOCK_MONOTONIC. irq0 and wakeup may be NULL; both are
 * copied. Returns NULL when out of memory. */
struct i8254 *i8254_create(const struct i8254_clock *clock, const struct irq_line *irq0,
			   const struct i8254_wakeup *wakeup);
void i8254_destroy(struct i8254 *pit);

/* Bus callbacks; opaque is the struct i8254 *. Any thread. */
extern const struct bus_device_ops i8254_ops;          /* 0x40-0x43 */
extern const struct bus_device_ops i8254_speaker_ops;  /* 0x61 */

/* Raise IRQ 0 if channel 0's OUT rose since the last call; returns when
 * (clock time, ns) it next rises, or I8254_NO_DEADLINE. The line is
 * driven with the PIT's lock held. */
uint64_t i8254_tick(struct i8254 *pit);

/* The state as a versioned record (a snapshot's): per channel its
 * mode, access mode, BCD, gate, the count loaded, the read/write byte
 * toggles and latched count or status, and the counter's position as
 * the clocks counted so far in the current count (not a time: the
 * clock of another process or host is another clock); port 0x61's
 * bits. i8254_restore() reads it back from hostile bytes: it checks
 * every value and changes nothing when one is impossible (status 2
 * message); otherwise each channel counts on from its saved position
 * as of now, and channel 0's owner is asked to rearm (i8254_wakeup). */
void i8254_save(struct i8254 *pit, struct state_writer *w);
int i8254_restore(struct i8254 *pit, struct state_reader *r, struct kvmini_error *err);

#endif
