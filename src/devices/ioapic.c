#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "devices/ioapic.h"

#define REG_SELECT 0x00          /* IOREGSEL offset */
#define REG_WINDOW 0x10          /* IOWIN offset */

enum { IOAPIC_ID = 0x00, IOAPIC_VER = 0x01, IOAPIC_ARB = 0x02, IOAPIC_REDIR = 0x10 };

/* Redirection entry fields. */
#define RTE_VECTOR         0xffULL
#define RTE_DELIVERY_SHIFT 8
#define RTE_LOGICAL        (1ULL << 11)
#define RTE_DELIVERY_STATUS (1ULL << 12)
#define RTE_REMOTE_IRR     (1ULL << 14)
#define RTE_LEVEL          (1ULL << 15)
#define RTE_MASKED         (1ULL << 16)
#define RTE_DEST_SHIFT     56
#define RTE_READ_ONLY      (RTE_DELIVERY_STATUS | RTE_REMOTE_IRR)
#define DELIVERY_EXTINT    7

#define MSI_ADDRESS_BASE   0xfee00000ULL
#define MSI_DEST_SHIFT     12
#define MSI_LOGICAL        (1u << 2)
#define MSI_ASSERT         (1u << 14)
#define MSI_LEVEL          (1u << 15)

struct ioapic {
	pthread_mutex_t lock;    /* vCPU threads, the PIT's timer and the console share it */
	struct ioapic_sink sink;
	uint8_t id;
	uint8_t select;          /* IOREGSEL */
	uint32_t irr;            /* the pins' levels */
	uint64_t redir[IOAPIC_PINS];
	bool programmed;         /* the sink holds the current messages */
};

struct ioapic *ioapic_create(uint8_t id, const struct ioapic_sink *sink)
{
	struct ioapic *io = calloc(1, sizeof(*io));
	if (!io)
		return NULL;
	pthread_mutex_init(&io->lock, NULL);
	io->id = id;
	if (sink)
		io->sink = *sink;
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		io->redir[pin] = RTE_MASKED;
	return io;
}

void ioapic_destroy(struct ioapic *io)
{
	if (!io)
		return;
	pthread_mutex_destroy(&io->lock);
	free(io);
}

/* ---- messages ---- */

static struct ioapic_msi entry_message(uint64_t entry)
{
	bool level = entry & RTE_LEVEL;
	uint64_t dest = (entry >> RTE_DEST_SHIFT) & 0xff;
	return (struct ioapic_msi){
		.address = MSI_ADDRESS_BASE | dest << MSI_DEST_SHIFT |
			   (entry & RTE_LOGICAL ? MSI_LOGICAL : 0),
		.data = (uint32_t)(entry & RTE_VECTOR) |
			(uint32_t)(entry & (7ULL << RTE_DELIVERY_SHIFT)) |
			(level ? MSI_ASSERT | MSI_LEVEL : 0),
	};
}

/* The message fields of an entry: what a change must be programmed for. */
static uint64_t message_bits(uint64_t entry)
{
	return entry & ~(RTE_MASKED | RTE_READ_ONLY);
}

/* Messages are installed lazily, before the next send, so a guest that
 * writes many entries in a row costs one programming. */
static void program(struct ioapic *io)
{
	if (io->programmed)
		return;
	io->programmed = true;
	if (!io->sink.program)
		return;
	struct ioapic_msi msgs[IOAPIC_PINS];
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		msgs[pin] = entry_message(io->redir[pin]);
	io->sink.program(io->sink.ctx, msgs);
}

static void send(struct ioapic *io, unsigned pin)
{
	uint64_t entry = io->redir[pin];
	if (((entry >> RTE_DELIVERY_SHIFT) & 7) == DELIVERY_EXTINT)
		return;
	program(io);
	if (io->sink.send) {
		struct ioapic_msi msg = entry_message(entry);
		io->sink.send(io->sink.ctx, pin, &msg);
	}
}

/* A level-triggered pin that is asserted, unmasked and not waiting for
 * an EOI sends its message and waits for the EOI. */
static void service_level(struct ioapic *io, unsigned pin)
{
	uint64_t *entry = &io->redir[pin];
	if (!(*entry & RTE_LEVEL) || (*entry & (RTE_MASKED | RTE_REMOTE_IRR)) ||
	    !(io->irr & (1u << pin)))
		return;
	*entry |= RTE_REMOTE_IRR;
	send(io, pin);
}

void ioapic_set_pin(struct ioapic *io, unsigned pin, bool level)
{
	if (pin >= IOAPIC_PINS)
		return;
	uint32_t bit = 1u << pin;
	pthread_mutex_lock(&io->lock);
	bool rising = level && !(io->irr & bit);
	io->irr = level ? io->irr | bit : io->irr & ~bit;
	uint64_t entry = io->redir[pin];
	if (entry & RTE_LEVEL)
		service_level(io, pin);
	else if (rising && !(entry & RTE_MASKED))
		send(io, pin);
	pthread_mutex_unlock(&io->lock);
}

void ioapic_eoi(struct ioapic *io, uint8_t vector)
{
	pthread_mutex_lock(&io->lock);
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		uint64_t *entry = &io->redir[pin];
		if (!(*entry & RTE_LEVEL) || !(*entry & RTE_REMOTE_IRR) ||
		    (*entry & RTE_VECTOR) != vector)
			continue;
		*entry &= ~RTE_REMOTE_IRR;
		service_level(io, pin);
	}
	pthread_mutex_unlock(&io->lock);
}

/* ---- registers ---- */

static uint32_t read_register(const struct ioapic *io, uint8_t reg)
{
	switch (reg) {
	case IOAPIC_ID:
	case IOAPIC_ARB:
		return (uint32_t)io->id << 24;
	case IOAPIC_VER:
		return (uint32_t)(IOAPIC_PINS - 1) << 16 | IOAPIC_VERSION;
	}
	if (reg >= IOAPIC_REDIR && reg < IOAPIC_REDIR + 2 * IOAPIC_PINS) {
		uint64_t entry = io->redir[(reg - IOAPIC_REDIR) / 2];
		return (uint32_t)(reg & 1 ? entry >> 32 : entry);
	}
	return 0;
}

static void write_entry(struct ioapic *io, unsigned pin, bool high, uint32_t value)
{
	uint64_t old = io->redir[pin];
	uint64_t entry = high ? (old & 0xffffffffULL) | (uint64_t)value << 32
			      : (old & ~0xffffffffULL) | value;
	entry = (entry & ~RTE_READ_ONLY) | (old & RTE_READ_ONLY);
	if (!(entry & RTE_LEVEL))
		entry &= ~RTE_REMOTE_IRR;   /* only level-triggered pins wait for an EOI */
	io->redir[pin] = entry;
	if (message_bits(entry) != message_bits(old))
		io->programmed = false;
	service_level(io, pin);   /* an asserted level pin just unmasked */
}

static void write_register(struct ioapic *io, uint8_t reg, uint32_t value)
{
	if (reg == IOAPIC_ID)
		io->id = (uint8_t)(value >> 24);
	else if (reg >= IOAPIC_REDIR && reg < IOAPIC_REDIR + 2 * IOAPIC_PINS)
		write_entry(io, (reg - IOAPIC_REDIR) / 2, reg & 1, value);
}

static uint32_t load_le(const uint8_t *data, uint32_t len)
{
	uint32_t v = 0;
	for (uint32_t i = 0; i < len && i < 4; i++)
		v |= (uint32_t)data[i] << (8 * i);
	return v;
}

static void store_le(uint8_t *data, uint32_t len, uint32_t v)
{
	memset(data, 0, len);
	for (uint32_t i = 0; i < len && i < 4; i++)
		data[i] = (uint8_t)(v >> (8 * i));
}

static void mmio_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct ioapic *io = opaque;
	pthread_mutex_lock(&io->lock);
	uint32_t v = offset == REG_SELECT ? io->select
		   : offset == REG_WINDOW ? read_register(io, io->select) : 0;
	pthread_mutex_unlock(&io->lock);
	store_le(data, len, v);
}

static void mmio_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct ioapic *io = opaque;
	pthread_mutex_lock(&io->lock);
	if (offset == REG_SELECT)
		io->select = data[0];
	else if (offset == REG_WINDOW && len == 4)
		write_register(io, io->select, load_le(data, len));
	pthread_mutex_unlock(&io->lock);
}

const struct bus_device_ops ioapic_ops = { .read = mmio_read, .write = mmio_write };

/* ---- saved state ---- */

#define STATE_VERSION 1

void ioapic_save(struct ioapic *io, struct state_writer *w)
{
	pthread_mutex_lock(&io->lock);
	state_put_u32(w, STATE_VERSION);
	state_put_u8(w, io->id);
	state_put_u8(w, io->select);
	state_put_u32(w, io->irr);
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		state_put_u64(w, io->redir[pin]);
	pthread_mutex_unlock(&io->lock);
}

/* An entry a guest could have left: delivery status never set, remote
 * IRR only on a level-triggered pin (write_entry() keeps both so). */
static bool entry_valid(uint64_t entry)
{
	return !(entry & RTE_DELIVERY_STATUS) && (!(entry & RTE_REMOTE_IRR) || (entry & RTE_LEVEL));
}

int ioapic_restore(struct ioapic *io, struct state_reader *r, struct kvmini_error *err)
{
	uint32_t version = state_get_u32(r);
	uint8_t id = state_get_u8(r), select = state_get_u8(r);
	uint32_t irr = state_get_u32(r);
	uint64_t redir[IOAPIC_PINS];
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		redir[pin] = state_get_u64(r);
	if (r->failed)
		return kvmini_fail(err, KVMINI_E_USAGE, "IOAPIC: saved state is truncated");
	if (version != STATE_VERSION)
		return kvmini_fail(err, KVMINI_E_USAGE, "IOAPIC: saved state version %u is not "
				   "supported", version);
	if (irr >> IOAPIC_PINS)
		return kvmini_fail(err, KVMINI_E_USAGE, "IOAPIC: saved pin levels 0x%x name pins "
				   "beyond %u", irr, IOAPIC_PINS - 1);
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		if (!entry_valid(redir[pin]))
			return kvmini_fail(err, KVMINI_E_USAGE, "IOAPIC: saved redirection entry %u "
					   "(0x%llx) is impossible", pin,
					   (unsigned long long)redir[pin]);
	pthread_mutex_lock(&io->lock);
	io->id = id;
	io->select = select;
	io->irr = irr;
	memcpy(io->redir, redir, sizeof(redir));
	io->programmed = false;
	program(io);
	pthread_mutex_unlock(&io->lock);
	return 0;
}
