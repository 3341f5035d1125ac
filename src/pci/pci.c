/* The PCI host bridge and its functions' configuration space (pci.h). */
#include <string.h>
#include "pci/pci.h"

/* ---- little-endian bytes of config space ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

/* ---- a function's description ---- */

/* What the guest may change in every header: the command bits we
 * implement, cache line size, latency timer and the interrupt line. */
#define COMMAND_WRITABLE                                                      \
	(PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY | \
	 PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE)

void pci_function_init(struct pci_function *fn, uint16_t vendor, uint16_t device,
		       uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
		       uint16_t subsys_id)
{
	memset(fn, 0, sizeof(*fn));
	put16(fn->config + PCI_VENDOR_ID, vendor);
	put16(fn->config + PCI_DEVICE_ID, device);
	fn->config[PCI_REVISION_ID] = revision;
	fn->config[PCI_CLASS_PROG] = (uint8_t)class_code;
	put16(fn->config + PCI_CLASS_DEVICE, (uint16_t)(class_code >> 8));
	fn->config[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
	put16(fn->config + PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor);
	put16(fn->config + PCI_SUBSYSTEM_ID, subsys_id);
	fn->config[PCI_INTERRUPT_PIN] = 1;   /* INTA */
	put16(fn->wmask + PCI_COMMAND, COMMAND_WRITABLE);
	fn->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	fn->wmask[PCI_LATENCY_TIMER] = 0xff;
	fn->wmask[PCI_INTERRUPT_LINE] = 0xff;
	fn->cap_end = PCI_STD_HEADER_SIZEOF;
}

static bool is_power_of_two(uint64_t v)
{
	return v && !(v & (v - 1));
}

int pci_function_set_bar(struct pci_function *fn, unsigned bar, uint64_t size, bool io,
			 const struct bus_device_ops *ops, void *opaque, const char *name,
			 struct kvmini_error *err)
{
	uint64_t min = io ? 4 : 16, max = io ? 0x10000 : 1ull << 31;
	if (bar >= PCI_BARS || !is_power_of_two(size) || size < min || size > max)
		return kvmini_fail(err, KVMINI_E_HOST, "PCI: %s: BAR %u of %llu bytes", name, bar,
				   (unsigned long long)size);
	fn->bars[bar] = (struct pci_bar){ .size = size, .io = io, .ops = ops, .opaque = opaque,
					  .name = name };
	unsigned reg = PCI_BASE_ADDRESS_0 + 4 * bar;
	uint32_t flags = io ? PCI_BASE_ADDRESS_SPACE_IO : PCI_BASE_ADDRESS_MEM_TYPE_32;
	uint32_t flag_bits = io ? ~PCI_BASE_ADDRESS_IO_MASK : ~PCI_BASE_ADDRESS_MEM_MASK;
	put32(fn->config + reg, flags);
	/* Sizing: the bits below the size read back 0 whatever is written. */
	put32(fn->wmask + reg, (uint32_t)~(size - 1) & ~flag_bits);
	return 0;
}

int pci_function_add_cap(struct pci_function *fn, const void *body, unsigned len,
			 unsigned *off, struct kvmini_error *err)
{
	unsigned at = (fn->cap_end + 3) & ~3u;
	if (len < 2 || at + len > PCI_CONFIG_SIZE)
		return kvmini_fail(err, KVMINI_E_HOST, "PCI: no room for a capability of %u bytes",
				   len);
	memcpy(fn->config + at, body, len);
	fn->config[at + PCI_CAP_LIST_NEXT] = 0;
	/* Link it after the last one: the list is walked from 0x34. */
	uint8_t *link = fn->config + PCI_CAPABILITY_LIST;
	while (*link)
		link = fn->config + *link + PCI_CAP_LIST_NEXT;
	*link = (uint8_t)at;
	fn->config[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	fn->cap_end = at + len;
	*off = at;
	return 0;
}

uint64_t pci_function_bar_address(const struct pci_function *fn, unsigned bar)
{
	uint32_t v = get32(fn->config + PCI_BASE_ADDRESS_0 + 4 * bar);
	return fn->bars[bar].io ? v & PCI_BASE_ADDRESS_IO_MASK : v & PCI_BASE_ADDRESS_MEM_MASK;
}

/* ---- INTx: shared lines, ORed ----
 *
 * Under the host's intx_lock, a leaf: a device raises INTA with its own
 * lock held (virtio's), while a config write holds the host's lock and
 * may take the device's; neither may wait for the other. */

static void intx_update(struct pci_host *h, struct pci_function *fn)
{
	bool drive = fn->intx_level && !fn->intx_disabled && fn->host;
	if (drive == fn->intx_driven)
		return;
	fn->intx_driven = drive;
	unsigned i = fn->slot % PCI_INTX_LINES;
	if (drive && h->intx_count[i]++ == 0)
		irq_line_set(&h->cfg.intx[i], true);
	else if (!drive && --h->intx_count[i] == 0)
		irq_line_set(&h->cfg.intx[i], false);
}

static void intx_set(struct pci_host *h, struct pci_function *fn, bool level, bool disabled)
{
	pthread_mutex_lock(&h->intx_lock);
	fn->intx_level = level;
	fn->intx_disabled = disabled;
	intx_update(h, fn);
	pthread_mutex_unlock(&h->intx_lock);
}

void pci_function_set_intx(struct pci_function *fn, bool level)
{
	struct pci_host *h = fn->host;
	if (h)
		intx_set(h, fn, level, fn->intx_disabled);
	else
		fn->intx_level = level;
}

/* ---- the mapper: BAR registers and command bits onto the buses ---- */

struct bar_want {
	struct pci_function *fn;
	unsigned bar;
	bool on;
	uint64_t addr;
};

static bool bar_decodable(const struct pci_function *fn, unsigned b, uint64_t addr)
{
	const struct pci_bar *bar = &fn->bars[b];
	uint16_t cmd = get16(fn->config + PCI_COMMAND);
	uint64_t limit = bar->io ? 0x10000 : 1ull << 32;
	bool enabled = cmd & (bar->io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY);
	return enabled && addr && addr + bar->size <= limit;
}

/* Under the lock: what every BAR should be. */
static unsigned wants_collect(struct pci_host *h, struct bar_want *w)
{
	unsigned n = 0;
	for (unsigned s = 0; s < PCI_SLOTS; s++) {
		struct pci_function *fn = h->slots[s];
		for (unsigned b = 0; fn && b < PCI_BARS; b++) {
			if (!fn->bars[b].size)
				continue;
			uint64_t addr = pci_function_bar_address(fn, b);
			w[n++] = (struct bar_want){ fn, b, bar_decodable(fn, b, addr), addr };
		}
	}
	return n;
}

static void bar_notify(struct pci_function *fn, unsigned b, uint64_t addr, bool on)
{
	if (fn->ops && fn->ops->bar_mapped)
		fn->ops->bar_mapped(fn->opaque, b, addr, on);
}

static void bar_unmap(struct pci_host *h, struct pci_function *fn, unsigned b)
{
	struct pci_bar *bar = &fn->bars[b];
	if (!bar->mapped)
		return;
	bus_unregister(bar->io ? h->cfg.pio : h->cfg.mmio, bar->mapped_at, NULL);
	bar->mapped = false;
	bar_notify(fn, b, bar->mapped_at, false);
}

/* Without the lock: one BAR onto its bus, moved or off. A place that
 * overlaps another range leaves the BAR off until it is moved again. */
static void want_apply(struct pci_host *h, const struct bar_want *w)
{
	struct pci_bar *bar = &w->fn->bars[w->bar];
	struct bus *bus = bar->io ? h->cfg.pio : h->cfg.mmio;
	if (bar->mapped && w->on && bar->mapped_at == w->addr)
		return;
	if (bar->mapped && w->on && bus_move(bus, bar->mapped_at, w->addr, NULL) == 0) {
		bar_notify(w->fn, w->bar, bar->mapped_at, false);
		bar->mapped_at = w->addr;
		bar_notify(w->fn, w->bar, w->addr, true);
		return;
	}
	bar_unmap(h, w->fn, w->bar);
	if (w->on && bus_register(bus, w->addr, bar->size, bar->ops, bar->opaque, bar->name,
				  NULL) == 0) {
		bar->mapped = true;
		bar->mapped_at = w->addr;
		bar_notify(w->fn, w->bar, w->addr, true);
	}
}

/* Called after a config write that touched a BAR or the command
 * register. A thread that finds another mapping leaves a note and
 * returns; the mapping thread goes round again until no note is left. */
static void host_remap(struct pci_host *h)
{
	pthread_mutex_lock(&h->lock);
	h->remap = true;
	if (h->mapping) {
		pthread_mutex_unlock(&h->lock);
		return;
	}
	h->mapping = true;
	while (h->remap) {
		h->remap = false;
		struct bar_want w[PCI_SLOTS * PCI_BARS];
		unsigned n = wants_collect(h, w);
		pthread_mutex_unlock(&h->lock);
		for (unsigned i = 0; i < n; i++)
			want_apply(h, &w[i]);
		pthread_mutex_lock(&h->lock);
	}
	h->mapping = false;
	pthread_mutex_unlock(&h->lock);
}

/* ---- config space accesses ---- */

static struct pci_function *function_at(struct pci_host *h, unsigned slot, unsigned func)
{
	return slot < PCI_SLOTS && func == 0 ? h->slots[slot] : NULL;
}

static bool overlaps(unsigned off, unsigned len, unsigned start, unsigned end)
{
	return off < end && start < off + len;
}

/* The interrupt status bit follows INTA, which moves under intx_lock. */
static void status_patch(struct pci_host *h, struct pci_function *fn, unsigned reg,
			 uint8_t *data, unsigned n)
{
	if (!overlaps(reg, n, PCI_STATUS, PCI_STATUS + 1))
		return;
	pthread_mutex_lock(&h->intx_lock);
	bool level = fn->intx_level;
	pthread_mutex_unlock(&h->intx_lock);
	uint8_t *b = &data[PCI_STATUS - reg];
	*b = (uint8_t)(level ? *b | PCI_STATUS_INTERRUPT : *b & ~PCI_STATUS_INTERRUPT);
}

void pci_host_config_read(struct pci_host *h, unsigned slot, unsigned func, unsigned reg,
			  uint8_t *data, unsigned len)
{
	memset(data, 0xff, len);
	if (reg >= PCI_ECAM_FUNCTION_SIZE || len > PCI_ECAM_FUNCTION_SIZE - reg)
		return;
	pthread_mutex_lock(&h->lock);
	struct pci_function *fn = function_at(h, slot, func);
	if (fn) {
		memset(data, 0, len);
		if (reg < PCI_CONFIG_SIZE) {
			unsigned n = len < PCI_CONFIG_SIZE - reg ? len : PCI_CONFIG_SIZE - reg;
			if (fn->ops && fn->ops->config_read)
				fn->ops->config_read(fn->opaque, reg, n);
			memcpy(data, fn->config + reg, n);
			status_patch(h, fn, reg, data, n);
		}
	}
	pthread_mutex_unlock(&h->lock);
}

/* The guest's bytes through the write mask; true when the buses need
 * the mapper (a BAR or the command register changed). */
static bool config_store(struct pci_host *h, struct pci_function *fn, unsigned reg,
			 const uint8_t *data, unsigned n)
{
	bool changed = false;
	for (unsigned i = 0; i < n; i++) {
		uint8_t *b = &fn->config[reg + i], m = fn->wmask[reg + i];
		uint8_t v = (uint8_t)((*b & ~m) | (data[i] & m));
		changed |= v != *b;
		*b = v;
	}
	if (overlaps(reg, n, PCI_COMMAND, PCI_COMMAND + 2))
		intx_set(h, fn, fn->intx_level,
			 get16(fn->config + PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
	if (fn->ops && fn->ops->config_write)
		fn->ops->config_write(fn->opaque, reg, n);
	return changed && (overlaps(reg, n, PCI_COMMAND, PCI_COMMAND + 2) ||
			   overlaps(reg, n, PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_5 + 4));
}

void pci_host_config_write(struct pci_host *h, unsigned slot, unsigned func, unsigned reg,
			   const uint8_t *data, unsigned len)
{
	if (reg >= PCI_CONFIG_SIZE || len > PCI_ECAM_FUNCTION_SIZE - reg)
		return;   /* past the conventional space: nothing is writable */
	unsigned n = len < PCI_CONFIG_SIZE - reg ? len : PCI_CONFIG_SIZE - reg;
	bool remap = false;
	pthread_mutex_lock(&h->lock);
	struct pci_function *fn = function_at(h, slot, func);
	if (fn)
		remap = config_store(h, fn, reg, data, n);
	pthread_mutex_unlock(&h->lock);
	if (remap)
		host_remap(h);
}

/* ---- configuration mechanism #1: 0xcf8 and 0xcfc ---- */

#define CF8_ENABLE   0x80000000u
#define CF8_WRITABLE (CF8_ENABLE | 0x00fffffcu)   /* bus, device, function, register */

static bool cf8_is_address(uint64_t offset, uint32_t len)
{
	return offset == 0 && len == 4;
}

/* Another access inside 0xcf8-0xcfb: the range that was there (0xcf9),
 * if it covers it. */
static const struct bus_range *cf8_under(struct pci_host *h, uint64_t offset, uint32_t len)
{
	uint64_t port = PCI_CONFIG_ADDRESS_PORT + offset;
	const struct bus_range *u = &h->under_cf8;
	if (!h->has_under || port < u->base || port + len > u->base + u->len)
		return NULL;
	return u;
}

static void cf8_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct pci_host *h = opaque;
	if (cf8_is_address(offset, len)) {
		put32(data, __atomic_load_n(&h->address, __ATOMIC_SEQ_CST));
		return;
	}
	const struct bus_range *u = cf8_under(h, offset, len);
	if (u && u->ops && u->ops->read)
		u->ops->read(u->opaque, PCI_CONFIG_ADDRESS_PORT + offset - u->base, data, len);
	else
		memset(data, 0xff, len);
}

static void cf8_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct pci_host *h = opaque;
	if (cf8_is_address(offset, len)) {
		__atomic_store_n(&h->address, get32(data) & CF8_WRITABLE, __ATOMIC_SEQ_CST);
		return;
	}
	const struct bus_range *u = cf8_under(h, offset, len);
	if (u && u->ops && u->ops->write)
		u->ops->write(u->opaque, PCI_CONFIG_ADDRESS_PORT + offset - u->base, data, len);
}

/* The function and register 0xcf8 selects, or false (disabled, another bus). */
static bool cfc_target(struct pci_host *h, unsigned *slot, unsigned *func, unsigned *reg)
{
	uint32_t a = __atomic_load_n(&h->address, __ATOMIC_SEQ_CST);
	if (!(a & CF8_ENABLE) || ((a >> 16) & 0xff) != 0)
		return false;
	*slot = (a >> 11) & 0x1f;
	*func = (a >> 8) & 0x7;
	*reg = a & 0xfc;
	return true;
}

static void cfc_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct pci_host *h = opaque;
	unsigned slot, func, reg;
	if (cfc_target(h, &slot, &func, &reg))
		pci_host_config_read(h, slot, func, reg + (unsigned)offset, data, len);
	else
		memset(data, 0xff, len);
}

static void cfc_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct pci_host *h = opaque;
	unsigned slot, func, reg;
	if (cfc_target(h, &slot, &func, &reg))
		pci_host_config_write(h, slot, func, reg + (unsigned)offset, data, len);
}

static const struct bus_device_ops cf8_ops = { .read = cf8_read, .write = cf8_write };
static const struct bus_device_ops cfc_ops = { .read = cfc_read, .write = cfc_write };

/* ---- ECAM: bus 0, 4 KiB per function ---- */

static void ecam_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	pci_host_config_read(opaque, (unsigned)(offset >> 15), (unsigned)(offset >> 12) & 7,
			     (unsigned)offset & 0xfff, data, len);
}

static void ecam_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	pci_host_config_write(opaque, (unsigned)(offset >> 15), (unsigned)(offset >> 12) & 7,
			      (unsigned)offset & 0xfff, data, len);
}

static const struct bus_device_ops ecam_ops = { .read = ecam_read, .write = ecam_write };

/* ---- the host ---- */

/* 0xcf9 (the reset control register) sits inside 0xcf8-0xcfb: keep its
 * range to pass it the accesses that are not the address register. */
static int cf8_take_over(struct pci_host *h, struct kvmini_error *err)
{
	for (uint64_t port = PCI_CONFIG_ADDRESS_PORT; port < PCI_CONFIG_DATA_PORT; port++) {
		const struct bus_range *r = bus_find(h->cfg.pio, port);
		if (!r)
			continue;
		if (h->has_under || r->base < PCI_CONFIG_ADDRESS_PORT ||
		    r->base + r->len > PCI_CONFIG_DATA_PORT)
			return kvmini_fail(err, KVMINI_E_HOST, "PCI: %s is in the way of port 0xcf8",
					   r->name ? r->name : "a range");
		h->under_cf8 = *r;
		h->has_under = true;
		port = r->base + r->len - 1;
	}
	if (h->has_under && bus_unregister(h->cfg.pio, h->under_cf8.base, err) < 0)
		return -1;
	return 0;
}

static int host_register(struct pci_host *h, struct kvmini_error *err)
{
	if (cf8_take_over(h, err) < 0 ||
	    bus_register(h->cfg.pio, PCI_CONFIG_ADDRESS_PORT, 4, &cf8_ops, h,
			 "PCI config address", err) < 0)
		return -1;
	if (bus_register(h->cfg.pio, PCI_CONFIG_DATA_PORT, 4, &cfc_ops, h, "PCI config data",
			 err) < 0) {
		bus_unregister(h->cfg.pio, PCI_CONFIG_ADDRESS_PORT, NULL);
		return -1;
	}
	if (bus_register(h->cfg.mmio, h->cfg.ecam_base, PCI_ECAM_BUS_SIZE, &ecam_ops, h,
			 "PCI ECAM", err) < 0) {
		bus_unregister(h->cfg.pio, PCI_CONFIG_ADDRESS_PORT, NULL);
		bus_unregister(h->cfg.pio, PCI_CONFIG_DATA_PORT, NULL);
		return -1;
	}
	return 0;
}

static void under_restore(struct pci_host *h)
{
	const struct bus_range *u = &h->under_cf8;
	if (h->has_under)
		bus_register(h->cfg.pio, u->base, u->len, u->ops, u->opaque, u->name, NULL);
	h->has_under = false;
}

int pci_host_init(struct pci_host *h, const struct pci_host_config *cfg,
		  struct kvmini_error *err)
{
	memset(h, 0, sizeof(*h));
	h->cfg = *cfg;
	h->mmio_next = cfg->mmio_base;
	h->io_next = cfg->io_base;
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->intx_lock, NULL);
	if (host_register(h, err) < 0) {
		under_restore(h);
		pthread_mutex_destroy(&h->lock);
		pthread_mutex_destroy(&h->intx_lock);
		return -1;
	}
	h->registered = true;
	pci_function_init(&h->bridge, PCI_HOST_VENDOR, PCI_HOST_DEVICE,
			  PCI_CLASS_CODE_HOST_BRIDGE, 0, PCI_HOST_VENDOR, PCI_HOST_DEVICE);
	h->bridge.config[PCI_INTERRUPT_PIN] = 0;   /* it raises nothing */
	h->bridge.host = h;
	h->slots[0] = &h->bridge;
	return 0;
}

void pci_host_destroy(struct pci_host *h)
{
	if (!h->registered)
		return;
	for (unsigned s = PCI_SLOTS; s-- > 1;)
		if (h->slots[s])
			pci_host_unplug(h, h->slots[s]);
	bus_unregister(h->cfg.mmio, h->cfg.ecam_base, NULL);
	bus_unregister(h->cfg.pio, PCI_CONFIG_DATA_PORT, NULL);
	bus_unregister(h->cfg.pio, PCI_CONFIG_ADDRESS_PORT, NULL);
	under_restore(h);
	pthread_mutex_destroy(&h->lock);
	pthread_mutex_destroy(&h->intx_lock);
	h->registered = false;
}

/* Naturally aligned, from the window's next free address. */
static int bar_place(struct pci_host *h, struct pci_function *fn, unsigned b,
		     struct kvmini_error *err)
{
	struct pci_bar *bar = &fn->bars[b];
	uint64_t *next = bar->io ? &h->io_next : &h->mmio_next;
	uint64_t end = bar->io ? h->cfg.io_end : h->cfg.mmio_end;
	uint64_t addr = (*next + bar->size - 1) & ~(bar->size - 1);
	if (addr < *next || addr > end || bar->size > end - addr)
		return kvmini_fail(err, KVMINI_E_USAGE, "PCI: no room for %s's BAR %u (%llu bytes)",
				   bar->name, b, (unsigned long long)bar->size);
	*next = addr + bar->size;
	uint8_t *reg = fn->config + PCI_BASE_ADDRESS_0 + 4 * b;
	put32(reg, (uint32_t)addr | (get32(reg) & (bar->io ? ~PCI_BASE_ADDRESS_IO_MASK
							     : ~PCI_BASE_ADDRESS_MEM_MASK)));
	return 0;
}

int pci_host_plug(struct pci_host *h, struct pci_function *fn, unsigned slot,
		  struct kvmini_error *err)
{
	if (slot == 0 || slot >= PCI_SLOTS || h->slots[slot])
		return kvmini_fail(err, KVMINI_E_HOST, "PCI: slot %u is not free", slot);
	for (unsigned b = 0; b < PCI_BARS; b++)
		if (fn->bars[b].size && bar_place(h, fn, b, err) < 0)
			return -1;
	fn->config[PCI_INTERRUPT_LINE] = (uint8_t)h->cfg.intx[slot % PCI_INTX_LINES].line;
	pthread_mutex_lock(&h->lock);
	fn->host = h;
	fn->slot = slot;
	h->slots[slot] = fn;
	pthread_mutex_unlock(&h->lock);
	intx_set(h, fn, fn->intx_level, fn->intx_disabled);
	return 0;
}

void pci_host_unplug(struct pci_host *h, struct pci_function *fn)
{
	if (fn->host != h)
		return;
	intx_set(h, fn, false, fn->intx_disabled);
	pthread_mutex_lock(&h->lock);
	h->slots[fn->slot] = NULL;
	pthread_mutex_unlock(&h->lock);
	for (unsigned b = 0; b < PCI_BARS; b++)
		bar_unmap(h, fn, b);
	fn->host = NULL;
}

/* ---- snapshots ---- */

void pci_function_save(const struct pci_function *fn, struct state_writer *w)
{
	state_put_bytes(w, fn->config, PCI_CONFIG_SIZE);
}

int pci_function_restore(struct pci_function *fn, struct state_reader *r,
			 struct kvmini_error *err)
{
	const uint8_t *saved = state_get_span(r, PCI_CONFIG_SIZE);
	if (!saved)
		return kvmini_fail(err, KVMINI_E_USAGE, "saved PCI config space is truncated");
	for (unsigned i = 0; i < PCI_CONFIG_SIZE; i++)
		if ((saved[i] ^ fn->config[i]) & ~fn->wmask[i])
			return kvmini_fail(err, KVMINI_E_USAGE, "saved PCI config space of slot "
					   "%u differs from its function's at read-only byte 0x%02x",
					   fn->slot, i);
	memcpy(fn->config, saved, PCI_CONFIG_SIZE);
	bool disabled = get16(fn->config + PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE;
	if (fn->host)
		intx_set(fn->host, fn, fn->intx_level, disabled);
	else
		fn->intx_disabled = disabled;
	return 0;
}

void pci_host_save(const struct pci_host *h, struct state_writer *w)
{
	state_put_u32(w, __atomic_load_n(&h->address, __ATOMIC_SEQ_CST));
	pci_function_save(&h->bridge, w);
}

int pci_host_restore(struct pci_host *h, struct state_reader *r, struct kvmini_error *err)
{
	uint32_t address = state_get_u32(r);
	if (r->failed || (address & ~CF8_WRITABLE))
		return kvmini_fail(err, KVMINI_E_USAGE, "saved PCI address register is malformed");
	if (pci_function_restore(&h->bridge, r, err) < 0)
		return -1;
	__atomic_store_n(&h->address, address, __ATOMIC_SEQ_CST);
	host_remap(h);
	return 0;
}
