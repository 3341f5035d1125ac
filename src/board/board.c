/* The device registry: create, wire, describe, save and restore the
 * devices a board lists. */
#include <string.h>
#include "board/board.h"
#include "arch/x86/acpi.h"
#include "arch/x86/firmware.h"
#include "arch/x86/mptable.h"
#include "board/pci.h"
#include "board/split_irqchip.h"

int board_init(struct board *b, const struct board_desc *desc, struct kvmini_error *err)
{
	memset(b, 0, sizeof(*b));
	if (desc->ndevices + desc->nirqchip_devices > BOARD_MAX_DEVICES)
		return kvmini_fail(err, KVMINI_E_HOST, "board %s: more than %u devices", desc->name,
				   BOARD_MAX_DEVICES);
	b->desc = desc;
	for (size_t i = 0; i < desc->ndevices; i++) {
		b->slots[i].type = desc->devices[i];
		if (desc->devices[i]->isa_line_changed)
			b->watched_lines |= desc->devices[i]->watched_lines;
	}
	return 0;
}

/* ---- the lines a device pulls, to the VM ---- */

static void pull_reset(void *ctx, const char *reason)
{
	vm_request_reset(ctx, "%s", reason);
}

static void power_off(void *ctx, const char *reason)
{
	vm_request_stop(ctx, KVMINI_OK, 0, "%s", reason);
}

static void guest_exit(void *ctx, int status, const char *reason)
{
	vm_request_stop(ctx, KVMINI_OK, status, "%s", reason);
}

/* --verbose says when the guest sleeps and wakes (tests wait for it). */
static void sleep_suspend(void *ctx)
{
	struct vm *vm = ctx;
	if (vm->verbose)
		vm_log(vm, "kvmini: guest suspended to RAM (ACPI S3)\n");
	vm_request_suspend(vm);
}

static void sleep_resume(void *ctx, uint32_t waking_vector)
{
	struct vm *vm = ctx;
	if (vm->verbose)
		vm_log(vm, "kvmini: guest woke from ACPI S3 at waking vector 0x%x\n",
		       waking_vector);
	vm_wake(vm, waking_vector);
}

/* A watched ISA line goes to the VM and is shown to the devices that
 * watch it (isa_line_changed), once all of this boot's exist. Only
 * devices of this boot drive it: a persistent one is unbound (and its
 * calls are over) before board_detach() destroys the others. */
static void board_set_line(void *ctx, unsigned line, bool level)
{
	struct board *b = ctx;
	struct irq_line vm_line = vm_irq_line(b->vm, line);
	irq_line_set(&vm_line, level);
	if (!__atomic_load_n(&b->watchers_ready, __ATOMIC_ACQUIRE))
		return;
	for (size_t i = 0; i < b->desc->ndevices; i++) {
		const struct board_slot *slot = &b->slots[i];
		if (slot->dev && slot->type->isa_line_changed)
			slot->type->isa_line_changed(slot->dev, line, level);
	}
}

static void ram_layout(const struct guest_memory *mem, uint64_t *below_4g, uint64_t *above_4g)
{
	*below_4g = *above_4g = 0;
	for (unsigned i = 0; i < mem->nregions; i++) {
		if (mem->regions[i].device)
			continue;   /* the framebuffer is not RAM */
		if (mem->regions[i].gpa >= GUEST_MMIO_HOLE_END)
			*above_4g += mem->regions[i].size;
		else
			*below_4g += mem->regions[i].size;
	}
}

static struct device_env device_env(struct board *b, const struct device_type *type,
				    const struct kvmini_config *cfg)
{
	struct vm *vm = b->vm;
	struct device_env env = {
		.loop = b->loop,
		.reset = { .pull = pull_reset, .ctx = vm },
		.power_off = { .off = power_off, .ctx = vm },
		.exit = { .exit = guest_exit, .ctx = vm },
		.sleep = { .suspend = sleep_suspend, .resume = sleep_resume, .ctx = vm },
		.config = cfg,
		.isa_bus = vm_irq_line(vm, 0),
		.mem = &vm->mem,
	};
	for (unsigned i = 0; i < type->res.nirqs && i < RESOURCES_MAX_IRQS; i++) {
		unsigned line = type->res.irqs[i].line;
		env.irqs[i] = line < 16 && (b->watched_lines & (1u << line))
			? (struct irq_line){ .set_level = board_set_line, .ctx = b, .line = line }
			: vm_irq_line(vm, line);
	}
	ram_layout(&vm->mem, &env.ram_below_4g, &env.ram_above_4g);
	return env;
}

/* ---- one boot ---- */

static int register_ranges(struct vm *vm, const struct board_slot *slot,
			   struct kvmini_error *err)
{
	const struct resources *res = &slot->type->res;
	for (unsigned i = 0; i < res->nranges; i++) {
		const struct resource_range *r = &res->ranges[i];
		struct bus *bus = r->space == RESOURCE_SPACE_PORT ? &vm->pio : &vm->mmio;
		if (bus_register(bus, r->base, r->len, r->ops, slot->dev, r->name, err) < 0)
			return -1;
	}
	return 0;
}

int board_attach(struct board *b, struct vm *vm, const struct kvmini_config *cfg,
		 struct kvmini_error *err)
{
	b->vm = vm;
	if (vm->irqchip == KVMINI_IRQCHIP_SPLIT &&
	    !(b->split = split_irqchip_create(vm, b->loop, err)))
		return -1;
	for (size_t i = 0; i < b->desc->ndevices; i++) {
		struct board_slot *slot = &b->slots[i];
		if (slot->type->wanted && !slot->type->wanted(cfg))
			continue;
		struct device_env env = device_env(b, slot->type, cfg);
		if (!slot->dev) {
			if (!(slot->dev = slot->type->create(&env, err)))
				return -1;
		} else if (slot->type->rebind) {
			slot->type->rebind(slot->dev, &env);   /* a persistent one, next boot */
		}
		if (register_ranges(vm, slot, err) < 0)
			return -1;
	}
	__atomic_store_n(&b->watchers_ready, true, __ATOMIC_RELEASE);
	if (board_virtio_attach(b, cfg, err) < 0)
		return -1;
	/* After virtio-pci's functions, whose BARs then sit where they
	 * do without them. */
	if (cfg->testdev && board_pci_testdev_attach(b, err) < 0)
		return -1;
	if (cfg->display_bochs && b->display)
		return board_pci_bochs_attach(b, b->display, cfg->display_width,
					      cfg->display_height, err);
	return 0;
}

static void slot_destroy(struct board_slot *slot)
{
	if (slot->dev)
		slot->type->destroy(slot->dev);
	slot->dev = NULL;
}

void board_detach(struct board *b)
{
	if (!b->desc)
		return;   /* never initialised */
	__atomic_store_n(&b->watchers_ready, false, __ATOMIC_RELEASE);
	board_pci_bochs_detach(b);
	board_pci_testdev_detach(b);
	board_virtio_detach(b);   /* its lines may go through the split irqchip */
	split_irqchip_destroy(b->split);   /* its KVM calls use the VM fd */
	b->split = NULL;
	for (size_t i = 0; i < b->desc->ndevices; i++) {
		struct board_slot *slot = &b->slots[i];
		if (!slot->type->persistent)
			slot_destroy(slot);
		else if (slot->dev && slot->type->unbind)
			slot->type->unbind(slot->dev);   /* its lines are this VM's */
	}
	b->vm = NULL;
}

void board_destroy(struct board *b)
{
	board_detach(b);
	for (size_t i = 0; b->desc && i < b->desc->ndevices; i++)
		slot_destroy(&b->slots[i]);
}

/* ---- firmware ---- */

size_t board_resources(const struct board_desc *desc, bool with_irqchip,
		       const struct resources **out)
{
	size_t n = 0;
	if (with_irqchip)
		for (size_t i = 0; i < desc->nirqchip_devices && n < BOARD_MAX_DEVICES; i++)
			out[n++] = desc->irqchip_devices[i];
	for (size_t i = 0; i < desc->ndevices && n < BOARD_MAX_DEVICES; i++)
		out[n++] = &desc->devices[i]->res;
	return n;
}

/* What this boot has: the interrupt controller's devices and every
 * device attached (one an option leaves out is not described). */
static size_t attached_resources(const struct board *b, const struct resources **out)
{
	size_t n = 0;
	for (size_t i = 0; i < b->desc->nirqchip_devices && n < BOARD_MAX_DEVICES; i++)
		out[n++] = b->desc->irqchip_devices[i];
	for (size_t i = 0; i < b->desc->ndevices && n < BOARD_MAX_DEVICES; i++)
		if (b->slots[i].dev)
			out[n++] = &b->slots[i].type->res;
	return n;
}

int board_write_firmware(const struct board *b, const struct guest_memory *mem,
			 unsigned ncpus, uint64_t *rsdp, struct kvmini_error *err)
{
	const struct resources *devices[BOARD_MAX_DEVICES + VIRTIO_MAX_DEVICES];
	struct x86_firmware_desc desc = {
		.ncpus = ncpus, .devices = devices,
		.ndevices = attached_resources(b, devices),
		.pci = board_pci_firmware(b->pci),
	};
	for (unsigned i = 0; i < b->nvirtio; i++)
		if (b->virtio_slots[i].res.acpi_hid)
			devices[desc.ndevices++] = &b->virtio_slots[i].res;
	if (mptable_write(mem, &desc, err) < 0 || acpi_write_tables(mem, &desc, rsdp, err) < 0)
		return -1;
	return 0;
}

/* ---- the front end's input, reset, state ---- */

size_t board_input(struct board *b, const uint8_t *bytes, size_t n)
{
	for (size_t i = 0; i < b->desc->ndevices; i++) {
		const struct board_slot *slot = &b->slots[i];
		if (slot->type->input && slot->dev)
			return slot->type->input(slot->dev, bytes, n);
	}
	return 0;
}

void board_key_event(struct board *b, uint16_t key, bool down)
{
	for (size_t i = 0; i < b->desc->ndevices; i++) {
		struct board_slot *slot = &b->slots[i];
		if (slot->type->key_event && slot->dev) {
			slot->type->key_event(slot->dev, key, down);
			return;
		}
	}
}

void board_pointer_event(struct board *b, int dx, int dy, unsigned buttons)
{
	for (size_t i = 0; i < b->desc->ndevices; i++) {
		struct board_slot *slot = &b->slots[i];
		if (slot->type->pointer_event && slot->dev) {
			slot->type->pointer_event(slot->dev, dx, dy, buttons);
			return;
		}
	}
}

int board_booted(struct board *b, const struct device_boot *boot, struct kvmini_error *err)
{
	for (size_t i = 0; i < b->desc->ndevices; i++) {
		const struct board_slot *slot = &b->slots[i];
		if (slot->dev && slot->type->booted && slot->type->booted(slot->dev, boot, err) < 0)
			return -1;
	}
	return 0;
}

void board_reset(struct board *b)
{
	for (size_t i = 0; i < b->desc->ndevices; i++)
		if (b->slots[i].dev && b->slots[i].type->reset)
			b->slots[i].type->reset(b->slots[i].dev);
}

static bool has_state(const struct board_slot *slot)
{
	return slot->dev && slot->type->save_state && slot->type->restore_state;
}

void board_save(const struct board *b, struct state_writer *w)
{
	for (size_t i = 0; i < b->desc->ndevices; i++) {
		const struct board_slot *slot = &b->slots[i];
		if (!has_state(slot))
			continue;
		size_t name_len = strlen(slot->type->name);
		state_put_u8(w, (uint8_t)name_len);
		state_put_bytes(w, slot->type->name, name_len);
		size_t len_at = w->len;
		state_put_u32(w, 0);   /* the state's length, known below */
		size_t start = w->len;
		slot->type->save_state(slot->dev, w);
		if (!w->failed) {
			uint32_t len = (uint32_t)(w->len - start);
			for (int k = 0; k < 4; k++)
				w->data[len_at + k] = (uint8_t)(len >> (8 * k));
		}
	}
}

/* One device's record: its name must be the slot's, its length must fit. */
static int restore_slot(struct board_slot *slot, struct state_reader *r,
			struct kvmini_error *err)
{
	char name[256];
	size_t name_len = state_get_u8(r);
	state_get_bytes(r, name, name_len);
	name[name_len] = '\0';
	uint32_t len = state_get_u32(r);
	if (r->failed)
		return kvmini_fail(err, KVMINI_E_USAGE, "saved devices end before %s",
				   slot->type->name);
	if (strcmp(name, slot->type->name) != 0)
		return kvmini_fail(err, KVMINI_E_USAGE, "saved state has device '%s' where '%s' is",
				   name, slot->type->name);
	const uint8_t *bytes = state_get_span(r, len);
	if (!bytes)
		return kvmini_fail(err, KVMINI_E_USAGE, "%s: saved state of %u bytes runs past the end",
				   name, len);
	struct state_reader dev;
	state_reader_init(&dev, bytes, len);
	return slot->type->restore_state(slot->dev, &dev, err);
}

int board_restore(struct board *b, const uint8_t *blob, size_t len, struct kvmini_error *err)
{
	struct state_reader r;
	state_reader_init(&r, blob, len);
	for (size_t i = 0; i < b->desc->ndevices; i++)
		if (has_state(&b->slots[i]) && restore_slot(&b->slots[i], &r, err) < 0)
			return -1;
	return state_reader_finish(&r, "saved devices", err);
}
