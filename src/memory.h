/* Layer 2: guest RAM. RAM is a set of regions in guest-physical space
 * (with a hole below 4 GiB for devices when RAM is large). Everything
 * else in kvmini reaches guest memory only through guest_ptr() and the
 * copy helpers below, which check bounds and integer overflow: the guest
 * is hostile and its addresses and lengths are never trusted. */
#ifndef KVMINI_MEMORY_H
#define KVMINI_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"

/* Address spaces, named so that a mix-up reads wrong in a signature:
 *   gpa_t  guest-physical: an index into guest RAM, the only kind
 *          guest_ptr() takes;
 *   gva_t  guest-virtual (linear): meaningful only through the guest's
 *          page tables (arch/x86/paging.h) or the sandbox's window;
 *   host   addresses are C pointers (void *, uint8_t *), never integers,
 *          except where a KVM structure wants one (userspace_addr).
 * They are plain typedefs, not struct wrappers: the loaders, the page
 * walker and the firmware tables do arithmetic on addresses everywhere,
 * and a wrapper would turn each `gpa + off` into a call without catching
 * a bug the names do not already show. */
typedef uint64_t gpa_t;
typedef uint64_t gva_t;

#define GUEST_MEM_MAX_REGIONS 4
/* RAM beyond this guest-physical address moves above 4 GiB, leaving
 * [GUEST_MMIO_HOLE_START, 4 GiB) free for devices. */
#define GUEST_MMIO_HOLE_START 0xC0000000ULL
#define GUEST_MMIO_HOLE_END   0x100000000ULL
#define GUEST_MEM_MIN (64ULL << 10)
#define GUEST_MEM_MAX (64ULL << 30)

struct guest_region {
	gpa_t gpa;          /* guest-physical start */
	uint64_t size;
	uint8_t *host;      /* host address of gpa */
	/* Memory of a device (the framebuffer), not RAM: its own mapping,
	 * which the device owns; no memory map counts it as RAM. */
	bool device;
};

/* A range of RAM the VMM itself writes (the firmware tables): loaders
 * keep images off it. `what` names it in their errors. */
#define GUEST_MEM_MAX_RESERVED 4
struct guest_reserved {
	gpa_t start, end;
	const char *what;
};

struct guest_memory {
	struct guest_region regions[GUEST_MEM_MAX_REGIONS];
	unsigned nregions;
	struct guest_reserved reserved[GUEST_MEM_MAX_RESERVED];
	unsigned nreserved;
	uint64_t ram_size;  /* total bytes of RAM */
	uint8_t *base;      /* the one host mapping behind all regions */
	size_t map_size;
	int memfd;          /* -1 unless backed by a memfd */
};

enum guest_memory_flags {
	GUEST_MEM_SHARED = 1 << 0,    /* memfd-backed, MAP_SHARED */
	GUEST_MEM_PREFAULT = 1 << 1,  /* populate every page now */
};

/* Map ram_size bytes (multiple of 4 KiB, GUEST_MEM_MIN..GUEST_MEM_MAX). */
int guest_memory_init(struct guest_memory *mem, uint64_t ram_size,
		      unsigned flags, struct kvmini_error *err);
void guest_memory_free(struct guest_memory *mem);

/* ---- snapshots (memory_file.c): RAM as a flat file, byte i of the
 * file = byte i of the host mapping (low RAM, then RAM above 4 GiB) ---- */

/* RAM mapped from a memory file of exactly ram_size bytes, privately:
 * the file is never written, and clones share unwritten pages. */
int guest_memory_init_file(struct guest_memory *mem, uint64_t ram_size, int fd,
			   struct kvmini_error *err);
/* Write RAM into fd (truncated to ram_size first). dirty: NULL for a
 * full file, whose all-zero pages are left as holes (sparse); else one
 * bit per 4 KiB page, set for the pages to write (a diff file: holes
 * mean "unchanged"). Returns the bytes written, or -1. */
int64_t guest_memory_save(const struct guest_memory *mem, int fd, const uint64_t *dirty,
			  struct kvmini_error *err);
/* Lay a diff file's data (its non-hole extents) over RAM. */
int guest_memory_apply_diff(struct guest_memory *mem, int fd, struct kvmini_error *err);

/* Host pointer for [gpa, gpa+len) when the whole range lies inside one RAM
 * region; NULL otherwise (outside RAM, in a hole, straddling, overflow). */
void *guest_ptr(const struct guest_memory *mem, gpa_t gpa, uint64_t len);

/* Copy helpers on top of guest_ptr(); return 0 or -1 when out of bounds. */
int guest_read(const struct guest_memory *mem, gpa_t gpa, void *dst, uint64_t len);
int guest_write(const struct guest_memory *mem, gpa_t gpa, const void *src, uint64_t len);

/* Reserve [start, end) for the VMM (what: a static string); -1 when the
 * list is full or the range empty. guest_memory_init() clears the list. */
int guest_memory_reserve(struct guest_memory *mem, gpa_t start, gpa_t end, const char *what);
/* The first reserved range that [start, end) overlaps, or NULL. */
const struct guest_reserved *guest_memory_reserved_at(const struct guest_memory *mem,
						      gpa_t start, gpa_t end);

/* Add a device's memory (host mapping owned by the caller, page-aligned
 * gpa and size) as a region after the RAM, for guest_ptr() and a KVM
 * slot of its own; returns its index, or -1 when it overlaps a region
 * or the table is full. */
int guest_memory_add_device(struct guest_memory *mem, gpa_t gpa, uint8_t *host, uint64_t size,
			    struct kvmini_error *err);

/* End of the highest RAM region (one past the last byte); device
 * regions do not count. */
gpa_t guest_ram_end(const struct guest_memory *mem);

#endif
