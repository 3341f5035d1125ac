#include <pthread.h>
#include <stdlib.h>
#include "devices/i8259.h"

#define SPURIOUS_IRQ 7
/* ELCR bits that can be set: IRQs 0, 1, 2 (master) and 8, 13 (slave)
 * are edge-only on a PC's chipset. */
#define MASTER_ELCR_MASK 0xf8
#define SLAVE_ELCR_MASK  0xde

enum {
	ICW1 = 0x10, ICW1_IC4 = 0x01, ICW1_SNGL = 0x02, ICW1_LTIM = 0x08,
	ICW4_AEOI = 0x02,
	OCW3 = 0x08, OCW3_RIS = 0x01, OCW3_RR = 0x02, OCW3_POLL = 0x04,
	OCW3_SMM = 0x20, OCW3_ESMM = 0x40,
	POLL_PENDING = 0x80,
};

/* OCW2 commands: bits 7-5 (R, SL, EOI). */
enum {
	OCW2_ROTATE_AEOI_CLEAR = 0, OCW2_EOI = 1, OCW2_NOP = 2, OCW2_SPECIFIC_EOI = 3,
	OCW2_ROTATE_AEOI_SET = 4, OCW2_ROTATE_EOI = 5, OCW2_SET_PRIORITY = 6,
	OCW2_ROTATE_SPECIFIC_EOI = 7,
};

/* Which initialization word the data port expects next (0: none). */
enum { INIT_DONE = 0, INIT_ICW2 = 2, INIT_ICW3 = 3, INIT_ICW4 = 4 };

struct pic_chip {
	uint8_t irr, isr, imr;
	uint8_t input;          /* the lines' levels, for edge detection */
	uint8_t elcr, elcr_mask;
	uint8_t vector_base;    /* ICW2, low three bits clear */
	uint8_t top;            /* the input with the highest priority (rotation) */
	uint8_t init_step;
	bool icw4_expected, single, ltim;
	bool auto_eoi, rotate_on_aeoi;
	bool special_mask, read_isr, poll;
};

struct i8259 {
	pthread_mutex_t lock;   /* vCPU threads, the PIT's timer and the console share it */
	struct pic_chip master, slave;
	struct i8259_output out;
	bool output;
};

/* ---- one chip ---- */

static unsigned priority(const struct pic_chip *c, unsigned irq)
{
	return (irq - c->top) & 7;   /* 0 is the highest */
}

/* The input in `bits` with the highest priority, or -1. */
static int highest(const struct pic_chip *c, uint8_t bits)
{
	for (unsigned p = 0; p < 8; p++) {
		unsigned irq = (c->top + p) & 7;
		if (bits & (1u << irq))
			return (int)irq;
	}
	return -1;
}

static bool level_triggered(const struct pic_chip *c, unsigned irq)
{
	return c->ltim || (c->elcr & (1u << irq));
}

/* The request this chip presents on INT, or -1: the highest unmasked
 * request whose priority beats every input in service (in special mask
 * mode, masked inputs in service do not hold others off). */
static int pending_irq(const struct pic_chip *c)
{
	int irq = highest(c, c->irr & (uint8_t)~c->imr);
	if (irq < 0)
		return -1;
	uint8_t in_service = c->special_mask ? c->isr & (uint8_t)~c->imr : c->isr;
	int busy = highest(c, in_service);
	if (busy >= 0 && priority(c, (unsigned)busy) <= priority(c, (unsigned)irq))
		return -1;
	return irq;
}

static void chip_set_irq(struct pic_chip *c, unsigned irq, bool level)
{
	uint8_t bit = (uint8_t)(1u << irq);
	if (level_triggered(c, irq)) {
		c->irr = level ? c->irr | bit : c->irr & (uint8_t)~bit;
	} else if (level && !(c->input & bit)) {
		c->irr |= bit;   /* a rising edge latches a request */
	}
	c->input = level ? c->input | bit : c->input & (uint8_t)~bit;
}

/* The acknowledge cycle on one chip for `irq`. */
static void chip_ack(struct pic_chip *c, unsigned irq)
{
	uint8_t bit = (uint8_t)(1u << irq);
	if (!level_triggered(c, irq))
		c->irr &= (uint8_t)~bit;
	if (!c->auto_eoi)
		c->isr |= bit;
	else if (c->rotate_on_aeoi)
		c->top = (uint8_t)((irq + 1) & 7);
}

static void chip_init(struct pic_chip *c, uint8_t icw1)
{
	uint8_t level_bits = icw1 & ICW1_LTIM ? 0xff : c->elcr;
	c->irr &= c->input & level_bits;   /* edge requests need a new edge */
	c->isr = c->imr = 0;
	c->top = 0;
	c->icw4_expected = icw1 & ICW1_IC4;
	c->single = icw1 & ICW1_SNGL;
	c->ltim = icw1 & ICW1_LTIM;
	c->auto_eoi = c->rotate_on_aeoi = false;
	c->special_mask = c->read_isr = c->poll = false;
	c->init_step = INIT_ICW2;
}

static void chip_write_init_word(struct pic_chip *c, uint8_t value)
{
	switch (c->init_step) {
	case INIT_ICW2:
		c->vector_base = value & 0xf8;
		c->init_step = !c->single ? INIT_ICW3 : c->icw4_expected ? INIT_ICW4 : INIT_DONE;
		break;
	case INIT_ICW3:   /* the cascade wiring is fixed: input 2 */
		c->init_step = c->icw4_expected ? INIT_ICW4 : INIT_DONE;
		break;
	case INIT_ICW4:
		c->auto_eoi = value & ICW4_AEOI;
		c->init_step = INIT_DONE;
		break;
	}
}

static void chip_eoi(struct pic_chip *c, int irq, bool rotate)
{
	if (irq < 0)
		return;
	c->isr &= (uint8_t)~(1u << irq);
	if (rotate)
		c->top = (uint8_t)((irq + 1) & 7);
}

static void chip_write_ocw2(struct pic_chip *c, uint8_t value)
{
	unsigned level = value & 7;
	switch (value >> 5) {
	case OCW2_ROTATE_AEOI_CLEAR: c->rotate_on_aeoi = false; break;
	case OCW2_ROTATE_AEOI_SET: c->rotate_on_aeoi = true; break;
	case OCW2_EOI: chip_eoi(c, highest(c, c->isr), false); break;
	case OCW2_ROTATE_EOI: chip_eoi(c, highest(c, c->isr), true); break;
	case OCW2_SPECIFIC_EOI: chip_eoi(c, (int)level, false); break;
	case OCW2_ROTATE_SPECIFIC_EOI: chip_eoi(c, (int)level, true); break;
	case OCW2_SET_PRIORITY: c->top = (uint8_t)((level + 1) & 7); break;
	case OCW2_NOP: break;
	}
}

static void chip_write_ocw3(struct pic_chip *c, uint8_t value)
{
	if (value & OCW3_POLL)
		c->poll = true;
	if (value & OCW3_RR)
		c->read_isr = value & OCW3_RIS;
	if (value & OCW3_ESMM)
		c->special_mask = value & OCW3_SMM;
}

static void chip_write(struct pic_chip *c, unsigned port, uint8_t value)
{
	if (port == 1) {
		if (c->init_step != INIT_DONE)
			chip_write_init_word(c, value);
		else
			c->imr = value;   /* OCW1 */
	} else if (value & ICW1) {
		chip_init(c, value);
	} else if (value & OCW3) {
		chip_write_ocw3(c, value);
	} else {
		chip_write_ocw2(c, value);
	}
}

/* A poll command makes the next read of the command port an
 * acknowledge: bit 7 set and the input's number, or 0. */
static uint8_t chip_poll(struct pic_chip *c)
{
	c->poll = false;
	int irq = pending_irq(c);
	if (irq < 0)
		return 0;
	chip_ack(c, (unsigned)irq);
	return (uint8_t)(POLL_PENDING | irq);
}

static uint8_t chip_read(struct pic_chip *c, unsigned port)
{
	if (port == 1)
		return c->imr;
	if (c->poll)
		return chip_poll(c);
	return c->read_isr ? c->isr : c->irr;
}

/* ---- the pair ---- */

/* Propagate the slave's INT to master input 2, then the master's INT to
 * the CPU. Called after every change, with the lock held. */
static void update_output(struct i8259 *pic)
{
	chip_set_irq(&pic->master, I8259_CASCADE_IRQ, pending_irq(&pic->slave) >= 0);
	bool level = pending_irq(&pic->master) >= 0;
	if (level != pic->output) {
		pic->output = level;
		if (pic->out.changed)
			pic->out.changed(pic->out.ctx, level);
	}
}

struct i8259 *i8259_create(const struct i8259_output *out)
{
	struct i8259 *pic = calloc(1, sizeof(*pic));
	if (!pic)
		return NULL;
	pthread_mutex_init(&pic->lock, NULL);
	pic->master.elcr_mask = MASTER_ELCR_MASK;
	pic->slave.elcr_mask = SLAVE_ELCR_MASK;
	if (out)
		pic->out = *out;
	return pic;
}

void i8259_destroy(struct i8259 *pic)
{
	if (!pic)
		return;
	pthread_mutex_destroy(&pic->lock);
	free(pic);
}

void i8259_set_irq(struct i8259 *pic, unsigned irq, bool level)
{
	if (irq >= 16 || irq == I8259_CASCADE_IRQ)
		return;
	pthread_mutex_lock(&pic->lock);
	chip_set_irq(irq < 8 ? &pic->master : &pic->slave, irq & 7, level);
	update_output(pic);
	pthread_mutex_unlock(&pic->lock);
}

bool i8259_output(struct i8259 *pic)
{
	pthread_mutex_lock(&pic->lock);
	bool level = pic->output;
	pthread_mutex_unlock(&pic->lock);
	return level;
}

/* The slave's half of an acknowledge through the cascade. */
static uint8_t acknowledge_slave(struct pic_chip *slave)
{
	int irq = pending_irq(slave);
	if (irq < 0)
		return (uint8_t)(slave->vector_base + SPURIOUS_IRQ);
	chip_ack(slave, (unsigned)irq);
	return (uint8_t)(slave->vector_base + irq);
}

uint8_t i8259_acknowledge(struct i8259 *pic)
{
	pthread_mutex_lock(&pic->lock);
	struct pic_chip *m = &pic->master;
	int irq = pending_irq(m);
	uint8_t vector;
	if (irq < 0) {
		vector = (uint8_t)(m->vector_base + SPURIOUS_IRQ);
	} else {
		chip_ack(m, (unsigned)irq);
		vector = irq == I8259_CASCADE_IRQ && !m->single ? acknowledge_slave(&pic->slave)
								: (uint8_t)(m->vector_base + irq);
	}
	update_output(pic);
	pthread_mutex_unlock(&pic->lock);
	return vector;
}

/* ---- bus callbacks: byte registers, several bytes in a row ---- */

static void read_chip(struct i8259 *pic, struct pic_chip *c, uint64_t offset,
		      uint8_t *data, uint32_t len)
{
	pthread_mutex_lock(&pic->lock);
	for (uint32_t i = 0; i < len; i++)
		data[i] = chip_read(c, (unsigned)(offset + i));
	update_output(pic);   /* a poll read acknowledges */
	pthread_mutex_unlock(&pic->lock);
}

static void write_chip(struct i8259 *pic, struct pic_chip *c, uint64_t offset,
		       const uint8_t *data, uint32_t len)
{
	pthread_mutex_lock(&pic->lock);
	for (uint32_t i = 0; i < len; i++)
		chip_write(c, (unsigned)(offset + i), data[i]);
	update_output(pic);
	pthread_mutex_unlock(&pic->lock);
}

static void master_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct i8259 *pic = opaque;
	read_chip(pic, &pic->master, offset, data, len);
}

static void master_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct i8259 *pic = opaque;
	write_chip(pic, &pic->master, offset, data, len);
}

static void slave_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct i8259 *pic = opaque;
	read_chip(pic, &pic->slave, offset, data, len);
}

static void slave_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct i8259 *pic = opaque;
	write_chip(pic, &pic->slave, offset, data, len);
}

const struct bus_device_ops i8259_master_ops = { .read = master_read, .write = master_write };
const struct bus_device_ops i8259_slave_ops = { .read = slave_read, .write = slave_write };

static struct pic_chip *elcr_chip(struct i8259 *pic, uint64_t port)
{
	return port == 0 ? &pic->master : &pic->slave;
}

/* An input switched to level mode shows its line in IRR at once. */
static void set_elcr(struct pic_chip *c, uint8_t value)
{
	c->elcr = value & c->elcr_mask;
	c->irr = (uint8_t)((c->irr & ~c->elcr) | (c->input & c->elcr));
}

static void elcr_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct i8259 *pic = opaque;
	pthread_mutex_lock(&pic->lock);
	for (uint32_t i = 0; i < len; i++)
		data[i] = elcr_chip(pic, offset + i)->elcr;
	pthread_mutex_unlock(&pic->lock);
}

static void elcr_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct i8259 *pic = opaque;
	pthread_mutex_lock(&pic->lock);
	for (uint32_t i = 0; i < len; i++)
		set_elcr(elcr_chip(pic, offset + i), data[i]);
	update_output(pic);
	pthread_mutex_unlock(&pic->lock);
}

const struct bus_device_ops i8259_elcr_ops = { .read = elcr_read, .write = elcr_write };

/* ---- saved state ---- */

#define STATE_VERSION 1

/* The mode bits, one byte each in the record. */
enum { FLAG_ICW4, FLAG_SINGLE, FLAG_LTIM, FLAG_AEOI, FLAG_ROTATE_AEOI, FLAG_SPECIAL_MASK,
       FLAG_READ_ISR, FLAG_POLL, NFLAGS };

static void chip_flags(const struct pic_chip *c, bool f[NFLAGS])
{
	f[FLAG_ICW4] = c->icw4_expected;
	f[FLAG_SINGLE] = c->single;
	f[FLAG_LTIM] = c->ltim;
	f[FLAG_AEOI] = c->auto_eoi;
	f[FLAG_ROTATE_AEOI] = c->rotate_on_aeoi;
	f[FLAG_SPECIAL_MASK] = c->special_mask;
	f[FLAG_READ_ISR] = c->read_isr;
	f[FLAG_POLL] = c->poll;
}

static void chip_save(const struct pic_chip *c, struct state_writer *w)
{
	uint8_t bytes[] = { c->irr, c->isr, c->imr, c->input, c->elcr, c->vector_base, c->top,
			    c->init_step };
	state_put_bytes(w, bytes, sizeof(bytes));
	bool f[NFLAGS];
	chip_flags(c, f);
	for (unsigned i = 0; i < NFLAGS; i++)
		state_put_u8(w, f[i]);
}

void i8259_save(struct i8259 *pic, struct state_writer *w)
{
	pthread_mutex_lock(&pic->lock);
	state_put_u32(w, STATE_VERSION);
	chip_save(&pic->master, w);
	chip_save(&pic->slave, w);
	pthread_mutex_unlock(&pic->lock);
}

/* One chip's record into `c` (a copy: nothing live changes here);
 * false when a value is one no guest could have made. */
static bool chip_load(struct pic_chip *c, struct state_reader *r)
{
	c->irr = state_get_u8(r);
	c->isr = state_get_u8(r);
	c->imr = state_get_u8(r);
	c->input = state_get_u8(r);
	c->elcr = state_get_u8(r);
	c->vector_base = state_get_u8(r);
	c->top = state_get_u8(r);
	c->init_step = state_get_u8(r);
	uint8_t f[NFLAGS];
	bool bad = !state_get_flags(r, f, NFLAGS);
	c->icw4_expected = f[FLAG_ICW4];
	c->single = f[FLAG_SINGLE];
	c->ltim = f[FLAG_LTIM];
	c->auto_eoi = f[FLAG_AEOI];
	c->rotate_on_aeoi = f[FLAG_ROTATE_AEOI];
	c->special_mask = f[FLAG_SPECIAL_MASK];
	c->read_isr = f[FLAG_READ_ISR];
	c->poll = f[FLAG_POLL];
	bool step_ok = c->init_step == INIT_DONE || c->init_step == INIT_ICW2 ||
		       c->init_step == INIT_ICW3 || c->init_step == INIT_ICW4;
	return !bad && step_ok && !(c->elcr & ~c->elcr_mask) && !(c->vector_base & 7) && c->top < 8;
}

int i8259_restore(struct i8259 *pic, struct state_reader *r, struct kvmini_error *err)
{
	struct pic_chip master = { .elcr_mask = MASTER_ELCR_MASK };
	struct pic_chip slave = { .elcr_mask = SLAVE_ELCR_MASK };
	uint32_t version = state_get_u32(r);
	bool master_ok = chip_load(&master, r), slave_ok = chip_load(&slave, r);
	if (r->failed)
		return kvmini_fail(err, KVMINI_E_USAGE, "8259 PIC: saved state is truncated");
	if (version != STATE_VERSION)
		return kvmini_fail(err, KVMINI_E_USAGE, "8259 PIC: saved state version %u is not "
				   "supported", version);
	if (!master_ok || !slave_ok)
		return kvmini_fail(err, KVMINI_E_USAGE, "8259 PIC: saved %s state is impossible",
				   master_ok ? "slave" : "master");
	pthread_mutex_lock(&pic->lock);
	pic->master = master;
	pic->slave = slave;
	update_output(pic);
	pthread_mutex_unlock(&pic->lock);
	return 0;
}
