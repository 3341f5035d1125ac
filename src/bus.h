/* Layer 3: the address-space bus. Two spaces (port I/O and MMIO), each a
 * sorted table of non-overlapping ranges searched by bisection. A device
 * registers a range with callbacks; the vCPU run loop hands every I/O or
 * MMIO exit to bus_access() and never names a device. Ranges are all
 * registered before vCPUs start, so lookups need no lock. */
#ifndef KVMINI_BUS_H
#define KVMINI_BUS_H

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

struct bus {
	const char *space_name;    /* "port" or "MMIO", for messages */
	struct bus_range *ranges;  /* sorted by base, never overlapping */
	size_t count, capacity;
};

void bus_init(struct bus *bus, const char *space_name);
void bus_free(struct bus *bus);

/* Add [base, base+len); rejects empty, wrapping and overlapping ranges. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len,
		 const struct bus_device_ops *ops, void *opaque,
		 const char *name, struct kvmini_error *err);

/* The range that contains addr, or NULL. */
const struct bus_range *bus_find(const struct bus *bus, uint64_t addr);

/* Perform one access. Returns false when no single range claims the whole
 * [addr, addr+len); then a read fills data with all-ones. */
bool bus_access(const struct bus *bus, uint64_t addr, uint8_t *data,
		uint32_t len, bool is_write);

#endif
