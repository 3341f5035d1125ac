/* Layer 6, beside the devices: a PCI host bridge with one bus (bus 0),
 * and the configuration space of the functions on it.
 *
 * The guest reaches configuration space two ways, both served here:
 *   - configuration mechanism #1: a dword address register at port
 *     0xcf8 (bit 31 enable, bus, device, function, register) and the
 *     data window at 0xcfc-0xcff, read and written with any size at any
 *     offset inside the window;
 *   - ECAM (MMCONFIG): 4 KiB per function in memory, bus 0 only, at a
 *     base the board chooses (the ACPI MCFG table announces it).
 * Port 0xcf9 is the PC's reset control register, inside 0xcf8-0xcfb:
 * on a PC both live in the same chip, which decodes only dword accesses
 * at 0xcf8 as the address register. The host therefore takes over the
 * range that was at 0xcf9 and passes it every other access there.
 *
 * A function describes itself in struct pci_function: its 256 bytes of
 * configuration space with a write mask, its BARs (size, port or
 * memory, the callbacks of the range) and its capabilities. Register
 * semantics are those of the PCI Local Bus specification 3.0: a BAR
 * written with all-ones reads back its size mask; the command register's
 * I/O and memory enable bits decide whether a BAR's range is on the
 * bus; the interrupt pin is INTA, routed to an IOAPIC pin per slot.
 * kvmini places every BAR when the function is plugged (inside the
 * board's windows, naturally aligned); the guest may move it, and the
 * range moves on the bus with bus_move().
 *
 * The hostile guest: every config offset is bounded by the space's
 * size, absent functions read all-ones, writes to read-only bits are
 * dropped, a BAR moved onto another range stays off the bus until it is
 * moved somewhere free.
 *
 * Threads and locks: vCPU threads access config space (under the
 * host's lock). Bus ranges change only outside that lock (bus.h forbids
 * holding a lock a callback of the bus takes, and the ECAM callback
 * takes it): a config write records what it changed, and one thread at
 * a time brings the buses in line with the registers (the others leave
 * that work to it). A function's ops->config_read/config_write run
 * under the host's lock (and may take the function's own lock);
 * ops->bar_mapped runs without it. INTA has a lock of its own that
 * nothing is taken under, so a function may raise it holding its lock. */
#ifndef KVMINI_PCI_H
#define KVMINI_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/pci_regs.h>
#include "bus.h"
#include "error.h"
#include "irq.h"
#include "state.h"

#define PCI_SLOTS        32
#define PCI_BARS         6
#define PCI_CONFIG_SIZE  256          /* conventional space; ECAM's rest reads 0 */
#define PCI_ECAM_FUNCTION_SIZE 4096u
#define PCI_ECAM_BUS_SIZE (PCI_SLOTS * 8u * PCI_ECAM_FUNCTION_SIZE)   /* 1 MiB */
#define PCI_CONFIG_ADDRESS_PORT 0xcf8u
#define PCI_CONFIG_DATA_PORT    0xcfcu
/* INTx: slot s's INTA reaches line intx[s % PCI_INTX_LINES]. */
#define PCI_INTX_LINES   8

/* The host bridge at slot 0: Red Hat's generic PCIe host bridge ID
 * (1b36:0008), which no OS matches against chipset quirks. */
#define PCI_HOST_VENDOR 0x1b36u
#define PCI_HOST_DEVICE 0x0008u
/* Class codes (base << 16 | sub-class << 8 | programming interface):
 * the PCI Code and ID Assignment specification's, which no uapi header
 * carries. */
#define PCI_CLASS_CODE_HOST_BRIDGE 0x060000u

struct pci_host;

struct pci_function_ops {
	/* Before a read of [off, off + len): refresh the bytes in
	 * fn->config that are computed (virtio's config access window). */
	void (*config_read)(void *opaque, unsigned off, unsigned len);
	/* After the guest's bytes went into fn->config (masked). */
	void (*config_write)(void *opaque, unsigned off, unsigned len);
	/* BAR `bar` was put on its bus at addr, or taken off (mapped false). */
	void (*bar_mapped)(void *opaque, unsigned bar, uint64_t addr, bool mapped);
};

struct pci_bar {
	uint64_t size;                /* 0: unused; a power of two (memory >= 16, I/O >= 4) */
	bool io;
	const struct bus_device_ops *ops;
	void *opaque;
	const char *name;
	/* Where it is on its bus: changed only by the host's mapper. */
	bool mapped;
	uint64_t mapped_at;
};

struct pci_function {
	uint8_t config[PCI_CONFIG_SIZE];
	uint8_t wmask[PCI_CONFIG_SIZE];   /* 1: the guest may write that bit */
	struct pci_bar bars[PCI_BARS];
	unsigned cap_end;                 /* where the next capability goes */
	const struct pci_function_ops *ops;
	void *opaque;
	/* Set by pci_host_plug(). */
	struct pci_host *host;
	unsigned slot;
	/* INTA, under the host's intx_lock. */
	bool intx_level;                  /* the function asserts it */
	bool intx_disabled;               /* the command register's INTx disable */
	bool intx_driven;                 /* ... so it counts on the line */
};

struct pci_host_config {
	struct bus *pio, *mmio;
	uint64_t ecam_base;               /* bus 0's 1 MiB */
	uint64_t mmio_base, mmio_end;     /* where kvmini places memory BARs */
	uint64_t io_base, io_end;         /* ... and I/O BARs */
	struct irq_line intx[PCI_INTX_LINES];
};

struct pci_host {
	struct pci_host_config cfg;
	pthread_mutex_t lock;             /* config space */
	pthread_mutex_t intx_lock;        /* INTA levels and counts: a leaf lock */
	uint32_t address;                 /* 0xcf8 */
	struct pci_function bridge;       /* slot 0 */
	struct pci_function *slots[PCI_SLOTS];
	unsigned intx_count[PCI_INTX_LINES];
	uint64_t mmio_next, io_next;      /* placement */
	struct bus_range under_cf8;       /* the range that was at 0xcf9 */
	bool has_under;
	bool registered;
	/* The mapper: one thread at a time brings the buses in line. */
	bool mapping, remap;
};

/* Registers 0xcf8-0xcfb (taking over what was at 0xcf9), 0xcfc-0xcff
 * and the ECAM range, and puts the host bridge at slot 0. */
int pci_host_init(struct pci_host *h, const struct pci_host_config *cfg,
		  struct kvmini_error *err);
/* Every range off the buses (the functions' BARs too; the range that
 * was at 0xcf9 back); the functions stay their owners'. */
void pci_host_destroy(struct pci_host *h);

/* A function's header: IDs, class (base << 16 | sub << 8 | prog-if),
 * revision, subsystem IDs, INTA. The command register starts at 0:
 * nothing decoded until the guest enables it. */
void pci_function_init(struct pci_function *fn, uint16_t vendor, uint16_t device,
		       uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
		       uint16_t subsys_id);
/* Declare BAR `bar` (32-bit memory or I/O) before plugging. */
int pci_function_set_bar(struct pci_function *fn, unsigned bar, uint64_t size, bool io,
			 const struct bus_device_ops *ops, void *opaque, const char *name,
			 struct kvmini_error *err);
/* Append a capability of `len` bytes (its ID in body[0]; body[1], the
 * next pointer, is filled in); *off gets its offset. Its bytes are
 * read-only until the caller sets fn->wmask. */
int pci_function_add_cap(struct pci_function *fn, const void *body, unsigned len,
			 unsigned *off, struct kvmini_error *err);

/* Place fn's BARs and put it at `slot` (1..31). */
int pci_host_plug(struct pci_host *h, struct pci_function *fn, unsigned slot,
		  struct kvmini_error *err);
/* Its BARs off the bus, its INTA released, its slot empty. */
void pci_host_unplug(struct pci_host *h, struct pci_function *fn);

/* Assert or release INTA (shared lines are ORed; the command register's
 * INTx disable bit holds it back). Any thread. */
void pci_function_set_intx(struct pci_function *fn, bool level);

/* Config space of bus 0 for the buses' callbacks and tests: `reg` is
 * the byte offset in the function's 4 KiB. */
void pci_host_config_read(struct pci_host *h, unsigned slot, unsigned func, unsigned reg,
			  uint8_t *data, unsigned len);
void pci_host_config_write(struct pci_host *h, unsigned slot, unsigned func, unsigned reg,
			   const uint8_t *data, unsigned len);

/* A BAR's current address as the guest programmed it (for tests). */
uint64_t pci_function_bar_address(const struct pci_function *fn, unsigned bar);

/* ---- snapshots (docs/snapshot.md) ----
 * Taken while no vCPU runs and restored before any does, so nothing
 * else touches config space meanwhile. A function's config space is
 * saved whole; a restore refuses bytes whose read-only bits differ from
 * the function's own (another device, another layout) and applies the
 * rest as the guest's writes would, without calling ops->config_write:
 * the owner restores what it derives from them. The host's save is its
 * address register and the bridge's config space; its restore then
 * brings the buses in line with every function's BARs. */
void pci_function_save(const struct pci_function *fn, struct state_writer *w);
int pci_function_restore(struct pci_function *fn, struct state_reader *r,
			 struct kvmini_error *err);
void pci_host_save(const struct pci_host *h, struct state_writer *w);
int pci_host_restore(struct pci_host *h, struct state_reader *r, struct kvmini_error *err);

#endif
