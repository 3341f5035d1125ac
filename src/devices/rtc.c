/* The CMOS RTC (rtc.h). Its interrupt flags live in status C (the RAM
 * byte), set lazily from the clock when the guest reads C, and by two
 * event-loop timers while the matching interrupt is enabled: one at the
 * periodic rate, one at each second's update. vCPUs and the event loop
 * share the chip under one lock. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "event_loop.h"
#include "devices/rtc.h"

#define NS_PER_S 1000000000L
/* The MC146818 raises UIP this long before it changes the registers. */
#define UIP_WINDOW_NS 244000L
#define RTC_STATUS_A_RESET 0x26   /* 32.768 kHz divider, 1024 Hz rate */
#define RTC_STATUS_B_RESET RTC_B_24H
#define RTC_CHECKSUM_FIRST 0x10
#define RTC_CHECKSUM_LAST  0x2d
#define RTC_CHECKSUM_HIGH  0x2e
#define RTC_BASE_HZ 32768           /* the divider's input, which the rates divide */
#define RTC_ALARM_DONT_CARE 0xc0    /* an alarm byte >= this matches any value */

struct rtc {
	pthread_mutex_t lock;      /* vCPU threads share the chip */
	struct rtc_clock clock;
	uint8_t index_port;        /* last byte written to port 0x70 */
	uint8_t ram[RTC_RAM_SIZE]; /* time registers live in `offset`/`held` instead */
	int64_t offset;            /* guest time minus host time, in seconds */
	struct tm held;            /* the time registers while status B's SET is 1 */
	/* Interrupts: the line and the loop of the boot bound to (rtc_attach). */
	struct irq_line irq;
	bool line_high;
	struct event_loop *loop;
	struct event_timer *periodic, *update;   /* NULL without a loop */
	bool bound;                /* attached to a boot: lines and timers act */
	int64_t periodic_base_ns;  /* host time of the periodic rate's tick 0 */
	int64_t periodic_seen;     /* the last tick index PF was set for */
	int64_t update_seen;       /* the last host second UF was set for */
};

static void host_clock(void *ctx, struct timespec *now)
{
	(void)ctx;
	clock_gettime(CLOCK_REALTIME, now);
}

static struct timespec read_host(const struct rtc *rtc)
{
	struct timespec now = { 0, 0 };
	rtc->clock.now(rtc->clock.ctx, &now);
	return now;
}

static bool updates_held(const struct rtc *rtc)
{
	return rtc->ram[RTC_STATUS_B] & RTC_B_SET;
}

static bool binary_mode(const struct rtc *rtc)
{
	return rtc->ram[RTC_STATUS_B] & RTC_B_BINARY;
}

/* ---- the time: host clock + offset, broken down in UTC ---- */

static struct tm guest_time(const struct rtc *rtc, const struct timespec *host)
{
	if (updates_held(rtc))
		return rtc->held;
	time_t t = (time_t)(host->tv_sec + rtc->offset);
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof(tm));
	return tm;
}

/* The guest's clock reads tm from this host second on. */
static void start_clock_at(struct rtc *rtc, struct tm tm, const struct timespec *host)
{
	time_t t = timegm(&tm);   /* normalizes out-of-range fields, as a carry would */
	rtc->offset = (int64_t)t - (int64_t)host->tv_sec;
}

static uint8_t to_bcd(unsigned v)
{
	return (uint8_t)(((v / 10 % 10) << 4) | (v % 10));
}

static unsigned from_bcd(uint8_t v)
{
	return (v >> 4) * 10u + (v & 0x0fu);
}

static uint8_t encode(const struct rtc *rtc, unsigned v)
{
	return binary_mode(rtc) ? (uint8_t)v : to_bcd(v);
}

static unsigned decode(const struct rtc *rtc, uint8_t v)
{
	return binary_mode(rtc) ? v : from_bcd(v);
}

/* 12-hour mode counts 12, 1, ..., 11 and flags the afternoon in bit 7. */
static uint8_t encode_hours(const struct rtc *rtc, int hour24)
{
	if (rtc->ram[RTC_STATUS_B] & RTC_B_24H)
		return encode(rtc, (unsigned)hour24);
	unsigned hour12 = hour24 % 12 ? (unsigned)(hour24 % 12) : 12;
	return (uint8_t)(encode(rtc, hour12) | (hour24 >= 12 ? RTC_HOUR_PM : 0));
}

static int decode_hours(const struct rtc *rtc, uint8_t v)
{
	if (rtc->ram[RTC_STATUS_B] & RTC_B_24H)
		return (int)decode(rtc, v);
	int hour12 = (int)decode(rtc, v & (uint8_t)~RTC_HOUR_PM);
	return hour12 % 12 + (v & RTC_HOUR_PM ? 12 : 0);
}

static unsigned full_year(const struct tm *tm)
{
	return tm->tm_year < -1900 ? 0 : (unsigned)(tm->tm_year + 1900);
}

static bool is_time_register(unsigned reg)
{
	return reg <= RTC_YEAR || reg == RTC_CENTURY;
}

static uint8_t read_time(const struct rtc *rtc, unsigned reg, const struct tm *tm)
{
	switch (reg) {
	case RTC_SECONDS: return encode(rtc, (unsigned)tm->tm_sec);
	case RTC_MINUTES: return encode(rtc, (unsigned)tm->tm_min);
	case RTC_HOURS: return encode_hours(rtc, tm->tm_hour);
	case RTC_DAY_OF_WEEK: return encode(rtc, (unsigned)tm->tm_wday + 1);
	case RTC_DAY: return encode(rtc, (unsigned)tm->tm_mday);
	case RTC_MONTH: return encode(rtc, (unsigned)tm->tm_mon + 1);
	case RTC_YEAR: return encode(rtc, full_year(tm) % 100);
	case RTC_CENTURY: return encode(rtc, full_year(tm) / 100 % 100);
	default: return rtc->ram[reg];   /* the alarm registers */
	}
}

/* Put a written value into tm; false when the register does not move
 * the clock (the alarms are RAM; the day of week follows the date). */
static bool write_time(struct rtc *rtc, unsigned reg, uint8_t v, struct tm *tm)
{
	unsigned year = full_year(tm);
	switch (reg) {
	case RTC_SECONDS: tm->tm_sec = (int)decode(rtc, v); return true;
	case RTC_MINUTES: tm->tm_min = (int)decode(rtc, v); return true;
	case RTC_HOURS: tm->tm_hour = decode_hours(rtc, v); return true;
	case RTC_DAY: tm->tm_mday = (int)decode(rtc, v); return true;
	case RTC_MONTH: tm->tm_mon = (int)decode(rtc, v) - 1; return true;
	case RTC_YEAR:
		tm->tm_year = (int)(year / 100 * 100 + decode(rtc, v)) - 1900;
		return true;
	case RTC_CENTURY:
		tm->tm_year = (int)(decode(rtc, v) * 100 + year % 100) - 1900;
		return true;
	case RTC_DAY_OF_WEEK:
		return false;
	default:
		rtc->ram[reg] = v;
		return false;
	}
}

/* ---- interrupts: flags in status C, IRQF, the line, the timers ---- */

static int64_t host_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * NS_PER_S + t->tv_nsec;
}

/* The periodic rate's period in 32.768 kHz cycles, 0 when off. Rates 1
 * and 2 give 3.90625 and 7.8125 ms, as rates 8 and 9 do (the MC146818
 * with the 32.768 kHz time base). */
static unsigned periodic_cycles(const struct rtc *rtc)
{
	unsigned rs = rtc->ram[RTC_STATUS_A] & RTC_A_RATE;
	if (rs == 0)
		return 0;
	return 1u << ((rs < 3 ? rs + 7 : rs) - 1);
}

/* The index of the periodic tick under way at host time ns. */
static int64_t periodic_tick(const struct rtc *rtc, int64_t ns, unsigned cycles)
{
	__int128 scaled = (__int128)(ns - rtc->periodic_base_ns) * RTC_BASE_HZ;
	return (int64_t)(scaled / ((__int128)NS_PER_S * cycles));
}

/* The host time tick k begins (rounded up to a nanosecond). */
static int64_t periodic_tick_ns(const struct rtc *rtc, int64_t k, unsigned cycles)
{
	__int128 scaled = (__int128)k * cycles * NS_PER_S;
	return rtc->periodic_base_ns + (int64_t)((scaled + RTC_BASE_HZ - 1) / RTC_BASE_HZ);
}

static void periodic_restart(struct rtc *rtc, int64_t ns)
{
	rtc->periodic_base_ns = ns;
	rtc->periodic_seen = 0;
}

/* An alarm byte of 0xc0-0xff matches every value. */
static bool alarm_field(uint8_t alarm, uint8_t now)
{
	return alarm >= RTC_ALARM_DONT_CARE || alarm == now;
}

static bool alarm_matches(const struct rtc *rtc, const struct timespec *host)
{
	struct tm tm = guest_time(rtc, host);
	return alarm_field(rtc->ram[RTC_ALARM_SECONDS], read_time(rtc, RTC_SECONDS, &tm)) &&
	       alarm_field(rtc->ram[RTC_ALARM_MINUTES], read_time(rtc, RTC_MINUTES, &tm)) &&
	       alarm_field(rtc->ram[RTC_ALARM_HOURS], read_time(rtc, RTC_HOURS, &tm));
}

/* Catch the flags up with the clock: PF once any periodic tick began
 * since the last one counted; UF at each new second while the clock
 * runs, and AF then when that second matches the alarm (so a guest that
 * polls sees the alarm only if it reads C within the matching second). */
static void flags_sync(struct rtc *rtc, const struct timespec *host)
{
	int64_t ns = host_ns(host);
	unsigned cycles = periodic_cycles(rtc);
	if (ns < rtc->periodic_base_ns)
		periodic_restart(rtc, ns);   /* the host clock went back */
	int64_t k = cycles ? periodic_tick(rtc, ns, cycles) : 0;
	if (cycles && k > rtc->periodic_seen) {
		rtc->periodic_seen = k;
		rtc->ram[RTC_STATUS_C] |= RTC_C_PF;
	}
	bool forward = host->tv_sec > rtc->update_seen;
	rtc->update_seen = host->tv_sec;
	if (!forward || updates_held(rtc))
		return;
	rtc->ram[RTC_STATUS_C] |= RTC_C_UF;
	if (alarm_matches(rtc, host))
		rtc->ram[RTC_STATUS_C] |= RTC_C_AF;
}

/* IRQF = PF·PIE + AF·AIE + UF·UIE (each enable sits at its flag's bit),
 * held until C is read; the line follows IRQF. */
static void irq_update(struct rtc *rtc)
{
	uint8_t flags = RTC_C_PF | RTC_C_AF | RTC_C_UF;
	if (rtc->ram[RTC_STATUS_C] & rtc->ram[RTC_STATUS_B] & flags)
		rtc->ram[RTC_STATUS_C] |= RTC_C_IRQF;
	bool high = rtc->ram[RTC_STATUS_C] & RTC_C_IRQF;
	if (high != rtc->line_high && rtc->bound) {
		rtc->line_high = high;
		irq_line_set(&rtc->irq, high);
	}
}

/* The periodic timer at the next tick while PIE is set, the update
 * timer at the next second while UIE or AIE is and the clock runs; the
 * flags are in step with host (flags_sync) when this is called. Timers
 * run on CLOCK_MONOTONIC: a host time is turned into a delay from now. */
static void timers_arm(struct rtc *rtc, const struct timespec *host)
{
	uint8_t b = rtc->ram[RTC_STATUS_B];
	unsigned cycles = periodic_cycles(rtc);
	uint64_t mono = event_loop_now_ns();
	if (rtc->periodic && rtc->bound && (b & RTC_B_PIE) && cycles) {
		int64_t delay = periodic_tick_ns(rtc, rtc->periodic_seen + 1, cycles) - host_ns(host);
		event_timer_arm_at(rtc->periodic, mono + (uint64_t)(delay > 0 ? delay : 0));
	} else if (rtc->periodic) {
		event_timer_disarm(rtc->periodic);
	}
	if (rtc->update && rtc->bound && (b & (RTC_B_UIE | RTC_B_AIE)) && !updates_held(rtc))
		event_timer_arm_at(rtc->update, mono + (uint64_t)(NS_PER_S - host->tv_nsec));
	else if (rtc->update)
		event_timer_disarm(rtc->update);
}

/* Either timer, on the event loop's thread: flags, line, next expiry. An
 * expiry a little early on the host clock finds no new tick and re-arms. */
static void timer_expired(void *ctx)
{
	struct rtc *rtc = ctx;
	pthread_mutex_lock(&rtc->lock);
	if (rtc->bound) {
		struct timespec host = read_host(rtc);
		flags_sync(rtc, &host);
		irq_update(rtc);
		timers_arm(rtc, &host);
	}
	pthread_mutex_unlock(&rtc->lock);
}

/* Reading C returns the flags and clears them, which lowers IRQ 8. */
static uint8_t read_status_c(struct rtc *rtc, const struct timespec *host)
{
	flags_sync(rtc, host);
	uint8_t c = rtc->ram[RTC_STATUS_C];
	rtc->ram[RTC_STATUS_C] = 0;
	irq_update(rtc);
	return c;
}

/* ---- registers ---- */

static uint8_t read_register(struct rtc *rtc, unsigned reg)
{
	struct timespec host = read_host(rtc);
	if (is_time_register(reg)) {
		struct tm tm = guest_time(rtc, &host);
		return read_time(rtc, reg, &tm);
	}
	switch (reg) {
	case RTC_STATUS_A: {
		bool uip = !updates_held(rtc) && host.tv_nsec >= NS_PER_S - UIP_WINDOW_NS;
		return (uint8_t)((rtc->ram[RTC_STATUS_A] & ~RTC_A_UIP) | (uip ? RTC_A_UIP : 0));
	}
	case RTC_STATUS_C:
		return read_status_c(rtc, &host);
	case RTC_STATUS_D:
		return RTC_D_VALID;
	default:
		return rtc->ram[reg];
	}
}

static void write_status_b(struct rtc *rtc, uint8_t v, const struct timespec *host)
{
	bool was_held = updates_held(rtc), hold = v & RTC_B_SET;
	if (hold && !was_held)
		rtc->held = guest_time(rtc, host);
	rtc->ram[RTC_STATUS_B] = v;
	if (was_held && !hold)
		start_clock_at(rtc, rtc->held, host);
}

/* Flags are brought up to date under the old settings first; a new rate
 * starts its ticks from now. */
static void write_interrupt_register(struct rtc *rtc, unsigned reg, uint8_t v,
				     const struct timespec *host)
{
	flags_sync(rtc, host);
	unsigned old_rate = rtc->ram[RTC_STATUS_A] & RTC_A_RATE;
	if (reg == RTC_STATUS_A)
		rtc->ram[reg] = v & (uint8_t)~RTC_A_UIP;
	else
		write_status_b(rtc, v, host);
	if ((rtc->ram[RTC_STATUS_A] & RTC_A_RATE) != old_rate)
		periodic_restart(rtc, host_ns(host));
	irq_update(rtc);
	timers_arm(rtc, host);
}

static void write_register(struct rtc *rtc, unsigned reg, uint8_t v)
{
	struct timespec host = read_host(rtc);
	if (is_time_register(reg)) {
		struct tm tm = guest_time(rtc, &host);
		if (!write_time(rtc, reg, v, &tm))
			return;
		if (updates_held(rtc))
			rtc->held = tm;
		else
			start_clock_at(rtc, tm, &host);
		return;
	}
	switch (reg) {
	case RTC_STATUS_A:
	case RTC_STATUS_B:
		write_interrupt_register(rtc, reg, v, &host);
		break;
	case RTC_STATUS_C:
	case RTC_STATUS_D:
		break;   /* read-only */
	default:
		rtc->ram[reg] = v;
	}
}

/* ---- ports ---- */

static unsigned selected(const struct rtc *rtc)
{
	return rtc->index_port & (RTC_RAM_SIZE - 1);
}

static void rtc_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct rtc *rtc = opaque;
	pthread_mutex_lock(&rtc->lock);
	for (uint32_t i = 0; i < len; i++) {
		uint64_t port = offset + i;
		if (port == 0)
			data[i] = rtc->index_port;
		else if (port == 1)
			data[i] = read_register(rtc, selected(rtc));
		else
			data[i] = 0xff;
	}
	pthread_mutex_unlock(&rtc->lock);
}

static void rtc_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct rtc *rtc = opaque;
	pthread_mutex_lock(&rtc->lock);
	/* A 16-bit write to 0x70 selects (low byte) and writes (high byte). */
	for (uint32_t i = 0; i < len; i++) {
		uint64_t port = offset + i;
		if (port == 0)
			rtc->index_port = data[i];
		else if (port == 1)
			write_register(rtc, selected(rtc), data[i]);
	}
	pthread_mutex_unlock(&rtc->lock);
}

const struct bus_device_ops rtc_ops = {
	.read = rtc_read,
	.write = rtc_write,
};

bool rtc_nmi_disabled(struct rtc *rtc)
{
	pthread_mutex_lock(&rtc->lock);
	bool disabled = rtc->index_port & RTC_INDEX_NMI_DISABLE;
	pthread_mutex_unlock(&rtc->lock);
	return disabled;
}

/* ---- power-on contents ---- */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static void put_le16(uint8_t *ram, unsigned reg, uint64_t v)
{
	ram[reg] = (uint8_t)v;
	ram[reg + 1] = (uint8_t)(v >> 8);
}

static void fill_memory_sizes(uint8_t *ram, uint64_t below_4g, uint64_t above_4g)
{
	const uint64_t one_mib = 1ULL << 20, sixteen_mib = 16ULL << 20;
	uint64_t base_kib = min_u64(below_4g >> 10, 640);
	uint64_t ext_kib = below_4g > one_mib ? min_u64((below_4g - one_mib) >> 10, 0xffff) : 0;
	uint64_t over_16m = below_4g > sixteen_mib
		? min_u64((below_4g - sixteen_mib) >> 16, 0xffff) : 0;
	uint64_t over_4g = min_u64(above_4g >> 16, 0xffffff);
	put_le16(ram, 0x15, base_kib);
	put_le16(ram, 0x17, ext_kib);
	put_le16(ram, 0x30, ext_kib);
	put_le16(ram, 0x34, over_16m);
	ram[0x5b] = (uint8_t)over_4g;
	ram[0x5c] = (uint8_t)(over_4g >> 8);
	ram[0x5d] = (uint8_t)(over_4g >> 16);
	unsigned sum = 0;
	for (unsigned reg = RTC_CHECKSUM_FIRST; reg <= RTC_CHECKSUM_LAST; reg++)
		sum += ram[reg];
	ram[RTC_CHECKSUM_HIGH] = (uint8_t)(sum >> 8);
	ram[RTC_CHECKSUM_HIGH + 1] = (uint8_t)sum;
}

struct rtc *rtc_create(const struct rtc_clock *clock, uint64_t ram_below_4g,
		       uint64_t ram_above_4g)
{
	struct rtc *rtc = calloc(1, sizeof(*rtc));
	if (!rtc)
		return NULL;
	if (pthread_mutex_init(&rtc->lock, NULL) != 0) {
		free(rtc);
		return NULL;
	}
	rtc->clock = clock && clock->now ? *clock : (struct rtc_clock){ .now = host_clock };
	rtc->ram[RTC_STATUS_A] = RTC_STATUS_A_RESET;
	rtc->ram[RTC_STATUS_B] = RTC_STATUS_B_RESET;
	fill_memory_sizes(rtc->ram, ram_below_4g, ram_above_4g);
	struct timespec host = read_host(rtc);
	periodic_restart(rtc, host_ns(&host));
	rtc->update_seen = host.tv_sec;
	return rtc;
}

/* The timers go first, outside the lock: their removal waits for a
 * callback in flight, which takes the lock. */
void rtc_destroy(struct rtc *rtc)
{
	if (!rtc)
		return;
	event_timer_destroy(rtc->periodic);
	event_timer_destroy(rtc->update);
	pthread_mutex_destroy(&rtc->lock);
	free(rtc);
}

/* Timers on loop, made once per loop (outside the lock, as above). */
static int timers_make(struct rtc *rtc, struct event_loop *loop, struct kvmini_error *err)
{
	if (!loop || loop == rtc->loop)
		return 0;
	event_timer_destroy(rtc->periodic);
	event_timer_destroy(rtc->update);
	rtc->periodic = event_timer_create(loop, timer_expired, rtc, err);
	rtc->update = rtc->periodic ? event_timer_create(loop, timer_expired, rtc, err) : NULL;
	if (!rtc->update) {
		event_timer_destroy(rtc->periodic);
		rtc->periodic = NULL;
		rtc->loop = NULL;
		return -1;
	}
	rtc->loop = loop;
	return 0;
}

int rtc_attach(struct rtc *rtc, const struct irq_line *irq, struct event_loop *loop,
	       struct kvmini_error *err)
{
	if (timers_make(rtc, loop, err) < 0)
		return -1;
	pthread_mutex_lock(&rtc->lock);
	struct timespec host = read_host(rtc);
	rtc->irq = irq ? *irq : (struct irq_line){ 0 };
	rtc->bound = true;
	rtc->line_high = false;
	rtc->ram[RTC_STATUS_B] &= (uint8_t)~(RTC_B_PIE | RTC_B_AIE | RTC_B_UIE);
	rtc->ram[RTC_STATUS_C] = 0;
	periodic_restart(rtc, host_ns(&host));
	rtc->update_seen = host.tv_sec;
	timers_arm(rtc, &host);
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

void rtc_detach(struct rtc *rtc)
{
	pthread_mutex_lock(&rtc->lock);
	rtc->bound = false;
	rtc->irq = (struct irq_line){ 0 };
	rtc->line_high = false;
	struct timespec host = read_host(rtc);
	timers_arm(rtc, &host);   /* unbound: both disarmed */
	pthread_mutex_unlock(&rtc->lock);
}

/* ---- the device interface (src/device.h) ---- */

static void *rtc_device_create(const struct device_env *env, struct kvmini_error *err)
{
	struct rtc *rtc = rtc_create(NULL, env->ram_below_4g, env->ram_above_4g);
	if (!rtc) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for the RTC");
		return NULL;
	}
	if (rtc_attach(rtc, &env->irqs[0], env->loop, err) < 0) {
		rtc_destroy(rtc);
		return NULL;
	}
	return rtc;
}

/* The RTC outlives --on-reset restart: each boot binds its own IRQ 8
 * (the last boot's VM is gone), and a restart is a machine reset. The
 * loop is the machine's, the same every boot, so no timer is made and
 * the attach cannot fail. */
static void rtc_device_rebind(void *dev, const struct device_env *env)
{
	struct kvmini_error err;
	rtc_attach(dev, &env->irqs[0], env->loop, &err);
}

static void rtc_device_unbind(void *dev)
{
	rtc_detach(dev);
}

static void rtc_device_destroy(void *dev)
{
	rtc_destroy(dev);
}

/* The held time registers, as struct tm fields, in this order. */
static int *held_fields(struct tm *tm, size_t i)
{
	int *fields[] = { &tm->tm_sec, &tm->tm_min, &tm->tm_hour, &tm->tm_mday,
			  &tm->tm_mon, &tm->tm_year, &tm->tm_wday };
	return i < sizeof(fields) / sizeof(fields[0]) ? fields[i] : NULL;
}

static void rtc_save(void *dev, struct state_writer *w)
{
	struct rtc *rtc = dev;
	pthread_mutex_lock(&rtc->lock);
	state_put_u8(w, rtc->index_port);
	state_put_bytes(w, rtc->ram, RTC_RAM_SIZE);
	state_put_u64(w, (uint64_t)rtc->offset);
	for (size_t i = 0; held_fields(&rtc->held, i); i++)
		state_put_u32(w, (uint32_t)*held_fields(&rtc->held, i));
	pthread_mutex_unlock(&rtc->lock);
}

/* A held time whose fields a guest could have written (write_time decodes
 * one byte per field, BCD or binary), and a clock offset within ±2^40
 * seconds, so host time plus offset cannot overflow. */
static bool rtc_state_valid(struct tm *held, int64_t offset)
{
	static const int lo[] = { 0, 0, 0, 0, -1, -1900, 0 };
	static const int hi[] = { 255, 255, 255, 255, 254, 255 * 100 + 255 - 1900, 6 };
	for (size_t i = 0; held_fields(held, i); i++)
		if (*held_fields(held, i) < lo[i] || *held_fields(held, i) > hi[i])
			return false;
	return offset > -(INT64_C(1) << 40) && offset < (INT64_C(1) << 40);
}

static int rtc_restore(void *dev, struct state_reader *r, struct kvmini_error *err)
{
	struct rtc *rtc = dev;
	uint8_t index = state_get_u8(r), ram[RTC_RAM_SIZE];
	state_get_bytes(r, ram, sizeof(ram));
	int64_t offset = (int64_t)state_get_u64(r);
	struct tm held;
	memset(&held, 0, sizeof(held));
	for (size_t i = 0; held_fields(&held, i); i++)
		*held_fields(&held, i) = (int32_t)state_get_u32(r);
	if (state_reader_finish(r, "CMOS RTC", err) < 0)
		return -1;
	if (!rtc_state_valid(&held, offset))
		return kvmini_fail(err, KVMINI_E_USAGE, "CMOS RTC: saved clock is out of range");
	pthread_mutex_lock(&rtc->lock);
	rtc->index_port = index;
	memcpy(rtc->ram, ram, sizeof(ram));
	rtc->offset = offset;
	rtc->held = held;
	struct timespec host = read_host(rtc);
	periodic_restart(rtc, host_ns(&host));   /* ticks and seconds count from now */
	rtc->update_seen = host.tv_sec;
	irq_update(rtc);                         /* a saved IRQF raises the line again */
	timers_arm(rtc, &host);
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

const struct device_type rtc_device = {
	.name = "CMOS RTC",
	.res = {
		.ranges = { { RESOURCE_SPACE_PORT, RTC_PORT, RTC_NPORTS, &rtc_ops, "CMOS RTC" } },
		.nranges = 1,
		.irqs = { { RTC_IRQ, false } },
		.nirqs = 1,
		.acpi_name = "RTC_", .acpi_hid = "PNP0B00",
	},
	.persistent = true,   /* the CMOS RAM and clock survive a reset, as on a PC */
	.create = rtc_device_create, .destroy = rtc_device_destroy,
	.rebind = rtc_device_rebind, .unbind = rtc_device_unbind,
	.save_state = rtc_save, .restore_state = rtc_restore,
};
