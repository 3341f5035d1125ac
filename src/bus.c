/* The bus's ranges and their lock-free lookup.
 *
 * Reclamation. A lookup (bus_access) does
 *     do { e = epoch; readers[e & 1]++; if (epoch == e) break; readers[e & 1]--; }
 *     t = table;  ...use t...;  readers[e & 1]--;
 * and a change (under the writer mutex) does
 *     table = new;  old_i = epoch++ & 1;  wait until readers[old_i] == 0;  free(old)
 * all with sequentially consistent atomics. A lookup that still uses
 * `old` loaded `table` before the writer stored `new`, so its increment
 * came before the writer's epoch flip and before the writer's reads of
 * readers[]; it saw the epoch unchanged after its increment, so the
 * value it counted under is the one this writer's flip replaced: it is
 * in readers[old_i] and the writer waits for it. (Without that second
 * look, a lookup that read the epoch before an earlier writer's flip but
 * counted itself after that writer's check would sit in the wrong slot
 * for the next writer, which would free the table under it.) A lookup that counted
 * itself after the writer last read readers[old_i] == 0 comes later in
 * the single total order than the store of `new`, so it loads `new` (or
 * a later table). Lookups that arrive after the flip count in the other
 * slot, so a stream of vCPU exits cannot keep a writer waiting: it waits
 * only for lookups already in flight. The wait covers the device callback
 * too (the count drops after it returns), which is what lets
 * bus_unregister() promise that no callback of a removed range runs once
 * it returns.
 *
 * A callback may itself change the bus it was called from (a guest's
 * write to a PCI BAR moves an I/O range). Its own lookup is counted in a
 * slot the writer would wait on forever, so each lookup also pushes a
 * frame on its thread's list, and the writer discounts its own frames.
 * The callback must not touch the old table after the change: bus_access
 * copies what it needs before calling. */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include "bus.h"

/* The lookups the current thread is inside, innermost first. Per thread,
 * not shared: this is not mutable global state but a per-thread stack. */
struct bus_reader_frame {
	const struct bus *bus;
	unsigned long slot;
	const struct bus_reader_frame *outer;
};
static _Thread_local const struct bus_reader_frame *reader_frames;

void bus_init(struct bus *bus, const char *space_name)
{
	memset(bus, 0, sizeof(*bus));
	bus->space_name = space_name;
	pthread_mutex_init(&bus->writer, NULL);
}

void bus_free(struct bus *bus)
{
	free(bus->table);
	bus->table = NULL;
	pthread_mutex_destroy(&bus->writer);
}

static struct bus_table *table_load(const struct bus *bus)
{
	return __atomic_load_n(&bus->table, __ATOMIC_SEQ_CST);
}

size_t bus_count(const struct bus *bus)
{
	const struct bus_table *t = table_load(bus);
	return t ? t->count : 0;
}

/* Index of the first range whose base is greater than addr. */
static size_t upper_bound(const struct bus_table *t, uint64_t addr)
{
	size_t lo = 0, hi = t ? t->count : 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->ranges[mid].base <= addr)
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

static const struct bus_range *table_find(const struct bus_table *t, uint64_t addr)
{
	size_t pos = upper_bound(t, addr);
	if (pos == 0)
		return NULL;
	const struct bus_range *r = &t->ranges[pos - 1];
	return addr <= range_last(r) ? r : NULL;
}

const struct bus_range *bus_find(const struct bus *bus, uint64_t addr)
{
	return table_find(table_load(bus), addr);
}

/* How many of the lookups counted in `slot` are this thread's own. */
static unsigned long own_readers(const struct bus *bus, unsigned long slot)
{
	unsigned long n = 0;
	for (const struct bus_reader_frame *f = reader_frames; f; f = f->outer)
		n += f->bus == bus && f->slot == slot;
	return n;
}

/* Publish `next` (the writer mutex held) and free the table it replaces
 * once no lookup can hold it; see the top of this file. */
static void table_publish(struct bus *bus, struct bus_table *next)
{
	struct bus_table *old = table_load(bus);
	__atomic_store_n(&bus->table, next, __ATOMIC_SEQ_CST);
	unsigned long slot = __atomic_fetch_add(&bus->epoch, 1, __ATOMIC_SEQ_CST) & 1;
	unsigned long own = own_readers(bus, slot);
	while (__atomic_load_n(&bus->readers[slot], __ATOMIC_SEQ_CST) > own)
		sched_yield();   /* lookups in flight end within one device callback */
	free(old);
}

static struct bus_table *table_alloc(size_t count)
{
	struct bus_table *t = malloc(sizeof(*t) + count * sizeof(t->ranges[0]));
	if (t)
		t->count = count;
	return t;
}

/* The range of `t` other than `skip` that [base, last] overlaps, or NULL. */
static const struct bus_range *table_clash(const struct bus_table *t, uint64_t base,
					   uint64_t last, const struct bus_range *skip)
{
	for (size_t i = 0; t && i < t->count; i++) {
		const struct bus_range *r = &t->ranges[i];
		if (r != skip && r->base <= last && range_last(r) >= base)
			return r;
	}
	return NULL;
}

/* `t` without `gone` (NULL: all of it) and with `added` (NULL: nothing)
 * in its sorted place. */
static struct bus_table *table_edit(const struct bus_table *t, const struct bus_range *gone,
				    const struct bus_range *added)
{
	size_t count = t ? t->count : 0;
	struct bus_table *next = table_alloc(count - (gone != NULL) + (added != NULL));
	if (!next)
		return NULL;
	size_t n = 0;
	bool placed = !added;
	for (size_t i = 0; i < count; i++) {
		if (!placed && added->base < t->ranges[i].base) {
			next->ranges[n++] = *added;
			placed = true;
		}
		if (&t->ranges[i] != gone)
			next->ranges[n++] = t->ranges[i];
	}
	if (!placed)
		next->ranges[n++] = *added;
	return next;
}

static int check_range(const struct bus *bus, const struct bus_range *r,
		       const struct bus_range *skip, struct kvmini_error *err)
{
	if (r->len == 0 || r->base + (r->len - 1) < r->base)
		return kvmini_fail(err, KVMINI_E_HOST,
				   "%s: %s range at 0x%llx of length 0x%llx is empty or wraps",
				   r->name, bus->space_name, (unsigned long long)r->base,
				   (unsigned long long)r->len);
	const struct bus_range *clash = table_clash(table_load(bus), r->base, range_last(r), skip);
	if (clash)
		return kvmini_fail(err, KVMINI_E_HOST,
				   "%s: %s range [0x%llx, 0x%llx] overlaps %s [0x%llx, 0x%llx]",
				   r->name, bus->space_name, (unsigned long long)r->base,
				   (unsigned long long)range_last(r), clash->name,
				   (unsigned long long)clash->base,
				   (unsigned long long)range_last(clash));
	return 0;
}

/* Replace `gone` by `added` (either may be NULL), the writer mutex held. */
static int bus_change(struct bus *bus, const struct bus_range *gone,
		      const struct bus_range *added, struct kvmini_error *err)
{
	if (added && check_range(bus, added, gone, err) < 0)
		return -1;
	struct bus_table *next = table_edit(table_load(bus), gone, added);
	if (!next)
		return kvmini_fail(err, KVMINI_E_HOST, "out of memory changing the %s bus",
				   bus->space_name);
	table_publish(bus, next);
	return 0;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len,
		 const struct bus_device_ops *ops, void *opaque,
		 const char *name, struct kvmini_error *err)
{
	struct bus_range added = { base, len, ops, opaque, name };
	pthread_mutex_lock(&bus->writer);
	int r = bus_change(bus, NULL, &added, err);
	pthread_mutex_unlock(&bus->writer);
	return r;
}

/* The range starting exactly at base, the writer mutex held. */
static const struct bus_range *range_at(const struct bus *bus, uint64_t base,
					struct kvmini_error *err)
{
	const struct bus_range *r = bus_find(bus, base);
	if (r && r->base == base)
		return r;
	kvmini_fail(err, KVMINI_E_HOST, "no %s range starts at 0x%llx", bus->space_name,
		    (unsigned long long)base);
	return NULL;
}

int bus_unregister(struct bus *bus, uint64_t base, struct kvmini_error *err)
{
	pthread_mutex_lock(&bus->writer);
	const struct bus_range *gone = range_at(bus, base, err);
	int r = gone ? bus_change(bus, gone, NULL, err) : -1;
	pthread_mutex_unlock(&bus->writer);
	return r;
}

int bus_move(struct bus *bus, uint64_t base, uint64_t new_base, struct kvmini_error *err)
{
	pthread_mutex_lock(&bus->writer);
	const struct bus_range *gone = range_at(bus, base, err);
	int r = -1;
	if (gone) {
		struct bus_range added = *gone;
		added.base = new_base;
		r = bus_change(bus, gone, &added, err);
	}
	pthread_mutex_unlock(&bus->writer);
	return r;
}

/* Call the range's callback; `r` is a copy, so the table it came from
 * may be replaced by the callback itself. */
static void range_call(const struct bus_range *r, uint64_t addr, uint8_t *data,
		       uint32_t len, bool is_write)
{
	uint64_t offset = addr - r->base;
	if (is_write) {
		if (r->ops->write)
			r->ops->write(r->opaque, offset, data, len);
	} else if (r->ops->read) {
		r->ops->read(r->opaque, offset, data, len);
	} else {
		memset(data, 0xff, len);
	}
}

/* Count this lookup in the slot of an epoch that was still current
 * after the count was made (see the top of this file); returns the slot. */
static unsigned long reader_enter(struct bus *bus)
{
	for (;;) {
		unsigned long epoch = __atomic_load_n(&bus->epoch, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&bus->readers[epoch & 1], 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&bus->epoch, __ATOMIC_SEQ_CST) == epoch)
			return epoch & 1;
		__atomic_fetch_sub(&bus->readers[epoch & 1], 1, __ATOMIC_SEQ_CST);
	}
}

bool bus_access(struct bus *bus, uint64_t addr, uint8_t *data,
		uint32_t len, bool is_write)
{
	unsigned long slot = reader_enter(bus);
	struct bus_reader_frame frame = { bus, slot, reader_frames };
	reader_frames = &frame;
	const struct bus_range *found = table_find(table_load(bus), addr);
	bool claimed = found && len > 0 && len - 1 <= range_last(found) - addr;
	if (claimed) {
		struct bus_range r = *found;
		range_call(&r, addr, data, len, is_write);
	} else if (!is_write) {
		memset(data, 0xff, len);
	}
	reader_frames = frame.outer;
	__atomic_fetch_sub(&bus->readers[slot], 1, __ATOMIC_RELEASE);
	return claimed;
}
