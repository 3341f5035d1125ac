#include <stdlib.h>
#include <string.h>
#include "bus.h"

void bus_init(struct bus *bus, const char *space_name)
{
	memset(bus, 0, sizeof(*bus));
	bus->space_name = space_name;
}

void bus_free(struct bus *bus)
{
	free(bus->ranges);
	bus_init(bus, bus->space_name);
}

/* Index of the first range whose base is greater than addr. */
static size_t upper_bound(const struct bus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (bus->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static uint64_t range_last(const struct bus_range *r)
{
	return r->base + (r->len - 1);
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len,
		 const struct bus_device_ops *ops, void *opaque,
		 const char *name, struct kvmini_error *err)
{
	if (len == 0 || base + (len - 1) < base)
		return kvmini_fail(err, KVMINI_E_HOST,
				   "%s: %s range at 0x%llx of length 0x%llx is empty or wraps",
				   name, bus->space_name, (unsigned long long)base,
				   (unsigned long long)len);
	size_t pos = upper_bound(bus, base);
	uint64_t last = base + (len - 1);
	const struct bus_range *prev = pos ? &bus->ranges[pos - 1] : NULL;
	const struct bus_range *next = pos < bus->count ? &bus->ranges[pos] : NULL;
	const struct bus_range *clash = (prev && range_last(prev) >= base) ? prev
				       : (next && next->base <= last) ? next : NULL;
	if (clash)
		return kvmini_fail(err, KVMINI_E_HOST,
				   "%s: %s range [0x%llx, 0x%llx] overlaps %s [0x%llx, 0x%llx]",
				   name, bus->space_name, (unsigned long long)base,
				   (unsigned long long)last, clash->name,
				   (unsigned long long)clash->base,
				   (unsigned long long)range_last(clash));
	if (bus->count == bus->capacity) {
		size_t cap = bus->capacity ? bus->capacity * 2 : 8;
		struct bus_range *grown = realloc(bus->ranges, cap * sizeof(*grown));
		if (!grown)
			return kvmini_fail(err, KVMINI_E_HOST, "out of memory registering %s", name);
		bus->ranges = grown;
		bus->capacity = cap;
	}
	memmove(&bus->ranges[pos + 1], &bus->ranges[pos],
		(bus->count - pos) * sizeof(bus->ranges[0]));
	bus->ranges[pos] = (struct bus_range){ base, len, ops, opaque, name };
	bus->count++;
	return 0;
}

const struct bus_range *bus_find(const struct bus *bus, uint64_t addr)
{
	size_t pos = upper_bound(bus, addr);
	if (pos == 0)
		return NULL;
	const struct bus_range *r = &bus->ranges[pos - 1];
	return addr <= range_last(r) ? r : NULL;
}

bool bus_access(const struct bus *bus, uint64_t addr, uint8_t *data,
		uint32_t len, bool is_write)
{
	const struct bus_range *r = bus_find(bus, addr);
	bool claimed = r && len > 0 && len - 1 <= range_last(r) - addr;
	if (!claimed) {
		if (!is_write)
			memset(data, 0xff, len);
		return false;
	}
	uint64_t offset = addr - r->base;
	if (is_write) {
		if (r->ops->write)
			r->ops->write(r->opaque, offset, data, len);
	} else if (r->ops->read) {
		r->ops->read(r->opaque, offset, data, len);
	} else {
		memset(data, 0xff, len);
	}
	return true;
}
