#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include "devices/i8254.h"

#define NS_PER_S 1000000000ULL
#define CHANNELS 3
#define CONTROL_PORT 3
#define REFRESH_NS 15085ULL      /* port 0x61 bit 4 flips this often */

enum { ACCESS_LATCH = 0, ACCESS_LOW = 1, ACCESS_HIGH = 2, ACCESS_BOTH = 3 };
enum { READ_BACK = 3 };          /* the control word's channel field */
enum {
	READ_BACK_NO_COUNT = 0x20, READ_BACK_NO_STATUS = 0x10,
	STATUS_OUT = 0x80, STATUS_NULL_COUNT = 0x40,
	PORT61_GATE2 = 0x01, PORT61_SPEAKER = 0x02, PORT61_STORED = 0x0c,
	PORT61_REFRESH = 0x10, PORT61_OUT2 = 0x20,
};

struct channel {
	uint8_t mode, access;
	bool bcd;
	bool gate;
	bool loaded;            /* a count was written after the control word */
	bool triggered;         /* modes 1 and 5: a gate edge started the count */
	bool running;           /* clocks are being counted */
	bool out_idle;          /* OUT before the count runs */
	bool null_count;        /* written but not yet counting (status bit 6) */
	uint32_t reload;        /* N, in clocks */
	uint64_t start_ns;      /* when `running` last began */
	uint64_t held;          /* clocks counted before that */
	uint64_t edges;         /* channel 0: OUT rising edges signalled */
	bool write_high;        /* low-then-high: the next write is the high byte */
	uint8_t low_byte;
	bool read_high;         /* low-then-high: the next live read is the high byte */
	unsigned latched;       /* bytes of `latch` still to read */
	bool latch_high;
	uint16_t latch;
	bool status_latched;
	uint8_t status;
};

struct i8254 {
	pthread_mutex_t lock;   /* vCPU threads and the timer thread share it */
	struct i8254_clock clock;
	struct irq_line irq0;
	bool has_irq0;
	struct i8254_wakeup wakeup;
	struct channel ch[CHANNELS];
	uint8_t port61;         /* bits 1-3 as written */
};

static uint64_t monotonic_ns(void *ctx)
{
	(void)ctx;
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * NS_PER_S + (uint64_t)t.tv_nsec;
}

static uint64_t now(const struct i8254 *pit)
{
	return pit->clock.now_ns(pit->clock.ctx);
}

static uint64_t ns_to_clocks(uint64_t ns)
{
	return (uint64_t)((unsigned __int128)ns * I8254_HZ / NS_PER_S);
}

/* Rounded up, so that at the returned time the clock has been reached. */
static uint64_t clocks_to_ns(uint64_t clocks)
{
	unsigned __int128 ns = ((unsigned __int128)clocks * NS_PER_S + I8254_HZ - 1) / I8254_HZ;
	return ns > UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
}

/* ---- one channel's count and OUT, as functions of time ---- */

static bool hardware_triggered(const struct channel *c)
{
	return c->mode == 1 || c->mode == 5;
}

static bool periodic(const struct channel *c)
{
	return c->mode == 2 || c->mode == 3;
}

/* The count is running its course (gate permitting). */
static bool active(const struct channel *c)
{
	return c->loaded && (!hardware_triggered(c) || c->triggered);
}

static uint64_t elapsed(const struct channel *c, uint64_t t)
{
	if (!c->running)
		return c->held;
	return c->held + (t > c->start_ns ? ns_to_clocks(t - c->start_ns) : 0);
}

static bool out_at(const struct channel *c, uint64_t t)
{
	if (!active(c))
		return c->out_idle;
	uint64_t d = elapsed(c, t), n = c->reload;
	switch (c->mode) {
	case 0:
	case 1: return d >= n;
	case 2: return !c->gate || d % n != n - 1;
	case 3: return !c->gate || d % n < (n + 1) / 2;
	default: return d != n;   /* 4, 5: low for one clock */
	}
}

static uint16_t to_bcd(uint32_t v)
{
	return (uint16_t)((v / 1000 % 10) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | v % 10);
}

static uint32_t from_bcd(uint16_t v)
{
	return (v >> 12 & 15) * 1000u + (v >> 8 & 15) * 100u + (v >> 4 & 15) * 10u + (v & 15);
}

static uint16_t count_at(const struct channel *c, uint64_t t)
{
	uint64_t n = c->reload, d = elapsed(c, t), value;
	uint64_t wrap = c->bcd ? 10000 : 65536;
	if (!active(c)) {
		value = n;
	} else if (c->mode == 2) {
		value = n - d % n;
	} else if (c->mode == 3) {
		uint64_t p = d % n, half = (n + 1) / 2;
		value = n - 2 * (p < half ? p : p - half);
	} else {
		value = (n + wrap - d % wrap) % wrap;
	}
	value %= wrap;
	return c->bcd ? to_bcd((uint32_t)value) : (uint16_t)value;
}

/* OUT's rising edges after `d` clocks of the current count. */
static uint64_t rising_edges(const struct channel *c, uint64_t d)
{
	if (periodic(c))
		return d / c->reload;
	if (c->mode == 0 || c->mode == 1)
		return d >= c->reload;
	return d > c->reload;   /* 4, 5: OUT rises after its one low clock */
}

/* The clock count of the next rising edge after d, or 0 for none. */
static uint64_t next_rise(const struct channel *c, uint64_t d)
{
	uint64_t n = c->reload;
	if (periodic(c))
		return (d / n + 1) * n;
	if (c->mode == 0 || c->mode == 1)
		return d < n ? n : 0;
	return d <= n ? n + 1 : 0;
}

/* ---- starting and stopping ---- */

static void run_from(struct channel *c, uint64_t t, uint64_t held)
{
	c->held = held;
	c->start_ns = t;
	c->running = true;
}

static void stop_at(struct channel *c, uint64_t t)
{
	c->held = elapsed(c, t);
	c->running = false;
}

/* A new count run (a count load or a retrigger). */
static void restart(struct channel *c, uint64_t t)
{
	c->edges = 0;
	c->held = 0;
	c->running = false;
	if (active(c) && (c->gate || hardware_triggered(c)))
		run_from(c, t, 0);
}

static void set_gate(struct channel *c, bool gate, uint64_t t)
{
	if (gate == c->gate)
		return;
	c->gate = gate;
	if (hardware_triggered(c)) {
		if (gate) {
			c->triggered = true;
			restart(c, t);
		}
	} else if (!gate) {
		stop_at(c, t);
	} else if (periodic(c)) {
		restart(c, t);           /* a rising gate reloads N */
	} else if (active(c)) {
		run_from(c, t, c->held); /* modes 0 and 4 go on where they stopped */
	}
}

static void rearm(struct i8254 *pit, unsigned channel)
{
	if (channel == 0 && pit->wakeup.rearm)
		pit->wakeup.rearm(pit->wakeup.ctx);
}

static void load_count(struct i8254 *pit, unsigned index, uint16_t raw)
{
	struct channel *c = &pit->ch[index];
	uint32_t n = c->bcd ? from_bcd(raw) : raw;
	if (n == 0)
		n = c->bcd ? 10000 : 65536;
	if (periodic(c) && n < 2)
		n = 2;   /* a count of 1 is illegal in modes 2 and 3 */
	c->reload = n;
	c->loaded = true;
	c->null_count = false;
	c->triggered = false;
	restart(c, now(pit));
	rearm(pit, index);
}

static void set_mode(struct i8254 *pit, unsigned index, uint8_t control)
{
	struct channel *c = &pit->ch[index];
	c->access = (control >> 4) & 3;
	c->mode = (control >> 1) & 7;
	if (c->mode > 5)
		c->mode -= 4;   /* 6 and 7 are 2 and 3 */
	c->bcd = control & 1;
	c->loaded = c->triggered = c->running = false;
	c->out_idle = c->mode != 0;
	c->null_count = true;
	c->write_high = c->read_high = false;
	c->latched = 0;
	c->status_latched = false;
	rearm(pit, index);
}

/* ---- latches and byte access ---- */

static void latch_count(struct channel *c, uint64_t t)
{
	if (c->latched)
		return;   /* the first latch holds until it is read */
	c->latch = count_at(c, t);
	c->latched = c->access == ACCESS_BOTH ? 2 : 1;
	c->latch_high = c->access == ACCESS_HIGH;
}

static void latch_status(struct channel *c, uint64_t t)
{
	if (c->status_latched)
		return;
	c->status = (uint8_t)((out_at(c, t) ? STATUS_OUT : 0) | (c->null_count ? STATUS_NULL_COUNT : 0) |
			      c->access << 4 | c->mode << 1 | (c->bcd ? 1 : 0));
	c->status_latched = true;
}

static void read_back(struct i8254 *pit, uint8_t command)
{
	uint64_t t = now(pit);
	for (unsigned i = 0; i < CHANNELS; i++) {
		if (!(command & (2u << i)))
			continue;
		if (!(command & READ_BACK_NO_STATUS))
			latch_status(&pit->ch[i], t);
		if (!(command & READ_BACK_NO_COUNT))
			latch_count(&pit->ch[i], t);
	}
}

static void write_control(struct i8254 *pit, uint8_t value)
{
	unsigned index = value >> 6;
	if (index == READ_BACK)
		read_back(pit, value);
	else if (((value >> 4) & 3) == ACCESS_LATCH)
		latch_count(&pit->ch[index], now(pit));
	else
		set_mode(pit, index, value);
}

static void write_counter(struct i8254 *pit, unsigned index, uint8_t value)
{
	struct channel *c = &pit->ch[index];
	switch (c->access) {
	case ACCESS_LOW:
		load_count(pit, index, value);
		break;
	case ACCESS_HIGH:
		load_count(pit, index, (uint16_t)(value << 8));
		break;
	case ACCESS_BOTH:
		if (!c->write_high) {
			c->low_byte = value;
			c->write_high = true;
		} else {
			c->write_high = false;
			load_count(pit, index, (uint16_t)(c->low_byte | value << 8));
		}
		break;
	}
}

/* One byte of a 16-bit value in the channel's access mode; *high flips
 * in low-then-high mode. */
static uint8_t pick_byte(const struct channel *c, uint16_t value, bool *high)
{
	bool take_high = c->access == ACCESS_HIGH || (c->access == ACCESS_BOTH && *high);
	if (c->access == ACCESS_BOTH)
		*high = !*high;
	return (uint8_t)(take_high ? value >> 8 : value);
}

static uint8_t read_counter(struct i8254 *pit, unsigned index)
{
	struct channel *c = &pit->ch[index];
	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	if (c->latched) {
		c->latched--;
		return pick_byte(c, c->latch, &c->latch_high);
	}
	return pick_byte(c, count_at(c, now(pit)), &c->read_high);
}

/* ---- public ---- */

struct i8254 *i8254_create(const struct i8254_clock *clock, const struct irq_line *irq0,
			   const struct i8254_wakeup *wakeup)
{
	struct i8254 *pit = calloc(1, sizeof(*pit));
	if (!pit)
		return NULL;
	pthread_mutex_init(&pit->lock, NULL);
	pit->clock = clock ? *clock : (struct i8254_clock){ .now_ns = monotonic_ns };
	if (irq0) {
		pit->irq0 = *irq0;
		pit->has_irq0 = true;
	}
	if (wakeup)
		pit->wakeup = *wakeup;
	for (unsigned i = 0; i < CHANNELS; i++) {
		pit->ch[i].gate = i != 2;   /* channel 2's gate is port 0x61 bit 0, reset 0 */
		pit->ch[i].reload = 65536;
	}
	return pit;
}

void i8254_destroy(struct i8254 *pit)
{
	if (!pit)
		return;
	pthread_mutex_destroy(&pit->lock);
	free(pit);
}

uint64_t i8254_tick(struct i8254 *pit)
{
	pthread_mutex_lock(&pit->lock);
	struct channel *c = &pit->ch[0];
	uint64_t deadline = I8254_NO_DEADLINE;
	if (active(c) && c->running) {
		uint64_t d = elapsed(c, now(pit));
		uint64_t edges = rising_edges(c, d);
		if (edges > c->edges) {
			c->edges = edges;
			if (pit->has_irq0) {
				irq_line_set(&pit->irq0, true);
				irq_line_set(&pit->irq0, false);
			}
		}
		uint64_t next = next_rise(c, d);
		if (next) {
			uint64_t at = c->start_ns + clocks_to_ns(next - c->held);
			deadline = at < c->start_ns ? I8254_NO_DEADLINE : at;
		}
	}
	pthread_mutex_unlock(&pit->lock);
	return deadline;
}

static void pit_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct i8254 *pit = opaque;
	pthread_mutex_lock(&pit->lock);
	for (uint32_t i = 0; i < len; i++) {
		unsigned port = (unsigned)(offset + i);
		data[i] = port == CONTROL_PORT ? 0xff : read_counter(pit, port);
	}
	pthread_mutex_unlock(&pit->lock);
}

static void pit_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct i8254 *pit = opaque;
	pthread_mutex_lock(&pit->lock);
	for (uint32_t i = 0; i < len; i++) {
		unsigned port = (unsigned)(offset + i);
		if (port == CONTROL_PORT)
			write_control(pit, data[i]);
		else
			write_counter(pit, port, data[i]);
	}
	pthread_mutex_unlock(&pit->lock);
}

const struct bus_device_ops i8254_ops = { .read = pit_read, .write = pit_write };

static void speaker_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	(void)offset;
	struct i8254 *pit = opaque;
	pthread_mutex_lock(&pit->lock);
	uint64_t t = now(pit);
	const struct channel *c2 = &pit->ch[2];
	data[0] = (uint8_t)((c2->gate ? PORT61_GATE2 : 0) | pit->port61 |
			    ((t / REFRESH_NS) & 1 ? PORT61_REFRESH : 0) |
			    (out_at(c2, t) ? PORT61_OUT2 : 0));
	pthread_mutex_unlock(&pit->lock);
	for (uint32_t i = 1; i < len; i++)
		data[i] = 0xff;
}

static void speaker_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)offset, (void)len;
	struct i8254 *pit = opaque;
	pthread_mutex_lock(&pit->lock);
	pit->port61 = data[0] & (PORT61_SPEAKER | PORT61_STORED);
	set_gate(&pit->ch[2], data[0] & PORT61_GATE2, now(pit));
	pthread_mutex_unlock(&pit->lock);
}

const struct bus_device_ops i8254_speaker_ops = { .read = speaker_read, .write = speaker_write };

/* ---- saved state ---- */

#define STATE_VERSION 1
/* Clocks a saved count may have run: ~60 000 years, far beyond any
 * run, and small enough that next_rise() and the deadline's sums
 * cannot overflow. */
#define ELAPSED_MAX (1ULL << 51)

enum { FLAG_BCD, FLAG_GATE, FLAG_LOADED, FLAG_TRIGGERED, FLAG_RUNNING, FLAG_OUT_IDLE,
       FLAG_NULL_COUNT, FLAG_WRITE_HIGH, FLAG_READ_HIGH, FLAG_LATCH_HIGH, FLAG_STATUS_LATCHED,
       NFLAGS };

static void channel_save(const struct channel *c, uint64_t t, struct state_writer *w)
{
	bool f[NFLAGS] = {
		[FLAG_BCD] = c->bcd, [FLAG_GATE] = c->gate, [FLAG_LOADED] = c->loaded,
		[FLAG_TRIGGERED] = c->triggered, [FLAG_RUNNING] = c->running,
		[FLAG_OUT_IDLE] = c->out_idle, [FLAG_NULL_COUNT] = c->null_count,
		[FLAG_WRITE_HIGH] = c->write_high, [FLAG_READ_HIGH] = c->read_high,
		[FLAG_LATCH_HIGH] = c->latch_high, [FLAG_STATUS_LATCHED] = c->status_latched,
	};
	state_put_u8(w, c->mode);
	state_put_u8(w, c->access);
	for (unsigned i = 0; i < NFLAGS; i++)
		state_put_u8(w, f[i]);
	state_put_u32(w, c->reload);
	state_put_u64(w, elapsed(c, t));
	state_put_u64(w, c->edges);
	state_put_u8(w, c->low_byte);
	state_put_u8(w, (uint8_t)c->latched);
	state_put_u16(w, c->latch);
	state_put_u8(w, c->status);
}

void i8254_save(struct i8254 *pit, struct state_writer *w)
{
	pthread_mutex_lock(&pit->lock);
	uint64_t t = now(pit);
	state_put_u32(w, STATE_VERSION);
	for (unsigned i = 0; i < CHANNELS; i++)
		channel_save(&pit->ch[i], t, w);
	state_put_u8(w, pit->port61);
	pthread_mutex_unlock(&pit->lock);
}

/* One channel's record into `c` (a copy), its position in `held`;
 * false when a value is one no guest could have made. */
static bool channel_load(struct channel *c, struct state_reader *r)
{
	c->mode = state_get_u8(r);
	c->access = state_get_u8(r);
	uint8_t f[NFLAGS];
	bool bad = !state_get_flags(r, f, NFLAGS);
	c->bcd = f[FLAG_BCD];
	c->gate = f[FLAG_GATE];
	c->loaded = f[FLAG_LOADED];
	c->triggered = f[FLAG_TRIGGERED];
	c->running = f[FLAG_RUNNING];
	c->out_idle = f[FLAG_OUT_IDLE];
	c->null_count = f[FLAG_NULL_COUNT];
	c->write_high = f[FLAG_WRITE_HIGH];
	c->read_high = f[FLAG_READ_HIGH];
	c->latch_high = f[FLAG_LATCH_HIGH];
	c->status_latched = f[FLAG_STATUS_LATCHED];
	c->reload = state_get_u32(r);
	c->held = state_get_u64(r);
	c->edges = state_get_u64(r);
	c->low_byte = state_get_u8(r);
	c->latched = state_get_u8(r);
	c->latch = state_get_u16(r);
	c->status = state_get_u8(r);
	/* What load_count() and set_mode() allow; a count runs only while
	 * active; OUT rises at most once a clock. */
	return !bad && c->mode <= 5 && c->access <= ACCESS_BOTH && c->latched <= 2 &&
	       c->reload >= (periodic(c) ? 2u : 1u) && c->reload <= 65536 &&
	       (!c->running || active(c)) && c->held <= ELAPSED_MAX && c->edges <= c->held;
}

int i8254_restore(struct i8254 *pit, struct state_reader *r, struct kvmini_error *err)
{
	struct channel ch[CHANNELS] = { 0 };
	uint32_t version = state_get_u32(r);
	int bad = -1;
	for (unsigned i = 0; i < CHANNELS; i++)
		if (!channel_load(&ch[i], r) && bad < 0)
			bad = (int)i;
	uint8_t port61 = state_get_u8(r);
	if (r->failed)
		return kvmini_fail(err, KVMINI_E_USAGE, "8254 PIT: saved state is truncated");
	if (version != STATE_VERSION)
		return kvmini_fail(err, KVMINI_E_USAGE, "8254 PIT: saved state version %u is not "
				   "supported", version);
	/* Channels 0 and 1 have no gate input: it is always high. */
	for (unsigned i = 0; bad < 0 && i < 2; i++)
		if (!ch[i].gate)
			bad = (int)i;
	if (bad >= 0)
		return kvmini_fail(err, KVMINI_E_USAGE, "8254 PIT: saved channel %d is impossible",
				   bad);
	if (port61 & ~(PORT61_SPEAKER | PORT61_STORED))
		return kvmini_fail(err, KVMINI_E_USAGE, "8254 PIT: saved port 0x61 value 0x%02x "
				   "is impossible", port61);
	pthread_mutex_lock(&pit->lock);
	uint64_t t = now(pit);
	for (unsigned i = 0; i < CHANNELS; i++) {
		ch[i].start_ns = t;   /* held clocks counted, the rest from now */
		pit->ch[i] = ch[i];
	}
	pit->port61 = port61;
	rearm(pit, 0);
	pthread_mutex_unlock(&pit->lock);
	return 0;
}
