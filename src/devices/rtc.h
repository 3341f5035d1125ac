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
 *   0x01 0x03 0x05  alarm seconds/minutes/hours: stored, no alarm fires
 *   0x0a  status A: bit 7 UIP (read-only), divider and rate stored
 *   0x0b  status B: bit 7 SET, bit 2 binary (else BCD), bit 1 24-hour
 *   0x0c  status C: 0 (no interrupt sources: IRQ 8 is not wired)
 *   0x0d  status D: 0x80 (battery good, RAM valid), read-only
 *   other  plain RAM
 *
 * The time is the host's UTC clock plus an offset: writing a time
 * register moves the offset, so a guest may set its clock (the day of
 * week follows the date; writes to it are ignored). While SET is 1 the
 * time registers hold still and take writes; clearing SET starts the
 * clock from them. The format bits (binary/BCD, 12/24-hour) apply to
 * every read at once. UIP is 1 during the last 244 us of each host
 * second, the window before the registers change.
 *
 * At power-on the RAM holds status A 0x26, status B 0x02 (BCD, 24-hour)
 * and the memory sizes firmware reads, from the VM's RAM layout: 0x15-16
 * base memory in KiB (640 at most), 0x17-18 and 0x30-31 extended memory
 * above 1 MiB in KiB (at most 65535), 0x34-35 memory above 16 MiB below
 * 4 GiB in 64 KiB units (at most 0xffff), 0x5b-5d memory above 4 GiB in
 * 64 KiB units, with the checksum of 0x10-0x2d at 0x2e-2f (big-endian).
 * Multi-byte values are little-endian. The RAM and the clock offset
 * outlive a machine reset, as the battery-backed chip does on a PC. */
#ifndef KVMINI_RTC_H
#define KVMINI_RTC_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include "bus.h"
#include "device.h"

#define RTC_PORT  0x70
#define RTC_NPORTS 2
#define RTC_IRQ    8   /* wired on a PC; this RTC raises no interrupt yet */
#define RTC_RAM_SIZE 128

/* Register numbers (the index written to port 0x70). */
enum {
	RTC_SECONDS = 0x00, RTC_MINUTES = 0x02, RTC_HOURS = 0x04,
	RTC_DAY_OF_WEEK = 0x06, RTC_DAY = 0x07, RTC_MONTH = 0x08, RTC_YEAR = 0x09,
	RTC_STATUS_A = 0x0a, RTC_STATUS_B = 0x0b, RTC_STATUS_C = 0x0c, RTC_STATUS_D = 0x0d,
	RTC_CENTURY = 0x32,
};

enum {
	RTC_A_UIP = 0x80,
	RTC_B_SET = 0x80, RTC_B_BINARY = 0x04, RTC_B_24H = 0x02,
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

/* Bus callbacks for [RTC_PORT, RTC_PORT + RTC_NPORTS); opaque is the
 * struct rtc *. Safe from several vCPU threads. */
extern const struct bus_device_ops rtc_ops;

/* Bit 7 of the last index written to port 0x70. */
bool rtc_nmi_disabled(struct rtc *rtc);

/* Ports 0x70-0x71, ISA IRQ 8, PNP0B00; persistent (src/device.h). */
extern const struct device_type rtc_device;

#endif
