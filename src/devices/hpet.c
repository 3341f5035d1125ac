/* The HPET (hpet.h). The counter is a function of the clock: while it
 * runs it is `counter + (now - base_ns) / 10`, while halted `counter`.
 * Each comparator owns a timer on the event loop, armed under the lock
 * for the moment the counter reaches it (`deadline_ns`); a callback
 * checks the deadline again under the lock, so an expiry that raced
 * with the guest reprogramming the timer does nothing. vCPUs (registers)
 * and the event loop (deadlines) share the block, under one lock. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "kvmini.h"
#include "event_loop.h"
#include "devices/hpet.h"

#define MASK32 0xffffffffULL
#define ISA_IRQ_PIT 0u
#define ISA_IRQ_RTC 8u
#define NO_LINE (-1)
/* What software may write in a timer's configuration register. */
#define TN_WRITABLE (HPET_TN_LEVEL | HPET_TN_ENABLE | HPET_TN_PERIODIC | HPET_TN_SETVAL | \
		     HPET_TN_32BIT | HPET_TN_ROUTE_MASK)
#define TN_CAPS (HPET_TN_PER_CAP | HPET_TN_SIZE_CAP | HPET_TN_ROUTE_CAP)

struct hpet;

struct hpet_timer {
	struct hpet *hpet;
	unsigned index;
	uint64_t config, cmp, period;
	uint64_t deadline_ns;        /* when the event-loop timer is due; 0: disarmed */
	struct event_timer *timer;   /* NULL without an event loop */
	int asserted;                /* the line held high (level-triggered), or NO_LINE */
};

struct hpet {
	pthread_mutex_t lock;
	struct hpet_clock clock;
	struct irq_line isa;
	uint64_t config, status;
	uint64_t counter;            /* the count at base_ns (running) or now (halted) */
	uint64_t base_ns;
	struct hpet_timer timers[HPET_TIMERS];
};

static uint64_t loop_clock(void *ctx)
{
	(void)ctx;
	return event_loop_now_ns();
}

static uint64_t now_ns(const struct hpet *h)
{
	return h->clock.now_ns(h->clock.ctx);
}

static bool running(const struct hpet *h)
{
	return h->config & HPET_CFG_ENABLE;
}

static uint64_t count_at(const struct hpet *h, uint64_t ns)
{
	if (!running(h) || ns < h->base_ns)
		return h->counter;
	return h->counter + (ns - h->base_ns) / HPET_TICK_NS;
}

static uint64_t capabilities(void)
{
	return HPET_CAP_REV | (uint64_t)(HPET_TIMERS - 1) << HPET_CAP_NUM_TIM_SHIFT |
	       HPET_CAP_COUNT_64 | HPET_CAP_LEGACY | HPET_VENDOR << HPET_CAP_VENDOR_SHIFT |
	       HPET_PERIOD_FS << 32;
}

static uint64_t width_mask(const struct hpet_timer *t)
{
	return t->config & HPET_TN_32BIT ? MASK32 : ~0ULL;
}

/* ---- interrupts ---- */

static bool route_allowed(unsigned route)
{
	return HPET_TN_ROUTE_CAP & (1ULL << (32 + route));
}

/* The ISA line t drives: legacy replacement's, else its route's (input
 * 2 is line 0's pin); NO_LINE for the power-on route 0, which the
 * capability does not offer. */
static int timer_line(const struct hpet *h, const struct hpet_timer *t)
{
	if ((h->config & HPET_CFG_LEGACY) && t->index < 2)
		return t->index == 0 ? ISA_IRQ_PIT : ISA_IRQ_RTC;
	unsigned route = (unsigned)((t->config & HPET_TN_ROUTE_MASK) >> HPET_TN_ROUTE_SHIFT);
	return route == HPET_ROUTE_IRQ0_PIN && route_allowed(route) ? (int)ISA_IRQ_PIT : NO_LINE;
}

static void set_line(struct hpet *h, unsigned line, bool level)
{
	if (h->isa.set_level)
		h->isa.set_level(h->isa.ctx, line, level);
}

static void timer_lower(struct hpet *h, struct hpet_timer *t)
{
	if (t->asserted != NO_LINE)
		set_line(h, (unsigned)t->asserted, false);
	t->asserted = NO_LINE;
}

/* Level: status bit and a held line; edge: a pulse. */
static void timer_interrupt(struct hpet *h, struct hpet_timer *t)
{
	int line = timer_line(h, t);
	if (!(t->config & HPET_TN_LEVEL)) {
		if (line != NO_LINE) {
			set_line(h, (unsigned)line, true);
			set_line(h, (unsigned)line, false);
		}
		return;
	}
	h->status |= 1ULL << t->index;
	if (t->asserted == line)
		return;
	timer_lower(h, t);
	if (line != NO_LINE)
		set_line(h, (unsigned)line, true);
	t->asserted = line;
}

/* ---- deadlines ---- */

static bool timer_live(const struct hpet *h, const struct hpet_timer *t)
{
	return running(h) && (t->config & HPET_TN_ENABLE) && t->timer;
}

static void timer_set_deadline(struct hpet_timer *t, uint64_t ns)
{
	t->deadline_ns = ns;
	if (!t->timer)
		return;
	if (ns)
		event_timer_arm_at(t->timer, ns);
	else
		event_timer_disarm(t->timer);
}

/* The host time `ticks` ticks after ns; 0 (never) when that is beyond
 * any host time. */
static uint64_t after_ticks(uint64_t ns, uint64_t ticks)
{
	if (ticks > (UINT64_MAX - ns) / HPET_TICK_NS)
		return 0;
	return ns + ticks * HPET_TICK_NS;
}

/* Arm t for the tick at which the counter, now at `count`, next equals
 * its comparator (in its width): the current tick, already begun, fires
 * at once. A 64-bit comparator behind the counter is 2^64 ticks away:
 * never. */
static void timer_arm_from(struct hpet *h, struct hpet_timer *t, uint64_t count)
{
	if (!timer_live(h, t)) {
		timer_set_deadline(t, 0);
		return;
	}
	uint64_t elapsed = count - h->counter;   /* ticks since base_ns */
	uint64_t ticks = (t->cmp - count) & width_mask(t);
	timer_set_deadline(t, ticks > UINT64_MAX - elapsed ? 0
							   : after_ticks(h->base_ns, elapsed + ticks));
}

static void timer_arm(struct hpet *h, struct hpet_timer *t)
{
	timer_arm_from(h, t, count_at(h, now_ns(h)));
}

static void timers_arm(struct hpet *h)
{
	for (unsigned i = 0; i < HPET_TIMERS; i++)
		timer_arm(h, &h->timers[i]);
}

/* After t fired at `due`: a periodic timer's comparator moves past the
 * counter by whole periods (missed ones are skipped) and it is armed no
 * sooner than HPET_MIN_PERIOD_NS later; a one-shot 32-bit timer comes
 * round in 2^32 ticks; a one-shot 64-bit one never again. */
static void timer_rearm(struct hpet *h, struct hpet_timer *t, uint64_t due)
{
	uint64_t mask = width_mask(t);
	if (!(t->config & HPET_TN_PERIODIC) || !t->period) {
		timer_set_deadline(t, mask == MASK32 ? after_ticks(due, MASK32 + 1) : 0);
		return;
	}
	/* One reading of the counter for both steps: a second, a tick later,
	 * could find the new comparator already passed. */
	uint64_t count = count_at(h, now_ns(h)), behind = (count - t->cmp) & mask;
	uint64_t period = t->period & mask;
	t->cmp = (t->cmp + (behind / period + 1) * period) & mask;
	timer_arm_from(h, t, count);
	if (t->deadline_ns && t->deadline_ns < due + HPET_MIN_PERIOD_NS)
		timer_set_deadline(t, due + HPET_MIN_PERIOD_NS);
}

/* On the event loop's thread. */
static void timer_expired(void *ctx)
{
	struct hpet_timer *t = ctx;
	struct hpet *h = t->hpet;
	pthread_mutex_lock(&h->lock);
	uint64_t due = t->deadline_ns;
	if (due && timer_live(h, t)) {
		if (now_ns(h) < due) {
			timer_set_deadline(t, due);   /* reprogrammed: not yet */
		} else {
			timer_interrupt(h, t);
			timer_rearm(h, t, due);
		}
	}
	pthread_mutex_unlock(&h->lock);
}

/* ---- registers ---- */

static uint64_t timer_read(const struct hpet *h, const struct hpet_timer *t, unsigned reg)
{
	(void)h;
	switch (reg) {
	case HPET_TN_CONFIG: return t->config;
	case HPET_TN_CMP: return t->cmp & width_mask(t);
	default: return 0;   /* the FSB route: no FSB delivery */
	}
}

static uint64_t reg_read(struct hpet *h, uint64_t reg)
{
	if (reg >= HPET_TIMER(0) && reg < HPET_TIMER(HPET_TIMERS))
		return timer_read(h, &h->timers[(reg - HPET_TIMER(0)) / 0x20], (reg - 0x100) % 0x20);
	switch (reg) {
	case HPET_CAP: return capabilities();
	case HPET_CONFIG: return h->config;
	case HPET_STATUS: return h->status;
	case HPET_COUNTER: return count_at(h, now_ns(h));
	default: return 0;
	}
}

static void config_write(struct hpet *h, uint64_t v)
{
	uint64_t ns = now_ns(h);
	uint64_t old = h->config, next = v & (HPET_CFG_ENABLE | HPET_CFG_LEGACY);
	if ((old & HPET_CFG_ENABLE) && !(next & HPET_CFG_ENABLE))
		h->counter = count_at(h, ns);   /* halt: keep the count */
	if (!(old & HPET_CFG_ENABLE) && (next & HPET_CFG_ENABLE))
		h->base_ns = ns;                /* run on from the count */
	h->config = next;
	for (unsigned i = 0; i < HPET_TIMERS; i++)
		if (!running(h) || (old ^ next) & HPET_CFG_LEGACY)
			timer_lower(h, &h->timers[i]);   /* halted, or a line moved */
	timers_arm(h);
}

static void status_write(struct hpet *h, uint64_t v)
{
	for (unsigned i = 0; i < HPET_TIMERS; i++) {
		if (!(v & h->status & (1ULL << i)))
			continue;
		h->status &= ~(1ULL << i);
		timer_lower(h, &h->timers[i]);
	}
}

/* A route outside the capability is not taken: the old one reads back. */
static void timer_config_write(struct hpet *h, struct hpet_timer *t, uint64_t v)
{
	uint64_t next = (t->config & ~TN_WRITABLE) | (v & TN_WRITABLE);
	if (!route_allowed((unsigned)((next & HPET_TN_ROUTE_MASK) >> HPET_TN_ROUTE_SHIFT)))
		next = (next & ~HPET_TN_ROUTE_MASK) | (t->config & HPET_TN_ROUTE_MASK);
	bool moved = (next ^ t->config) & (HPET_TN_ROUTE_MASK | HPET_TN_LEVEL | HPET_TN_ENABLE);
	t->config = next;
	if (moved) {
		timer_lower(h, t);
		h->status &= ~(1ULL << t->index);
	}
	if (next & HPET_TN_32BIT) {
		t->cmp &= MASK32;
		t->period &= MASK32;
	}
	timer_arm(h, t);
}

static void timer_cmp_write(struct hpet *h, struct hpet_timer *t, uint64_t v)
{
	v &= width_mask(t);
	if (!(t->config & HPET_TN_PERIODIC) || (t->config & HPET_TN_SETVAL))
		t->cmp = v;
	t->period = v;
	t->config &= ~HPET_TN_SETVAL;
	timer_arm(h, t);
}

static void reg_write(struct hpet *h, uint64_t reg, uint64_t v)
{
	if (reg >= HPET_TIMER(0) && reg < HPET_TIMER(HPET_TIMERS)) {
		struct hpet_timer *t = &h->timers[(reg - HPET_TIMER(0)) / 0x20];
		unsigned r = (reg - HPET_TIMER(0)) % 0x20;
		if (r == HPET_TN_CONFIG)
			timer_config_write(h, t, v);
		else if (r == HPET_TN_CMP)
			timer_cmp_write(h, t, v);
		return;
	}
	switch (reg) {
	case HPET_CONFIG: config_write(h, v); break;
	case HPET_STATUS: status_write(h, v); break;
	case HPET_COUNTER:
		if (!running(h))
			h->counter = v;
		break;
	default: break;   /* read-only or reserved */
	}
}

/* ---- the MMIO window: any width, any offset ---- */

/* The bytes [first, first + n) of one 64-bit register, at data. */
static void hpet_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct hpet *h = opaque;
	pthread_mutex_lock(&h->lock);
	for (uint32_t i = 0; i < len;) {
		uint64_t reg = (offset + i) & ~7ULL, v = reg_read(h, reg);
		for (unsigned b = (unsigned)((offset + i) & 7); b < 8 && i < len; b++, i++)
			data[i] = (uint8_t)(v >> (8 * b));
	}
	pthread_mutex_unlock(&h->lock);
}

/* A narrow write merges into the register's current value; for the
 * status register only the written bytes' ones clear bits. */
static void hpet_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct hpet *h = opaque;
	pthread_mutex_lock(&h->lock);
	for (uint32_t i = 0; i < len;) {
		uint64_t reg = (offset + i) & ~7ULL;
		uint64_t v = reg == HPET_STATUS ? 0 : reg_read(h, reg);
		for (unsigned b = (unsigned)((offset + i) & 7); b < 8 && i < len; b++, i++)
			v = (v & ~(0xffULL << (8 * b))) | (uint64_t)data[i] << (8 * b);
		reg_write(h, reg, v);
	}
	pthread_mutex_unlock(&h->lock);
}

const struct bus_device_ops hpet_ops = { .read = hpet_read, .write = hpet_write };

/* ---- life ---- */

static void timers_power_on(struct hpet *h)
{
	for (unsigned i = 0; i < HPET_TIMERS; i++) {
		struct hpet_timer *t = &h->timers[i];
		t->config = TN_CAPS;
		t->cmp = ~0ULL;
		t->period = 0;
		t->asserted = NO_LINE;
	}
}

struct hpet *hpet_create(const struct hpet_clock *clock, struct event_loop *loop,
			 const struct irq_line *isa, struct kvmini_error *err)
{
	struct hpet *h = calloc(1, sizeof(*h));
	if (!h) {
		kvmini_fail(err, KVMINI_E_HOST, "out of memory for the HPET");
		return NULL;
	}
	pthread_mutex_init(&h->lock, NULL);
	h->clock = clock && clock->now_ns ? *clock : (struct hpet_clock){ .now_ns = loop_clock };
	if (isa)
		h->isa = *isa;
	timers_power_on(h);
	for (unsigned i = 0; i < HPET_TIMERS; i++) {
		struct hpet_timer *t = &h->timers[i];
		t->hpet = h;
		t->index = i;
		if (loop && !(t->timer = event_timer_create(loop, timer_expired, t, err))) {
			hpet_destroy(h);
			return NULL;
		}
	}
	return h;
}

/* The timers go first, outside the lock: their removal waits for a
 * callback in flight, which takes the lock. */
void hpet_destroy(struct hpet *h)
{
	if (!h)
		return;
	for (unsigned i = 0; i < HPET_TIMERS; i++)
		event_timer_destroy(h->timers[i].timer);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static void hpet_reset(void *dev)
{
	struct hpet *h = dev;
	pthread_mutex_lock(&h->lock);
	for (unsigned i = 0; i < HPET_TIMERS; i++)
		timer_lower(h, &h->timers[i]);
	h->config = h->status = h->counter = h->base_ns = 0;
	timers_power_on(h);
	timers_arm(h);
	pthread_mutex_unlock(&h->lock);
}

/* ---- saved state ---- */

static void hpet_save(void *dev, struct state_writer *w)
{
	struct hpet *h = dev;
	pthread_mutex_lock(&h->lock);
	state_put_u64(w, h->config);
	state_put_u64(w, h->status);
	state_put_u64(w, count_at(h, now_ns(h)));
	for (unsigned i = 0; i < HPET_TIMERS; i++) {
		state_put_u64(w, h->timers[i].config);
		state_put_u64(w, h->timers[i].cmp);
		state_put_u64(w, h->timers[i].period);
	}
	pthread_mutex_unlock(&h->lock);
}

/* What a guest could have written: known bits only, the fixed
 * capabilities, a route the capability allows, 32-bit values in 32-bit
 * mode. Route 0 is the power-on value. */
static bool timer_state_valid(uint64_t config, uint64_t cmp, uint64_t period)
{
	unsigned route = (unsigned)((config & HPET_TN_ROUTE_MASK) >> HPET_TN_ROUTE_SHIFT);
	if ((config & ~(TN_WRITABLE | TN_CAPS)) || (config & TN_CAPS) != TN_CAPS ||
	    (route && !route_allowed(route)))
		return false;
	return !(config & HPET_TN_32BIT) || ((cmp | period) >> 32) == 0;
}

/* Lines come back up for level-triggered timers whose status bit is
 * set and whose interrupt is on. */
static void hpet_apply(struct hpet *h, const uint64_t v[3], uint64_t tv[HPET_TIMERS][3])
{
	for (unsigned i = 0; i < HPET_TIMERS; i++)
		timer_lower(h, &h->timers[i]);
	h->config = v[0];
	h->status = v[1];
	h->counter = v[2];
	h->base_ns = now_ns(h);
	for (unsigned i = 0; i < HPET_TIMERS; i++) {
		struct hpet_timer *t = &h->timers[i];
		t->config = tv[i][0];
		t->cmp = tv[i][1];
		t->period = tv[i][2];
		t->asserted = NO_LINE;
		if ((h->status & (1ULL << i)) && running(h) && (t->config & HPET_TN_ENABLE) &&
		    (t->asserted = timer_line(h, t)) != NO_LINE)
			set_line(h, (unsigned)t->asserted, true);
	}
	timers_arm(h);
}

static int hpet_restore(void *dev, struct state_reader *r, struct kvmini_error *err)
{
	struct hpet *h = dev;
	uint64_t v[3], tv[HPET_TIMERS][3];
	for (unsigned i = 0; i < 3; i++)
		v[i] = state_get_u64(r);
	for (unsigned i = 0; i < HPET_TIMERS; i++)
		for (unsigned k = 0; k < 3; k++)
			tv[i][k] = state_get_u64(r);
	if (state_reader_finish(r, "HPET", err) < 0)
		return -1;
	if ((v[0] & ~(HPET_CFG_ENABLE | HPET_CFG_LEGACY)) || (v[1] >> HPET_TIMERS))
		return kvmini_fail(err, KVMINI_E_USAGE, "HPET: saved configuration is impossible");
	for (unsigned i = 0; i < HPET_TIMERS; i++) {
		bool level = tv[i][0] & HPET_TN_LEVEL;
		if (!timer_state_valid(tv[i][0], tv[i][1], tv[i][2]) ||
		    (!level && (v[1] & (1ULL << i))))
			return kvmini_fail(err, KVMINI_E_USAGE, "HPET: saved timer %u is impossible", i);
	}
	pthread_mutex_lock(&h->lock);
	hpet_apply(h, v, tv);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

/* ---- the device interface ---- */

static void *hpet_device_create(const struct device_env *env, struct kvmini_error *err)
{
	return hpet_create(NULL, env->loop, &env->isa_bus, err);
}

static void hpet_device_destroy(void *dev)
{
	hpet_destroy(dev);
}

static bool hpet_wanted(const struct kvmini_config *cfg)
{
	return !cfg->no_hpet;
}

static const struct resource_hpet hpet_block = {
	.block_id = (uint32_t)(HPET_CAP_REV | (HPET_TIMERS - 1) << HPET_CAP_NUM_TIM_SHIFT |
			       HPET_CAP_COUNT_64 | HPET_CAP_LEGACY |
			       HPET_VENDOR << HPET_CAP_VENDOR_SHIFT),
	.min_tick = (uint16_t)(HPET_MIN_PERIOD_NS / HPET_TICK_NS),
};

const struct device_type hpet_device = {
	.name = "HPET",
	.res = {
		.ranges = { { RESOURCE_SPACE_MMIO, HPET_BASE, HPET_SIZE, &hpet_ops, "HPET" } },
		.nranges = 1,
		.acpi_name = "HPET", .acpi_hid = "PNP0103",
		.hpet = &hpet_block,
	},
	.wanted = hpet_wanted,
	.create = hpet_device_create, .destroy = hpet_device_destroy, .reset = hpet_reset,
	.save_state = hpet_save, .restore_state = hpet_restore,
};
