/* The CMOS real-time clock and its 128 bytes of RAM (an MC146818 as on
 * a PC), at ports 0x70 (index) and 0x71 (data).
 *
 * Port 0x70: bits 0-6 select a register; bit 7 set disables NMIs (the
 * bit is remembered, NMIs are not modelled). A read returns the last
 * byte written. Port 0x71 reads and writes the selected register:
 *
 *   0x00 0x02 0x04  seconds, minutes, hours (bit 7 = PM in 12-hour mode)
 *   0x06 0x07 0x08 0x09 0x32  day of week (1 = Sunday), day, month,
 *                   year in the century, century
 *   0x01 0x03 0x05  alarm seconds/minutes/hours, in the time's format;
 *                   0xc0-0xff matches any value
 *   0x0a  status A: bit 7 UIP (read-only), bits 4-6 the divider (stored),
 *         bits 0-3 the periodic rate: 0 off, 3-15 give 32768 >> (n-1) Hz
 *         (8192 Hz down to 2 Hz), 1 and 2 give 256 and 128 Hz
 *   0x0b  status B: bit 7 SET, bit 6 PIE, bit 5 AIE, bit 4 UIE (periodic,
 *         alarm, update-ended interrupt enables), bit 2 binary (else BCD),
 *         bit 1 24-hour
 *   0x0c  status C (read-only): bit 7 IRQF, bit 6 PF (a periodic tick
 *         passed), bit 5 AF (an update matched the alarm), bit 4 UF (an
 *         update ended: a new second). IRQF = PF.PIE + AF.AIE + UF.UIE;
 *         IRQ 8 is high while IRQF is set. Reading C returns it and clears
 *         it, which lowers the line.
 *   0x0d  status D: 0x80 (battery good, RAM valid), read-only
 *   other  plain RAM
 *
 * The time is the host's UTC clock plus an offset: writing a time
 * register moves the offset, so a guest may set its clock (the day of
 * week follows the date; writes to it are ignored). While SET is 1 the
 * time registers hold still and take writes; clearing SET starts the
 * clock from them. The format bits (binary/BCD, 12/24-hour) apply to
 * every read at once. UIP is 1 during the last 244 us of each host
 * second, the window before the registers change; the update (UF, and
 * the alarm check) is at each host second's start.
 *
 * The flags are brought up to date from the clock whenever C is read,
 * so a guest that polls sees them with no timer running; while PIE, or
 * UIE or AIE, is set, a timer on the event loop sets them at the tick
 * or the second and raises IRQ 8 then. A polling guest sees AF only if
 * it reads C within the second that matched.
 *
 * At power-on the RAM holds status A 0x26, status B 0x02 (BCD, 24-hour)
 * and the memory sizes firmware reads, from the VM's RAM layout: 0x15-16
 * base memory in KiB (640 at most), 0x17-18 and 0x30-31 extended memory
 * above 1 MiB in KiB (at most 65535), 0x34-35 memory above 16 MiB below
 * 4 GiB in 64 KiB units (at most 0xffff), 0x5b-5d memory above 4 GiB in
 * 64 KiB units, with the checksum of 0x10-0x2d at 0x2e-2f (big-endian).
 * Multi-byte values are little-endian. The RAM and the clock offset
 * outlive a machine reset, as the battery-backed chip does on a PC; a
 * reset clears the interrupt enables and flags (the chip's RESET pin),
 * and the next boot's IRQ 8 replaces the last one's (rtc_attach()). */
#ifndef KVMINI_RTC_H
#define KVMINI_RTC_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include "bus.h"
#include "device.h"

#define RTC_PORT  0x70
#define RTC_NPORTS 2
#define RTC_IRQ    8
#define RTC_RAM_SIZE 128

/* Register numbers (the index written to port 0x70). */
enum {
	RTC_SECONDS = 0x00, RTC_MINUTES = 0x02, RTC_HOURS = 0x04,
	RTC_DAY_OF_WEEK = 0x06, RTC_DAY = 0x07, RTC_MONTH = 0x08, RTC_YEAR = 0x09,
	RTC_ALARM_SECONDS = 0x01, RTC_ALARM_MINUTES = 0x03, RTC_ALARM_HOURS = 0x05,
	RTC_STATUS_A = 0x0a, RTC_STATUS_B = 0x0b, RTC_STATUS_C = 0x0c, RTC_STATUS_D = 0x0d,
	RTC_CENTURY = 0x32,
};

enum {
	RTC_A_UIP = 0x80, RTC_A_RATE = 0x0f,
	RTC_B_SET = 0x80, RTC_B_PIE = 0x40, RTC_B_AIE = 0x20, RTC_B_UIE = 0x10,
	RTC_B_BINARY = 0x04, RTC_B_24H = 0x02,
	RTC_C_IRQF = 0x80, RTC_C_PF = 0x40, RTC_C_AF = 0x20, RTC_C_UF = 0x10,
	RTC_D_VALID = 0x80,
	RTC_HOUR_PM = 0x80,
	RTC_INDEX_NMI_DISABLE = 0x80,
};

/* Where the RTC reads the time: fill *now with UTC (CLOCK_REALTIME).
 * Tests inject their own. */
struct rtc_clock {
	void (*now)(void *ctx, struct timespec *now);
	void *ctx;
};

/* clock NULL: the host's CLOCK_REALTIME. ram_below_4g: bytes of RAM
 * from address 0 up; ram_above_4g: bytes from 4 GiB up. NULL when out
 * of memory. */
struct rtc *rtc_create(const struct rtc_clock *clock, uint64_t ram_below_4g,
		       uint64_t ram_above_4g);
void rtc_destroy(struct rtc *rtc);

/* Bind the chip to a boot: its IRQ 8 line (NULL: none) and the event
 * loop its timers run on (NULL: none, flags only when C is read), with
 * what a machine reset does (interrupt enables and flags cleared, the
 * line low). The loop must outlive the chip. Fails only when a timer
 * cannot be made. */
int rtc_attach(struct rtc *rtc, const struct irq_line *irq, struct event_loop *loop,
	       struct kvmini_error *err);
/* Unbind before the boot's VM goes: once this returns no line is set
 * and no timer acts until the next rtc_attach(). */
void rtc_detach(struct rtc *rtc);

/* Bus callbacks for [RTC_PORT, RTC_PORT + RTC_NPORTS); opaque is the
 * struct rtc *. Safe from several vCPU threads. */
extern const struct bus_device_ops rtc_ops;

/* Bit 7 of the last index written to port 0x70. */
bool rtc_nmi_disabled(struct rtc *rtc);

/* Ports 0x70-0x71, ISA IRQ 8, PNP0B00; persistent (src/device.h). */
extern const struct device_type rtc_device;

#endif
