/* Layer 3: the address-space bus. Two spaces (port I/O and MMIO), each a
 * sorted table of non-overlapping ranges searched by bisection. A device
 * registers a range with callbacks; the vCPU run loop hands every I/O or
 * MMIO exit to bus_access() and never names a device.
 *
 * The ranges can change while vCPUs run (a guest places PCI BARs):
 * lookups take no lock. The table is immutable once published; a change
 * builds a new table, publishes it with one atomic store and frees the
 * old one once no lookup can still hold it (the two reader counts in
 * struct bus; bus.c explains why that is enough). When bus_unregister()
 * or bus_move() returns, no callback of the old range is running or will
 * run, except the one the calling thread itself may be inside. */
#ifndef KVMINI_BUS_H
#define KVMINI_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"

/* Callbacks get the offset into the range and little-endian data of
 * len bytes (1, 2, 4 or 8). A read fills data; absent callbacks read as
 * all-ones / ignore writes. */
struct bus_device_ops {
	void (*read)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len);
	void (*write)(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_device_ops *ops;
	void *opaque;
	const char *name;
};

/* One published generation of a space's ranges; never changed in place. */
struct bus_table {
	size_t count;
	struct bus_range ranges[];   /* sorted by base, never overlapping */
};

struct bus {
	const char *space_name;      /* "port" or "MMIO", for messages */
	struct bus_table *table;     /* atomic; NULL: no range yet */
	/* Lookups count themselves in readers[epoch & 1]; a writer flips the
	 * epoch and waits for the old count to drain. */
	unsigned long epoch;         /* atomic */
	unsigned long readers[2];    /* atomic */
	pthread_mutex_t writer;      /* serialises changes */
};

void bus_init(struct bus *bus, const char *space_name);
/* Only when no thread can reach the bus any more. */
void bus_free(struct bus *bus);

/* Add [base, base+len); rejects empty, wrapping and overlapping ranges. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len,
		 const struct bus_device_ops *ops, void *opaque,
		 const char *name, struct kvmini_error *err);

/* Remove the range that starts at base. Safe while vCPUs run; must not
 * be called with a lock held that a callback on this bus takes. */
int bus_unregister(struct bus *bus, uint64_t base, struct kvmini_error *err);

/* Move the range that starts at base to new_base (same length, device
 * and callbacks), in one step: a lookup sees it at one place or the
 * other, never at both or neither. Same rules as bus_unregister(). */
int bus_move(struct bus *bus, uint64_t base, uint64_t new_base, struct kvmini_error *err);

/* The range that contains addr, or NULL. The pointer is into the current
 * table: for set-up code and tests, while no change can run. */
const struct bus_range *bus_find(const struct bus *bus, uint64_t addr);

/* Number of ranges now registered. */
size_t bus_count(const struct bus *bus);

/* Perform one access. Returns false when no single range claims the whole
 * [addr, addr+len); then a read fills data with all-ones. Any thread. */
bool bus_access(struct bus *bus, uint64_t addr, uint8_t *data,
		uint32_t len, bool is_write);

#endif
